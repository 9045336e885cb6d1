//! Handler tests from real API Gateway HTTP API (payload 2.0) events, the same files
//! `cargo lambda invoke --data-file functions/api/events/<name>.json` sends. Each goes
//! through the Lambda runtime's deserializer (aws_lambda_events' payload 2.0 type), the
//! function's event→request adapter and the router, over the domain's in-memory adapters; every answer is checked against
//! infra/openapi.yaml.

#[path = "../../../crates/api/tests/common/mod.rs"]
mod common;

use api::ApiResponse;
use api_function::{identity, to_api_request, to_lambda_response};
use aws_lambda_events::apigw::ApiGatewayV2httpRequest as HttpApiEvent;
use common::*;
use migration::ports::MigrationStore;
use migration::status::Status;
use migration_sim::fixtures;
use serde_json::{Value, json};

/// The placeholder migration id in the event files.
const PLACEHOLDER_ID: &str = "01JNQ8M6Z1X4V7C2B9D3E5F7GH";

macro_rules! event {
    ($name:literal) => {
        include_str!(concat!("../events/", $name, ".json"))
    };
}

/// Runs an event through the function's adapters and the router.
async fn invoke(w: &World, event: &str) -> ApiResponse {
    let api_request = to_api_request(parse(event), "invocation-0001").expect("a readable event");
    let (method, path, request_id) = (api_request.method.clone(), api_request.path.clone(), api_request.request_id.clone());
    let response = w.api.handle(api_request).await;
    contract().check(&method, &path, &request_id, &response);
    // The Lambda response carries the same status, headers and body.
    let lambda = to_lambda_response(response.clone());
    assert_eq!(lambda.status_code, i64::from(response.status.as_u16()));
    assert_eq!(lambda.headers, response.headers);
    assert!(!lambda.is_base64_encoded);
    let body = match lambda.body {
        Some(aws_lambda_events::encodings::Body::Text(text)) => text.into_bytes(),
        other => panic!("a text body, found {other:?}"),
    };
    assert_eq!(body, response.body);
    response
}

fn parse(event: &str) -> HttpApiEvent {
    serde_json::from_str(event).expect("a valid HTTP API event")
}

fn with_id(event: &str, id: &str) -> String {
    event.replace(PLACEHOLDER_ID, id)
}

fn code(res: &ApiResponse) -> String {
    res.json()["code"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn create_get_and_list_a_migration() {
    let w = World::new().await;
    let res = invoke(&w, event!("create-migration")).await;
    assert_eq!(res.status, 202, "{}", res.json());
    let id = res.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(res.header("location"), Some(format!("/migrations/{id}").as_str()));
    assert_eq!(res.json()["status"], "REQUESTED");
    assert_eq!(w.recorder.started(), vec![id.parse().unwrap()], "the execution was started");
    assert_eq!(w.locks(), 1);

    let res = invoke(&w, &with_id(event!("get-migration"), &id)).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json()["id"], id.as_str());
    assert_eq!(res.json()["timeline"][0]["actor"], json!({"type": "user", "id": "alice@acme.example"}));

    let res = invoke(&w, event!("list-migrations")).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json()["items"][0]["id"], id.as_str());
    assert!(res.json().get("next_cursor").is_none());
}

#[tokio::test]
async fn a_base64_encoded_body_is_decoded() {
    let w = World::new().await;
    let res = invoke(&w, event!("create-migration-base64")).await;
    assert_eq!(res.status, 202, "{}", res.json());
}

#[tokio::test]
async fn a_body_marked_base64_that_is_not_is_400_and_touches_nothing() {
    let w = World::new().await;
    let mut event = parse(event!("create-migration-base64"));
    event.body = Some("not base64!".into());
    let refusal = to_api_request(event, "invocation-0002").expect_err("refused before the router");
    contract().check(&api::http::Method::POST, "/migrations", "HxYz0004IAMEJg=", &refusal);
    assert_eq!((refusal.status.as_u16(), code(&refusal).as_str()), (400, "MALFORMED_JSON"));
    assert!(w.records().is_empty(), "nothing was written");
}

