//! The executor: starts executions, runs states, resolves task tokens.
//!
//! Modules, each depending only on those listed before it (and on the registry, which
//! never depends on the executor):
//! - `state`: one execution's shared state (status, history, pending task) and snapshots;
//! - `inner`: what the executor shares (definition, options, executions, open tokens);
//! - `handle`: [`ExecutionHandle`];
//! - `run`: the `Run` context and the data flow of every state;
//! - `wait`: the Wait state and sleeps;
//! - `task`: Task states, handler dispatch, tokens, timeouts, Retry and Catch;
//! - `driver`: the state-running loop and the execution's end;
//! - this module: [`Executor`], which starts executions.

mod driver;
mod handle;
mod inner;
mod run;
mod state;
mod task;
mod wait;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::clock::Clock;
use crate::definition::{Definition, StateKind};
use crate::error::{StartError, TokenError};
use crate::executor::driver::run_execution;
use crate::executor::inner::ExecutorInner;
use crate::executor::state::{ExecShared, ExecState, lock};
use crate::executor::task::static_key;
use crate::registry::TaskRegistry;
use crate::rng::Rng;

pub use crate::executor::handle::ExecutionHandle;
pub use crate::executor::inner::ExecutorOptions;
pub use crate::executor::state::{MAX_PAYLOAD_BYTES, Outcome, PendingTask, Progress, Status};

/// Runs executions of one definition. Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct Executor {
    inner: Arc<ExecutorInner>,
}

impl fmt::Debug for Executor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Executor").field("state_machine_arn", &self.inner.state_machine_arn).finish()
    }
}

impl Executor {
    /// An executor with default [`ExecutorOptions`].
    pub fn new(def: Definition, registry: TaskRegistry, clock: impl Into<Clock>) -> Self {
        Self::with_options(def, registry, clock, ExecutorOptions::default())
    }

    /// An executor with explicit options.
    pub fn with_options(def: Definition, registry: TaskRegistry, clock: impl Into<Clock>, opts: ExecutorOptions) -> Self {
        let state_machine_arn = format!("arn:aws:states:{}:{}:stateMachine:{}", opts.region, opts.account, opts.state_machine_name);
        Executor {
            inner: Arc::new(ExecutorInner {
                rng: Mutex::new(Rng::new(opts.seed)),
                def,
                registry,
                clock: clock.into(),
                opts,
                state_machine_arn,
                executions: Mutex::new(HashMap::new()),
                tokens: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The state machine ARN (`$$.StateMachine.Id`).
    pub fn state_machine_arn(&self) -> &str {
        &self.inner.state_machine_arn
    }

    /// Registry keys that Task states name statically but that have no handler.
    /// (Keys computed at run time, e.g. `FunctionName.$`, cannot be checked.)
    pub fn missing_handlers(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for st in self.inner.def.states.values() {
            if let StateKind::Task(t) = &st.kind
                && let Some(key) = static_key(t)
                && !self.inner.registry.contains(&key)
                && !out.contains(&key)
            {
                out.push(key);
            }
        }
        out.sort();
        out
    }

    /// Starts an execution. As on AWS for a Standard state machine, starting again with the
    /// same name and the same input returns the existing execution while it runs; once it
    /// has ended, or with a different input, it is [`StartError::ExecutionAlreadyExists`].
    pub async fn start(&self, name: &str, input: Value) -> Result<ExecutionHandle, StartError> {
        validate_name(name)?;
        let size = input.to_string().len();
        if size > MAX_PAYLOAD_BYTES {
            return Err(StartError::InvalidExecutionInput(format!("the input has {size} bytes, more than {MAX_PAYLOAD_BYTES}")));
        }
        let inner = &self.inner;
        let mut execs = lock(&inner.executions);
        if let Some(existing) = execs.get(name) {
            if existing.input == input && lock(&existing.state).status == Status::Running {
                return Ok(ExecutionHandle { shared: existing.clone(), inner: inner.clone() });
            }
            return Err(StartError::ExecutionAlreadyExists(name.to_string()));
        }
        let seed = lock(&inner.rng).next_u64();
        let arn =
            format!("arn:aws:states:{}:{}:execution:{}:{}", inner.opts.region, inner.opts.account, inner.opts.state_machine_name, name);
        let start_date = inner.clock.now();
        let (stop_tx, stop_rx) = oneshot::channel();
        let shared = Arc::new(ExecShared {
            name: name.to_string(),
            arn,
            input: input.clone(),
            start_date,
            participant: inner.clock.participant(),
            state: Mutex::new(ExecState {
                status: Status::Running,
                output: None,
                error: None,
                cause: None,
                stop_date: None,
                history: Vec::new(),
                transitions: 0,
                pending: None,
                sleeping_until: None,
            }),
            stop_tx: Mutex::new(Some(stop_tx)),
        });
        shared.push(
            "ExecutionStarted",
            "executionStartedEventDetails",
            json!({
                "input": input.to_string(),
                "inputDetails": {"truncated": false},
                "roleArn": format!("arn:aws:iam::{}:role/asl-executor", inner.opts.account),
                "stateMachineArn": inner.state_machine_arn,
            }),
        );
        execs.insert(name.to_string(), shared.clone());
        drop(execs);
        tokio::spawn(run_execution(inner.clone(), shared.clone(), stop_rx, seed));
        Ok(ExecutionHandle { shared, inner: inner.clone() })
    }

    /// The execution with this name, if started.
    pub fn execution(&self, name: &str) -> Option<ExecutionHandle> {
        lock(&self.inner.executions).get(name).map(|s| ExecutionHandle { shared: s.clone(), inner: self.inner.clone() })
    }

    /// AWS `SendTaskSuccess`: completes the waiting task with `output`.
    pub async fn send_task_success(&self, token: &str, output: Value) -> Result<(), TokenError> {
        self.inner.send_success(token, output)
    }

    /// AWS `SendTaskFailure`: fails the waiting task with `error` / `cause`.
    pub async fn send_task_failure(&self, token: &str, error: &str, cause: Option<&str>) -> Result<(), TokenError> {
        self.inner.send_failure(token, error, cause)
    }

    /// AWS `SendTaskHeartbeat`: restarts the task's `HeartbeatSeconds` countdown. Returns
    /// once the execution has taken the heartbeat into account.
    pub async fn send_task_heartbeat(&self, token: &str) -> Result<(), TokenError> {
        self.inner.send_heartbeat(token).await
    }

    /// Tokens of every task currently waiting, across executions.
    pub fn pending_tasks(&self) -> Vec<PendingTask> {
        let execs = lock(&self.inner.executions);
        let mut v: Vec<PendingTask> = execs.values().filter_map(|e| lock(&e.state).pending.clone()).collect();
        v.sort_by(|a, b| a.token.cmp(&b.token));
        v
    }
}

fn validate_name(name: &str) -> Result<(), StartError> {
    let bad = |c: char| c.is_whitespace() || c.is_control() || "<>{}[]?*\"#%\\^|~`$&,;:/".contains(c);
    if name.is_empty() || name.chars().count() > 80 || name.chars().any(bad) {
        return Err(StartError::InvalidName(format!("`{name}`: 1 to 80 characters, no whitespace nor any of <>{{}}[]?*\"#%\\^|~`$&,;:/")));
    }
    Ok(())
}
