//! The billing-transfer kind's steps: the invitation, its resolution (by the watcher's sweep,
//! since AWS sends no event for a transfer's changes: polling is the source of truth), the
//! confirmation at the start, and the partner's end of the transfer.

use chrono::{DateTime, Utc};
use serde_json::json;
use tracing::{info, instrument, warn};

use crate::error::{StepError, StoreError};
use crate::ids::MigrationId;
use crate::ports::Ports;
use crate::record::{Actor, ChangeBuilder, HandshakeState, Migration};
use crate::rules::Caller;
use crate::status::Status;
use crate::steps::invitation::InviteOutput;
use crate::steps::token::{self, Decision};
use crate::steps::{commit, load, system, update_with_retry};
use crate::transfer::{
    BillingGroupSpec, BillingMonth, BillingTransferState, MonthError, ResponsibilityTransfer, TransferError, TransferInvitation,
    TransferStatus,
};

/// The `SourceName` of every invitation: what the customer's Billing console shows.
pub const SOURCE_NAME: &str = "CenturyLink Cloud Application Manager";

fn state(record: &Migration) -> Result<&BillingTransferState, StepError> {
    record.billing_transfer.as_ref().ok_or_else(|| StepError::Internal(format!("migration {} has no billing transfer", record.id)))
}

pub(crate) fn output(record: &Migration) -> InviteOutput {
    InviteOutput {
        migration_id: record.id,
        already_member: false,
        handshake_id: record.billing_transfer.as_ref().and_then(|t| t.handshake.as_ref()).map(|h| h.id.clone()),
        expires_at: record.billing_transfer.as_ref().and_then(|t| t.handshake.as_ref()).map(|h| h.expires_at),
        deferred_until: None,
        kind: record.kind,
        start_at: record.billing_transfer.as_ref().map(BillingTransferState::start_at),
    }
}

/// The invite step of a billing transfer: one invitation per migration, reused on a retry,
/// for the month the request named, or the earliest the customer can still accept in time.
pub(crate) async fn invite_transfer(ports: &Ports, record: Migration) -> Result<InviteOutput, StepError> {
    match record.status {
        Status::Validated => {}
        Status::Canceled => return Err(StepError::Canceled),
        Status::TransferInvited => return Ok(output(&record)),
        s if s.transfer_accepted() => return Ok(output(&record)),
        actual => return Err(StepError::WrongStatus { actual }),
    }
    let now = ports.clock.now();
    let bt = state(&record)?.clone();
    // A month the request left to the system is the earliest one at the time of sending (the
    // validation may have waited); a named month that has become too soon is refused.
    let start_month = match bt.requested_month {
        Some(month) => month.check(now).map_err(|e: MonthError| {
            StepError::NotEligible(vec![crate::rules::Violation::on_field(
                crate::rules::ViolationCode::StartMonthTooEarly,
                "start_month",
                e.message,
            )])
        })?,
        None => BillingMonth::earliest(now),
    };
    let invitation = TransferInvitation {
        account: record.aws_account_id.clone(),
        start_at: start_month.start(),
        source_name: SOURCE_NAME.to_owned(),
        notes: format!(
            "CenturyLink takes over the consolidated bill of your organization from {}. Migration {}.",
            start_month.start().format("%B %-d, %Y"),
            record.id
        ),
        migration: record.id,
    };
    let sent = ports.transfers.invite(&invitation).await?;
    // The start AWS has: an invitation a retry found open may name an earlier month than
    // this attempt computed (the default month moves on eight days before a month starts).
    let start_month = BillingMonth::containing(sent.transfer.start_at);
    if sent.transfer.start_at != invitation.start_at {
        warn!(start_at = %sent.transfer.start_at.to_rfc3339(), "the open invitation found starts in another month than computed");
    }
    let note = format!(
        "billing transfer {} invited to start {}; the customer's management account accepts by {}",
        sent.transfer.id,
        sent.transfer.start_at.to_rfc3339(),
        start_month.accept_by().to_rfc3339()
    );
    let mut change = ChangeBuilder::new(&record, system("invite"), now).transition(Status::TransferInvited, note)?;
    let r = change.record();
    let bt = r.billing_transfer.as_mut().expect("checked above");
    bt.start_month = start_month;
    bt.handshake = Some(sent.handshake.clone());
    bt.transfer_id = Some(sent.transfer.id.clone());
    bt.transfer_arn = Some(sent.transfer.arn.clone());
    bt.transfer_status = Some(sent.transfer.status);
    r.due_at = Some(now + ports.settings.handshake_poll_interval);
    let change = change.build();
    match ports.store.update(&change).await {
        Ok(()) => {}
        Err(StoreError::VersionConflict(_)) => {
            // Canceled meanwhile: withdraw what was just sent, as the join kind does.
            let current = load(ports, record.id).await?;
            if current.status == Status::Canceled {
                ports.transfers.cancel_invitation(&sent.handshake.id).await?;
                return Err(StepError::Canceled);
            }
            return Err(StepError::Transient(format!("migration {} changed while the transfer was invited", record.id)));
        }
        Err(e) => return Err(e.into()),
    }
    info!(transfer_id = %sent.transfer.id, start_at = %sent.transfer.start_at.to_rfc3339(), "billing transfer invited");
    Ok(output(&change.record))
}