#[tokio::test]
async fn the_same_idempotency_key_and_body_replay_the_same_answer() {
    let w = World::new().await;
    let first = invoke(&w, event!("create-migration")).await;
    let again = invoke(&w, event!("create-migration")).await;
    // The same body, formatted differently, is the same request.
    let reformatted = invoke(&w, event!("create-migration-reformatted")).await;
    assert_eq!(first.status, 202);
    assert_eq!(first.header("idempotent-replayed"), None);
    for replay in [&again, &reformatted] {
        assert_eq!(replay.status, 202);
        assert_eq!(replay.header("idempotent-replayed"), Some("true"));
        assert_eq!(replay.json(), first.json(), "the same response");
        assert_eq!(replay.header("location"), first.header("location"));
    }
    assert_eq!(w.records().len(), 1, "one migration");
    assert_eq!(w.recorder.started().len(), 1, "one execution");
}

#[tokio::test]
async fn the_same_idempotency_key_with_another_body_is_422() {
    let w = World::new().await;
    assert_eq!(invoke(&w, event!("create-migration")).await.status, 202);
    let res = invoke(&w, event!("create-migration-same-key-other-body")).await;
    assert_eq!((res.status.as_u16(), code(&res).as_str()), (422, "IDEMPOTENCY_KEY_REUSED"));
    assert_eq!(w.records().len(), 1);
    assert_eq!(w.records()[0].provider_name, "Production AWS");
}

#[tokio::test]
async fn a_non_administrator_can_read_but_not_create_or_cancel() {
    let w = World::new().await;
    let res = invoke(&w, event!("create-migration-not-administrator")).await;
    assert_eq!((res.status.as_u16(), code(&res).as_str()), (403, "CALLER_NOT_ADMINISTRATOR"));
    assert_eq!(res.json()["violations"][0]["remediation"], migration::rules::ViolationCode::CallerNotAdministrator.remediation());
    assert!(w.records().is_empty());

    let id = w.create().await;
    let res = invoke(&w, &with_id(event!("cancel-migration-not-administrator"), &id)).await;
    assert_eq!((res.status.as_u16(), code(&res).as_str()), (403, "CALLER_NOT_ADMINISTRATOR"));
    assert_eq!(w.record(id.parse().unwrap()).status, Status::Requested);
    assert_eq!(invoke(&w, &with_id(event!("get-migration"), &id)).await.status, 200, "users read");
    assert_eq!(invoke(&w, event!("get-onboarding")).await.status, 200, "users read onboarding");
}

#[tokio::test]
async fn another_organizations_migration_is_not_found() {
    let w = World::new().await;
    let id = w.create().await;
    let res = invoke(&w, &with_id(event!("get-migration-other-organization"), &id)).await;
    assert_eq!((res.status.as_u16(), code(&res).as_str()), (404, "MIGRATION_NOT_FOUND"));
    let res = invoke(&w, &with_id(event!("cancel-migration-other-organization"), &id)).await;
    assert_eq!((res.status.as_u16(), code(&res).as_str()), (404, "MIGRATION_NOT_FOUND"));
    assert_eq!(w.record(id.parse().unwrap()).status, Status::Requested, "untouched");
    assert!(w.recorder.stopped().is_empty());
}

#[tokio::test]
async fn missing_or_malformed_claims_and_no_authorizer_are_401() {
    let w = World::new().await;
    for (event, expected) in [
        (event!("create-migration-missing-claims"), "INVALID_CLAIMS"),
        (event!("create-migration-malformed-role-claim"), "INVALID_CLAIMS"),
        (event!("create-migration-no-authorizer"), "UNAUTHENTICATED"),
    ] {
        let res = invoke(&w, event).await;
        assert_eq!((res.status.as_u16(), code(&res).as_str()), (401, expected));
        assert_eq!(res.header("www-authenticate"), Some("Bearer"));
    }
    let res = invoke(&w, event!("create-migration-missing-claims")).await;
    assert!(res.json()["detail"].as_str().unwrap().contains("cam:org"), "names the claim");
    assert!(w.records().is_empty());
}

