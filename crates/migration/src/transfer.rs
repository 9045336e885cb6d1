//! Billing transfer: the second kind of migration. The customer's management account keeps
//! its organization (its accounts, SCPs, delegated administrators, Identity Center) while
//! the partner's management account takes over its consolidated bill from the first of a
//! month (AWS Organizations' responsibility transfer of type `BILLING`, since November 2025).
//!
//! This module holds what the kind adds to the domain: the kind itself, the month arithmetic
//! AWS imposes (a transfer starts at 00:00:00.000 UTC on the first of a month and ends at
//! 23:59:59.999 UTC on the last day of one), the transfer as AWS reports it, the reasons AWS
//! refuses, and the port through which the partner's management account acts.

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::handshake::Handshake;
use crate::ids::{AwsAccountId, HandshakeId, MigrationId, TransferId};

/// What a migration does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MigrationKind {
    /// The account joins the partner organization as a member (the program's first kind).
    #[default]
    JoinOrganization,
    /// The customer's management account keeps its organization; the partner takes over its
    /// consolidated bill.
    BillingTransfer,
}

impl MigrationKind {
    pub const ALL: [MigrationKind; 2] = [MigrationKind::JoinOrganization, MigrationKind::BillingTransfer];

    pub fn as_str(self) -> &'static str {
        match self {
            MigrationKind::JoinOrganization => "join_organization",
            MigrationKind::BillingTransfer => "billing_transfer",
        }
    }

    pub fn is_join(&self) -> bool {
        *self == MigrationKind::JoinOrganization
    }
}

impl fmt::Display for MigrationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MigrationKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MigrationKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| "must be `join_organization` or `billing_transfer`".to_owned())
    }
}

/// AWS's rule: the invitation must be accepted at least 24 hours before the start (an
/// invitation starting on May 1st is accepted by April 29th 23:59:59 UTC).
pub const ACCEPTANCE_LEAD: Duration = Duration::hours(24);

/// The time the program leaves the customer to accept, beyond AWS's 24 hours, when it picks
/// the start month: a week, so an invitation is never sent for a start the customer's
/// administrators cannot reasonably meet (they accept in the Billing console, as the
/// management account's administrator, often after an internal approval).
pub const ACCEPTANCE_MARGIN: Duration = Duration::days(7);

/// How many months after the earliest possible one a request may name. The state machine's
/// execution must outlive the wait for the start and the support check after it, and a
/// Standard execution lives at most a year; three months also keeps a commercial promise
/// from being made far ahead of the paperwork that backs it.
pub const MAX_MONTHS_AFTER_EARLIEST: u32 = 3;

/// A calendar month, `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BillingMonth {
    year: i32,
    month: u32,
}

/// Why a month cannot be used. `code` is stable, for the API's problem type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct MonthError {
    pub code: MonthErrorCode,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MonthErrorCode {
    /// Not `YYYY-MM` with a month from 01 to 12 and a year from 2025 to 9999.
    InvalidMonth,
    /// Starts too soon for the customer to accept in time.
    MonthTooEarly,
    /// Further ahead than the program allows.
    MonthTooLate,
}

impl MonthErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            MonthErrorCode::InvalidMonth => "INVALID_MONTH",
            MonthErrorCode::MonthTooEarly => "MONTH_TOO_EARLY",
            MonthErrorCode::MonthTooLate => "MONTH_TOO_LATE",
        }
    }
}

impl BillingMonth {
    pub fn new(year: i32, month: u32) -> Option<Self> {
        ((2025..=9999).contains(&year) && (1..=12).contains(&month)).then_some(Self { year, month })
    }

    /// The month `at` falls in.
    pub fn containing(at: DateTime<Utc>) -> Self {
        Self { year: at.year(), month: at.month() }
    }

    pub fn next(self) -> Self {
        if self.month == 12 { Self { year: self.year + 1, month: 1 } } else { Self { year: self.year, month: self.month + 1 } }
    }

