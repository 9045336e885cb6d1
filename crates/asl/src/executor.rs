//! The executor: starts executions, runs states, resolves task tokens.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Map, Value, json};
use tokio::sync::{mpsc, oneshot};

use crate::clock::{Activity, Clock, Participant, Timer, maybe};
use crate::definition::{Definition, FailField, ResourceKind, ResultPath, Seconds, State, StateKind, TaskState, WaitSpec, error_matches};
use crate::error::{Failure, StartError, TokenError, names};
use crate::history::HistoryEvent;
use crate::intrinsic::Env;
use crate::path::{self, PathExpr, type_name};
use crate::registry::{TaskContext, TaskError, TaskInput, TaskRegistry};
use crate::rng::Rng;
use crate::template::{Dynamic, Template};

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

/// Options of an [`Executor`].
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// State machine name (`$$.StateMachine.Name`, ARNs). Default `state-machine`.
    pub state_machine_name: String,
    /// Region used in ARNs. Default `us-east-1`.
    pub region: String,
    /// Account used in ARNs. Default `123456789012`.
    pub account: String,
    /// Seed of the random numbers (UUID, MathRandom, FULL jitter, task tokens). Default 0:
    /// runs are reproducible unless a different seed is chosen.
    pub seed: u64,
}

impl Default for ExecutorOptions {
    fn default() -> Self {
        ExecutorOptions { state_machine_name: "state-machine".into(), region: "us-east-1".into(), account: "123456789012".into(), seed: 0 }
    }
}

enum TokenEvent {
    Success(Value),
    Failure(String, Option<String>),
    Heartbeat(oneshot::Sender<()>),
}

struct TokenSlot {
    execution: Weak<ExecShared>,
    tx: Option<mpsc::UnboundedSender<TokenEvent>>,
}

struct ExecutorInner {
    def: Definition,
    registry: TaskRegistry,
    clock: Clock,
    opts: ExecutorOptions,
    state_machine_arn: String,
    executions: Mutex<HashMap<String, Arc<ExecShared>>>,
    tokens: Mutex<HashMap<String, TokenSlot>>,
    rng: Mutex<Rng>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

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

/// Resolves task tokens from inside handlers (given in [`TaskContext::callbacks`]).
#[derive(Clone)]
pub struct TaskCallbacks {
    inner: Weak<ExecutorInner>,
}

impl fmt::Debug for TaskCallbacks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TaskCallbacks")
    }
}

