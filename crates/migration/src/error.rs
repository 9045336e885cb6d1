//! Errors of the ports and of the steps. [`StepError::name`] is exactly the error name the
//! state machine's `ErrorEquals` and `Fail` states use: this enum is the one place those
//! names are defined.

use crate::ids::{AwsAccountId, MigrationId};
use crate::rules::Violation;
use crate::status::{InvalidTransition, Status};

/// Errors of the migration store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// Another migration holds the account lock.
    #[error("account {account} is held by migration {existing}")]
    AccountLocked { account: AwsAccountId, existing: MigrationId },
    /// The idempotency key was already used; the stored record says for what.
    #[error("idempotency key already used")]
    IdempotencyKeyUsed { existing: crate::record::IdempotencyRecord },
    /// The record changed since it was read.
    #[error("migration {0} was changed concurrently")]
    VersionConflict(MigrationId),
    #[error("migration {0} already exists")]
    AlreadyExists(MigrationId),
    #[error("migration {0} not found")]
    NotFound(MigrationId),
    #[error("the pagination cursor is not valid")]
    InvalidCursor,
    /// Throttling, timeouts, 5xx: worth retrying.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    #[error("the store failed: {0}")]
    Other(String),
}

/// Why AWS Organizations refused to invite or change an account, when retrying cannot help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    AccountNumberLimitExceeded,
    PaymentInstrumentRequired,
    DifferentSellerOfRecord,
    AlreadyInAnOrganization,
    AccountOwnerNotVerified,
    /// The invited account is the partner's own management account or similar.
    InviteToSelf,
    /// The partner's daily invitation quota (`HANDSHAKE_RATE_LIMIT_EXCEEDED`) stayed used up
    /// for the whole of `Settings::invitation_wait_limit`: the invite step deferred the
    /// invitation until then, and stops waiting.
    HandshakeRateLimitExceeded,
    /// Any other constraint, with AWS's reason.
    Other(String),
}

impl Refusal {
    pub fn reason(&self) -> &str {
        match self {
            Refusal::AccountNumberLimitExceeded => "ACCOUNT_NUMBER_LIMIT_EXCEEDED",
            Refusal::PaymentInstrumentRequired => "PAYMENT_INSTRUMENT_REQUIRED",
            Refusal::DifferentSellerOfRecord => "ORGANIZATION_FROM_DIFFERENT_SELLER_OF_RECORD",
            Refusal::AlreadyInAnOrganization => "ALREADY_IN_AN_ORGANIZATION",
            Refusal::AccountOwnerNotVerified => "ACCOUNT_OWNER_NOT_VERIFIED",
            Refusal::InviteToSelf => "INVITE_TO_SELF",
            Refusal::HandshakeRateLimitExceeded => "HANDSHAKE_RATE_LIMIT_EXCEEDED",
            Refusal::Other(r) => r,
        }
    }

    pub fn remediation(&self) -> &'static str {
        match self {
            Refusal::AccountNumberLimitExceeded => {
                "The partner organization has reached its account limit. Operators: request a quota increase for accounts in AWS Organizations, then retry the migration."
            }
            Refusal::PaymentInstrumentRequired => {
                "The account has no valid payment method. The customer adds one in the AWS Billing console, then retries."
            }
            Refusal::DifferentSellerOfRecord => {
                "The account is sold by a different AWS seller of record (e.g. AWS India, AWS Europe) and cannot join. Contact cloudintegration@ctl.io."
            }
            Refusal::AlreadyInAnOrganization => {
                "AWS will not move the account directly from the organization it is in (for example, that organization is in another AWS region group), or it joined one since validation. The customer's old organization removes it (or the account leaves it), then the customer starts a new migration."
            }
            Refusal::AccountOwnerNotVerified => {
                "The partner's management account email is not verified. Operators: verify it in the AWS console, then retry."
            }
            Refusal::InviteToSelf => "The account is the partner's own management account and cannot be invited.",
            Refusal::HandshakeRateLimitExceeded => {
                "The partner's daily quota of AWS Organizations invitations stayed used up while this migration waited for its turn. Operators: check for invitations sent outside this system (ListHandshakesForOrganization), raise the organization's account quota (the daily invitation quota is the greater of 20 and that quota) and InvitationsPer24Hours with it, then the customer starts a new migration."
            }
            Refusal::Other(_) => "AWS Organizations refused the change. Operators: read the cause, fix the constraint, then retry.",
        }
    }
}

