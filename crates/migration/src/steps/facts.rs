//! The rules that read only what operators and earlier migrations stored: the
//! organization's eligibility, the terms it accepted, AWS's approval of the account and the
//! account's lock. `create_migration` runs them before writing a record; the validate step
//! runs them again (the facts may have changed since), then the rules that need AWS.

use crate::error::StoreError;
use crate::ids::{AwsAccountId, MigrationId, OrgId, Territory};
use crate::ports::MigrationStore;
use crate::rules::{self, OrgProfile, TermsAcceptance, Violation};

/// What the checks are about.
pub(crate) struct Subject<'a> {
    pub org: &'a OrgId,
    /// The territory whose terms apply; `None`: the profile's (no profile, no terms check).
    pub territory: Option<&'a Territory>,
    /// The account, once the request named a valid one.
    pub account: Option<&'a AwsAccountId>,
    pub accepted_terms: &'a [TermsAcceptance],
    /// The migration being validated: its own lock is not a violation.
    pub own: Option<MigrationId>,
}

/// `holder` when it is a migration of `org`: only its own organization may learn its id.
pub(crate) async fn own_holder(store: &dyn MigrationStore, org: &OrgId, holder: MigrationId) -> Result<Option<MigrationId>, StoreError> {
    Ok(store.get(holder).await?.filter(|m| &m.org_id == org).map(|m| m.id))
}

/// Every stored-facts violation, in the order the customer reads them (eligibility, terms,
/// approval, lock), and the profile when there is one.
pub(crate) async fn check_stored_facts(
    store: &dyn MigrationStore,
    subject: Subject<'_>,
) -> Result<(Vec<Violation>, Option<OrgProfile>), StoreError> {
    let mut violations = Vec::new();
    let profile = store.org_profile(subject.org).await?;
    violations.extend(rules::check_eligibility(profile.as_ref()));
    if let Some(territory) = subject.territory.or(profile.as_ref().map(|p| &p.territory)) {
        let terms = store.terms(territory).await?;
        violations.extend(rules::check_terms(terms.as_ref(), subject.accepted_terms));
    }
    if let Some(account) = subject.account {
        let approval = store.approval(account).await?;
        violations.extend(rules::check_approval(account, approval.as_ref()));
        match store.lock_holder(account).await? {
            Some(holder) if Some(holder) != subject.own => {
                violations.push(rules::account_locked(own_holder(store, subject.org, holder).await?));
            }
            _ => {}
        }
    }
    Ok((violations, profile))
}
