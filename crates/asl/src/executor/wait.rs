//! Waiting: the Wait state, and the sleeps it and the retry back-offs share.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::definition::{State, WaitSpec};
use crate::error::{Failure, names};
use crate::executor::run::{Run, Step, secs, select};
use crate::executor::state::lock;

impl Run<'_> {
    /// A Wait state: sleeps until the time it names, then passes its input on.
    pub(super) async fn run_wait(
        &self,
        st: &State,
        spec: &WaitSpec,
        input: Value,
        ctx: &Value,
        entered: DateTime<Utc>,
    ) -> Result<Step, Failure> {
        let effective = select(&st.input_path, input, ctx, "InputPath")?;
        let until = match spec {
            WaitSpec::Seconds(s) => entered + secs(*s as f64),
            WaitSpec::Timestamp(t) => *t,
            WaitSpec::SecondsPath(p) => {
                let v = p.eval(&effective, ctx);
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
                let v = p.eval(&effective, ctx);
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
        let out = select(&st.output_path, effective, ctx, "OutputPath")?;
        Ok(Self::flow(st, out))
    }

    pub(super) async fn sleep_until(&self, until: DateTime<Utc>) {
        lock(&self.sh.state).sleeping_until = Some(until);
        self.sh.participant.sleep_until(until).await;
        lock(&self.sh.state).sleeping_until = None;
    }
}
