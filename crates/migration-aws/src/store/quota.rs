//! The partner's invitation quota as one item of the table (`QUOTA#INVITATIONS` / `LEDGER`):
//! the ledger of [`migration::quota`], read consistently and written back on a condition on
//! the version it read, so two invites that read the same ledger cannot both write it and
//! the ledger never admits more than the quota. The loser reads again and decides again.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use migration::MigrationId;
use migration::error::StoreError;
use migration::ports::Reservation;
use migration::quota::InvitationLedger;
use tracing::debug;

use crate::keys::{self, entity};
use crate::store::DynamoStore;
use crate::store::items::{read_record, record_item, store_error};

/// How often a reservation that lost the race for the ledger reads it again before the store
/// reports itself unavailable (the step then retries as `Migration.Transient`). Each lost
/// round is some other reservation's win, so `n` reservations at once all finish within `n`
/// rounds; the invite function's reserved concurrency is 2, the contract's race runs 12.
const LEDGER_ATTEMPTS: u32 = 30;

impl DynamoStore {
    pub(crate) async fn reserve_invitation_slot(
        &self,
        migration: MigrationId,
        now: DateTime<Utc>,
        quota: u32,
    ) -> Result<Reservation, StoreError> {
        let key = keys::invitation_quota();
        for attempt in 1..=LEDGER_ATTEMPTS {
            let stored = self.get_item(&key).await?;
            let exists = stored.is_some();
            let mut ledger: InvitationLedger = stored.map(read_record).transpose()?.unwrap_or_default();
            let read_version = ledger.version;
            let (reservation, changed) = ledger.reserve(migration, now, quota);
            if !changed {
                return Ok(reservation);
            }
            ledger.version = read_version + 1;
            let item = record_item(&key, entity::QUOTA, &ledger)?;
            let put = self.client.put_item().table_name(&self.table).set_item(Some(item));
            let put = if exists {
                put.condition_expression("#version = :read")
                    .expression_attribute_names("#version", "version")
                    .expression_attribute_values(":read", AttributeValue::N(read_version.to_string()))
            } else {
                put.condition_expression("attribute_not_exists(PK)")
            };
            match put.send().await {
                Ok(_) => return Ok(reservation),
                Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                    debug!(attempt, "another invite wrote the invitation ledger first; reading it again");
                }
                Err(e) => return Err(store_error(&e)),
            }
        }
        Err(StoreError::Unavailable(format!("the invitation ledger changed under {LEDGER_ATTEMPTS} reservations in a row; try again")))
    }
}
