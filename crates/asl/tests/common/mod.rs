//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use asl::{Definition, Executor, Outcome, TaskError, TaskInput, TaskRegistry, VirtualClock};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap()
}

pub fn at(secs: i64) -> DateTime<Utc> {
    t0() + chrono::Duration::seconds(secs)
}

pub fn load(def: &Value) -> Definition {
    Definition::load(&def.to_string(), &HashMap::new()).unwrap_or_else(|e| panic!("definition refused: {e}"))
}

/// Runs `def` on a fresh virtual clock and waits for the end.
pub async fn run(def: &Value, registry: TaskRegistry, input: Value) -> Outcome {
    let exec = Executor::new(load(def), registry, VirtualClock::new(t0()));
    exec.start("run", input).await.unwrap().wait().await
}

/// A handler that answers from a script (one entry per call; the last one repeats) and
/// records the inputs and contexts it saw.
#[derive(Clone, Default)]
pub struct Scripted {
    pub calls: Arc<Mutex<Vec<TaskInput>>>,
}

impl Scripted {
    pub fn register(&self, registry: &mut TaskRegistry, key: &str, script: Vec<Result<Value, TaskError>>) {
        let calls = self.calls.clone();
        registry.register(key, move |input: TaskInput| {
            let calls = calls.clone();
            let script = script.clone();
            async move {
                let n = {
                    let mut c = calls.lock().unwrap();
                    c.push(input);
                    c.len()
                };
                script[(n - 1).min(script.len() - 1)].clone()
            }
        });
    }

    pub fn count(&self) -> usize {
        self.calls.lock().unwrap().len()
    }

    pub fn inputs(&self) -> Vec<Value> {
        self.calls.lock().unwrap().iter().map(|c| c.input.clone()).collect()
    }
}

pub fn err(name: &str, cause: &str) -> Result<Value, TaskError> {
    Err(TaskError::new(name, cause))
}

/// Timestamps (seconds since t0) of the events of a type.
pub fn event_times(outcome: &Outcome, event_type: &str) -> Vec<i64> {
    outcome
        .history
        .iter()
        .filter(|e| e.event_type == event_type)
        .map(|e| (e.timestamp - t0()).num_milliseconds())
        .map(|ms| ms / 1000)
        .collect()
}