impl TaskCallbacks {
    fn get(&self, token: &str) -> Result<Arc<ExecutorInner>, TokenError> {
        self.inner.upgrade().ok_or_else(|| TokenError::TaskClosed(token.to_string()))
    }
    /// See [`Executor::send_task_success`].
    pub async fn send_task_success(&self, token: &str, output: Value) -> Result<(), TokenError> {
        self.get(token)?.send_success(token, output)
    }
    /// See [`Executor::send_task_failure`].
    pub async fn send_task_failure(&self, token: &str, error: &str, cause: Option<&str>) -> Result<(), TokenError> {
        self.get(token)?.send_failure(token, error, cause)
    }
    /// See [`Executor::send_task_heartbeat`].
    pub async fn send_task_heartbeat(&self, token: &str) -> Result<(), TokenError> {
        let inner = self.get(token)?;
        inner.send_heartbeat(token).await
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

fn static_key(t: &TaskState) -> Option<String> {
    match t.resource_kind {
        ResourceKind::Direct => Some(direct_key(&t.resource)),
        ResourceKind::LambdaInvoke => None,
    }
}

fn direct_key(resource: &str) -> String {
    resource.strip_suffix(".waitForTaskToken").unwrap_or(resource).to_string()
}

fn validate_name(name: &str) -> Result<(), StartError> {
    let bad = |c: char| c.is_whitespace() || c.is_control() || "<>{}[]?*\"#%\\^|~`$&,;:/".contains(c);
    if name.is_empty() || name.chars().count() > 80 || name.chars().any(bad) {
        return Err(StartError::InvalidName(format!("`{name}`: 1 to 80 characters, no whitespace nor any of <>{{}}[]?*\"#%\\^|~`$&,;:/")));
    }
    Ok(())
}

impl ExecutorInner {
    /// Takes the sender of an open token, closing the slot.
    fn take_slot(&self, token: &str) -> Result<(mpsc::UnboundedSender<TokenEvent>, Arc<ExecShared>), TokenError> {
        let mut tokens = lock(&self.tokens);
        let slot = tokens.get_mut(token).ok_or_else(|| TokenError::InvalidToken(token.to_string()))?;
        let exec = slot.execution.upgrade().ok_or_else(|| TokenError::TaskClosed(token.to_string()))?;
        let tx = slot.tx.take().ok_or_else(|| TokenError::TaskClosed(token.to_string()))?;
        // Mark busy before anyone can observe the execution idle again.
        exec.participant.set(Activity::Busy);
        Ok((tx, exec))
    }

    fn send_success(&self, token: &str, output: Value) -> Result<(), TokenError> {
        let size = output.to_string().len();
        if size > MAX_PAYLOAD_BYTES {
            return Err(TokenError::InvalidOutput(format!("the output has {size} bytes, more than {MAX_PAYLOAD_BYTES}")));
        }
        let (tx, _) = self.take_slot(token)?;
        tx.send(TokenEvent::Success(output)).map_err(|_| TokenError::TaskClosed(token.to_string()))
    }

    fn send_failure(&self, token: &str, error: &str, cause: Option<&str>) -> Result<(), TokenError> {
        let (tx, _) = self.take_slot(token)?;
        tx.send(TokenEvent::Failure(error.to_string(), cause.map(str::to_string))).map_err(|_| TokenError::TaskClosed(token.to_string()))
    }

    async fn send_heartbeat(&self, token: &str) -> Result<(), TokenError> {
        let tx = {
            let tokens = lock(&self.tokens);
            let slot = tokens.get(token).ok_or_else(|| TokenError::InvalidToken(token.to_string()))?;
            slot.tx.clone().ok_or_else(|| TokenError::TaskClosed(token.to_string()))?
        };
        let (ack_tx, ack_rx) = oneshot::channel();
        tx.send(TokenEvent::Heartbeat(ack_tx)).map_err(|_| TokenError::TaskClosed(token.to_string()))?;
        ack_rx.await.map_err(|_| TokenError::TaskClosed(token.to_string()))
    }

    fn close_token(&self, token: &str) {
        if let Some(slot) = lock(&self.tokens).get_mut(token) {
            slot.tx = None;
        }
    }
}

/// `(error, cause)` of a StopExecution.
type StopRequest = (Option<String>, Option<String>);

struct ExecState {
    status: Status,
    output: Option<Value>,
    error: Option<String>,
    cause: Option<String>,
    stop_date: Option<DateTime<Utc>>,
    history: Vec<HistoryEvent>,
    transitions: u64,
    pending: Option<PendingTask>,
    sleeping_until: Option<DateTime<Utc>>,
}

struct ExecShared {
    name: String,
    arn: String,
    input: Value,
    start_date: DateTime<Utc>,
    participant: Participant,
    state: Mutex<ExecState>,
    stop_tx: Mutex<Option<oneshot::Sender<StopRequest>>>,
}

impl ExecShared {
    fn now(&self) -> DateTime<Utc> {
        self.participant.clock().now()
    }

    fn push(&self, event_type: &str, details_key: &str, details: Value) {
        let now = self.now();
        let mut st = lock(&self.state);
        let id = st.history.len() as u64 + 1;
        let mut map = Map::new();
        map.insert(details_key.to_string(), details);
        st.history.push(HistoryEvent { id, previous_event_id: id - 1, timestamp: now, event_type: event_type.to_string(), details: map });
    }

    fn transition(&self) {
        lock(&self.state).transitions += 1;
    }

    fn snapshot(&self) -> Outcome {
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

/// A running or ended execution. Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct ExecutionHandle {
    shared: Arc<ExecShared>,
    inner: Arc<ExecutorInner>,
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

// ---------------------------------------------------------------------------------------
// Running an execution

enum End {
    Succeeded(Value),
    Failed(Failure),
    Aborted(Option<String>, Option<String>),
    TimedOut,
}

async fn run_execution(inner: Arc<ExecutorInner>, sh: Arc<ExecShared>, stop_rx: oneshot::Receiver<StopRequest>, seed: u64) {
    let mut deadline: Option<Timer> = inner.def.timeout_seconds.map(|s| sh.participant.timer(sh.start_date + secs(s as f64)));
    let end = {
        let mut run = Run { inner: &inner, sh: &sh, rng: Rng::new(seed) };
        tokio::select! {
            biased;
            stop = stop_rx => match stop {
                Ok((e, c)) => End::Aborted(e, c),
                Err(_) => End::Aborted(None, None),
            },
            _ = maybe(&mut deadline) => End::TimedOut,
            r = run.drive() => match r {
                Ok(v) => End::Succeeded(v),
                Err(f) => End::Failed(f),
            },
        }
    };
    drop(deadline);
    let (status, ty, key, details) = match &end {
        End::Succeeded(v) => (
            Status::Succeeded,
            "ExecutionSucceeded",
            "executionSucceededEventDetails",
            json!({"output": v.to_string(), "outputDetails": {"truncated": false}}),
        ),
        End::Failed(f) => (Status::Failed, "ExecutionFailed", "executionFailedEventDetails", json!({"error": f.error, "cause": f.cause})),
        End::Aborted(e, c) => (Status::Aborted, "ExecutionAborted", "executionAbortedEventDetails", json!({"error": e, "cause": c})),
        End::TimedOut => (
            Status::TimedOut,
            "ExecutionTimedOut",
            "executionTimedOutEventDetails",
            json!({"error": names::TIMEOUT, "cause": "The execution ran longer than the state machine's TimeoutSeconds"}),
        ),
    };
    sh.push(ty, key, details);
    // Close any token still open for this execution.
    let pending = lock(&sh.state).pending.take();
    if let Some(p) = pending {
        inner.close_token(&p.token);
    }
    {
        let now = sh.now();
        let mut st = lock(&sh.state);
        st.status = status;
        st.stop_date = Some(now);
        match end {
            End::Succeeded(v) => st.output = Some(v),
            End::Failed(f) => {
                st.error = Some(f.error).filter(|s| !s.is_empty());
                st.cause = Some(f.cause).filter(|s| !s.is_empty());
            }
            End::Aborted(e, c) => {
                st.error = e;
                st.cause = c;
            }
            End::TimedOut => {
                st.error = Some(names::TIMEOUT.to_string());
            }
        }
    }
    lock(&sh.stop_tx).take();
    sh.participant.set(Activity::Finished);
}

fn secs(s: f64) -> chrono::Duration {
    chrono::Duration::milliseconds((s * 1000.0).round() as i64)
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

enum Step {
    Next(String, Value),
    End(Value),
}

struct Run<'a> {
    inner: &'a Arc<ExecutorInner>,
    sh: &'a Arc<ExecShared>,
    rng: Rng,
}

fn check_size(v: &Value, what: &str) -> Result<(), Failure> {
    let size = v.to_string().len();
    if size > MAX_PAYLOAD_BYTES {
        return Err(Failure::new(
            names::DATA_LIMIT_EXCEEDED,
            format!("The {what} has {size} bytes, more than the {MAX_PAYLOAD_BYTES} bytes allowed"),
        ));
    }
    Ok(())
}

/// InputPath / OutputPath: absent = `$`, null = `{}`, else the selected node(s).
fn select(path: &Option<Option<PathExpr>>, input: Value, ctx: &Value, field: &str) -> Result<Value, Failure> {
    match path {
        None => Ok(input),
        Some(None) => Ok(json!({})),
        Some(Some(p)) => p.eval(&input, ctx).ok_or_else(|| {
            Failure::new(
                names::RUNTIME,
                format!("Invalid path '{}' : The {field} '{}' could not be found in the input '{}'", p.source(), p.source(), input),
            )
        }),
    }
}

fn apply_result_path(input: &Value, result: Value, rp: &ResultPath) -> Result<Value, Failure> {
    match rp {
        ResultPath::Discard => Ok(input.clone()),
        ResultPath::At(segs) => path::write(input.clone(), segs, result).map_err(|e| {
            Failure::new(names::RESULT_PATH_MATCH_FAILURE, format!("Unable to apply ResultPath to the input '{input}': {}", e.0))
        }),
    }
}

impl Run<'_> {
    fn context(&self, state: &str, entered: DateTime<Utc>, retry_count: u64, token: Option<&str>) -> Value {
        let mut ctx = json!({
            "Execution": {
                "Id": self.sh.arn,
                "Input": self.sh.input,
                "Name": self.sh.name,
                "RoleArn": format!("arn:aws:iam::{}:role/asl-executor", self.inner.opts.account),
                "StartTime": ts(self.sh.start_date),
                "RedriveCount": 0,
            },
            "State": {
                "EnteredTime": ts(entered),
                "Name": state,
                "RetryCount": retry_count,
            },
            "StateMachine": {
                "Id": self.inner.state_machine_arn,
                "Name": self.inner.opts.state_machine_name,
            },
        });
        if let Some(t) = token {
            ctx["Task"] = json!({"Token": t});
        }
        ctx
    }

    async fn drive(&mut self) -> Result<Value, Failure> {
        let def = &self.inner.def;
        let mut name = def.start_at.clone();
        let mut input = self.sh.input.clone();
        loop {
            let st = &def.states[&name];
            self.sh.transition();
            let entered = self.sh.now();
            let prefix = st.kind.event_prefix();
            self.sh.push(&format!("{prefix}StateEntered"), "stateEnteredEventDetails", json!({"name": name, "input": input.to_string()}));
            let step = self.run_state(st, input, entered).await?;
            let (next, output) = match step {
                Step::Next(n, v) => (Some(n), v),
                Step::End(v) => (None, v),
            };
            check_size(&output, &format!("output of state '{name}'"))?;
            self.sh.push(&format!("{prefix}StateExited"), "stateExitedEventDetails", json!({"name": name, "output": output.to_string()}));
            match next {
                Some(n) => {
                    name = n;
                    input = output;
                }
                None => return Ok(output),
            }
        }
    }

    fn flow(st: &State, output: Value) -> Step {
        match &st.next {
            Some(n) => Step::Next(n.clone(), output),
            None => Step::End(output),
        }
    }

    async fn run_state(&mut self, st: &State, input: Value, entered: DateTime<Utc>) -> Result<Step, Failure> {
        let ctx = self.context(&st.name, entered, 0, None);
        match &st.kind {
            StateKind::Pass { parameters, result, result_path } => {
                let effective = select(&st.input_path, input.clone(), &ctx, "InputPath")?;
                let res = match (result, parameters) {
                    (Some(r), _) => r.clone(),
                    (None, Some(t)) => self.eval_template(t, &effective, &ctx)?,
                    (None, None) => effective,
                };
                let out = apply_result_path(&input, res, result_path)?;
                let out = select(&st.output_path, out, &ctx, "OutputPath")?;
                Ok(Self::flow(st, out))
            }
            StateKind::Succeed => {
                let effective = select(&st.input_path, input, &ctx, "InputPath")?;
                Ok(Step::End(select(&st.output_path, effective, &ctx, "OutputPath")?))
            }
            StateKind::Fail { error, cause } => {
                let error = self.fail_field(error, &input, &ctx, "ErrorPath")?;
                let cause = self.fail_field(cause, &input, &ctx, "CausePath")?;
                Err(Failure { error, cause })
            }
            StateKind::Choice { choices, default } => {
                let effective = select(&st.input_path, input, &ctx, "InputPath")?;
                let mut next = None;
                for (rule, target) in choices {
                    if rule.eval(&effective, &ctx)? {
                        next = Some(target.clone());
                        break;
                    }
                }
                let next = next
                    .or_else(|| default.clone())
                    .ok_or_else(|| Failure::new(names::NO_CHOICE_MATCHED, format!("No Matches! (state '{}')", st.name)))?;
                let out = select(&st.output_path, effective, &ctx, "OutputPath")?;
                Ok(Step::Next(next, out))
            }
            StateKind::Wait(spec) => {
                let effective = select(&st.input_path, input, &ctx, "InputPath")?;
                let until = match spec {
                    WaitSpec::Seconds(s) => entered + secs(*s as f64),
                    WaitSpec::Timestamp(t) => *t,
                    WaitSpec::SecondsPath(p) => {
                        let v = p.eval(&effective, &ctx);
                        match v.as_ref().and_then(Value::as_u64) {
                            Some(s) => entered + secs(s as f64),
                            None => {
                                return Err(Failure::new(
                                    names::RUNTIME,
                                    format!(
                                        "Invalid path '{}': SecondsPath must select a non-negative integer, got {}",
                                        p.source(),
                                        v.map(|v| v.to_string()).unwrap_or_else(|| "nothing".into())
                                    ),
                                ));
                            }
                        }
                    }
                    WaitSpec::TimestampPath(p) => {
                        let v = p.eval(&effective, &ctx);
                        match v.as_ref().and_then(Value::as_str).and_then(|s| DateTime::parse_from_rfc3339(s).ok()) {
                            Some(t) => t.with_timezone(&Utc),
                            None => {
                                return Err(Failure::new(
                                    names::RUNTIME,
                                    format!(
                                        "Invalid path '{}': TimestampPath must select an RFC 3339 timestamp, got {}",
                                        p.source(),
                                        v.map(|v| v.to_string()).unwrap_or_else(|| "nothing".into())
                                    ),
                                ));
                            }
                        }
                    }
                };
                self.sleep_until(until).await;
                let out = select(&st.output_path, effective, &ctx, "OutputPath")?;
                Ok(Self::flow(st, out))
            }
            StateKind::Task(t) => self.run_task(st, t, input, entered).await,
        }
    }

    async fn sleep_until(&self, until: DateTime<Utc>) {
        lock(&self.sh.state).sleeping_until = Some(until);
        self.sh.participant.sleep_until(until).await;
        lock(&self.sh.state).sleeping_until = None;
    }

    fn eval_template(&mut self, t: &Template, input: &Value, ctx: &Value) -> Result<Value, Failure> {
        t.eval(&mut Env { input, context: ctx, rng: &mut self.rng })
    }

    fn fail_field(&mut self, f: &Option<FailField>, input: &Value, ctx: &Value, field: &str) -> Result<String, Failure> {
        let v = match f {
            None => return Ok(String::new()),
            Some(FailField::Literal(s)) => return Ok(s.clone()),
            Some(FailField::Dynamic(Dynamic::Path(p))) => p.eval(input, ctx),
            Some(FailField::Dynamic(Dynamic::Intrinsic(c))) => Some(c.eval(&mut Env { input, context: ctx, rng: &mut self.rng })?),
        };
        match v {
            Some(Value::String(s)) => Ok(s),
            other => Err(Failure::new(
                names::RUNTIME,
                format!("The {field} of the Fail state must select a string, got {}", other.as_ref().map(type_name).unwrap_or("nothing")),
            )),
        }
    }

    async fn run_task(&mut self, st: &State, t: &TaskState, input: Value, entered: DateTime<Utc>) -> Result<Step, Failure> {
        let ctx0 = self.context(&st.name, entered, 0, None);
        let effective = select(&st.input_path, input.clone(), &ctx0, "InputPath")?;
        let mut attempts = vec![0u64; t.retry.len()];
        let mut retry_count = 0u64;
        loop {
            let failure = match self.attempt(st, t, &input, &effective, entered, retry_count).await {
                Ok(out) => return Ok(Self::flow(st, out)),
                Err(f) if f.is_terminal() => return Err(f),
                Err(f) => f,
            };
            if let Some(i) = t.retry.iter().position(|r| error_matches(&r.error_equals, &failure.error)) {
                let r = &t.retry[i];
                if attempts[i] < r.max_attempts {
                    let mut delay = r.interval_seconds * r.backoff_rate.powi(attempts[i] as i32);
                    if let Some(max) = r.max_delay_seconds {
                        delay = delay.min(max);
                    }
                    if r.full_jitter {
                        delay *= self.rng.next_f64();
                    }
                    attempts[i] += 1;
                    retry_count += 1;
                    self.sh.transition();
                    let until = self.sh.now() + secs(delay);
                    self.sleep_until(until).await;
                    continue;
                }
            }
            if let Some(c) = t.catch.iter().find(|c| error_matches(&c.error_equals, &failure.error)) {
                let err = json!({"Error": failure.error, "Cause": failure.cause});
                let out = apply_result_path(&input, err, &c.result_path)?;
                return Ok(Step::Next(c.next.clone(), out));
            }
            return Err(failure);
        }
    }

    fn resolve_seconds(s: &Option<Seconds>, input: &Value, ctx: &Value, field: &str) -> Result<Option<u64>, Failure> {
        match s {
            None => Ok(None),
            Some(Seconds::Fixed(n)) => Ok(Some(*n)),
            Some(Seconds::Path(p)) => match p.eval(input, ctx).as_ref().and_then(Value::as_u64) {
                Some(n) if n > 0 => Ok(Some(n)),
                _ => Err(Failure::new(names::RUNTIME, format!("Invalid path '{}': {field} must select a positive integer", p.source()))),
            },
        }
    }

    /// One attempt of a Task: Parameters, invocation, ResultSelector, ResultPath, OutputPath.
    async fn attempt(
        &mut self,
        st: &State,
        t: &TaskState,
        raw_input: &Value,
        effective: &Value,
        entered: DateTime<Utc>,
        retry_count: u64,
    ) -> Result<Value, Failure> {
        let token = t.wait_for_token.then(|| format!("{}-{}", ulid_like(&mut self.rng), self.sh.name));
        let ctx = self.context(&st.name, entered, retry_count, token.as_deref());
        let params = match &t.parameters {
            Some(tpl) => self.eval_template(tpl, effective, &ctx)?,
            None => effective.clone(),
        };
        let timeout = Self::resolve_seconds(&t.timeout, effective, &ctx, "TimeoutSecondsPath")?;
        let heartbeat = Self::resolve_seconds(&t.heartbeat, effective, &ctx, "HeartbeatSecondsPath")?;
        let (key, handler_input) = match t.resource_kind {
            ResourceKind::LambdaInvoke => {
                let key = params
                    .get("FunctionName")
                    .and_then(Value::as_str)
                    .ok_or_else(|| Failure::new(names::RUNTIME, format!("state '{}': Parameters.FunctionName must be a string", st.name)))?
                    .to_string();
                (key, params.get("Payload").cloned().unwrap_or(json!({})))
            }
            ResourceKind::Direct => (direct_key(&t.resource), params.clone()),
        };
        check_size(&params, &format!("Parameters of state '{}'", st.name))?;
        let handler = self.inner.registry.lookup(&key).ok_or_else(|| {
            Failure::new(names::RUNTIME, format!("no task handler registered for `{key}` (state '{}', resource `{}`)", st.name, t.resource))
        })?;
        let (resource_type, resource) = split_resource(&t.resource);
        let mut sched = json!({
            "resourceType": resource_type,
            "resource": resource,
            "region": self.inner.opts.region,
            "parameters": params.to_string(),
        });
        if let Some(s) = timeout {
            sched["timeoutInSeconds"] = json!(s);
        }
        if let Some(h) = heartbeat {
            sched["heartbeatInSeconds"] = json!(h);
        }
        self.sh.push("TaskScheduled", "taskScheduledEventDetails", sched);
        let started = self.sh.now();
        self.sh.push("TaskStarted", "taskStartedEventDetails", json!({"resourceType": resource_type, "resource": resource}));
        let task_input = TaskInput {
            input: handler_input,
            context: TaskContext {
                resource: t.resource.clone(),
                key: key.clone(),
                state_name: st.name.clone(),
                retry_count,
                task_token: token.clone(),
                now: started,
                execution_name: self.sh.name.clone(),
                execution_id: self.sh.arn.clone(),
                callbacks: TaskCallbacks { inner: Arc::downgrade(self.inner) },
            },
        };
        let result = self.invoke(st, handler(task_input), token, started, (timeout, heartbeat), (resource_type, resource)).await;
        let raw = match result {
            Ok(v) => v,
            Err((f, timed_out)) => {
                let (ty, key) =
                    if timed_out { ("TaskTimedOut", "taskTimedOutEventDetails") } else { ("TaskFailed", "taskFailedEventDetails") };
                self.sh.push(
                    ty,
                    key,
                    json!({"resourceType": resource_type, "resource": resource,
                           "error": f.error, "cause": f.cause}),
                );
                return Err(f);
            }
        };
        check_size(&raw, &format!("result of state '{}'", st.name))?;
        self.sh.push(
            "TaskSucceeded",
            "taskSucceededEventDetails",
            json!({"resourceType": resource_type, "resource": resource,
                   "output": raw.to_string()}),
        );
        let result = if t.resource_kind == ResourceKind::LambdaInvoke && !t.wait_for_token {
            json!({
                "ExecutedVersion": "$LATEST",
                "Payload": raw,
                "SdkHttpMetadata": {"HttpStatusCode": 200},
                "StatusCode": 200,
            })
        } else {
            raw
        };
        let selected = match &t.result_selector {
            Some(tpl) => self.eval_template(tpl, &result, &ctx)?,
            None => result,
        };
        let out = apply_result_path(raw_input, selected, &t.result_path)?;
        select(&st.output_path, out, &ctx, "OutputPath")
    }

    /// Runs the handler (and, for `.waitForTaskToken`, waits for the token) under the
    /// task's timeouts. The error's flag tells a timeout.
    async fn invoke(
        &mut self,
        st: &State,
        fut: crate::registry::HandlerFuture,
        token: Option<String>,
        started: DateTime<Utc>,
        (timeout, heartbeat): (Option<u64>, Option<u64>),
        (resource_type, resource): (&str, &str),
    ) -> Result<Value, (Failure, bool)> {
        let participant = &self.sh.participant;
        let mut timeout_timer = timeout.map(|s| participant.timer(started + secs(s as f64)));
        let timed_out = || (Failure::new(names::TIMEOUT, format!("Task '{}' ran longer than its TimeoutSeconds", st.name)), true);
        let mut join = AbortOnDrop(tokio::spawn(fut));
        let handler_result = |r: Result<Result<Value, TaskError>, tokio::task::JoinError>| match r {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err((Failure { error: e.error, cause: e.cause.unwrap_or_default() }, false)),
            Err(e) => Err((Failure::new(names::TASK_FAILED, format!("the task handler panicked: {e}")), false)),
        };
        let Some(token) = token else {
            return tokio::select! {
                biased;
                r = &mut join.0 => handler_result(r),
                _ = maybe(&mut timeout_timer) => Err(timed_out()),
            };
        };
        let (tx, mut rx) = mpsc::unbounded_channel();
        lock(&self.inner.tokens).insert(token.clone(), TokenSlot { execution: Arc::downgrade(self.sh), tx: Some(tx) });
        lock(&self.sh.state).pending =
            Some(PendingTask { token: token.clone(), state_name: st.name.clone(), resource: resource.to_string() });
        let heartbeat_timer = |at: DateTime<Utc>| heartbeat.map(|h| participant.timer(at + secs(h as f64)));
        let mut hb_timer = heartbeat_timer(started);
        let heartbeat_timed_out =
            || (Failure::new(names::HEARTBEAT_TIMEOUT, format!("Task '{}' sent no heartbeat within HeartbeatSeconds", st.name)), true);
        let mut handler_done = false;
        let result = loop {
            participant.set(if handler_done { Activity::AwaitingToken } else { Activity::Busy });
            tokio::select! {
                biased;
                ev = rx.recv() => match ev {
                    Some(TokenEvent::Success(v)) => break Ok(v),
                    Some(TokenEvent::Failure(e, c)) => break Err((Failure { error: e, cause: c.unwrap_or_default() }, false)),
                    Some(TokenEvent::Heartbeat(ack)) => {
                        hb_timer = heartbeat_timer(self.sh.now());
                        let _ = ack.send(());
                    }
                    None => {
                        // Only the success/failure senders close the slot; wait for their event.
                    }
                },
                r = &mut join.0, if !handler_done => {
                    match handler_result(r) {
                        Ok(v) => {
                            handler_done = true;
                            self.sh.push(
                                "TaskSubmitted",
                                "taskSubmittedEventDetails",
                                json!({"resourceType": resource_type, "resource": resource, "output": v.to_string()}),
                            );
                        }
                        Err(e) => break Err(e),
                    }
                },
                _ = maybe(&mut timeout_timer) => break Err(timed_out()),
                _ = maybe(&mut hb_timer) => break Err(heartbeat_timed_out()),
            }
        };
        self.inner.close_token(&token);
        lock(&self.sh.state).pending = None;
        participant.set(Activity::Busy);
        // A success/failure sent just before the timeout won the race: honour it, since its
        // sender was told the call succeeded.
        if result.as_ref().is_err_and(|(_, timed_out)| *timed_out) {
            while let Ok(ev) = rx.try_recv() {
                match ev {
                    TokenEvent::Success(v) => return Ok(v),
                    TokenEvent::Failure(e, c) => {
                        return Err((Failure { error: e, cause: c.unwrap_or_default() }, false));
                    }
                    TokenEvent::Heartbeat(_) => {}
                }
            }
        }
        result
    }
}

struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// `arn:aws:states:::lambda:invoke` → (`lambda`, `invoke`); other ARNs → (service, ARN).
fn split_resource(resource: &str) -> (&str, &str) {
    if let Some(rest) = resource.strip_prefix("arn:aws:states:::")
        && let Some((svc, res)) = rest.split_once(':')
    {
        return (svc, res);
    }
    let svc = resource.split(':').nth(2).unwrap_or("unknown");
    (svc, resource)
}

/// A unique, seeded token: 26 base32 characters.
fn ulid_like(rng: &mut Rng) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut s = String::with_capacity(26);
    let mut a = rng.next_u64();
    let mut b = rng.next_u64();
    for i in 0..26 {
        let src = if i < 13 { &mut a } else { &mut b };
        s.push(ALPHABET[(*src & 31) as usize] as char);
        *src >>= 5;
    }
    s
}
