//! The check-support step: classify the plan through the customer role, and say when to
//! look again.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use tracing::{info, instrument};

use crate::error::{AccessError, StepError};
use crate::ids::MigrationId;
use crate::ports::{Ports, SupportAnswer};
use crate::record::{ChangeBuilder, PLAN_TO_BUY, SupportPlan, SupportStatus};
use crate::settings::Settings;
use crate::status::Status;
use crate::steps::{commit, load, system};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupportCheckOutput {
    pub migration_id: MigrationId,
    pub plan: SupportPlan,
    /// True when the plan is paid and the workflow may go on.
    pub confirmed: bool,
    /// Seconds until the next check (the state machine's Wait `SecondsPath`).
    pub wait_seconds: i64,
}

/// Grows from the first wait, doubling per check, capped at the maximum and at the deadline.
pub fn next_support_wait(settings: &Settings, checks_done: u32, now: DateTime<Utc>, deadline: DateTime<Utc>) -> Duration {
    let doubling = settings.support_first_wait * 2_i32.saturating_pow(checks_done.saturating_sub(1).min(16));
    let wait = doubling.min(settings.support_max_wait);
    let to_deadline = deadline - now;
    // Never busy-loop: at least a minute, or the first wait when it is configured shorter.
    wait.min(to_deadline).max(settings.support_first_wait.min(Duration::seconds(60)))
}

/// When each support check of a customer who stays on Basic runs, as offsets from the first
/// one (right after the join): the join re-check, then the growing waits, up to the check at
/// or past the deadline that ends the wait. The step waits exactly so; tests, the demo's
/// expected outcome and the execution-timeout bound read the schedule from here.
pub fn support_check_times(settings: &Settings) -> Vec<Duration> {
    let start = DateTime::<Utc>::UNIX_EPOCH;
    let deadline = start + settings.support_deadline;
    let (mut now, mut checks, mut times) = (start, 0u32, Vec::new());
    loop {
        checks += 1;
        times.push(now - start);
        if now >= deadline {
            return times;
        }
        now += if checks == 1 { join_recheck(settings, now, deadline) } else { next_support_wait(settings, checks, now, deadline) };
    }
}

/// The wait after Basic at the first check right after the join.
fn join_recheck(settings: &Settings, now: DateTime<Utc>, deadline: DateTime<Utc>) -> Duration {
    settings.support_join_recheck.min(deadline - now)
}

#[instrument(skip(ports), fields(migration_id = %id))]
pub async fn check_support(ports: &Ports, id: MigrationId) -> Result<SupportCheckOutput, StepError> {
    let record = load(ports, id).await?;
    match record.status {
        // A billing transfer checks the plan of the customer's management account once the
        // partner pays its bill, as a join does once the account is in.
        Status::Joined | Status::BillingTransferred | Status::AwaitingSupportUpgrade => {}
        Status::SupportConfirmed | Status::HardeningScheduled | Status::Hardened | Status::Completed => {
            let plan = record.support.as_ref().map_or(SupportPlan::Paid, |s| s.plan);
            return Ok(SupportCheckOutput { migration_id: id, plan, confirmed: true, wait_seconds: 0 });
        }
        Status::Canceled => return Err(StepError::Canceled),
        actual => return Err(StepError::WrongStatus { actual }),
    }
    let now = ports.clock.now();
    let answer = probe(ports, &record).await?;

    let previous = record.support.as_ref();
    let first_checked_at = previous.map_or(now, |s| s.first_checked_at);
    let deadline = previous.map_or(now + ports.settings.support_deadline, |s| s.deadline);
    let checks = previous.map_or(0, |s| s.checks) + 1;
    let paid = answer.plan.is_paid();
    let timed_out = !paid && now >= deadline;
    // AWS cancels a joining account's plan and reactivates it on the consolidated bill
    // within minutes: Basic at the first check after the join may be that gap. Look again
    // soon before telling the customer to upgrade.
    // The first check, or a retry of it (a crash after its write) before the re-check is
    // due: a retry must not skip the gap.
    let recheck_due = previous.and_then(|p| p.next_check_at);
    let before_recheck = previous.is_none() || recheck_due.is_some_and(|due| now < due);
    let in_join_gap = answer.plan == SupportPlan::BasicOrDeveloper && record.status == Status::Joined && before_recheck && !timed_out;
    let wait = if in_join_gap {
        // A retry keeps the first check's re-check time.
        recheck_due.map_or_else(|| join_recheck(&ports.settings, now, deadline), |due| (due - now).min(deadline - now))
    } else {
        next_support_wait(&ports.settings, checks, now, deadline)
    };

    let mut change = ChangeBuilder::new(&record, system("check-support"), now);
    change = match (answer.plan, record.status) {
        (plan, _) if plan.is_paid() => change.transition(Status::SupportConfirmed, format!("the account has {}", plan.describe()))?,
        (SupportPlan::BasicOrDeveloper, Status::Joined) if in_join_gap => change.progress(format!(
            "support check {checks} found no paid plan right after the join; AWS reactivates a joining account's plan on the consolidated bill within minutes, so it checks again at {} before asking for an upgrade",
            (now + wait).to_rfc3339()
        )),
        (SupportPlan::BasicOrDeveloper, Status::Joined) => change.transition(
            Status::AwaitingSupportUpgrade,
            format!("the account has Basic or Developer support; the customer's root user must upgrade to {PLAN_TO_BUY} or higher"),
        )?,
        (plan, _) => change.progress(format!("support check {checks}: {plan:?}")),
    };
    // The execution got here past the handshake wait: its token is spent. Forget it even
    // if the watcher was cut short before doing so.
    change.record().task_token = None;
    let last_read =
        if answer.plan == SupportPlan::Unknown { previous.and_then(|p| p.last_read.or(Some(p.plan))) } else { Some(answer.plan) }
            .filter(|p| *p != SupportPlan::Unknown);
    change.record().support = Some(SupportStatus {
        plan: answer.plan,
        last_read,
        detail: answer.detail.clone(),
        checks,
        first_checked_at,
        last_checked_at: now,
        deadline,
        next_check_at: (!paid && !timed_out).then(|| now + wait),
    });
    let record = commit(ports, change.build()).await?;
    info!(plan = ?answer.plan, checks, "support checked");
    if timed_out {
        // No check ever read the plan: nothing is claimed about it. (One unreadable last
        // check after Basic readings, e.g. throttling, still ends as a missed upgrade.)
        if last_read.is_none() {
            return Err(StepError::SupportPlanUnreadable(answer.detail.unwrap_or_else(|| "no answer".into())));
        }
        return Err(StepError::SupportUpgradeTimedOut);
    }
    Ok(SupportCheckOutput {
        migration_id: record.id,
        plan: answer.plan,
        confirmed: paid,
        wait_seconds: if paid { 0 } else { wait.num_seconds() },
    })
}

async fn probe(ports: &Ports, record: &crate::record::Migration) -> Result<SupportAnswer, StepError> {
    let profile = ports.store.org_profile(&record.org_id).await?;
    let Some(profile) = profile else {
        return Ok(SupportAnswer { plan: SupportPlan::Unknown, detail: Some("the organization profile is missing".into()) });
    };
    match ports.customer.assume(&record.role_arn, &profile.external_id, record.id).await {
        Ok(session) => Ok(ports.support.support_plan(&session).await),
        Err(AccessError::Retryable(e)) => Err(StepError::Transient(e)),
        // Never guess Basic: an unreadable plan is unknown, and the loop asks again.
        Err(e) => Ok(SupportAnswer { plan: SupportPlan::Unknown, detail: Some(e.to_string()) }),
    }
}
