//! Where a migration stands, as every reader shows it: the customer's next action and the
//! procedure's five steps with their state. The API's views and the demo's timeline both
//! read these, so they say the same thing.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::record::{EventKind, HandshakeState, HistoryEvent, Migration, PLAN_TO_BUY, SnapshotDecision, SnapshotState, SupportPlan};
use crate::status::Status;

/// Where the customer's root user accepts the invitation.
/// Where a management account's administrator answers a billing transfer invitation: the
/// Billing and Cost Management console's billing transfers.
pub const CONSOLE_BILLING_TRANSFERS_URL: &str = "https://console.aws.amazon.com/costmanagement/home#/billing-transfer";
pub const CONSOLE_INVITATIONS_URL: &str = "https://console.aws.amazon.com/organizations/v2/home/accounts/invitations";
/// Where the customer's root user changes the support plan.
pub const CONSOLE_SUPPORT_PLANS_URL: &str = "https://console.aws.amazon.com/support/plans/home";

/// What the customer must do for the migration to go on, with the console link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NextAction {
    /// `WAIT_FOR_INVITATION`, `DOWNLOAD_USAGE_SNAPSHOT`, `GRANT_COST_EXPLORER_READ`,
    /// `ACCEPT_INVITATION`, `ACCEPT_BILLING_TRANSFER`, `UPGRADE_SUPPORT_PLAN`,
    /// `GRANT_SUPPORT_READ` or `REVIEW_FAILURE`.
    pub code: &'static str,
    pub title: &'static str,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadline: Option<DateTime<Utc>>,
    /// What to do before this: download the usage snapshot before accepting, since the
    /// acceptance is what makes the account's Cost Explorer history unreadable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first: Option<FirstAction>,
}

/// An action to take before the next one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FirstAction {
    /// `DOWNLOAD_USAGE_SNAPSHOT`.
    pub code: &'static str,
    pub title: &'static str,
    pub description: String,
}

const DOWNLOAD_USAGE_SNAPSHOT: (&str, &str) = ("DOWNLOAD_USAGE_SNAPSHOT", "Download your usage history");
const GRANT_COST_EXPLORER_READ: (&str, &str) = ("GRANT_COST_EXPLORER_READ", "Let the CenturyLink role read Cost Explorer");

fn download_description(m: &Migration, months: u32) -> String {
    format!(
        "CenturyLink saved {months} months of AWS account {}'s Cost Explorer history, which the account can no longer read once it moves under the new payer. Your organization's administrators download it from this migration's usage_snapshot (CSV files and a manifest; each link works for 15 minutes and is signed again on every read).",
        m.aws_account_id
    )
}

/// The download to do first, while a taken snapshot waits for the customer's acceptance.
fn download_first(m: &Migration) -> Option<FirstAction> {
    match &m.usage_snapshot {
        Some(SnapshotState::Taken { months, .. }) => Some(FirstAction {
            code: DOWNLOAD_USAGE_SNAPSHOT.0,
            title: DOWNLOAD_USAGE_SNAPSHOT.1,
            description: download_description(m, *months),
        }),
        _ => None,
    }
}

/// One step of the procedure, as a progress bar shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepProgress {
    pub step: &'static str,
    /// `completed`, `in_progress`, `pending`, `failed`, `canceled`, `skipped` or `not_reached`.
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime<Utc>>,
}

const ACCEPT_INVITATION: (&str, &str) = ("ACCEPT_INVITATION", "Accept the invitation in the AWS console");
const ACCEPT_BILLING_TRANSFER: (&str, &str) = ("ACCEPT_BILLING_TRANSFER", "Accept the billing transfer in the AWS Billing console");
const UPGRADE_SUPPORT_PLAN: (&str, &str) = ("UPGRADE_SUPPORT_PLAN", "Upgrade the AWS support plan");
const GRANT_SUPPORT_READ: (&str, &str) = ("GRANT_SUPPORT_READ", "Let the CenturyLink role read the support plan");

