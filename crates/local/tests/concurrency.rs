//! 100 parallel create requests for one AWS account, through the API router over one shared
//! in-memory store, and over HTTP against `cam-local serve`: exactly one migration, one
//! lock, one execution; every other answer is a 409 or, for the same Idempotency-Key and
//! body, a 202 replay of the one migration.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use api::http::{Method, StatusCode};
use chrono::{DateTime, Utc};
use migration::ports::MigrationStore;
use migration::request::AccessLevel;
use migration::rules::{Caller, CamRole, OrgProfile};
use migration_sim::fixtures::{self, Fixture};
use migration_sim::{ManualClock, RecordingExecutions};
use serde_json::Value;
use tokio::sync::Barrier;

const PARALLEL: usize = 100;
const OTHER_ORG: &str = "globex";

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-02T09:00:00Z").unwrap().with_timezone(&Utc)
}

fn caller(org: &str) -> Caller {
    Caller { user: format!("admin@{org}.example").parse().unwrap(), org: org.parse().unwrap(), role: CamRole::Administrator }
}

/// The fixture's world plus a second eligible organization.
async fn world() -> (Fixture<ManualClock>, Arc<RecordingExecutions>, api::Api) {
    let (f, recorder) = Fixture::with_recorder(start()).await;
    let other = OrgProfile { org_id: OTHER_ORG.parse().unwrap(), external_id: "cam-globex-1b2c3d".parse().unwrap(), ..fixtures::profile() };
    f.store.put_org_profile(&other).await.unwrap();
    let api = api::Api::new(f.ports.clone(), api::ApiConfig::default());
    (f, recorder, api)
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Answer {
    Created(String),
    Replayed(String),
    Conflict(String),
    Other(u16, String),
}

/// Sends `PARALLEL` creates at once; `who(i)` gives request i's organization and key.
async fn race(api: &api::Api, who: impl Fn(usize) -> (&'static str, Option<String>)) -> Vec<(usize, Answer)> {
    let barrier = Arc::new(Barrier::new(PARALLEL));
    let body = serde_json::to_value(fixtures::request(AccessLevel::FullHardening)).unwrap();
    let tasks: Vec<_> = (0..PARALLEL)
        .map(|i| {
            let (org, key) = who(i);
            let mut request = api::ApiRequest::new(Method::POST, "/migrations", api::Identity::Customer(caller(org)), &format!("req-{i}"))
                .with_json(&body);
            if let Some(key) = key {
                request = request.with_header("idempotency-key", &key);
            }
            let (api, barrier) = (api.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let response = api.handle(request).await;
                let json = response.json();
                let answer = match response.status {
                    StatusCode::ACCEPTED if response.header("idempotent-replayed") == Some("true") => {
                        Answer::Replayed(json["id"].as_str().unwrap().to_owned())
                    }
                    StatusCode::ACCEPTED => Answer::Created(json["id"].as_str().unwrap().to_owned()),
                    StatusCode::CONFLICT => Answer::Conflict(json["code"].as_str().unwrap_or_default().to_owned()),
                    other => Answer::Other(other.as_u16(), json.to_string()),
                };
                (i, answer)
            })
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    answers
}

fn kinds(answers: &[(usize, Answer)]) -> BTreeMap<&'static str, usize> {
    let mut m = BTreeMap::new();
    for (_, a) in answers {
        let k = match a {
            Answer::Created(_) => "202 created",
            Answer::Replayed(_) => "202 replayed",
            Answer::Conflict(_) => "409",
            Answer::Other(..) => "other",
        };
        *m.entry(k).or_default() += 1;
    }
    m
}

/// Exactly one migration, one lock, one execution started; returns its id.
async fn exactly_one(f: &Fixture<ManualClock>, recorder: &RecordingExecutions, answers: &[(usize, Answer)]) -> String {
    let created: Vec<&String> = answers.iter().filter_map(|(_, a)| if let Answer::Created(id) = a { Some(id) } else { None }).collect();
    assert_eq!(created.len(), 1, "exactly one 202 that created: {:?}", kinds(answers));
    let id = created[0].clone();
    let records = f.store.all();
    assert_eq!(records.len(), 1, "one migration in the store");
    assert_eq!(records[0].id.to_string(), id);
    assert_eq!(f.store.locks(), vec![(fixtures::account(), records[0].id)], "one lock, held by it");
    assert_eq!(recorder.started(), vec![records[0].id], "one execution");
    let others: Vec<_> = answers.iter().filter(|(_, a)| matches!(a, Answer::Other(..))).collect();
    assert!(others.is_empty(), "only 202 and 409: {others:?}");
    for (_, a) in answers {
        match a {
            Answer::Replayed(r) => assert_eq!(r, &id, "a replay names the one migration"),
            Answer::Conflict(code) => assert_eq!(code, "ACCOUNT_ALREADY_MIGRATING", "409s say why"),
            _ => {}
        }
    }
    id
}

fn conflict_code() -> String {
    migration::rules::account_locked(None).code.as_str().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_org_without_idempotency_key_creates_one_migration() {
    assert_eq!(conflict_code(), "ACCOUNT_ALREADY_MIGRATING");
    let (f, recorder, api) = world().await;
    let answers = race(&api, |_| (fixtures::ORG, None)).await;
    exactly_one(&f, &recorder, &answers).await;
    assert_eq!(kinds(&answers)["409"], PARALLEL - 1);
}

/// Rounds of each keyed race (the same-key, distinct-key and two-organization ones): the bug this guards against (a create that read neither the
/// key nor the lock, then lost the write to its own key's winner, answered 409) showed in 19
/// of 40 single rounds, so 30 rounds miss it with a probability under 1e-8. Every schedule
/// is also driven through 600 seeded random and PCT schedules in crates/migration/tests/interleavings.rs.
const RACE_ROUNDS: usize = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_org_with_one_idempotency_key_creates_one_migration_and_replays_it() {
    for round in 0..RACE_ROUNDS {
        let (f, recorder, api) = world().await;
        let answers = race(&api, |_| (fixtures::ORG, Some("same-key".to_owned()))).await;
        exactly_one(&f, &recorder, &answers).await;
        let k = kinds(&answers);
        // Same key, same body: the contract is a replay of the one migration, never a 409.
        assert_eq!(k.get("202 replayed").copied().unwrap_or(0), PARALLEL - 1, "round {round}: {k:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_org_with_distinct_idempotency_keys_creates_one_migration() {
    for round in 0..RACE_ROUNDS {
        let (f, recorder, api) = world().await;
        let answers = race(&api, |i| (fixtures::ORG, Some(format!("key-{i}")))).await;
        exactly_one(&f, &recorder, &answers).await;
        assert_eq!(kinds(&answers)["409"], PARALLEL - 1, "round {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_orgs_without_key_create_one_migration() {
    let (f, recorder, api) = world().await;
    let answers = race(&api, |i| (if i.is_multiple_of(2) { fixtures::ORG } else { OTHER_ORG }, None)).await;
    exactly_one(&f, &recorder, &answers).await;
    assert_eq!(kinds(&answers)["409"], PARALLEL - 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_orgs_each_with_its_key_create_one_migration() {
    for _ in 0..RACE_ROUNDS {
        two_orgs_each_with_its_key_round().await;
    }
}

async fn two_orgs_each_with_its_key_round() {
    let (f, recorder, api) = world().await;
    let org = |i: usize| if i.is_multiple_of(2) { fixtures::ORG } else { OTHER_ORG };
    let answers = race(&api, |i| (org(i), Some(format!("{}-key", org(i))))).await;
    exactly_one(&f, &recorder, &answers).await;
    let winner = f.store.all()[0].org_id.to_string();
    // The winner's organization replays; the other organization's requests conflict.
    for (i, a) in &answers {
        match a {
            Answer::Replayed(_) => assert_eq!(org(*i), winner, "only the winner's organization replays"),
            Answer::Conflict(_) => {}
            Answer::Created(_) => assert_eq!(org(*i), winner),
            Answer::Other(..) => unreachable!("checked"),
        }
    }
    let conflicts_from_loser = answers.iter().filter(|(i, a)| org(*i) != winner && matches!(a, Answer::Conflict(_))).count();
    assert_eq!(conflicts_from_loser, PARALLEL / 2, "every request of the other organization is a 409");
}

// ---------------------------------------------------------------------------------------
// Over HTTP

struct Server {
    child: std::process::Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve() -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cam-local"))
        .args(["serve", "--port", "0", "--sweep-every", "1", "--support-first-wait", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("cam-local starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let base = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("unexpected first line {line:?}")).to_owned();
    Server { child, base }
}

fn post(base: &str, org: &str, key: Option<&str>, body: &Value) -> (u16, Value, bool) {
    let mut request = ureq::post(&format!("{base}/migrations"))
        .set("X-Local-Identity-Sub", &format!("admin@{org}.example"))
        .set("X-Local-Identity-Org", org)
        .set("X-Local-Identity-Role", "administrator")
        .timeout(Duration::from_secs(20));
    if let Some(key) = key {
        request = request.set("Idempotency-Key", key);
    }
    let response = match request.send_json(body.clone()) {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("POST /migrations: {e}"),
    };
    let replayed = response.header("idempotent-replayed") == Some("true");
    (response.status(), response.into_json().unwrap_or(Value::Null), replayed)
}

#[test]
fn hundred_parallel_creates_over_http_create_one_migration() {
    let server = serve();
    let body = serde_json::to_value(fixtures::request(AccessLevel::Optimized)).unwrap();
    let barrier = Arc::new(std::sync::Barrier::new(PARALLEL));
    let threads: Vec<_> = (0..PARALLEL)
        .map(|i| {
            let (base, body, barrier) = (server.base.clone(), body.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                // Half with one shared key, half without.
                let key = (i.is_multiple_of(2)).then_some("http-key");
                post(&base, fixtures::ORG, key, &body)
            })
        })
        .collect();
    let answers: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let created: Vec<_> = answers.iter().filter(|(s, _, r)| *s == 202 && !r).collect();
    assert_eq!(created.len(), 1, "one 202 that created: {:?}", answers.iter().map(|a| (a.0, a.2)).collect::<Vec<_>>());
    let id = created[0].1["id"].as_str().unwrap().to_owned();
    for (status, json, replayed) in &answers {
        match (status, replayed) {
            (202, true) => assert_eq!(json["id"].as_str(), Some(id.as_str())),
            (202, false) => {}
            (409, _) => assert_eq!(json["code"], "ACCOUNT_ALREADY_MIGRATING"),
            other => panic!("unexpected {other:?}: {json}"),
        }
    }
    // The list shows one migration for the account.
    let list: Value = ureq::get(&format!("{}/migrations", server.base))
        .set("X-Local-Identity-Sub", "admin@acme.example")
        .set("X-Local-Identity-Org", fixtures::ORG)
        .set("X-Local-Identity-Role", "administrator")
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!(items[0]["id"].as_str(), Some(id.as_str()));
    let mut by_status: BTreeMap<(u16, bool), usize> = BTreeMap::new();
    for (s, _, r) in &answers {
        *by_status.entry((*s, *r)).or_default() += 1;
    }
    println!("over HTTP: {by_status:?}");
}
