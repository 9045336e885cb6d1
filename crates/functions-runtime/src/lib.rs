//! What every Lambda function of the migration shares. A function's `main.rs` sets up
//! tracing, reads [`Config`] once, builds the AWS ports once and runs one handler of this
//! crate; everything here is testable without Lambda.

pub mod events;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::{Diagnostic, LambdaEvent};
use migration::ports::{Ports, SystemClock};
use migration::settings::ConfigError;
use migration::workflow::{Step, run_step};
use migration::{Settings, StepError, steps};
use serde_json::{Value, json};
use tracing::{Instrument, info, info_span};

pub use events::{WatcherEvent, parse_watcher_event};

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
        })
    }

    /// The AWS adapters behind the ports, clients built once from the environment.
    pub async fn aws_ports(&self) -> Ports {
        let aws = migration_aws::AwsPorts::from_env(&self.table_name, &self.state_machine_arn).await;
        Ports {
            store: Arc::new(aws.store),
            orgs: Arc::new(aws.organizations),
            customer: Arc::new(aws.customer),
            support: Arc::new(aws.support),
            executions: Arc::new(aws.executions),
            clock: Arc::new(SystemClock),
            settings: Arc::new(self.settings.clone()),
        }
    }
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
    match parse_watcher_event(&event.payload).map_err(|e| StepFailure(StepError::BadInput(e.to_string())))? {
        WatcherEvent::AccountJoined { account_id } => {
            let resolved = steps::account_joined(ports, &account_id).await.map_err(StepFailure)?;
            Ok(json!({ "resolved": resolved.map(|m| m.id.to_string()) }))
        }
        WatcherEvent::Scheduled => {
            let started = steps::sweep_unstarted(ports, SWEEP_LIMIT).await.map_err(StepFailure)?;
            let swept = steps::sweep_handshakes(ports, SWEEP_LIMIT).await.map_err(StepFailure)?;
            info!(
                started = started.started,
                examined = swept.examined,
                resolved = swept.resolved,
                failed = swept.failed + started.failed,
                "sweep done"
            );
            Ok(json!({
                "started": started.started,
                "examined": swept.examined,
                "resolved": swept.resolved,
                "failed": swept.failed + started.failed,
            }))
        }
    }
}

/// Time kept in reserve at the end of a scan run, so the last job's writes finish.
pub const SCAN_RESERVE: Duration = Duration::from_secs(20);

/// hardening-scan: as many due jobs as the remaining invocation time allows.
pub async fn scan_handler(ports: &Ports, event: LambdaEvent<Value>) -> Result<Value, StepFailure> {
    let deadline = UNIX_EPOCH + Duration::from_millis(event.context.deadline);
    let keep_going = move || deadline.duration_since(SystemTime::now()).is_ok_and(|left| left > SCAN_RESERVE);
    let report = steps::hardening_scan(ports, SWEEP_LIMIT, keep_going).await.map_err(StepFailure)?;
    info!(?report, "scan done");
    Ok(json!({
        "examined": report.examined,
        "completed": report.completed,
        "not_ready": report.not_ready,
        "skipped": report.skipped,
        "failed": report.failed,
        "deferred": report.deferred,
    }))
}
