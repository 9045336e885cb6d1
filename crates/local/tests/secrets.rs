//! No log line and no API response carries a task token, and the ExternalId appears only in
//! the onboarding response. Logs are captured as JSON (as the functions write them) at TRACE
//! from every crate while two migrations run through the API and the real state machine on
//! the executor: one accepted and hardened, one declined.

use std::io::Write;
use std::sync::{Arc, Mutex};

use api::http::Method;
use chrono::{DateTime, Utc};
use local::stack::{ExecutorClock, LocalExecutions, build_executor};
use migration::ports::{Clock, MigrationStore, Ports};
use migration::record::HandshakeState;
use migration::request::AccessLevel;
use migration::rules::Approval;
use migration::{AwsAccountId, MigrationId, steps};
use migration_sim::fixtures;
use migration_sim::{MemoryStore, RoleTrust, SimAws, SimSupportPlan};
use serde_json::Value;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-02T09:00:00Z").unwrap().with_timezone(&Utc)
}

struct World {
    api: api::Api,
    ports: Ports,
    sim: SimAws,
    store: Arc<MemoryStore>,
    clock: asl::VirtualClock,
    executor: asl::Executor,
    responses: Vec<(String, String)>,
    tokens: Vec<String>,
}

impl World {
    async fn call(&mut self, method: Method, path: &str, body: Option<Value>) -> Value {
        let mut request = api::ApiRequest::new(method.clone(), path, api::Identity::Customer(fixtures::admin()), "req-secrets");
        if let Some(body) = body {
            request = request.with_json(&body);
        }
        let response = self.api.handle(request).await;
        assert!(response.status.is_success(), "{method} {path}: {} {}", response.status, response.json());
        let text = String::from_utf8(response.body.clone()).unwrap();
        let headers = format!("{:?}", response.headers);
        self.responses.push((format!("{method} {path}"), format!("{headers}\n{text}")));
        serde_json::from_str(&text).unwrap()
    }

    fn remember_pending_tokens(&mut self) {
        for p in self.executor.pending_tasks() {
            if !self.tokens.contains(&p.token) {
                self.tokens.push(p.token);
            }
        }
    }

    /// Runs the execution until it ends, acting as the customer and the scheduled functions.
    async fn drive(&mut self, id: MigrationId, accept: bool) {
        let execution = self.executor.execution(&id.to_string()).expect("started");
        let path = format!("/migrations/{id}");
        loop {
            let progress = execution.run_until_blocked().await;
            self.remember_pending_tokens();
            self.call(Method::GET, &path, None).await;
            self.call(Method::GET, "/migrations", None).await;
            match progress {
                asl::Progress::Finished(_) => break,
                asl::Progress::Sleeping { until } => self.clock.advance((until - self.clock.now()).to_std().unwrap_or_default()),
                asl::Progress::AwaitingToken(_) => {
                    self.clock.advance(std::time::Duration::from_secs(3600));
                    let record = self.store.get(id).await.unwrap().unwrap();
                    if let Some(h) = record.handshake.filter(|h| h.state == HandshakeState::Open) {
                        if accept {
                            self.sim.accept(&h.id).unwrap();
                            steps::account_joined(&self.ports, &record.aws_account_id).await.unwrap();
                        } else {
                            self.sim.decline(&h.id).unwrap();
                        }
                    }
                    steps::sweep_handshakes(&self.ports, 100).await.unwrap();
                }
            }
        }
        self.clock.advance(std::time::Duration::from_secs(15 * 60));
        steps::hardening_scan(&self.ports, 100, || true).await.unwrap();
        self.call(Method::GET, &path, None).await;
    }
}

