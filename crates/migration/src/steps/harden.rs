//! The hardening scan. Once per run it makes sure the two baseline OUs carry their SCPs
//! (the guardrail on both, the hardening SCPs on the Hardened OU); then, for each due job,
//! it confirms membership and access and applies the baseline one control at a time,
//! recording each. An account is put under the SCPs by moving it into the OU that carries
//! them, so a job costs a move per OU and a tag, not an attachment per SCP. Resumable after
//! a crash at any point: every control is idempotent and the record says which are done.
//!
//! What this rests on, as the AWS Organizations API Reference and User Guide state it:
//! `AttachPolicy` takes a root, an OU or an account as `TargetId`, and an SCP attached to an
//! OU applies to every account in it (and leaves with an account moved out); one target
//! carries at most 5 SCPs, FullAWSAccess included (one more is `ConstraintViolationException`
//! with `MAX_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED`), which also caps what could be attached
//! to each account; attaching an attached SCP again is `DuplicatePolicyAttachmentException`;
//! `ListPoliciesForTarget` (with the required `Filter`, `SERVICE_CONTROL_POLICY`) lists only
//! the policies attached directly to the target, and may page.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use tracing::{info, instrument, warn};

use crate::error::{OrgError, StepError, StoreError};
use crate::ids::MigrationId;
use crate::ports::Ports;
use crate::record::{AppliedControl, ChangeBuilder, Control, Failure, HardeningJob, Migration, WorkQueue};
use crate::settings::Settings;
use crate::status::Status;
use crate::steps::classify_failure;
use crate::steps::{load, system, update_with_retry};

/// Queues the onboarding baseline the moment the account joins, due at once (the scan's next
/// run): the Onboarding OU, which carries the guardrail SCP (no leaving the organization, no
/// touching the partner's roles), so no joined account waits for its support plan without it.
pub(crate) fn queue_baseline(change: &mut ChangeBuilder, settings: &Settings, now: DateTime<Utc>) {
    let record = change.record();
    if record.hardening.is_none() {
        record.hardening = Some(HardeningJob::new(false, planned_controls(settings, false)));
        record.due_at = Some(record.due_at.map_or(now, |d| d.min(now)));
    }
}

/// The SCPs each baseline OU carries, attached to the OU itself: the guardrail on the
/// Onboarding OU; the guardrail and the hardening SCPs on the Hardened OU, so an account
/// moved on from the Onboarding OU stays under the guardrail. With the FullAWSAccess (or
/// other allowing) SCP every OU needs, the Hardened OU carries at most the 5 SCPs AWS allows
/// on one target: the template takes one to three hardening SCPs.
pub fn baseline_ous(settings: &Settings) -> [(String, Vec<String>); 2] {
    let guardrail = settings.guardrail_scp_id.clone();
    let hardened = std::iter::once(guardrail.clone()).chain(settings.hardening_scp_ids.iter().cloned()).collect();
    [(settings.onboarding_ou_id.clone(), vec![guardrail]), (settings.hardened_ou_id.clone(), hardened)]
}

/// The controls of a job, in the order they are applied.
pub fn planned_controls(settings: &Settings, full: bool) -> Vec<Control> {
    let [(onboarding, onboarding_scps), (hardened, hardened_scps)] = baseline_ous(settings);
    let mut controls = vec![Control::MoveToOnboardingOu { ou_id: onboarding, scps: onboarding_scps }];
    if full {
        controls.push(Control::MoveToHardenedOu { ou_id: hardened, scps: hardened_scps });
        controls.push(Control::TagAccount);
    }
    controls
}

/// What a run found of the baseline OUs: which could not be shown to carry their SCPs,
/// and why. No account is moved into such an OU.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OuCheck {
    unverified: BTreeMap<String, String>,
}

impl OuCheck {
    /// Why no account may be moved into `ou` in this run, if it may not.
    pub fn blocks(&self, ou: &str) -> Option<&str> {
        self.unverified.get(ou).map(String::as_str)
    }

    /// One line per OU that could not be verified.
    pub fn failures(&self) -> Vec<String> {
        self.unverified.values().cloned().collect()
    }
}

