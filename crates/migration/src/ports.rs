//! The ports: what the domain needs from the world. Adapters implement them: in memory in
//! `migration-sim`, on AWS in `migration-aws`.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::{AccessError, ExecutionError, OrgError, StoreError};
use crate::ids::{AwsAccountId, ExternalId, HandshakeId, MigrationId, OrgId, RoleArn, TaskToken, Territory};
pub use crate::quota::Reservation;
pub use crate::record::{AccountState, IdempotencyRecord};
use crate::record::{Change, Handshake, HistoryEvent, Migration, StatusChanged, SupportPlan, WorkQueue};
use crate::rules::{Approval, CustomerOrganization, OrgProfile, Terms};
use crate::status::Status;

/// Which migrations a listing selects, newest first. An organization's listing reads the
/// organization's index (GSI1); a listing across organizations needs a status and reads
/// the status index (GSI3). Neither scans the table, so a listing with neither an
/// organization nor a status cannot be asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listing {
    Org { org: OrgId, status: Option<Status> },
    Status(Status),
}

/// A listing and the creation window it keeps to (a ULID carries its creation time to the
/// millisecond, so the window is a key range, not a filter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub listing: Listing,
    /// Created strictly after this time.
    pub created_after: Option<DateTime<Utc>>,
    /// Created strictly before this time.
    pub created_before: Option<DateTime<Utc>>,
}

impl ListQuery {
    /// An organization's migrations, optionally of one status, at any age.
    pub fn org(org: OrgId, status: Option<Status>) -> Self {
        Self { listing: Listing::Org { org, status }, created_after: None, created_before: None }
    }

    pub fn org_id(&self) -> Option<&OrgId> {
        match &self.listing {
            Listing::Org { org, .. } => Some(org),
            Listing::Status(_) => None,
        }
    }

    pub fn status(&self) -> Option<Status> {
        match &self.listing {
            Listing::Org { status, .. } => *status,
            Listing::Status(status) => Some(*status),
        }
    }

    /// The smallest and the largest migration id the window admits; `None` when it admits
    /// none (`created_before` not after `created_after`).
    pub fn id_bounds(&self) -> Option<(MigrationId, MigrationId)> {
        let low = self.created_after.map_or(MigrationId::MIN, MigrationId::first_after);
        let high = self.created_before.map_or(MigrationId::MAX, MigrationId::last_before);
        (low <= high).then_some((low, high))
    }

    /// Whether `record` is one this query selects.
    pub fn selects(&self, record: &Migration) -> bool {
        let in_window = self.id_bounds().is_some_and(|(low, high)| (low..=high).contains(&record.id));
        let listed = match &self.listing {
            Listing::Org { org, status } => &record.org_id == org && status.is_none_or(|s| record.status == s),
            Listing::Status(status) => record.status == *status,
        };
        in_window && listed
    }
}

/// One page of a listing. `next_cursor` is opaque to callers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub items: Vec<Migration>,
    pub next_cursor: Option<String>,
}

/// The single table (docs/architecture.md, "Data").
#[async_trait]
pub trait MigrationStore: Send + Sync {
    /// Writes the record, its account lock, its first history entry and (when given) the
    /// idempotency key, all or nothing.
    async fn create(&self, record: &Migration, event: &HistoryEvent, idempotency: Option<&IdempotencyRecord>) -> Result<(), StoreError>;
    async fn get(&self, id: MigrationId) -> Result<Option<Migration>, StoreError>;
    /// Applies a change if the stored version is still `change.expected_version`.
    async fn update(&self, change: &Change) -> Result<(), StoreError>;
    /// History in order of `seq`.
    async fn history(&self, id: MigrationId) -> Result<Vec<HistoryEvent>, StoreError>;
    /// The migrations `query` selects, newest first. A cursor is accepted back only with the
    /// query that gave it (another organization's, status's or window's is `InvalidCursor`).
    async fn list(&self, query: &ListQuery, limit: u32, cursor: Option<&str>) -> Result<Page, StoreError>;
    /// Records in `queue` due at or before `now`, oldest due first.
    async fn due(&self, queue: WorkQueue, now: DateTime<Utc>, limit: u32) -> Result<Vec<Migration>, StoreError>;
    /// The migration that holds the account lock, if any.
    async fn lock_holder(&self, account: &AwsAccountId) -> Result<Option<MigrationId>, StoreError>;
    async fn idempotency(&self, org: &OrgId, key: &str) -> Result<Option<IdempotencyRecord>, StoreError>;
    /// Reserves one of the partner organization's `quota` invitation slots of the window
    /// ending at `now` for `migration` ([`crate::quota`]): never more than `quota` migrations
    /// hold a slot at once, whatever runs concurrently, and a migration that holds one is
    /// granted the same slot again (a retry after a crash takes no second one). Slots are
    /// released only by ageing out of the window.
    async fn reserve_invitation(&self, migration: MigrationId, now: DateTime<Utc>, quota: u32) -> Result<Reservation, StoreError>;

