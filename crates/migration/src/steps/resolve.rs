//! Resolving handshakes: the AccountJoinedOrganization event, the watcher's sweep, and the
//! delivery of the outcome to the execution that waits on its task token.

use chrono::{DateTime, Utc};
use serde_json::json;
use tracing::{info, instrument, warn};

use crate::error::{ExecutionError, StepError, names};
use crate::ids::{AwsAccountId, MigrationId};
use crate::ports::Ports;
use crate::record::{ChangeBuilder, HandshakeState, Migration, WorkQueue};
use crate::status::Status;
use crate::steps::token::{self, Decision};
use crate::steps::{StepInput, record_failure, system, update_with_retry};

/// Acts on a decided handshake: records JOINED for an acceptance (with the exact time AWS
/// reports), then hands the outcome to the execution if it is already waiting. Safe to run
/// any number of times, from any source.
#[instrument(skip(ports), fields(migration_id = %id))]
pub async fn resolve_handshake(ports: &Ports, id: MigrationId, state: HandshakeState, actor: &str) -> Result<Migration, StepError> {
    let joined_at = if state == HandshakeState::Accepted {
        let record = crate::steps::load(ports, id).await?;
        match ports.orgs.membership(&record.aws_account_id).await? {
            Some(m) => Some(m.joined_at),
            None if record.joined_at.is_some() => record.joined_at,
            // Accepted but not yet visible as a member: Organizations is eventually
            // consistent; try again shortly.
            None => return Err(StepError::Transient("accepted handshake not yet visible as membership".into())),
        }
    } else {
        None
    };

    let now = ports.clock.now();
    let record = update_with_retry(ports, id, |current| record_state(current, state, joined_at, actor, now, &ports.settings)).await?;
    deliver(ports, record, actor).await
}

fn record_state(
    current: &Migration,
    state: HandshakeState,
    joined_at: Option<DateTime<Utc>>,
    actor: &str,
    now: DateTime<Utc>,
    settings: &crate::settings::Settings,
) -> Result<Option<crate::record::Change>, StepError> {
    let handshake_changed = current.handshake.as_ref().is_some_and(|h| h.state != state);
    let joins = current.status == Status::Invited && state == HandshakeState::Accepted;
    if !joins && !handshake_changed {
        return Ok(None);
    }
    let mut change = ChangeBuilder::new(current, system(actor), now);
    if joins {
        let at = joined_at.expect("looked up for an acceptance");
        change = change.transition(
            Status::Joined,
            format!("the account joined the partner organization at {}; consolidated billing starts", at.to_rfc3339()),
        )?;
        change.record().joined_at = Some(at);
        crate::steps::harden::queue_baseline(&mut change, settings, at.max(now));
    } else if state.is_decided() && !current.status.is_terminal() {
        change = change.progress(format!("the invitation is {state:?}"));
    }
    if let Some(h) = change.record().handshake.as_mut() {
        h.state = state;
    }
    Ok(Some(change.build()))
}

/// Sends the outcome to the waiting execution, then forgets the token; an undecided
/// handshake leaves both as they are.
async fn deliver(ports: &Ports, record: Migration, actor: &str) -> Result<Migration, StepError> {
    if record.task_token.is_none() {
        return Ok(record);
    }
    let decision = if record.status.has_joined() {
        Decision::Success(json!({ "migration_id": record.id, "joined_at": record.joined_at }))
    } else if record.status.is_terminal() {
        // Canceled through the API: the execution was stopped; nothing waits.
        Decision::Forget
    } else {
        match record.handshake.as_ref().map(|h| h.state) {
            Some(HandshakeState::Declined) => Decision::Failure(StepError::InvitationDeclined),
            Some(HandshakeState::Expired) => Decision::Failure(StepError::InvitationExpired),
            Some(HandshakeState::Canceled) => Decision::Failure(StepError::InvitationCanceled),
            _ => return Ok(record),
        }
    };
    token::deliver(ports, record, decision, actor).await
}

/// The `AccountJoinedOrganization` event: the account that holds a lock is ours to resolve.
pub async fn account_joined(ports: &Ports, account: &AwsAccountId) -> Result<Option<Migration>, StepError> {
    let Some(id) = ports.store.lock_holder(account).await? else {
        info!(aws_account_id = %account, "an account joined that no migration waits for");
        return Ok(None);
    };
    resolve_handshake(ports, id, HandshakeState::Accepted, "handshake-watcher").await.map(Some)
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub examined: u32,
    pub resolved: u32,
    pub started: u32,
    /// Records whose execution had ended before their first step ran: failed, lock released.
    pub ended: u32,
    pub failed: u32,
}

/// The watcher's schedule: looks at every due invitation, resolves the decided ones (a
/// missed event, a decline, an expiry) and delivers outcomes whose delivery was cut short.
pub async fn sweep_handshakes(ports: &Ports, limit: u32) -> Result<SweepReport, StepError> {
    let now = ports.clock.now();
    let mut report = SweepReport::default();
    for record in ports.store.due(WorkQueue::Handshake, now, limit).await? {
        report.examined += 1;
        match sweep_one(ports, &record).await {
            Ok(true) => report.resolved += 1,
            Ok(false) => {}
            Err(e) => {
                report.failed += 1;
                warn!(migration_id = %record.id, error = %e, "could not sweep the invitation");
            }
        }
    }
    Ok(report)
}

