//! The events handshake-watcher and hardening-scan receive, all EventBridge events read
//! through `aws_lambda_events`' [`EventBridgeEvent`] envelope. The `AccountJoinedOrganization`
//! service event arrives through CloudTrail on the management account's default bus in
//! us-east-1, as `AWS Service Event via CloudTrail` or `AWS API Call via CloudTrail`; its
//! detail's field names have changed spelling over time (`...Detail` / `...Details`,
//! `accountId` / `AccountId` / `accountID`), so its detail stays JSON and the member account
//! id is looked up by meaning, not by one exact path. A direct transfer from another
//! organization (November 2025) logs the same event, with `joinedMethod: INVITED`.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use migration::{AwsAccountId, MigrationId};
use serde::Deserialize;
use serde_json::Value;

/// What woke the watcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatcherEvent {
    /// An account joined the partner organization.
    AccountJoined { account_id: AwsAccountId },
    /// The periodic sweep.
    Scheduled,
    /// Step Functions timed out a migration's execution (`Step Functions Execution Status
    /// Change`, status `TIMED_OUT`): no Catch sees a timeout, so nothing else records it.
    ExecutionTimedOut { migration_id: MigrationId },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// Not an EventBridge event at all (no `source`, `detail-type` or `detail`, a bad `time`).
    #[error("not an EventBridge event: {0}")]
    NotEventBridge(String),
    #[error("not an event the watcher handles (source `{event_source}`, detail-type `{detail_type}`, eventName `{event_name}`)")]
    Unexpected { event_source: String, detail_type: String, event_name: String },
    #[error("the AccountJoinedOrganization event names no member account id")]
    NoAccountId,
    #[error("the AccountJoinedOrganization event names several account ids: {0:?}")]
    AmbiguousAccountId(Vec<String>),
    #[error("the execution status change is for `{0}`, not a migration's execution that timed out")]
    NotAMigrationTimeout(String),
}

fn str_at<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// `accountId`, `AccountId`, `accountID`, `account_id`: the spellings seen for one field.
fn is_account_id_key(key: &str) -> bool {
    key.replace('_', "").eq_ignore_ascii_case("accountid")
}

fn collect_account_ids(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                match child {
                    Value::String(s) if is_account_id_key(k) && s.parse::<AwsAccountId>().is_ok() => {
                        if !out.contains(s) {
                            out.push(s.clone());
                        }
                    }
                    _ => collect_account_ids(child, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_account_ids(i, out)),
        _ => {}
    }
}

/// The EventBridge envelope of `event`, its detail left as JSON.
pub fn eventbridge(event: &Value) -> Result<EventBridgeEvent<Value>, EventError> {
    EventBridgeEvent::<Value>::deserialize(event).map_err(|e| EventError::NotEventBridge(e.to_string()))
}

/// An EventBridge schedule's event (a rule's `Scheduled Event`, or EventBridge Scheduler's).
fn is_scheduled(event: &EventBridgeEvent<Value>) -> bool {
    event.detail_type == "Scheduled Event" || matches!(event.source.as_str(), "aws.events" | "aws.scheduler")
}

fn unexpected(event: &EventBridgeEvent<Value>) -> EventError {
    EventError::Unexpected {
        event_source: event.source.clone(),
        detail_type: event.detail_type.clone(),
        event_name: str_at(&event.detail, "eventName").to_owned(),
    }
}

pub fn parse_watcher_event(event: &Value) -> Result<WatcherEvent, EventError> {
    let event = eventbridge(event)?;
    let (source, detail_type, detail) = (event.source.as_str(), event.detail_type.as_str(), &event.detail);
    let event_name = str_at(detail, "eventName");

    if is_scheduled(&event) {
        return Ok(WatcherEvent::Scheduled);
    }
    if source == "aws.organizations" && event_name == "AccountJoinedOrganization" {
        // The member is named in the service event details (`AWS Service Event via
        // CloudTrail`), or, in the `AWS API Call via CloudTrail` spelling, in the response
        // or request elements: the first of those that names an account decides. Never the
        // envelope's `account`, `recipientAccountId` (ours) or `userIdentity` (whoever
        // accepted: for a direct transfer, a principal of the joining account).
        let mut ids = Vec::new();
        for section in ["serviceEventDetails", "responseElements", "requestParameters"] {
            if let Some((_, details)) = detail.as_object().and_then(|d| d.iter().find(|(k, _)| k.eq_ignore_ascii_case(section))) {
                collect_account_ids(details, &mut ids);
            }
            if !ids.is_empty() {
                break;
            }
        }
        return match ids.as_slice() {
            [] => Err(EventError::NoAccountId),
            [one] => Ok(WatcherEvent::AccountJoined { account_id: one.parse().expect("checked while collecting") }),
            _ => Err(EventError::AmbiguousAccountId(ids)),
        };
    }
    if source == "aws.states" && detail_type == "Step Functions Execution Status Change" {
        // The execution's name is the migration id (the API and the sweep start it so).
        let name = str_at(detail, "name");
        return match (str_at(detail, "status"), name.parse::<MigrationId>()) {
            ("TIMED_OUT", Ok(migration_id)) => Ok(WatcherEvent::ExecutionTimedOut { migration_id }),
            (status, _) => Err(EventError::NotAMigrationTimeout(format!("{name} ({status})"))),
        };
    }
    Err(unexpected(&event))
}

/// hardening-scan's event: its schedule's, and nothing else.
pub fn parse_scan_event(event: &Value) -> Result<(), EventError> {
    let event = eventbridge(event)?;
    if is_scheduled(&event) { Ok(()) } else { Err(unexpected(&event)) }
}
