//! `infra/openapi.yaml` is the contract: every documented route and status has a handler
//! that produces it, every handler route is documented, and every response matches its
//! documented schema (checked in `common::World::call` for every test's every response).

mod common;

use std::collections::BTreeSet;

use api::ROUTES;
use api::routes::Audience;
use common::*;
use migration::ids::MigrationId;
use migration::status::Status;
use serde_json::{Value, json};

#[test]
fn openapi_and_the_router_name_the_same_operations_and_statuses() {
    let c = contract();
    let documented: BTreeSet<(String, String, String, Vec<u16>)> = c
        .operations()
        .into_iter()
        .map(|(method, template, id, op)| {
            let mut statuses: Vec<u16> =
                op["responses"].as_object().unwrap().keys().filter(|k| *k != "default").map(|k| k.parse().unwrap()).collect();
            statuses.sort_unstable();
            (method, template, id, statuses)
        })
        .collect();
    let routed: BTreeSet<(String, String, String, Vec<u16>)> = ROUTES
        .iter()
        .map(|r| {
            let mut statuses = r.statuses.to_vec();
            statuses.sort_unstable();
            (r.method.to_owned(), r.template.to_owned(), r.operation_id.to_owned(), statuses)
        })
        .collect();
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty() && unrouted.is_empty(),
        "handlers not documented: {undocumented:#?}\ndocumented without handler: {unrouted:#?}"
    );
}

#[test]
fn every_operation_declares_its_authorizer_integration_and_default_error() {
    let c = contract();
    for (method, template, id, op) in c.operations() {
        let spec = ROUTES.iter().find(|r| r.operation_id == id).unwrap();
        let scheme = op["security"][0].as_object().and_then(|o| o.keys().next().cloned()).unwrap_or_default();
        let expected = match spec.audience {
            Audience::Customer => "camJwt",
            Audience::Operator => "sigv4",
        };
        assert_eq!(scheme, expected, "{method} {template}");
        let integration = &op["x-amazon-apigateway-integration"];
        assert_eq!(integration["payloadFormatVersion"], "2.0", "{method} {template}");
        assert_eq!(integration["type"], "aws_proxy", "{method} {template}");
        let default = c.resolve(&op["responses"]["default"]);
        assert!(default["content"]["application/problem+json"].is_object(), "{method} {template} has no default problem response");
        // Every error response is a problem document.
        for (status, response) in op["responses"].as_object().unwrap() {
            let response = c.resolve(response);
            let is_error = status == "default" || status.starts_with('4') || status.starts_with('5');
            let ct = if is_error { "application/problem+json" } else { "application/json" };
            assert!(response["content"][ct]["schema"].is_object(), "{method} {template} {status}: no {ct} schema");
        }
    }
    assert_eq!(c.doc["openapi"].as_str().unwrap().get(..4), Some("3.0."), "API Gateway HTTP APIs import OpenAPI 3.0");
}

#[test]
fn schemas_are_json_schema_compatible_and_compile() {
    let c = contract();
    let text = serde_json::to_string(&c.doc).unwrap();
    for keyword in ["\"nullable\"", "\"discriminator\"", "\"exclusiveMinimum\"", "\"exclusiveMaximum\""] {
        assert!(!text.contains(keyword), "{keyword} is not plain JSON Schema; keep schemas compatible");
    }
    for (name, schema) in c.doc["components"]["schemas"].as_object().unwrap() {
        let reference = json!({ "$ref": format!("#/components/schemas/{name}") });
        // A schema that compiles accepts or refuses; `null` is never a valid object here.
        c.validate(&reference, &Value::Null).expect_err(name);
        assert!(schema.is_object());
    }
    // The claim names are part of the contract.
    let description = c.doc["info"]["description"].as_str().unwrap();
    for claim in [api::CLAIM_SUBJECT, api::CLAIM_ORG, api::CLAIM_ROLE] {
        assert!(description.contains(&format!("`{claim}`")), "claim {claim} is not documented");
    }
}

#[test]
fn the_validator_refuses_what_the_contract_forbids() {
    // A test of the test: undocumented fields (a task token) and wrong shapes fail.
    let c = contract();
    let problem = json!({"$ref": "#/components/schemas/Problem"});
    let good = json!({"type": "urn:x", "title": "t", "status": 400, "detail": "d", "code": "X", "request_id": "r"});
    assert!(c.validate(&problem, &good).is_ok());
    let mut leaky = good.clone();
    leaky["task_token"] = json!("AQCE");
    assert!(c.validate(&problem, &leaky).is_err());
    let summary = json!({"$ref": "#/components/schemas/Handshake"});
    let bad_time = json!({"id": "h-12345678", "state": "OPEN", "requested_at": "yesterday", "expires_at": "2026-01-01T00:00:00Z"});
    assert!(c.validate(&summary, &bad_time).is_err());
}