    /// 00:00:00.000 UTC on the first day: a transfer's `StartTimestamp`.
    pub fn start(self) -> DateTime<Utc> {
        let day = NaiveDate::from_ymd_opt(self.year, self.month, 1).expect("a valid month");
        Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).expect("midnight"))
    }

    /// 23:59:59.999 UTC on the last day: a transfer's `EndTimestamp`.
    pub fn end(self) -> DateTime<Utc> {
        self.next().start() - Duration::milliseconds(1)
    }

    /// The last moment the customer can accept an invitation starting this month.
    pub fn accept_by(self) -> DateTime<Utc> {
        self.start() - ACCEPTANCE_LEAD
    }

    /// The first month an invitation sent at `now` can start in: its start leaves the
    /// customer [`ACCEPTANCE_MARGIN`] beyond AWS's 24 hours.
    pub fn earliest(now: DateTime<Utc>) -> Self {
        let mut month = Self::containing(now).next();
        while month.start() < now + ACCEPTANCE_LEAD + ACCEPTANCE_MARGIN {
            month = month.next();
        }
        month
    }

    /// The last month a request made at `now` may name.
    pub fn latest(now: DateTime<Utc>) -> Self {
        (0..MAX_MONTHS_AFTER_EARLIEST).fold(Self::earliest(now), |m, _| m.next())
    }

    /// Checks a requested month against the program's window at `now`.
    pub fn check(self, now: DateTime<Utc>) -> Result<Self, MonthError> {
        let (earliest, latest) = (Self::earliest(now), Self::latest(now));
        if self < earliest {
            return Err(MonthError {
                code: MonthErrorCode::MonthTooEarly,
                message: format!(
                    "a billing transfer starting in {self} could not be accepted in time: AWS needs acceptance 24 hours before the start and the program leaves the customer 7 days more; the earliest month is {earliest}"
                ),
            });
        }
        if self > latest {
            return Err(MonthError {
                code: MonthErrorCode::MonthTooLate,
                message: format!(
                    "the start month can be at most {MAX_MONTHS_AFTER_EARLIEST} months after the earliest ({earliest}): {latest} at the latest"
                ),
            });
        }
        Ok(self)
    }

    /// A month that is over by `now` at the earliest, for an end: a transfer that has started
    /// ends at the end of the current month or a later one.
    pub fn check_end(self, start: DateTime<Utc>, now: DateTime<Utc>) -> Result<Self, MonthError> {
        let first = Self::containing(now.max(start));
        if self < first {
            return Err(MonthError {
                code: MonthErrorCode::MonthTooEarly,
                message: format!(
                    "a transfer can end at the end of {first} at the earliest (the month it is in force in, or its first month)"
                ),
            });
        }
        let last = (0..12).fold(first, |m, _| m.next());
        if self > last {
            return Err(MonthError { code: MonthErrorCode::MonthTooLate, message: format!("the end month can be at most {last}") });
        }
        Ok(self)
    }
}

impl fmt::Display for BillingMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl FromStr for BillingMonth {
    type Err = MonthError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid =
            || MonthError { code: MonthErrorCode::InvalidMonth, message: "must be a month as YYYY-MM, from 2025-01 to 9999-12".to_owned() };
        let (y, m) = s.split_once('-').ok_or_else(invalid)?;
        if y.len() != 4 || m.len() != 2 || !y.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        Self::new(y.parse().map_err(|_| invalid())?, m.parse().map_err(|_| invalid())?).ok_or_else(invalid)
    }
}

impl Serialize for BillingMonth {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for BillingMonth {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A responsibility transfer's `Status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TransferStatus {
    /// Invited; the customer has not answered.
    Requested,
    /// Accepted: in force from its start until its end (if any).
    Accepted,
    Declined,
    /// The partner canceled the invitation.
    Canceled,
    Expired,
    /// Either side ended it; it ends at its `EndTimestamp`.
    Withdrawn,
}

impl TransferStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TransferStatus::Requested => "REQUESTED",
            TransferStatus::Accepted => "ACCEPTED",
            TransferStatus::Declined => "DECLINED",
            TransferStatus::Canceled => "CANCELED",
            TransferStatus::Expired => "EXPIRED",
            TransferStatus::Withdrawn => "WITHDRAWN",
        }
    }
}

