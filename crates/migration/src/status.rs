//! The status machine: the one table of allowed transitions.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Requested,
    Validated,
    Invited,
    Joined,
    AwaitingSupportUpgrade,
    SupportConfirmed,
    HardeningScheduled,
    Hardened,
    Completed,
    Rejected,
    InvitationDeclined,
    InvitationExpired,
    Canceled,
    SupportUpgradeTimedOut,
    /// The deadline passed while the customer role could not read the support plan: no claim
    /// about the plan is made.
    SupportPlanUnreadable,
    Failed,
    // A billing transfer (`crate::transfer`).
    /// The transfer invitation is sent; the customer's management account has not answered.
    TransferInvited,
    /// Accepted; the partner pays the bill from the start month on.
    TransferAccepted,
    /// In force: the partner pays the customer organization's bill since `billing_starts_at`.
    BillingTransferred,
    TransferDeclined,
    TransferExpired,
    /// The invitation was canceled outside this system (this system's own cancel is CANCELED).
    TransferCanceled,
    /// The customer ended the transfer before it started.
    TransferWithdrawn,
    /// Nobody accepted by 24 hours before the start, so it cannot start; the invitation is
    /// withdrawn.
    TransferWindowMissed,
}

use Status::*;

/// Every allowed transition, and nothing else. Read it top to bottom as the happy path,
/// then the ways out.
const TRANSITIONS: &[(Status, Status)] = &[
    (Requested, Validated),
    (Requested, Rejected),
    (Requested, Canceled),
    (Requested, Failed),
    (Validated, Invited),
    // The account is already a member of the partner organization (a retry after a
    // failure that happened after it joined): there is nothing to invite.
    (Validated, Joined),
    (Validated, Canceled),
    (Validated, Failed),
    (Invited, Joined),
    (Invited, InvitationDeclined),
    (Invited, InvitationExpired),
    (Invited, Canceled),
    (Invited, Failed),
    (Joined, AwaitingSupportUpgrade),
    (Joined, SupportConfirmed),
    (Joined, SupportUpgradeTimedOut),
    (Joined, SupportPlanUnreadable),
    (Joined, Failed),
    (AwaitingSupportUpgrade, SupportConfirmed),
    (AwaitingSupportUpgrade, SupportUpgradeTimedOut),
    (AwaitingSupportUpgrade, SupportPlanUnreadable),
    (AwaitingSupportUpgrade, Failed),
    (SupportConfirmed, HardeningScheduled),
    (SupportConfirmed, Completed),
    (SupportConfirmed, Failed),
    (HardeningScheduled, Hardened),
    (HardeningScheduled, Failed),
    // A billing transfer: invited instead of INVITED, in force instead of JOINED, then the
    // same support check, then complete (no hardening: the account keeps its governance).
    (Validated, TransferInvited),
    (TransferInvited, TransferAccepted),
    (TransferInvited, TransferDeclined),
    (TransferInvited, TransferExpired),
    (TransferInvited, TransferCanceled),
    (TransferInvited, TransferWithdrawn),
    (TransferInvited, TransferWindowMissed),
    (TransferInvited, Canceled),
    (TransferInvited, Failed),
    (TransferAccepted, BillingTransferred),
    (TransferAccepted, TransferWithdrawn),
    (TransferAccepted, Failed),
    (BillingTransferred, AwaitingSupportUpgrade),
    (BillingTransferred, SupportConfirmed),
    (BillingTransferred, SupportUpgradeTimedOut),
    (BillingTransferred, SupportPlanUnreadable),
    (BillingTransferred, Failed),
];

