//! Creating a migration: the API's synchronous checks, the record and lock in one write,
//! then the execution.

use tracing::{info, warn};

use crate::error::StoreError;
use crate::ids::MigrationId;
use crate::ports::{IdempotencyRecord, Ports};
use crate::record::{Migration, created_event};
use crate::request::MigrationRequest;
use crate::rules::{self, Caller, Violation};
use crate::steps::StepInput;
use crate::steps::facts::{Subject, check_stored_facts, own_holder};

#[derive(Debug, Clone, PartialEq)]
pub struct Created {
    pub record: Migration,
    /// The same Idempotency-Key and body were seen before: this is the earlier answer.
    pub replayed: bool,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CreateError {
    #[error("the request breaks {} rule(s)", .0.len())]
    Refused(Vec<Violation>),
    /// The Idempotency-Key was used with a different body.
    #[error("the idempotency key was used for a different request")]
    IdempotencyMismatch { migration_id: MigrationId },
    #[error(transparent)]
    Store(StoreError),
}

/// A stable fingerprint of a request body, to tell a replay from a different request under
/// the same Idempotency-Key.
pub fn request_fingerprint(request: &MigrationRequest) -> String {
    use sha2::{Digest, Sha256};
    // Struct fields serialize in declaration order, so the JSON is canonical for a type.
    let canonical = serde_json::to_vec(request).expect("a request always serializes");
    Sha256::digest(&canonical).iter().map(|b| format!("{b:02x}")).collect()
}

pub async fn create_migration(
    ports: &Ports,
    caller: &Caller,
    request: &MigrationRequest,
    idempotency_key: Option<&str>,
) -> Result<Created, CreateError> {
    rules::check_administrator(caller).map_err(|v| CreateError::Refused(vec![v]))?;
    let fingerprint = request_fingerprint(request);

    if let Some(earlier) = earlier_answer(ports, caller, idempotency_key, &fingerprint).await? {
        return Ok(earlier);
    }

    let mut violations = Vec::new();
    let valid = match request.validate() {
        Ok(valid) => Some(valid),
        Err(v) => {
            violations.extend(v);
            None
        }
    };
    let store = &ports.store;
    let subject = Subject {
        org: &caller.org,
        territory: None,
        account: valid.as_ref().map(|v| &v.aws_account_id),
        accepted_terms: &request.accepted_terms,
        own: None,
    };
    let (facts, profile) = check_stored_facts(store.as_ref(), subject).await.map_err(CreateError::Store)?;
    violations.extend(facts);
    // Billing transfers are offered where the partner has a pricing plan for their billing
    // groups (and, on AWS, the adapter that makes them).
    if valid.as_ref().is_some_and(|v| v.kind == crate::transfer::MigrationKind::BillingTransfer)
        && ports.settings.billing_pricing_plan_arn.is_empty()
    {
        violations.push(Violation::on_field(
            rules::ViolationCode::BillingTransferNotOffered,
            "kind",
            "this deployment has no billing pricing plan for billing transfers",
        ));
    }
    // A named start month must leave the customer time to accept, and not be far ahead.
    if let Some(Err(e)) = valid.as_ref().and_then(|v| v.start_month).map(|month| month.check(ports.clock.now())) {
        let code = match e.code {
            crate::transfer::MonthErrorCode::MonthTooLate => rules::ViolationCode::StartMonthTooLate,
            _ => rules::ViolationCode::StartMonthTooEarly,
        };
        violations.push(Violation::on_field(code, "start_month", e.message));
    }
    let (Some(valid), Some(profile), true) = (valid, profile, violations.is_empty()) else {
        // A concurrent request with the same key may have won between the key lookup above
        // and the lock check: its key was written with the lock, so look again.
        if let Some(earlier) = earlier_answer(ports, caller, idempotency_key, &fingerprint).await? {
            return Ok(earlier);
        }
        return Err(CreateError::Refused(violations));
    };

    let now = ports.clock.now();
    let record = Migration::new(MigrationId::new_at(now), caller.org.clone(), profile.territory, caller.user.clone(), valid, now);
    let idempotency = idempotency_key.map(|key| IdempotencyRecord {
        org_id: caller.org.clone(),
        key: key.to_owned(),
        fingerprint: fingerprint.clone(),
        migration_id: record.id,
        created_at: now,
        expires_at: now + ports.settings.idempotency_ttl,
    });
    match store.create(&record, &created_event(&record), idempotency.as_ref()).await {
        Ok(()) => {}
        Err(StoreError::AccountLocked { existing, .. }) => {
            // Both stores report the key before the lock, so a request that lost to its own
            // key is answered IdempotencyKeyUsed below. Should an adapter ever report only the
            // lock (a reading of DynamoDB's cancellation reasons we do not rely on), the key
            // written with that lock is found here and the answer is still a replay.
            if let Some(earlier) = earlier_answer(ports, caller, idempotency_key, &fingerprint).await? {
                return Ok(earlier);
            }
            let own = own_holder(store.as_ref(), &caller.org, existing).await.map_err(CreateError::Store)?;
            return Err(CreateError::Refused(vec![rules::account_locked(own)]));
        }
        Err(StoreError::IdempotencyKeyUsed { existing }) => return replay(ports, &existing, &fingerprint).await,
        Err(e) => return Err(CreateError::Store(e)),
    }
    info!(migration_id = %record.id, aws_account_id = %record.aws_account_id, "migration requested");
    start_execution(ports, &record).await;
    Ok(Created { record, replayed: false })
}

/// The answer of an earlier request with the same Idempotency-Key, if that key is live: the
/// request is a replay of it (or, with another body, a mismatch).
async fn earlier_answer(ports: &Ports, caller: &Caller, key: Option<&str>, fingerprint: &str) -> Result<Option<Created>, CreateError> {
    let Some(key) = key else { return Ok(None) };
    match ports.store.idempotency(&caller.org, key).await.map_err(CreateError::Store)? {
        // DynamoDB deletes expired items lazily: an expired key is treated as absent.
        Some(existing) if existing.expires_at > ports.clock.now() => replay(ports, &existing, fingerprint).await.map(Some),
        _ => Ok(None),
    }
}

async fn replay(ports: &Ports, existing: &IdempotencyRecord, fingerprint: &str) -> Result<Created, CreateError> {
    if existing.fingerprint != fingerprint {
        return Err(CreateError::IdempotencyMismatch { migration_id: existing.migration_id });
    }
    let record = ports
        .store
        .get(existing.migration_id)
        .await
        .map_err(CreateError::Store)?
        .ok_or(CreateError::Store(StoreError::NotFound(existing.migration_id)))?;
    // The first attempt may have failed to start the execution; starting is idempotent.
    if record.status == crate::status::Status::Requested {
        start_execution(ports, &record).await;
    }
    Ok(Created { record, replayed: true })
}

/// Starts the execution. A failure is logged, not returned: the record is safely written,
/// a retry with the same Idempotency-Key starts it, and so does the watcher's sweep of
/// records left in REQUESTED (which fails the record instead if its execution has ended).
async fn start_execution(ports: &Ports, record: &Migration) {
    let input = serde_json::to_value(StepInput { migration_id: record.id }).expect("serializes");
    if let Err(e) = ports.executions.start(record.id, input).await {
        warn!(migration_id = %record.id, error = %e, "could not start the execution; the watcher's sweep of unstarted records takes it from here");
    }
}
