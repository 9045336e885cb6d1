//! End to end over HTTP: `cam-local serve` on a free port, driven as the CAM frontend and as
//! the customer would drive it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use migration::request::AccessLevel;
use migration_sim::fixtures;
use serde_json::{Value, json};

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(extra: &[&str]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cam-local"))
        .args(["serve", "--port", "0", "--sweep-every", "1", "--support-first-wait", "1"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("cam-local starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line).expect("the address line");
    let base = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("unexpected first line {line:?}")).to_owned();
    Server { child, base }
}

const CUSTOMER_ADMIN: &[(&str, &str)] =
    &[("X-Local-Identity-Sub", "alice@acme.example"), ("X-Local-Identity-Org", "acme"), ("X-Local-Identity-Role", "administrator")];

impl Server {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_as(CUSTOMER_ADMIN, method, path, body)
    }

    fn call_as(&self, identity: &[(&str, &str)], method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let request = identity
            .iter()
            .fold(ureq::request(method, &format!("{}{path}", self.base)), |r, (name, value)| r.set(name, value))
            .timeout(Duration::from_secs(10));
        let result = match body {
            Some(b) => request.send_json(b),
            None => request.call(),
        };
        let response = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path}: {e}"),
        };
        let status = response.status();
        (status, response.into_json().unwrap_or(Value::Null))
    }

    /// Polls the migration until `done` says so, within a generous bound.
    fn wait_for(&self, id: &str, done: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let (status, record) = self.call("GET", &format!("/migrations/{id}"), None);
            assert_eq!(status, 200, "{record}");
            if done(&record) {
                return record;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "gave up waiting; last record: {record}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn create(&self, access: AccessLevel) -> String {
        let (status, record) = self.call("POST", "/migrations", Some(serde_json::to_value(fixtures::request(access)).unwrap()));
        assert_eq!(status, 202, "{record}");
        record["id"].as_str().expect("an id").to_owned()
    }

    fn status_events(&self, id: &str) -> Vec<String> {
        let (status, events) = self.call("GET", &format!("/_local/events?migration_id={id}"), None);
        assert_eq!(status, 200);
        events.as_array().unwrap().iter().map(|e| e["detail"]["to"].as_str().unwrap().to_owned()).collect()
    }
}

fn status_is(expected: &'static str) -> impl Fn(&Value) -> bool {
    move |r| r["status"] == expected
}

fn full_migration(server: &Server) {
    let account = json!({ "aws_account_id": fixtures::ACCOUNT });
    let id = server.create(AccessLevel::FullHardening);
    let invited = server.wait_for(&id, status_is("INVITED"));
    assert!(invited.to_string().contains("ACCEPT_INVITATION"), "the customer is told to accept: {invited}");
    assert!(!invited.to_string().contains(fixtures::EXTERNAL_ID), "no ExternalId outside onboarding");
    // The usage history was saved before the invitation; the administrator downloads it.
    assert_eq!(invited["usage_snapshot"]["state"], "taken", "{invited}");
    assert_eq!(invited["next_action"]["first"]["code"], "DOWNLOAD_USAGE_SNAPSHOT", "{invited}");
    let files = invited["usage_snapshot"]["download"]["files"].as_array().expect("links for the administrator").clone();
    let manifest = files.iter().find(|f| f["name"] == "manifest.json").expect("the manifest's link");
    let url = manifest["url"].as_str().unwrap();
    assert!(url.starts_with(&server.base), "{url} is served here");
    let body: Value = ureq::get(url).timeout(Duration::from_secs(10)).call().expect("the link downloads").into_json().unwrap();
    assert_eq!(body["migration_id"], id.as_str(), "{body}");
    assert_eq!(body["files"].as_array().map(Vec::len), Some(files.len() - 1), "every other file is in the manifest: {body}");

    assert_eq!(server.call("POST", "/_local/customer/accept", Some(account.clone())).0, 200);
    let waiting = server.wait_for(&id, status_is("AWAITING_SUPPORT_UPGRADE"));
    assert!(waiting.to_string().contains("UPGRADE_SUPPORT"), "the customer is told to upgrade: {waiting}");

    let upgrade = json!({ "aws_account_id": fixtures::ACCOUNT, "plan": "business_support_plus" });
    assert_eq!(server.call("POST", "/_local/customer/support", Some(upgrade)).0, 200);
    let done = server.wait_for(&id, status_is("HARDENED"));
    assert!(done["joined_at"].is_string(), "the join time is recorded: {done}");

    assert_eq!(
        server.status_events(&id),
        ["REQUESTED", "VALIDATED", "INVITED", "JOINED", "AWAITING_SUPPORT_UPGRADE", "SUPPORT_CONFIRMED", "HARDENING_SCHEDULED", "HARDENED"]
    );
}

#[test]
fn full_migration_over_http() {
    full_migration(&serve(&[]));
}

