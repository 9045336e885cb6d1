//! Scripted customers: what a simulated customer does with the invitation and the support
//! plan, what its Cost Explorer answers, and the one table of the outcome that behaviour implies. The demo, the soak and the
//! tests drive customers through this type and check their outcome against [`expected`].
//!
//! [`expected`]: ScriptedCustomer::expected

use migration::ids::AwsAccountId;
use migration::request::{AccessLevel, MigrationRequest};
use migration::rules::CustomerOrganization;
use migration::settings::Settings;
use migration::status::Status;
use migration::steps::support_check_times;

use chrono::{DateTime, Duration, Utc};
use migration::transfer::BillingMonth;

use crate::usage::CostExplorer;
use crate::{INVITATION_LIFETIME, SimAws, SimError};

/// What the customer's AWS account is today, before the migration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AccountKind {
    /// In no organization.
    #[default]
    Standalone,
    /// A member of another organization: it moves directly on acceptance (AWS's direct
    /// transfer), and the customer acknowledges what that changes.
    Member,
    /// The management account of its own organization (all features, with members): it
    /// keeps its organization and moves its bill (the billing-transfer kind).
    Management,
}

/// The organization a [`AccountKind::Member`] leaves.
pub const FORMER_ORGANIZATION: &str = "o-former0001";
pub const FORMER_MANAGEMENT_ACCOUNT: &str = "111111111111";

/// What the customer's root user does with the invitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Accepts `after_hours` after the invitation, if it has not expired by then.
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
    /// What the account is today.
    pub account: AccountKind,
    /// How the account's Cost Explorer answers the usage snapshot, for as long as the
    /// migration runs.
    pub cost_explorer: CostExplorer,
    /// The request sets `usage_snapshot: required`: the migration waits for a snapshot.
    pub snapshot_required: bool,
}

impl ScriptedCustomer {
    /// The status a migration of this customer, requested at `requested_at`, ends in under
    /// `settings`: an answer that comes when the invitation has expired is no answer, and an
    /// upgrade after more support checks than fit before the deadline comes too late.
    pub fn expected(&self, settings: &Settings, requested_at: DateTime<Utc>) -> Status {
        // The customer upgrades before support check `k + 1`; it counts if that check runs.
        // A required snapshot that Cost Explorer never gives fails the migration before any
        // invitation (its hourly retries run out).
        if self.snapshot_required && self.cost_explorer != CostExplorer::Enabled {
            return Status::Failed;
        }
        let checks = support_check_times(settings).len();
        let upgraded = self.upgrade_after_checks.is_some_and(|k| usize::try_from(k).is_ok_and(|k| k < checks));
        if self.account == AccountKind::Management {
            // A billing transfer from the earliest month: its invitation (sent on request)
            // can be accepted until 24 hours before that month starts, and expires then (the
            // simulation's default `HandshakeLifetime::UntilAcceptBy`).
            let window = BillingMonth::earliest(requested_at).accept_by() - requested_at;
            return match self.answer.after() {
                Some((hours, false)) if Duration::hours(hours) < window => Status::TransferDeclined,
                Some((hours, true)) if Duration::hours(hours) < window => {
                    if upgraded {
                        Status::Completed
                    } else {
                        Status::SupportUpgradeTimedOut
                    }
                }
                _ => Status::TransferExpired,
            };
        }
        let answer = match self.answer.after() {
            Some((hours, accept)) if Duration::hours(hours) < INVITATION_LIFETIME => Some(accept),
            _ => None,
        };
        match (answer, upgraded, self.access) {
            (Some(false), ..) => Status::InvitationDeclined,
            (None, ..) => Status::InvitationExpired,
            (Some(true), false, _) => Status::SupportUpgradeTimedOut,
            (Some(true), true, AccessLevel::FullHardening) => Status::Hardened,
            (Some(true), true, AccessLevel::Optimized) => Status::Completed,
        }
    }
}

impl AccountKind {
    /// The organization an account of this kind is in.
    pub fn organization(self) -> CustomerOrganization {
        match self {
            AccountKind::Standalone => CustomerOrganization::Standalone,
            AccountKind::Member => CustomerOrganization::Member {
                organization_id: FORMER_ORGANIZATION.into(),
                management_account_id: FORMER_MANAGEMENT_ACCOUNT.parse().expect("valid"),
            },
            AccountKind::Management => CustomerOrganization::ManagementAccount {
                organization_id: "o-own00000001".into(),
                member_count: Some(3),
                all_features: true,
            },
        }
    }
}

impl ScriptedCustomer {
    /// Gives the simulated account the organization this customer's account is in, and its
    /// Cost Explorer.
    pub fn set_up(&self, sim: &SimAws, account: &AwsAccountId) -> Result<(), SimError> {
        let organization = self.account.organization();
        sim.usage().set(account, self.cost_explorer);
        sim.update_customer(account, |c| c.own_organization = organization)
    }

    /// The access the customer's role grants: a billing transfer hardens nothing, so a
    /// management account's role is the Optimized one whatever `access` says.
    pub fn access_level(&self) -> AccessLevel {
        if self.account == AccountKind::Management { AccessLevel::Optimized } else { self.access }
    }

    /// The customer's request (`base` made for [`access_level`](Self::access_level)): a
    /// member acknowledges what the direct transfer changes; a management account asks for a
    /// billing transfer from the earliest month; one that needs its usage history says so.
    pub fn request(&self, mut base: MigrationRequest) -> MigrationRequest {
        base.acknowledgements.direct_transfer = self.account == AccountKind::Member;
        if self.snapshot_required {
            base.usage_snapshot = Some("required".to_owned());
        }
        if self.account == AccountKind::Management {
            base.kind = Some(migration::transfer::MigrationKind::BillingTransfer.as_str().to_owned());
        }
        base
    }
}