async fn sweep_one(ports: &Ports, record: &Migration) -> Result<bool, StepError> {
    if record.kind == crate::transfer::MigrationKind::BillingTransfer {
        return crate::steps::transfer::sweep_transfer(ports, record).await;
    }
    if record.status.has_joined() {
        resolve_handshake(ports, record.id, HandshakeState::Accepted, "handshake-watcher").await?;
        return Ok(true);
    }
    let Some(handshake) = &record.handshake else { return Ok(false) };
    let current = ports.orgs.describe_handshake(&handshake.id, &record.aws_account_id).await?;
    if current.state.is_decided() {
        resolve_handshake(ports, record.id, current.state, "handshake-watcher").await?;
        return Ok(true);
    }
    let next = ports.clock.now() + ports.settings.handshake_poll_interval;
    update_with_retry(ports, record.id, |m| {
        if m.status != Status::Invited {
            return Ok(None);
        }
        let mut change = ChangeBuilder::new(m, system("handshake-watcher"), ports.clock.now());
        change.record().due_at = Some(next);
        if let Some(h) = change.record().handshake.as_mut() {
            h.state = current.state;
        }
        Ok(Some(change.build()))
    })
    .await?;
    Ok(false)
}

/// Starts executions for records left in REQUESTED (the API could not start them).
pub async fn sweep_unstarted(ports: &Ports, limit: u32) -> Result<SweepReport, StepError> {
    let now = ports.clock.now();
    let mut report = SweepReport::default();
    // A failure that could not be written still holds the account: after the other records,
    // the sweep reports it, so the invocation fails and its alarm fires.
    let mut unrecorded: Option<StepError> = None;
    for record in ports.store.due(WorkQueue::Unstarted, now, limit).await? {
        report.examined += 1;
        let input = serde_json::to_value(StepInput { migration_id: record.id }).expect("serializes");
        match ports.executions.start(record.id, input).await {
            Ok(()) => {}
            // Stopped or failed before validate recorded anything (an operator's StopExecution,
            // a record-failure that could not write): no execution will ever move this record,
            // and Step Functions refuses the name for 90 days. Fail it, releasing the account.
            Err(ExecutionError::Ended(status)) => {
                warn!(migration_id = %record.id, execution_status = %status, "the execution ended before the migration started");
                let cause =
                    format!("The migration's execution ended {status} before its first step ran; nothing was changed in AWS for it.");
                // One record that cannot be written must not end the sweep for the others.
                match record_failure(ports, record.id, names::FAILED, &cause).await {
                    Ok(_) => report.ended += 1,
                    Err(e) => {
                        warn!(migration_id = %record.id, error = %e, "could not record the failure of an ended execution");
                        report.failed += 1;
                        unrecorded.get_or_insert(e);
                    }
                }
                continue;
            }
            Err(e) => {
                report.failed += 1;
                warn!(migration_id = %record.id, error = %e, "could not start the execution");
                continue;
            }
        }
        report.started += 1;
        update_with_retry(ports, record.id, |m| {
            if m.status != Status::Requested {
                return Ok(None);
            }
            let mut change = ChangeBuilder::new(m, system("handshake-watcher"), now);
            change.record().due_at = Some(now + crate::record::UNSTARTED_GRACE);
            Ok(Some(change.progress("execution started by the watcher").build()))
        })
        .await?;
    }
    match unrecorded {
        Some(e) => Err(e),
        None => Ok(report),
    }
}

/// Step Functions timed the migration's execution out. No Catch of the definition sees a
/// timeout, so the record would keep its status and the account lock forever: record the
/// failure (releasing the account) unless the record already ended. Returns whether it did.
pub async fn execution_timed_out(ports: &Ports, id: MigrationId) -> Result<bool, StepError> {
    let record = match super::load(ports, id).await {
        Ok(record) => record,
        // Not a migration's execution (a hand-started one): nothing to record.
        Err(StepError::NotFound(_)) => return Ok(false),
        Err(e) => return Err(e),
    };
    if record.status.is_terminal() {
        return Ok(false);
    }
    warn!(migration_id = %id, status = %record.status, "the migration's execution timed out");
    let cause =
        format!("The migration's execution timed out (TIMED_OUT) while the migration was {}; the account is released.", record.status);
    record_failure(ports, id, names::FAILED, &cause).await?;
    Ok(true)
}

/// One scheduled run of handshake-watcher, and of `cam-local serve`'s timer: the records whose
/// execution never started, then the open invitations. The second part runs whatever became
/// of the first, so a failure there (a store outage, a denied write) never keeps declines,
/// expiries and missed join events from being resolved for everyone else.
#[derive(Debug)]
pub struct WatcherRun {
    pub unstarted: Result<SweepReport, StepError>,
    pub handshakes: Result<SweepReport, StepError>,
}

pub async fn watcher_run(ports: &Ports, limit: u32) -> WatcherRun {
    let unstarted = sweep_unstarted(ports, limit).await;
    let handshakes = sweep_handshakes(ports, limit).await;
    WatcherRun { unstarted, handshakes }
}
