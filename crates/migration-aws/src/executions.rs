//! Step Functions: one Standard execution per migration, named after it, and the task
//! tokens of the handshake wait.

use async_trait::async_trait;
use aws_sdk_sfn::Client;
use aws_sdk_sfn::config::http::HttpResponse;
use aws_sdk_sfn::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sfn::operation::describe_execution::DescribeExecutionError;
use aws_sdk_sfn::operation::send_task_failure::SendTaskFailureError;
use aws_sdk_sfn::operation::send_task_success::SendTaskSuccessError;
use aws_sdk_sfn::operation::start_execution::StartExecutionError;
use aws_sdk_sfn::operation::stop_execution::StopExecutionError;
use aws_sdk_sfn::types::ExecutionStatus;
use migration::error::ExecutionError;
use migration::ports::{ExecutionState, ExecutionStatus as DomainStatus, Executions, TokenDelivery};
use migration::{MigrationId, TaskToken};
use tracing::{info, instrument};

use crate::errors::{error_code, error_message, is_transient};

/// Step Functions limits on `error` and `cause`.
const MAX_ERROR_CHARS: usize = 256;
const MAX_CAUSE_CHARS: usize = 32_768;

/// The AWS adapter of [`Executions`].
#[derive(Clone, Debug)]
pub struct StepFunctionsExecutions {
    client: Client,
    state_machine_arn: String,
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

fn execution_error<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> ExecutionError {
    let message = error_message(err);
    let limited = matches!(error_code(err), Some("ExecutionLimitExceeded" | "KmsThrottlingException"));
    if limited || is_transient(err) { ExecutionError::Retryable(message) } else { ExecutionError::Other(message) }
}

/// What a refused token delivery means: the task already finished (`TaskTimedOut`,
/// `TaskDoesNotExist`) or something else.
fn token_outcome<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>, resolved: bool) -> Result<TokenDelivery, ExecutionError> {
    if resolved {
        info!(code = error_code(err), "the task token was already resolved");
        return Ok(TokenDelivery::AlreadyResolved);
    }
    Err(execution_error(err))
}

impl StepFunctionsExecutions {
    pub fn new(client: Client, state_machine_arn: impl Into<String>) -> Self {
        Self { client, state_machine_arn: state_machine_arn.into() }
    }

    /// `arn:aws:states:<region>:<account>:execution:<state machine>:<migration id>`.
    fn arn_of(&self, migration: MigrationId) -> String {
        migration::ports::execution_arn(&self.state_machine_arn, migration)
    }

    async fn describe_raw(
        &self,
        migration: MigrationId,
    ) -> Result<aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput, ExecutionError> {
        self.client.describe_execution().execution_arn(self.arn_of(migration)).send().await.map_err(|e| execution_error(&e))
    }
}

#[async_trait]
impl Executions for StepFunctionsExecutions {
    #[instrument(skip(self, input), fields(migration_id = %migration))]
    async fn start(&self, migration: MigrationId, input: serde_json::Value) -> Result<(), ExecutionError> {
        let result = self
            .client
            .start_execution()
            .state_machine_arn(&self.state_machine_arn)
            .name(migration.to_string())
            .input(input.to_string())
            .send()
            .await;
        match result {
            Ok(_) => {
                info!("execution started");
                Ok(())
            }
            // Returned for a running execution with another input, and for an ended one
            // whatever the input; a running one with the same input is a plain success.
            Err(err) if matches!(err.as_service_error(), Some(StartExecutionError::ExecutionAlreadyExists(_))) => {
                let existing = self.describe_raw(migration).await?;
                if *existing.status() != ExecutionStatus::Running {
                    return Err(ExecutionError::Ended(existing.status().as_str().to_owned()));
                }
                let same = existing.input().and_then(|i| serde_json::from_str::<serde_json::Value>(i).ok()).is_some_and(|i| i == input);
                if same {
                    info!("the execution was already started with the same input");
                    Ok(())
                } else {
                    Err(ExecutionError::NameTaken(migration.to_string()))
                }
            }
            Err(err) => Err(execution_error(&err)),
        }
    }

