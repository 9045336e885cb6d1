//! The migration record, its history and the status-change event published from it.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{AwsAccountId, MigrationId, OrgId, RoleArn, TaskToken, Territory, UserId};
use crate::request::{AccessLevel, Acknowledgements, ValidRequest};
use crate::rules::TermsAcceptance;
use crate::status::{InvalidTransition, Status};
use crate::transfer::{BillingTransferState, MigrationKind};

/// An account's lifecycle state as AWS Organizations reports it (`Account.State`, which
/// replaced `Account.Status` on 2026-09-09).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AccountState {
    PendingActivation,
    Active,
    Suspended,
    PendingClosure,
    Closed,
}

impl AccountState {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountState::PendingActivation => "PENDING_ACTIVATION",
            AccountState::Active => "ACTIVE",
            AccountState::Suspended => "SUSPENDED",
            AccountState::PendingClosure => "PENDING_CLOSURE",
            AccountState::Closed => "CLOSED",
        }
    }
}

pub use crate::handshake::{Handshake, HandshakeState};

/// How the support plan was classified at the last check. AWS offers no API that names the
/// plan; `support:DescribeSeverityLevels` answers only for paid plans, and the highest
/// severity it offers tells the class (docs/architecture.md, "Support plans").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SupportPlan {
    /// `critical` offered: Enterprise Support, Unified Operations, or the legacy Enterprise
    /// and Enterprise On-Ramp plans.
    EnterpriseClass,
    /// `urgent` the highest level: Business Support+ or the legacy Business plan.
    BusinessClass,
    /// A paid plan whose levels name no class (neither `urgent` nor `critical`), and every
    /// plan recorded before the classes were: the API answered, so the plan is paid.
    Paid,
    /// `SubscriptionRequiredException`: Basic or (legacy) Developer; the customer must upgrade.
    BasicOrDeveloper,
    /// Could not tell (access denied, throttled, ...): never treated as Basic.
    Unknown,
}

impl SupportPlan {
    /// The class the severity levels of a successful `DescribeSeverityLevels` show.
    pub fn from_severity_levels<'a>(codes: impl IntoIterator<Item = &'a str>) -> Self {
        let codes: Vec<&str> = codes.into_iter().collect();
        if codes.contains(&"critical") {
            SupportPlan::EnterpriseClass
        } else if codes.contains(&"urgent") {
            SupportPlan::BusinessClass
        } else {
            SupportPlan::Paid
        }
    }

    /// The plan allows the program to go on (Business-class or higher).
    pub fn is_paid(self) -> bool {
        matches!(self, SupportPlan::EnterpriseClass | SupportPlan::BusinessClass | SupportPlan::Paid)
    }

    /// How customers and operators read the class.
    pub fn describe(self) -> &'static str {
        match self {
            SupportPlan::EnterpriseClass => "Enterprise-class support (Enterprise, Unified Operations, or legacy Enterprise On-Ramp)",
            SupportPlan::BusinessClass => "Business-class support (Business Support+ or legacy Business)",
            SupportPlan::Paid => "a paid support plan",
            SupportPlan::BasicOrDeveloper => "Basic or Developer support",
            SupportPlan::Unknown => "an unknown support plan",
        }
    }
}

/// The plan a customer on Basic or Developer support buys today. AWS retires the legacy
/// Developer, Business and Enterprise On-Ramp plans on 2027-01-01.
pub const PLAN_TO_BUY: &str = "Business Support+";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupportStatus {
    pub plan: SupportPlan,
    /// The last plan a check could read (never `Unknown`): what the deadline's outcome may
    /// claim when the last check itself could not read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_read: Option<SupportPlan>,
    /// Why the answer is unknown, or which severity levels the paid plan showed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub checks: u32,
    pub first_checked_at: DateTime<Utc>,
    pub last_checked_at: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_check_at: Option<DateTime<Utc>>,
}

