//! The program's rules (docs/architecture.md, "Rules"). Each failed rule is a [`Violation`] with a stable
//! code and a remediation; checks collect every violation rather than stopping at the first.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{AwsAccountId, ExternalId, MigrationId, OrgId, Territory, UserId};

/// Where customers ask for special considerations.
pub const SPECIAL_CONSIDERATIONS_CONTACT: &str = "cloudintegration@ctl.io";

/// The kind of refusal, which an API turns into an HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViolationClass {
    /// The request itself is malformed.
    InvalidInput,
    /// The caller may not do this.
    Forbidden,
    /// The request is well-formed but the program does not allow it.
    NotAllowed,
    /// Another migration holds the account.
    Conflict,
}

macro_rules! violation_codes {
    ($($variant:ident => $code:literal, $class:ident, $remediation:literal;)*) => {
        /// Stable error codes. Clients and operators match on these strings; never rename one.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum ViolationCode { $(#[serde(rename = $code)] $variant),* }

        impl ViolationCode {
            pub const ALL: &'static [ViolationCode] = &[$(ViolationCode::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $(ViolationCode::$variant => $code),* }
            }

            pub fn class(self) -> ViolationClass {
                match self { $(ViolationCode::$variant => ViolationClass::$class),* }
            }

            /// What the customer or operator can do about it.
            pub fn remediation(self) -> &'static str {
                match self { $(ViolationCode::$variant => $remediation),* }
            }
        }
    };
}