/// Drives every documented (operation, status) pair and checks the set seen equals the set
/// documented. Each call is validated against its schema by `World::call`.
#[test]
fn every_documented_status_is_produced_by_its_handler() {
    // Its own thread with an 8 MiB stack (a Lambda's main thread's): the router's futures,
    // nested this deep in one test, outgrow a test thread's 2 MiB in debug builds.
    std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(|| tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(every_documented_status()))
        .unwrap()
        .join()
        .unwrap();
}

async fn every_documented_status() {
    let w = World::new().await;
    let big = vec![b' '; api::MAX_BODY_BYTES + 1];
    let text = |r: api::ApiRequest| r.with_header("content-type", "text/plain").with_body("hello");
    let too_big = |r: api::ApiRequest| r.with_header("content-type", "application/json").with_body(big.clone());

    // createMigration
    let mut no_terms = valid_body();
    no_terms["accepted_terms"] = json!([]);
    assert_eq!(w.call(post("/migrations", admin()).with_json(&no_terms)).await.status, 422);
    let mut bad = valid_body();
    bad["aws_account_id"] = json!("123");
    assert_eq!(w.call(post("/migrations", admin()).with_json(&bad)).await.status, 400);
    assert_eq!(w.call(post("/migrations", api::Identity::Anonymous).with_json(&valid_body())).await.status, 401);
    assert_eq!(w.call(post("/migrations", user()).with_json(&valid_body())).await.status, 403);
    assert_eq!(w.call(too_big(post("/migrations", admin()))).await.status, 413);
    assert_eq!(w.call(text(post("/migrations", admin()))).await.status, 415);
    w.flaky.set_unavailable();
    assert_eq!(w.call(post("/migrations", admin()).with_json(&valid_body())).await.status, 503);
    w.flaky.heal();
    let id = w.create().await;
    assert_eq!(w.call(post("/migrations", admin()).with_json(&valid_body())).await.status, 409);

    // listMigrations
    assert_eq!(w.call(get("/migrations", admin())).await.status, 200);
    assert_eq!(w.call(get("/migrations", admin()).with_query("limit=0")).await.status, 400);
    assert_eq!(w.call(get("/migrations", malformed())).await.status, 401);
    assert_eq!(w.call(get("/migrations", operator())).await.status, 403);
    w.flaky.set_unavailable();
    assert_eq!(w.call(get("/migrations", admin())).await.status, 503);
    w.flaky.heal();

    // getMigration
    let path = format!("/migrations/{id}");
    assert_eq!(w.call(get(&path, user())).await.status, 200);
    assert_eq!(w.call(get("/migrations/not-a-ulid", admin())).await.status, 400);
    assert_eq!(w.call(get(&path, api::Identity::Anonymous)).await.status, 401);
    assert_eq!(w.call(get(&path, operator())).await.status, 403);
    assert_eq!(w.call(get(&path, other_org_admin())).await.status, 404);
    w.flaky.set_unavailable();
    assert_eq!(w.call(get(&path, admin())).await.status, 503);
    w.flaky.set_broken();
    assert_eq!(w.call(get(&path, admin())).await.status, 500);
    w.flaky.heal();

    // cancelMigration
    let cancel = format!("/migrations/{id}/cancel");
    assert_eq!(w.call(post(&cancel, admin()).with_json(&json!({"reason": "x"}))).await.status, 400);
    assert_eq!(w.call(post(&cancel, malformed())).await.status, 401);
    assert_eq!(w.call(post(&cancel, user())).await.status, 403);
    assert_eq!(w.call(post(&cancel, other_org_admin())).await.status, 404);
    assert_eq!(w.call(too_big(post(&cancel, admin()))).await.status, 413);
    assert_eq!(w.call(text(post(&cancel, admin()))).await.status, 415);
    w.flaky.set_unavailable();
    assert_eq!(w.call(post(&cancel, admin())).await.status, 503);
    w.flaky.heal();
    assert_eq!(w.call(post(&cancel, admin())).await.status, 200);
    let joined = w.insert("000000000777", "acme", Status::Joined).await;
    assert_eq!(w.call(post(&format!("/migrations/{joined}/cancel"), admin())).await.status, 409);

    // getOnboarding
    assert_eq!(w.call(get("/onboarding", user())).await.status, 200);
    assert_eq!(w.call(get("/onboarding", admin()).with_query("debug=1")).await.status, 400);
    assert_eq!(w.call(get("/onboarding", api::Identity::Anonymous)).await.status, 401);
    assert_eq!(w.call(get("/onboarding", operator())).await.status, 403);
    assert_eq!(w.call(get("/onboarding", other_org_admin())).await.status, 422);
    w.flaky.set_unavailable();
    assert_eq!(w.call(get("/onboarding", admin())).await.status, 503);
    w.flaky.heal();

    // Operator routes: PUT then GET each resource.
    let resources = [
        (
            "/admin/organizations/globex/profile",
            "/admin/organizations/no_such_org/profile",
            "/admin/organizations/glo%20bex/profile",
            json!({"territory": "US", "billable": true, "demo": false, "trial": false, "internal": false, "reseller": false, "reseller_customer": false, "us_offices": true}),
        ),
        (
            "/admin/approvals/000000000042",
            "/admin/approvals/000000000043",
            "/admin/approvals/42",
            json!({"reference": "AWS-AGR-7", "approved": true}),
        ),
        (
            "/admin/terms/CA",
            "/admin/terms/MX",
            "/admin/terms/us",
            json!({"documents": [{"document_id": "ctl-aws-terms-ca", "version": "1", "title": "Terms", "url": "https://terms.example.invalid/ca/1"}]}),
        ),
    ];
    for (path, missing, bad_path, body) in resources {
        assert_eq!(w.call(put(path, operator()).with_json(&body)).await.status, 200, "{path}");
        assert_eq!(w.call(put(path, operator()).with_json(&json!({"unexpected": true}))).await.status, 400, "{path}");
        assert_eq!(w.call(put(path, api::Identity::Anonymous).with_json(&body)).await.status, 401, "{path}");
        assert_eq!(w.call(put(path, admin()).with_json(&body)).await.status, 403, "{path}");
        assert_eq!(w.call(too_big(put(path, operator()))).await.status, 413, "{path}");
        assert_eq!(w.call(text(put(path, operator()))).await.status, 415, "{path}");
        w.flaky.set_unavailable();
        assert_eq!(w.call(put(path, operator()).with_json(&body)).await.status, 503, "{path}");
        assert_eq!(w.call(get(path, operator())).await.status, 503, "{path}");
        w.flaky.heal();
        assert_eq!(w.call(get(path, operator())).await.status, 200, "{path}");
        assert_eq!(w.call(get(bad_path, operator())).await.status, 400, "{bad_path}");
        assert_eq!(w.call(get(path, api::Identity::Anonymous)).await.status, 401, "{path}");
        assert_eq!(w.call(get(path, admin())).await.status, 403, "{path}");
        assert_eq!(w.call(get(missing, operator())).await.status, 404, "{missing}");
    }

    // Operators' migration routes.
    assert_eq!(w.call(get("/admin/migrations", operator()).with_query("status=CANCELED")).await.status, 200);
    assert_eq!(w.call(get("/admin/migrations", operator())).await.status, 400);
    assert_eq!(w.call(get("/admin/migrations", api::Identity::Anonymous).with_query("org=acme")).await.status, 401);
    assert_eq!(w.call(get("/admin/migrations", admin()).with_query("org=acme")).await.status, 403);
    w.flaky.set_unavailable();
    assert_eq!(w.call(get("/admin/migrations", operator()).with_query("org=acme")).await.status, 503);
    w.flaky.heal();
    let admin_path = format!("/admin/migrations/{id}");
    assert_eq!(w.call(get(&admin_path, operator())).await.status, 200);
    assert_eq!(w.call(get("/admin/migrations/x", operator())).await.status, 400);
    assert_eq!(w.call(get(&admin_path, api::Identity::Anonymous)).await.status, 401);
    assert_eq!(w.call(get(&admin_path, admin())).await.status, 403);
    assert_eq!(w.call(get(&format!("/admin/migrations/{}", MigrationId::new_at(t0())), operator())).await.status, 404);
    w.flaky.set_unavailable();
    assert_eq!(w.call(get(&admin_path, operator())).await.status, 503);
    w.flaky.heal();
    let requested = w.insert("000000000778", "globex", Status::Requested).await;
    for action in ["cancel", "record-failure"] {
        let path = format!("/admin/migrations/{requested}/{action}");
        assert_eq!(w.call(post(&path, operator()).with_json(&json!({"x": 1}))).await.status, 400, "{action}");
        assert_eq!(w.call(post(&path, api::Identity::Anonymous)).await.status, 401, "{action}");
        assert_eq!(w.call(post(&path, admin())).await.status, 403, "{action}");
        let missing = format!("/admin/migrations/{}/{action}", MigrationId::new_at(t0()));
        assert_eq!(w.call(post(&missing, operator())).await.status, 404, "{action}");
        assert_eq!(w.call(too_big(post(&path, operator()))).await.status, 413, "{action}");
        assert_eq!(w.call(text(post(&path, operator()))).await.status, 415, "{action}");
        w.flaky.set_unavailable();
        assert_eq!(w.call(post(&path, operator())).await.status, 503, "{action}");
        w.flaky.heal();
    }
    // Never started: nothing to record (409); then canceled (200), twice.
    assert_eq!(w.call(post(&format!("/admin/migrations/{requested}/record-failure"), operator())).await.status, 409);
    assert_eq!(w.call(post(&format!("/admin/migrations/{requested}/cancel"), operator())).await.status, 200);
    assert_eq!(w.call(post(&format!("/admin/migrations/{requested}/record-failure"), operator())).await.status, 200);
    assert_eq!(w.call(post(&format!("/admin/migrations/{joined}/cancel"), operator())).await.status, 409);

    // endTransfer and adminEndTransfer.
    end_transfer_statuses(&w, joined).await;

    let documented: BTreeSet<(String, u16)> =
        ROUTES.iter().flat_map(|r| r.statuses.iter().map(|s| (r.operation_id.to_owned(), *s))).collect();
    let observed: BTreeSet<(String, u16)> = contract().observed().into_iter().filter(|(_, s)| *s != 500).collect();
    let never_produced: Vec<_> = documented.difference(&observed).collect();
    assert!(never_produced.is_empty(), "documented but never produced: {never_produced:?}");
}

