//! Execution history, shaped like AWS `GetExecutionHistory` events.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

/// One history event, serialized like AWS:
/// `{"id": 3, "previousEventId": 2, "timestamp": "...", "type": "TaskScheduled",
///   "taskScheduledEventDetails": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryEvent {
    /// 1-based event id.
    pub id: u64,
    /// The id of the previous event (0 for the first).
    #[serde(rename = "previousEventId")]
    pub previous_event_id: u64,
    /// The execution clock's time when the event happened.
    pub timestamp: DateTime<Utc>,
    /// AWS event type, e.g. `ExecutionStarted`, `TaskStateEntered`, `TaskTimedOut`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The details object under its AWS key (e.g. `stateEnteredEventDetails`).
    #[serde(flatten)]
    pub details: Map<String, Value>,
}

impl HistoryEvent {
    /// The details object, whatever its key.
    pub fn detail(&self) -> Option<&Value> {
        self.details.values().next()
    }

    /// A string field of the details (`name`, `error`, `cause`, `input`, `output`...).
    pub fn detail_str(&self, field: &str) -> Option<&str> {
        self.detail()?.get(field)?.as_str()
    }
}
