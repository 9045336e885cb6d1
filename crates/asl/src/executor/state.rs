//! The shared state of one execution: its status, its history buffer, the task waiting for
//! its token, and the snapshots ([`Outcome`]) taken of it. Every part of the executor reads
//! and writes it through [`ExecShared`]'s mutex.

use std::fmt;
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use tokio::sync::oneshot;

use crate::clock::Participant;
use crate::history::HistoryEvent;

/// Largest payload (input, output, result) in bytes: 256 KiB, as in AWS.
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;

/// Execution status, as AWS `DescribeExecution` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// Still running.
    Running,
    /// Ended in a Succeed state or an `End` state.
    Succeeded,
    /// Ended with an error (Fail state, uncaught error).
    Failed,
    /// The state machine's `TimeoutSeconds` elapsed.
    TimedOut,
    /// Stopped by [`ExecutionHandle::stop`].
    ///
    /// [`ExecutionHandle::stop`]: crate::ExecutionHandle::stop
    Aborted,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Running => "RUNNING",
            Status::Succeeded => "SUCCEEDED",
            Status::Failed => "FAILED",
            Status::TimedOut => "TIMED_OUT",
            Status::Aborted => "ABORTED",
        })
    }
}

/// A snapshot of an execution: status, output or error, history, billed transitions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    /// Execution name.
    pub name: String,
    /// Execution ARN (`$$.Execution.Id`).
    pub execution_arn: String,
    /// Current status.
    pub status: Status,
    /// The execution input.
    pub input: Value,
    /// The output, when SUCCEEDED.
    pub output: Option<Value>,
    /// The error name, when FAILED / TIMED_OUT / ABORTED (if given).
    pub error: Option<String>,
    /// The cause, when FAILED / TIMED_OUT / ABORTED (if given).
    pub cause: Option<String>,
    /// Start time (execution clock).
    pub start_date: DateTime<Utc>,
    /// Stop time, once ended.
    pub stop_date: Option<DateTime<Utc>>,
    /// Every event so far.
    pub history: Vec<HistoryEvent>,
    /// State transitions as AWS bills them: each state entered, plus each retry.
    pub transitions: u64,
}

impl Outcome {
    /// Event types in order, handy for assertions.
    pub fn event_types(&self) -> Vec<&str> {
        self.history.iter().map(|e| e.event_type.as_str()).collect()
    }

    /// Names of the states entered, in order.
    pub fn states_entered(&self) -> Vec<&str> {
        self.history.iter().filter(|e| e.event_type.ends_with("StateEntered")).filter_map(|e| e.detail_str("name")).collect()
    }
}

/// A task waiting for its token (`.waitForTaskToken`).
#[derive(Debug, Clone, PartialEq)]
pub struct PendingTask {
    /// The token to pass to `send_task_success` / `send_task_failure` / `send_task_heartbeat`.
    pub token: String,
    /// The Task state's name.
    pub state_name: String,
    /// The Task state's resource.
    pub resource: String,
}

/// Where [`ExecutionHandle::run_until_blocked`] stopped.
///
/// [`ExecutionHandle::run_until_blocked`]: crate::ExecutionHandle::run_until_blocked
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// The execution ended.
    Finished(Box<Outcome>),
    /// The execution waits for a task token.
    AwaitingToken(PendingTask),
    /// (Virtual clock only) the execution sleeps but time is frozen because another
    /// execution of the same clock waits for a token or runs a handler.
    Sleeping {
        /// When the sleep ends.
        until: DateTime<Utc>,
    },
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `(error, cause)` of a StopExecution.
pub(super) type StopRequest = (Option<String>, Option<String>);

pub(super) struct ExecState {
    pub(super) status: Status,
    pub(super) output: Option<Value>,
    pub(super) error: Option<String>,
    pub(super) cause: Option<String>,
    pub(super) stop_date: Option<DateTime<Utc>>,
    pub(super) history: Vec<HistoryEvent>,
    pub(super) transitions: u64,
    pub(super) pending: Option<PendingTask>,
    pub(super) sleeping_until: Option<DateTime<Utc>>,
}

pub(super) struct ExecShared {
    pub(super) name: String,
    pub(super) arn: String,
    pub(super) input: Value,
    pub(super) start_date: DateTime<Utc>,
    pub(super) participant: Participant,
    pub(super) state: Mutex<ExecState>,
    pub(super) stop_tx: Mutex<Option<oneshot::Sender<StopRequest>>>,
}

impl ExecShared {
    pub(super) fn now(&self) -> DateTime<Utc> {
        self.participant.clock().now()
    }

    pub(super) fn push(&self, event_type: &str, details_key: &str, details: Value) {
        let now = self.now();
        let mut st = lock(&self.state);
        let id = st.history.len() as u64 + 1;
        let mut map = Map::new();
        map.insert(details_key.to_string(), details);
        st.history.push(HistoryEvent { id, previous_event_id: id - 1, timestamp: now, event_type: event_type.to_string(), details: map });
    }

    pub(super) fn transition(&self) {
        lock(&self.state).transitions += 1;
    }

    pub(super) fn snapshot(&self) -> Outcome {
        let st = lock(&self.state);
        Outcome {
            name: self.name.clone(),
            execution_arn: self.arn.clone(),
            status: st.status,
            input: self.input.clone(),
            output: st.output.clone(),
            error: st.error.clone(),
            cause: st.cause.clone(),
            start_date: self.start_date,
            stop_date: st.stop_date,
            history: st.history.clone(),
            transitions: st.transitions,
        }
    }
}
