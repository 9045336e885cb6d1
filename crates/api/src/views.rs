//! What the API shows. Every response is built from these structs, never by serializing a
//! domain record, so the task token and the ExternalId cannot slip into a response: the
//! ExternalId appears in [`OnboardingView`] only, the task token nowhere.

use chrono::{DateTime, Utc};
use migration::Migration;
use migration::ports::ExecutionStatus;
use migration::readiness::{DIRECT_TRANSFER_CHANGES, TransferChange};
use migration::record::{Actor, Control, EventKind, HandshakeState, HistoryEvent, SupportPlan};
use migration::request::{AccessLevel, Acknowledgements};
use migration::rules::{Approval, Eligibility, OrgProfile, Terms, TermsDocument, check_eligibility};
use migration::status::Status;
use migration::steps::{Inspection, Onboarding};
use migration::transfer::{BillingMonth, MigrationKind, TransferStatus};
use serde::Serialize;

use crate::problem::ViolationView;

// The next action and the progress of the steps are the domain's, so the API and the demo say
// the same thing.
pub use migration::progress::{
    CONSOLE_INVITATIONS_URL, CONSOLE_SUPPORT_PLANS_URL, NextAction, StepProgress as StepView, next_action, steps,
};

#[derive(Debug, Clone, Serialize)]
pub struct MigrationView {
    pub id: String,
    pub status: Status,
    /// The migration reached a status it never leaves.
    pub terminal: bool,
    pub provider_name: String,
    pub aws_account_id: String,
    pub role_arn: String,
    pub access_level: AccessLevel,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub accepted_terms: Vec<AcceptedTermsView>,
    pub acknowledgements: Acknowledgements,
    pub kind: MigrationKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub billing_transfer: Option<BillingTransferView>,
    /// The account's cost and usage history, saved before the move, once attempted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage_snapshot: Option<UsageSnapshotView>,
    /// The request asked the migration to wait for a usage snapshot.
    pub usage_snapshot_required: bool,
    /// The organization the account leaves on acceptance, when it is a member of another.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direct_transfer: Option<DirectTransferView>,
    pub steps: Vec<StepView>,
    pub timeline: Vec<TimelineEntry>,
    /// While the invitation waits for the partner's daily invitation quota: when it will be
    /// sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invitation_scheduled_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handshake: Option<HandshakeView>,
    /// When consolidated billing started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub joined_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub support: Option<SupportView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hardening: Option<HardeningView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailureView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_action: Option<NextAction>,
}

/// The readiness section of a direct transfer: what the customer role showed of the old
/// organization, and what the move changes.
#[derive(Debug, Clone, Serialize)]
pub struct DirectTransferView {
    pub organization_id: String,
    pub management_account_id: String,
    pub acknowledged: bool,
    pub checked_at: DateTime<Utc>,
    pub changes: &'static [TransferChange],
}

/// `GET /onboarding`'s guidance for an account that is a member of another organization.
#[derive(Debug, Clone, Serialize)]
pub struct DirectTransferGuidance {
    /// The field of `acknowledgements` to set.
    pub acknowledgement: &'static str,
    pub required_when: &'static str,
    pub changes: &'static [TransferChange],
}