/// Errors of the Organizations port.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrgError {
    /// Throttling, rate limits, ConcurrentModification, organization finalizing, 5xx.
    #[error("AWS Organizations is busy ({code}): {message}")]
    Retryable { code: String, message: String },
    /// A constraint that retrying will not lift.
    #[error("AWS Organizations refused: {}", refusal.reason())]
    Refused { refusal: Refusal, message: String },
    #[error("handshake not found")]
    HandshakeNotFound,
    #[error("account not found in the organization")]
    AccountNotFound,
    #[error("access denied: {0}")]
    AccessDenied(String),
    /// `HandshakeConstraintViolationException` with `HANDSHAKE_RATE_LIMIT_EXCEEDED`: the
    /// organization sent as many invitations in the last day as AWS allows. Not a refusal of
    /// this account: the invite step defers the invitation; any other step retries it.
    #[error("AWS Organizations' daily invitation quota is used up (HANDSHAKE_RATE_LIMIT_EXCEEDED): {0}")]
    HandshakeRateLimited(String),
    #[error("AWS Organizations failed: {0}")]
    Other(String),
}

/// Errors of the customer-access port.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    /// sts:AssumeRole was refused.
    #[error("the customer role cannot be assumed: {0}")]
    NotAssumable(String),
    /// The role was assumed but may not make this call.
    #[error("the customer role may not call {0}")]
    AccessDenied(String),
    #[error("the customer's AWS account is busy: {0}")]
    Retryable(String),
    #[error("customer access failed: {0}")]
    Other(String),
}

/// Errors of the executions port.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecutionError {
    /// An execution with this name runs with different input.
    #[error("another execution named {0} exists")]
    NameTaken(String),
    /// The migration's execution has ended (its status: SUCCEEDED, FAILED, TIMED_OUT,
    /// ABORTED); Step Functions starts no second one under the same name.
    #[error("the execution has already ended ({0})")]
    Ended(String),
    #[error("Step Functions is busy: {0}")]
    Retryable(String),
    #[error("Step Functions failed: {0}")]
    Other(String),
}

/// An error a step raises. Its [`name`](Self::name) is the Lambda `error_type` the state
/// machine matches.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StepError {
    /// One or more program rules failed.
    #[error("the migration is not eligible: {}", summary(.0))]
    NotEligible(Vec<Violation>),
    #[error("the customer declined the invitation")]
    InvitationDeclined,
    #[error("the invitation expired before the customer accepted it")]
    InvitationExpired,
    #[error("the invitation was canceled")]
    InvitationCanceled,
    #[error("AWS Organizations refused to invite the account: {}", .0.reason())]
    InvitationRefused(Refusal),
    /// `HandshakeConstraintViolationException` with `ALREADY_IN_AN_ORGANIZATION`: the one
    /// refusal a direct transfer can still meet, named so it has its own remediation.
    #[error("AWS Organizations will not move the account from the organization it is in (ALREADY_IN_AN_ORGANIZATION)")]
    AlreadyInAnOrganization,
    /// The account's `State` is not `ACTIVE` (suspended, closing, closed): it is not moved
    /// on or hardened.
    #[error("the account is {}, not ACTIVE", .0.as_str())]
    AccountNotActive(crate::record::AccountState),
    /// The hardening job failed or waited on every one of its attempts.
    #[error("hardening stopped after {attempts} attempts; last: {}", .last_error.as_deref().unwrap_or("no error recorded"))]
    HardeningStalled { attempts: u32, last_error: Option<String> },
    #[error("the support plan was not upgraded before the deadline")]
    SupportUpgradeTimedOut,
    /// The deadline passed while the plan could not be read (the role lacks
    /// `support:DescribeSeverityLevels`, the profile is missing, AWS kept failing).
    #[error("the support plan could not be read before the deadline: {0}")]
    SupportPlanUnreadable(String),
    #[error("the customer declined the billing transfer")]
    TransferDeclined,
    #[error("the billing transfer invitation expired before the customer accepted it")]
    TransferExpired,
    /// The invitation was canceled outside this system.
    #[error("the billing transfer invitation was canceled")]
    TransferCanceled,
    #[error("the customer withdrew from the billing transfer before it started")]
    TransferWithdrawn,
    /// Not accepted by 24 hours before the start: it can no longer start.
    #[error("the billing transfer was not accepted by {accept_by} (24 hours before its start), so it cannot start")]
    TransferWindowMissed { accept_by: chrono::DateTime<chrono::Utc> },
    #[error("AWS refused the billing transfer: {}", .0.reason())]
    TransferRefused(crate::transfer::TransferRefusal),
    /// The request asked to wait for a usage snapshot and this attempt could not take one:
    /// the code of why (`usage::SnapshotError::code`). The definition retries it hourly.
    #[error("the usage snapshot the request waits for could not be taken ({code}): {remediation}")]
    UsageSnapshotRequired { code: &'static str, remediation: &'static str },
    /// The migration was canceled (through the API) while the step ran.
    #[error("the migration was canceled")]
    Canceled,
    /// A transient condition; the state machine retries with backoff.
    #[error("transient failure: {0}")]
    Transient(String),
    #[error("migration {0} not found")]
    NotFound(MigrationId),
    /// The step found the record in a status it cannot act on.
    #[error("the migration is {actual}, which this step cannot act on")]
    WrongStatus { actual: Status },
    /// The function's event is not what the state machine sends.
    #[error("the step's input is not valid: {0}")]
    BadInput(String),
    #[error("internal error: {0}")]
    Internal(String),
}