/// One control of the hardening baseline.
///
/// The SCPs are attached to the two baseline OUs, not to each account: an SCP attached to
/// an OU applies to every account in it, and AWS lets only 5 SCPs be attached directly to
/// one target (FullAWSAccess included). The hardening scan makes sure, once per run, that
/// each OU carries its SCPs before it moves any account into it, so moving an account is
/// the control that puts it under them, and the move records which SCPs the OU carries.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "control", rename_all = "snake_case")]
pub enum Control {
    /// Every joined account: into the Onboarding OU, which carries `scps` (the guardrail:
    /// no leaving the organization, no touching the partner's roles).
    MoveToOnboardingOu {
        ou_id: String,
        /// Empty in records made before the SCPs moved to the OUs.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        scps: Vec<String>,
    },
    /// Records made before the SCPs moved to the OUs only: the guardrail SCP attached to
    /// the account itself. Never planned any more; one still pending is dropped (see
    /// [`HardeningJob::adopt`]).
    AttachGuardrailScp { policy_id: String },
    /// Full Hardening: into the Hardened OU, which carries `scps` (the guardrail and the
    /// hardening SCPs).
    MoveToHardenedOu {
        ou_id: String,
        /// Empty in records made before the SCPs moved to the OUs.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        scps: Vec<String>,
    },
    /// Records made before the SCPs moved to the OUs only: a hardening SCP attached to the
    /// account itself, like [`Control::AttachGuardrailScp`].
    AttachHardeningScp { policy_id: String },
    /// Full Hardening: the `cam:migration-id` and `cam:hardening` tags.
    TagAccount,
}

impl Control {
    /// The OU a move puts the account in.
    pub fn destination_ou(&self) -> Option<&str> {
        match self {
            Control::MoveToOnboardingOu { ou_id, .. } | Control::MoveToHardenedOu { ou_id, .. } => Some(ou_id),
            _ => None,
        }
    }

    /// The same step of the baseline, whatever SCPs a move names: a job that already plans
    /// a move into an OU does not plan it again.
    pub fn same_step(&self, other: &Control) -> bool {
        match (self, other) {
            (Control::MoveToOnboardingOu { ou_id: a, .. }, Control::MoveToOnboardingOu { ou_id: b, .. })
            | (Control::MoveToHardenedOu { ou_id: a, .. }, Control::MoveToHardenedOu { ou_id: b, .. }) => a == b,
            _ => self == other,
        }
    }

    /// An SCP attached to the account itself (records made before the SCPs moved to the OUs).
    pub fn is_account_attachment(&self) -> bool {
        matches!(self, Control::AttachGuardrailScp { .. } | Control::AttachHardeningScp { .. })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedControl {
    #[serde(flatten)]
    pub control: Control,
    pub applied_at: DateTime<Utc>,
}

/// The hardening job of a joined account: a baseline for every account, the full set for
/// Full Hardening. Applied by the scan, one control at a time, each recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HardeningJob {
    pub full: bool,
    pub planned: Vec<Control>,
    pub applied: Vec<AppliedControl>,
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime<Utc>>,
}

impl HardeningJob {
    /// A job of `planned` controls, none applied yet.
    pub fn new(full: bool, planned: Vec<Control>) -> Self {
        Self { full, planned, applied: Vec::new(), attempts: 0, last_error: None, completed_at: None }
    }

    /// Adds the controls of `planned` the job does not hold yet (a move into an OU it
    /// already plans counts as held), in their order, and opens the job again if there
    /// are any.
    pub fn extend(&mut self, full: bool, planned: Vec<Control>) {
        self.full |= full;
        let missing: Vec<Control> = planned.into_iter().filter(|c| !self.planned.iter().any(|p| p.same_step(c))).collect();
        if !missing.is_empty() {
            self.planned.extend(missing);
            self.completed_at = None;
        }
    }

    /// Brings a job recorded while the SCPs were attached to each account up to `current`
    /// (the controls planned today): the account attachments it has not made yet are
    /// dropped, since the OU the job moves the account into carries those SCPs now, and the
    /// moves it has not made yet take `current`'s version, which names the OU's SCPs.
    /// Applied controls stay as recorded: they say what was done. Whether anything changed.
    pub fn adopt(&mut self, current: &[Control]) -> bool {
        let pending: Vec<bool> = self.planned.iter().map(|c| !self.is_applied(c)).collect();
        let adopted: Vec<Control> = self
            .planned
            .iter()
            .zip(pending)
            .filter_map(|(c, pending)| match c {
                c if !pending => Some(c.clone()),
                c if c.is_account_attachment() => None,
                c => Some(current.iter().find(|n| n.same_step(c)).unwrap_or(c).clone()),
            })
            .collect();
        let changed = adopted != self.planned;
        self.planned = adopted;
        changed
    }

