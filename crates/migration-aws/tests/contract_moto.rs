//! The port contracts of `migration::contract`, run against the AWS adapters on moto.

mod support;

mod store_contract {
    migration::store_contract_tests!(crate::support::fresh_store);
}

mod org_contract {
    migration::org_contract_tests!(crate::support::fresh_org_fixture);
}
