//! The properties the fuzzers check, one function per cargo-fuzz target in `/fuzz`. Each
//! takes the fuzzer's raw bytes and panics when a property breaks; the targets are one
//! line each, and `tests/replay.rs` runs the seed corpus and every crash saved under
//! `fuzz/regressions/<target>/` through the same functions on stable Rust, so a crash
//! found once stays a test.
//!
//! Every function that receives an event is covered: the API's request parsing
//! ([`api_request`]) and the API function's API Gateway event ([`api_gateway_event`]),
//! the six state-machine steps' payloads ([`step_payload`]) and handshake-watcher's
//! EventBridge events ([`watcher_event`]). hardening-scan reads no field of its event,
//! only the invocation's deadline, so it has no parser to fuzz.

use std::sync::OnceLock;

use api::http::{HeaderValue, Method};
use api::{Api, ApiConfig, ApiRequest, ApiResponse, Identity};
use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use functions_runtime::{WatcherEvent, parse_watcher_event};
use migration::StepError;
use migration::status::ALL_STATUSES;
use migration::steps::{classify_failure, parse_cause};
use migration::workflow::{Step, StepCall, parse_step_payload};
use migration_sim::ManualClock;
use migration_sim::fixtures::{self, Fixture};
use serde_json::{Value, json};

/// The names of the targets, as `fuzz/Cargo.toml` names its binaries.
pub const TARGETS: [&str; 4] = ["api_request", "api_gateway_event", "step_payload", "watcher_event"];

/// Runs the check of `target` on `data`.
pub fn check(target: &str, data: &[u8]) {
    match target {
        "api_request" => api_request(data),
        "api_gateway_event" => api_gateway_event(data),
        "step_payload" => step_payload(data),
        "watcher_event" => watcher_event(data),
        other => panic!("no fuzz target named {other}"),
    }
}

/// `api::parse` on any request: never panics, and refuses only with a 4xx. The input is
/// split on 0xFF bytes into identity selector, method, path, query, Idempotency-Key,
/// content type and body.
pub fn api_request(data: &[u8]) {
    let mut parts = data.splitn(7, |b| *b == 0xFF);
    let mut next = || parts.next().unwrap_or_default();
    let identity = match next().first().copied().unwrap_or(0) % 4 {
        0 => Identity::Customer(fixtures::admin()),
        1 => Identity::operator("arn:aws:iam::999999999999:role/Ops"),
        2 => Identity::Anonymous,
        _ => Identity::Malformed("fuzz".into()),
    };
    let method = Method::from_bytes(next()).unwrap_or(Method::GET);
    let path = String::from_utf8_lossy(next()).into_owned();
    let query = String::from_utf8_lossy(next()).into_owned();
    let mut req = ApiRequest::new(method, &path, identity, "fuzz").with_query(&query);
    if let Ok(key) = HeaderValue::from_bytes(next()) {
        req.headers.insert("idempotency-key", key);
    }
    if let Ok(content_type) = HeaderValue::from_bytes(next()) {
        req.headers.insert("content-type", content_type);
    }
    req.body = next().to_vec();
    if let Err(problem) = api::parse(&req) {
        assert!(problem.status.is_client_error(), "parse refused with {}", problem.status);
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a current-thread runtime"))
}

/// The API function end to end on any event it could be invoked with: the bytes are
/// deserialized as the Lambda runtime does, converted by `api_function`, and answered by
/// the router over a fresh seeded in-memory world. It never panics and never answers 5xx:
/// whatever the event, the fault is the caller's.
pub fn api_gateway_event(data: &[u8]) {
    let Some(answer) = answer_http_api_event(data) else { return };
    assert!(!answer.status.is_server_error(), "answered {}: {}", answer.status, String::from_utf8_lossy(&answer.body));
    let response = api_function::to_lambda_response(answer.clone());
    assert_eq!(response.status_code, i64::from(answer.status.as_u16()), "the HTTP API gets the router's status");
}

/// The API function's answer to `data`, when it is an HTTP API event at all.
pub fn answer_http_api_event(data: &[u8]) -> Option<ApiResponse> {
    let event = serde_json::from_slice::<ApiGatewayV2httpRequest>(data).ok()?;
    Some(match api_function::to_api_request(event, "fuzz-invocation") {
        Ok(request) => runtime().block_on(async {
            let start = chrono::DateTime::parse_from_rfc3339("2026-03-02T09:00:00Z").expect("a valid instant").to_utc();
            let (fixture, _) = Fixture::<ManualClock>::with_recorder(start).await;
            Api::new(fixture.ports, ApiConfig::default()).handle(request).await
        }),
        Err(refusal) => *refusal,
    })
}

/// What the state machine would send to reproduce `call`.
fn payload_of(call: &StepCall) -> Value {
    match call {
        StepCall::Validate(id)
        | StepCall::SnapshotUsage(id)
        | StepCall::Invite(id)
        | StepCall::CheckSupport(id)
        | StepCall::ScheduleHardening(id)
        | StepCall::ConfirmTransfer(id) => {
            json!({ "migration_id": id })
        }
        StepCall::WaitForHandshake { migration_id, task_token } => json!({ "migration_id": migration_id, "task_token": task_token }),
        StepCall::RecordFailure { migration_id, error, cause } => json!({ "migration_id": migration_id, "error": error, "cause": cause }),
    }
}

/// Every step's payload parsing on any JSON: refusals are `BadInput`, an accepted payload
/// round-trips, and a caught error's cause and name always map to a status the record
/// can reach.
pub fn step_payload(data: &[u8]) {
    let Ok(payload) = serde_json::from_slice::<Value>(data) else { return };
    for step in Step::ALL {
        match parse_step_payload(step, payload.clone()) {
            Err(StepError::BadInput(_)) => {}
            Err(other) => panic!("{step:?} refused its payload with {other:?} instead of BadInput"),
            Ok(call) => {
                let again = parse_step_payload(step, payload_of(&call)).expect("a parsed payload parses again");
                assert_eq!(again, call, "{step:?} payload does not round-trip");
                if let StepCall::RecordFailure { error, cause, .. } = &call {
                    let (message, _) = parse_cause(cause);
                    assert!(message.len() <= cause.len(), "the cause's message cannot be longer than the cause");
                    for current in ALL_STATUSES.into_iter().filter(|s| !s.is_terminal()) {
                        let (status, _, _) = classify_failure(error, current);
                        assert!(status.is_terminal() && current.can_become(status), "{error} from {current:?} gives {status:?}");
                    }
                }
            }
        }
    }
}

/// handshake-watcher's event parsing on any JSON: never panics; an account it reports
/// joined is one the event names; an ambiguous event names at least two.
pub fn watcher_event(data: &[u8]) {
    let Ok(event) = serde_json::from_slice::<Value>(data) else { return };
    match parse_watcher_event(&event) {
        Ok(WatcherEvent::AccountJoined { account_id }) => {
            assert!(event.to_string().contains(&account_id.to_string()), "{account_id} is not in the event");
        }
        Ok(WatcherEvent::Scheduled) => {}
        Ok(WatcherEvent::ExecutionTimedOut { migration_id }) => {
            assert_eq!(event["detail"]["status"], "TIMED_OUT");
            assert_eq!(event["detail"]["name"], migration_id.to_string(), "the timed-out execution is the one the event names");
        }
        Err(functions_runtime::events::EventError::AmbiguousAccountId(ids)) => assert!(ids.len() >= 2, "{ids:?}"),
        Err(_) => {}
    }
}
