//! The operator allow-list: IAM authorization proves who signed an `/admin/` request; only
//! the stack's operator roles (`OperatorPrincipalArns`) may use the routes.

mod common;

use api::http::{Method, StatusCode};
use api::{Api, ApiConfig, ApiRequest, Identity};
use common::World;

fn config(roles: &[&str]) -> ApiConfig {
    ApiConfig::default().with_operator_roles(&roles.join(","))
}

#[test]
fn a_session_of_a_listed_role_is_an_operator_and_nobody_else_is() {
    let c = config(&["arn:aws:iam::999999999999:role/ops/CamOperator", "arn:aws:iam::999999999999:role/CamAuditor"]);
    for admitted in [
        "arn:aws:sts::999999999999:assumed-role/CamOperator/alice",
        "arn:aws:sts::999999999999:assumed-role/CamAuditor/bob",
        "arn:aws:iam::999999999999:role/ops/CamOperator",
    ] {
        assert!(c.admits_operator(admitted), "{admitted}");
    }
    for refused in [
        "arn:aws:sts::111122223333:assumed-role/CamOperator/alice", // same name, another account
        "arn:aws:sts::999999999999:assumed-role/CamOperatorX/alice",
        "arn:aws:sts::999999999999:assumed-role/Admin/alice",
        "arn:aws:iam::999999999999:user/CamOperator",
        "arn:aws:sts::999999999999:federated-user/CamOperator",
        "not an arn",
        "",
    ] {
        assert!(!c.admits_operator(refused), "{refused}");
    }
    assert!(ApiConfig::default().admits_operator("arn:aws:sts::1:assumed-role/any/one"), "no list (local runs) admits every signer");
    assert_eq!(ApiConfig::default().with_operator_roles(" , ").operator_roles, None, "an empty list is no list");
}

#[tokio::test]
async fn an_admin_route_refuses_a_signed_principal_that_is_not_an_operator() {
    let world = World::new().await;
    let listed = Api::new(world.fixture.ports.clone(), config(&["arn:aws:iam::999999999999:role/CamOperator"]));
    let other = Api::new(world.fixture.ports.clone(), config(&["arn:aws:iam::999999999999:role/SomeoneElse"]));
    let get = || ApiRequest::new(Method::GET, "/admin/terms/US", common::operator(), "req-admin");

    let allowed = listed.handle(get()).await;
    assert_ne!(allowed.status, StatusCode::FORBIDDEN, "{}", allowed.json());
    let refused = other.handle(get()).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.json()["code"], "NOT_AN_OPERATOR");
    assert_eq!(refused.header("content-type"), Some("application/problem+json"));
    // A customer's token is still refused as before, whatever the list.
    let customer = other.handle(ApiRequest::new(Method::GET, "/admin/terms/US", Identity::Customer(common_admin()), "req-c")).await;
    assert_eq!(customer.json()["code"], "OPERATOR_ONLY");
}

fn common_admin() -> migration::rules::Caller {
    migration_sim::fixtures::admin()
}