    #[instrument(skip(self, cause), fields(migration_id = %migration))]
    async fn stop(&self, migration: MigrationId, error: &str, cause: &str) -> Result<(), ExecutionError> {
        let result = self
            .client
            .stop_execution()
            .execution_arn(self.arn_of(migration))
            .error(truncate(error, MAX_ERROR_CHARS))
            .cause(truncate(cause, MAX_CAUSE_CHARS))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if matches!(err.as_service_error(), Some(StopExecutionError::ExecutionDoesNotExist(_))) => Ok(()),
            Err(err) if is_transient(&err) => Err(execution_error(&err)),
            Err(err) => {
                // A finished execution cannot be stopped, and need not be.
                let status = self.describe_raw(migration).await?.status().clone();
                if status == ExecutionStatus::Running { Err(execution_error(&err)) } else { Ok(()) }
            }
        }
    }

    #[instrument(skip(self, token, output))]
    async fn send_task_success(&self, token: &TaskToken, output: serde_json::Value) -> Result<TokenDelivery, ExecutionError> {
        match self.client.send_task_success().task_token(token.expose()).output(output.to_string()).send().await {
            Ok(_) => Ok(TokenDelivery::Delivered),
            Err(err) => {
                let resolved = matches!(
                    err.as_service_error(),
                    Some(SendTaskSuccessError::TaskTimedOut(_) | SendTaskSuccessError::TaskDoesNotExist(_))
                );
                token_outcome(&err, resolved)
            }
        }
    }

    #[instrument(skip(self, token, cause))]
    async fn send_task_failure(&self, token: &TaskToken, error: &str, cause: &str) -> Result<TokenDelivery, ExecutionError> {
        let result = self
            .client
            .send_task_failure()
            .task_token(token.expose())
            .error(truncate(error, MAX_ERROR_CHARS))
            .cause(truncate(cause, MAX_CAUSE_CHARS))
            .send()
            .await;
        match result {
            Ok(_) => Ok(TokenDelivery::Delivered),
            Err(err) => {
                let resolved = matches!(
                    err.as_service_error(),
                    Some(SendTaskFailureError::TaskTimedOut(_) | SendTaskFailureError::TaskDoesNotExist(_))
                );
                token_outcome(&err, resolved)
            }
        }
    }

    fn execution_arn(&self, migration: MigrationId) -> Option<String> {
        Some(self.arn_of(migration))
    }

    /// `DescribeExecution`; `ExecutionDoesNotExist` is `None`. The KMS errors (a state
    /// machine encrypted with a customer key the caller may not use) are failures to
    /// report, `KmsThrottlingException` a retryable one.
    #[instrument(skip(self), fields(migration_id = %migration))]
    async fn describe(&self, migration: MigrationId) -> Result<Option<ExecutionState>, ExecutionError> {
        let out = match self.client.describe_execution().execution_arn(self.arn_of(migration)).send().await {
            Ok(out) => out,
            Err(err) if matches!(err.as_service_error(), Some(DescribeExecutionError::ExecutionDoesNotExist(_))) => return Ok(None),
            Err(err) => return Err(execution_error(&err)),
        };
        let status = match out.status() {
            ExecutionStatus::Running => DomainStatus::Running,
            ExecutionStatus::Succeeded => DomainStatus::Succeeded,
            ExecutionStatus::Failed => DomainStatus::Failed,
            ExecutionStatus::TimedOut => DomainStatus::TimedOut,
            ExecutionStatus::Aborted => DomainStatus::Aborted,
            ExecutionStatus::PendingRedrive => DomainStatus::PendingRedrive,
            other => return Err(ExecutionError::Other(format!("DescribeExecution answered an unknown status {}", other.as_str()))),
        };
        Ok(Some(ExecutionState {
            status,
            started_at: time(out.start_date()),
            stopped_at: out.stop_date().map(time),
            error: out.error().map(str::to_owned),
            cause: out.cause().map(str::to_owned),
        }))
    }
}

fn time(t: &aws_sdk_sfn::primitives::DateTime) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos()).unwrap_or_default()
}