fn summary(violations: &[Violation]) -> String {
    violations.iter().map(|v| v.code.as_str()).collect::<Vec<_>>().join(", ")
}

/// The error names, as the state machine spells them.
pub mod names {
    pub const NOT_ELIGIBLE: &str = "Migration.NotEligible";
    pub const INVITATION_DECLINED: &str = "Migration.InvitationDeclined";
    pub const INVITATION_EXPIRED: &str = "Migration.InvitationExpired";
    pub const INVITATION_CANCELED: &str = "Migration.InvitationCanceled";
    pub const INVITATION_REFUSED: &str = "Migration.InvitationRefused";
    pub const ALREADY_IN_AN_ORGANIZATION: &str = "Migration.AlreadyInAnOrganization";
    pub const ACCOUNT_NOT_ACTIVE: &str = "Migration.AccountNotActive";
    pub const HARDENING_STALLED: &str = "Migration.HardeningStalled";
    pub const SUPPORT_UPGRADE_TIMED_OUT: &str = "Migration.SupportUpgradeTimedOut";
    pub const SUPPORT_PLAN_UNREADABLE: &str = "Migration.SupportPlanUnreadable";
    pub const CANCELED: &str = "Migration.Canceled";
    pub const TRANSFER_DECLINED: &str = "Migration.TransferDeclined";
    pub const TRANSFER_EXPIRED: &str = "Migration.TransferExpired";
    pub const TRANSFER_CANCELED: &str = "Migration.TransferCanceled";
    pub const TRANSFER_WITHDRAWN: &str = "Migration.TransferWithdrawn";
    pub const TRANSFER_WINDOW_MISSED: &str = "Migration.TransferWindowMissed";
    pub const TRANSFER_REFUSED: &str = "Migration.TransferRefused";
    pub const USAGE_SNAPSHOT_REQUIRED: &str = "Migration.UsageSnapshotRequired";
    pub const TRANSIENT: &str = "Migration.Transient";
    pub const NOT_FOUND: &str = "Migration.NotFound";
    pub const WRONG_STATUS: &str = "Migration.WrongStatus";
    pub const BAD_INPUT: &str = "Migration.BadInput";
    pub const INTERNAL: &str = "Migration.Internal";
    /// Any failure the steps did not name (a Lambda crash, a States.* error).
    pub const FAILED: &str = "Migration.Failed";
    /// Step Functions' own timeout error, raised on the handshake wait.
    pub const STATES_TIMEOUT: &str = "States.Timeout";

    /// Every name a step can raise, for consistency tests against the definition.
    pub const RAISED_BY_STEPS: &[&str] = &[
        NOT_ELIGIBLE,
        INVITATION_DECLINED,
        INVITATION_EXPIRED,
        INVITATION_CANCELED,
        INVITATION_REFUSED,
        ALREADY_IN_AN_ORGANIZATION,
        ACCOUNT_NOT_ACTIVE,
        HARDENING_STALLED,
        SUPPORT_UPGRADE_TIMED_OUT,
        SUPPORT_PLAN_UNREADABLE,
        CANCELED,
        TRANSFER_DECLINED,
        TRANSFER_EXPIRED,
        TRANSFER_CANCELED,
        TRANSFER_WITHDRAWN,
        TRANSFER_WINDOW_MISSED,
        TRANSFER_REFUSED,
        USAGE_SNAPSHOT_REQUIRED,
        TRANSIENT,
        NOT_FOUND,
        WRONG_STATUS,
        BAD_INPUT,
        INTERNAL,
    ];
}