/// Makes sure each baseline OU carries its SCPs: one `ListPoliciesForTarget` per OU, and an
/// `AttachPolicy` for each SCP missing (attaching one that is attached already is success).
/// An OU that cannot be read, or that cannot take a missing SCP (access denied, the 5-SCP
/// quota, an OU or SCP that does not exist, AWS failing), is left unverified for this run.
pub async fn check_baseline_ous(ports: &Ports) -> OuCheck {
    let mut check = OuCheck::default();
    for (ou, scps) in baseline_ous(&ports.settings) {
        if let Err(e) = ensure_scps(ports, &ou, &scps).await {
            warn!(ou, error = %e, "a baseline OU does not carry its SCPs; no account is moved into it in this run");
            check.unverified.insert(ou.clone(), format!("the OU {ou} cannot be shown to carry the SCPs {}: {e}", scps.join(", ")));
        }
    }
    check
}

async fn ensure_scps(ports: &Ports, ou: &str, scps: &[String]) -> Result<(), OrgError> {
    let attached = ports.orgs.scps_of(ou).await?;
    for scp in scps.iter().filter(|scp| !attached.contains(scp)) {
        ports.orgs.attach_policy(scp, ou).await?;
        info!(ou, scp, "attached a baseline SCP to its OU");
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HardenOutcome {
    /// Every control is applied.
    Completed { applied_now: usize },
    /// Membership or access is missing; the job is due again later.
    NotReady { reason: String },
    /// The next control moves the account into an OU this run could not show to carry its
    /// SCPs: the job waits for the next run (a job not yet started counts no attempt).
    Blocked { reason: String },
    /// Nothing to do, or another scan holds the job.
    Skipped,
    /// The account is not `ACTIVE`: the job is dropped and the migration stopped.
    Stopped { reason: String },
}

/// One job on its own: the baseline OUs checked first, as a scan run does.
#[instrument(skip(ports), fields(migration_id = %id))]
pub async fn harden_one(ports: &Ports, id: MigrationId) -> Result<HardenOutcome, StepError> {
    let ous = check_baseline_ous(ports).await;
    harden_checked(ports, id, &ous).await
}

async fn harden_checked(ports: &Ports, id: MigrationId, ous: &OuCheck) -> Result<HardenOutcome, StepError> {
    let now = ports.clock.now();
    let record = match claim(ports, id, now, ous).await? {
        Claim::Claimed(record) => *record,
        Claim::Blocked(reason) => return Ok(HardenOutcome::Blocked { reason }),
        Claim::Finished => return Ok(HardenOutcome::Completed { applied_now: 0 }),
        Claim::Skipped => return Ok(HardenOutcome::Skipped),
    };
    let job = record.hardening.as_ref().expect("claimed jobs exist");
    if job.attempts > ports.settings.hardening_max_attempts {
        let error = StepError::HardeningStalled { attempts: job.attempts - 1, last_error: job.last_error.clone() };
        return stop_job(ports, id, error).await;
    }

    let Some(membership) = ports.orgs.membership(&record.aws_account_id).await? else {
        return wait(ports, id, "the account is not a member of the partner organization", Wait::NotReady).await;
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
            return wait(ports, id, &format!("the partner cannot assume the customer role: {reason}"), Wait::NotReady).await;
        }
    }

    let mut applied_now = 0;
    let mut record = record;
    // DescribeAccount's `Paths` named the parent: no ListParents while it is known.
    let mut parent = membership.parent;
    while let Some(control) = record.hardening.as_ref().and_then(|j| j.next_control()).cloned() {
        if let Some(reason) = control.destination_ou().and_then(|ou| ous.blocks(ou)) {
            // The baseline so far is applied (the guardrail of the Onboarding OU when only
            // the Hardened OU failed its check); the rest waits for an OU that carries its SCPs.
            return wait(ports, id, reason, Wait::Blocked).await;
        }
        apply(ports, &record, &control, &mut parent).await?;
        record = record_applied(ports, id, control).await?;
        applied_now += 1;
    }
    info!(applied_now, status = %record.status, "hardening job complete");
    Ok(HardenOutcome::Completed { applied_now })
}

enum Claim {
    Claimed(Box<Migration>),
    /// The job's next move goes into an OU this run could not verify: not leased, pushed back.
    Blocked(String),
    /// Adopting today's controls left nothing to do: recorded complete.
    Finished,
    Skipped,
}

/// Leases the job to this scan by pushing its due time past the lease. A concurrent scan
/// that read the same version loses the conditional write and skips it. A job recorded
/// with per-account SCP attachments adopts today's controls in the same write.
async fn claim(ports: &Ports, id: MigrationId, now: DateTime<Utc>, ous: &OuCheck) -> Result<Claim, StepError> {
    let record = load(ports, id).await?;
    let Some(original) = record.hardening.clone().filter(|j| j.completed_at.is_none()) else { return Ok(Claim::Skipped) };
    if record.status == Status::Failed || record.due_at.is_some_and(|due| due > now) {
        return Ok(Claim::Skipped);
    }
    let mut job = original.clone();
    let adopted = job.adopt(&planned_controls(&ports.settings, job.full));
    // An adopted job leans on the OUs for the attachments it dropped: it waits until this
    // run has verified them all.
    let blocked = match job.next_control().and_then(Control::destination_ou).and_then(|ou| ous.blocks(ou)) {
        Some(reason) => Some(reason.to_owned()),
        None if adopted => ous.failures().into_iter().next(),
        None => None,
    };
    let mut change = ChangeBuilder::new(&record, system("hardening-scan"), now);
    let done = job.is_done() && blocked.is_none();
    if blocked.is_none() {
        if adopted {
            change = change.progress("the per-account SCP attachments still pending are dropped: the baseline OUs carry those SCPs");
        }
        change.record().hardening = Some(job);
    } else {
        // Adopted only once the OUs are verified: a later run must still see what it drops.
        change.record().hardening = Some(original);
    }
    if done {
        change = finish(change, now)?;
    } else if let Some(reason) = &blocked {
        change = wait_change(change, now + Wait::Blocked.after(&ports.settings), reason);
    } else {
        job_mut(&mut change).attempts += 1;
        change.record().due_at = Some(now + ports.settings.hardening_lease);
    }
    let change = change.build();
    match ports.store.update(&change).await {
        Ok(()) if done => Ok(Claim::Finished),
        Ok(()) => Ok(blocked.map_or_else(|| Claim::Claimed(Box::new(change.record)), Claim::Blocked)),
        Err(StoreError::VersionConflict(_)) => Ok(Claim::Skipped),
        Err(e) => Err(e.into()),
    }
}

fn job_mut(change: &mut ChangeBuilder) -> &mut HardeningJob {
    change.record().hardening.as_mut().expect("a hardening job")
}

/// Why a job waits.
#[derive(Clone, Copy)]
enum Wait {
    /// Membership or access is missing (the customer's side): looked at again after
    /// `hardening_retry`.
    NotReady,
    /// An OU this run could not verify (the partner's side, or AWS failing): due again at the
    /// next run, which checks the OUs again. Pushed back by the lease all the same, so jobs
    /// that wait do not hold the head of the queue.
    Blocked,
}

impl Wait {
    fn after(self, settings: &Settings) -> chrono::Duration {
        match self {
            Wait::NotReady => settings.hardening_retry,
            Wait::Blocked => settings.hardening_lease,
        }
    }
}

async fn wait(ports: &Ports, id: MigrationId, reason: &str, why: Wait) -> Result<HardenOutcome, StepError> {
    let now = ports.clock.now();
    let due = now + why.after(&ports.settings);
    update_with_retry(ports, id, |m| Ok(Some(wait_change(ChangeBuilder::new(m, system("hardening-scan"), now), due, reason).build())))
        .await?;
    Ok(match why {
        Wait::NotReady => HardenOutcome::NotReady { reason: reason.to_owned() },
        Wait::Blocked => HardenOutcome::Blocked { reason: reason.to_owned() },
    })
}

/// The job is due again at `due`, saying why it waits. The history says it once per reason:
/// a job that waits for days on the same cause does not repeat it at every run.
fn wait_change(mut change: ChangeBuilder, due: DateTime<Utc>, reason: &str) -> ChangeBuilder {
    change.record().due_at = Some(due);
    let job = job_mut(&mut change);
    let repeated = job.last_error.as_deref() == Some(reason);
    job.last_error = Some(reason.to_owned());
    if repeated { change } else { change.progress(format!("hardening waits: {reason}")) }
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
        Control::MoveToOnboardingOu { ou_id, .. } | Control::MoveToHardenedOu { ou_id, .. } => {
            // The OU was shown to carry its SCPs at the start of this run (`OuCheck`): the
            // move is what puts the account under them.
            let from = match parent.take() {
                Some(p) => p,
                None => orgs.parent_of(account).await?,
            };
            if &from != ou_id {
                orgs.move_account(account, &from, ou_id).await?;
            }
            *parent = Some(ou_id.clone());
        }
        Control::AttachGuardrailScp { .. } | Control::AttachHardeningScp { .. } => {
            // `HardeningJob::adopt` drops these from every job the scan claims.
            return Err(StepError::Internal(format!("{control:?} is no longer applied: the OUs carry the SCPs")));
        }
        Control::TagAccount => {
            let level = if record.hardening.as_ref().is_some_and(|j| j.full) { "full" } else { "baseline" };
            let tags = [("cam:migration-id".to_owned(), record.id.to_string()), ("cam:hardening".to_owned(), level.to_owned())];
            orgs.tag_account(account, &tags).await?;
        }
    }
    Ok(())
}

