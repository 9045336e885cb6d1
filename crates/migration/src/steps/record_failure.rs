//! The record-failure step, behind every Catch: the failure, its remediation, the terminal
//! status, and the account lock released so the customer can try again.

use serde::{Deserialize, Serialize};
use tracing::{info, instrument};

use crate::error::{Refusal, StepError, names};
use crate::ids::MigrationId;
use crate::ports::Ports;
use crate::record::{Actor, ChangeBuilder, Failure, Migration};
use crate::rules::Violation;
use crate::status::Status;
use crate::steps::{system, update_with_retry};

/// What the state machine's Fail state shows: `error` is the domain error name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureOutput {
    pub migration_id: MigrationId,
    pub error: String,
    pub cause: String,
    pub status: Status,
}

/// Maps a caught error to the terminal status, the error name the Fail state shows, and the
/// remediation. `current` is the status when the error was caught.
pub fn classify_failure(error: &str, current: Status) -> (Status, &'static str, &'static str) {
    let (status, name, remediation) = match error {
        names::NOT_ELIGIBLE => (Status::Rejected, names::NOT_ELIGIBLE, "Fix every listed rule, then start a new migration."),
        names::INVITATION_DECLINED => (
            Status::InvitationDeclined,
            names::INVITATION_DECLINED,
            "The customer declined the invitation. Start a new migration when they are ready to accept it.",
        ),
        // States.Timeout can only come from the handshake wait, whose timeout is the
        // invitation's lifetime.
        names::INVITATION_EXPIRED | names::STATES_TIMEOUT if current == Status::Invited => (
            Status::InvitationExpired,
            names::INVITATION_EXPIRED,
            "The invitation expired after 15 days. Start a new migration; the customer's root user must accept within 15 days.",
        ),
        names::INVITATION_CANCELED | names::CANCELED => (
            Status::Canceled,
            names::INVITATION_CANCELED,
            "The invitation was canceled. Start a new migration if the move should go ahead.",
        ),
        names::SUPPORT_UPGRADE_TIMED_OUT => (
            Status::SupportUpgradeTimedOut,
            names::SUPPORT_UPGRADE_TIMED_OUT,
            "The account joined but still lacks Business Support+ or higher. The customer's root user upgrades the plan, then an operator starts a new migration to finish.",
        ),
        names::SUPPORT_PLAN_UNREADABLE => (
            Status::SupportPlanUnreadable,
            names::SUPPORT_PLAN_UNREADABLE,
            "The account joined, but the CenturyLink role could not read its support plan before the deadline, so nothing is known about the plan. Let the role call support:DescribeSeverityLevels (the role template grants it; check SCPs and permission boundaries too), then an operator starts a new migration to finish: it continues at the support check.",
        ),
        names::ALREADY_IN_AN_ORGANIZATION => {
            (Status::Failed, names::ALREADY_IN_AN_ORGANIZATION, Refusal::AlreadyInAnOrganization.remediation())
        }
        names::ACCOUNT_NOT_ACTIVE => (
            Status::Failed,
            names::ACCOUNT_NOT_ACTIVE,
            "AWS reports the account as suspended or closing, so it is not moved on or hardened. The customer resolves the account's state with AWS (a suspended account: its billing; a closure: reopen it within 90 days), then starts a new migration.",
        ),
        names::HARDENING_STALLED => (
            Status::Failed,
            names::HARDENING_STALLED,
            "The hardening scan gave up on this account after its attempts; the cause names the last error (often the customer role, no longer assumable, or an SCP quota). Operators: fix it, then start a new migration for the account; it continues from what is applied.",
        ),
        names::TRANSFER_DECLINED => (
            Status::TransferDeclined,
            names::TRANSFER_DECLINED,
            "The customer's management account declined the billing transfer. AWS needs a new invitation: start a new migration when the customer is ready to accept it.",
        ),
        names::TRANSFER_EXPIRED | names::STATES_TIMEOUT if current == Status::TransferInvited => (
            Status::TransferExpired,
            names::TRANSFER_EXPIRED,
            "The billing transfer invitation expired unanswered. AWS needs a new invitation: start a new migration; the management account's administrator accepts it in the Billing console at least 24 hours before the start.",
        ),
        names::TRANSFER_CANCELED => (
            Status::TransferCanceled,
            names::TRANSFER_CANCELED,
            "The billing transfer invitation was canceled outside this system (in the partner's Billing console or by API). Start a new migration if the transfer should go ahead.",
        ),
        names::TRANSFER_WITHDRAWN => (
            Status::TransferWithdrawn,
            names::TRANSFER_WITHDRAWN,
            "The customer's management account withdrew from the billing transfer before it started, so the partner never paid this organization's bill. Start a new migration if the transfer should go ahead.",
        ),
        names::TRANSFER_WINDOW_MISSED => (
            Status::TransferWindowMissed,
            names::TRANSFER_WINDOW_MISSED,
            "Nobody accepted the billing transfer by 24 hours before its start, so AWS would not start it; the invitation was withdrawn. Start a new migration: leave start_month out to get the earliest month the customer can still accept.",
        ),
        names::TRANSFER_REFUSED => (
            Status::Failed,
            names::TRANSFER_REFUSED,
            "AWS refused the billing transfer; the cause names the reason and what to do about it.",
        ),
        names::USAGE_SNAPSHOT_REQUIRED => (
            Status::Failed,
            names::USAGE_SNAPSHOT_REQUIRED,
            "The request asked to wait for a usage snapshot, and the CenturyLink role could not take one for as long as the migration waits (the cause names why). Nothing was sent to the account. Fix what the cause names (usually: let the role call ce:GetCostAndUsage and ce:ListCostAllocationTags; the role template grants both), then start a new migration, or start one with usage_snapshot `optional`.",
        ),
        names::INVITATION_REFUSED => (
            Status::Failed,
            names::INVITATION_REFUSED,
            "AWS Organizations refused the invitation; the cause names the reason and what to do.",
        ),
        _ => (
            Status::Failed,
            names::FAILED,
            "An unexpected error stopped the migration. Operators: read the cause and the execution history, fix, then start a new migration.",
        ),
    };
    // A status the record cannot reach from where it is (e.g. canceled after joining) is a
    // plain failure; every non-terminal status can fail.
    if current.can_become(status) { (status, name, remediation) } else { (Status::Failed, name, remediation) }
}

