//! One organization never learns anything about another. Organization A (`acme`) has
//! migrations in several statuses, an Idempotency-Key and a listing cursor; organization B
//! (`globex`) then calls every customer route of `api::ROUTES` against A's migration ids,
//! accounts, key and cursor, down the refusal and conflict paths too. No body or header of
//! B's answers may hold A's migration ids (nor the creation time each ULID encodes), A's
//! organization, ExternalId, users, provider names, handshakes, times or statuses, nor an
//! account of A's that B did not name itself. Operator routes (`/admin/`) serve IAM
//! operators, who see every organization, and are the only ones left out.

mod common;

use std::collections::BTreeSet;

use api::http::Method;
use api::routes::{Audience, Match, RouteId, match_route};
use api::{ApiRequest, ApiResponse, Identity, ROUTES};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use common::*;
use migration::ids::{MigrationId, TaskToken};
use migration::ports::MigrationStore;
use migration::record::Migration;
use migration::request::AccessLevel;
use migration::rules::{Caller, CamRole};
use migration::status::{ALL_STATUSES, Status};
use migration_sim::fixtures;
use serde_json::{Value, json};

const B_ORG: &str = "globex";
const B_ACCOUNT: &str = "000000000222";
const A_KEY: &str = "acme-key-0001";

fn b_admin() -> Identity {
    Identity::Customer(Caller { user: "eve@globex.example".parse().unwrap(), org: B_ORG.parse().unwrap(), role: CamRole::Administrator })
}

fn b_user() -> Identity {
    Identity::Customer(Caller { user: "mallory@globex.example".parse().unwrap(), org: B_ORG.parse().unwrap(), role: CamRole::User })
}

/// A create body for `account`, under `name`.
fn body_for(account: &str, name: &str) -> Value {
    let mut body = valid_body();
    body["aws_account_id"] = json!(account);
    body["role_arn"] = json!(format!("arn:aws:iam::{account}:role/CenturyLinkFullHardening"));
    body["provider_name"] = json!(name);
    body
}

/// What organization A owns, as A's own answers show it.
struct OrgA {
    /// (id, account, status) of each migration.
    migrations: Vec<(MigrationId, String, Status)>,
    /// A listing cursor A was handed.
    cursor: String,
    /// Every string that identifies A or its migrations, and must never reach B.
    secrets: BTreeSet<String>,
    /// A's accounts: secret unless B named them in its request.
    accounts: BTreeSet<String>,
    statuses: BTreeSet<String>,
}

/// Stores a migration of A directly, for statuses the API cannot reach in a test.
async fn insert_a(w: &World, account: &str, name: &str, status: Status) -> MigrationId {
    let mut request = fixtures::request(AccessLevel::FullHardening);
    request.aws_account_id = account.into();
    request.role_arn = format!("arn:aws:iam::{account}:role/CenturyLinkFullHardening");
    request.provider_name = name.into();
    let valid = request.validate().unwrap();
    let now = w.fixture.ports.clock.now();
    let mut record =
        Migration::new(MigrationId::new_at(now), fixtures::ORG.parse().unwrap(), "US".parse().unwrap(), fixtures::admin().user, valid, now);
    record.status = status;
    w.store.create(&record, &migration::record::created_event(&record), None).await.unwrap();
    record.id
}

fn advance(w: &World, by: Duration) {
    w.fixture.clock.advance(by);
}

/// Every rendering of `t` an answer could carry.
fn renderings(t: DateTime<Utc>) -> Vec<String> {
    let mut out = Vec::new();
    for format in [SecondsFormat::Secs, SecondsFormat::Millis, SecondsFormat::AutoSi] {
        out.push(t.to_rfc3339_opts(format, true));
        out.push(t.to_rfc3339_opts(format, false));
    }
    out.push(t.timestamp_millis().to_string());
    // chrono's Display, and the time to the second as people write it.
    out.push(t.to_string());
    out.push(t.format("%Y-%m-%d %H:%M:%S").to_string());
    out
}

/// Every string leaf of `v`, with the key it is under.
fn leaves<'a>(v: &'a Value, key: &'a str, out: &mut Vec<(&'a str, &'a str)>) {
    match v {
        Value::String(s) => out.push((key, s)),
        Value::Array(items) => items.iter().for_each(|i| leaves(i, key, out)),
        Value::Object(map) => map.iter().for_each(|(k, i)| leaves(i, k, out)),
        _ => {}
    }
}