impl StepError {
    pub fn name(&self) -> &'static str {
        match self {
            StepError::NotEligible(_) => names::NOT_ELIGIBLE,
            StepError::InvitationDeclined => names::INVITATION_DECLINED,
            StepError::InvitationExpired => names::INVITATION_EXPIRED,
            StepError::InvitationCanceled => names::INVITATION_CANCELED,
            StepError::InvitationRefused(_) => names::INVITATION_REFUSED,
            StepError::AlreadyInAnOrganization => names::ALREADY_IN_AN_ORGANIZATION,
            StepError::AccountNotActive(_) => names::ACCOUNT_NOT_ACTIVE,
            StepError::HardeningStalled { .. } => names::HARDENING_STALLED,
            StepError::SupportUpgradeTimedOut => names::SUPPORT_UPGRADE_TIMED_OUT,
            StepError::SupportPlanUnreadable(_) => names::SUPPORT_PLAN_UNREADABLE,
            StepError::Canceled => names::CANCELED,
            StepError::TransferDeclined => names::TRANSFER_DECLINED,
            StepError::TransferExpired => names::TRANSFER_EXPIRED,
            StepError::TransferCanceled => names::TRANSFER_CANCELED,
            StepError::TransferWithdrawn => names::TRANSFER_WITHDRAWN,
            StepError::TransferWindowMissed { .. } => names::TRANSFER_WINDOW_MISSED,
            StepError::TransferRefused(_) => names::TRANSFER_REFUSED,
            StepError::UsageSnapshotRequired { .. } => names::USAGE_SNAPSHOT_REQUIRED,
            StepError::Transient(_) => names::TRANSIENT,
            StepError::NotFound(_) => names::NOT_FOUND,
            StepError::WrongStatus { .. } => names::WRONG_STATUS,
            StepError::BadInput(_) => names::BAD_INPUT,
            StepError::Internal(_) => names::INTERNAL,
        }
    }

    /// The `Cause` carried to record-failure: JSON, so violations survive the trip.
    pub fn cause(&self) -> String {
        let violations = match self {
            StepError::NotEligible(v) => v.clone(),
            _ => Vec::new(),
        };
        serde_json::json!({ "message": self.to_string(), "violations": violations }).to_string()
    }
}

impl From<StoreError> for StepError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::VersionConflict(_) | StoreError::Unavailable(_) => StepError::Transient(e.to_string()),
            StoreError::NotFound(id) => StepError::NotFound(id),
            other => StepError::Internal(other.to_string()),
        }
    }
}

impl From<OrgError> for StepError {
    fn from(e: OrgError) -> Self {
        match e {
            OrgError::Retryable { .. } | OrgError::HandshakeRateLimited(_) => StepError::Transient(e.to_string()),
            OrgError::Refused { refusal: Refusal::AlreadyInAnOrganization, .. } => StepError::AlreadyInAnOrganization,
            OrgError::Refused { refusal, .. } => StepError::InvitationRefused(refusal),
            other => StepError::Internal(other.to_string()),
        }
    }
}

impl From<crate::transfer::TransferError> for StepError {
    fn from(e: crate::transfer::TransferError) -> Self {
        use crate::transfer::TransferError as E;
        match e {
            E::Retryable { .. } => StepError::Transient(e.to_string()),
            E::Refused { refusal, .. } => StepError::TransferRefused(refusal),
            // Not found, a transition AWS will not make, a wrong endpoint, access denied: a
            // defect or a broken grant, for an operator; never retried.
            E::NotFound
            | E::AlreadyInStatus(_)
            | E::InvalidTransition(_)
            | E::UnsupportedEndpoint(_)
            | E::AccessDenied(_)
            | E::Other(_) => StepError::Internal(e.to_string()),
        }
    }
}

impl From<ExecutionError> for StepError {
    fn from(e: ExecutionError) -> Self {
        match e {
            ExecutionError::Retryable(_) => StepError::Transient(e.to_string()),
            other => StepError::Internal(other.to_string()),
        }
    }
}

impl From<AccessError> for StepError {
    fn from(e: AccessError) -> Self {
        match e {
            AccessError::Retryable(_) => StepError::Transient(e.to_string()),
            other => StepError::Internal(other.to_string()),
        }
    }
}

impl From<InvalidTransition> for StepError {
    fn from(e: InvalidTransition) -> Self {
        StepError::WrongStatus { actual: e.from }
    }
}