/// endTransfer's and adminEndTransfer's statuses, on an accepted billing transfer; `joined`
/// is a join-kind migration, which cannot be ended.
async fn end_transfer_statuses(w: &World, joined: MigrationId) {
    let big = vec![b' '; api::MAX_BODY_BYTES + 1];
    let text = |r: api::ApiRequest| r.with_header("content-type", "text/plain").with_body("hello");
    let too_big = |r: api::ApiRequest| r.with_header("content-type", "application/json").with_body(big.clone());
    let (transfer, start_month) = common::transfer_accepted(w).await;
    let end = json!({ "end_month": start_month });
    for (base, who, not_who, other) in [
        (format!("/migrations/{transfer}/end-transfer"), admin(), operator(), Some(other_org_admin())),
        (format!("/admin/migrations/{transfer}/end-transfer"), operator(), admin(), None),
    ] {
        assert_eq!(w.call(post(&base, who.clone()).with_json(&json!({"end_month": "2027-13"}))).await.status, 400, "{base}");
        assert_eq!(w.call(post(&base, who.clone()).with_json(&json!({"end_month": start_month, "x": 1}))).await.status, 400, "{base}");
        assert_eq!(w.call(post(&base, api::Identity::Anonymous).with_json(&end)).await.status, 401, "{base}");
        assert_eq!(w.call(post(&base, not_who).with_json(&end)).await.status, 403, "{base}");
        match other {
            Some(other) => assert_eq!(w.call(post(&base, other).with_json(&end)).await.status, 404, "{base}"),
            None => {
                let missing = format!("/admin/migrations/{}/end-transfer", MigrationId::new_at(t0()));
                assert_eq!(w.call(post(&missing, who.clone()).with_json(&end)).await.status, 404, "{base}");
            }
        }
        let joined_path = base.replace(&transfer.to_string(), &joined.to_string());
        assert_eq!(w.call(post(&joined_path, who.clone()).with_json(&end)).await.status, 409, "{base}");
        assert_eq!(w.call(too_big(post(&base, who.clone()))).await.status, 413, "{base}");
        assert_eq!(w.call(text(post(&base, who.clone()))).await.status, 415, "{base}");
        assert_eq!(w.call(post(&base, who.clone()).with_json(&json!({"end_month": "2025-01"}))).await.status, 422, "{base}");
        w.flaky.set_unavailable();
        assert_eq!(w.call(post(&base, who.clone()).with_json(&end)).await.status, 503, "{base}");
        w.flaky.heal();
        // The first end, then the same again: the end AWS has.
        assert_eq!(w.call(post(&base, who.clone()).with_json(&end)).await.status, 200, "{base}");
    }
    // Another end than the one the transfer has is refused, not answered with the old one.
    let later = start_month.parse::<migration::transfer::BillingMonth>().unwrap().next().to_string();
    let res = w.call(post(&format!("/migrations/{transfer}/end-transfer"), admin()).with_json(&json!({ "end_month": later }))).await;
    assert_eq!((res.status.as_u16(), res.json()["code"].as_str()), (409, Some("NOT_TERMINABLE")), "{}", res.json());
    let bt = w.record(transfer).billing_transfer.unwrap();
    assert_eq!(
        bt.billing_ends_at.map(|e| e.to_rfc3339()),
        Some(start_month.parse::<migration::transfer::BillingMonth>().unwrap().end().to_rfc3339())
    );
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_are_problems() {
    let w = World::new().await;
    let res = w.call(get("/nope", admin())).await;
    assert_eq!((res.status.as_u16(), res.json()["code"].as_str()), (404, Some("NOT_FOUND")));
    let res = w.call(api::ApiRequest::new(api::http::Method::DELETE, "/migrations", admin(), "r-1")).await;
    assert_eq!(res.status, 405);
    assert_eq!(res.header("allow"), Some("POST, GET"));
    let res = w.call(api::ApiRequest::new(api::http::Method::PATCH, "/admin/terms/US", operator(), "r-2")).await;
    assert_eq!((res.status.as_u16(), res.header("allow")), (405, Some("PUT, GET")));
}

/// What the request schema can say about a create body, it says as the parser does: the
/// frontend can check a body before sending it and be refused only for what no schema can
/// express (the role in another account, the current terms, eligibility, the lock).
#[tokio::test]
async fn the_request_schema_agrees_with_the_parser() {
    let c = contract();
    let schema = json!({"$ref": "#/components/schemas/MigrationRequest"});
    let (_, _, _, create) = c.operations().into_iter().find(|(_, _, id, _)| id == "createMigration").expect("createMigration");
    let example = &create["requestBody"]["content"]["application/json"]["example"];
    assert_eq!(example, &valid_body(), "the documented example is the seeded customer's request");
    c.validate(&schema, example).expect("the example matches the schema");
    let w = World::new().await;
    assert_eq!(w.call(post("/migrations", admin()).with_json(example)).await.status, 202, "the example is accepted");

    let long_name = format!("arn:aws:iam::000123456789:role/{}", "a".repeat(65));
    let max_name = format!("arn:aws:iam::000123456789:role/{}", "a".repeat(64));
    let role_arns = [
        "arn:aws:iam::000123456789:role/CenturyLinkFullHardening",
        "arn:aws:iam::000123456789:role/path/to/My.Role@x+y=z,w-1_2",
        "arn:aws-cn:iam::000123456789:role/R",
        "arn:aws:iam::000123456789:user/R",
        "arn:aws:sts::000123456789:role/R",
        "arn:aws:iam:us-east-1:000123456789:role/R",
        "arn:aws:iam::00012345678:role/R",
        "arn:aws:iam::000123456789:role/",
        "arn:aws:iam::000123456789:role/a//b",
        "arn:aws:iam::000123456789:role/bad name",
        "arn:aws:iam::000123456789:role/ünïcode",
        "arn:aws:iam::000123456789",
        &long_name,
        &max_name,
    ];
    for arn in role_arns {
        let mut body = valid_body();
        body["role_arn"] = json!(arn);
        let parses = arn.parse::<migration::RoleArn>().is_ok();
        assert_eq!(c.validate(&schema, &body).is_ok(), parses, "{arn}: schema and parser disagree");
    }
    for field in ["historical_usage_data", "cost_allocation_tags", "reserved_instances"] {
        let mut body = valid_body();
        body["acknowledgements"][field] = json!(false);
        assert!(c.validate(&schema, &body).is_err(), "{field}: false must break the schema");
        let answer = w.call(post("/migrations", admin()).with_json(&body)).await;
        assert_eq!(answer.status, 400, "{field}: false must be refused");
    }
}