async fn set_up_a(w: &World) -> OrgA {
    // Odd milliseconds, so every one of A's times is its own.
    advance(w, Duration::milliseconds(1_234));
    let created = w
        .call(
            post("/migrations", admin()).with_header("idempotency-key", A_KEY).with_json(&body_for(fixtures::ACCOUNT, "Acme Payroll Prod")),
        )
        .await;
    assert_eq!(created.status, 202, "{}", created.json());
    let invited: MigrationId = created.json()["id"].as_str().unwrap().parse().unwrap();
    let ports = &w.fixture.ports;
    advance(w, Duration::milliseconds(60_017));
    migration::steps::validate(ports, invited).await.unwrap();
    advance(w, Duration::milliseconds(5_003));
    migration::steps::invite(ports, invited).await.unwrap();
    migration::steps::wait_for_handshake(ports, invited, TaskToken::new(TOKEN)).await.unwrap();
    advance(w, Duration::milliseconds(7_777));
    let joined = insert_a(w, "000000000777", "Acme Data Lake", Status::Joined).await;
    advance(w, Duration::milliseconds(3_141));
    let completed = insert_a(w, "000000000778", "Acme Web Shop", Status::Completed).await;
    advance(w, Duration::milliseconds(2_718));
    let declined = insert_a(w, "000000000779", "Acme Sandbox", Status::InvitationDeclined).await;
    let migrations = vec![
        (invited, fixtures::ACCOUNT.to_owned(), Status::Invited),
        (joined, "000000000777".to_owned(), Status::Joined),
        (completed, "000000000778".to_owned(), Status::Completed),
        (declined, "000000000779".to_owned(), Status::InvitationDeclined),
    ];

    let mut secrets: BTreeSet<String> = [fixtures::ORG, fixtures::EXTERNAL_ID].map(str::to_owned).into();
    let mut statuses = BTreeSet::new();
    for (id, _, status) in &migrations {
        secrets.insert(id.to_string());
        secrets.insert(id.to_string().to_lowercase());
        let ulid: ulid::Ulid = id.to_string().parse().unwrap();
        let created_at = DateTime::<Utc>::from_timestamp_millis(i64::try_from(ulid.timestamp_ms()).unwrap()).unwrap();
        secrets.extend(renderings(created_at));
        statuses.insert(status.as_str().to_owned());
        // Everything A's own view holds that names A: handshakes, users, names and times.
        let view = w.call(get(&format!("/migrations/{id}"), admin())).await;
        assert_eq!(view.status, 200);
        let view = view.json();
        let mut strings = Vec::new();
        leaves(&view, "", &mut strings);
        for (key, s) in strings {
            match key {
                "status" | "from" | "to" => {
                    statuses.insert(s.to_owned());
                }
                "provider_name" | "requested_by" | "accepted_by" => {
                    secrets.insert(s.to_owned());
                }
                // Ids of the migration, its handshake and its users; a step acting is named
                // after the step (`validate`), which is everyone's.
                "id" if s.parse::<MigrationId>().is_ok() || s.starts_with("h-") || s.contains('@') => {
                    secrets.insert(s.to_owned());
                }
                _ => {}
            }
            if let Ok(t) = DateTime::parse_from_rfc3339(s) {
                secrets.extend(renderings(t.with_timezone(&Utc)));
            }
        }
    }
    let page = w.call(get("/migrations", admin()).with_query("limit=1")).await.json();
    let cursor = page["next_cursor"].as_str().expect("A has more than one page").to_owned();
    // B's own migration is REQUESTED, as every migration once was: that status tells B nothing.
    statuses.remove("REQUESTED");
    let accounts = migrations.iter().map(|(_, a, _)| a.clone()).collect();
    OrgA { migrations, cursor, secrets, accounts, statuses }
}

/// B as an eligible organization with an approved account of its own, set up by operators.
async fn set_up_b(w: &World) {
    let profile = json!({"territory": "US", "billable": true, "demo": false, "trial": false, "internal": false, "reseller": false, "reseller_customer": false, "us_offices": true});
    assert_eq!(w.call(put(&format!("/admin/organizations/{B_ORG}/profile"), operator()).with_json(&profile)).await.status, 200);
    let approval = json!({"reference": "AWS-AGR-GLOBEX", "approved": true});
    assert_eq!(w.call(put(&format!("/admin/approvals/{B_ACCOUNT}"), operator()).with_json(&approval)).await.status, 200);
}