/// The error the waiting execution gets for a transfer that will not go ahead.
fn ended(transfer: &ResponsibilityTransfer, record: &Migration) -> Option<StepError> {
    Some(match transfer.status {
        TransferStatus::Declined => StepError::TransferDeclined,
        TransferStatus::Expired => StepError::TransferExpired,
        TransferStatus::Canceled => StepError::TransferCanceled,
        TransferStatus::Withdrawn if !record.status.transfer_accepted() => StepError::TransferWithdrawn,
        _ => return None,
    })
}

/// Acts on what AWS says of the transfer now: records an acceptance, tells the waiting
/// execution the outcome, withdraws an invitation nobody accepted in time. Safe to run any
/// number of times, from the sweep or the wait step.
#[instrument(skip(ports, transfer), fields(migration_id = %id))]
pub async fn resolve_transfer(
    ports: &Ports,
    id: MigrationId,
    transfer: &ResponsibilityTransfer,
    actor: &str,
) -> Result<Migration, StepError> {
    let now = ports.clock.now();
    let record = load(ports, id).await?;
    let accept_by = state(&record)?.accept_by();
    // AWS documents no expiry for an unanswered invitation other than the 24-hour rule: one
    // still REQUESTED past it can no longer be accepted, and is withdrawn here.
    let missed = transfer.status == TransferStatus::Requested && now > accept_by;
    if missed {
        if let Some(h) = state(&record)?.handshake.as_ref() {
            ports.transfers.cancel_invitation(&h.id).await?;
        }
        warn!(accept_by = %accept_by.to_rfc3339(), "nobody accepted the billing transfer in time; the invitation is withdrawn");
    }
    let record = update_with_retry(ports, id, |current| {
        let Some(bt) = current.billing_transfer.as_ref() else { return Ok(None) };
        let accepts = current.status == Status::TransferInvited && transfer.status == TransferStatus::Accepted;
        if !accepts && bt.transfer_status == Some(transfer.status) && !(missed && current.due_at.is_some()) {
            return Ok(None);
        }
        let mut change = ChangeBuilder::new(current, system(actor), now);
        if accepts {
            change = change.transition(
                Status::TransferAccepted,
                format!("the customer accepted the billing transfer; the partner pays the bill from {}", transfer.start_at.to_rfc3339()),
            )?;
        } else if bt.transfer_status != Some(transfer.status) && !current.status.is_terminal() {
            change = change.progress(format!("the billing transfer is {}", transfer.status.as_str()));
        }
        let r = change.record();
        let bt = r.billing_transfer.as_mut().expect("checked above");
        bt.transfer_status = Some(transfer.status);
        bt.billing_ends_at = transfer.end_at;
        if let Some(h) = bt.handshake.as_mut() {
            h.state = match transfer.status {
                TransferStatus::Requested if missed => HandshakeState::Canceled,
                TransferStatus::Requested => h.state,
                TransferStatus::Accepted | TransferStatus::Withdrawn => HandshakeState::Accepted,
                TransferStatus::Declined => HandshakeState::Declined,
                TransferStatus::Canceled => HandshakeState::Canceled,
                TransferStatus::Expired => HandshakeState::Expired,
            };
        }
        if missed {
            r.due_at = None;
        }
        Ok(Some(change.build()))
    })
    .await?;
    deliver(ports, record, transfer, missed.then_some(accept_by), actor).await
}