/// A transfer as `DescribeResponsibilityTransfer` gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponsibilityTransfer {
    pub id: TransferId,
    pub arn: String,
    pub status: TransferStatus,
    pub start_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_at: Option<DateTime<Utc>>,
    /// The customer's management account, whose bill the partner pays.
    pub customer_account: AwsAccountId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_handshake_id: Option<HandshakeId>,
}

impl ResponsibilityTransfer {
    /// Whether the partner pays the customer's bill at `now`.
    pub fn in_force_at(&self, now: DateTime<Utc>) -> bool {
        matches!(self.status, TransferStatus::Accepted | TransferStatus::Withdrawn)
            && self.start_at <= now
            && self.end_at.is_none_or(|end| now <= end)
    }
}

/// A billing-transfer migration's side of the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingTransferState {
    /// The month the request named, if it named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_month: Option<BillingMonth>,
    /// The month the transfer starts in: the one named, or the earliest the customer could
    /// accept in time when the invitation was sent.
    pub start_month: BillingMonth,
    /// The invitation (its handshake), once sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handshake: Option<Handshake>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_id: Option<TransferId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_arn: Option<String>,
    /// The transfer's status as last read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_status: Option<TransferStatus>,
    /// When the partner started paying the bill (`StartTimestamp` of the transfer in force):
    /// invoicing depends on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_starts_at: Option<DateTime<Utc>>,
    /// When it ends, once either side ended it (`EndTimestamp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_ends_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_group: Option<BillingGroup>,
}

impl BillingTransferState {
    pub fn new(requested_month: Option<BillingMonth>, now: DateTime<Utc>) -> Self {
        Self {
            requested_month,
            start_month: requested_month.unwrap_or_else(|| BillingMonth::earliest(now)),
            handshake: None,
            transfer_id: None,
            transfer_arn: None,
            transfer_status: None,
            billing_starts_at: None,
            billing_ends_at: None,
            billing_group: None,
        }
    }

    /// The start, 00:00 UTC on the first of the start month.
    pub fn start_at(&self) -> DateTime<Utc> {
        self.start_month.start()
    }

    /// The last moment the customer can accept.
    pub fn accept_by(&self) -> DateTime<Utc> {
        self.start_month.accept_by()
    }
}

/// What the invite step asks the partner's management account to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferInvitation {
    pub account: AwsAccountId,
    pub start_at: DateTime<Utc>,
    /// `SourceName`: 1 to 128 printable ASCII characters.
    pub source_name: String,
    /// `Notes`: plain text, no markup.
    pub notes: String,
    pub migration: MigrationId,
}

/// An invitation as sent (or found already sent): its handshake and its transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentTransfer {
    pub handshake: Handshake,
    pub transfer: ResponsibilityTransfer,
}

/// The pro forma billing group AWS Billing Conductor keeps for a transfer: what lets the
/// customer see their costs once the partner pays the bill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillingGroupSpec {
    /// The group's name; the migration id, so a retry finds the group it made.
    pub name: String,
    pub transfer_arn: String,
    pub pricing_plan_arn: String,
    pub primary_account: AwsAccountId,
    pub migration: MigrationId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingGroup {
    pub arn: String,
    pub created_at: DateTime<Utc>,
}

