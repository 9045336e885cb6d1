//! The port contracts of `migration_sim::contract`, run against the AWS adapters on moto.

mod support;

mod store_contract {
    migration_sim::store_contract_tests!(crate::support::fresh_store);
}

mod org_contract {
    migration_sim::org_contract_tests!(crate::support::fresh_org_fixture);
}