/// One call of B's, the answer it must get, and what of A's B itself put in the request.
struct Probe {
    label: String,
    request: ApiRequest,
    status: u16,
    code: Option<&'static str>,
    /// A's accounts B named in this request: they may come back.
    named: Vec<String>,
}

fn probe(label: impl Into<String>, request: ApiRequest, status: u16, code: Option<&'static str>) -> Probe {
    Probe { label: label.into(), request, status, code, named: Vec::new() }
}

/// A migration id no organization has.
fn never() -> MigrationId {
    MigrationId::new_at(DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z").unwrap().with_timezone(&Utc))
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

/// B's calls of one route. Written out per route: a new customer route has none until
/// someone writes them, and the test fails.
fn probes(route: RouteId, a: &OrgA) -> Vec<Probe> {
    let never = never();
    match route {
        RouteId::CreateMigration => {
            let mut out = Vec::new();
            for (id, account, status) in &a.migrations {
                for (who, identity, expect, code) in [
                    ("administrator", b_admin(), 409, Some("ACCOUNT_ALREADY_MIGRATING")),
                    ("user", b_user(), 403, Some("CALLER_NOT_ADMINISTRATOR")),
                ] {
                    let mut p = probe(
                        format!("{who} creates for the account of A's {status} migration {id}"),
                        post("/migrations", identity).with_json(&body_for(account, "Globex Ops")),
                        expect,
                        code,
                    );
                    p.named.push(account.clone());
                    out.push(p);
                }
                // A's key with A's own body, account and name: no replay of A's answer.
                let mut p = probe(
                    format!("A's Idempotency-Key and body for the account of {id}"),
                    post("/migrations", b_admin()).with_header("idempotency-key", A_KEY).with_json(&body_for(account, "Acme Payroll Prod")),
                    409,
                    Some("ACCOUNT_ALREADY_MIGRATING"),
                );
                p.named.push(account.clone());
                out.push(p);
            }
            // A's key on a body of B's own: B's key space is its own, so this is B's first use
            // of it (not a reuse, which would tell B that A holds the key), then B's replay,
            // then B's own reuse with another body.
            out.push(probe(
                "A's Idempotency-Key on B's own request",
                post("/migrations", b_admin()).with_header("idempotency-key", A_KEY).with_json(&body_for(B_ACCOUNT, "Globex Ops")),
                202,
                None,
            ));
            out.push(probe(
                "the same again: B's own replay",
                post("/migrations", b_admin()).with_header("idempotency-key", A_KEY).with_json(&body_for(B_ACCOUNT, "Globex Ops")),
                202,
                None,
            ));
            let mut p = probe(
                "A's Idempotency-Key, reused by B with another body",
                post("/migrations", b_admin()).with_header("idempotency-key", A_KEY).with_json(&body_for(fixtures::ACCOUNT, "Globex Ops")),
                422,
                Some("IDEMPOTENCY_KEY_REUSED"),
            );
            p.named.push(fixtures::ACCOUNT.to_owned());
            out.push(p);
            // The lock B holds itself, for contrast: named to B, as its own.
            out.push(probe(
                "B's own account again",
                post("/migrations", b_admin()).with_json(&body_for(B_ACCOUNT, "Globex Ops")),
                409,
                Some("ACCOUNT_ALREADY_MIGRATING"),
            ));
            out
        }
        RouteId::ListMigrations => {
            let mut out = vec![
                probe("list", get("/migrations", b_admin()), 200, None),
                probe("list as a user", get("/migrations", b_user()), 200, None),
                probe("one per page", get("/migrations", b_admin()).with_query("limit=1"), 200, None),
                probe("A's cursor", get("/migrations", b_admin()).with_query(&format!("cursor={}", a.cursor)), 400, Some("INVALID_CURSOR")),
            ];
            for status in ALL_STATUSES {
                out.push(probe(
                    format!("filtered by {status}"),
                    get("/migrations", b_admin()).with_query(&format!("status={status}")),
                    200,
                    None,
                ));
            }
            for (id, _, _) in &a.migrations {
                // Cursors in the memory store's format (`ORG#<org>|<id>`, hex), aimed at A's ids and A's listing.
                out.push(probe(
                    format!("B's cursor after A's {id}"),
                    get("/migrations", b_admin()).with_query(&format!("cursor={}", hex(&format!("ORG#{B_ORG}|{id}")))),
                    200,
                    None,
                ));
                out.push(probe(
                    format!("A's cursor after A's {id}"),
                    get("/migrations", b_admin()).with_query(&format!("cursor={}", hex(&format!("ORG#{}|{id}", fixtures::ORG)))),
                    400,
                    Some("INVALID_CURSOR"),
                ));
            }
            out
        }
        RouteId::GetMigration => {
            let mut out = Vec::new();
            for (id, _, status) in &a.migrations {
                out.push(probe(
                    format!("A's {status} migration"),
                    get(&format!("/migrations/{id}"), b_admin()),
                    404,
                    Some("MIGRATION_NOT_FOUND"),
                ));
                out.push(probe(
                    format!("A's {status} migration as a user"),
                    get(&format!("/migrations/{id}"), b_user()),
                    404,
                    Some("MIGRATION_NOT_FOUND"),
                ));
            }
            out.push(probe(
                "a migration that never was",
                get(&format!("/migrations/{never}"), b_admin()),
                404,
                Some("MIGRATION_NOT_FOUND"),
            ));
            out
        }
        RouteId::CancelMigration => {
            let mut out = Vec::new();
            // Cancellable (INVITED) or not (JOINED, COMPLETED, INVITATION_DECLINED): to B all are missing.
            for (id, _, status) in &a.migrations {
                out.push(probe(
                    format!("cancel A's {status} migration"),
                    post(&format!("/migrations/{id}/cancel"), b_admin()),
                    404,
                    Some("MIGRATION_NOT_FOUND"),
                ));
                out.push(probe(
                    format!("cancel A's {status} migration with {{}}"),
                    post(&format!("/migrations/{id}/cancel"), b_admin()).with_json(&json!({})),
                    404,
                    Some("MIGRATION_NOT_FOUND"),
                ));
                out.push(probe(
                    format!("cancel A's {status} migration as a user"),
                    post(&format!("/migrations/{id}/cancel"), b_user()),
                    403,
                    Some("CALLER_NOT_ADMINISTRATOR"),
                ));
            }
            out.push(probe(
                "cancel a migration that never was",
                post(&format!("/migrations/{never}/cancel"), b_admin()),
                404,
                Some("MIGRATION_NOT_FOUND"),
            ));
            out
        }
        RouteId::EndTransfer => {
            let mut out = Vec::new();
            let end = json!({"end_month": "2027-06"});
            for (id, _, status) in &a.migrations {
                out.push(probe(
                    format!("end A's {status} migration's transfer"),
                    post(&format!("/migrations/{id}/end-transfer"), b_admin()).with_json(&end),
                    404,
                    Some("MIGRATION_NOT_FOUND"),
                ));
                out.push(probe(
                    format!("end A's {status} migration's transfer as a user"),
                    post(&format!("/migrations/{id}/end-transfer"), b_user()).with_json(&end),
                    403,
                    Some("CALLER_NOT_ADMINISTRATOR"),
                ));
            }
            out.push(probe(
                "end the transfer of a migration that never was",
                post(&format!("/migrations/{never}/end-transfer"), b_admin()).with_json(&end),
                404,
                Some("MIGRATION_NOT_FOUND"),
            ));
            out
        }
        RouteId::GetOnboarding => vec![
            probe("onboarding", get("/onboarding", b_admin()), 200, None),
            probe("onboarding as a user", get("/onboarding", b_user()), 200, None),
        ],
        // Operators see every organization; these routes are skipped by their audience.
        RouteId::PutOrgProfile
        | RouteId::GetOrgProfile
        | RouteId::PutApproval
        | RouteId::GetApproval
        | RouteId::PutTerms
        | RouteId::GetTerms
        | RouteId::AdminListMigrations
        | RouteId::AdminGetMigration
        | RouteId::AdminCancelMigration
        | RouteId::AdminRecordFailure
        | RouteId::AdminEndTransfer => Vec::new(),
    }
}

/// What of A's `answer` shows B, if anything.
fn leaks(a: &OrgA, answer: &ApiResponse, named: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    let body = String::from_utf8_lossy(&answer.body).into_owned();
    let mut texts = vec![("body".to_owned(), body.clone())];
    for (name, value) in &answer.headers {
        texts.push((format!("header {name}"), String::from_utf8_lossy(value.as_bytes()).into_owned()));
    }
    let accounts = a.accounts.iter().filter(|acc| !named.contains(acc));
    for (place, text) in &texts {
        for secret in a.secrets.iter().chain(accounts.clone()) {
            if text.contains(secret.as_str()) {
                found.push(format!("{place} holds {secret:?}"));
            }
        }
        for status in &a.statuses {
            if place != "body" && text.contains(status.as_str()) {
                found.push(format!("{place} holds the status {status}"));
            }
        }
    }
    if let Ok(json) = serde_json::from_str::<Value>(&body) {
        let mut strings = Vec::new();
        leaves(&json, "", &mut strings);
        for (key, s) in strings {
            if a.statuses.contains(s) || (a.statuses.iter().any(|st| s.contains(st.as_str())) && key != "code") {
                found.push(format!("body field `{key}` holds A's status: {s:?}"));
            }
        }
    }
    found
}

#[tokio::test]
async fn organization_b_learns_nothing_of_organization_a() {
    let w = World::new().await;
    let a = set_up_a(&w).await;
    set_up_b(&w).await;
    // B acts days later, so none of B's times is one of A's.
    advance(&w, Duration::days(3) + Duration::milliseconds(421));
    let a_before: Vec<_> = records_of(&w, fixtures::ORG).await;

    let customer_routes: Vec<_> = ROUTES.iter().filter(|r| r.audience == Audience::Customer).collect();
    assert!(customer_routes.len() >= 5, "{customer_routes:?}");
    let mut seen = BTreeSet::new();
    let mut leaked = Vec::new();
    for spec in customer_routes {
        let probes = probes(spec.id, &a);
        assert!(!probes.is_empty(), "{}: no isolation probes; write B's calls of the new route", spec.operation_id);
        for p in probes {
            assert!(
                matches!(match_route(p.request.method.as_str(), &p.request.path), Match::Found(s, _) if s.id == spec.id),
                "{}: the probe is not a call of {}",
                p.label,
                spec.operation_id
            );
            let answer = w.call(p.request).await;
            let json = answer.json();
            assert_eq!(answer.status, p.status, "{}: {json}", p.label);
            if let Some(code) = p.code {
                assert_eq!(json["code"], code, "{}: {json}", p.label);
            }
            seen.insert((spec.operation_id, answer.status.as_u16()));
            leaked.extend(leaks(&a, &answer, &p.named).into_iter().map(|l| format!("{} {}: {}: {l}", spec.method, spec.template, p.label)));
        }
    }
    assert!(leaked.is_empty(), "B learned about A:\n{}", leaked.join("\n"));

    // A missing migration and another organization's answer alike, to the byte.
    let never = never();
    for (id, _, _) in &a.migrations {
        for (method, suffix) in [(Method::GET, ""), (Method::POST, "/cancel")] {
            let theirs = w.call(ApiRequest::new(method.clone(), &format!("/migrations/{id}{suffix}"), b_admin(), "req-iso")).await;
            let missing = w.call(ApiRequest::new(method, &format!("/migrations/{never}{suffix}"), b_admin(), "req-iso")).await;
            assert_eq!((theirs.status, &theirs.headers, &theirs.body), (missing.status, &missing.headers, &missing.body), "{id}{suffix}");
        }
    }
    // B's calls changed nothing of A's, and B saw only its own migration.
    assert_eq!(records_of(&w, fixtures::ORG).await, a_before, "B's calls changed A's migrations");
    let listed = w.call(get("/migrations", b_admin())).await.json();
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1), "{listed}");
    assert!(
        seen.contains(&("createMigration", 409)) && seen.contains(&("createMigration", 422)) && seen.contains(&("cancelMigration", 404))
    );
}

/// An organization's records with their histories, to compare.
async fn records_of(w: &World, org: &str) -> Vec<String> {
    let mut out = Vec::new();
    for m in w.records().into_iter().filter(|m| m.org_id.as_str() == org) {
        let history = MigrationStore::history(w.store.as_ref(), m.id).await.unwrap();
        out.push(format!("{m:?} {history:?}"));
    }
    out.sort();
    out
}
