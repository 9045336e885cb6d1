//! The schedule-hardening step: queue the baseline (and Full Hardening) for the scan.

use serde::{Deserialize, Serialize};
use tracing::{info, instrument};

use crate::error::StepError;
use crate::ids::MigrationId;
use crate::ports::Ports;
use crate::record::{ChangeBuilder, HardeningJob};
use crate::request::AccessLevel;
use crate::status::Status;
use crate::steps::{commit, load, planned_controls, system};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleOutput {
    pub migration_id: MigrationId,
    pub status: Status,
}

#[instrument(skip(ports), fields(migration_id = %id))]
pub async fn schedule_hardening(ports: &Ports, id: MigrationId) -> Result<ScheduleOutput, StepError> {
    let record = load(ports, id).await?;
    match record.status {
        Status::SupportConfirmed => {}
        s @ (Status::HardeningScheduled | Status::Hardened | Status::Completed) => {
            return Ok(ScheduleOutput { migration_id: id, status: s });
        }
        actual => return Err(StepError::WrongStatus { actual }),
    }
    let now = ports.clock.now();
    let full = record.access_level == AccessLevel::FullHardening;
    let job = HardeningJob {
        full,
        planned: planned_controls(&ports.settings, full),
        applied: Vec::new(),
        attempts: 0,
        last_error: None,
        completed_at: None,
    };
    let mut change = ChangeBuilder::new(&record, system("schedule-hardening"), now);
    change = if full {
        change.transition(Status::HardeningScheduled, "Full Hardening queued for the next scan")?
    } else {
        // Optimized accounts still get the onboarding baseline; the migration is complete.
        change.transition(Status::Completed, "optimized, not hardened; the onboarding baseline is queued")?
    };
    change.record().hardening = Some(job);
    change.record().due_at = Some(now);
    let record = commit(ports, change.build()).await?;
    info!(status = %record.status, "hardening scheduled");
    Ok(ScheduleOutput { migration_id: id, status: record.status })
}
