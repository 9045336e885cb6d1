//! The validate step: every rule again (defence in depth), plus those that need AWS.

use serde::{Deserialize, Serialize};
use tracing::{info, instrument};

use crate::error::{AccessError, StepError};
use crate::ids::{AwsAccountId, MigrationId};
use crate::ports::Ports;
use crate::readiness::DirectTransfer;
use crate::record::{ChangeBuilder, Migration, SupportPlan};
use crate::request::AccessLevel;
use crate::rules::{self, RoleProof, Violation, ViolationCode};
use crate::status::Status;
use crate::steps::facts::{Subject, check_stored_facts};
use crate::steps::{commit, load, system};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidateOutput {
    pub migration_id: MigrationId,
    pub access_level: AccessLevel,
    /// A warning only: the support plan is checked for real after the account joins.
    pub support_precheck: SupportPlan,
}

#[instrument(skip(ports), fields(migration_id = %id))]
pub async fn validate(ports: &Ports, id: MigrationId) -> Result<ValidateOutput, StepError> {
    let record = load(ports, id).await?;
    match record.status {
        Status::Requested => {}
        Status::Canceled => return Err(StepError::Canceled),
        // Already validated by an earlier attempt whose answer was lost.
        s if !s.is_terminal() => return Ok(output(&record, SupportPlan::Unknown)),
        actual => return Err(StepError::WrongStatus { actual }),
    }

    let Checked { violations, precheck, moves_from } = check_all(ports, &record).await?;
    if !violations.is_empty() {
        info!(codes = ?violations.iter().map(|v| v.code.as_str()).collect::<Vec<_>>(), "migration rejected");
        return Err(StepError::NotEligible(violations));
    }
    let now = ports.clock.now();
    let mut note = format!("all rules passed; support plan pre-check: {precheck:?}");
    if let Some((organization_id, _)) = &moves_from {
        note.push_str(&format!("; the account moves directly out of organization {organization_id}, acknowledged"));
    }
    let mut change = ChangeBuilder::new(&record, system("validate"), now).transition(Status::Validated, note)?;
    change.record().direct_transfer = moves_from.map(|(organization_id, management_account_id)| DirectTransfer {
        organization_id,
        management_account_id,
        checked_at: now,
    });
    let record = commit(ports, change.build()).await?;
    info!("migration validated");
    Ok(output(&record, precheck))
}

fn output(record: &Migration, support_precheck: SupportPlan) -> ValidateOutput {
    ValidateOutput { migration_id: record.id, access_level: record.access_level, support_precheck }
}

struct Checked {
    violations: Vec<Violation>,
    precheck: SupportPlan,
    /// The other organization the account is a member of: it moves by a direct transfer.
    moves_from: Option<(String, AwsAccountId)>,
}

impl Checked {
    fn stopped(violations: Vec<Violation>) -> Self {
        Self { violations, precheck: SupportPlan::Unknown, moves_from: None }
    }
}

/// Every rule; transient failures of AWS are errors (so the step is retried), refusals are
/// violations.
async fn check_all(ports: &Ports, record: &Migration) -> Result<Checked, StepError> {
    let accepted: Vec<_> = record.accepted_terms.iter().map(|t| t.acceptance.clone()).collect();
    let subject = Subject {
        org: &record.org_id,
        territory: Some(&record.territory),
        account: Some(&record.aws_account_id),
        accepted_terms: &accepted,
        own: Some(record.id),
    };
    let (mut violations, profile) = check_stored_facts(ports.store.as_ref(), subject).await?;

    let Some(profile) = profile else { return Ok(Checked::stopped(violations)) };
    let customer = &ports.customer;
    let session = match customer.assume(&record.role_arn, &profile.external_id, record.id).await {
        Ok(session) => session,
        Err(AccessError::NotAssumable(_)) => {
            violations.extend(rules::check_role_proof(RoleProof::NotAssumable));
            return Ok(Checked::stopped(violations));
        }
        Err(e) => return Err(e.into()),
    };
    if customer.assumable_without_external_id(&record.role_arn, record.id).await? {
        violations.extend(rules::check_role_proof(RoleProof::NotEnforced));
    }
    let partner = &ports.settings.partner_account_id;
    let mut moves_from = None;
    match customer.organization(&session).await {
        // A billing transfer is made with the management account of an organization that keeps
        // itself; a join with an account that leaves (or is in) no organization.
        Ok(org) if record.kind == crate::transfer::MigrationKind::BillingTransfer => {
            violations.extend(rules::check_billing_transfer_organization(&org));
        }
        Ok(org) => {
            violations.extend(rules::check_customer_organization(&org, partner, record.acknowledgements.direct_transfer));
            moves_from = org.moves_from(partner).map(|(id, management)| (id.to_owned(), management.clone()));
        }
        Err(AccessError::AccessDenied(call)) => {
            violations.push(Violation::new(ViolationCode::CustomerOrganizationUnknown, format!("the role may not call {call}")))
        }
        Err(e) => return Err(e.into()),
    }
    let precheck = ports.support.support_plan(&session).await.plan;
    Ok(Checked { violations, precheck, moves_from })
}