#[tokio::test]
async fn identities_come_from_the_authorizer_context() {
    let who = |e: &str| identity(&parse(e));
    assert_eq!(who(event!("create-migration")), api::Identity::Customer(fixtures::admin()));
    assert!(matches!(who(event!("admin-get-terms")), api::Identity::Operator { principal_arn } if principal_arn.contains("CamOperator")));
    assert_eq!(who(event!("create-migration-no-authorizer")), api::Identity::Anonymous);
    assert!(matches!(who(event!("create-migration-malformed-role-claim")), api::Identity::Malformed(_)));
    let req = to_api_request(parse(event!("get-onboarding-named-stage")), "i").unwrap();
    assert_eq!(req.path, "/onboarding", "the stage prefix is not part of the route");
    let req = to_api_request(parse(event!("create-migration")), "i").unwrap();
    assert_eq!(req.request_id, "HxYz0001IAMEJg=", "API Gateway's request id");
    let mut no_gateway_id = parse(event!("create-migration"));
    no_gateway_id.request_context.request_id = None;
    assert_eq!(to_api_request(no_gateway_id, "invocation-7").unwrap().request_id, "invocation-7", "else the invocation's");
}

#[tokio::test]
async fn bad_bodies_are_400_or_415() {
    let w = World::new().await;
    for (event, status, expected) in [
        (event!("create-migration-malformed-json"), 400, "MALFORMED_JSON"),
        (event!("create-migration-unknown-field"), 400, "INVALID_BODY"),
        (event!("create-migration-wrong-content-type"), 415, "UNSUPPORTED_MEDIA_TYPE"),
        (event!("create-migration-invalid-account"), 400, "INVALID_ACCOUNT_ID"),
        (event!("create-migration-terms-not-accepted"), 422, "TERMS_NOT_ACCEPTED"),
        (event!("admin-put-approval-duplicate-key"), 400, "DUPLICATE_JSON_KEY"),
    ] {
        let res = invoke(&w, event).await;
        assert_eq!((res.status.as_u16(), code(&res).as_str()), (status, expected), "{}", res.json());
    }
    // Over 64 KiB.
    let mut big: Value = serde_json::from_str(event!("create-migration")).unwrap();
    big["body"] = json!(" ".repeat(api::MAX_BODY_BYTES + 1));
    let res = invoke(&w, &big.to_string()).await;
    assert_eq!((res.status.as_u16(), code(&res).as_str()), (413, "PAYLOAD_TOO_LARGE"));
    assert!(w.records().is_empty() && w.locks() == 0);
    assert!(w.store.approval(&"000000000042".parse().unwrap()).await.unwrap().is_none());
}

