//! One use-case per step, written against the ports. Each is idempotent: run again after a
//! crash at any point, it reaches the same state without repeating a side effect that
//! cannot be repeated (a second invitation, a second history entry).

mod cancel;
mod check_support;
mod create;
mod facts;
pub(crate) mod harden;
mod invitation;
mod invite;
mod operate;
mod record_failure;
mod reference;
mod resolve;
mod schedule_hardening;
mod snapshot;
mod token;
pub(crate) mod transfer;
mod validate;
mod wait_for_handshake;

pub use cancel::{CancelError, cancel_as_operator, cancel_migration};
pub use check_support::{SupportCheckOutput, check_support, next_support_wait, support_check_times};
pub use create::{CreateError, Created, create_migration, request_fingerprint};
pub use harden::{HardenOutcome, OuCheck, ScanReport, baseline_ous, check_baseline_ous, harden_one, hardening_scan, planned_controls};
pub use invitation::InviteOutput;
pub use invite::{AWS_RATE_LIMIT_RETRY, INVITATIONS_DEFERRED_METRIC, invitation_deferred};
pub use operate::{Inspection, RecordEndedError, inspect, record_ended_execution};
pub use record_failure::{FailureOutput, classify_failure, parse_cause, record_failure};
pub use reference::{Onboarding, OnboardingError, ProfileUpdate, issue_external_id, onboarding, put_approval, put_org_profile, put_terms};
pub use resolve::{
    SweepReport, WatcherRun, account_joined, execution_timed_out, resolve_handshake, sweep_handshakes, sweep_unstarted, watcher_run,
};
pub use schedule_hardening::{ScheduleOutput, schedule_hardening};
pub use snapshot::{SnapshotOutput, TRANSIENT_PATIENCE, USAGE_SNAPSHOT_RETRY_EVERY, USAGE_SNAPSHOT_WAIT, snapshot_usage};
pub use transfer::{
    ConfirmOutput, SOURCE_NAME, TerminateError, confirm_transfer, end_transfer, end_transfer_as_operator, resolve_transfer,
    terminate_transfer,
};
pub use validate::{ValidateOutput, validate};
pub use wait_for_handshake::wait_for_handshake;

use serde::{Deserialize, Serialize};

use crate::error::{StepError, StoreError};
use crate::ids::MigrationId;
use crate::ports::Ports;
use crate::record::{Actor, Change, Migration};

/// What the state machine passes to every step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepInput {
    pub migration_id: MigrationId,
}

/// The invite step of either kind.
#[tracing::instrument(skip(ports), fields(migration_id = %id))]
pub async fn invite(ports: &Ports, id: MigrationId) -> Result<InviteOutput, StepError> {
    let record = load(ports, id).await?;
    // A request that requires the usage snapshot is invited only once it is taken. The
    // definition never comes here before (its Choice waits), but an execution started under
    // an earlier definition, whose snapshot state let a failed wait go on, could.
    let taken = matches!(record.usage_snapshot, Some(crate::usage::SnapshotState::Taken { .. }));
    if record.status == crate::status::Status::Validated && record.usage_snapshot_required && !taken {
        return Err(StepError::UsageSnapshotRequired {
            code: "USAGE_SNAPSHOT_NOT_TAKEN",
            remediation: "The request requires the usage snapshot before the invitation and it was not taken: see the migration's usage_snapshot for why.",
        });
    }
    match record.kind {
        crate::transfer::MigrationKind::BillingTransfer => transfer::invite_transfer(ports, record).await,
        crate::transfer::MigrationKind::JoinOrganization => invite::invite_join(ports, record).await,
    }
}

pub(crate) async fn load(ports: &Ports, id: MigrationId) -> Result<Migration, StepError> {
    ports.store.get(id).await?.ok_or(StepError::NotFound(id))
}

pub(crate) async fn commit(ports: &Ports, change: Change) -> Result<Migration, StepError> {
    ports.store.update(&change).await?;
    Ok(change.record)
}

pub(crate) fn system(step: &str) -> Actor {
    Actor::System(step.to_owned())
}

/// Applies `f` to the freshest record, retrying a few times when another writer got there
/// first. `f` returns `None` when there is nothing to change.
pub(crate) async fn update_with_retry<F>(ports: &Ports, id: MigrationId, mut f: F) -> Result<Migration, StepError>
where
    F: FnMut(&Migration) -> Result<Option<Change>, StepError>,
{
    let mut attempts = 0;
    loop {
        let current = load(ports, id).await?;
        let Some(change) = f(&current)? else { return Ok(current) };
        match ports.store.update(&change).await {
            Ok(()) => return Ok(change.record),
            Err(StoreError::VersionConflict(_)) if attempts < 4 => attempts += 1,
            Err(e) => return Err(e.into()),
        }
    }
}
