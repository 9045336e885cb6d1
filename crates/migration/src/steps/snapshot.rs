//! The usage snapshot step (`SnapshotUsage` in the definition): after validation, before the
//! invitation, through the customer's role, for both kinds of migration.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use tracing::{info, instrument, warn};

use crate::error::{AccessError, StepError};
use crate::ids::MigrationId;
use crate::ports::Ports;
use crate::record::{ChangeBuilder, Migration};
use crate::status::Status;
use crate::steps::{load, system, update_with_retry};
use crate::usage::{self, SnapshotDecision, SnapshotState};

/// What the `SnapshotUsage` state reads: `retry_at` is set while the migration waits for a
/// snapshot the request requires (the definition's `WaitForUsageSnapshot` sleeps until then
/// and runs the step again), and null when it goes on to the invitation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnapshotOutput {
    pub migration_id: MigrationId,
    pub usage_snapshot: Option<SnapshotState>,
    pub retry_at: Option<DateTime<Utc>>,
}

impl SnapshotOutput {
    fn new(record: &Migration, retry_at: Option<DateTime<Utc>>) -> Self {
        Self { migration_id: record.id, usage_snapshot: record.usage_snapshot.clone(), retry_at }
    }
}

/// How often a required snapshot is tried again while the migration waits for it.
pub const USAGE_SNAPSHOT_RETRY_EVERY: Duration = Duration::hours(1);
/// How long the migration waits for a required snapshot before it fails.
pub const USAGE_SNAPSHOT_WAIT: Duration = Duration::hours(48);

/// Takes the snapshot of a validated migration's account once and records what it holds, or
/// why it could not be taken. Throttling and an unavailable bucket are `Migration.Transient`
/// for [`TRANSIENT_PATIENCE`], for the definition's retries. After that, and for every other
/// failure, the request decides: by default the migration goes on (the customer acknowledged
/// the loss of the history when they asked); with `usage_snapshot: required` it waits, and
/// the step answers when to try again ([`USAGE_SNAPSHOT_RETRY_EVERY`]) until the customer
/// fixes the role or [`USAGE_SNAPSHOT_WAIT`] has passed since the wait began, when the step
/// fails with `Migration.UsageSnapshotRequired`. The wait is the definition's Wait state, not
/// a retrier, so each hourly attempt enters the state afresh with all its transient retries:
/// retriers count across the whole stay in a state, and two days of hourly attempts used up
/// the transient ones (the soak found it). Repeating the step after a snapshot was taken
/// changes nothing.
#[instrument(skip(ports), fields(migration_id = %id))]
pub async fn snapshot_usage(ports: &Ports, id: MigrationId) -> Result<SnapshotOutput, StepError> {
    let record = load(ports, id).await?;
    match record.status {
        Status::Validated => {}
        Status::Canceled => return Err(StepError::Canceled),
        actual => return Err(StepError::WrongStatus { actual }),
    }
    if matches!(record.usage_snapshot, Some(SnapshotState::Taken { .. })) {
        return Ok(SnapshotOutput::new(&record, None));
    }
    let now = ports.clock.now();
    let profile =
        ports.store.org_profile(&record.org_id).await?.ok_or_else(|| StepError::Internal("the organization profile is missing".into()))?;
    let session = match ports.customer.assume(&record.role_arn, &profile.external_id, record.id).await {
        Ok(s) => s,
        Err(AccessError::Retryable(e)) => return Err(StepError::Transient(e)),
        Err(e) => return Err(StepError::Internal(format!("the customer role could not be assumed for the usage snapshot: {e}"))),
    };
    // A management account's snapshot covers its organization's linked accounts. Validation
    // admitted a management account only as a billing transfer (to join, it is refused), so
    // the kind says which the account is; asking Organizations again could only disagree by
    // failing, and a failed read must not shrink the snapshot to one account.
    let organization = record.billing_transfer.is_some();
    let outcome = usage::take(ports.usage.as_ref(), ports.snapshots.as_ref(), &session, record.id, now, organization).await;
    let failure = match outcome {
        Ok(manifest) => {
            let state = SnapshotState::taken(&manifest);
            let note = format!(
                "usage snapshot taken: {} months, {} rows in {} files, {} Cost Explorer requests (USD {:.2})",
                manifest.months(),
                manifest.rows(),
                manifest.files.len() + 1,
                manifest.requests,
                f64::from(manifest.requests) * usage::USD_PER_REQUEST
            );
            let record = record_outcome(ports, id, state, note, now).await?;
            info!(months = manifest.months(), rows = manifest.rows(), requests = manifest.requests, "usage snapshot taken");
            return Ok(SnapshotOutput::new(&record, None));
        }
        Err(failure) => failure,
    };
    // The same failure as last time keeps its first moment: how long it has lasted. A wait
    // keeps its beginning whatever the failures during it.
    let (since, waiting_since) = match &record.usage_snapshot {
        Some(SnapshotState::Failed { at, code, waiting_since, .. }) => {
            (if code == failure.error.code() { *at } else { now }, *waiting_since)
        }
        _ => (now, None),
    };
    let then = if failure.error.retryable() && now - since < TRANSIENT_PATIENCE {
        SnapshotDecision::Retried
    } else if record.usage_snapshot_required && waiting_since.is_some_and(|w| now - w >= USAGE_SNAPSHOT_WAIT) {
        SnapshotDecision::GaveUp
    } else if record.usage_snapshot_required {
        SnapshotDecision::Waits
    } else {
        SnapshotDecision::GoesOn
    };
    let waiting_since = waiting_since.or((then == SnapshotDecision::Waits).then_some(now));
    let note = format!("usage snapshot not taken ({}): {} {}", failure.error.code(), failure.error.remediation(), then.describe());
    let state = SnapshotState::failed(&failure, since, then, waiting_since);
    let record = record_outcome(ports, id, state, note, now).await?;
    let (code, remediation) = (failure.error.code(), failure.error.remediation());
    match then {
        SnapshotDecision::Retried => {
            warn!(code, requests = failure.requests, "the usage snapshot is retried");
            Err(StepError::Transient(format!("usage snapshot: {failure}")))
        }
        SnapshotDecision::GaveUp => {
            warn!(code, requests = failure.requests, "the wait for a required usage snapshot is over");
            Err(StepError::UsageSnapshotRequired { code, remediation })
        }
        SnapshotDecision::Waits => {
            warn!(code, requests = failure.requests, "the migration waits for a usage snapshot");
            Ok(SnapshotOutput::new(&record, Some(now + USAGE_SNAPSHOT_RETRY_EVERY)))
        }
        SnapshotDecision::GoesOn => {
            info!(code, requests = failure.requests, "the migration goes on without a usage snapshot");
            Ok(SnapshotOutput::new(&record, None))
        }
    }
}

