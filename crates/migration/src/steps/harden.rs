//! The hardening scan: for each due job, confirm membership and access, then apply the
//! baseline one control at a time, recording each. Resumable after a crash at any point:
//! every control is idempotent and the record says which are done.

use chrono::{DateTime, Utc};
use tracing::{info, instrument, warn};

use crate::error::{StepError, StoreError};
use crate::ids::MigrationId;
use crate::ports::Ports;
use crate::record::{AppliedControl, ChangeBuilder, Control, Failure, HardeningJob, Migration, WorkQueue};
use crate::settings::Settings;
use crate::status::Status;
use crate::steps::classify_failure;
use crate::steps::{load, system, update_with_retry};

/// Queues the onboarding baseline the moment the account joins, due at once (the scan's next
/// run): the Onboarding OU and the guardrail SCP (no leaving the organization, no touching
/// the partner's roles), so no joined account waits for its support plan without them.
pub(crate) fn queue_baseline(change: &mut ChangeBuilder, settings: &Settings, now: DateTime<Utc>) {
    let record = change.record();
    if record.hardening.is_none() {
        record.hardening = Some(HardeningJob::new(false, planned_controls(settings, false)));
        record.due_at = Some(record.due_at.map_or(now, |d| d.min(now)));
    }
}

/// The controls of a job, in the order they are applied.
pub fn planned_controls(settings: &Settings, full: bool) -> Vec<Control> {
    let mut controls = vec![
        Control::MoveToOnboardingOu { ou_id: settings.onboarding_ou_id.clone() },
        Control::AttachGuardrailScp { policy_id: settings.guardrail_scp_id.clone() },
    ];
    if full {
        controls.push(Control::MoveToHardenedOu { ou_id: settings.hardened_ou_id.clone() });
        controls.extend(settings.hardening_scp_ids.iter().map(|id| Control::AttachHardeningScp { policy_id: id.clone() }));
        controls.push(Control::TagAccount);
    }
    controls
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HardenOutcome {
    /// Every control is applied.
    Completed { applied_now: usize },
    /// Membership or access is missing; the job is due again later.
    NotReady { reason: String },
    /// Nothing to do, or another scan holds the job.
    Skipped,
    /// The account is not `ACTIVE`: the job is dropped and the migration stopped.
    Stopped { reason: String },
}

#[instrument(skip(ports), fields(migration_id = %id))]
pub async fn harden_one(ports: &Ports, id: MigrationId) -> Result<HardenOutcome, StepError> {
    let now = ports.clock.now();
    let Some(record) = claim(ports, id, now).await? else { return Ok(HardenOutcome::Skipped) };
    let job = record.hardening.as_ref().expect("claimed jobs exist");
    if job.attempts > ports.settings.hardening_max_attempts {
        let error = StepError::HardeningStalled { attempts: job.attempts - 1, last_error: job.last_error.clone() };
        return stop_job(ports, id, error).await;
    }

    let Some(membership) = ports.orgs.membership(&record.aws_account_id).await? else {
        return not_ready(ports, id, "the account is not a member of the partner organization").await;
    };
    if !membership.is_active() {
        return stop_job(ports, id, StepError::AccountNotActive(membership.state)).await;
    }
    if job.full {
        let profile = ports.store.org_profile(&record.org_id).await?;
        let assumed = match &profile {
            Some(p) => ports.customer.assume(&record.role_arn, &p.external_id, id).await.map(|_| ()).map_err(|e| e.to_string()),
            None => Err("the organization profile is missing".to_owned()),
        };
        if let Err(reason) = assumed {
            return not_ready(ports, id, &format!("the partner cannot assume the customer role: {reason}")).await;
        }
    }

    let mut applied_now = 0;
    let mut record = record;
    // DescribeAccount's `Paths` named the parent: no ListParents while it is known.
    let mut parent = membership.parent;
    while let Some(control) = record.hardening.as_ref().and_then(|j| j.next_control()).cloned() {
        apply(ports, &record, &control, &mut parent).await?;
        record = record_applied(ports, id, control).await?;
        applied_now += 1;
    }
    info!(applied_now, status = %record.status, "hardening job complete");
    Ok(HardenOutcome::Completed { applied_now })
}

/// Leases the job to this scan by pushing its due time past the lease. A concurrent scan
/// that read the same version loses the conditional write and skips it.
async fn claim(ports: &Ports, id: MigrationId, now: DateTime<Utc>) -> Result<Option<Migration>, StepError> {
    let record = load(ports, id).await?;
    let pending = record.hardening.as_ref().is_some_and(|j| j.completed_at.is_none());
    if !pending || record.status == Status::Failed || record.due_at.is_some_and(|due| due > now) {
        return Ok(None);
    }
    let mut change = ChangeBuilder::new(&record, system("hardening-scan"), now);
    change.record().due_at = Some(now + ports.settings.hardening_lease);
    if let Some(job) = change.record().hardening.as_mut() {
        job.attempts += 1;
    }
    let change = change.build();
    match ports.store.update(&change).await {
        Ok(()) => Ok(Some(change.record)),
        Err(StoreError::VersionConflict(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

async fn not_ready(ports: &Ports, id: MigrationId, reason: &str) -> Result<HardenOutcome, StepError> {
    let now = ports.clock.now();
    update_with_retry(ports, id, |m| {
        let mut change = ChangeBuilder::new(m, system("hardening-scan"), now);
        change.record().due_at = Some(now + ports.settings.hardening_retry);
        if let Some(job) = change.record().hardening.as_mut() {
            job.last_error = Some(reason.to_owned());
        }
        Ok(Some(change.progress(format!("hardening waits: {reason}")).build()))
    })
    .await?;
    Ok(HardenOutcome::NotReady { reason: reason.to_owned() })
}

/// A job that cannot go on (a suspended or closing account, or one that kept failing past
/// its bound): the migration stops with a named outcome (while it still can change status)
/// and the job leaves the queue.
async fn stop_job(ports: &Ports, id: MigrationId, error: StepError) -> Result<HardenOutcome, StepError> {
    let now = ports.clock.now();
    let (status, name, remediation) = classify_failure(error.name(), Status::HardeningScheduled);
    update_with_retry(ports, id, |m| {
        if m.hardening.as_ref().is_none_or(|j| j.completed_at.is_some()) {
            return Ok(None);
        }
        let mut change = ChangeBuilder::new(m, system("hardening-scan"), now);
        change.record().due_at = None;
        if let Some(job) = change.record().hardening.as_mut() {
            job.last_error = Some(error.to_string());
        }
        change = if m.status.can_become(status) {
            change.record().failure = Some(Failure {
                error: name.to_owned(),
                cause: error.to_string(),
                remediation: remediation.to_owned(),
                at: now,
                violations: Vec::new(),
            });
            change.transition(status, format!("hardening stopped: {error}"))?
        } else {
            // Already COMPLETED (an Optimized account's baseline): the status stays.
            change.progress(format!("hardening stopped: {error}"))
        };
        Ok(Some(change.build()))
    })
    .await?;
    warn!(error = %error, "hardening stopped");
    Ok(HardenOutcome::Stopped { reason: error.to_string() })
}

async fn apply(ports: &Ports, record: &Migration, control: &Control, parent: &mut Option<String>) -> Result<(), StepError> {
    let account = &record.aws_account_id;
    let orgs = &ports.orgs;
    match control {
        Control::MoveToOnboardingOu { ou_id } | Control::MoveToHardenedOu { ou_id } => {
            let from = match parent.take() {
                Some(p) => p,
                None => orgs.parent_of(account).await?,
            };
            if &from != ou_id {
                orgs.move_account(account, &from, ou_id).await?;
            }
            *parent = Some(ou_id.clone());
        }
        Control::AttachGuardrailScp { policy_id } | Control::AttachHardeningScp { policy_id } => {
            orgs.attach_policy(policy_id, account).await?
        }
        Control::TagAccount => {
            let level = if record.hardening.as_ref().is_some_and(|j| j.full) { "full" } else { "baseline" };
            let tags = [("cam:migration-id".to_owned(), record.id.to_string()), ("cam:hardening".to_owned(), level.to_owned())];
            orgs.tag_account(account, &tags).await?;
        }
    }
    Ok(())
}

async fn record_applied(ports: &Ports, id: MigrationId, control: Control) -> Result<Migration, StepError> {
    let now = ports.clock.now();
    update_with_retry(ports, id, |m| {
        let Some(job) = &m.hardening else { return Ok(None) };
        if job.applied.iter().any(|a| a.control == control) {
            return Ok(None);
        }
        let mut change = ChangeBuilder::new(m, system("hardening-scan"), now).progress(format!("control applied: {control:?}"));
        let job = change.record().hardening.as_mut().expect("checked above");
        job.applied.push(AppliedControl { control: control.clone(), applied_at: now });
        job.last_error = None;
        if job.is_done() {
            job.completed_at = Some(now);
            change.record().due_at = None;
            if change.record().status == Status::HardeningScheduled {
                change = change.transition(Status::Hardened, "every hardening control is applied")?;
            }
        }
        Ok(Some(change.build()))
    })
    .await
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanReport {
    pub examined: u32,
    pub completed: u32,
    pub not_ready: u32,
    pub skipped: u32,
    /// Jobs of accounts that are not `ACTIVE` (suspended, closing): dropped.
    pub stopped: u32,
    pub failed: u32,
    /// Jobs left because the run's time budget ran out.
    pub deferred: u32,
}

/// One scheduled run: at most `limit` due jobs, stopping early when `keep_going` says the
/// time budget is spent (the Lambda's remaining time).
pub async fn hardening_scan(ports: &Ports, limit: u32, keep_going: impl Fn() -> bool) -> Result<ScanReport, StepError> {
    let now = ports.clock.now();
    let due = ports.store.due(WorkQueue::Hardening, now, limit).await?;
    let mut report = ScanReport::default();
    for record in &due {
        if !keep_going() {
            report.deferred += 1;
            continue;
        }
        report.examined += 1;
        match harden_one(ports, record.id).await {
            Ok(HardenOutcome::Completed { .. }) => report.completed += 1,
            Ok(HardenOutcome::NotReady { .. }) => report.not_ready += 1,
            Ok(HardenOutcome::Skipped) => report.skipped += 1,
            Ok(HardenOutcome::Stopped { .. }) => report.stopped += 1,
            Err(e) => {
                report.failed += 1;
                warn!(migration_id = %record.id, error = %e, "hardening failed; the job is due again after its lease");
            }
        }
    }
    Ok(report)
}