/// A member of another organization moves directly: the request acknowledges what that
/// changes, the migration shows the readiness facts, and it ends like any other.
#[test]
fn direct_transfer_from_another_organization_over_http() {
    let server = serve(&["--account", "member"]);
    let mut request = serde_json::to_value(fixtures::request(AccessLevel::Optimized)).unwrap();
    let (status, onboarding) = server.call("GET", "/onboarding", None);
    assert_eq!(status, 200);
    assert_eq!(onboarding["direct_transfer"]["acknowledgement"], "direct_transfer");
    request["acknowledgements"]["direct_transfer"] = json!(true);
    let (status, created) = server.call("POST", "/migrations", Some(request));
    assert_eq!(status, 202, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();

    let invited = server.wait_for(&id, status_is("INVITED"));
    let transfer = &invited["direct_transfer"];
    assert_eq!(transfer["organization_id"], migration_sim::customers::FORMER_ORGANIZATION, "{invited}");
    assert_eq!(transfer["acknowledged"], true);
    assert_eq!(transfer["changes"].as_array().map(Vec::len), Some(migration::readiness::DIRECT_TRANSFER_CHANGES.len()));

    assert_eq!(server.call("POST", "/_local/customer/accept", Some(json!({ "aws_account_id": fixtures::ACCOUNT }))).0, 200);
    server.wait_for(&id, status_is("AWAITING_SUPPORT_UPGRADE"));
    let upgrade = json!({ "aws_account_id": fixtures::ACCOUNT, "plan": "unified_operations" });
    assert_eq!(server.call("POST", "/_local/customer/support", Some(upgrade)).0, 200);
    let done = server.wait_for(&id, status_is("COMPLETED"));
    assert_eq!(done["support"]["plan"], "enterprise_class", "{done}");
}

/// Every refusal is a problem document, whatever the body's size: past axum's 2 MiB default
/// and past API Gateway's 10 MB.
#[test]
fn oversized_bodies_are_refused_with_a_problem_document() {
    let server = serve(&[]);
    for size in [100 * 1024, 3 * 1024 * 1024, 11 * 1024 * 1024] {
        let body = format!("{{\"provider_name\": \"{}\"}}", "x".repeat(size));
        let response = CUSTOMER_ADMIN
            .iter()
            .fold(ureq::post(&format!("{}/migrations", server.base)), |r, (name, value)| r.set(name, value))
            .set("Content-Type", "application/json")
            .timeout(Duration::from_secs(30))
            .send_string(&body);
        let response = match response {
            Err(ureq::Error::Status(_, r)) => r,
            other => panic!("{size} bytes: {other:?}"),
        };
        assert_eq!(response.status(), 413, "{size} bytes");
        assert_eq!(response.content_type(), "application/problem+json", "{size} bytes");
        let problem: Value = response.into_json().unwrap();
        assert_eq!(problem["code"], "PAYLOAD_TOO_LARGE", "{size} bytes: {problem}");
    }
}

#[test]
fn declined_invitation_over_http() {
    let server = serve(&[]);
    let id = server.create(AccessLevel::Optimized);
    server.wait_for(&id, status_is("INVITED"));
    assert_eq!(server.call("POST", "/_local/customer/decline", Some(json!({ "aws_account_id": fixtures::ACCOUNT }))).0, 200);
    let record = server.wait_for(&id, status_is("INVITATION_DECLINED"));
    assert!(record.to_string().contains("Migration.InvitationDeclined"), "{record}");
    assert_eq!(server.status_events(&id).last().map(String::as_str), Some("INVITATION_DECLINED"));
    // The account is free again.
    server.create(AccessLevel::Optimized);
}

#[test]
fn operators_are_named_by_their_iam_principal() {
    let server = serve(&[]);
    let path = format!("/admin/organizations/{}/profile", fixtures::ORG);
    let operator = [("Authorization", "CAM-Local-IAM arn:aws:iam::999999999999:role/CamOperator")];
    let (status, profile) = server.call_as(&operator, "GET", &path, None);
    assert_eq!(status, 200, "{profile}");
    assert_eq!((profile["org_id"].as_str(), profile["external_id_issued"].as_bool()), (Some(fixtures::ORG), Some(true)), "{profile}");
    // Each route has one authorizer, as on AWS: the other kind of identity is no identity.
    let both: Vec<_> = CUSTOMER_ADMIN.iter().chain(&operator).copied().collect();
    assert_eq!(server.call_as(&both, "GET", &path, None).0, 200, "the IAM route reads Authorization");
    assert_eq!(server.call_as(&both, "GET", "/migrations", None).0, 200, "a JWT route reads the claims");
    let unsigned: [&[(&str, &str)]; 4] =
        [CUSTOMER_ADMIN, &[], &[("Authorization", "CAM-Local-IAM not-an-arn")], &[("Authorization", "AWS4-HMAC-SHA256 Credential=x")]];
    for identity in unsigned {
        let (status, problem) = server.call_as(identity, "GET", &path, None);
        assert_eq!((status, problem["code"].as_str()), (401, Some("UNAUTHENTICATED")), "{identity:?}: {problem}");
    }
    assert_eq!(server.call_as(&operator, "GET", "/migrations", None).0, 401, "an operator has no customer identity");
}

#[test]
fn operators_read_list_and_cancel_migrations_over_http() {
    let server = serve(&[]);
    let id = server.create(AccessLevel::Optimized);
    server.wait_for(&id, status_is("INVITED"));
    let operator = [("Authorization", "CAM-Local-IAM arn:aws:iam::999999999999:role/CamOperator")];

    let (status, view) = server.call_as(&operator, "GET", &format!("/admin/migrations/{id}"), None);
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["execution"]["status"], "RUNNING", "{view}");
    let arn = view["execution"]["arn"].as_str().expect("the local executor's execution ARN");
    assert!(arn.ends_with(&format!(":execution:cam-migration:{id}")) || arn.ends_with(&id), "{arn}");

    let (status, page) = server.call_as(&operator, "GET", "/admin/migrations?status=INVITED", None);
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["items"][0]["migration"]["id"], id.as_str(), "{page}");
    // The same routes under /_local/, as the local operator.
    assert_eq!(server.call("GET", &format!("/_local/admin/migrations/{id}"), None).0, 200);

    let (status, canceled) = server.call_as(&operator, "POST", &format!("/admin/migrations/{id}/cancel"), None);
    assert_eq!(status, 200, "{canceled}");
    let record = server.wait_for(&id, status_is("CANCELED"));
    assert!(record.to_string().contains("CenturyLink operator"), "the customer sees an operator: {record}");
    let (_, view) = server.call_as(&operator, "GET", &format!("/admin/migrations/{id}"), None);
    assert_eq!(view["execution"]["status"], "ABORTED", "{view}");
    // The account is free again.
    server.create(AccessLevel::Optimized);
}

