//! The wait-for-handshake step (`.waitForTaskToken`): stores the token so the watcher can
//! resolve it, and resolves it at once when the outcome is already known.

use serde_json::json;
use tracing::{info, instrument};

use crate::error::StepError;
use crate::ids::{MigrationId, TaskToken};
use crate::ports::Ports;
use crate::record::{ChangeBuilder, Migration};
use crate::status::Status;
use crate::steps::{resolve_handshake, system, update_with_retry};

#[instrument(skip(ports, token), fields(migration_id = %id))]
pub async fn wait_for_handshake(ports: &Ports, id: MigrationId, token: TaskToken) -> Result<(), StepError> {
    if crate::steps::load(ports, id).await?.kind == crate::transfer::MigrationKind::BillingTransfer {
        return crate::steps::transfer::wait_for_transfer(ports, id, token).await;
    }
    let now = ports.clock.now();
    let record = update_with_retry(ports, id, |current| match current.status {
        Status::Invited if current.task_token.as_ref() == Some(&token) => Ok(None),
        Status::Invited => {
            let mut change = ChangeBuilder::new(current, system("wait-for-handshake"), now);
            change.record().task_token = Some(token.clone());
            // Due now: the watcher's next sweep looks at it even if no event comes.
            change.record().due_at = Some(now);
            Ok(Some(change.build()))
        }
        Status::Canceled => Err(StepError::Canceled),
        s if s.has_joined() => Ok(None),
        actual => Err(StepError::WrongStatus { actual }),
    })
    .await?;

    if record.status.has_joined() {
        // Accepted before the execution got here: answer our own token.
        let output = json!({ "migration_id": record.id, "joined_at": record.joined_at });
        ports.executions.send_task_success(&token, output).await?;
        info!("the account had already joined");
        return Ok(());
    }
    check_now(ports, &record).await
}

/// The handshake may have been decided while no one listened.
async fn check_now(ports: &Ports, record: &Migration) -> Result<(), StepError> {
    let Some(handshake) = &record.handshake else { return Ok(()) };
    let current = ports.orgs.describe_handshake(&handshake.id, &record.aws_account_id).await?;
    if current.state.is_decided() {
        resolve_handshake(ports, record.id, current.state, "wait-for-handshake").await?;
    }
    Ok(())
}
