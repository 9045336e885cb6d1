//! Canceling a migration through the API: withdraw the invitation, stop the execution,
//! release the account. Repeating it is harmless.

use tracing::{info, instrument};

use crate::error::{OrgError, StepError};
use crate::ids::MigrationId;
use crate::ports::Ports;
use crate::record::{ChangeBuilder, Failure, HandshakeState, Migration};
use crate::rules::{self, Caller, Violation};
use crate::status::Status;
use crate::steps::{load, update_with_retry};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CancelError {
    #[error("{}", .0.message)]
    Forbidden(Violation),
    /// Missing, or another organization's: indistinguishable on purpose.
    #[error("migration not found")]
    NotFound,
    /// The account joined (or the migration ended): there is nothing to cancel.
    #[error("the migration is {0} and can no longer be canceled")]
    NotCancellable(Status),
    #[error(transparent)]
    Step(StepError),
}

#[instrument(skip(ports, caller), fields(migration_id = %id))]
pub async fn cancel_migration(ports: &Ports, caller: &Caller, id: MigrationId) -> Result<Migration, CancelError> {
    rules::check_administrator(caller).map_err(CancelError::Forbidden)?;
    let record = match load(ports, id).await {
        Ok(r) if r.org_id == caller.org => r,
        Ok(_) | Err(StepError::NotFound(_)) => return Err(CancelError::NotFound),
        Err(e) => return Err(CancelError::Step(e)),
    };
    match record.status {
        Status::Canceled => return Ok(record),
        Status::Requested | Status::Validated | Status::Invited => {}
        s => return Err(CancelError::NotCancellable(s)),
    }

    if let Some(handshake) = &record.handshake {
        let state = match ports.orgs.cancel_handshake(&handshake.id, &record.aws_account_id).await {
            Ok(h) => h.state,
            Err(OrgError::HandshakeNotFound) => HandshakeState::Canceled,
            Err(e) => return Err(CancelError::Step(e.into())),
        };
        if state == HandshakeState::Accepted {
            // The customer accepted first: the account is in; the watcher records it.
            return Err(CancelError::NotCancellable(Status::Joined));
        }
    }
    let cause = format!("canceled by {}", caller.user);
    ports.executions.stop(id, crate::error::names::CANCELED, &cause).await.map_err(|e| CancelError::Step(e.into()))?;

    let now = ports.clock.now();
    let record = update_with_retry(ports, id, |current| {
        if current.status == Status::Canceled {
            return Ok(None);
        }
        let mut change = ChangeBuilder::new(current, crate::record::Actor::User(caller.user.clone()), now)
            .transition(Status::Canceled, cause.clone())?;
        let r = change.record();
        if let Some(h) = r.handshake.as_mut() {
            h.state = HandshakeState::Canceled;
        }
        r.task_token = None;
        r.due_at = None;
        r.failure = Some(Failure {
            error: crate::error::names::CANCELED.to_owned(),
            cause: cause.clone(),
            remediation: "The migration was canceled. Start a new one when ready.".to_owned(),
            at: now,
            violations: Vec::new(),
        });
        Ok(Some(change.build()))
    })
    .await
    .map_err(|e| match e {
        StepError::WrongStatus { actual } => CancelError::NotCancellable(actual),
        e => CancelError::Step(e),
    })?;
    info!("migration canceled");
    Ok(record)
}
