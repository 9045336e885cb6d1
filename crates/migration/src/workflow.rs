//! The steps as the state machine calls them: JSON in, JSON out, errors named as the
//! definition's `ErrorEquals` expects. Lambda functions and the local runner both call
//! [`run_step`], so a step behaves the same whoever invokes it.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::StepError;
use crate::ids::{MigrationId, TaskToken};
use crate::ports::Ports;
use crate::steps::{self, StepInput};

/// The steps of the state machine, by function name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    Validate,
    /// The account's Cost Explorer history, saved before the invitation.
    SnapshotUsage,
    Invite,
    WaitForHandshake,
    CheckSupport,
    ScheduleHardening,
    RecordFailure,
    /// A billing transfer, at its start: in force, recorded, its billing group made.
    ConfirmTransfer,
}

impl Step {
    pub const ALL: [Step; 8] = [
        Step::Validate,
        Step::SnapshotUsage,
        Step::Invite,
        Step::WaitForHandshake,
        Step::CheckSupport,
        Step::ScheduleHardening,
        Step::RecordFailure,
        Step::ConfirmTransfer,
    ];

    /// The function's (and binary's) name.
    pub fn function_name(self) -> &'static str {
        match self {
            Step::Validate => "validate",
            Step::SnapshotUsage => "snapshot-usage",
            Step::Invite => "invite",
            Step::WaitForHandshake => "wait-for-handshake",
            Step::CheckSupport => "check-support",
            Step::ScheduleHardening => "schedule-hardening",
            Step::RecordFailure => "record-failure",
            Step::ConfirmTransfer => "confirm-transfer",
        }
    }

    /// The `DefinitionSubstitutions` key of the function's ARN in the definition.
    pub fn substitution(self) -> &'static str {
        match self {
            Step::Validate => "ValidateFunctionArn",
            Step::SnapshotUsage => "SnapshotUsageFunctionArn",
            Step::Invite => "InviteFunctionArn",
            Step::WaitForHandshake => "WaitForHandshakeFunctionArn",
            Step::CheckSupport => "CheckSupportFunctionArn",
            Step::ScheduleHardening => "ScheduleHardeningFunctionArn",
            Step::RecordFailure => "RecordFailureFunctionArn",
            Step::ConfirmTransfer => "ConfirmTransferFunctionArn",
        }
    }
}

/// A step's payload, parsed: what the step will act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepCall {
    Validate(MigrationId),
    SnapshotUsage(MigrationId),
    Invite(MigrationId),
    WaitForHandshake { migration_id: MigrationId, task_token: TaskToken },
    CheckSupport(MigrationId),
    ScheduleHardening(MigrationId),
    RecordFailure { migration_id: MigrationId, error: String, cause: String },
    ConfirmTransfer(MigrationId),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WaitInput {
    migration_id: MigrationId,
    task_token: TaskToken,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FailureInput {
    migration_id: MigrationId,
    error: String,
    cause: String,
}

fn parse<T: DeserializeOwned>(payload: Value) -> Result<T, StepError> {
    serde_json::from_value(payload).map_err(|e| StepError::BadInput(e.to_string()))
}

/// Parses the payload the state machine sends `step`: an unknown field, a missing one or
/// a malformed id is [`StepError::BadInput`], and nothing is touched.
pub fn parse_step_payload(step: Step, payload: Value) -> Result<StepCall, StepError> {
    Ok(match step {
        Step::Validate => StepCall::Validate(parse::<StepInput>(payload)?.migration_id),
        Step::SnapshotUsage => StepCall::SnapshotUsage(parse::<StepInput>(payload)?.migration_id),
        Step::Invite => StepCall::Invite(parse::<StepInput>(payload)?.migration_id),
        Step::CheckSupport => StepCall::CheckSupport(parse::<StepInput>(payload)?.migration_id),
        Step::ScheduleHardening => StepCall::ScheduleHardening(parse::<StepInput>(payload)?.migration_id),
        Step::ConfirmTransfer => StepCall::ConfirmTransfer(parse::<StepInput>(payload)?.migration_id),
        Step::WaitForHandshake => {
            let WaitInput { migration_id, task_token } = parse(payload)?;
            StepCall::WaitForHandshake { migration_id, task_token }
        }
        Step::RecordFailure => {
            let FailureInput { migration_id, error, cause } = parse(payload)?;
            StepCall::RecordFailure { migration_id, error, cause }
        }
    })
}

fn to_json(value: impl serde::Serialize) -> Result<Value, StepError> {
    serde_json::to_value(value).map_err(|e| StepError::Internal(e.to_string()))
}

/// Runs one step on the payload the state machine sends.
pub async fn run_step(ports: &Ports, step: Step, payload: Value) -> Result<Value, StepError> {
    match parse_step_payload(step, payload)? {
        StepCall::Validate(id) => to_json(steps::validate(ports, id).await?),
        // What the snapshot holds (or why not), not the whole record, and when to try again.
        StepCall::SnapshotUsage(id) => to_json(steps::snapshot_usage(ports, id).await?),
        StepCall::Invite(id) => to_json(steps::invite(ports, id).await?),
        StepCall::CheckSupport(id) => to_json(steps::check_support(ports, id).await?),
        StepCall::ScheduleHardening(id) => to_json(steps::schedule_hardening(ports, id).await?),
        StepCall::ConfirmTransfer(id) => to_json(steps::confirm_transfer(ports, id).await?),
        StepCall::WaitForHandshake { migration_id, task_token } => {
            steps::wait_for_handshake(ports, migration_id, task_token).await?;
            // The state's output comes from the token, not from this answer.
            Ok(serde_json::json!({ "migration_id": migration_id, "waiting": true }))
        }
        StepCall::RecordFailure { migration_id, error, cause } => {
            to_json(steps::record_failure(ports, migration_id, &error, &cause).await?)
        }
    }
}