macro_rules! transfer_refusals {
    ($($variant:ident => $reason:literal, $remediation:literal;)*) => {
        /// Why AWS refused a transfer operation when retrying cannot help: every reason
        /// `InvalidInputException`, `ConstraintViolationException` and
        /// `HandshakeConstraintViolationException` give for responsibility transfers.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum TransferRefusal {
            $($variant,)*
            /// A reason this system does not know, as AWS spelled it.
            Other(String),
        }

        impl TransferRefusal {
            /// Every named reason, for tests.
            pub const NAMED: &'static [TransferRefusal] = &[$(TransferRefusal::$variant),*];

            /// AWS's `Reason`.
            pub fn reason(&self) -> &str {
                match self { $(TransferRefusal::$variant => $reason,)* TransferRefusal::Other(r) => r }
            }

            pub fn from_reason(reason: &str) -> Self {
                match reason { $($reason => TransferRefusal::$variant,)* other => TransferRefusal::Other(other.to_owned()) }
            }

            /// What the customer or the operators do about it.
            pub fn remediation(&self) -> &'static str {
                match self {
                    $(TransferRefusal::$variant => $remediation,)*
                    TransferRefusal::Other(_) => "AWS Organizations refused the billing transfer for a reason this system does not know. Operators: read the cause, fix the constraint, then the customer starts a new migration.",
                }
            }
        }
    };
}

transfer_refusals! {
    StartDateNotBeginningOfMonth => "START_DATE_NOT_BEGINNING_OF_MONTH",
        "The start was not the first day of a month. This system only sends month starts; operators: report it as a defect.";
    StartDateNotBeginningOfDay => "START_DATE_NOT_BEGINNING_OF_DAY",
        "The start was not 00:00:00.000 UTC. This system only sends month starts; operators: report it as a defect.";
    StartDateTooEarly => "START_DATE_TOO_EARLY",
        "AWS considers the start month too soon. Start a new migration with a later start_month.";
    StartDateTooLate => "START_DATE_TOO_LATE",
        "AWS considers the start month too far ahead. Start a new migration with an earlier start_month.";
    InvalidStartDate => "INVALID_START_DATE",
        "AWS refused the start date. Start a new migration with another start_month.";
    EndDateNotEndOfMonth => "END_DATE_NOT_END_OF_MONTH",
        "The end was not the last moment of a month. This system only sends month ends; operators: report it as a defect.";
    EndDateTooEarly => "END_DATE_TOO_EARLY",
        "AWS considers the end month too soon. Ask again with a later end_month.";
    EndDateTooLate => "END_DATE_TOO_LATE",
        "AWS considers the end month too far ahead. Ask again with an earlier end_month.";
    InvalidEndDate => "INVALID_END_DATE",
        "AWS refused the end date. Ask again with another end_month.";
    UnsupportedActionInResponsibilityTransfer => "UNSUPPORTED_ACTION_IN_RESPONSIBILITY_TRANSFER",
        "AWS does not allow this action on the transfer in its current state. Operators: read the transfer in the Billing console.";
    MaxInboundQuota => "RESPONSIBILITY_TRANSFER_MAX_INBOUND_QUOTA_VIOLATION",
        "The partner's management account manages as many inbound billing transfers as AWS allows. Operators: request a quota increase, then the customer starts a new migration.";
    MaxOutboundQuota => "RESPONSIBILITY_TRANSFER_MAX_OUTBOUND_QUOTA_VIOLATION",
        "The customer's organization has as many outbound billing transfers as AWS allows. The customer ends one, then starts a new migration.";
    MaxTransfersQuota => "RESPONSIBILITY_TRANSFER_MAX_TRANSFERS_QUOTA_VIOLATION",
        "AWS's limit of billing transfers is reached. Operators: request a quota increase, then the customer starts a new migration.";
    MaxLevel => "RESPONSIBILITY_TRANSFER_MAX_LEVEL_VIOLATION",
        "The transfer would chain more bill-transfer levels than AWS allows (the partner's own bill is transferred, or the customer's organization already pays another's). Operators: contact AWS; the customer cannot move by billing transfer until the chain is shorter.";
    ActiveTransferProcess => "ACTIVE_RESPONSIBILITY_TRANSFER_PROCESS",
        "The customer's organization is in another billing transfer. The customer ends it (or waits until it has ended), then starts a new migration.";
    UnsupportedPricing => "UNSUPPORTED_PRICING",
        "The customer's organization has pricing AWS cannot move by billing transfer (e.g. a private pricing agreement). The customer contacts their AWS account team, or migrates with the join kind.";
    AlreadyExists => "RESPONSIBILITY_TRANSFER_ALREADY_EXISTS",
        "A billing transfer between the partner and this organization already exists. Operators: find it (ListInboundResponsibilityTransfers); the customer follows the migration that made it.";
    SourceAndTargetCannotMatch => "SOURCE_AND_TARGET_CANNOT_MATCH",
        "The account is the partner's own management account and cannot transfer its bill to itself.";
    UnusedPrepaymentBalance => "UNUSED_PREPAYMENT_BALANCE",
        "The customer's organization has an unused prepayment balance with AWS. The customer uses it up or asks AWS for its refund, then starts a new migration.";
    LegacyPermissionsStillInUse => "LEGACY_PERMISSIONS_STILL_IN_USE",
        "The customer's organization still uses the legacy Billing IAM actions (aws-portal). The customer migrates to the fine-grained Billing actions, then starts a new migration.";
}

