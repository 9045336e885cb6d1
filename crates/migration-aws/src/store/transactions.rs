//! Conditional transactions: writing them with the table filled in, telling a lost race
//! (`TransactionConflict`, tried again) from a failed condition (the caller decides from the
//! cancellation reasons) and from a failure, and reading the old images the reasons carry.

use std::time::Duration as StdDuration;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{CancellationReason, Delete, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem};
use migration::error::StoreError;
use migration::ports::IdempotencyRecord;
use migration::record::Migration;
use migration::{AwsAccountId, MigrationId, OrgId};
use tracing::debug;

use crate::keys;
use crate::store::DynamoStore;
use crate::store::items::{Item, LockItem, key_map, read_idempotency, read_record, s, store_error};

/// How often a transaction that lost a race with another transaction on the same items
/// (`TransactionConflict`) is tried again before the store reports itself unavailable.
pub(crate) const TRANSACTION_ATTEMPTS: u32 = 5;

/// Why a transaction was not written.
pub(crate) enum Refused {
    /// Conditions failed: one reason per item, in order (`None` for the items that passed).
    Conditions(Vec<CancellationReason>),
    Failed(StoreError),
}

pub(crate) fn failed_condition(reasons: &[CancellationReason], index: usize) -> bool {
    reasons.get(index).and_then(CancellationReason::code) == Some("ConditionalCheckFailed")
}

pub(crate) fn put(item: Item, condition: &str) -> TransactWriteItem {
    TransactWriteItem::builder()
        .put(Put::builder().set_item(Some(item)).condition_expression(condition).build_with_table_placeholder())
        .build()
}

/// `Put`'s builder wants the table name; the transaction helper fills it in.
pub(crate) trait TablePlaceholder {
    fn build_with_table_placeholder(self) -> Put;
}

impl TablePlaceholder for aws_sdk_dynamodb::types::builders::PutBuilder {
    fn build_with_table_placeholder(self) -> Put {
        self.table_name("")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .expect("item and table set")
    }
}

impl DynamoStore {
    /// Sets the table on every item and writes them in one transaction, trying again when it
    /// lost a race (`TransactionConflict`) with another transaction.
    pub(crate) async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), Refused> {
        let items: Vec<TransactWriteItem> = items.into_iter().map(|i| self.with_table(i)).collect();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self.client.transact_write_items().set_transact_items(Some(items.clone())).send().await;
            let err = match result {
                Ok(_) => return Ok(()),
                Err(err) => err,
            };
            let reasons = match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(e)) => e.cancellation_reasons().to_vec(),
                _ => return Err(Refused::Failed(store_error(&err))),
            };
            let conflict = reasons.iter().any(|r| matches!(r.code(), Some("TransactionConflict")));
            let condition = reasons.iter().any(|r| matches!(r.code(), Some("ConditionalCheckFailed")));
            if condition || !conflict {
                if !condition {
                    // Throttling is worth another try; a ValidationError or an item collection
                    // over its size limit fails the same way every time.
                    let codes: Vec<&str> = reasons.iter().filter_map(CancellationReason::code).filter(|c| *c != "None").collect();
                    let message = format!("transaction canceled: {codes:?}");
                    let throttled = codes.iter().all(|c| matches!(*c, "ThrottlingError" | "ProvisionedThroughputExceeded"));
                    let error = if throttled && !codes.is_empty() { StoreError::Unavailable(message) } else { StoreError::Other(message) };
                    return Err(Refused::Failed(error));
                }
                return Err(Refused::Conditions(reasons));
            }
            if attempt >= TRANSACTION_ATTEMPTS {
                return Err(Refused::Failed(StoreError::Unavailable("transaction kept conflicting with concurrent writes".into())));
            }
            debug!(attempt, "transaction conflict, trying again");
            tokio::time::sleep(StdDuration::from_millis(20 * u64::from(attempt))).await;
        }
    }

    fn with_table(&self, item: TransactWriteItem) -> TransactWriteItem {
        let mut item = item;
        if let Some(put) = item.put.as_mut() {
            put.table_name = self.table.clone();
        }
        if let Some(delete) = item.delete.as_mut() {
            delete.table_name = self.table.clone();
        }
        item
    }

    /// The lock item's holder, from a cancellation reason's old image or a fresh read.
    pub(crate) async fn lock_from(
        &self,
        reason: Option<&CancellationReason>,
        account: &AwsAccountId,
    ) -> Result<Option<MigrationId>, StoreError> {
        let item = match reason.and_then(CancellationReason::item) {
            Some(item) => Some(item.clone()),
            None => self.get_item(&keys::lock(account)).await?,
        };
        item.map(|i| read_record::<LockItem>(i).map(|l| l.migration_id)).transpose()
    }

    pub(crate) async fn idempotency_from(
        &self,
        reason: Option<&CancellationReason>,
        org: &OrgId,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let item = match reason.and_then(CancellationReason::item) {
            Some(item) => Some(item.clone()),
            None => self.get_item(&keys::idempotency(org, key)).await?,
        };
        item.map(read_idempotency).transpose()
    }

    pub(crate) fn lock_release(&self, record: &Migration) -> TransactWriteItem {
        let delete = Delete::builder()
            .table_name("")
            .set_key(Some(key_map(&keys::lock(&record.aws_account_id))))
            .condition_expression("#mid = :id")
            .expression_attribute_names("#mid", "migration_id")
            .expression_attribute_values(":id", s(record.id.to_string()))
            .build()
            .expect("key and table set");
        TransactWriteItem::builder().delete(delete).build()
    }
}
