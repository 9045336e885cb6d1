//! The reference data the rules read: what operators record (an organization's profile,
//! AWS's approval of an account, a territory's terms) and what a customer reads of it
//! before asking for a migration. Operators reach these through the API's `/admin/`
//! routes; each write replaces the earlier one and is logged with who made it.

use tracing::info;

use crate::error::StoreError;
use crate::ids::{AwsAccountId, ExternalId, OrgId, Territory};
use crate::ports::Ports;
use crate::rules::{self, Approval, Caller, Eligibility, OrgProfile, Terms, TermsDocument, Violation};

/// An operator's profile of an organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileUpdate {
    /// Given, it replaces the organization's ExternalId; `None` keeps the current one or,
    /// for a new profile, issues one.
    pub external_id: Option<ExternalId>,
    pub territory: Territory,
    pub eligibility: Eligibility,
}

/// Writes an organization's profile.
pub async fn put_org_profile(ports: &Ports, operator: &str, org: OrgId, update: ProfileUpdate) -> Result<OrgProfile, StoreError> {
    let store = &ports.store;
    let external_id = match update.external_id {
        Some(given) => given,
        None => match store.org_profile(&org).await? {
            Some(existing) => existing.external_id,
            None => issue_external_id(&org),
        },
    };
    let profile = OrgProfile { org_id: org, external_id, territory: update.territory, eligibility: update.eligibility };
    store.put_org_profile(&profile).await?;
    info!(org_id = %profile.org_id, operator = %operator, "organization profile written");
    Ok(profile)
}

/// A new ExternalId for an organization: unguessable, and readable in a trust policy.
pub fn issue_external_id(org: &OrgId) -> ExternalId {
    format!("cam-{org}-{}", ulid::Ulid::new().to_string().to_lowercase()).parse().expect("org ids and ULIDs are ExternalId characters")
}

/// Records AWS's answer to the transfer of an account, stamped with who recorded it and when.
pub async fn put_approval(
    ports: &Ports,
    operator: &str,
    account: AwsAccountId,
    reference: String,
    approved: bool,
) -> Result<Approval, StoreError> {
    let approval = Approval { account_id: account, reference, approved, recorded_by: operator.to_owned(), recorded_at: ports.clock.now() };
    ports.store.put_approval(&approval).await?;
    info!(aws_account_id = %approval.account_id, approved = approval.approved, operator = %approval.recorded_by, "approval written");
    Ok(approval)
}

/// Publishes the terms in force for a territory.
pub async fn put_terms(ports: &Ports, operator: &str, territory: Territory, documents: Vec<TermsDocument>) -> Result<Terms, StoreError> {
    let terms = Terms { territory, documents };
    ports.store.put_terms(&terms).await?;
    info!(territory = %terms.territory, documents = terms.documents.len(), operator = %operator, "terms written");
    Ok(terms)
}

/// What a customer needs before asking: the organization's profile and its territory's
/// terms (what a direct transfer changes is the constant `readiness::DIRECT_TRANSFER_CHANGES`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Onboarding {
    pub profile: OrgProfile,
    pub terms: Option<Terms>,
    /// The start months a billing transfer asked for now may name (earliest, latest); `None`
    /// where the deployment does not offer billing transfers.
    pub billing_transfer_months: Option<(crate::transfer::BillingMonth, crate::transfer::BillingMonth)>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OnboardingError {
    /// The organization has no profile: nothing can be offered.
    #[error("the organization has no profile")]
    NoProfile(Vec<Violation>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The caller's organization's onboarding facts.
pub async fn onboarding(ports: &Ports, caller: &Caller) -> Result<Onboarding, OnboardingError> {
    let Some(profile) = ports.store.org_profile(&caller.org).await? else {
        return Err(OnboardingError::NoProfile(rules::check_eligibility(None)));
    };
    let terms = ports.store.terms(&profile.territory).await?;
    let now = ports.clock.now();
    let billing_transfer_months = (!ports.settings.billing_pricing_plan_arn.is_empty())
        .then(|| (crate::transfer::BillingMonth::earliest(now), crate::transfer::BillingMonth::latest(now)));
    Ok(Onboarding { profile, terms, billing_transfer_months })
}
