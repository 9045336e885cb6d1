//! Error types of the crate.
//!
//! Two families exist:
//! - [`LoadError`]: the definition is refused when loaded (nothing is silently ignored);
//! - [`StartError`] / [`TokenError`]: API misuse at run time (duplicate execution name,
//!   unknown task token...).
//!
//! Errors *inside* an execution (task failures, `States.*` errors) are not Rust errors:
//! they are part of the [`crate::Outcome`] of the execution, as in AWS.

use thiserror::Error;

/// Where a definition problem was found: `"<top level>"` or the state's name.
pub(crate) const TOP: &str = "<top level>";

/// The definition was refused by [`crate::Definition::load`].
///
/// Every variant names the state (or `<top level>`) and the field at fault.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum LoadError {
    /// The definition text (after substitution) is not JSON.
    #[error("definition is not valid JSON: {0}")]
    InvalidJson(String),
    /// A `${Name}` placeholder has no value in the substitutions.
    #[error("definition substitution placeholder `${{{name}}}` has no value")]
    UnresolvedSubstitution {
        /// The placeholder name, without `${` `}`.
        name: String,
    },
    /// A mandatory field is absent.
    #[error("{state}: missing required field `{field}`")]
    MissingField {
        /// State name or `<top level>`.
        state: String,
        /// Field name.
        field: String,
    },
    /// A field the executor does not know (or that is not valid for this state type).
    #[error("{state}: unknown or unsupported field `{field}`")]
    UnknownField {
        /// State name or `<top level>`.
        state: String,
        /// Field name.
        field: String,
    },
    /// A field has an invalid value.
    #[error("{state}: invalid field `{field}`: {reason}")]
    InvalidField {
        /// State name or `<top level>`.
        state: String,
        /// Field name.
        field: String,
        /// Human-readable reason.
        reason: String,
    },
    /// A valid Amazon States Language feature this executor deliberately does not implement.
    #[error("{state}: `{field}` is not supported by this executor: {what}")]
    Unsupported {
        /// State name or `<top level>`.
        state: String,
        /// Field name.
        field: String,
        /// What is unsupported.
        what: String,
    },
    /// A `Next`, `Default` or `StartAt` names a state that does not exist.
    #[error("{state}: field `{field}` refers to missing state `{target}`")]
    DanglingReference {
        /// State name or `<top level>`.
        state: String,
        /// Field name.
        field: String,
        /// The missing state's name.
        target: String,
    },
}

impl LoadError {
    pub(crate) fn invalid(state: &str, field: &str, reason: impl Into<String>) -> Self {
        LoadError::InvalidField { state: state.to_string(), field: field.to_string(), reason: reason.into() }
    }
    pub(crate) fn unsupported(state: &str, field: &str, what: impl Into<String>) -> Self {
        LoadError::Unsupported { state: state.to_string(), field: field.to_string(), what: what.into() }
    }
    pub(crate) fn missing(state: &str, field: &str) -> Self {
        LoadError::MissingField { state: state.to_string(), field: field.to_string() }
    }
}

/// `Executor::start` was refused.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum StartError {
    /// An execution with this name has ended, or runs with a different input (AWS
    /// `ExecutionAlreadyExists`).
    #[error("ExecutionAlreadyExists: execution `{0}` already exists (ended, or with a different input)")]
    ExecutionAlreadyExists(String),
    /// The execution name is empty, longer than 80 characters, or has forbidden characters.
    #[error("InvalidName: {0}")]
    InvalidName(String),
    /// The input is larger than 256 KiB (AWS `InvalidExecutionInput`).
    #[error("InvalidExecutionInput: {0}")]
    InvalidExecutionInput(String),
}

/// `send_task_success` / `send_task_failure` / `send_task_heartbeat` was refused.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum TokenError {
    /// The token was never issued by this executor (AWS `InvalidToken`).
    #[error("InvalidToken: task token `{0}` is unknown")]
    InvalidToken(String),
    /// The task of this token already completed, failed or timed out, or its execution ended
    /// (AWS `TaskTimedOut` / `TaskDoesNotExist`).
    #[error("TaskDoesNotExist: the task of token `{0}` is no longer waiting")]
    TaskClosed(String),
    /// The output is larger than 256 KiB.
    #[error("InvalidOutput: {0}")]
    InvalidOutput(String),
}

/// Reserved error names of the Amazon States Language.
pub mod names {
    /// Wildcard matching every error name except the terminal ones.
    pub const ALL: &str = "States.ALL";
    /// A task ran longer than `TimeoutSeconds`.
    pub const TIMEOUT: &str = "States.Timeout";
    /// A task sent no heartbeat for longer than `HeartbeatSeconds`.
    pub const HEARTBEAT_TIMEOUT: &str = "States.HeartbeatTimeout";
    /// Wildcard matching every error except timeouts; also the default task error.
    pub const TASK_FAILED: &str = "States.TaskFailed";
    /// Terminal, never retried or caught: bad paths in InputPath/OutputPath, Choice, Wait...
    pub const RUNTIME: &str = "States.Runtime";
    /// Terminal: a payload is larger than 256 KiB.
    pub const DATA_LIMIT_EXCEEDED: &str = "States.DataLimitExceeded";
    /// `ResultPath` cannot be applied to the state input.
    pub const RESULT_PATH_MATCH_FAILURE: &str = "States.ResultPathMatchFailure";
    /// A `.$` field of `Parameters`/`ResultSelector` selects nothing.
    pub const PARAMETER_PATH_FAILURE: &str = "States.ParameterPathFailure";
    /// No Choice rule matched and there is no `Default`.
    pub const NO_CHOICE_MATCHED: &str = "States.NoChoiceMatched";
    /// An intrinsic function failed.
    pub const INTRINSIC_FAILURE: &str = "States.IntrinsicFailure";
}

/// An error raised inside an execution: a name and a cause, as in AWS.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Failure {
    pub error: String,
    pub cause: String,
}

impl Failure {
    pub(crate) fn new(error: &str, cause: impl Into<String>) -> Self {
        Failure { error: error.to_string(), cause: cause.into() }
    }
    /// Terminal errors are never given to Retry or Catch.
    pub(crate) fn is_terminal(&self) -> bool {
        self.error == names::RUNTIME || self.error == names::DATA_LIMIT_EXCEEDED
    }
}
