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
use api::{Api, ApiConfig, ApiRequest, Identity};
use functions_runtime::{WatcherEvent, parse_watcher_event};
use lambda_http::request::LambdaRequest;
use migration::StepError;
use migration::memory::ManualClock;
use migration::memory::fixtures::{self, Fixture};
use migration::status::ALL_STATUSES;
use migration::steps::{classify_failure, parse_cause};
use migration::workflow::{Step, StepCall, parse_step_payload};
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

/// The API function end to end on any API Gateway event it could be invoked with: the
/// bytes are deserialized as lambda_http does, converted by `api_function`, and answered
/// by the router over a fresh seeded in-memory world. It never panics and never answers
/// 5xx: whatever the event, the fault is the caller's.
pub fn api_gateway_event(data: &[u8]) {
    let Ok(event) = serde_json::from_slice::<LambdaRequest>(data) else { return };
    if !http_api_could_send(&event) {
        return;
    }
    let request = api_function::to_api_request(lambda_http::Request::from(event));
    let answer = runtime().block_on(async {
        let start = chrono::DateTime::parse_from_rfc3339("2026-03-02T09:00:00Z").expect("a valid instant").to_utc();
        let (fixture, _) = Fixture::<ManualClock>::with_recorder(start).await;
        Api::new(fixture.ports, ApiConfig::default()).handle(request).await
    });
    assert!(!answer.status.is_server_error(), "answered {}: {}", answer.status, String::from_utf8_lossy(&answer.body));
}

/// Whether the HTTP API (payload 2.0, the function's only invoker) could send `event`.
/// lambda_http's conversion panics on some events no HTTP API sends, so the check keeps
/// to what API Gateway guarantees; each guarantee below was found by the fuzzer as a panic
/// in lambda_http, and `fuzz/regressions/api_gateway_event/` keeps the inputs (see
/// tests/replay.rs):
/// - it base64-encodes binary bodies itself, so `isBase64Encoded: true` comes with valid
///   base64 (`aws_lambda_events`' `Body::from_maybe_encoded` expects it);
/// - it routes by `Host`, so `Host` (or else `requestContext.domainName`) is the API's
///   domain name, and it sets `X-Forwarded-Proto` to `https` (lambda_http builds the URI
///   from them with `Url::parse(..).unwrap()`);
/// - `rawPath` is the request's path, so it starts with `/`.
pub fn http_api_could_send(event: &LambdaRequest) -> bool {
    use base64::Engine;
    let LambdaRequest::ApiGatewayV2(req) = event else { return false };
    let header = |name: &str| req.headers.get(name).and_then(|v| v.to_str().ok());
    let body_decodes =
        !req.is_base64_encoded || req.body.as_deref().is_none_or(|b| base64::engine::general_purpose::STANDARD.decode(b).is_ok());
    let host = header("host").or(req.request_context.domain_name.as_deref());
    let host_is_a_domain = host.is_none_or(|h| url::Host::parse(h).is_ok());
    let proto_is_https = header("x-forwarded-proto").is_none_or(|p| p == "https");
    let path_is_absolute = req.raw_path.as_deref().is_none_or(|p| p.is_empty() || p.starts_with('/'));
    body_decodes && host_is_a_domain && proto_is_https && path_is_absolute
}

/// What the state machine would send to reproduce `call`.
fn payload_of(call: &StepCall) -> Value {
    match call {
        StepCall::Validate(id) | StepCall::Invite(id) | StepCall::CheckSupport(id) | StepCall::ScheduleHardening(id) => {
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
        Err(functions_runtime::events::EventError::AmbiguousAccountId(ids)) => assert!(ids.len() >= 2, "{ids:?}"),
        Err(_) => {}
    }
}
