use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use async_trait::async_trait;

use chrono::{DateTime, Utc};
use migration::error::ExecutionError;
use migration::ids::{MigrationId, TaskToken};
use migration::ports::{ExecutionState, ExecutionStatus, Executions, TokenDelivery};

/// What was sent for a task token.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenOutcome {
    Success(serde_json::Value),
    Failure { error: String, cause: String },
}

#[derive(Default)]
struct Log {
    started: HashMap<MigrationId, serde_json::Value>,
    ended: HashMap<MigrationId, ExecutionState>,
    starts: u32,
    stopped: Vec<(MigrationId, String)>,
    tokens: Vec<(TaskToken, TokenOutcome)>,
    resolved: HashSet<String>,
}

/// An executions port that records every call and behaves like Step Functions towards
/// repeated calls: a second start with the same name and input is fine while the execution
/// runs and refused once it [`ended`](Self::end), a token answers once.
#[derive(Default)]
pub struct RecordingExecutions(Mutex<Log>);

impl RecordingExecutions {
    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.0.lock().expect("no panics while holding the lock")
    }

    /// Ends a started execution with `status`, without an error.
    pub fn end(&self, migration: MigrationId, status: ExecutionStatus) {
        self.end_with(migration, status, None, None);
    }

    /// Ends a started execution with `status` and the error and cause a Fail state or a
    /// stop gave it.
    pub fn end_with(&self, migration: MigrationId, status: ExecutionStatus, error: Option<&str>, cause: Option<&str>) {
        let ended = ExecutionState {
            status,
            started_at: SIMULATED_START,
            stopped_at: Some(SIMULATED_START),
            error: error.map(str::to_owned),
            cause: cause.map(str::to_owned),
        };
        self.log().ended.insert(migration, ended);
    }

    pub fn started(&self) -> Vec<MigrationId> {
        self.log().started.keys().copied().collect()
    }

    /// Every StartExecution call, successful or repeated.
    pub fn start_calls(&self) -> u32 {
        self.log().starts
    }

    pub fn stopped(&self) -> Vec<(MigrationId, String)> {
        self.log().stopped.clone()
    }

    /// The outcomes delivered, first delivery per token only.
    pub fn token_outcomes(&self) -> Vec<TokenOutcome> {
        self.log().tokens.iter().map(|(_, o)| o.clone()).collect()
    }

    pub fn outcome_for(&self, token: &TaskToken) -> Option<TokenOutcome> {
        self.log().tokens.iter().find(|(t, _)| t == token).map(|(_, o)| o.clone())
    }

    fn deliver(&self, token: &TaskToken, outcome: TokenOutcome) -> TokenDelivery {
        let mut log = self.log();
        if !log.resolved.insert(token.expose().to_owned()) {
            return TokenDelivery::AlreadyResolved;
        }
        log.tokens.push((token.clone(), outcome));
        TokenDelivery::Delivered
    }
}

#[async_trait]
impl Executions for RecordingExecutions {
    async fn start(&self, migration: MigrationId, input: serde_json::Value) -> Result<(), ExecutionError> {
        let mut log = self.log();
        log.starts += 1;
        if let Some(ended) = log.ended.get(&migration) {
            return Err(ExecutionError::Ended(ended.status.as_str().to_owned()));
        }
        match log.started.get(&migration) {
            Some(existing) if existing != &input => Err(ExecutionError::NameTaken(migration.to_string())),
            Some(_) => Ok(()),
            None => {
                log.started.insert(migration, input);
                Ok(())
            }
        }
    }

    async fn stop(&self, migration: MigrationId, error: &str, _cause: &str) -> Result<(), ExecutionError> {
        self.log().stopped.push((migration, error.to_owned()));
        Ok(())
    }

    async fn send_task_success(&self, token: &TaskToken, output: serde_json::Value) -> Result<TokenDelivery, ExecutionError> {
        Ok(self.deliver(token, TokenOutcome::Success(output)))
    }

    async fn send_task_failure(&self, token: &TaskToken, error: &str, cause: &str) -> Result<TokenDelivery, ExecutionError> {
        Ok(self.deliver(token, TokenOutcome::Failure { error: error.to_owned(), cause: cause.to_owned() }))
    }

    fn execution_arn(&self, migration: MigrationId) -> Option<String> {
        Some(migration::ports::execution_arn(SIMULATED_STATE_MACHINE_ARN, migration))
    }

    async fn describe(&self, migration: MigrationId) -> Result<Option<ExecutionState>, ExecutionError> {
        let log = self.log();
        if let Some(ended) = log.ended.get(&migration) {
            return Ok(Some(ended.clone()));
        }
        Ok(log.started.contains_key(&migration).then_some(ExecutionState {
            status: ExecutionStatus::Running,
            started_at: SIMULATED_START,
            stopped_at: None,
            error: None,
            cause: None,
        }))
    }
}

/// The state machine the recorded executions belong to.
pub const SIMULATED_STATE_MACHINE_ARN: &str = "arn:aws:states:us-east-1:999999999999:stateMachine:cam-migration";

/// The recorder keeps no clock: its executions all start (and end) at this instant.
const SIMULATED_START: DateTime<Utc> = DateTime::<Utc>::UNIX_EPOCH;