#[tokio::test]
async fn cancel_twice_is_harmless() {
    let w = World::new().await;
    let id = w.create().await;
    let first = invoke(&w, &with_id(event!("cancel-migration"), &id)).await;
    assert_eq!(first.status, 200, "{}", first.json());
    assert_eq!(first.json()["status"], "CANCELED");
    assert_eq!(w.locks(), 0, "the account is released");
    let second = invoke(&w, &with_id(event!("cancel-migration"), &id)).await;
    assert_eq!(second.status, 200);
    assert_eq!(second.json(), first.json(), "nothing changed the second time");
    assert_eq!(w.record(id.parse().unwrap()).version, 2, "one write");
    // A new migration of the same account can start.
    assert_eq!(invoke(&w, event!("create-migration-base64")).await.status, 202);
    let res = invoke(&w, event!("list-migrations-by-status")).await;
    let body = res.json();
    let ids: Vec<&str> = body["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![id.as_str()], "the status filter");
}

#[tokio::test]
async fn the_list_pages_through_the_organization_only() {
    let w = World::new().await;
    let mut mine = Vec::new();
    for i in 0..5 {
        mine.push(w.insert(&format!("00000000010{i}"), "acme", Status::Requested).await.to_string());
        w.fixture.clock.advance(chrono::Duration::seconds(1));
    }
    w.insert("000000000200", "globex", Status::Requested).await;
    mine.reverse(); // newest first

    let mut seen = Vec::new();
    let mut res = invoke(&w, event!("list-migrations")).await;
    loop {
        assert_eq!(res.status, 200, "{}", res.json());
        let page = res.json();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|i| i["id"].as_str().unwrap().to_owned()));
        let Some(cursor) = page["next_cursor"].as_str() else { break };
        res = invoke(&w, &event!("list-migrations-next-page").replace("CURSOR", cursor)).await;
    }
    assert_eq!(seen, mine, "every migration of the organization once, newest first, no other organization's");

    let res = invoke(&w, event!("list-migrations-bad-limit")).await;
    assert_eq!((res.status.as_u16(), code(&res).as_str()), (400, "INVALID_QUERY"));
    let res = invoke(&w, event!("list-migrations-next-page")).await;
    assert_eq!((res.status.as_u16(), code(&res).as_str()), (400, "INVALID_CURSOR"), "a cursor this API never issued");
}