/// Every task token in an execution's history (the `$$.Task.Token` the definition passes).
fn tokens_in(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "task_token"
                    && let Some(t) = v.as_str()
                {
                    out.push(t.to_owned());
                }
                tokens_in(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| tokens_in(v, out)),
        Value::String(s) if s.starts_with('{') => {
            if let Ok(inner) = serde_json::from_str::<Value>(s) {
                tokens_in(&inner, out);
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn no_log_line_or_response_carries_a_task_token_and_the_external_id_only_onboarding() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_current_span(true)
        .with_span_list(true)
        .with_writer(move || writer.clone())
        .init();

    let clock = asl::VirtualClock::new(start());
    let domain_clock: Arc<dyn Clock> = Arc::new(ExecutorClock(asl::Clock::Virtual(clock.clone())));
    let store = Arc::new(MemoryStore::new());
    let sim = SimAws::new(fixtures::PARTNER.parse().unwrap(), domain_clock.clone());
    fixtures::seed_store(store.as_ref(), start()).await.unwrap();
    fixtures::seed_customer(&sim, SimSupportPlan::Basic);
    sim.upgrade_support_after_checks(&fixtures::account(), 2, SimSupportPlan::Business);
    // A second customer, who declines.
    let other: AwsAccountId = "000222333444".parse().unwrap();
    let other_role = fixtures::role(AccessLevel::Optimized).to_string().replace(fixtures::ACCOUNT, other.as_str());
    sim.add_standalone_customer(
        &other_role.parse().unwrap(),
        RoleTrust::ExternalId(fixtures::EXTERNAL_ID.parse().unwrap()),
        SimSupportPlan::Basic,
    );
    store.put_approval(&Approval { account_id: other.clone(), ..fixtures::approval(start()) }).await.unwrap();

    let executions = Arc::new(LocalExecutions::default());
    let ports = sim.ports(store.clone(), executions.clone(), domain_clock, fixtures::settings());
    let executor = build_executor(&ports, &executions, asl::Clock::Virtual(clock.clone())).unwrap();
    let api = api::Api::new(ports.clone(), api::ApiConfig::default());
    let mut world = World { api, ports, sim, store, clock, executor, responses: Vec::new(), tokens: Vec::new() };

    let onboarding = world.call(Method::GET, "/onboarding", None).await;
    assert!(onboarding.to_string().contains(fixtures::EXTERNAL_ID), "the onboarding response gives the ExternalId: {onboarding}");

    let full =
        world.call(Method::POST, "/migrations", Some(serde_json::to_value(fixtures::request(AccessLevel::FullHardening)).unwrap())).await;
    let full: MigrationId = full["id"].as_str().unwrap().parse().unwrap();
    world.drive(full, true).await;
    assert_eq!(world.store.get(full).await.unwrap().unwrap().status, migration::Status::Hardened);

    let mut declined_request = fixtures::request(AccessLevel::Optimized);
    declined_request.aws_account_id = other.to_string();
    declined_request.role_arn = other_role;
    let declined = world.call(Method::POST, "/migrations", Some(serde_json::to_value(declined_request).unwrap())).await;
    let declined: MigrationId = declined["id"].as_str().unwrap().parse().unwrap();
    world.drive(declined, false).await;
    assert_eq!(world.store.get(declined).await.unwrap().unwrap().status, migration::Status::InvitationDeclined);

    // Every token the executor issued: the ones seen waiting, and all in the histories.
    let mut tokens = world.tokens.clone();
    for id in [full, declined] {
        let outcome = world.executor.execution(&id.to_string()).unwrap().describe();
        tokens_in(&serde_json::to_value(&outcome.history).unwrap(), &mut tokens);
    }
    tokens.sort();
    tokens.dedup();
    assert!(tokens.len() >= 2, "each migration waited on a token: {tokens:?}");
    assert!(tokens.iter().all(|t| t.len() >= 16), "{tokens:?}");

    let logs = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = logs.lines().collect();
    assert!(lines.len() > 20, "logs were captured: {} lines", lines.len());
    assert!(lines.iter().all(|l| serde_json::from_str::<Value>(l).is_ok()), "every line is JSON");
    assert!(logs.contains("migration requested"), "the capture sees the domain's logs");

    for line in &lines {
        for t in &tokens {
            assert!(!line.contains(t.as_str()), "a log line carries a task token: {line}");
        }
        assert!(!line.contains(fixtures::EXTERNAL_ID), "a log line carries the ExternalId: {line}");
    }
    for (what, body) in &world.responses {
        for t in &tokens {
            assert!(!body.contains(t.as_str()), "{what} answered a task token: {body}");
        }
        if what != "GET /onboarding" {
            assert!(!body.contains(fixtures::EXTERNAL_ID), "{what} answered the ExternalId: {body}");
        }
    }
    println!("{} log lines, {} responses, {} task tokens: none leaked", lines.len(), world.responses.len(), tokens.len());
}