violation_codes! {
    InvalidProviderName => "INVALID_PROVIDER_NAME", InvalidInput,
        "Give the provider a name of 1 to 255 characters of visible text: letters, numbers, punctuation or symbols, with no control or invisible formatting characters.";
    InvalidAccountId => "INVALID_ACCOUNT_ID", InvalidInput,
        "Enter the 12-digit AWS account id exactly as the AWS console shows it, leading zeros included.";
    InvalidRoleArn => "INVALID_ROLE_ARN", InvalidInput,
        "Enter the ARN of the role created from the CenturyLink role template, e.g. arn:aws:iam::123456789012:role/CenturyLinkFullHardening.";
    RoleInOtherAccount => "ROLE_IN_OTHER_ACCOUNT", InvalidInput,
        "The role must be in the AWS account being migrated. Create the role in that account and enter its ARN.";
    InvalidAccessLevel => "INVALID_ACCESS_LEVEL", InvalidInput,
        "Choose `full_hardening` (recommended) or `optimized`.";
    TermsNotAccepted => "TERMS_NOT_ACCEPTED", NotAllowed,
        "Accept every current CenturyLink AWS Terms and Conditions document for your territory (GET /onboarding lists them).";
    TermsVersionOutdated => "TERMS_VERSION_OUTDATED", NotAllowed,
        "A newer version of the terms is in force. Review and accept the current version (GET /onboarding lists it).";
    TermsUnavailable => "TERMS_UNAVAILABLE", NotAllowed,
        "No terms are published for your territory yet. Contact cloudintegration@ctl.io.";
    HistoricalUsageNotAcknowledged => "HISTORICAL_USAGE_NOT_ACKNOWLEDGED", InvalidInput,
        "Historical usage data (Cost Explorer) is lost under the new payer. Download it to a safe place, then acknowledge.";
    CostAllocationTagsNotAcknowledged => "COST_ALLOCATION_TAGS_NOT_ACKNOWLEDGED", InvalidInput,
        "The number of cost allocation tags becomes limited. Discuss your tagging needs with your sales representative, then acknowledge.";
    ReservedInstancesNotAcknowledged => "RESERVED_INSTANCES_NOT_ACKNOWLEDGED", InvalidInput,
        "Reserved Instances stay with the account that bought them. Acknowledge that before the move.";
    CallerNotAdministrator => "CALLER_NOT_ADMINISTRATOR", Forbidden,
        "Only an Administrator of the Cloud Application Manager organization can migrate an account. Ask one to do it.";
    OrgProfileMissing => "ORG_PROFILE_MISSING", NotAllowed,
        "Your organization is not enrolled in Cloud Integration yet. Contact cloudintegration@ctl.io.";
    OrgNotBillable => "ORG_NOT_BILLABLE", NotAllowed,
        "Only billable customers can migrate AWS accounts. For special considerations, contact cloudintegration@ctl.io.";
    OrgDemoAccount => "ORG_DEMO_ACCOUNT", NotAllowed,
        "Demo accounts cannot migrate AWS accounts. For special considerations, contact cloudintegration@ctl.io.";
    OrgTrialAccount => "ORG_TRIAL_ACCOUNT", NotAllowed,
        "Trial accounts cannot migrate AWS accounts. For special considerations, contact cloudintegration@ctl.io.";
    OrgInternal => "ORG_INTERNAL", NotAllowed,
        "Accounts internal to CenturyLink cannot use this program. For special considerations, contact cloudintegration@ctl.io.";
    OrgIsReseller => "ORG_IS_RESELLER", NotAllowed,
        "Resellers cannot migrate AWS accounts through this program. For special considerations, contact cloudintegration@ctl.io.";
    OrgIsResellerCustomer => "ORG_IS_RESELLER_CUSTOMER", NotAllowed,
        "Customers of resellers cannot migrate AWS accounts through this program. For special considerations, contact cloudintegration@ctl.io.";
    OrgOutsideUnitedStates => "ORG_OUTSIDE_UNITED_STATES", NotAllowed,
        "The program serves customers with offices in the United States. For special considerations, contact cloudintegration@ctl.io.";
    AccountNotApproved => "ACCOUNT_NOT_APPROVED", NotAllowed,
        "AWS must approve this account for transfer (an agreement) before it can migrate. Contact your CenturyLink representative.";
    AccountAlreadyMigrating => "ACCOUNT_ALREADY_MIGRATING", Conflict,
        "This AWS account already has a migration in progress or completed. If your organization started it, follow that migration instead of starting another; otherwise contact cloudintegration@ctl.io.";
    AccountIsManagementAccount => "ACCOUNT_IS_MANAGEMENT_ACCOUNT", NotAllowed,
        "The account is the management (payer) account of its own organization, which cannot join another organization as a member. Two ways forward: keep your organization and have CenturyLink take over its bill with an AWS billing transfer (start a new migration with kind `billing_transfer` and access_level `optimized`; GET /onboarding describes it), or dismantle it: migrate each member account first (members of another organization can now move to CenturyLink's directly, without leaving first), delete the organization (https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_org_delete.html), then start the migration of this account again.";
    AccountIsManagementOfEmptyOrganization => "ACCOUNT_IS_MANAGEMENT_OF_EMPTY_ORGANIZATION", NotAllowed,
        "The account is the management account of an organization with no other accounts. Delete the organization (https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_org_delete.html), then start the migration again.";
    AccountInOtherOrganization => "ACCOUNT_IN_OTHER_ORGANIZATION", NotAllowed,
        "No longer raised: since November 2025 a member of another organization can move directly. Start a new migration and acknowledge what the move changes (acknowledgements.direct_transfer).";
    DirectTransferNotAcknowledged => "DIRECT_TRANSFER_NOT_ACKNOWLEDGED", InvalidInput,
        "The account is a member of another AWS organization and moves directly on acceptance. Read what the move changes (GET /onboarding lists it under direct_transfer), then start a new migration with acknowledgements.direct_transfer set to true.";
    RoleNotAssumable => "ROLE_NOT_ASSUMABLE", NotAllowed,
        "The role could not be assumed with your ExternalId. Deploy the CenturyLink role template with the ExternalId from GET /onboarding and check the role ARN.";
    ExternalIdNotEnforced => "EXTERNAL_ID_NOT_ENFORCED", NotAllowed,
        "The role can be assumed without the ExternalId, which exposes it to the confused-deputy problem. Add the sts:ExternalId condition to its trust policy (the role template does).";
    BillingTransferNotOffered => "BILLING_TRANSFER_NOT_OFFERED", NotAllowed,
        "This deployment does not offer billing transfers yet. Migrate with kind `join_organization`, or contact cloudintegration@ctl.io.";
    InvalidMigrationKind => "INVALID_MIGRATION_KIND", InvalidInput,
        "Choose `join_organization` (the account joins CenturyLink's organization; the default) or `billing_transfer` (a management account keeps its organization and CenturyLink takes over its bill).";
    InvalidStartMonth => "INVALID_START_MONTH", InvalidInput,
        "Name the billing transfer's first month as YYYY-MM (e.g. 2027-03), or leave start_month out for the earliest month you can accept in time.";
    InvalidUsageSnapshotChoice => "INVALID_USAGE_SNAPSHOT_CHOICE", InvalidInput,
        "Choose usage_snapshot `optional` (the default: the migration goes on when the usage history cannot be saved) or `required` (the migration waits before the invitation until the CenturyLink role can read Cost Explorer).";
    StartMonthNotApplicable => "START_MONTH_NOT_APPLICABLE", InvalidInput,
        "Only a billing transfer starts in a month. Leave start_month out, or ask for kind `billing_transfer`.";
    StartMonthTooEarly => "START_MONTH_TOO_EARLY", InvalidInput,
        "AWS needs the billing transfer accepted at least 24 hours before it starts, and the program leaves the customer a week more. Choose a later start_month (GET /onboarding names the earliest), or leave it out.";
    StartMonthTooLate => "START_MONTH_TOO_LATE", InvalidInput,
        "The start month can be at most 3 months after the earliest possible one (GET /onboarding names both). Choose an earlier start_month.";
    FullHardeningNotWithBillingTransfer => "FULL_HARDENING_NOT_WITH_BILLING_TRANSFER", InvalidInput,
        "A billing transfer leaves the account in your own organization, with your governance: CenturyLink cannot harden it through its organization. Choose access_level `optimized`, or migrate with kind `join_organization` for Full Hardening.";
    NotAManagementAccount => "NOT_A_MANAGEMENT_ACCOUNT", NotAllowed,
        "A billing transfer is made with the management account of an AWS organization. This account is standalone or a member of an organization: migrate it with kind `join_organization`, or deploy the CenturyLink role in your organization's management account and migrate that.";
    OrganizationWithoutAllFeatures => "ORGANIZATION_WITHOUT_ALL_FEATURES", NotAllowed,
        "Your organization has only consolidated billing enabled; a billing transfer needs all features. Enable all features in the AWS Organizations console (https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_org_support-all-features.html), then start the migration again.";
    CustomerOrganizationUnknown => "CUSTOMER_ORGANIZATION_UNKNOWN", NotAllowed,
        "The role could not read the account's AWS Organizations status. Grant organizations:DescribeOrganization (the role template does) and try again.";
}

