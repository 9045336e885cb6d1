//! Handles on executions: status, snapshots, waiting, token calls, stopping.

use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use crate::clock::Activity;
use crate::error::TokenError;
use crate::executor::inner::ExecutorInner;
use crate::executor::state::{ExecShared, Outcome, PendingTask, Progress, Status, lock};

/// A running or ended execution. Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct ExecutionHandle {
    pub(super) shared: Arc<ExecShared>,
    pub(super) inner: Arc<ExecutorInner>,
}

impl fmt::Debug for ExecutionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExecutionHandle").field("arn", &self.shared.arn).finish()
    }
}

impl ExecutionHandle {
    /// The execution name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The execution ARN.
    pub fn execution_arn(&self) -> &str {
        &self.shared.arn
    }

    /// The current status.
    pub fn status(&self) -> Status {
        lock(&self.shared.state).status
    }

    /// A snapshot (AWS `DescribeExecution` + `GetExecutionHistory`).
    pub fn describe(&self) -> Outcome {
        self.shared.snapshot()
    }

    /// The task waiting for its token, if any.
    pub fn pending_task(&self) -> Option<PendingTask> {
        lock(&self.shared.state).pending.clone()
    }

    /// Waits until the execution ends.
    pub async fn wait(&self) -> Outcome {
        let mut rx = self.shared.participant.subscribe();
        loop {
            if self.status() != Status::Running {
                return self.describe();
            }
            if rx.changed().await.is_err() {
                return self.describe();
            }
        }
    }

    /// Waits until the execution ends or cannot progress by itself: it waits for a task
    /// token or (virtual clock) sleeps while time is frozen.
    pub async fn run_until_blocked(&self) -> Progress {
        let mut rx = self.shared.participant.subscribe();
        loop {
            if self.status() != Status::Running {
                return Progress::Finished(Box::new(self.describe()));
            }
            let activity = *rx.borrow_and_update();
            match activity {
                Activity::AwaitingToken => {
                    if let Some(p) = self.pending_task() {
                        return Progress::AwaitingToken(p);
                    }
                }
                Activity::Sleeping if self.shared.participant.clock().is_virtual() => {
                    if let Some(until) = lock(&self.shared.state).sleeping_until {
                        return Progress::Sleeping { until };
                    }
                }
                _ => {}
            }
            if rx.changed().await.is_err() {
                return Progress::Finished(Box::new(self.describe()));
            }
        }
    }

    /// AWS `SendTaskSuccess` (any token of this executor is accepted).
    pub async fn send_task_success(&self, token: &str, output: Value) -> Result<(), TokenError> {
        self.inner.send_success(token, output)
    }

    /// AWS `SendTaskFailure`.
    pub async fn send_task_failure(&self, token: &str, error: &str, cause: Option<&str>) -> Result<(), TokenError> {
        self.inner.send_failure(token, error, cause)
    }

    /// AWS `SendTaskHeartbeat`.
    pub async fn send_task_heartbeat(&self, token: &str) -> Result<(), TokenError> {
        self.inner.send_heartbeat(token).await
    }

    /// AWS `StopExecution`: the execution ends ABORTED (no-op if it already ended).
    /// Returns the final outcome.
    pub async fn stop(&self, error: Option<&str>, cause: Option<&str>) -> Outcome {
        let tx = lock(&self.shared.stop_tx).take();
        if let Some(tx) = tx {
            self.shared.participant.set(Activity::Busy);
            let _ = tx.send((error.map(str::to_string), cause.map(str::to_string)));
        }
        self.wait().await
    }
}
