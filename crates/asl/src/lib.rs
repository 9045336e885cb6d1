//! An in-process executor for Amazon States Language definitions (AWS Step Functions,
//! JSONPath query language), for tests and local runs.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::collections::HashMap;
//! use serde_json::json;
//!
//! let text = r#"{"StartAt": "Hello", "States": {
//!     "Hello": {"Type": "Task", "Resource": "${HelloArn}", "End": true}}}"#;
//! let subs = HashMap::from([("HelloArn".to_string(), "arn:aws:lambda:us-east-1:123456789012:function:hello".to_string())]);
//! let def = asl::Definition::load(text, &subs)?;
//! let mut registry = asl::TaskRegistry::new();
//! registry.register("hello", |t: asl::TaskInput| async move { Ok(json!({"hi": t.input})) });
//! let clock = asl::VirtualClock::new(chrono::Utc::now());
//! let exec = asl::Executor::new(def, registry, clock);
//! let handle = exec.start("run-1", json!("world")).await?;
//! let outcome = handle.wait().await;
//! assert_eq!(outcome.status, asl::Status::Succeeded);
//! # Ok(()) }
//! ```
//!
//! See the crate README for what is supported, refused, and deliberately different.

#![warn(missing_docs)]

mod choice;
mod clock;
mod definition;
mod error;
mod executor;
mod history;
mod intrinsic;
mod path;
mod registry;
mod rng;
mod template;

pub use clock::{Clock, ClockHold, SystemClock, VirtualClock};
pub use definition::Definition;
pub use error::{LoadError, StartError, TokenError, names};
pub use executor::{ExecutionHandle, Executor, ExecutorOptions, MAX_PAYLOAD_BYTES, Outcome, PendingTask, Progress, Status};
pub use history::HistoryEvent;
pub use registry::{HandlerFuture, TaskCallbacks, TaskContext, TaskError, TaskInput, TaskRegistry};