/// Errors of the billing-transfer port.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransferError {
    #[error("AWS refused the billing transfer: {}", refusal.reason())]
    Refused { refusal: TransferRefusal, message: String },
    /// `ResponsibilityTransferNotFoundException`.
    #[error("the billing transfer was not found")]
    NotFound,
    /// `ResponsibilityTransferAlreadyInStatusException`: nothing to do (e.g. terminated twice).
    #[error("the billing transfer is already in that status: {0}")]
    AlreadyInStatus(String),
    /// `InvalidResponsibilityTransferTransitionException`: the transfer cannot go there from
    /// where it is (e.g. terminating one that was never accepted).
    #[error("the billing transfer cannot make that transition: {0}")]
    InvalidTransition(String),
    /// `UnsupportedAPIEndpointException`: called outside the region Organizations answers in.
    #[error("the endpoint does not support billing transfers: {0}")]
    UnsupportedEndpoint(String),
    /// Throttling, ConcurrentModification, 5xx: worth retrying.
    #[error("AWS is busy ({code}): {message}")]
    Retryable { code: String, message: String },
    #[error("access denied: {0}")]
    AccessDenied(String),
    #[error("the billing transfer call failed: {0}")]
    Other(String),
}

/// The partner's management account acting on billing transfers (AWS Organizations and AWS
/// Billing Conductor).
#[async_trait]
pub trait BillingTransfers: Send + Sync {
    /// Sends the invitation, or returns the invitation already open for the same account and
    /// start (a `REQUESTED` transfer): never a second one.
    async fn invite(&self, invitation: &TransferInvitation) -> Result<SentTransfer, TransferError>;
    async fn describe(&self, id: &TransferId) -> Result<ResponsibilityTransfer, TransferError>;
    /// Withdraws an invitation not yet accepted (cancels its handshake). One already decided
    /// is left as it is.
    async fn cancel_invitation(&self, handshake: &HandshakeId) -> Result<(), TransferError>;
    /// Ends an accepted transfer at `end_at` (23:59:59.999 UTC on the last day of a month).
    async fn terminate(&self, id: &TransferId, end_at: DateTime<Utc>) -> Result<ResponsibilityTransfer, TransferError>;
    /// The pro forma billing group of the transfer, made if it does not exist yet.
    async fn ensure_billing_group(&self, spec: &BillingGroupSpec) -> Result<BillingGroup, TransferError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn months_start_and_end_where_aws_requires() {
        let m: BillingMonth = "2027-02".parse().unwrap();
        assert_eq!(m.start(), at("2027-02-01T00:00:00Z"));
        assert_eq!(m.end(), at("2027-02-28T23:59:59.999Z"));
        assert_eq!(m.accept_by(), at("2027-01-31T00:00:00Z"));
        assert_eq!("2026-12".parse::<BillingMonth>().unwrap().next().to_string(), "2027-01");
        assert_eq!("2028-02".parse::<BillingMonth>().unwrap().end(), at("2028-02-29T23:59:59.999Z"));
        for bad in ["2027-13", "2027-00", "2027-1", "27-01", "2027/01", "2024-12", "", "２０２７-01", "2027-01-01"] {
            assert_eq!(bad.parse::<BillingMonth>().unwrap_err().code, MonthErrorCode::InvalidMonth, "{bad}");
        }
        assert_eq!(serde_json::to_value(m).unwrap(), serde_json::json!("2027-02"));
    }

