//! What every Lambda function of the migration shares. A function's `main.rs` sets up
//! tracing, reads [`Config`] once, builds the AWS ports it needs once ([`Function::needs`],
//! [`Config::ports`]) and runs one handler of this crate; everything here is testable
//! without Lambda.

pub mod events;
pub mod metrics;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::{Diagnostic, LambdaEvent};
use migration::ports::{Ports, SystemClock};
use migration::settings::ConfigError;
use migration::throttle::{DEFAULT_MIN_INTERVAL, RateLimitedOrganizations};
use migration::workflow::{Step, run_step};
use migration::{Settings, StepError, steps};
pub use migration_aws::{Needs, NotBuilt};
use migration_aws::{NotConfigured, Unavailable};
use serde_json::{Value, json};
use tracing::{Instrument, info, info_span};

pub use events::{WatcherEvent, parse_scan_event, parse_watcher_event};

/// The Lambda functions, each with the ports its handler calls: only those get SDK
/// clients, every other port refuses its calls ([`Unavailable`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    /// The function of a state-machine step.
    Step(Step),
    HandshakeWatcher,
    HardeningScan,
    Api,
}

impl Function {
    pub const ALL: [Function; 11] = [
        Function::Step(Step::Validate),
        Function::Step(Step::SnapshotUsage),
        Function::Step(Step::Invite),
        Function::Step(Step::WaitForHandshake),
        Function::Step(Step::CheckSupport),
        Function::Step(Step::ScheduleHardening),
        Function::Step(Step::RecordFailure),
        Function::Step(Step::ConfirmTransfer),
        Function::HandshakeWatcher,
        Function::HardeningScan,
        Function::Api,
    ];

    /// Its directory under `functions/` (the binary's name).
    pub fn name(self) -> &'static str {
        match self {
            Function::Step(step) => step.function_name(),
            Function::HandshakeWatcher => "handshake-watcher",
            Function::HardeningScan => "hardening-scan",
            Function::Api => "api",
        }
    }

    /// The function that runs a state-machine step.
    pub const fn of_step(step: Step) -> Function {
        Function::Step(step)
    }

    /// The ports its handler calls (crates/migration/src/steps: what each use-case calls).
    pub const fn needs(self) -> Needs {
        let store = Needs { store: true, ..Needs::NOTHING };
        match self {
            // The program rules: the customer's role, their organization, their plan.
            Function::Step(Step::Validate) => Needs { customer_access: true, support: true, ..store },
            // Cost Explorer through the customer's role, and the bucket it is saved to (the
            // migration's kind says whether the account manages an organization).
            Function::Step(Step::SnapshotUsage) => Needs { customer_access: true, usage: true, snapshots: true, ..store },
            // Membership, then the invitation (or the billing-transfer invitation).
            Function::Step(Step::Invite) => Needs { organizations: true, transfers: true, ..store },
            // The handshake's (or the transfer's) state, and the token when it is decided.
            Function::Step(Step::WaitForHandshake) | Function::HandshakeWatcher => {
                Needs { organizations: true, executions: true, transfers: true, ..store }
            }
            // The transfer in force, and its billing group.
            Function::Step(Step::ConfirmTransfer) => Needs { transfers: true, ..store },
            // The plan, through the customer's role.
            Function::Step(Step::CheckSupport) => Needs { customer_access: true, support: true, ..store },
            Function::Step(Step::ScheduleHardening) | Function::Step(Step::RecordFailure) => store,
            // Membership, OUs, SCPs and tags; the customer's role for Full Hardening.
            Function::HardeningScan => Needs { organizations: true, customer_access: true, ..store },
            // Create starts the execution; cancel cancels the invitation and stops it; a
            // billing transfer's end is asked of AWS; the usage snapshot's links are signed.
            Function::Api => Needs { organizations: true, executions: true, transfers: true, snapshot_links: true, ..store },
        }
    }

    /// The cargo features (of this crate, migration-aws's forwarded) its `Cargo.toml`
    /// enables: the SDK of every port it needs; validate's `organizations` reads the
    /// customer's organization through their role, not the partner's port.
    pub const fn features(self) -> &'static [&'static str] {
        match self {
            Function::Step(Step::Validate) => &["organizations", "sts", "support"],
            Function::Step(Step::SnapshotUsage) => &["sts", "usage", "snapshots"],
            Function::Step(Step::Invite) => &["organizations", "transfers"],
            Function::Step(Step::WaitForHandshake) | Function::HandshakeWatcher => &["organizations", "sfn", "transfers"],
            Function::Api => &["organizations", "sfn", "transfers", "snapshot-links"],
            Function::Step(Step::ConfirmTransfer) => &["transfers"],
            Function::Step(Step::CheckSupport) => &["sts", "support"],
            Function::Step(Step::ScheduleHardening) | Function::Step(Step::RecordFailure) => &[],
            Function::HardeningScan => &["organizations", "sts"],
        }
    }
}