/// One failed rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    pub code: ViolationCode,
    /// The request field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
}

impl Violation {
    pub fn new(code: ViolationCode, message: impl Into<String>) -> Self {
        Self { code, field: None, message: message.into() }
    }

    pub fn on_field(code: ViolationCode, field: &str, message: impl Into<String>) -> Self {
        Self { code, field: Some(field.to_owned()), message: message.into() }
    }

    pub fn remediation(&self) -> &'static str {
        self.code.remediation()
    }
}

/// A CAM user's role in their organization, from the JWT claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CamRole {
    Administrator,
    User,
}

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    pub user: UserId,
    pub org: OrgId,
    pub role: CamRole,
}

pub fn check_administrator(caller: &Caller) -> Result<(), Violation> {
    if caller.role == CamRole::Administrator {
        Ok(())
    } else {
        Err(Violation::new(ViolationCode::CallerNotAdministrator, "the caller is not an Administrator of the organization"))
    }
}

/// The seven facts of the program's eligibility rule, as operators record them. The one
/// place they are written out: the profile, the operator's request body and its answer all
/// flatten this type, so the stored item and the JSON keep the seven flat fields. Unknown
/// fields are refused by the outer types (`deny_unknown_fields` there sees every key left
/// over; on a flattened type it would see only its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Eligibility {
    pub billable: bool,
    pub demo: bool,
    pub trial: bool,
    pub internal: bool,
    pub reseller: bool,
    pub reseller_customer: bool,
    pub us_offices: bool,
}