/// Sends the outcome to the waiting execution, then forgets the token; a transfer still
/// undecided leaves both as they are.
async fn deliver(
    ports: &Ports,
    record: Migration,
    transfer: &ResponsibilityTransfer,
    missed: Option<DateTime<Utc>>,
    actor: &str,
) -> Result<Migration, StepError> {
    if record.task_token.is_none() {
        return Ok(record);
    }
    let decision = if record.status.transfer_accepted() {
        let start_at = record.billing_transfer.as_ref().map(BillingTransferState::start_at);
        Decision::Success(json!({ "migration_id": record.id, "start_at": start_at }))
    } else if record.status.is_terminal() {
        Decision::Forget
    } else {
        match missed {
            Some(accept_by) => Decision::Failure(StepError::TransferWindowMissed { accept_by }),
            None => match ended(transfer, &record) {
                Some(error) => Decision::Failure(error),
                None => return Ok(record),
            },
        }
    };
    token::deliver(ports, record, decision, actor).await
}

/// The watcher's look at one open billing transfer.
pub(crate) async fn sweep_transfer(ports: &Ports, record: &Migration) -> Result<bool, StepError> {
    let Some(transfer_id) = record.billing_transfer.as_ref().and_then(|t| t.transfer_id.clone()) else { return Ok(false) };
    let transfer = ports.transfers.describe(&transfer_id).await?;
    let before = record.task_token.is_some();
    let after = resolve_transfer(ports, record.id, &transfer, "handshake-watcher").await?;
    if after.status != record.status || (before && after.task_token.is_none()) || after.due_at.is_none() {
        return Ok(true);
    }
    let next = ports.clock.now() + ports.settings.handshake_poll_interval;
    update_with_retry(ports, record.id, |m| {
        if m.status != Status::TransferInvited {
            return Ok(None);
        }
        let mut change = ChangeBuilder::new(m, system("handshake-watcher"), ports.clock.now());
        change.record().due_at = Some(next);
        Ok(Some(change.build()))
    })
    .await?;
    Ok(false)
}

/// The wait step of a billing transfer: stores the token, and answers it at once when AWS
/// already has the outcome.
pub(crate) async fn wait_for_transfer(ports: &Ports, id: MigrationId, token: crate::ids::TaskToken) -> Result<(), StepError> {
    let now = ports.clock.now();
    let record = update_with_retry(ports, id, |current| match current.status {
        Status::TransferInvited if current.task_token.as_ref() == Some(&token) => Ok(None),
        Status::TransferInvited => {
            let mut change = ChangeBuilder::new(current, system("wait-for-handshake"), now);
            change.record().task_token = Some(token.clone());
            change.record().due_at = Some(now);
            Ok(Some(change.build()))
        }
        Status::Canceled => Err(StepError::Canceled),
        s if s.transfer_accepted() => Ok(None),
        actual => Err(StepError::WrongStatus { actual }),
    })
    .await?;
    if record.status.transfer_accepted() {
        let start_at = record.billing_transfer.as_ref().map(BillingTransferState::start_at);
        ports.executions.send_task_success(&token, json!({ "migration_id": record.id, "start_at": start_at })).await?;
        return Ok(());
    }
    if let Some(transfer_id) = record.billing_transfer.as_ref().and_then(|t| t.transfer_id.clone()) {
        let transfer = ports.transfers.describe(&transfer_id).await?;
        resolve_transfer(ports, id, &transfer, "wait-for-handshake").await?;
    }
    Ok(())
}

/// What the confirm-transfer step answers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConfirmOutput {
    pub migration_id: MigrationId,
    pub billing_starts_at: DateTime<Utc>,
    pub billing_group_arn: String,
}