/// `ports` with every port `needs` does not name replaced by the one that refuses every
/// call: what [`Config::ports`] builds on AWS, over any adapters (tests: the simulator).
pub fn only(ports: Ports, needs: Needs) -> Ports {
    let refuse = |port| Arc::new(Unavailable(NotConfigured::port(port)));
    Ports {
        store: if needs.store { ports.store } else { refuse("the store") },
        orgs: if needs.organizations { ports.orgs } else { refuse("the Organizations port") },
        customer: if needs.customer_access { ports.customer } else { refuse("the customer-access port") },
        support: if needs.support { ports.support } else { refuse("the support probe") },
        executions: if needs.executions { ports.executions } else { refuse("the executions port") },
        transfers: if needs.transfers { ports.transfers } else { refuse("the billing-transfer port") },
        usage: if needs.usage { ports.usage } else { refuse("the usage-history port") },
        snapshots: if needs.snapshots || needs.snapshot_links { ports.snapshots } else { refuse("the snapshot bucket") },
        ..ports
    }
}

/// JSON logs when the function's logging config says so (`LoggingConfig: LogFormat: JSON`
/// sets `AWS_LAMBDA_LOG_FORMAT`), honouring `AWS_LAMBDA_LOG_LEVEL`.
pub fn init_tracing() {
    lambda_runtime::tracing::init_default_subscriber();
}

/// A function's configuration, read once at cold start.
#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
    pub state_machine_arn: String,
    pub settings: Settings,
    /// How far apart the hardening scan starts its Organizations calls
    /// (`SCAN_ORGANIZATIONS_INTERVAL_MS`, default [`DEFAULT_MIN_INTERVAL`]).
    pub scan_organizations_interval: Duration,
    /// The CloudWatch namespace of the EMF metrics (`METRICS_NAMESPACE`).
    pub metrics_namespace: String,
    /// The usage snapshots' bucket and KMS key (`SNAPSHOT_BUCKET`, `SNAPSHOT_KMS_KEY_ARN`),
    /// given only to the functions that write or sign them.
    pub snapshot_bucket: Option<String>,
    pub snapshot_kms_key: Option<String>,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |name: &'static str| lookup(name).filter(|v| !v.trim().is_empty()).ok_or(ConfigError::Missing(name));
        Ok(Self {
            table_name: required("TABLE_NAME")?,
            state_machine_arn: required("STATE_MACHINE_ARN")?,
            settings: Settings::from_env(&lookup)?,
            scan_organizations_interval: scan_interval(&lookup)?,
            metrics_namespace: lookup("METRICS_NAMESPACE")
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| metrics::DEFAULT_NAMESPACE.to_owned()),
            snapshot_bucket: lookup("SNAPSHOT_BUCKET").filter(|v| !v.trim().is_empty()),
            snapshot_kms_key: lookup("SNAPSHOT_KMS_KEY_ARN").filter(|v| !v.trim().is_empty()),
        })
    }

    /// The AWS adapters behind the ports `function` needs, their clients built once from
    /// the environment; its other ports refuse every call. Fails at cold start when this
    /// build does not link a port the function needs (its cargo features).
    /// Installs the function's metrics recorder too, and counts what its store commits
    /// ([`metrics::MeteredStore`]).
    pub async fn ports(&self, function: Function) -> Result<Ports, NotBuilt> {
        metrics::init(&self.metrics_namespace, function.name());
        let aws = migration_aws::AwsPorts::from_env(function.needs(), &self.resources()).await?;
        Ok(metered(aws.into_ports(Arc::new(SystemClock), self.settings.clone())))
    }

    /// The stack's resources the adapters address.
    pub fn resources(&self) -> migration_aws::Resources {
        let resources = migration_aws::Resources::new(&self.table_name, &self.state_machine_arn);
        match &self.snapshot_bucket {
            Some(bucket) => resources.with_snapshot_bucket(bucket, self.snapshot_kms_key.as_deref()),
            None => resources,
        }
    }

    /// The hardening scan's ports: its AWS adapters, with Organizations calls paced.
    pub async fn scan_ports(&self) -> Result<Ports, NotBuilt> {
        Ok(rate_limited_organizations(self.ports(Function::HardeningScan).await?, self.scan_organizations_interval))
    }
}

