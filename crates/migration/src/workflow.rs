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
    Invite,
    WaitForHandshake,
    CheckSupport,
    ScheduleHardening,
    RecordFailure,
}

impl Step {
    pub const ALL: [Step; 6] =
        [Step::Validate, Step::Invite, Step::WaitForHandshake, Step::CheckSupport, Step::ScheduleHardening, Step::RecordFailure];

    /// The function's (and binary's) name.
    pub fn function_name(self) -> &'static str {
        match self {
            Step::Validate => "validate",
            Step::Invite => "invite",
            Step::WaitForHandshake => "wait-for-handshake",
            Step::CheckSupport => "check-support",
            Step::ScheduleHardening => "schedule-hardening",
            Step::RecordFailure => "record-failure",
        }
    }

    /// The `DefinitionSubstitutions` key of the function's ARN in the definition.
    pub fn substitution(self) -> &'static str {
        match self {
            Step::Validate => "ValidateFunctionArn",
            Step::Invite => "InviteFunctionArn",
            Step::WaitForHandshake => "WaitForHandshakeFunctionArn",
            Step::CheckSupport => "CheckSupportFunctionArn",
            Step::ScheduleHardening => "ScheduleHardeningFunctionArn",
            Step::RecordFailure => "RecordFailureFunctionArn",
        }
    }
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

fn to_json(value: impl serde::Serialize) -> Result<Value, StepError> {
    serde_json::to_value(value).map_err(|e| StepError::Internal(e.to_string()))
}

/// Runs one step on the payload the state machine sends.
pub async fn run_step(ports: &Ports, step: Step, payload: Value) -> Result<Value, StepError> {
    match step {
        Step::Validate => to_json(steps::validate(ports, parse::<StepInput>(payload)?.migration_id).await?),
        Step::Invite => to_json(steps::invite(ports, parse::<StepInput>(payload)?.migration_id).await?),
        Step::WaitForHandshake => {
            let input: WaitInput = parse(payload)?;
            steps::wait_for_handshake(ports, input.migration_id, input.task_token).await?;
            // The state's output comes from the token, not from this answer.
            Ok(serde_json::json!({ "migration_id": input.migration_id, "waiting": true }))
        }
        Step::CheckSupport => to_json(steps::check_support(ports, parse::<StepInput>(payload)?.migration_id).await?),
        Step::ScheduleHardening => to_json(steps::schedule_hardening(ports, parse::<StepInput>(payload)?.migration_id).await?),
        Step::RecordFailure => {
            let input: FailureInput = parse(payload)?;
            to_json(steps::record_failure(ports, input.migration_id, &input.error, &input.cause).await?)
        }
    }
}
