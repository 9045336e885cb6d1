//! The validate step: every rule again (defence in depth), plus those that need AWS.

use serde::{Deserialize, Serialize};
use tracing::{info, instrument};

use crate::error::{AccessError, StepError};
use crate::ids::MigrationId;
use crate::ports::Ports;
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

    let (violations, precheck) = check_all(ports, &record).await?;
    if !violations.is_empty() {
        info!(codes = ?violations.iter().map(|v| v.code.as_str()).collect::<Vec<_>>(), "migration rejected");
        return Err(StepError::NotEligible(violations));
    }
    let note = format!("all rules passed; support plan pre-check: {precheck:?}");
    let change = ChangeBuilder::new(&record, system("validate"), ports.clock.now()).transition(Status::Validated, note)?;
    let record = commit(ports, change.build()).await?;
    info!("migration validated");
    Ok(output(&record, precheck))
}

fn output(record: &Migration, support_precheck: SupportPlan) -> ValidateOutput {
    ValidateOutput { migration_id: record.id, access_level: record.access_level, support_precheck }
}

/// Every rule; transient failures of AWS are errors (so the step is retried), refusals are
/// violations.
async fn check_all(ports: &Ports, record: &Migration) -> Result<(Vec<Violation>, SupportPlan), StepError> {
    let accepted: Vec<_> = record.accepted_terms.iter().map(|t| t.acceptance.clone()).collect();
    let subject = Subject {
        org: &record.org_id,
        territory: Some(&record.territory),
        account: Some(&record.aws_account_id),
        accepted_terms: &accepted,
        own: Some(record.id),
    };
    let (mut violations, profile) = check_stored_facts(ports.store.as_ref(), subject).await?;

    let Some(profile) = profile else { return Ok((violations, SupportPlan::Unknown)) };
    let customer = &ports.customer;
    let session = match customer.assume(&record.role_arn, &profile.external_id, record.id).await {
        Ok(session) => session,
        Err(AccessError::NotAssumable(_)) => {
            violations.extend(rules::check_role_proof(RoleProof::NotAssumable));
            return Ok((violations, SupportPlan::Unknown));
        }
        Err(e) => return Err(e.into()),
    };
    if customer.assumable_without_external_id(&record.role_arn, record.id).await? {
        violations.extend(rules::check_role_proof(RoleProof::NotEnforced));
    }
    match customer.organization(&session).await {
        Ok(org) => violations.extend(rules::check_customer_organization(&org, &ports.settings.partner_account_id)),
        Err(AccessError::AccessDenied(call)) => {
            violations.push(Violation::new(ViolationCode::CustomerOrganizationUnknown, format!("the role may not call {call}")))
        }
        Err(e) => return Err(e.into()),
    }
    let precheck = ports.support.support_plan(&session).await.plan;
    Ok((violations, precheck))
}
