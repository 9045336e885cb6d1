//! Canceling a migration through the API, by the customer or by an operator: withdraw the
//! invitation, stop the execution, release the account. Repeating it is harmless.

use tracing::{info, instrument};

use crate::error::{OrgError, StepError, StoreError};
use crate::ids::MigrationId;
use crate::ports::Ports;
use crate::record::{Actor, ChangeBuilder, Failure, HandshakeState, Migration};
use crate::rules::{self, Caller, Violation};
use crate::status::Status;
use crate::steps::load;

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

/// The customer's cancel: an administrator of the migration's organization.
#[instrument(skip(ports, caller), fields(migration_id = %id))]
pub async fn cancel_migration(ports: &Ports, caller: &Caller, id: MigrationId) -> Result<Migration, CancelError> {
    rules::check_administrator(caller).map_err(CancelError::Forbidden)?;
    let record = match load(ports, id).await {
        Ok(r) if r.org_id == caller.org => r,
        Ok(_) | Err(StepError::NotFound(_)) => return Err(CancelError::NotFound),
        Err(e) => return Err(CancelError::Step(e)),
    };
    cancel(ports, record, Actor::User(caller.user.clone()), format!("canceled by {}", caller.user)).await
}

/// An operator's cancel (`POST /admin/migrations/{id}/cancel`): the same effect as the
/// customer's, on any organization's migration, recorded as the operator's.
#[instrument(skip(ports, operator), fields(migration_id = %id))]
pub async fn cancel_as_operator(ports: &Ports, operator: &str, id: MigrationId) -> Result<Migration, CancelError> {
    let record = match load(ports, id).await {
        Ok(r) => r,
        Err(StepError::NotFound(_)) => return Err(CancelError::NotFound),
        Err(e) => return Err(CancelError::Step(e)),
    };
    // The customer sees "canceled by an operator"; the principal is in the actor, which
    // only the operator view shows.
    cancel(ports, record, Actor::Operator(operator.to_owned()), "canceled by a CenturyLink operator".to_owned()).await
}

async fn cancel(ports: &Ports, record: Migration, actor: Actor, cause: String) -> Result<Migration, CancelError> {
    let id = record.id;
    match record.status {
        Status::Canceled => return Ok(record),
        Status::Requested | Status::Validated | Status::Invited | Status::TransferInvited => {}
        s => return Err(CancelError::NotCancellable(s)),
    }

    if let Some(handshake) = invitation(&record) {
        withdraw(ports, &record, &handshake).await?;
    }
    ports.executions.stop(id, crate::error::names::CANCELED, &cause).await.map_err(|e| CancelError::Step(e.into()))?;

    let now = ports.clock.now();
    // The invite step may be sending an invitation right now: a record that gained a
    // handshake since it was read is not marked canceled before that invitation is withdrawn
    // at AWS too. (An invite that loses this race withdraws its own invitation.)
    let mut withdrawn = invitation(&record);
    let mut attempts = 0;
    let record = loop {
        let current = load(ports, id).await.map_err(CancelError::Step)?;
        if let Some(h) = invitation(&current).filter(|h| Some(h) != withdrawn.as_ref()) {
            withdraw(ports, &current, &h).await?;
            withdrawn = Some(h);
        }
        match mark_canceled(ports, &current, &actor, &cause, now).await? {
            Some(record) => break record,
            None if attempts < 4 => attempts += 1,
            None => return Err(CancelError::Step(StoreError::VersionConflict(id).into())),
        }
    };
    info!("migration canceled");
    Ok(record)
}

/// The migration's invitation, of either kind.
fn invitation(record: &Migration) -> Option<crate::ids::HandshakeId> {
    match &record.billing_transfer {
        Some(bt) => bt.handshake.as_ref().map(|h| h.id.clone()),
        None => record.handshake.as_ref().map(|h| h.id.clone()),
    }
}

/// Withdraws the invitation at AWS. An accepted one cannot be: the account is in (or the
/// partner pays its bill from the start month: that is ended by terminating the transfer).
async fn withdraw(ports: &Ports, record: &Migration, handshake: &crate::ids::HandshakeId) -> Result<(), CancelError> {
    if let Some(bt) = &record.billing_transfer {
        match ports.transfers.cancel_invitation(handshake).await {
            Ok(()) | Err(crate::transfer::TransferError::NotFound) => {}
            Err(e) => return Err(CancelError::Step(e.into())),
        }
        if let Some(id) = &bt.transfer_id {
            let transfer = ports.transfers.describe(id).await.map_err(|e| CancelError::Step(e.into()))?;
            if transfer.status == crate::transfer::TransferStatus::Accepted {
                return Err(CancelError::NotCancellable(Status::TransferAccepted));
            }
        }
        return Ok(());
    }
    let state = match ports.orgs.cancel_handshake(handshake, &record.aws_account_id).await {
        Ok(h) => h.state,
        Err(OrgError::HandshakeNotFound) => HandshakeState::Canceled,
        Err(e) => return Err(CancelError::Step(e.into())),
    };
    if state == HandshakeState::Accepted {
        // The customer accepted first: the account is in; the watcher records it.
        return Err(CancelError::NotCancellable(Status::Joined));
    }
    Ok(())
}

/// Writes CANCELED over exactly `current`; `None` when another write got there first, and the
/// caller reads again (the record may have gained an invitation to withdraw first).
async fn mark_canceled(
    ports: &Ports,
    current: &Migration,
    actor: &Actor,
    cause: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<Migration>, CancelError> {
    if current.status == Status::Canceled {
        return Ok(Some(current.clone()));
    }
    let mut change = ChangeBuilder::new(current, actor.clone(), now)
        .transition(Status::Canceled, cause)
        .map_err(|e| CancelError::NotCancellable(e.from))?;
    let r = change.record();
    if let Some(h) = r.handshake.as_mut() {
        h.state = HandshakeState::Canceled;
    }
    if let Some(h) = r.billing_transfer.as_mut().and_then(|bt| bt.handshake.as_mut()) {
        h.state = HandshakeState::Canceled;
    }
    r.task_token = None;
    r.due_at = None;
    r.failure = Some(Failure {
        error: crate::error::names::CANCELED.to_owned(),
        cause: cause.to_owned(),
        remediation: "The migration was canceled. Start a new one when ready.".to_owned(),
        at: now,
        violations: Vec::new(),
    });
    let change = change.build();
    match ports.store.update(&change).await {
        Ok(()) => Ok(Some(change.record)),
        Err(StoreError::VersionConflict(_)) => Ok(None),
        Err(e) => Err(CancelError::Step(e.into())),
    }
}