    #[test]
    fn the_earliest_month_leaves_the_customer_a_week_beyond_aws_s_day() {
        // 2026-12-02: January starts in 30 days.
        assert_eq!(BillingMonth::earliest(at("2026-12-02T21:00:00Z")).to_string(), "2027-01");
        // 2026-12-24 08:00: January 1st is 7 days 16 hours away, under 8 days: February.
        assert_eq!(BillingMonth::earliest(at("2026-12-24T08:00:00Z")).to_string(), "2027-02");
        // Exactly 8 days before is still in time.
        assert_eq!(BillingMonth::earliest(at("2026-12-24T00:00:00Z")).to_string(), "2027-01");
        let now = at("2026-12-02T21:00:00Z");
        assert_eq!(BillingMonth::latest(now).to_string(), "2027-04");
        assert_eq!("2026-12".parse::<BillingMonth>().unwrap().check(now).unwrap_err().code, MonthErrorCode::MonthTooEarly);
        assert_eq!("2027-05".parse::<BillingMonth>().unwrap().check(now).unwrap_err().code, MonthErrorCode::MonthTooLate);
        assert!("2027-04".parse::<BillingMonth>().unwrap().check(now).is_ok());
    }

    #[test]
    fn a_transfer_ends_no_earlier_than_the_month_it_is_in() {
        let start = at("2027-01-01T00:00:00Z");
        let before = at("2026-12-10T00:00:00Z");
        assert_eq!("2026-12".parse::<BillingMonth>().unwrap().check_end(start, before).unwrap_err().code, MonthErrorCode::MonthTooEarly);
        assert!("2027-01".parse::<BillingMonth>().unwrap().check_end(start, before).is_ok());
        let during = at("2027-03-15T00:00:00Z");
        assert!("2027-02".parse::<BillingMonth>().unwrap().check_end(start, during).is_err());
        assert!("2027-03".parse::<BillingMonth>().unwrap().check_end(start, during).is_ok());
        assert_eq!("2028-04".parse::<BillingMonth>().unwrap().check_end(start, during).unwrap_err().code, MonthErrorCode::MonthTooLate);
    }

    #[test]
    fn every_named_refusal_round_trips_through_its_reason() {
        assert_eq!(TransferRefusal::NAMED.len(), 20);
        for r in TransferRefusal::NAMED {
            assert_eq!(&TransferRefusal::from_reason(r.reason()), r);
            assert!(!r.remediation().is_empty());
        }
        assert_eq!(TransferRefusal::from_reason("SOMETHING_NEW"), TransferRefusal::Other("SOMETHING_NEW".into()));
    }

    #[test]
    fn a_transfer_is_in_force_from_its_start_to_its_end() {
        let t = ResponsibilityTransfer {
            id: "rt-1a2b3c4d".parse().unwrap(),
            arn: "arn:aws:organizations::999999999999:transfer/o-abcdefghij/billing/inbound/rt-1a2b3c4d".into(),
            status: TransferStatus::Accepted,
            start_at: at("2027-01-01T00:00:00Z"),
            end_at: None,
            customer_account: "000123456789".parse().unwrap(),
            active_handshake_id: None,
        };
        assert!(!t.in_force_at(at("2026-12-31T23:59:59Z")));
        assert!(t.in_force_at(at("2027-01-01T00:00:00Z")));
        let ending =
            ResponsibilityTransfer { status: TransferStatus::Withdrawn, end_at: Some(at("2027-03-31T23:59:59.999Z")), ..t.clone() };
        assert!(ending.in_force_at(at("2027-03-31T12:00:00Z")));
        assert!(!ending.in_force_at(at("2027-04-01T00:00:00Z")));
        assert!(!ResponsibilityTransfer { status: TransferStatus::Requested, ..t }.in_force_at(at("2027-02-01T00:00:00Z")));
    }
}