#[test]
fn full_migration_with_the_store_on_moto() {
    let Ok(endpoint) = std::env::var("MOTO_ENDPOINT") else {
        assert!(
            std::env::var_os("CI").is_none() && std::env::var_os("REQUIRE_MOTO").is_none(),
            "MOTO_ENDPOINT must be set (scripts/test starts moto)"
        );
        eprintln!("SKIPPED: MOTO_ENDPOINT is not set");
        return;
    };
    let table = format!("cam-local-e2e-{}", std::process::id());
    full_migration(&serve(&["--aws-endpoint", &endpoint, "--table", &table]));
}

/// A management account's billing transfer over HTTP: invited, accepted in the (simulated)
/// Billing console, then withdrawn by the customer; and another declined.
#[test]
fn billing_transfer_over_http() {
    let server = serve(&["--account", "management"]);
    let create = || {
        let body = serde_json::to_value(fixtures::transfer_request(None)).unwrap();
        let (status, record) = server.call("POST", "/migrations", Some(body));
        assert_eq!(status, 202, "{record}");
        record["id"].as_str().expect("an id").to_owned()
    };
    let account = json!({ "aws_account_id": fixtures::ACCOUNT });

    let id = create();
    let invited = server.wait_for(&id, status_is("TRANSFER_INVITED"));
    assert!(invited.to_string().contains("ACCEPT_BILLING_TRANSFER"), "the customer is told to accept: {invited}");
    let (status, answer) = server.call("POST", "/_local/customer/accept", Some(account.clone()));
    assert_eq!((status, answer["kind"].as_str()), (200, Some("billing_transfer")), "{answer}");
    // No event follows an acceptance: the watcher's sweep finds it.
    let accepted = server.wait_for(&id, status_is("TRANSFER_ACCEPTED"));
    let start_month = accepted["billing_transfer"]["start_month"].as_str().expect("a start month").to_owned();
    // The customer withdraws it from its first month's end; nothing is open any more.
    let withdraw = json!({ "aws_account_id": fixtures::ACCOUNT, "end_month": start_month });
    let (status, answer) = server.call("POST", "/_local/customer/withdraw-transfer", Some(withdraw.clone()));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(server.call("POST", "/_local/customer/withdraw-transfer", Some(withdraw)).0, 404);
    assert_eq!(server.call("POST", "/_local/customer/accept", Some(account.clone())).0, 404);
    let bad = json!({ "aws_account_id": fixtures::ACCOUNT, "end_month": "2026-13" });
    assert_eq!(server.call("POST", "/_local/customer/withdraw-transfer", Some(bad)).0, 400);

    // Another transfer, declined, on a server of its own (the first one's account is taken).
    drop(server);
    let server = serve(&["--account", "management"]);
    let body = serde_json::to_value(fixtures::transfer_request(None)).unwrap();
    let (status, record) = server.call("POST", "/migrations", Some(body));
    assert_eq!(status, 202, "{record}");
    let id = record["id"].as_str().unwrap().to_owned();
    server.wait_for(&id, status_is("TRANSFER_INVITED"));
    assert_eq!(server.call("POST", "/_local/customer/decline", Some(account)).0, 200);
    let declined = server.wait_for(&id, status_is("TRANSFER_DECLINED"));
    assert!(declined.to_string().contains("Migration.TransferDeclined"), "{declined}");
}