    async fn org_profile(&self, org: &OrgId) -> Result<Option<OrgProfile>, StoreError>;
    async fn put_org_profile(&self, profile: &OrgProfile) -> Result<(), StoreError>;
    async fn approval(&self, account: &AwsAccountId) -> Result<Option<Approval>, StoreError>;
    async fn put_approval(&self, approval: &Approval) -> Result<(), StoreError>;
    async fn terms(&self, territory: &Territory) -> Result<Option<Terms>, StoreError>;
    async fn put_terms(&self, terms: &Terms) -> Result<(), StoreError>;
}

/// The account as a member of the partner organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// AWS's `JoinedTimestamp`: when consolidated billing started.
    pub joined_at: DateTime<Utc>,
    /// Only an `ACTIVE` account is hardened; a suspended or closing one stops its migration.
    pub state: AccountState,
    /// The account's parent (root or OU), when `DescribeAccount` gave its `Paths`: saves the
    /// hardening scan a `ListParents` call.
    pub parent: Option<String>,
}

impl Membership {
    pub fn is_active(&self) -> bool {
        self.state == AccountState::Active
    }
}

/// The partner organization, through the management account.
#[async_trait]
pub trait Organizations: Send + Sync {
    /// Invites the account, reusing an OPEN or REQUESTED invitation if there is one.
    async fn invite_account(&self, account: &AwsAccountId, migration: MigrationId) -> Result<Handshake, OrgError>;
    /// The invitation `id` of `account`. A handshake that is no invitation (`Action` other
    /// than `INVITE`) or names another account is an error, never taken for ours.
    async fn describe_handshake(&self, id: &HandshakeId, account: &AwsAccountId) -> Result<Handshake, OrgError>;
    /// Cancels an open invitation of `account`; a decided one is returned as it is.
    async fn cancel_handshake(&self, id: &HandshakeId, account: &AwsAccountId) -> Result<Handshake, OrgError>;
    /// `None` when the account is not a member.
    async fn membership(&self, account: &AwsAccountId) -> Result<Option<Membership>, OrgError>;
    async fn parent_of(&self, account: &AwsAccountId) -> Result<String, OrgError>;
    async fn move_account(&self, account: &AwsAccountId, from: &str, to: &str) -> Result<(), OrgError>;
    /// The SCPs attached directly to `target` (a root, an OU or an account), not those it
    /// inherits: `ListPoliciesForTarget` with `Filter` `SERVICE_CONTROL_POLICY`, every page.
    async fn scps_of(&self, target: &str) -> Result<Vec<String>, OrgError>;
    /// Attaches the policy to `target` (a root, an OU or an account). Already attached
    /// counts as done; a target that already carries 5 SCPs is refused
    /// (`MAX_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED`).
    async fn attach_policy(&self, policy_id: &str, target: &str) -> Result<(), OrgError>;
    async fn tag_account(&self, account: &AwsAccountId, tags: &[(String, String)]) -> Result<(), OrgError>;
}

/// Temporary credentials of the customer role (in its own module: the usage snapshot's ports
/// take it too, and the ports name those).
pub use crate::session::CustomerSession;

/// The customer's account, through the role they created for the partner.
#[async_trait]
pub trait CustomerAccess: Send + Sync {
    async fn assume(&self, role: &RoleArn, external_id: &ExternalId, migration: MigrationId) -> Result<CustomerSession, AccessError>;
    /// Tries to assume the role without an ExternalId: `Ok(true)` means it worked, which
    /// the rules refuse.
    async fn assumable_without_external_id(&self, role: &RoleArn, migration: MigrationId) -> Result<bool, AccessError>;
    async fn organization(&self, session: &CustomerSession) -> Result<CustomerOrganization, AccessError>;
}

