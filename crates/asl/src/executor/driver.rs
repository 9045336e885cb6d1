//! Running an execution: the state-running loop from `StartAt` to the end, the execution's
//! end (success, failure, abort, time-out), and the Pass / Succeed / Fail / Choice states.
//! Wait and Task states run in their own modules.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::clock::{Activity, Timer, maybe};
use crate::definition::{FailField, State, StateKind};
use crate::error::{Failure, names};
use crate::executor::inner::ExecutorInner;
use crate::executor::run::{Run, Step, apply_result_path, check_size, secs, select};
use crate::executor::state::{ExecShared, Status, StopRequest, lock};
use crate::intrinsic::Env;
use crate::path::type_name;
use crate::rng::Rng;
use crate::template::Dynamic;

enum End {
    Succeeded(Value),
    Failed(Failure),
    Aborted(Option<String>, Option<String>),
    TimedOut,
}

pub(super) async fn run_execution(inner: Arc<ExecutorInner>, sh: Arc<ExecShared>, stop_rx: oneshot::Receiver<StopRequest>, seed: u64) {
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

impl Run<'_> {
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
            StateKind::Wait(spec) => self.run_wait(st, spec, input, &ctx, entered).await,
            StateKind::Task(t) => self.run_task(st, t, input, entered).await,
        }
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
}