/// The code and title of what reaching `status` asks of the customer, for readers that see
/// the status change but not the record of that moment (the demo's timeline). A record in
/// that status answers [`next_action`] with the same code and title.
pub fn asked_on_reaching(status: Status) -> Option<(&'static str, &'static str)> {
    match status {
        Status::Invited => Some(ACCEPT_INVITATION),
        Status::TransferInvited => Some(ACCEPT_BILLING_TRANSFER),
        Status::AwaitingSupportUpgrade => Some(UPGRADE_SUPPORT_PLAN),
        _ => None,
    }
}

const WAIT_FOR_INVITATION: (&str, &str) = ("WAIT_FOR_INVITATION", "Wait for the invitation");

/// Before the invitation: a snapshot the customer must unblock, the download, or when the
/// invitation comes.
fn validated(m: &Migration) -> Option<NextAction> {
    // The migration waits for a snapshot the request requires, and only the customer can
    // change what stops it (throttling passes by itself).
    if let Some(SnapshotState::Failed { code, remediation, retryable: false, then: SnapshotDecision::Waits, .. }) = &m.usage_snapshot {
        return Some(NextAction {
            code: GRANT_COST_EXPLORER_READ.0,
            title: GRANT_COST_EXPLORER_READ.1,
            description: format!(
                "The migration waits for a usage snapshot (the request set usage_snapshot to `required`), and the CenturyLink role in AWS account {} could not take one ({code}): {remediation} The migration tries again every hour, for two days.",
                m.aws_account_id
            ),
            url: None,
            deadline: None,
            first: None,
        });
    }
    let Some(w) = &m.invitation_wait else {
        let first = download_first(m)?;
        return Some(NextAction {
            code: first.code,
            title: first.title,
            description: first.description,
            url: None,
            deadline: None,
            first: None,
        });
    };
    // Nothing to do yet, but the customer should know when the invitation comes, and why it
    // did not come at once.
    Some(NextAction {
        code: WAIT_FOR_INVITATION.0,
        title: WAIT_FOR_INVITATION.1,
        description: format!(
            "Your invitation will be sent at {}: the partner's daily invitation quota is used up. Nothing to do until then; the root user of AWS account {} then accepts it in AWS Organizations > Invitations.",
            w.send_at.to_rfc3339(),
            m.aws_account_id
        ),
        url: None,
        deadline: None,
        first: download_first(m),
    })
}

/// The customer's next action, derived from the record alone.
pub fn next_action(m: &Migration) -> Option<NextAction> {
    match m.status {
        Status::Validated => validated(m),
        Status::Invited => {
            let h = m.handshake.as_ref().filter(|h| matches!(h.state, HandshakeState::Open | HandshakeState::Requested))?;
            Some(NextAction {
                code: ACCEPT_INVITATION.0,
                title: ACCEPT_INVITATION.1,
                description: format!(
                    "Sign in to AWS account {} as the root user, open AWS Organizations > Invitations and accept invitation {} from the CenturyLink organization before it expires.",
                    m.aws_account_id, h.id
                ),
                url: Some(CONSOLE_INVITATIONS_URL),
                deadline: Some(h.expires_at),
                first: download_first(m),
            })
        }
        Status::TransferInvited => {
            let bt = m.billing_transfer.as_ref()?;
            let h = bt.handshake.as_ref().filter(|h| matches!(h.state, HandshakeState::Open | HandshakeState::Requested))?;
            Some(NextAction {
                code: ACCEPT_BILLING_TRANSFER.0,
                title: ACCEPT_BILLING_TRANSFER.1,
                description: format!(
                    "Sign in to your organization's management account {} as an administrator with the Billing permissions, open Billing and Cost Management > Billing transfers and accept invitation {} from CenturyLink. CenturyLink pays your organization's bill from {}; AWS needs the acceptance at least 24 hours before, by {}.",
                    m.aws_account_id,
                    h.id,
                    bt.start_at().to_rfc3339(),
                    bt.accept_by().to_rfc3339()
                ),
                url: Some(CONSOLE_BILLING_TRANSFERS_URL),
                deadline: Some(bt.accept_by()),
                first: download_first(m),
            })
        }
        // The role cannot read the plan: that is the customer's to fix, not the plan.
        Status::Joined | Status::BillingTransferred | Status::AwaitingSupportUpgrade
            if m.support.as_ref().is_some_and(|s| s.plan == SupportPlan::Unknown) =>
        {
            let s = m.support.as_ref()?;
            Some(NextAction {
                code: GRANT_SUPPORT_READ.0,
                title: GRANT_SUPPORT_READ.1,
                description: format!(
                    "The CenturyLink role in AWS account {} cannot read the account's support plan ({}). Let the role call support:DescribeSeverityLevels: the role template grants it, so check that the stack is deployed and that no SCP or permission boundary denies it. The migration checks again automatically.",
                    m.aws_account_id,
                    s.detail.as_deref().unwrap_or("no answer")
                ),
                url: None,
                deadline: Some(s.deadline),
                first: None,
            })
        }
        // Not at JOINED: Basic at the first check right after the join may be AWS's plan
        // reactivation gap, and the step looks again before asking for an upgrade.
        Status::AwaitingSupportUpgrade => {
            let s = m.support.as_ref().filter(|s| s.plan == SupportPlan::BasicOrDeveloper)?;
            Some(NextAction {
                code: UPGRADE_SUPPORT_PLAN.0,
                title: UPGRADE_SUPPORT_PLAN.1,
                description: format!(
                    "Sign in to AWS account {} as the root user and change the support plan to {PLAN_TO_BUY} or higher (Enterprise Support or Unified Operations). The legacy Developer, Business and Enterprise On-Ramp plans end on 2027-01-01. The migration checks again automatically.",
                    m.aws_account_id
                ),
                url: Some(CONSOLE_SUPPORT_PLANS_URL),
                deadline: Some(s.deadline),
                first: None,
            })
        }
        s if s.is_failure() && s != Status::Canceled => {
            let f = m.failure.as_ref()?;
            Some(NextAction {
                code: "REVIEW_FAILURE",
                title: "Review why the migration stopped",
                description: f.remediation.clone(),
                url: None,
                deadline: None,
                first: None,
            })
        }
        _ => None,
    }
}