    fn is_applied(&self, control: &Control) -> bool {
        self.applied.iter().any(|a| &a.control == control)
    }

    pub fn next_control(&self) -> Option<&Control> {
        self.planned.iter().find(|c| !self.is_applied(c))
    }

    pub fn is_done(&self) -> bool {
        self.next_control().is_none()
    }
}

/// Why an invitation waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeferralReason {
    /// Every slot of the partner's daily invitation quota is taken ([`crate::quota`]).
    QuotaUsedUp,
    /// AWS itself answered `HANDSHAKE_RATE_LIMIT_EXCEEDED` (invitations sent outside this
    /// system count too, or AWS counts differently than the ledger).
    AwsRateLimit,
}

/// A migration whose invitation waits for a free slot of the partner's daily quota: the
/// invite step will run again at `send_at` (the state machine's Wait reads it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationWait {
    /// When the invitation will be sent: whole seconds, never past the wait limit.
    pub send_at: DateTime<Utc>,
    pub first_deferred_at: DateTime<Utc>,
    pub deferrals: u32,
    pub reason: DeferralReason,
}

/// Why a migration ended in a failure status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The error name the state machine's Fail state shows (`Migration.NotEligible`, ...).
    pub error: String,
    pub cause: String,
    pub remediation: String,
    pub at: DateTime<Utc>,
    /// Rule violations, for a rejection.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<crate::rules::Violation>,
}

/// Terms as accepted, with who and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptedTerms {
    #[serde(flatten)]
    pub acceptance: TermsAcceptance,
    pub accepted_by: UserId,
    pub accepted_at: DateTime<Utc>,
}

/// A queue the scheduled functions poll (GSI2): which queue and when the item is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WorkQueue {
    /// Recorded but the execution may not have started: the watcher starts it.
    Unstarted,
    /// Waiting on a handshake or on delivering its outcome to the execution.
    Handshake,
    /// A hardening job to apply.
    Hardening,
}

impl WorkQueue {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkQueue::Unstarted => "UNSTARTED",
            WorkQueue::Handshake => "HANDSHAKE",
            WorkQueue::Hardening => "HARDENING",
        }
    }
}

/// The migration record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Migration {
    pub id: MigrationId,
    pub org_id: OrgId,
    pub territory: Territory,
    pub requested_by: UserId,
    pub requested_at: DateTime<Utc>,
    pub provider_name: String,
    pub aws_account_id: AwsAccountId,
    pub role_arn: RoleArn,
    pub access_level: AccessLevel,
    pub accepted_terms: Vec<AcceptedTerms>,
    pub acknowledgements: Acknowledgements,
    pub status: Status,
    /// Optimistic lock: every write is conditional on the version it read.
    pub version: u64,
    pub updated_at: DateTime<Utc>,
    /// What the migration does; records from before billing transfers are joins.
    #[serde(default, skip_serializing_if = "MigrationKind::is_join")]
    pub kind: MigrationKind,
    /// A billing transfer's month, invitation and transfer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_transfer: Option<BillingTransferState>,
    /// The usage snapshot, once one was attempted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_snapshot: Option<SnapshotState>,
    /// The request asked the migration to wait for a usage snapshot before the invitation.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub usage_snapshot_required: bool,
    /// The organization the account leaves by a direct transfer, as validate saw it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direct_transfer: Option<crate::readiness::DirectTransfer>,
    /// Set while the invitation waits for the partner's daily quota; cleared once it is sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invitation_wait: Option<InvitationWait>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handshake: Option<Handshake>,
    /// When consolidated billing started: the moment the account joined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joined_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support: Option<SupportStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardening: Option<HardeningJob>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// The execution's task token while it waits for the handshake. Never logged, never
    /// returned by the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_token: Option<TaskToken>,
    /// When the work queue should look at this record next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<DateTime<Utc>>,
}