pub const ALL_STATUSES: [Status; 24] = [
    Requested,
    Validated,
    Invited,
    Joined,
    AwaitingSupportUpgrade,
    SupportConfirmed,
    HardeningScheduled,
    Hardened,
    Completed,
    Rejected,
    InvitationDeclined,
    InvitationExpired,
    Canceled,
    SupportUpgradeTimedOut,
    SupportPlanUnreadable,
    Failed,
    TransferInvited,
    TransferAccepted,
    BillingTransferred,
    TransferDeclined,
    TransferExpired,
    TransferCanceled,
    TransferWithdrawn,
    TransferWindowMissed,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a migration cannot go from {from} to {to}")]
pub struct InvalidTransition {
    pub from: Status,
    pub to: Status,
}

impl Status {
    pub fn can_become(self, to: Status) -> bool {
        TRANSITIONS.contains(&(self, to))
    }

    pub fn check_transition(self, to: Status) -> Result<(), InvalidTransition> {
        if self.can_become(to) { Ok(()) } else { Err(InvalidTransition { from: self, to }) }
    }

    /// No transition leaves a terminal status.
    pub fn is_terminal(self) -> bool {
        !TRANSITIONS.iter().any(|(from, _)| *from == self)
    }

    /// Terminal and not a success: the account lock is released so the customer can try again.
    pub fn is_failure(self) -> bool {
        self.is_terminal() && !matches!(self, Hardened | Completed)
    }

    /// The account is in the partner organization (consolidated billing has started). Read
    /// for a join only: a billing transfer's statuses after the start say
    /// [`Status::transfer_accepted`].
    pub fn has_joined(self) -> bool {
        matches!(self, Joined | AwaitingSupportUpgrade | SupportConfirmed | HardeningScheduled | Hardened | Completed)
    }

    /// A billing transfer's customer accepted it (whether or not it has started).
    pub fn transfer_accepted(self) -> bool {
        matches!(self, TransferAccepted | BillingTransferred | AwaitingSupportUpgrade | SupportConfirmed | Completed)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Requested => "REQUESTED",
            Validated => "VALIDATED",
            Invited => "INVITED",
            Joined => "JOINED",
            AwaitingSupportUpgrade => "AWAITING_SUPPORT_UPGRADE",
            SupportConfirmed => "SUPPORT_CONFIRMED",
            HardeningScheduled => "HARDENING_SCHEDULED",
            Hardened => "HARDENED",
            Completed => "COMPLETED",
            Rejected => "REJECTED",
            InvitationDeclined => "INVITATION_DECLINED",
            InvitationExpired => "INVITATION_EXPIRED",
            Canceled => "CANCELED",
            SupportUpgradeTimedOut => "SUPPORT_UPGRADE_TIMED_OUT",
            SupportPlanUnreadable => "SUPPORT_PLAN_UNREADABLE",
            Failed => "FAILED",
            TransferInvited => "TRANSFER_INVITED",
            TransferAccepted => "TRANSFER_ACCEPTED",
            BillingTransferred => "BILLING_TRANSFERRED",
            TransferDeclined => "TRANSFER_DECLINED",
            TransferExpired => "TRANSFER_EXPIRED",
            TransferCanceled => "TRANSFER_CANCELED",
            TransferWithdrawn => "TRANSFER_WITHDRAWN",
            TransferWindowMissed => "TRANSFER_WINDOW_MISSED",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown status `{0}`")]
pub struct UnknownStatus(pub String);

impl FromStr for Status {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ALL_STATUSES.into_iter().find(|st| st.as_str() == s).ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_the_table_transitions_are_allowed() {
        let expected: std::collections::HashSet<(Status, Status)> = TRANSITIONS.iter().copied().collect();
        let mut allowed = 0;
        for from in ALL_STATUSES {
            for to in ALL_STATUSES {
                assert_eq!(from.can_become(to), expected.contains(&(from, to)), "{from} -> {to}");
                assert_eq!(from.check_transition(to).is_ok(), from.can_become(to));
                allowed += usize::from(from.can_become(to));
            }
        }
        assert_eq!(allowed, TRANSITIONS.len(), "the table has no duplicates");
        // A spot check that the table is the one the design names, not only self-consistent.
        assert!(Invited.can_become(Joined));
        assert!(!Joined.can_become(Canceled), "after joining, the move cannot be canceled");
        assert!(!Requested.can_become(Joined));
        assert!(!Hardened.can_become(Failed));
    }

    #[test]
    fn terminal_statuses_are_the_designed_ones() {
        let terminal: Vec<Status> = ALL_STATUSES.into_iter().filter(|s| s.is_terminal()).collect();
        assert_eq!(
            terminal,
            vec![
                Hardened,
                Completed,
                Rejected,
                InvitationDeclined,
                InvitationExpired,
                Canceled,
                SupportUpgradeTimedOut,
                SupportPlanUnreadable,
                Failed,
                TransferDeclined,
                TransferExpired,
                TransferCanceled,
                TransferWithdrawn,
                TransferWindowMissed,
            ]
        );
        assert!(!Hardened.is_failure() && !Completed.is_failure());
        assert!(Rejected.is_failure() && SupportUpgradeTimedOut.is_failure());
    }

    #[test]
    fn every_status_round_trips_through_its_name() {
        for s in ALL_STATUSES {
            assert_eq!(s.as_str().parse::<Status>().unwrap(), s);
            assert_eq!(serde_json::to_value(s).unwrap(), serde_json::json!(s.as_str()));
        }
        assert!("requested".parse::<Status>().is_err());
    }
}
