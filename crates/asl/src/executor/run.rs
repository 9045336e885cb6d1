//! One execution's run: the [`Run`] context and the data flow every state shares (the
//! context object, InputPath / ResultPath / OutputPath, payload sizes).

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::definition::{ResultPath, State};
use crate::error::{Failure, names};
use crate::executor::inner::ExecutorInner;
use crate::executor::state::{ExecShared, MAX_PAYLOAD_BYTES};
use crate::intrinsic::Env;
use crate::path::{self, PathExpr};
use crate::rng::Rng;
use crate::template::Template;

pub(super) fn secs(s: f64) -> chrono::Duration {
    chrono::Duration::milliseconds((s * 1000.0).round() as i64)
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub(super) enum Step {
    Next(String, Value),
    End(Value),
}

pub(super) struct Run<'a> {
    pub(super) inner: &'a Arc<ExecutorInner>,
    pub(super) sh: &'a Arc<ExecShared>,
    pub(super) rng: Rng,
}

pub(super) fn check_size(v: &Value, what: &str) -> Result<(), Failure> {
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
pub(super) fn select(path: &Option<Option<PathExpr>>, input: Value, ctx: &Value, field: &str) -> Result<Value, Failure> {
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

pub(super) fn apply_result_path(input: &Value, result: Value, rp: &ResultPath) -> Result<Value, Failure> {
    match rp {
        ResultPath::Discard => Ok(input.clone()),
        ResultPath::At(segs) => path::write(input.clone(), segs, result).map_err(|e| {
            Failure::new(names::RESULT_PATH_MATCH_FAILURE, format!("Unable to apply ResultPath to the input '{input}': {}", e.0))
        }),
    }
}

impl Run<'_> {
    pub(super) fn context(&self, state: &str, entered: DateTime<Utc>, retry_count: u64, token: Option<&str>) -> Value {
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

    pub(super) fn flow(st: &State, output: Value) -> Step {
        match &st.next {
            Some(n) => Step::Next(n.clone(), output),
            None => Step::End(output),
        }
    }

    pub(super) fn eval_template(&mut self, t: &Template, input: &Value, ctx: &Value) -> Result<Value, Failure> {
        t.eval(&mut Env { input, context: ctx, rng: &mut self.rng })
    }
}