#[derive(Deserialize)]
struct Cause {
    message: String,
    #[serde(default)]
    violations: Vec<Violation>,
}

/// The message and the violations of a caught error's cause. Step errors carry JSON
/// causes (`{"message", "violations"}`); Lambda crashes and `States.*` errors carry text,
/// which is the message as it is.
pub fn parse_cause(cause: &str) -> (String, Vec<Violation>) {
    match serde_json::from_str::<Cause>(cause) {
        Ok(c) => (c.message, c.violations),
        Err(_) => (cause.to_owned(), Vec::new()),
    }
}

#[instrument(skip(ports, cause), fields(migration_id = %id))]
pub async fn record_failure(ports: &Ports, id: MigrationId, error: &str, cause: &str) -> Result<FailureOutput, StepError> {
    record_failure_by(ports, system("record-failure"), id, error, cause).await.map(|(output, _)| output)
}

/// [`record_failure`], with the change recorded as `actor`'s (an operator's, for an
/// execution that ended without recording its failure), and the record as it now is.
pub(crate) async fn record_failure_by(
    ports: &Ports,
    actor: Actor,
    id: MigrationId,
    error: &str,
    cause: &str,
) -> Result<(FailureOutput, Migration), StepError> {
    let now = ports.clock.now();
    let (message, violations) = parse_cause(cause);
    let record = update_with_retry(ports, id, |current| {
        if current.status.is_terminal() {
            return Ok(None);
        }
        let (status, name, remediation) = classify_failure(error, current.status);
        let remediation = refusal_remediation(name, &message).unwrap_or(remediation);
        let note = format!("{name}: {message}");
        let mut change = ChangeBuilder::new(current, actor.clone(), now).transition(status, note)?;
        let record = change.record();
        record.failure = Some(Failure {
            error: name.to_owned(),
            cause: message.clone(),
            remediation: remediation.to_owned(),
            at: now,
            violations: violations.clone(),
        });
        record.task_token = None;
        // A joined account keeps its onboarding baseline: the scan still applies the
        // guardrail after a missed support deadline.
        let baseline_pending = current.status.has_joined() && record.hardening.as_ref().is_some_and(|j| j.completed_at.is_none());
        if !baseline_pending {
            record.due_at = None;
        }
        Ok(Some(change.build()))
    })
    .await?;
    let failure = record.failure.as_ref();
    let error_name = match record.status {
        Status::Canceled if failure.is_none() => names::CANCELED.to_owned(),
        _ => failure.map_or_else(|| names::FAILED.to_owned(), |f| f.error.clone()),
    };
    info!(status = %record.status, error = %error_name, "failure recorded");
    let output = FailureOutput {
        migration_id: id,
        error: error_name,
        cause: failure.map_or_else(|| message.clone(), |f| f.cause.clone()),
        status: record.status,
    };
    Ok((output, record))
}

/// A refused invitation's remediation depends on AWS's reason, which the cause names.
fn refusal_remediation(name: &str, message: &str) -> Option<&'static str> {
    if name == names::TRANSFER_REFUSED {
        // The longest reason first: one reason's name can be part of another's.
        let mut named: Vec<&crate::transfer::TransferRefusal> = crate::transfer::TransferRefusal::NAMED.iter().collect();
        named.sort_by_key(|r| std::cmp::Reverse(r.reason().len()));
        return named.into_iter().find(|r| message.contains(r.reason())).map(|r| r.remediation());
    }
    if name != names::INVITATION_REFUSED {
        return None;
    }
    [
        Refusal::AccountNumberLimitExceeded,
        Refusal::PaymentInstrumentRequired,
        Refusal::DifferentSellerOfRecord,
        Refusal::AlreadyInAnOrganization,
        Refusal::AccountOwnerNotVerified,
        Refusal::InviteToSelf,
        Refusal::HandshakeRateLimitExceeded,
    ]
    .into_iter()
    .find(|r| message.contains(r.reason()))
    .map(|r| r.remediation())
}