impl Eligibility {
    /// The facts of an organization the program accepts: a billable, US customer that is
    /// no demo, trial, internal, reseller or reseller's customer.
    pub const QUALIFYING: Self =
        Self { billable: true, demo: false, trial: false, internal: false, reseller: false, reseller_customer: false, us_offices: true };
}

/// A CAM organization as the program knows it, maintained by operators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgProfile {
    pub org_id: OrgId,
    pub external_id: ExternalId,
    pub territory: Territory,
    #[serde(flatten)]
    pub eligibility: Eligibility,
}

pub fn check_eligibility(profile: Option<&OrgProfile>) -> Vec<Violation> {
    use ViolationCode::*;
    let Some(p) = profile else {
        return vec![Violation::new(OrgProfileMissing, "the organization has no Cloud Integration profile")];
    };
    let p = &p.eligibility;
    let failures = [
        (!p.billable, OrgNotBillable, "the organization is not a billable customer"),
        (p.demo, OrgDemoAccount, "the organization is a demo account"),
        (p.trial, OrgTrialAccount, "the organization is a trial account"),
        (p.internal, OrgInternal, "the organization is internal to CenturyLink"),
        (p.reseller, OrgIsReseller, "the organization is a reseller"),
        (p.reseller_customer, OrgIsResellerCustomer, "the organization is a customer of a reseller"),
        (!p.us_offices, OrgOutsideUnitedStates, "the organization has no offices in the United States"),
    ];
    failures.into_iter().filter(|(failed, ..)| *failed).map(|(_, code, msg)| Violation::new(code, msg)).collect()
}

/// AWS's approval of an account for transfer, recorded by operators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    pub account_id: AwsAccountId,
    /// The agreement's reference.
    pub reference: String,
    pub approved: bool,
    pub recorded_by: String,
    pub recorded_at: DateTime<Utc>,
}

pub fn check_approval(account: &AwsAccountId, approval: Option<&Approval>) -> Option<Violation> {
    match approval {
        Some(a) if a.approved => None,
        _ => Some(Violation::new(ViolationCode::AccountNotApproved, format!("AWS has not approved account {account} for transfer"))),
    }
}

/// One terms document in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TermsDocument {
    pub document_id: String,
    pub version: String,
    pub title: String,
    pub url: String,
}

/// The documents in force for a territory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Terms {
    pub territory: Territory,
    pub documents: Vec<TermsDocument>,
}

/// What the customer accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TermsAcceptance {
    pub document_id: String,
    pub version: String,
}

pub fn check_terms(terms: Option<&Terms>, accepted: &[TermsAcceptance]) -> Vec<Violation> {
    use ViolationCode::*;
    let Some(terms) = terms.filter(|t| !t.documents.is_empty()) else {
        return vec![Violation::new(TermsUnavailable, "no terms are in force for the territory")];
    };
    let by_doc: BTreeMap<&str, &str> = accepted.iter().map(|a| (a.document_id.as_str(), a.version.as_str())).collect();
    terms
        .documents
        .iter()
        .filter_map(|doc| match by_doc.get(doc.document_id.as_str()) {
            None => Some(Violation::on_field(
                TermsNotAccepted,
                "accepted_terms",
                format!("document `{}` version `{}` was not accepted", doc.document_id, doc.version),
            )),
            Some(v) if *v != doc.version => Some(Violation::on_field(
                TermsVersionOutdated,
                "accepted_terms",
                format!("document `{}` was accepted in version `{v}`, but `{}` is in force", doc.document_id, doc.version),
            )),
            Some(_) => None,
        })
        .collect()
}

/// What the customer's account looks like from AWS Organizations, seen through their role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CustomerOrganization {
    /// Not in any organization: can be invited.
    Standalone,
    /// Management account of its own organization. `member_count` is known when the role
    /// may call ListAccounts.
    ManagementAccount {
        organization_id: String,
        member_count: Option<u32>,
        /// `FeatureSet` `ALL` (not only consolidated billing): what a billing transfer needs.
        #[serde(default = "all_features")]
        all_features: bool,
    },
    /// Member of someone's organization.
    Member { organization_id: String, management_account_id: AwsAccountId },
}

fn all_features() -> bool {
    true
}

