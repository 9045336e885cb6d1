//! What the handler tests share: the functions' event fixtures, the start time, a Lambda event.
#![allow(dead_code)]

use std::path::Path;

use chrono::{DateTime, Utc};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::Value;

/// `functions/<function>/events/<file>`, the file `cargo lambda invoke --data-file` uses.
pub fn fixture(function: &str, file: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../functions").join(function).join("events").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("fixture is JSON")
}

pub fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-02T09:00:00Z").unwrap().with_timezone(&Utc)
}

pub fn event(payload: Value) -> LambdaEvent<Value> {
    LambdaEvent::new(payload, Context::default())
}