#[tokio::test]
async fn operators_manage_profiles_approvals_and_terms_with_iam_only() {
    let w = World::new().await;
    for (put_event, get_event) in [
        (event!("admin-put-organization-profile"), event!("admin-get-organization-profile")),
        (event!("admin-put-approval"), event!("admin-get-approval")),
        (event!("admin-put-terms"), event!("admin-get-terms")),
    ] {
        let written = invoke(&w, put_event).await;
        assert_eq!(written.status, 200, "{}", written.json());
        let read = invoke(&w, get_event).await;
        assert_eq!(read.status, 200);
        assert_eq!(read.json(), written.json());
    }
    // The new terms are in force: the customer sees them.
    let onboarding = invoke(&w, event!("get-onboarding")).await.json();
    assert_eq!(onboarding["terms"][0]["version"], "2026-03");

    for event in [event!("admin-put-organization-profile-with-jwt"), event!("admin-get-terms-with-jwt")] {
        let res = invoke(&w, event).await;
        assert_eq!((res.status.as_u16(), code(&res).as_str()), (403, "OPERATOR_ONLY"));
    }
    assert_eq!(w.store.org_profile(&"acme".parse().unwrap()).await.unwrap(), Some(fixtures::profile()), "the JWT PUT wrote nothing");
    let res = invoke(&w, event!("get-onboarding-as-operator")).await;
    assert_eq!((res.status.as_u16(), code(&res).as_str()), (403, "CUSTOMER_ONLY"));
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods() {
    let w = World::new().await;
    let res = invoke(&w, event!("unknown-route")).await;
    assert_eq!((res.status.as_u16(), code(&res).as_str()), (404, "NOT_FOUND"));
    let res = invoke(&w, event!("wrong-method")).await;
    assert_eq!((res.status.as_u16(), code(&res).as_str()), (405, "METHOD_NOT_ALLOWED"));
    assert_eq!(res.header("allow"), Some("POST, GET"));
    let res = invoke(&w, &with_id(event!("get-migration"), "not-a-ulid")).await;
    assert_eq!((res.status.as_u16(), code(&res).as_str()), (400, "INVALID_PATH_PARAMETER"));
    let res = invoke(&w, event!("get-migration-bad-id")).await;
    assert_eq!(res.status, 400);
}

#[tokio::test]
async fn problems_carry_the_api_gateway_request_id() {
    let w = World::new().await;
    let res = invoke(&w, event!("create-migration-no-authorizer")).await;
    let body = res.json();
    assert!(body["request_id"].as_str().unwrap().starts_with("HxYz"));
    assert_eq!(res.header("x-request-id"), body["request_id"].as_str());
    assert_eq!(body["type"], "urn:cam:migrations:problem:unauthenticated");
}

#[tokio::test]
async fn an_operator_reads_lists_cancels_and_records_through_iam_signed_events() {
    let w = World::new().await;
    let res = invoke(&w, event!("create-migration")).await;
    assert_eq!(res.status, 202, "{}", res.json());
    let id = res.json()["id"].as_str().unwrap().to_owned();

    let res = invoke(&w, &with_id(event!("admin-get-migration"), &id)).await;
    assert_eq!(res.status, 200, "{}", res.json());
    assert_eq!(res.json()["organization_id"], fixtures::ORG);
    assert_eq!(res.json()["execution"]["status"], "RUNNING");
    assert!(res.json()["execution"]["console_url"].as_str().unwrap().contains(&id));

    let res = invoke(&w, event!("admin-list-migrations")).await;
    assert_eq!(res.status, 200, "{}", res.json());
    assert_eq!(res.json()["items"][0]["migration"]["id"], id.as_str());

    // Nothing to record while the execution runs; the cancel stops it.
    let res = invoke(&w, &with_id(event!("admin-record-failure"), &id)).await;
    assert_eq!((res.status.as_u16(), code(&res)), (409, "EXECUTION_RUNNING".to_owned()));
    let res = invoke(&w, &with_id(event!("admin-cancel-migration"), &id)).await;
    assert_eq!(res.status, 200, "{}", res.json());
    assert_eq!(res.json()["migration"]["status"], "CANCELED");
    let actor = res.json()["migration"]["timeline"].as_array().unwrap().last().unwrap()["actor"].clone();
    assert_eq!(actor["id"], "arn:aws:sts::999999999999:assumed-role/CamOperator/ops-session");
    assert_eq!(w.locks(), 0);
    // A terminal record is answered as it is.
    let res = invoke(&w, &with_id(event!("admin-record-failure"), &id)).await;
    assert_eq!((res.status.as_u16(), res.json()["migration"]["status"].as_str()), (200, Some("CANCELED")));
}

#[tokio::test]
async fn a_billing_transfer_is_ended_by_the_customer_then_by_an_operator() {
    let w = World::new().await;
    let (id, start_month) = transfer_accepted(&w).await;
    assert_eq!(start_month, "2026-04", "the fixtures' end_month is the transfer's first month");
    let id = id.to_string();
    let res = invoke(&w, &with_id(event!("end-transfer"), &id)).await;
    assert_eq!(res.status, 200, "{}", res.json());
    assert_eq!(res.json()["billing_transfer"]["billing_ends_at"], "2026-04-30T23:59:59.999Z");
    // Another organization's administrator: missing, as every other route answers.
    let other = event!("end-transfer").replace("\"cam:org\": \"acme\"", "\"cam:org\": \"globex\"");
    let res = invoke(&w, &with_id(&other, &id)).await;
    assert_eq!((res.status.as_u16(), code(&res)), (404, "MIGRATION_NOT_FOUND".to_owned()));
    // The operator's end of the same transfer answers with the end AWS has.
    let res = invoke(&w, &with_id(event!("admin-end-transfer"), &id)).await;
    assert_eq!(res.status, 200, "{}", res.json());
    assert_eq!(res.json()["migration"]["billing_transfer"]["billing_ends_at"], "2026-04-30T23:59:59.999Z");
    // A join-kind migration cannot be ended.
    let joined = w.insert("000000000777", fixtures::ORG, Status::Joined).await.to_string();
    let res = invoke(&w, &with_id(event!("end-transfer"), &joined)).await;
    assert_eq!((res.status.as_u16(), code(&res)), (409, "NOT_TERMINABLE".to_owned()));
}