impl CustomerOrganization {
    /// The organization the account would leave by a direct transfer: a member of an
    /// organization other than the partner's.
    pub fn moves_from(&self, partner_account: &AwsAccountId) -> Option<(&str, &AwsAccountId)> {
        match self {
            CustomerOrganization::Member { organization_id, management_account_id } if management_account_id != partner_account => {
                Some((organization_id, management_account_id))
            }
            _ => None,
        }
    }
}

/// `partner_account` is the management account of the partner organization: being a
/// member of it already is fine (a retry after the account joined). A member of another
/// organization is eligible (AWS's direct transfer) once the customer acknowledged what
/// the move changes; a management account is not, and its refusal says both ways forward.
pub fn check_customer_organization(
    org: &CustomerOrganization,
    partner_account: &AwsAccountId,
    direct_transfer_acknowledged: bool,
) -> Option<Violation> {
    if let Some((organization_id, management)) = org.moves_from(partner_account) {
        return (!direct_transfer_acknowledged).then(|| {
            Violation::on_field(
                ViolationCode::DirectTransferNotAcknowledged,
                "acknowledgements.direct_transfer",
                format!(
                    "the account is a member of organization {organization_id} (management account {management}) and moves out of it on acceptance; this acknowledgement is required"
                ),
            )
        });
    }
    match org {
        CustomerOrganization::Standalone | CustomerOrganization::Member { .. } => None,
        // Only itself: nothing to migrate first.
        CustomerOrganization::ManagementAccount { organization_id, member_count: Some(n), .. } if *n <= 1 => Some(Violation::new(
            ViolationCode::AccountIsManagementOfEmptyOrganization,
            format!("the account is the management account of organization {organization_id}, which has no other accounts"),
        )),
        CustomerOrganization::ManagementAccount { organization_id, member_count, .. } => {
            let members = match member_count {
                Some(n) => format!(" with {} member account(s) besides itself", n.saturating_sub(1)),
                None => String::new(),
            };
            Some(Violation::new(
                ViolationCode::AccountIsManagementAccount,
                format!("the account is the management account of organization {organization_id}{members}"),
            ))
        }
    }
}

/// A billing transfer is made with the management account of an organization that has all
/// features; anything else is refused with the way forward.
pub fn check_billing_transfer_organization(org: &CustomerOrganization) -> Option<Violation> {
    match org {
        CustomerOrganization::ManagementAccount { all_features: true, .. } => None,
        CustomerOrganization::ManagementAccount { organization_id, .. } => Some(Violation::new(
            ViolationCode::OrganizationWithoutAllFeatures,
            format!("organization {organization_id} has only consolidated billing features enabled"),
        )),
        CustomerOrganization::Standalone => {
            Some(Violation::new(ViolationCode::NotAManagementAccount, "the account is not in an AWS organization"))
        }
        CustomerOrganization::Member { organization_id, management_account_id } => Some(Violation::new(
            ViolationCode::NotAManagementAccount,
            format!("the account is a member of organization {organization_id}, whose management account is {management_account_id}"),
        )),
    }
}

/// Result of proving the customer role's trust policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleProof {
    /// Assumable with the ExternalId and refused without it.
    Enforced,
    /// Assumable without the ExternalId.
    NotEnforced,
    /// Not assumable with the ExternalId.
    NotAssumable,
}

pub fn check_role_proof(proof: RoleProof) -> Option<Violation> {
    match proof {
        RoleProof::Enforced => None,
        RoleProof::NotEnforced => {
            Some(Violation::new(ViolationCode::ExternalIdNotEnforced, "the role can be assumed without the ExternalId"))
        }
        RoleProof::NotAssumable => {
            Some(Violation::new(ViolationCode::RoleNotAssumable, "the role could not be assumed with the organization's ExternalId"))
        }
    }
}