/// The confirm-transfer step, run once the start has come: the transfer must be in force
/// (AWS's word, not the clock's); its start is recorded as `billing_starts_at` to the
/// millisecond, and the pro forma billing group that shows the customer their costs is made
/// at once (before the support check, which can take weeks: the customer should not go
/// without cost data meanwhile).
#[instrument(skip(ports), fields(migration_id = %id))]
pub async fn confirm_transfer(ports: &Ports, id: MigrationId) -> Result<ConfirmOutput, StepError> {
    let record = load(ports, id).await?;
    let answer = |r: &Migration| -> Result<ConfirmOutput, StepError> {
        let bt = state(r)?;
        match (bt.billing_starts_at, bt.billing_group.as_ref()) {
            (Some(at), Some(group)) => {
                Ok(ConfirmOutput { migration_id: r.id, billing_starts_at: at, billing_group_arn: group.arn.clone() })
            }
            _ => Err(StepError::Internal("the billing transfer is recorded without its start or its group".into())),
        }
    };
    match record.status {
        Status::TransferAccepted => {}
        Status::Canceled => return Err(StepError::Canceled),
        Status::BillingTransferred | Status::AwaitingSupportUpgrade | Status::SupportConfirmed | Status::Completed => {
            return answer(&record);
        }
        actual => return Err(StepError::WrongStatus { actual }),
    }
    let bt = state(&record)?;
    let transfer_id = bt.transfer_id.clone().ok_or_else(|| StepError::Internal("no transfer id recorded".into()))?;
    let transfer = ports.transfers.describe(&transfer_id).await?;
    let now = ports.clock.now();
    if transfer.status == TransferStatus::Withdrawn && transfer.end_at.is_none_or(|end| end < transfer.start_at) {
        return Err(StepError::TransferWithdrawn);
    }
    if !transfer.in_force_at(now) {
        // Accepted but not yet in force by AWS's clock (the Wait ends at the start to the
        // second): look again shortly.
        return Err(StepError::Transient(format!("the billing transfer is {} and not yet in force", transfer.status.as_str())));
    }
    if ports.settings.billing_pricing_plan_arn.is_empty() {
        return Err(StepError::Internal("no billing pricing plan is configured (BILLING_PRICING_PLAN_ARN)".into()));
    }
    let spec = BillingGroupSpec {
        name: format!("cam-{}", record.id),
        transfer_arn: transfer.arn.clone(),
        pricing_plan_arn: ports.settings.billing_pricing_plan_arn.clone(),
        primary_account: record.aws_account_id.clone(),
        migration: record.id,
    };
    let group = ports.transfers.ensure_billing_group(&spec).await?;
    let note = format!(
        "the billing transfer is in force: the partner pays the organization's bill since {}; pro forma billing group {} created",
        transfer.start_at.to_rfc3339(),
        group.arn
    );
    let mut change = ChangeBuilder::new(&record, system("confirm-transfer"), now).transition(Status::BillingTransferred, note)?;
    let bt = change.record().billing_transfer.as_mut().expect("checked above");
    bt.billing_starts_at = Some(transfer.start_at);
    bt.billing_ends_at = transfer.end_at;
    bt.transfer_status = Some(transfer.status);
    bt.billing_group = Some(group);
    let record = commit(ports, change.build()).await?;
    info!(billing_starts_at = %transfer.start_at.to_rfc3339(), "billing transfer in force");
    answer(&record)
}

/// Why an end cannot be asked for.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TerminateError {
    #[error("migration not found")]
    NotFound,
    #[error("{}", .0.message)]
    Forbidden(crate::rules::Violation),
    /// Not a billing transfer, or not accepted (before acceptance a cancel withdraws it).
    #[error("the migration is {0}; only an accepted billing transfer can be ended")]
    NotTerminable(Status),
    #[error(transparent)]
    Month(MonthError),
    #[error(transparent)]
    Refused(TransferError),
    /// Ended already, at another end than the one asked (by the other side, or an earlier
    /// request).
    #[error("the billing transfer already ends at {}", .0.map_or_else(|| "an end AWS does not give".to_owned(), |e| e.to_rfc3339()))]
    EndsAlready(Option<DateTime<Utc>>),
    #[error(transparent)]
    Step(StepError),
}