const SCAN_INTERVAL_VAR: &str = "SCAN_ORGANIZATIONS_INTERVAL_MS";

fn scan_interval(lookup: impl Fn(&str) -> Option<String>) -> Result<Duration, ConfigError> {
    let Some(value) = lookup(SCAN_INTERVAL_VAR).filter(|v| !v.trim().is_empty()) else { return Ok(DEFAULT_MIN_INTERVAL) };
    value
        .trim()
        .parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| ConfigError::Invalid { name: SCAN_INTERVAL_VAR, reason: format!("`{value}` is not a whole number of milliseconds") })
}

/// The same ports with the Organizations port paced `interval` apart. Only the scan uses
/// it: it is the one bulk caller of the management account's Organizations quota.
/// `ports` with the store behind [`metrics::MeteredStore`].
pub fn metered(ports: Ports) -> Ports {
    Ports { store: Arc::new(metrics::MeteredStore::new(ports.store.clone())), ..ports }
}

pub fn rate_limited_organizations(ports: Ports, interval: Duration) -> Ports {
    Ports { orgs: Arc::new(RateLimitedOrganizations::new(ports.orgs.clone(), interval)), ..ports }
}

/// A step's error as Lambda reports it: `error_type` is exactly the name the state
/// machine's `ErrorEquals` matches; the message is the JSON cause record-failure reads.
#[derive(Debug)]
pub struct StepFailure(pub StepError);

impl From<StepFailure> for Diagnostic {
    fn from(f: StepFailure) -> Self {
        Diagnostic { error_type: f.0.name().to_owned(), error_message: f.0.cause() }
    }
}

/// The migration id of a step's payload, for the log span (never the whole payload: the
/// wait step's carries a task token).
fn migration_id_of(payload: &Value) -> String {
    payload.get("migration_id").and_then(Value::as_str).unwrap_or("unknown").chars().take(26).collect()
}

/// The handler of a state-machine step.
pub async fn step_handler(ports: &Ports, step: Step, event: LambdaEvent<Value>) -> Result<Value, StepFailure> {
    let span = info_span!("step", function = step.function_name(), migration_id = %migration_id_of(&event.payload));
    async move {
        let result = run_step(ports, step, event.payload).await;
        match &result {
            Ok(_) => info!("step succeeded"),
            Err(e) => info!(error = e.name(), "step failed"),
        }
        metrics::flush();
        result.map_err(StepFailure)
    }
    .instrument(span)
    .await
}

/// How many records one scheduled run looks at.
pub const SWEEP_LIMIT: u32 = 100;

/// handshake-watcher: the AccountJoinedOrganization event resolves one migration; the
/// schedule starts unstarted executions and sweeps due invitations.
pub async fn watcher_handler(ports: &Ports, event: LambdaEvent<Value>) -> Result<Value, StepFailure> {
    let result = watch(ports, event).await;
    metrics::flush();
    result
}

async fn watch(ports: &Ports, event: LambdaEvent<Value>) -> Result<Value, StepFailure> {
    match parse_watcher_event(&event.payload).map_err(|e| StepFailure(StepError::BadInput(e.to_string())))? {
        WatcherEvent::AccountJoined { account_id } => {
            let resolved = steps::account_joined(ports, &account_id).await.map_err(StepFailure)?;
            Ok(json!({ "resolved": resolved.map(|m| m.id.to_string()) }))
        }
        WatcherEvent::ExecutionTimedOut { migration_id } => {
            let recorded = steps::execution_timed_out(ports, migration_id).await.map_err(StepFailure)?;
            Ok(json!({ "recorded": recorded }))
        }
        WatcherEvent::Scheduled => {
            let run = steps::watcher_run(ports, SWEEP_LIMIT).await;
            let started = run.unstarted.as_ref().ok().copied().unwrap_or_default();
            let swept = run.handshakes.as_ref().ok().copied().unwrap_or_default();
            info!(
                started = started.started,
                ended = started.ended,
                examined = swept.examined,
                resolved = swept.resolved,
                failed = swept.failed + started.failed,
                "sweep done"
            );
            metrics::record_sweep_failures(swept.failed + started.failed);
            // Both parts ran; a failure of either still fails the invocation (its alarm).
            run.unstarted.map_err(StepFailure)?;
            run.handshakes.map_err(StepFailure)?;
            Ok(json!({
                "started": started.started,
                "ended": started.ended,
                "examined": swept.examined,
                "resolved": swept.resolved,
                "failed": swept.failed + started.failed,
            }))
        }
    }
}