impl Migration {
    pub fn new(id: MigrationId, org_id: OrgId, territory: Territory, by: UserId, request: ValidRequest, now: DateTime<Utc>) -> Self {
        let accepted_terms = request
            .accepted_terms
            .into_iter()
            .map(|acceptance| AcceptedTerms { acceptance, accepted_by: by.clone(), accepted_at: now })
            .collect();
        Self {
            id,
            org_id,
            territory,
            requested_by: by,
            requested_at: now,
            kind: request.kind,
            billing_transfer: (request.kind == MigrationKind::BillingTransfer).then(|| BillingTransferState::new(request.start_month, now)),
            usage_snapshot: None,
            usage_snapshot_required: request.usage_snapshot_required,
            provider_name: request.provider_name,
            aws_account_id: request.aws_account_id,
            role_arn: request.role_arn,
            access_level: request.access_level,
            accepted_terms,
            acknowledgements: request.acknowledgements,
            status: Status::Requested,
            version: 1,
            updated_at: now,
            direct_transfer: None,
            invitation_wait: None,
            handshake: None,
            joined_at: None,
            support: None,
            hardening: None,
            failure: None,
            task_token: None,
            due_at: Some(now + UNSTARTED_GRACE),
        }
    }

    /// The queue this record sits in, derived from its state so it cannot disagree.
    pub fn work_queue(&self) -> Option<(WorkQueue, DateTime<Utc>)> {
        let due = self.due_at?;
        let queue = match self.status {
            Status::Requested => WorkQueue::Unstarted,
            Status::Invited | Status::TransferInvited => WorkQueue::Handshake,
            Status::Joined | Status::TransferAccepted if self.task_token.is_some() => WorkQueue::Handshake,
            _ if self.hardening.as_ref().is_some_and(|h| h.completed_at.is_none()) => WorkQueue::Hardening,
            _ => return None,
        };
        Some((queue, due))
    }
}

/// How long a REQUESTED record may wait for its execution before the watcher starts it.
pub const UNSTARTED_GRACE: Duration = Duration::minutes(5);

/// Who or what made a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Actor {
    User(UserId),
    /// A partner operator, by the IAM principal that signed the request. Shown to customers
    /// only as "an operator".
    Operator(String),
    /// A step of the workflow or a scheduled function, by name.
    System(String),
}

/// What a history event records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventKind {
    /// A status change: published as `Migration Status Changed`.
    StatusChanged,
    /// Progress inside a status (a support check, a control applied, ...).
    Progress,
}

/// An append-only audit entry. `seq` is the record version the change produced, so a
/// retried write can never add the same entry twice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEvent {
    pub migration_id: MigrationId,
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub kind: EventKind,
    pub actor: Actor,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Status>,
    pub to: Status,
    pub note: String,
    /// Denormalized so the event can be published from the history item alone.
    pub org_id: OrgId,
    pub aws_account_id: AwsAccountId,
}

pub const EVENT_SOURCE: &str = "cam.migrations";
pub const EVENT_DETAIL_TYPE: &str = "Migration Status Changed";

/// The `detail` of the `Migration Status Changed` EventBridge event. Defined once here; the
/// Pipe's input template and the local change feed both produce exactly this.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChanged {
    pub migration_id: MigrationId,
    pub org_id: OrgId,
    pub aws_account_id: AwsAccountId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Status>,
    pub to: Status,
    pub at: DateTime<Utc>,
    pub seq: u64,
    pub actor: Actor,
    pub note: String,
}

impl HistoryEvent {
    /// The published event for a status change; `None` for progress entries.
    pub fn status_changed(&self) -> Option<StatusChanged> {
        (self.kind == EventKind::StatusChanged).then(|| StatusChanged {
            migration_id: self.migration_id,
            org_id: self.org_id.clone(),
            aws_account_id: self.aws_account_id.clone(),
            from: self.from,
            to: self.to,
            at: self.at,
            seq: self.seq,
            actor: self.actor.clone(),
            note: self.note.clone(),
        })
    }
}