/// How long a failure that can pass by itself (throttling, the bucket unavailable) is
/// retried before it counts: less than the `SnapshotUsage` state's `Migration.Transient`
/// retries last (15, 45, 105, 225, 465 and 705 s after the first attempt, without jitter), so
/// the attempts from 105 s on decide, and a fault on one of them (the store, the role) leaves
/// three more before the retries run out (tests/infra's consistency test holds the two
/// together; the soak found the migration failed when only two were left).
pub const TRANSIENT_PATIENCE: Duration = Duration::seconds(60);

/// Records `state` once: a failure like the one recorded (same code, same first moment, same
/// decision) is not written again, so hourly retries that fail alike add no history entry,
/// while the attempt that decides differently from the last one is in the history.
async fn record_outcome(
    ports: &Ports,
    id: MigrationId,
    state: SnapshotState,
    note: String,
    now: DateTime<Utc>,
) -> Result<Migration, StepError> {
    update_with_retry(ports, id, |current| {
        if current.status != Status::Validated || current.usage_snapshot.as_ref().is_some_and(|s| same_outcome(s, &state)) {
            return Ok(None);
        }
        let mut change = ChangeBuilder::new(current, system("snapshot-usage"), now).progress(note.clone());
        change.record().usage_snapshot = Some(state.clone());
        Ok(Some(change.build()))
    })
    .await
}

fn same_outcome(recorded: &SnapshotState, new: &SnapshotState) -> bool {
    match (recorded, new) {
        (SnapshotState::Failed { at: a, code: c, then: x, .. }, SnapshotState::Failed { at: b, code: d, then: y, .. }) => {
            a == b && c == d && x == y
        }
        _ => recorded == new,
    }
}
