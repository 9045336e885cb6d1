//! The usage snapshot step: after validation, before the invitation, through the customer's
//! role. Not yet a state of the definition (see the README's "Usage snapshot"): the step, its
//! record and its outcomes are here and tested on the simulation.

use tracing::{info, instrument, warn};

use crate::error::{AccessError, StepError};
use crate::ids::MigrationId;
use crate::ports::Ports;
use crate::record::{ChangeBuilder, Migration};
use crate::rules::CustomerOrganization;
use crate::status::Status;
use crate::steps::{load, system, update_with_retry};
use crate::usage::{self, SnapshotError, SnapshotState};

/// Takes the snapshot of a validated migration's account once and records what it holds, or
/// why it could not be taken (the migration goes on either way: the customer acknowledged the
/// loss of the history when they asked). Throttling and an unavailable bucket are
/// `Migration.Transient`, for the definition's retries; repeating the step after a snapshot
/// was taken changes nothing.
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
    let (state, note) = match &outcome {
        Ok(manifest) => {
            let state = SnapshotState::taken(manifest);
            let note = format!(
                "usage snapshot taken: {} months, {} rows in {} files, {} Cost Explorer requests",
                manifest.months(),
                manifest.rows(),
                manifest.files.len() + 1,
                manifest.requests
            );
            (state, note)
        }
        Err(failure) if failure.error.retryable() => {
            warn!(code = failure.error.code(), requests = failure.requests, "the usage snapshot is retried");
            return Err(StepError::Transient(format!("usage snapshot: {failure}")));
        }
        Err(failure) => (
            SnapshotState::failed(failure, now),
            format!("usage snapshot not taken ({}): {}", failure.error.code(), failure.error.remediation()),
        ),
    };
    let record = update_with_retry(ports, id, |current| {
        if current.status != Status::Validated || current.usage_snapshot.as_ref() == Some(&state) {
            return Ok(None);
        }
        let mut change = ChangeBuilder::new(current, system("snapshot-usage"), now).progress(note.clone());
        change.record().usage_snapshot = Some(state.clone());
        Ok(Some(change.build()))
    })
    .await?;
    match outcome {
        Ok(m) => info!(months = m.months(), rows = m.rows(), requests = m.requests, "usage snapshot taken"),
        Err(f) if matches!(f.error, SnapshotError::Usage(_) | SnapshotError::TooManyRequests) => {
            info!(code = f.error.code(), requests = f.requests, "the migration goes on without a usage snapshot")
        }
        Err(_) => {}
    }
    Ok(record)
}