/// The account is held by another migration. Its id is named only to the organization that
/// owns it (`None` otherwise): a ULID also tells when the migration was made, which one
/// organization must never learn about another's.
pub fn account_locked(own_holder: Option<MigrationId>) -> Violation {
    let message = match own_holder {
        Some(existing) => format!("migration {existing} of your organization holds this AWS account"),
        None => "another migration holds this AWS account".to_owned(),
    };
    Violation::new(ViolationCode::AccountAlreadyMigrating, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> OrgProfile {
        OrgProfile {
            org_id: "acme".parse().unwrap(),
            external_id: "cam-acme-0001".parse().unwrap(),
            territory: "US".parse().unwrap(),
            eligibility: Eligibility::QUALIFYING,
        }
    }

    #[test]
    fn each_eligibility_failure_has_its_code() {
        use ViolationCode::*;
        type Mutate = fn(&mut OrgProfile);
        let cases: &[(Mutate, ViolationCode)] = &[
            (|p| p.eligibility.billable = false, OrgNotBillable),
            (|p| p.eligibility.demo = true, OrgDemoAccount),
            (|p| p.eligibility.trial = true, OrgTrialAccount),
            (|p| p.eligibility.internal = true, OrgInternal),
            (|p| p.eligibility.reseller = true, OrgIsReseller),
            (|p| p.eligibility.reseller_customer = true, OrgIsResellerCustomer),
            (|p| p.eligibility.us_offices = false, OrgOutsideUnitedStates),
        ];
        for (mutate, code) in cases {
            let mut p = profile();
            mutate(&mut p);
            let violations = check_eligibility(Some(&p));
            assert_eq!(violations.iter().map(|v| v.code).collect::<Vec<_>>(), vec![*code]);
            assert!(violations[0].remediation().contains(SPECIAL_CONSIDERATIONS_CONTACT), "{code:?}");
        }
        assert!(check_eligibility(Some(&profile())).is_empty());
        assert_eq!(check_eligibility(None)[0].code, OrgProfileMissing);
    }

    #[test]
    fn several_eligibility_failures_are_reported_together() {
        let mut p = profile();
        p.eligibility.demo = true;
        p.eligibility.reseller = true;
        p.eligibility.us_offices = false;
        let codes: Vec<_> = check_eligibility(Some(&p)).into_iter().map(|v| v.code).collect();
        assert_eq!(codes, vec![ViolationCode::OrgDemoAccount, ViolationCode::OrgIsReseller, ViolationCode::OrgOutsideUnitedStates]);
    }

    #[test]
    fn non_administrator_is_refused() {
        let mut caller = Caller { user: "u1".parse().unwrap(), org: "acme".parse().unwrap(), role: CamRole::User };
        assert_eq!(check_administrator(&caller).unwrap_err().code, ViolationCode::CallerNotAdministrator);
        caller.role = CamRole::Administrator;
        assert!(check_administrator(&caller).is_ok());
    }

    #[test]
    fn approval_must_exist_and_be_granted() {
        let account: AwsAccountId = "000000000042".parse().unwrap();
        let mut approval = Approval {
            account_id: account.clone(),
            reference: "AWS-AGR-1".into(),
            approved: true,
            recorded_by: "ops".into(),
            recorded_at: DateTime::from_timestamp(0, 0).unwrap(),
        };
        assert!(check_approval(&account, Some(&approval)).is_none());
        approval.approved = false;
        assert_eq!(check_approval(&account, Some(&approval)).unwrap().code, ViolationCode::AccountNotApproved);
        assert_eq!(check_approval(&account, None).unwrap().code, ViolationCode::AccountNotApproved);
    }

    #[test]
    fn every_current_terms_document_must_be_accepted_in_its_version() {
        use ViolationCode::*;
        let terms = Terms {
            territory: "US".parse().unwrap(),
            documents: vec![
                TermsDocument { document_id: "aws-terms".into(), version: "2024-01".into(), title: "t".into(), url: "u".into() },
                TermsDocument { document_id: "aws-addendum".into(), version: "3".into(), title: "t".into(), url: "u".into() },
            ],
        };
        let acc = |d: &str, v: &str| TermsAcceptance { document_id: d.into(), version: v.into() };
        let cases: Vec<(Vec<TermsAcceptance>, Vec<ViolationCode>)> = vec![
            (vec![acc("aws-terms", "2024-01"), acc("aws-addendum", "3")], vec![]),
            (vec![acc("aws-terms", "2024-01")], vec![TermsNotAccepted]),
            (vec![acc("aws-terms", "2023-06"), acc("aws-addendum", "3")], vec![TermsVersionOutdated]),
            (vec![], vec![TermsNotAccepted, TermsNotAccepted]),
        ];
        for (accepted, expected) in cases {
            let got: Vec<_> = check_terms(Some(&terms), &accepted).into_iter().map(|v| v.code).collect();
            assert_eq!(got, expected, "{accepted:?}");
        }
        assert_eq!(check_terms(None, &[])[0].code, TermsUnavailable);
    }

    #[test]
    fn customer_organization_rules() {
        use ViolationCode::*;
        let partner: AwsAccountId = "999999999999".parse().unwrap();
        let other: AwsAccountId = "111111111111".parse().unwrap();
        for ack in [false, true] {
            assert!(check_customer_organization(&CustomerOrganization::Standalone, &partner, ack).is_none());
            let member_of_partner =
                CustomerOrganization::Member { organization_id: "o-partner".into(), management_account_id: partner.clone() };
            assert!(check_customer_organization(&member_of_partner, &partner, ack).is_none(), "a retry after joining");
        }

        // A member elsewhere moves directly, once the customer acknowledged what changes.
        let member = CustomerOrganization::Member { organization_id: "o-other".into(), management_account_id: other.clone() };
        assert_eq!(member.moves_from(&partner), Some(("o-other", &other)));
        assert!(check_customer_organization(&member, &partner, true).is_none());
        let v = check_customer_organization(&member, &partner, false).unwrap();
        assert_eq!((v.code, v.field.as_deref()), (DirectTransferNotAcknowledged, Some("acknowledgements.direct_transfer")));
        assert!(v.message.contains("o-other") && v.message.contains("111111111111"), "{}", v.message);

        // A management account: both ways forward, and never "leave" for the members.
        let master = CustomerOrganization::ManagementAccount { organization_id: "o-own".into(), member_count: Some(4), all_features: true };
        let v = check_customer_organization(&master, &partner, true).unwrap();
        assert_eq!(v.code, AccountIsManagementAccount);
        assert!(v.message.contains("3 member account(s)"));
        assert!(v.remediation().contains("billing transfer") && v.remediation().contains("orgs_manage_org_delete"));
        let unknown = CustomerOrganization::ManagementAccount { organization_id: "o-own".into(), member_count: None, all_features: true };
        assert_eq!(check_customer_organization(&unknown, &partner, true).unwrap().code, AccountIsManagementAccount);
        let alone = CustomerOrganization::ManagementAccount { organization_id: "o-own".into(), member_count: Some(1), all_features: true };
        let v = check_customer_organization(&alone, &partner, false).unwrap();
        assert_eq!(v.code, AccountIsManagementOfEmptyOrganization);
        assert!(v.remediation().contains("Delete the organization") && !v.remediation().contains("billing transfer"));
        for code in
            [AccountIsManagementAccount, AccountIsManagementOfEmptyOrganization, DirectTransferNotAcknowledged, AccountInOtherOrganization]
        {
            let text = code.remediation().to_lowercase();
            assert!(!text.contains("leave it") && !text.contains("leave-as-member"), "{code:?} tells a member to leave: {text}");
        }
    }

    #[test]
    fn role_proof_rules() {
        assert!(check_role_proof(RoleProof::Enforced).is_none());
        assert_eq!(check_role_proof(RoleProof::NotEnforced).unwrap().code, ViolationCode::ExternalIdNotEnforced);
        assert_eq!(check_role_proof(RoleProof::NotAssumable).unwrap().code, ViolationCode::RoleNotAssumable);
    }

    #[test]
    fn codes_are_unique_and_screaming_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for code in ViolationCode::ALL {
            assert!(seen.insert(code.as_str()), "duplicate {}", code.as_str());
            assert!(code.as_str().bytes().all(|b| b.is_ascii_uppercase() || b == b'_'));
            assert!(!code.remediation().is_empty());
            assert_eq!(serde_json::to_value(code).unwrap(), serde_json::json!(code.as_str()), "stored and published as the stable code");
        }
    }
}
