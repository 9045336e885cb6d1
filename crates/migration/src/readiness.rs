//! What a direct transfer changes for an account that is a member of another organization,
//! and what the customer role showed of that organization (docs/architecture.md, "Direct
//! transfers").
//!
//! Since November 2025 AWS Organizations moves such an account in one step when it accepts
//! the invitation: it departs its old organization (`AccountDepartedOrganization`,
//! `departureMethod: LEFT`) and joins ours. Everything the old organization gave it stops at
//! that moment, so the customer reads this list before the invitation and acknowledges it in
//! the request (`acknowledgements.direct_transfer`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::AwsAccountId;

/// One consequence of leaving the old organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TransferChange {
    /// Stable key: clients may match on it.
    pub key: &'static str,
    pub title: &'static str,
    pub detail: &'static str,
}

/// Everything a direct transfer changes, in the order a customer should check it.
pub const DIRECT_TRANSFER_CHANGES: &[TransferChange] = &[
    TransferChange {
        key: "organization_policies",
        title: "The old organization's policies stop applying",
        detail: "Service control policies, resource control policies, declarative policies and management policies (tag, backup, AI opt-out, ...) of the old organization stop applying the moment the account moves; the partner's guardrails apply instead.",
    },
    TransferChange {
        key: "identity_center",
        title: "IAM Identity Center access from the old organization ends",
        detail: "Permission-set assignments of the old organization's IAM Identity Center are removed: people who sign in through it lose access to this account. Create IAM roles or users you need to keep access before accepting.",
    },
    TransferChange {
        key: "ram_shares",
        title: "Organization-scoped AWS RAM shares are revoked",
        detail: "Resources shared with the account through the old organization (subnets, Transit Gateways, License Manager configurations, ...) stop being shared; workloads that use them break.",
    },
    TransferChange {
        key: "stacksets",
        title: "Service-managed StackSets may delete their stacks",
        detail: "Stacks that the old organization's service-managed StackSets deployed into the account are deleted or retained according to each StackSet's retention setting. Ask the old management account which StackSets target the account.",
    },
    TransferChange {
        key: "org_conditions",
        title: "Organization conditions stop matching",
        detail: "Policies that trust the old organization through aws:PrincipalOrgID, aws:PrincipalOrgPaths or aws:ResourceOrgID (bucket policies, KMS key policies, role trust policies, in this account and in others) no longer match this account.",
    },
    TransferChange {
        key: "delegated_administrator",
        title: "Delegated administrator registrations end",
        detail: "If the account is a delegated administrator of the old organization (Security Hub, GuardDuty, Config, ...), the registration ends and the old organization loses that administration.",
    },
    TransferChange {
        key: "cost_data",
        title: "Cost data of the old membership is no longer visible",
        detail: "Cost Explorer and billing data of the months under the old organization stay with its management account. Download what you need before accepting.",
    },
];

/// What the customer role read of the organization the account would leave, recorded by
/// the validate step on the migration. That the customer acknowledged
/// [`DIRECT_TRANSFER_CHANGES`] is the request's `acknowledgements.direct_transfer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectTransfer {
    /// The old organization (`DescribeOrganization`'s `Id`).
    pub organization_id: String,
    /// Its management account (`MasterAccountId`), where `AccountDepartedOrganization` is
    /// logged after the move.
    pub management_account_id: AwsAccountId,
    pub checked_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_change_has_a_unique_snake_case_key_and_text() {
        let mut keys = std::collections::HashSet::new();
        for change in DIRECT_TRANSFER_CHANGES {
            assert!(keys.insert(change.key), "duplicate {}", change.key);
            assert!(change.key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
            assert!(!change.title.is_empty() && !change.detail.is_empty());
        }
        // Everything the AWS announcement lists: policies, Identity Center, RAM, StackSets,
        // organization conditions, delegated administrators and cost data.
        assert_eq!(DIRECT_TRANSFER_CHANGES.len(), 7);
    }
}
