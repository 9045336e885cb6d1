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
    if record.kind == crate::transfer::MigrationKind::BillingTransfer {
        // The account stays in the customer's organization, under its governance: nothing to
        // harden through the partner's. The migration is complete.
        let change = ChangeBuilder::new(&record, system("schedule-hardening"), now).transition(
            Status::Completed,
            "billing transfer in force and support confirmed; nothing to harden in the customer's own organization",
        )?;
        let record = commit(ports, change.build()).await?;
        return Ok(ScheduleOutput { migration_id: id, status: record.status });
    }
    let full = record.access_level == AccessLevel::FullHardening;
    // The onboarding baseline was queued when the account joined (and is likely applied by
    // now); Full Hardening adds the rest to the same job.
    let mut job = record.hardening.clone().unwrap_or_else(|| HardeningJob::new(false, Vec::new()));
    job.extend(full, planned_controls(&ports.settings, full));
    let mut change = ChangeBuilder::new(&record, system("schedule-hardening"), now);
    change = if full {
        change.transition(Status::HardeningScheduled, "Full Hardening queued for the next scan")?
    } else {
        // Optimized accounts still get the onboarding baseline; the migration is complete.
        change.transition(Status::Completed, "optimized, not hardened; the onboarding baseline is queued")?
    };
    let pending = !job.is_done();
    change.record().hardening = Some(job);
    change.record().due_at = pending.then_some(now);
    let record = commit(ports, change.build()).await?;
    info!(status = %record.status, "hardening scheduled");
    Ok(ScheduleOutput { migration_id: id, status: record.status })
}