/// A change to a record: the new record (version already bumped) and its history entries.
#[derive(Debug, Clone)]
pub struct Change {
    pub record: Migration,
    pub expected_version: u64,
    pub events: Vec<HistoryEvent>,
    /// Delete the account lock in the same write (a failure that allows a retry).
    pub release_lock: bool,
}

/// Builds a [`Change`] from a record read from the store.
pub struct ChangeBuilder {
    record: Migration,
    expected_version: u64,
    events: Vec<HistoryEvent>,
    actor: Actor,
    now: DateTime<Utc>,
}

impl ChangeBuilder {
    pub fn new(current: &Migration, actor: Actor, now: DateTime<Utc>) -> Self {
        let mut record = current.clone();
        record.version += 1;
        record.updated_at = now;
        Self { expected_version: current.version, record, events: Vec::new(), actor, now }
    }

    pub fn record(&mut self) -> &mut Migration {
        &mut self.record
    }

    /// Moves the record to `to`, checked against the status table, with its history entry.
    pub fn transition(mut self, to: Status, note: impl Into<String>) -> Result<Self, InvalidTransition> {
        let from = self.record.status;
        from.check_transition(to)?;
        self.record.status = to;
        self.push(EventKind::StatusChanged, Some(from), note.into());
        Ok(self)
    }

    /// A history entry without a status change.
    pub fn progress(mut self, note: impl Into<String>) -> Self {
        self.push(EventKind::Progress, None, note.into());
        self
    }

    fn push(&mut self, kind: EventKind, from: Option<Status>, note: String) {
        // One write produces one version; several entries in one write get distinct
        // sequence numbers by sharing the version's decade.
        let seq = self.record.version * 10 + self.events.len() as u64;
        self.events.push(HistoryEvent {
            migration_id: self.record.id,
            seq,
            at: self.now,
            kind,
            actor: self.actor.clone(),
            from,
            to: self.record.status,
            note,
            org_id: self.record.org_id.clone(),
            aws_account_id: self.record.aws_account_id.clone(),
        });
    }

    pub fn build(self) -> Change {
        let release_lock = self.record.status.is_failure();
        Change { record: self.record, expected_version: self.expected_version, events: self.events, release_lock }
    }
}

/// The first history entry of a new record.
pub fn created_event(record: &Migration) -> HistoryEvent {
    HistoryEvent {
        migration_id: record.id,
        seq: record.version * 10,
        at: record.requested_at,
        kind: EventKind::StatusChanged,
        actor: Actor::User(record.requested_by.clone()),
        from: None,
        to: record.status,
        note: "migration requested".into(),
        org_id: record.org_id.clone(),
        aws_account_id: record.aws_account_id.clone(),
    }
}

/// An idempotency key and what it produced. The fingerprint is a hash of the request body,
/// so the same key with another body can be told apart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    pub org_id: OrgId,
    pub key: String,
    pub fingerprint: String,
    pub migration_id: MigrationId,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A migration's usage snapshot as the record keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SnapshotState {
    /// Saved under [`prefix`]: what it holds.
    Taken { taken_at: DateTime<Utc>, months: u32, rows: usize, files: Vec<String>, requests: u32 },
    /// Not taken, and why; `at` is the first moment of this failure, `then` what the attempt
    /// that recorded it decided.
    Failed {
        at: DateTime<Utc>,
        code: String,
        remediation: String,
        retryable: bool,
        requests: u32,
        #[serde(default)]
        then: SnapshotDecision,
        /// Since when the migration waits for a snapshot the request requires.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        waiting_since: Option<DateTime<Utc>>,
    },
}

/// What the migration does after a failed snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotDecision {
    /// The failure can pass by itself: the step is tried again within a minute or two.
    #[default]
    Retried,
    /// The request requires a snapshot: the migration waits, trying hourly for two days.
    Waits,
    /// The migration goes on without a snapshot.
    GoesOn,
    /// The request requires a snapshot and none came in the two days the migration waited:
    /// it fails (`Migration.UsageSnapshotRequired`).
    GaveUp,
}

