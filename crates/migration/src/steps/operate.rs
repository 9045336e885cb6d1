//! What operators do through `/admin/migrations`: read any migration with its execution,
//! and record the failure of a migration whose execution ended without recording it.
//! (Their cancel is [`cancel_as_operator`](super::cancel_as_operator).)

use tracing::{info, instrument};

use crate::error::{ExecutionError, StepError};
use crate::ids::MigrationId;
use crate::ports::{ExecutionState, ExecutionStatus, Ports};
use crate::record::{Actor, HistoryEvent, Migration};
use crate::steps::load;
use crate::steps::record_failure::record_failure_by;

/// A migration as an operator sees it.
#[derive(Debug, Clone)]
pub struct Inspection {
    pub record: Migration,
    pub history: Vec<HistoryEvent>,
    pub execution_arn: Option<String>,
    /// `None` when no execution was started (a `REQUESTED` record the watcher has not
    /// started yet, or one canceled before it was).
    pub execution: Option<ExecutionState>,
}

#[instrument(skip(ports), fields(migration_id = %id))]
pub async fn inspect(ports: &Ports, id: MigrationId) -> Result<Inspection, StepError> {
    let record = load(ports, id).await?;
    let history = ports.store.history(id).await?;
    let execution = ports.executions.describe(id).await?;
    Ok(Inspection { record, history, execution_arn: ports.executions.execution_arn(id), execution })
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RecordEndedError {
    #[error("migration not found")]
    NotFound,
    /// The execution still runs (or will run again): it records its own outcome.
    #[error("the execution is {}; it records its own outcome", .0.as_str())]
    StillRunning(ExecutionStatus),
    /// No execution was started: there is no failure to record.
    #[error("no execution was started for this migration")]
    NoExecution,
    /// The execution succeeded: the record goes on (the hardening scan finishes it).
    #[error("the execution succeeded; there is no failure to record")]
    Succeeded,
    #[error(transparent)]
    Step(StepError),
}

impl From<ExecutionError> for RecordEndedError {
    fn from(e: ExecutionError) -> Self {
        Self::Step(e.into())
    }
}

/// Records what the migration's ended execution says (its error and cause, as the Fail
/// state left them) the way the record-failure step would have: the terminal status, the
/// remediation, the account released. A record already terminal is returned as it is, so
/// repeating the call is harmless.
#[instrument(skip(ports, operator), fields(migration_id = %id))]
pub async fn record_ended_execution(ports: &Ports, operator: &str, id: MigrationId) -> Result<Migration, RecordEndedError> {
    let record = match load(ports, id).await {
        Ok(r) => r,
        Err(StepError::NotFound(_)) => return Err(RecordEndedError::NotFound),
        Err(e) => return Err(RecordEndedError::Step(e)),
    };
    if record.status.is_terminal() {
        return Ok(record);
    }
    let execution = ports.executions.describe(id).await?.ok_or(RecordEndedError::NoExecution)?;
    let (error, cause) = match execution.status {
        s if !s.has_ended() => return Err(RecordEndedError::StillRunning(s)),
        ExecutionStatus::Succeeded => return Err(RecordEndedError::Succeeded),
        // FailedUnrecorded keeps the caught error and cause; a timeout is the state
        // machine's own; a stop names what the stopper gave, if anything.
        ExecutionStatus::TimedOut => (
            execution.error.unwrap_or_else(|| crate::error::names::STATES_TIMEOUT.to_owned()),
            execution.cause.unwrap_or_else(|| "the execution reached the state machine's timeout".to_owned()),
        ),
        status => (
            execution.error.unwrap_or_else(|| crate::error::names::FAILED.to_owned()),
            execution.cause.unwrap_or_else(|| format!("the execution ended {} without an error", status.as_str())),
        ),
    };
    let actor = Actor::Operator(operator.to_owned());
    let (output, record) = record_failure_by(ports, actor, id, &error, &cause).await.map_err(RecordEndedError::Step)?;
    info!(status = %output.status, error = %output.error, "an ended execution's failure recorded by an operator");
    Ok(record)
}