#[derive(Debug, Clone, Serialize)]
pub struct AcceptedTermsView {
    pub document_id: String,
    pub version: String,
    pub accepted_by: String,
    pub accepted_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HandshakeView {
    pub id: String,
    pub state: HandshakeState,
    pub requested_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SupportView {
    pub plan: SupportPlan,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub checks: u32,
    pub last_checked_at: DateTime<Utc>,
    /// The customer must have Business Support+ or higher by then.
    pub deadline: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_check_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ControlView {
    pub control: &'static str,
    /// The OU or policy the control concerns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// For a move: the SCPs the OU carries (the scan checks the OU carries them before it
    /// moves an account in), which the account is under from then on.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scps: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HardeningView {
    pub full: bool,
    pub controls_planned: usize,
    pub controls_applied: usize,
    pub controls: Vec<ControlView>,
    pub attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FailureView {
    pub error: String,
    pub cause: String,
    pub remediation: String,
    pub at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<ViolationView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TimelineEntry {
    pub seq: u64,
    pub at: DateTime<Utc>,
    /// `status_changed` or `progress`.
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Status>,
    pub status: Status,
    pub actor: ActorView,
    pub note: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ActorView {
    /// `user`, `operator` or `system`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct MigrationSummary {
    pub id: String,
    pub status: Status,
    pub terminal: bool,
    pub provider_name: String,
    pub aws_account_id: String,
    pub access_level: AccessLevel,
    pub requested_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_action: Option<NextAction>,
}

/// An item of `GET /admin/migrations`: the summary and whose it is.
#[derive(Debug, Clone, Serialize)]
pub struct AdminMigrationSummary {
    pub organization_id: String,
    pub migration: MigrationSummary,
}

#[derive(Debug, Clone, Serialize)]
pub struct AdminMigrationPage {
    pub items: Vec<AdminMigrationSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

pub fn admin_migration_summary(m: &Migration) -> AdminMigrationSummary {
    AdminMigrationSummary { organization_id: m.org_id.to_string(), migration: migration_summary(m) }
}

#[derive(Debug, Clone, Serialize)]
pub struct MigrationPage {
    pub items: Vec<MigrationSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// `GET /onboarding`: everything the customer needs before requesting a migration. The
/// only response that carries the ExternalId.
#[derive(Debug, Clone, Serialize)]
pub struct OnboardingView {
    pub organization_id: String,
    pub external_id: String,
    pub partner_account_id: String,
    pub role_templates: Vec<RoleTemplateView>,
    pub territory: String,
    /// The documents to accept, in their current versions; empty when none are published.
    pub terms: Vec<TermsDocument>,
    pub acknowledgements_required: Vec<&'static str>,
    pub direct_transfer: DirectTransferGuidance,
    /// The second kind of migration, where this deployment offers it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub billing_transfer: Option<BillingTransferGuidance>,
}

/// `GET /onboarding`'s offer of a billing transfer.
#[derive(Debug, Clone, Serialize)]
pub struct BillingTransferGuidance {
    pub kind: MigrationKind,
    pub access_level: AccessLevel,
    pub required_account: &'static str,
    /// The month the transfer starts in when the request names none.
    pub earliest_start_month: BillingMonth,
    pub latest_start_month: BillingMonth,
    pub acceptance: &'static str,
}

/// The usage snapshot as the status API shows it: what it holds, or why it was not taken.
#[derive(Debug, Clone, Serialize)]
pub struct UsageSnapshotView {
    #[serde(flatten)]
    pub state: migration::usage::SnapshotState,
    /// To the organization's administrators only, on `GET /migrations/{id}`: a link per
    /// file, freshly signed on each read, valid for [`SNAPSHOT_LINK_MINUTES`] minutes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download: Option<SnapshotDownloadView>,
}

/// How long a snapshot's download links work.
pub const SNAPSHOT_LINK_MINUTES: i64 = 15;

#[derive(Debug, Clone, Serialize)]
pub struct SnapshotDownloadView {
    pub expires_at: DateTime<Utc>,
    pub files: Vec<SnapshotFileLink>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SnapshotFileLink {
    pub name: String,
    pub url: String,
}

/// A billing transfer's side of a migration.
#[derive(Debug, Clone, Serialize)]
pub struct BillingTransferView {
    pub start_month: BillingMonth,
    pub start_at: DateTime<Utc>,
    /// The last moment the customer's management account can accept.
    pub accept_by: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invitation: Option<HandshakeView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer_status: Option<TransferStatus>,
    /// When the partner started paying the organization's bill.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub billing_starts_at: Option<DateTime<Utc>>,
    /// When it stops, once either side ended the transfer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub billing_ends_at: Option<DateTime<Utc>>,
    /// The pro forma billing group that shows the customer their costs exists.
    pub cost_view_ready: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct RoleTemplateView {
    pub access_level: AccessLevel,
    pub role_name: &'static str,
    pub full_hardening: bool,
    pub description: &'static str,
    /// The CloudFormation parameters of `infra/customer-role.yaml`.
    pub parameters: RoleTemplateParameters,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template_url: Option<String>,
    /// A CloudFormation quick-create link with the parameters filled in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quick_create_url: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RoleTemplateParameters {
    pub partner_account_id: String,
    pub external_id: String,
    pub access_level: &'static str,
}

/// An organization profile as operators see it: the ExternalId is write-only here.
#[derive(Debug, Clone, Serialize)]
pub struct OrgProfileView {
    pub org_id: String,
    pub territory: String,
    #[serde(flatten)]
    pub eligibility: Eligibility,
    pub external_id_issued: bool,
    /// Whether the profile passes every eligibility rule, and which it breaks.
    pub eligible: bool,
    pub violations: Vec<ViolationView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ApprovalView {
    pub account_id: String,
    pub reference: String,
    pub approved: bool,
    pub recorded_by: String,
    pub recorded_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TermsView {
    pub territory: String,
    pub documents: Vec<TermsDocument>,
}

pub fn migration_view(m: &Migration, history: &[HistoryEvent]) -> MigrationView {
    view_for(m, history, Viewer::Customer)
}

/// Who reads a view: an operator sees who did what by IAM principal, a customer sees
/// "an operator".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Viewer {
    Customer,
    Operator,
}

fn view_for(m: &Migration, history: &[HistoryEvent], viewer: Viewer) -> MigrationView {
    MigrationView {
        id: m.id.to_string(),
        status: m.status,
        terminal: m.status.is_terminal(),
        provider_name: m.provider_name.clone(),
        aws_account_id: m.aws_account_id.to_string(),
        role_arn: m.role_arn.to_string(),
        access_level: m.access_level,
        requested_by: m.requested_by.to_string(),
        requested_at: m.requested_at,
        updated_at: m.updated_at,
        accepted_terms: m
            .accepted_terms
            .iter()
            .map(|t| AcceptedTermsView {
                document_id: t.acceptance.document_id.clone(),
                version: t.acceptance.version.clone(),
                accepted_by: t.accepted_by.to_string(),
                accepted_at: t.accepted_at,
            })
            .collect(),
        acknowledgements: m.acknowledgements,
        kind: m.kind,
        usage_snapshot: m.usage_snapshot.as_ref().map(|s| UsageSnapshotView { state: s.clone(), download: None }),
        usage_snapshot_required: m.usage_snapshot_required,
        billing_transfer: m.billing_transfer.as_ref().map(|bt| BillingTransferView {
            start_month: bt.start_month,
            start_at: bt.start_at(),
            accept_by: bt.accept_by(),
            invitation: bt.handshake.as_ref().map(|h| HandshakeView {
                id: h.id.to_string(),
                state: h.state,
                requested_at: h.requested_at,
                expires_at: h.expires_at,
            }),
            transfer_id: bt.transfer_id.as_ref().map(ToString::to_string),
            transfer_status: bt.transfer_status,
            billing_starts_at: bt.billing_starts_at,
            billing_ends_at: bt.billing_ends_at,
            cost_view_ready: bt.billing_group.is_some(),
        }),
        direct_transfer: m.direct_transfer.as_ref().map(|d| DirectTransferView {
            organization_id: d.organization_id.clone(),
            management_account_id: d.management_account_id.to_string(),
            acknowledged: m.acknowledgements.direct_transfer,
            checked_at: d.checked_at,
            changes: DIRECT_TRANSFER_CHANGES,
        }),
        steps: steps(m, history),
        timeline: history.iter().map(|e| timeline_entry(e, viewer)).collect(),
        invitation_scheduled_at: m.invitation_wait.as_ref().filter(|_| m.status == Status::Validated).map(|w| w.send_at),
        handshake: m.handshake.as_ref().map(|h| HandshakeView {
            id: h.id.to_string(),
            state: h.state,
            requested_at: h.requested_at,
            expires_at: h.expires_at,
        }),
        joined_at: m.joined_at,
        support: m.support.as_ref().map(|s| SupportView {
            plan: s.plan,
            detail: s.detail.clone(),
            checks: s.checks,
            last_checked_at: s.last_checked_at,
            deadline: s.deadline,
            next_check_at: s.next_check_at,
        }),
        hardening: m.hardening.as_ref().map(|h| {
            let mut controls: Vec<ControlView> = h
                .applied
                .iter()
                .map(|a| {
                    let (control, target, scps) = control_parts(&a.control);
                    ControlView { control, target, scps, applied_at: Some(a.applied_at) }
                })
                .collect();
            controls.extend(h.planned.iter().filter(|c| !h.applied.iter().any(|a| &a.control == *c)).map(|c| {
                let (control, target, scps) = control_parts(c);
                ControlView { control, target, scps, applied_at: None }
            }));
            HardeningView {
                full: h.full,
                controls_planned: h.planned.len(),
                controls_applied: h.applied.len(),
                controls,
                attempts: h.attempts,
                last_error: h.last_error.clone(),
                completed_at: h.completed_at,
            }
        }),
        failure: m.failure.as_ref().map(|f| FailureView {
            error: f.error.clone(),
            cause: f.cause.clone(),
            remediation: f.remediation.clone(),
            at: f.at,
            violations: f.violations.iter().map(ViolationView::from).collect(),
        }),
        next_action: next_action(m),
    }
}

/// `GET /admin/migrations/{id}`: the customer's view with operators named, the
/// organization, and the execution.
#[derive(Debug, Clone, Serialize)]
pub struct AdminMigrationView {
    pub organization_id: String,
    /// What the customer sees, but for operators named by their IAM principal.
    pub migration: MigrationView,
    pub execution: ExecutionView,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExecutionView {
    /// The execution's ARN, named after the migration (whether or not it was started).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// The execution in the Step Functions console.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console_url: Option<String>,
    /// Step Functions' status (`RUNNING`, `SUCCEEDED`, `FAILED`, `TIMED_OUT`, `ABORTED`,
    /// `PENDING_REDRIVE`), or `NOT_STARTED`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// The execution ended but the record is not terminal: its failure is unrecorded
    /// (`POST /admin/migrations/{id}/record-failure` records it).
    pub failure_unrecorded: bool,
}

pub fn admin_migration_view(inspection: &Inspection) -> AdminMigrationView {
    let (m, e) = (&inspection.record, inspection.execution.as_ref());
    let ended_without_record = e.is_some_and(|e| e.status.has_ended() && e.status != ExecutionStatus::Succeeded);
    AdminMigrationView {
        organization_id: m.org_id.to_string(),
        migration: view_for(m, &inspection.history, Viewer::Operator),
        execution: ExecutionView {
            arn: inspection.execution_arn.clone(),
            console_url: inspection.execution_arn.as_deref().and_then(console_url),
            status: e.map_or("NOT_STARTED", |e| e.status.as_str()),
            started_at: e.map(|e| e.started_at),
            stopped_at: e.and_then(|e| e.stopped_at),
            error: e.and_then(|e| e.error.clone()),
            cause: e.and_then(|e| e.cause.clone()),
            failure_unrecorded: ended_without_record && !m.status.is_terminal(),
        },
    }
}

/// The Step Functions console's page of an execution, in the commercial partition. (The
/// console's route, `#/v2/executions/details/<arn>`, is the console's, not an API contract:
/// if AWS moves it, the ARN above still finds the execution.)
pub fn console_url(execution_arn: &str) -> Option<String> {
    match execution_arn.split(':').collect::<Vec<_>>().as_slice() {
        ["arn", "aws", "states", region, _account, "execution", _machine, _name]
            if !region.is_empty() && region.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
        {
            Some(format!("https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{execution_arn}"))
        }
        _ => None,
    }
}

pub fn migration_summary(m: &Migration) -> MigrationSummary {
    MigrationSummary {
        id: m.id.to_string(),
        status: m.status,
        terminal: m.status.is_terminal(),
        provider_name: m.provider_name.clone(),
        aws_account_id: m.aws_account_id.to_string(),
        access_level: m.access_level,
        requested_at: m.requested_at,
        updated_at: m.updated_at,
        next_action: next_action(m),
    }
}

fn control_parts(c: &Control) -> (&'static str, Option<String>, Vec<String>) {
    match c {
        Control::MoveToOnboardingOu { ou_id, scps } => ("move_to_onboarding_ou", Some(ou_id.clone()), scps.clone()),
        Control::AttachGuardrailScp { policy_id } => ("attach_guardrail_scp", Some(policy_id.clone()), Vec::new()),
        Control::MoveToHardenedOu { ou_id, scps } => ("move_to_hardened_ou", Some(ou_id.clone()), scps.clone()),
        Control::AttachHardeningScp { policy_id } => ("attach_hardening_scp", Some(policy_id.clone()), Vec::new()),
        Control::TagAccount => ("tag_account", None, Vec::new()),
    }
}

fn timeline_entry(e: &HistoryEvent, viewer: Viewer) -> TimelineEntry {
    TimelineEntry {
        seq: e.seq,
        at: e.at,
        kind: match e.kind {
            EventKind::StatusChanged => "status_changed",
            EventKind::Progress => "progress",
        },
        from: e.from,
        status: e.to,
        actor: match &e.actor {
            Actor::User(u) => ActorView { kind: "user", id: u.to_string() },
            Actor::Operator(principal) => ActorView {
                kind: "operator",
                id: if viewer == Viewer::Operator { principal.clone() } else { "CenturyLink operator".to_owned() },
            },
            Actor::System(s) => ActorView { kind: "system", id: s.clone() },
        },
        note: e.note.clone(),
    }
}

pub fn onboarding_view(onboarding: &Onboarding, partner: &str, template_url: Option<&str>) -> OnboardingView {
    let (profile, terms) = (&onboarding.profile, onboarding.terms.as_ref());
    let template = |access_level: AccessLevel| {
        let (role_name, param, description, full) =
            (access_level.role_name(), access_level.template_parameter(), access_level.description(), access_level.hardens());
        let parameters = RoleTemplateParameters {
            partner_account_id: partner.to_owned(),
            external_id: profile.external_id.to_string(),
            access_level: param,
        };
        let quick_create_url = template_url.map(|url| {
            let query = form_urlencoded::Serializer::new(String::new())
                .append_pair("templateURL", url)
                .append_pair("stackName", role_name)
                .append_pair("param_PartnerAccountId", &parameters.partner_account_id)
                .append_pair("param_ExternalId", &parameters.external_id)
                .append_pair("param_AccessLevel", param)
                .finish();
            format!("https://console.aws.amazon.com/cloudformation/home#/stacks/quickcreate?{query}")
        });
        RoleTemplateView {
            access_level,
            role_name,
            full_hardening: full,
            description,
            parameters,
            template_url: template_url.map(str::to_owned),
            quick_create_url,
        }
    };
    OnboardingView {
        organization_id: profile.org_id.to_string(),
        external_id: profile.external_id.to_string(),
        partner_account_id: partner.to_owned(),
        role_templates: vec![template(AccessLevel::FullHardening), template(AccessLevel::Optimized)],
        territory: profile.territory.to_string(),
        terms: terms.map(|t| t.documents.clone()).unwrap_or_default(),
        acknowledgements_required: vec!["historical_usage_data", "cost_allocation_tags", "reserved_instances"],
        direct_transfer: DirectTransferGuidance {
            acknowledgement: "direct_transfer",
            required_when: "the AWS account is a member of another AWS organization: on acceptance it moves out of that organization directly, and everything listed here changes at that moment",
            changes: DIRECT_TRANSFER_CHANGES,
        },
        billing_transfer: onboarding.billing_transfer_months.map(|(earliest, latest)| BillingTransferGuidance {
            kind: MigrationKind::BillingTransfer,
            access_level: AccessLevel::Optimized,
            required_account: "the management account of an AWS organization with all features enabled; the organization, its accounts and its governance stay yours, and CenturyLink pays and invoices its consolidated bill from the start month",
            earliest_start_month: earliest,
            latest_start_month: latest,
            acceptance: "the management account's administrator accepts in Billing and Cost Management > Billing transfers at least 24 hours before the start",
        }),
    }
}

pub fn org_profile_view(p: &OrgProfile) -> OrgProfileView {
    let violations: Vec<ViolationView> = check_eligibility(Some(p)).iter().map(ViolationView::from).collect();
    OrgProfileView {
        org_id: p.org_id.to_string(),
        territory: p.territory.to_string(),
        eligibility: p.eligibility,
        external_id_issued: true,
        eligible: violations.is_empty(),
        violations,
    }
}

pub fn approval_view(a: &Approval) -> ApprovalView {
    ApprovalView {
        account_id: a.account_id.to_string(),
        reference: a.reference.clone(),
        approved: a.approved,
        recorded_by: a.recorded_by.clone(),
        recorded_at: a.recorded_at,
    }
}

pub fn terms_view(t: &Terms) -> TermsView {
    TermsView { territory: t.territory.to_string(), documents: t.documents.clone() }
}