/// The customer's end of their billing transfer (`POST /migrations/{id}/end-transfer`): an
/// administrator of the migration's organization.
#[instrument(skip(ports, caller), fields(migration_id = %id))]
pub async fn end_transfer(ports: &Ports, caller: &Caller, id: MigrationId, end_month: BillingMonth) -> Result<Migration, TerminateError> {
    crate::rules::check_administrator(caller).map_err(TerminateError::Forbidden)?;
    let record = match load(ports, id).await {
        Ok(r) if r.org_id == caller.org => r,
        Ok(_) | Err(StepError::NotFound(_)) => return Err(TerminateError::NotFound),
        Err(e) => return Err(TerminateError::Step(e)),
    };
    terminate_transfer(ports, Actor::User(caller.user.clone()), record, end_month).await
}

/// An operator's end of a billing transfer (`POST /admin/migrations/{id}/end-transfer`), on
/// any organization's migration, recorded as the operator's.
#[instrument(skip(ports, operator), fields(migration_id = %id))]
pub async fn end_transfer_as_operator(
    ports: &Ports,
    operator: &str,
    id: MigrationId,
    end_month: BillingMonth,
) -> Result<Migration, TerminateError> {
    let record = match load(ports, id).await {
        Ok(r) => r,
        Err(StepError::NotFound(_)) => return Err(TerminateError::NotFound),
        Err(e) => return Err(TerminateError::Step(e)),
    };
    terminate_transfer(ports, Actor::Operator(operator.to_owned()), record, end_month).await
}

/// Ends an accepted billing transfer at the end of `end_month` (offboarding), by the
/// customer or an operator: AWS's `TerminateResponsibilityTransfer`; the migration records
/// when the partner stops paying.
pub async fn terminate_transfer(
    ports: &Ports,
    actor: Actor,
    record: Migration,
    end_month: BillingMonth,
) -> Result<Migration, TerminateError> {
    if !record.status.transfer_accepted() {
        return Err(TerminateError::NotTerminable(record.status));
    }
    let bt = record.billing_transfer.as_ref().ok_or(TerminateError::NotTerminable(record.status))?;
    let now = ports.clock.now();
    let end_month = end_month.check_end(bt.start_at(), now).map_err(TerminateError::Month)?;
    let transfer_id = bt.transfer_id.clone().ok_or(TerminateError::NotTerminable(record.status))?;
    let transfer = match ports.transfers.terminate(&transfer_id, end_month.end()).await {
        Ok(t) => t,
        // Ended already (by either side), or a transition AWS refuses: what AWS has decides.
        // The same end asked again is done; another end is not what was asked.
        Err(e @ (TransferError::AlreadyInStatus(_) | TransferError::InvalidTransition(_))) => {
            let t = ports.transfers.describe(&transfer_id).await.map_err(|e| TerminateError::Step(e.into()))?;
            match (t.status, t.end_at) {
                (TransferStatus::Withdrawn, Some(end)) if end == end_month.end() => t,
                (TransferStatus::Withdrawn, end) => return Err(TerminateError::EndsAlready(end)),
                _ => return Err(TerminateError::Refused(e)),
            }
        }
        Err(e @ TransferError::Refused { .. }) => return Err(TerminateError::Refused(e)),
        Err(e) => return Err(TerminateError::Step(e.into())),
    };
    let record = update_with_retry(ports, record.id, |current| {
        let mut change = ChangeBuilder::new(current, actor.clone(), now).progress(format!(
            "offboarding: the billing transfer ends at {}",
            transfer.end_at.map_or_else(|| "an end AWS did not give".to_owned(), |e| e.to_rfc3339())
        ));
        let bt = change.record().billing_transfer.as_mut().expect("a billing transfer");
        bt.billing_ends_at = transfer.end_at;
        bt.transfer_status = Some(transfer.status);
        Ok(Some(change.build()))
    })
    .await
    .map_err(TerminateError::Step)?;
    info!(migration_id = %record.id, "billing transfer ends");
    Ok(record)
}
