//! Task states: handler dispatch, task tokens, timeouts and heartbeats, Retry and Catch.

use std::sync::{Arc, Weak};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::clock::{Activity, maybe};
use crate::definition::{ResourceKind, Seconds, State, TaskState, error_matches};
use crate::error::{Failure, names};
use crate::executor::inner::{TokenEvent, TokenSlot};
use crate::executor::run::{Run, Step, apply_result_path, check_size, secs, select};
use crate::executor::state::{PendingTask, lock};
use crate::registry::{TaskCallbacks, TaskContext, TaskError, TaskInput, TokenResolver};
use crate::rng::Rng;

pub(super) fn static_key(t: &TaskState) -> Option<String> {
    match t.resource_kind {
        ResourceKind::Direct => Some(direct_key(&t.resource)),
        ResourceKind::LambdaInvoke => None,
    }
}

fn direct_key(resource: &str) -> String {
    resource.strip_suffix(".waitForTaskToken").unwrap_or(resource).to_string()
}

impl Run<'_> {
    pub(super) async fn run_task(&mut self, st: &State, t: &TaskState, input: Value, entered: DateTime<Utc>) -> Result<Step, Failure> {
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
                callbacks: TaskCallbacks::new(Arc::downgrade(self.inner) as Weak<dyn TokenResolver>),
            },
        };
        // The token is open before the function is invoked, as in Step Functions: a handler
        // may deliver its own token at once, even before it returns (on another worker
        // thread). Opened after the handler was spawned, such a delivery was refused as
        // InvalidToken now and then (serve's billing transfer, on a busy machine).
        let token = token.map(|token| {
            let (tx, rx) = mpsc::unbounded_channel();
            lock(&self.inner.tokens).insert(token.clone(), TokenSlot { execution: Arc::downgrade(self.sh), tx: Some(tx) });
            (token, rx)
        });
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

    /// Runs the handler (and, for `.waitForTaskToken`, waits for the token, opened by the
    /// caller with its events' receiver) under the task's timeouts. The error's flag tells a
    /// timeout.
    async fn invoke(
        &mut self,
        st: &State,
        fut: crate::registry::HandlerFuture,
        token: Option<(String, mpsc::UnboundedReceiver<TokenEvent>)>,
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
        let Some((token, mut rx)) = token else {
            return tokio::select! {
                biased;
                r = &mut join.0 => handler_result(r),
                _ = maybe(&mut timeout_timer) => Err(timed_out()),
            };
        };
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