/// The answer of one support-plan check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupportAnswer {
    pub plan: SupportPlan,
    pub detail: Option<String>,
}

#[async_trait]
pub trait SupportProbe: Send + Sync {
    /// Never fails: what cannot be told is [`SupportPlan::Unknown`].
    async fn support_plan(&self, session: &CustomerSession) -> SupportAnswer;
}

/// Whether a task token reached a waiting execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenDelivery {
    Delivered,
    /// The token was already used or timed out: nothing waits on it any more.
    AlreadyResolved,
}

/// Step Functions' `ExecutionStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExecutionStatus {
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Aborted,
    /// A failed execution being redriven: it will run again.
    PendingRedrive,
}

impl ExecutionStatus {
    /// Step Functions' spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "RUNNING",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::TimedOut => "TIMED_OUT",
            Self::Aborted => "ABORTED",
            Self::PendingRedrive => "PENDING_REDRIVE",
        }
    }

    /// Ended for good: it runs no further step.
    pub fn has_ended(self) -> bool {
        !matches!(self, Self::Running | Self::PendingRedrive)
    }
}

/// What Step Functions says of a migration's execution (`DescribeExecution`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionState {
    pub status: ExecutionStatus,
    pub started_at: DateTime<Utc>,
    pub stopped_at: Option<DateTime<Utc>>,
    /// The execution's error and cause, when it failed or was stopped with them.
    pub error: Option<String>,
    pub cause: Option<String>,
}

/// The ARN of the migration's execution of `state_machine_arn`: executions are named after
/// their migration (`arn:aws:states:<region>:<account>:execution:<machine>:<migration id>`).
pub fn execution_arn(state_machine_arn: &str, migration: MigrationId) -> String {
    format!("{}:{migration}", state_machine_arn.replacen(":stateMachine:", ":execution:", 1))
}

/// Step Functions: executions and task tokens.
#[async_trait]
pub trait Executions: Send + Sync {
    /// Starts the execution named after the migration. Already started with the same input
    /// is success.
    async fn start(&self, migration: MigrationId, input: serde_json::Value) -> Result<(), ExecutionError>;
    /// Stops it; a finished or missing execution is success.
    async fn stop(&self, migration: MigrationId, error: &str, cause: &str) -> Result<(), ExecutionError>;
    async fn send_task_success(&self, token: &TaskToken, output: serde_json::Value) -> Result<TokenDelivery, ExecutionError>;
    async fn send_task_failure(&self, token: &TaskToken, error: &str, cause: &str) -> Result<TokenDelivery, ExecutionError>;
    /// The ARN of the migration's execution (whether or not it was started); `None` from a
    /// port that has no state machine (a function built without it).
    fn execution_arn(&self, migration: MigrationId) -> Option<String>;
    /// The migration's execution; `None` when none was started.
    async fn describe(&self, migration: MigrationId) -> Result<Option<ExecutionState>, ExecutionError>;
}

/// Status-change events (docs/architecture.md, "Events out"). On AWS the table's stream and an
/// EventBridge Pipe are the feed; in memory the store offers it directly.
pub trait ChangeFeed: Send + Sync {
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<StatusChanged>;
}

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// What the steps need, shared behind `Arc`s so one set serves every invocation.
#[derive(Clone)]
pub struct Ports {
    pub store: Arc<dyn MigrationStore>,
    pub orgs: Arc<dyn Organizations>,
    pub customer: Arc<dyn CustomerAccess>,
    pub support: Arc<dyn SupportProbe>,
    pub executions: Arc<dyn Executions>,
    /// Billing transfers, through the partner's management account.
    pub transfers: Arc<dyn crate::transfer::BillingTransfers>,
    /// Cost Explorer, through the customer's role (the usage snapshot).
    pub usage: Arc<dyn crate::usage::UsageHistory>,
    /// Where usage snapshots are kept.
    pub snapshots: Arc<dyn crate::usage::SnapshotStore>,
    pub clock: Arc<dyn Clock>,
    pub settings: Arc<crate::settings::Settings>,
}