const STEP_NAMES: [&str; 5] = ["validate", "invite", "accept_invitation", "support_plan", "hardening"];

/// The step a non-terminal status is working on; 5 when all are done.
fn current_step(s: Status) -> usize {
    match s {
        Status::Requested => 0,
        Status::Validated => 1,
        Status::Invited | Status::TransferInvited => 2,
        // Accepted, waiting for the start: the acceptance is done, the support check not begun.
        Status::Joined | Status::TransferAccepted | Status::BillingTransferred | Status::AwaitingSupportUpgrade => 3,
        Status::SupportConfirmed | Status::HardeningScheduled => 4,
        _ => 5,
    }
}

/// The statuses whose reaching completes each step.
fn completes(step: usize, s: Status) -> bool {
    match step {
        0 => s == Status::Validated,
        1 => matches!(s, Status::Invited | Status::Joined | Status::TransferInvited),
        2 => matches!(s, Status::Joined | Status::TransferAccepted),
        3 => s == Status::SupportConfirmed,
        _ => matches!(s, Status::Hardened | Status::Completed),
    }
}

pub fn steps(m: &Migration, history: &[HistoryEvent]) -> Vec<StepProgress> {
    let changes: Vec<&HistoryEvent> = history.iter().filter(|e| e.kind == EventKind::StatusChanged).collect();
    let completed_at = |i: usize| changes.iter().find(|e| completes(i, e.to)).map(|e| e.at);
    // Where a terminal failure happened: the status it left.
    let failed_at = if m.status.is_failure() {
        let from = changes.iter().rev().find(|e| e.to == m.status).and_then(|e| e.from).unwrap_or(Status::Requested);
        Some(current_step(from).min(4))
    } else {
        None
    };
    let current = current_step(m.status);
    STEP_NAMES
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let state = match failed_at {
                Some(f) if i < f => "completed",
                Some(f) if i == f => {
                    if m.status == Status::Canceled {
                        "canceled"
                    } else {
                        "failed"
                    }
                }
                Some(_) => "not_reached",
                None if i == 4 && m.status == Status::Completed => "skipped",
                None if i < current => "completed",
                None if i == current => "in_progress",
                None => "pending",
            };
            StepProgress { step, state, completed_at: if state == "completed" { completed_at(i) } else { None } }
        })
        .collect()
}