/// Closes a job that has nothing left to apply (HARDENED for Full Hardening).
fn finish(mut change: ChangeBuilder, now: DateTime<Utc>) -> Result<ChangeBuilder, StepError> {
    let job = job_mut(&mut change);
    job.last_error = None;
    job.completed_at = Some(now);
    change.record().due_at = None;
    if change.record().status == Status::HardeningScheduled {
        change = change.transition(Status::Hardened, "every hardening control is applied")?;
    }
    Ok(change)
}

async fn record_applied(ports: &Ports, id: MigrationId, control: Control) -> Result<Migration, StepError> {
    let now = ports.clock.now();
    update_with_retry(ports, id, |m| {
        let Some(job) = &m.hardening else { return Ok(None) };
        if job.applied.iter().any(|a| a.control == control) {
            return Ok(None);
        }
        let mut change = ChangeBuilder::new(m, system("hardening-scan"), now).progress(format!("control applied: {control:?}"));
        let job = job_mut(&mut change);
        job.applied.push(AppliedControl { control: control.clone(), applied_at: now });
        job.last_error = None;
        if job.is_done() {
            change = finish(change, now)?;
        }
        Ok(Some(change.build()))
    })
    .await
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanReport {
    pub examined: u32,
    pub completed: u32,
    pub not_ready: u32,
    /// Jobs whose next move goes into an OU this run could not verify.
    pub blocked: u32,
    pub skipped: u32,
    /// Jobs of accounts that are not `ACTIVE` (suspended, closing): dropped.
    pub stopped: u32,
    pub failed: u32,
    /// Jobs left because the run's time budget ran out.
    pub deferred: u32,
    /// The baseline OUs this run could not show to carry their SCPs, each with why. The
    /// function reports the run failed when there are any, so the operator hears of it.
    pub unverified_ous: Vec<String>,
}

/// One scheduled run: the baseline OUs checked once (when any job is due), then at most
/// `limit` due jobs, stopping early when `keep_going` says the time budget is spent (the
/// Lambda's remaining time).
pub async fn hardening_scan(ports: &Ports, limit: u32, keep_going: impl Fn() -> bool) -> Result<ScanReport, StepError> {
    let now = ports.clock.now();
    let due = ports.store.due(WorkQueue::Hardening, now, limit).await?;
    let mut report = ScanReport::default();
    if due.is_empty() {
        return Ok(report);
    }
    let ous = check_baseline_ous(ports).await;
    report.unverified_ous = ous.failures();
    for record in &due {
        if !keep_going() {
            report.deferred += 1;
            continue;
        }
        report.examined += 1;
        match harden_checked(ports, record.id, &ous).await {
            Ok(HardenOutcome::Completed { .. }) => report.completed += 1,
            Ok(HardenOutcome::NotReady { .. }) => report.not_ready += 1,
            Ok(HardenOutcome::Blocked { .. }) => report.blocked += 1,
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