/// Time kept in reserve at the end of a scan run, so the last job's writes finish.
pub const SCAN_RESERVE: Duration = Duration::from_secs(20);

/// hardening-scan: on its schedule's event, as many due jobs as the remaining invocation
/// time allows (any other event is refused, `Migration.BadInput`). A run that could not show
/// a baseline OU to carry its SCPs fails (`Migration.Internal`, naming the OU and why) after
/// the jobs it could do. `ports` are
/// [`Config::scan_ports`], whose Organizations calls are paced; the pauses count against
/// the remaining time like any other work.
pub async fn scan_handler(ports: &Ports, event: LambdaEvent<Value>) -> Result<Value, StepFailure> {
    let result = scan(ports, event).await;
    metrics::flush();
    result
}

async fn scan(ports: &Ports, event: LambdaEvent<Value>) -> Result<Value, StepFailure> {
    parse_scan_event(&event.payload).map_err(|e| StepFailure(StepError::BadInput(e.to_string())))?;
    let deadline = UNIX_EPOCH + Duration::from_millis(event.context.deadline);
    let keep_going = move || deadline.duration_since(SystemTime::now()).is_ok_and(|left| left > SCAN_RESERVE);
    let report = steps::hardening_scan(ports, SWEEP_LIMIT, keep_going).await.map_err(StepFailure)?;
    info!(?report, "scan done");
    metrics::record_scan_failures(report.failed);
    if !report.unverified_ous.is_empty() {
        // No account was moved into these OUs; the run reports itself failed so the
        // function's Errors alarm fires at once, and the next run checks them again.
        return Err(StepFailure(StepError::Internal(format!(
            "{} hardening jobs wait for a baseline OU: {}",
            report.blocked,
            report.unverified_ous.join("; ")
        ))));
    }
    Ok(json!({
        "examined": report.examined,
        "completed": report.completed,
        "not_ready": report.not_ready,
        "blocked": report.blocked,
        "skipped": report.skipped,
        "failed": report.failed,
        "deferred": report.deferred,
    }))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(extra: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let mut map: HashMap<String, String> = [
            ("TABLE_NAME", "cam-migrations"),
            ("STATE_MACHINE_ARN", "arn:aws:states:us-east-1:123456789012:stateMachine:cam-migration"),
            ("PARTNER_ACCOUNT_ID", "999999999999"),
            ("ONBOARDING_OU_ID", "ou-ab12-onboard"),
            ("GUARDRAIL_SCP_ID", "p-guard"),
            ("HARDENED_OU_ID", "ou-ab12-hardened"),
            ("HARDENING_SCP_IDS", "p-one,p-two"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        map.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        move |k| map.get(k).cloned()
    }

    #[test]
    fn scan_interval_defaults_to_one_call_a_second_and_can_be_set() {
        assert_eq!(Config::from_lookup(env(&[])).unwrap().scan_organizations_interval, Duration::from_secs(1));
        let set = Config::from_lookup(env(&[(SCAN_INTERVAL_VAR, "250")])).unwrap();
        assert_eq!(set.scan_organizations_interval, Duration::from_millis(250));
        let err = Config::from_lookup(env(&[(SCAN_INTERVAL_VAR, "fast")])).unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { name: SCAN_INTERVAL_VAR, .. }), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn only_the_organizations_port_is_paced() {
        use migration_sim::ManualClock;
        use migration_sim::fixtures::{Fixture, account};

        let start = chrono::DateTime::parse_from_rfc3339("2026-03-02T09:00:00Z").unwrap().with_timezone(&chrono::Utc);
        let (f, _) = Fixture::<ManualClock>::with_recorder(start).await;
        let ports = rate_limited_organizations(f.ports.clone(), Duration::from_secs(1));
        assert!(Arc::ptr_eq(&ports.store, &f.ports.store) && Arc::ptr_eq(&ports.executions, &f.ports.executions));

        let begin = tokio::time::Instant::now();
        for _ in 0..3 {
            ports.orgs.membership(&account()).await.unwrap();
        }
        assert_eq!(tokio::time::Instant::now() - begin, Duration::from_secs(2), "three calls, two pauses");
        assert_eq!(f.sim.calls("DescribeAccount"), 3, "every call reaches the port");
    }
}
