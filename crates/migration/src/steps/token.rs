//! Handing a decision to the execution that waits on a migration's task token, then
//! forgetting the token: one way for both kinds (the invitation to join and the billing
//! transfer), whoever decided (the event, the watcher's sweep, the API).

use tracing::info;

use crate::error::StepError;
use crate::ports::{Ports, TokenDelivery};
use crate::record::{ChangeBuilder, Migration};
use crate::steps::{system, update_with_retry};

/// What the waiting execution is told.
pub(crate) enum Decision {
    /// `SendTaskSuccess` with this output.
    Success(serde_json::Value),
    /// `SendTaskFailure` with the error's name and cause, for the definition's Catch.
    Failure(StepError),
    /// Nothing waits any more (the migration was canceled and its execution stopped): the
    /// token is only forgotten.
    Forget,
}

/// Sends `decision` on the record's token, if it holds one, then forgets the token. A token
/// the execution no longer waits on (resolved already, or its execution ended) is forgotten
/// too. The due time goes with it unless a hardening job is queued: the execution resumes
/// the moment the token is delivered and may already have scheduled the job, whose due time
/// must survive.
pub(crate) async fn deliver(ports: &Ports, record: Migration, decision: Decision, actor: &str) -> Result<Migration, StepError> {
    let Some(token) = record.task_token.clone() else { return Ok(record) };
    let delivery = match decision {
        Decision::Success(output) => Some(ports.executions.send_task_success(&token, output).await?),
        Decision::Failure(error) => Some(ports.executions.send_task_failure(&token, error.name(), &error.cause()).await?),
        Decision::Forget => None,
    };
    if delivery == Some(TokenDelivery::AlreadyResolved) {
        info!("the execution no longer waits on this token");
    }
    let now = ports.clock.now();
    update_with_retry(ports, record.id, |current| {
        if current.task_token.is_none() {
            return Ok(None);
        }
        let mut change = ChangeBuilder::new(current, system(actor), now);
        change.record().task_token = None;
        if current.hardening.is_none() {
            change.record().due_at = None;
        }
        Ok(Some(change.build()))
    })
    .await
}
