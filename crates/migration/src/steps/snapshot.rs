//! The usage snapshot step (`SnapshotUsage` in the definition): after validation, before the
//! invitation, through the customer's role, for both kinds of migration.

use chrono::Duration;
use tracing::{info, instrument, warn};

use crate::error::{AccessError, StepError};
use crate::ids::MigrationId;
use crate::ports::Ports;
use crate::record::{ChangeBuilder, Migration};
use crate::rules::CustomerOrganization;
use crate::status::Status;
use crate::steps::{load, system, update_with_retry};
use crate::usage::{self, SnapshotState};

/// Takes the snapshot of a validated migration's account once and records what it holds, or
/// why it could not be taken. Throttling and an unavailable bucket are `Migration.Transient`
/// for [`TRANSIENT_PATIENCE`], for the definition's retries. After that, and for every other
/// failure, the request decides: by default the migration goes on (the customer acknowledged
/// the loss of the history when they asked); with `usage_snapshot: required` the step fails
/// with `Migration.UsageSnapshotRequired`, which the definition retries hourly until the
/// customer fixes the role. Repeating the step after a snapshot was taken changes nothing.
#[instrument(skip(ports), fields(migration_id = %id))]
pub async fn snapshot_usage(ports: &Ports, id: MigrationId) -> Result<Migration, StepError> {
    let record = load(ports, id).await?;
    match record.status {
        Status::Validated => {}
        Status::Canceled => return Err(StepError::Canceled),
        actual => return Err(StepError::WrongStatus { actual }),
    }
    if matches!(record.usage_snapshot, Some(SnapshotState::Taken { .. })) {
        return Ok(record);
    }
    let now = ports.clock.now();
    let profile =
        ports.store.org_profile(&record.org_id).await?.ok_or_else(|| StepError::Internal("the organization profile is missing".into()))?;
    let session = match ports.customer.assume(&record.role_arn, &profile.external_id, record.id).await {
        Ok(s) => s,
        Err(AccessError::Retryable(e)) => return Err(StepError::Transient(e)),
        Err(e) => return Err(StepError::Internal(format!("the customer role could not be assumed for the usage snapshot: {e}"))),
    };
    // A management account's snapshot covers its organization's linked accounts.
    let organization = matches!(ports.customer.organization(&session).await, Ok(CustomerOrganization::ManagementAccount { .. }));
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
            return Ok(record);
        }
        Err(failure) => failure,
    };
    // The same failure as last time keeps its first moment: how long it has lasted, and no
    // second history entry for an hourly retry that fails alike.
    let since = match &record.usage_snapshot {
        Some(SnapshotState::Failed { at, code, .. }) if code == failure.error.code() => *at,
        _ => now,
    };
    let required = record.usage_snapshot_required;
    let patient = failure.error.retryable() && now - since < TRANSIENT_PATIENCE;
    let then = if patient {
        "it is retried"
    } else if required {
        "the migration waits for it (usage_snapshot: required) and tries again hourly"
    } else {
        "the migration goes on without it"
    };
    let note = format!("usage snapshot not taken ({}): {} {then}", failure.error.code(), failure.error.remediation());
    let record = record_outcome(ports, id, SnapshotState::failed(&failure, since), note, now).await?;
    let (code, remediation) = (failure.error.code(), failure.error.remediation());
    if patient {
        warn!(code, requests = failure.requests, "the usage snapshot is retried");
        Err(StepError::Transient(format!("usage snapshot: {failure}")))
    } else if required {
        warn!(code, requests = failure.requests, "the migration waits for a usage snapshot");
        Err(StepError::UsageSnapshotRequired { code, remediation })
    } else {
        info!(code, requests = failure.requests, "the migration goes on without a usage snapshot");
        Ok(record)
    }
}

/// How long a failure that can pass by itself (throttling, the bucket unavailable) is
/// retried before it counts: less than the `SnapshotUsage` state's `Migration.Transient`
/// retries last (15, 30, 60 and 120 s apart, without jitter), so the last of them decides
/// (tests/infra's consistency test holds the two together).
pub const TRANSIENT_PATIENCE: Duration = Duration::seconds(60);

/// Records `state` once: a failure like the one recorded (same code, same first moment) is
/// not written again.
async fn record_outcome(
    ports: &Ports,
    id: MigrationId,
    state: SnapshotState,
    note: String,
    now: chrono::DateTime<chrono::Utc>,
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
        (SnapshotState::Failed { at: a, code: c, .. }, SnapshotState::Failed { at: b, code: d, .. }) => a == b && c == d,
        _ => recorded == new,
    }
}
