//! Scripted customers: what a simulated customer does with the invitation and the support
//! plan, and the one table of the outcome that behaviour implies. The demo, the soak and the
//! tests drive customers through this type and check their outcome against [`expected`].
//!
//! [`expected`]: ScriptedCustomer::expected

use migration::request::AccessLevel;
use migration::status::Status;

/// What the customer's root user does with the invitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Accept {
        after_hours: i64,
    },
    Decline {
        after_hours: i64,
    },
    /// Never answers: the invitation expires after 15 days.
    Ignore,
}

impl Answer {
    /// Hours after the invitation when the customer answers, and whether they accept.
    pub fn after(self) -> Option<(i64, bool)> {
        match self {
            Answer::Accept { after_hours } => Some((after_hours, true)),
            Answer::Decline { after_hours } => Some((after_hours, false)),
            Answer::Ignore => None,
        }
    }
}

/// One simulated customer's whole behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScriptedCustomer {
    pub answer: Answer,
    /// Support checks that find Basic before the root user upgrades; `None`: never.
    pub upgrade_after_checks: Option<u32>,
    /// The access the customer's role grants.
    pub access: AccessLevel,
}

impl ScriptedCustomer {
    /// The status a migration of this customer ends in.
    pub fn expected(&self) -> Status {
        match (self.answer, self.upgrade_after_checks, self.access) {
            (Answer::Decline { .. }, ..) => Status::InvitationDeclined,
            (Answer::Ignore, ..) => Status::InvitationExpired,
            (Answer::Accept { .. }, None, _) => Status::SupportUpgradeTimedOut,
            (Answer::Accept { .. }, Some(_), AccessLevel::FullHardening) => Status::Hardened,
            (Answer::Accept { .. }, Some(_), AccessLevel::Optimized) => Status::Completed,
        }
    }
}