impl SnapshotDecision {
    /// How the history says it: a sentence after the remediation.
    pub fn describe(self) -> &'static str {
        match self {
            SnapshotDecision::Retried => "It is retried within minutes.",
            SnapshotDecision::Waits => "The migration waits for it (usage_snapshot: required) and tries again hourly, for two days.",
            SnapshotDecision::GoesOn => "The migration goes on without it.",
            SnapshotDecision::GaveUp => "The migration waited two days for it and stops.",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn onboarding(scps: &[&str]) -> Control {
        Control::MoveToOnboardingOu { ou_id: "ou-ab12-onboard1".into(), scps: scps.iter().map(|s| (*s).to_owned()).collect() }
    }

    fn hardened(scps: &[&str]) -> Control {
        Control::MoveToHardenedOu { ou_id: "ou-ab12-hardened".into(), scps: scps.iter().map(|s| (*s).to_owned()).collect() }
    }

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-02T09:00:00Z").unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_move_records_the_scps_of_its_ou_and_reads_records_made_before_them() {
        let applied = AppliedControl { control: onboarding(&["p-guard0001"]), applied_at: at() };
        let json = serde_json::to_value(&applied).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"control": "move_to_onboarding_ou", "ou_id": "ou-ab12-onboard1", "scps": ["p-guard0001"], "applied_at": "2026-03-02T09:00:00Z"})
        );
        assert_eq!(serde_json::from_value::<AppliedControl>(json).unwrap(), applied);

        let before: AppliedControl = serde_json::from_value(
            serde_json::json!({"control": "move_to_onboarding_ou", "ou_id": "ou-ab12-onboard1", "applied_at": "2026-03-02T09:00:00Z"}),
        )
        .unwrap();
        assert_eq!(before.control, onboarding(&[]));
        assert_eq!(serde_json::to_value(&before).unwrap().get("scps"), None, "an old record is written back as it was");
    }

    #[test]
    fn a_job_with_per_account_attachments_adopts_the_ou_controls_and_keeps_what_it_applied() {
        let guardrail = Control::AttachGuardrailScp { policy_id: "p-guard0001".into() };
        let hardening = Control::AttachHardeningScp { policy_id: "p-harden001".into() };
        let mut job = HardeningJob::new(true, vec![onboarding(&[]), guardrail.clone(), hardened(&[]), hardening, Control::TagAccount]);
        job.applied.push(AppliedControl { control: onboarding(&[]), applied_at: at() });
        job.applied.push(AppliedControl { control: guardrail.clone(), applied_at: at() });
        let current = [onboarding(&["p-guard0001"]), hardened(&["p-guard0001", "p-harden001"]), Control::TagAccount];

        assert!(job.adopt(&current));

        assert_eq!(job.planned, vec![onboarding(&[]), guardrail, hardened(&["p-guard0001", "p-harden001"]), Control::TagAccount]);
        assert_eq!(job.next_control(), Some(&current[1]));
        assert!(!job.adopt(&current), "adopting twice changes nothing");

        // Only an account attachment was left: adopting finishes the job.
        let mut baseline = HardeningJob::new(false, vec![onboarding(&[]), Control::AttachGuardrailScp { policy_id: "p-guard0001".into() }]);
        baseline.applied.push(AppliedControl { control: onboarding(&[]), applied_at: at() });
        assert!(baseline.adopt(&current[..1]));
        assert!(baseline.is_done());
    }

    #[test]
    fn full_hardening_extends_a_baseline_without_planning_its_move_again() {
        let mut job = HardeningJob::new(false, vec![onboarding(&[])]);
        job.applied.push(AppliedControl { control: onboarding(&[]), applied_at: at() });
        job.completed_at = Some(at());
        job.extend(true, vec![onboarding(&["p-guard0001"]), hardened(&["p-guard0001"]), Control::TagAccount]);
        assert_eq!(job.planned, vec![onboarding(&[]), hardened(&["p-guard0001"]), Control::TagAccount]);
        assert!(job.full && job.completed_at.is_none());
        assert_eq!(job.next_control(), Some(&hardened(&["p-guard0001"])));
    }
}
