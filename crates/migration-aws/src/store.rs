//! The DynamoDB store: one table, conditional transactions for the invariants (one lock per
//! account, all-or-nothing writes, optimistic versions), GSI1 for listings and GSI2 as the
//! work queue. No Scan anywhere.

use std::collections::HashMap;
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, CancellationReason, Delete, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use migration::error::StoreError;
use migration::ports::{IdempotencyRecord, MigrationStore, Page};
use migration::record::{Change, HistoryEvent, Migration, WorkQueue};
use migration::rules::{Approval, OrgProfile, Terms};
use migration::{AwsAccountId, MigrationId, OrgId, Status, Territory};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tracing::{debug, instrument, warn};

use crate::errors::{error_message, is_transient};
use crate::keys::{self, Key, entity};

pub type Item = HashMap<String, AttributeValue>;

/// How often a transaction that lost a race with another transaction on the same items
/// (`TransactionConflict`) is tried again before the store reports itself unavailable.
const TRANSACTION_ATTEMPTS: u32 = 5;

/// The DynamoDB adapter of [`MigrationStore`].
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn store_error<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> StoreError {
    let message = error_message(err);
    if is_transient(err) { StoreError::Unavailable(message) } else { StoreError::Other(message) }
}

fn encoding(e: serde_dynamo::Error) -> StoreError {
    StoreError::Other(format!("item encoding: {e}"))
}

/// A domain record as an item: its attributes, the key and the entity kind.
pub(crate) fn record_item<T: Serialize>(key: &Key, kind: &str, value: &T) -> Result<Item, StoreError> {
    let mut item: Item = serde_dynamo::to_item(value).map_err(encoding)?;
    item.insert(keys::PK.into(), s(&key.pk));
    item.insert(keys::SK.into(), s(&key.sk));
    item.insert(keys::ENTITY.into(), s(kind));
    Ok(item)
}

/// The domain record of an item, without the table's layout attributes.
pub(crate) fn read_record<T: DeserializeOwned>(mut item: Item) -> Result<T, StoreError> {
    for attribute in keys::LAYOUT_ATTRIBUTES {
        item.remove(*attribute);
    }
    serde_dynamo::from_item(item).map_err(|e| StoreError::Other(format!("a stored item does not read back: {e}")))
}

pub(crate) fn migration_item(record: &Migration) -> Result<Item, StoreError> {
    let mut item = record_item(&keys::migration(record.id), entity::MIGRATION, record)?;
    item.insert(keys::GSI1PK.into(), s(keys::org_partition(&record.org_id)));
    item.insert(keys::GSI1SK.into(), s(keys::gsi1_sort(record.id)));
    // Sparse: only records in a queue carry GSI2 keys. Every write replaces the whole item,
    // so leaving a queue removes them.
    if let Some((queue, due)) = record.work_queue() {
        item.insert(keys::GSI2PK.into(), s(keys::queue_partition(queue)));
        item.insert(keys::GSI2SK.into(), s(keys::queue_sort(due, record.id)));
    }
    Ok(item)
}

/// A history entry as its item (what the table's stream carries in `NewImage`).
pub fn event_item(event: &HistoryEvent) -> Result<Item, StoreError> {
    record_item(&keys::event(event.migration_id, event.at, event.seq), entity::EVENT, event)
}

#[derive(Debug, Serialize, Deserialize)]
struct LockItem {
    migration_id: MigrationId,
    org_id: OrgId,
    acquired_at: DateTime<Utc>,
}

fn idempotency_item(record: &IdempotencyRecord) -> Result<Item, StoreError> {
    let key = keys::idempotency(&record.org_id, &record.key);
    let mut item = Item::new();
    item.insert(keys::PK.into(), s(key.pk));
    item.insert(keys::SK.into(), s(key.sk));
    item.insert(keys::ENTITY.into(), s(entity::IDEMPOTENCY));
    item.insert(keys::TTL.into(), AttributeValue::N(ceil_epoch_seconds(record.expires_at).to_string()));
    item.insert(keys::IDEMPOTENCY_RECORD.into(), serde_dynamo::to_attribute_value(record).map_err(encoding)?);
    Ok(item)
}

fn read_idempotency(mut item: Item) -> Result<IdempotencyRecord, StoreError> {
    let record = item.remove(keys::IDEMPOTENCY_RECORD).ok_or_else(|| StoreError::Other("idempotency item without its record".into()))?;
    serde_dynamo::from_attribute_value(record).map_err(encoding)
}

/// TTL is whole epoch seconds; round up so a key never expires early.
fn ceil_epoch_seconds(at: DateTime<Utc>) -> i64 {
    at.timestamp() + i64::from(at.timestamp_subsec_nanos() > 0)
}

fn key_map(key: &Key) -> Item {
    HashMap::from([(keys::PK.to_owned(), s(&key.pk)), (keys::SK.to_owned(), s(&key.sk))])
}

fn attribute_string<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
}

/// The listing cursor: the GSI1 key of the last item returned, as JSON, base64url.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CursorKey {
    #[serde(rename = "GSI1PK")]
    gsi1pk: String,
    #[serde(rename = "GSI1SK")]
    gsi1sk: String,
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
}

const MAX_CURSOR_LEN: usize = 512;

fn encode_cursor(last: &Migration) -> String {
    let key = keys::migration(last.id);
    let cursor = CursorKey { gsi1pk: keys::org_partition(&last.org_id), gsi1sk: keys::gsi1_sort(last.id), pk: key.pk, sk: key.sk };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&cursor).expect("a cursor serializes"))
}

/// The exclusive start key of a cursor, if it is well-formed and belongs to `org`.
fn decode_cursor(org: &OrgId, cursor: &str) -> Result<Item, StoreError> {
    if cursor.is_empty() || cursor.len() > MAX_CURSOR_LEN {
        return Err(StoreError::InvalidCursor);
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| StoreError::InvalidCursor)?;
    let key: CursorKey = serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidCursor)?;
    let id: MigrationId = key.gsi1sk.parse().map_err(|_| StoreError::InvalidCursor)?;
    let expected = keys::migration(id);
    if key.gsi1pk != keys::org_partition(org) || key.pk != expected.pk || key.sk != expected.sk {
        return Err(StoreError::InvalidCursor);
    }
    Ok(HashMap::from([
        (keys::GSI1PK.to_owned(), s(key.gsi1pk)),
        (keys::GSI1SK.to_owned(), s(key.gsi1sk)),
        (keys::PK.to_owned(), s(key.pk)),
        (keys::SK.to_owned(), s(key.sk)),
    ]))
}

/// Why a transaction was not written.
enum Refused {
    /// Conditions failed: one reason per item, in order (`None` for the items that passed).
    Conditions(Vec<CancellationReason>),
    Failed(StoreError),
}

fn failed_condition(reasons: &[CancellationReason], index: usize) -> bool {
    reasons.get(index).and_then(CancellationReason::code) == Some("ConditionalCheckFailed")
}

fn put(item: Item, condition: &str) -> TransactWriteItem {
    TransactWriteItem::builder()
        .put(Put::builder().set_item(Some(item)).condition_expression(condition).build_with_table_placeholder())
        .build()
}

/// `Put`'s builder wants the table name; the transaction helper fills it in.
trait TablePlaceholder {
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
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    pub fn table_name(&self) -> &str {
        &self.table
    }

    /// Sets the table on every item and writes them in one transaction, trying again when it
    /// lost a race (`TransactionConflict`) with another transaction.
    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), Refused> {
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

    async fn get_item(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_map(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error(&e))?;
        Ok(out.item)
    }

    async fn get_record<T: DeserializeOwned>(&self, key: &Key) -> Result<Option<T>, StoreError> {
        self.get_item(key).await?.map(read_record).transpose()
    }

    async fn put_record<T: Serialize>(&self, key: &Key, kind: &str, value: &T) -> Result<(), StoreError> {
        let item = record_item(key, kind, value)?;
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(|e| store_error(&e))?;
        Ok(())
    }

    /// The lock item's holder, from a cancellation reason's old image or a fresh read.
    async fn lock_from(&self, reason: Option<&CancellationReason>, account: &AwsAccountId) -> Result<Option<MigrationId>, StoreError> {
        let item = match reason.and_then(CancellationReason::item) {
            Some(item) => Some(item.clone()),
            None => self.get_item(&keys::lock(account)).await?,
        };
        item.map(|i| read_record::<LockItem>(i).map(|l| l.migration_id)).transpose()
    }

    async fn idempotency_from(
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

    fn lock_release(&self, record: &Migration) -> TransactWriteItem {
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

#[async_trait]
impl MigrationStore for DynamoStore {
    #[instrument(skip_all, fields(migration_id = %record.id, idempotent = idempotency.is_some()))]
    async fn create(&self, record: &Migration, event: &HistoryEvent, idempotency: Option<&IdempotencyRecord>) -> Result<(), StoreError> {
        const META: usize = 0;
        const LOCK: usize = 1;
        const EVENT: usize = 2;
        const IDEMPOTENCY: usize = 3;
        let lock = LockItem { migration_id: record.id, org_id: record.org_id.clone(), acquired_at: record.requested_at };
        let mut items = vec![
            put(migration_item(record)?, "attribute_not_exists(PK)"),
            put(record_item(&keys::lock(&record.aws_account_id), entity::LOCK, &lock)?, "attribute_not_exists(PK)"),
            put(event_item(event)?, "attribute_not_exists(PK)"),
        ];
        if let Some(idem) = idempotency {
            let mut item = put(idempotency_item(idem)?, "attribute_not_exists(PK) OR #ttl <= :now");
            let p = item.put.as_mut().expect("a put");
            p.expression_attribute_names = Some(HashMap::from([("#ttl".to_owned(), keys::TTL.to_owned())]));
            p.expression_attribute_values =
                Some(HashMap::from([(":now".to_owned(), AttributeValue::N(idem.created_at.timestamp().to_string()))]));
            items.push(item);
        }
        let reasons = match self.transact(items).await {
            Ok(()) => return Ok(()),
            Err(Refused::Failed(e)) => return Err(e),
            Err(Refused::Conditions(reasons)) => reasons,
        };
        // The same order of precedence as the in-memory store: key, lock, then the id. A
        // request that lost the race to its own Idempotency-Key fails both conditions (the
        // winner wrote its key and its lock together) and must be answered as a replay.
        // DynamoDB reports a reason for every item, in request order (moto does the same).
        if let Some(idem) = idempotency
            && failed_condition(&reasons, IDEMPOTENCY)
        {
            return match self.idempotency_from(reasons.get(IDEMPOTENCY), &idem.org_id, &idem.key).await? {
                Some(existing) => Err(StoreError::IdempotencyKeyUsed { existing }),
                None => Err(StoreError::Unavailable("the idempotency key expired concurrently; try again".into())),
            };
        }
        if failed_condition(&reasons, LOCK) {
            return match self.lock_from(reasons.get(LOCK), &record.aws_account_id).await? {
                Some(existing) => Err(StoreError::AccountLocked { account: record.aws_account_id.clone(), existing }),
                None => Err(StoreError::Unavailable("the account lock was released concurrently; try again".into())),
            };
        }
        if failed_condition(&reasons, META) || failed_condition(&reasons, EVENT) {
            return Err(StoreError::AlreadyExists(record.id));
        }
        Err(StoreError::Other("transaction canceled for an unknown reason".into()))
    }

    #[instrument(skip(self))]
    async fn get(&self, id: MigrationId) -> Result<Option<Migration>, StoreError> {
        self.get_record(&keys::migration(id)).await
    }

    #[instrument(skip_all, fields(migration_id = %change.record.id, expected_version = change.expected_version, release_lock = change.release_lock))]
    async fn update(&self, change: &Change) -> Result<(), StoreError> {
        let record = &change.record;
        if record.version != change.expected_version + 1 {
            return Err(StoreError::VersionConflict(record.id));
        }
        let mut release = change.release_lock && self.lock_holder(&record.aws_account_id).await? == Some(record.id);
        loop {
            let mut meta = put(migration_item(record)?, "attribute_exists(PK) AND #version = :expected");
            let p = meta.put.as_mut().expect("a put");
            p.expression_attribute_names = Some(HashMap::from([("#version".to_owned(), "version".to_owned())]));
            p.expression_attribute_values =
                Some(HashMap::from([(":expected".to_owned(), AttributeValue::N(change.expected_version.to_string()))]));
            let mut items = vec![meta];
            for event in &change.events {
                items.push(put(event_item(event)?, "attribute_not_exists(PK)"));
            }
            let lock_index = items.len();
            if release {
                items.push(self.lock_release(record));
            }
            let reasons = match self.transact(items).await {
                Ok(()) => return Ok(()),
                Err(Refused::Failed(e)) => return Err(e),
                Err(Refused::Conditions(reasons)) => reasons,
            };
            if failed_condition(&reasons, 0) {
                return match reasons[0].item() {
                    Some(_) => Err(StoreError::VersionConflict(record.id)),
                    None if self.get_item(&keys::migration(record.id)).await?.is_none() => Err(StoreError::NotFound(record.id)),
                    None => Err(StoreError::VersionConflict(record.id)),
                };
            }
            if (1..lock_index).any(|i| failed_condition(&reasons, i)) {
                return Err(StoreError::VersionConflict(record.id));
            }
            if release && failed_condition(&reasons, lock_index) {
                // The lock changed hands between the read and the write: it is no longer
                // ours to release, so the change applies without it.
                warn!("the account lock changed hands; writing the change without releasing it");
                release = false;
                continue;
            }
            return Err(StoreError::Other("transaction canceled for an unknown reason".into()));
        }
    }

    #[instrument(skip(self))]
    async fn history(&self, id: MigrationId) -> Result<Vec<HistoryEvent>, StoreError> {
        let mut events = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_names("#pk", keys::PK)
                .expression_attribute_names("#sk", keys::SK)
                .expression_attribute_values(":pk", s(keys::migration_pk(id)))
                .expression_attribute_values(":prefix", s(keys::EVENT_PREFIX))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| store_error(&e))?;
            for item in out.items.unwrap_or_default() {
                events.push(read_record::<HistoryEvent>(item)?);
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        // Keys sort by time then sequence; the port promises sequence order.
        events.sort_by_key(|e| e.seq);
        Ok(events)
    }

    #[instrument(skip(self, cursor), fields(has_cursor = cursor.is_some()))]
    async fn list_by_org(&self, org: &OrgId, status: Option<Status>, limit: u32, cursor: Option<&str>) -> Result<Page, StoreError> {
        let mut start = cursor.map(|c| decode_cursor(org, c)).transpose()?;
        if limit == 0 {
            return Ok(Page { items: Vec::new(), next_cursor: None });
        }
        let limit = limit as usize;
        // One more than asked tells whether another page exists.
        let wanted = limit + 1;
        let mut items: Vec<Migration> = Vec::with_capacity(wanted);
        loop {
            let needed = wanted - items.len();
            // Limit applies before the filter: read more per page when filtering.
            let page = if status.is_some() { needed.max(50) } else { needed }.min(1000);
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(keys::GSI1)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", keys::GSI1PK)
                .expression_attribute_values(":pk", s(keys::org_partition(org)))
                .scan_index_forward(false)
                .limit(i32::try_from(page).unwrap_or(1000))
                .set_exclusive_start_key(start.take());
            if let Some(status) = status {
                query = query
                    .filter_expression("#status = :status")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":status", s(status.as_str()));
            }
            let out = query.send().await.map_err(|e| store_error(&e))?;
            for item in out.items.unwrap_or_default() {
                if items.len() == wanted {
                    break;
                }
                items.push(read_record(item)?);
            }
            match out.last_evaluated_key {
                Some(key) if items.len() < wanted && !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        let more = items.len() > limit;
        items.truncate(limit);
        let next_cursor = if more { items.last().map(encode_cursor) } else { None };
        Ok(Page { items, next_cursor })
    }

    #[instrument(skip(self))]
    async fn due(&self, queue: WorkQueue, now: DateTime<Utc>, limit: u32) -> Result<Vec<Migration>, StoreError> {
        let limit = limit as usize;
        let mut items = Vec::new();
        let mut start = None;
        while items.len() < limit {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(keys::GSI2)
                .key_condition_expression("#pk = :pk AND #sk <= :now")
                .expression_attribute_names("#pk", keys::GSI2PK)
                .expression_attribute_names("#sk", keys::GSI2SK)
                .expression_attribute_values(":pk", s(keys::queue_partition(queue)))
                .expression_attribute_values(":now", s(keys::queue_sort_upper_bound(now)))
                .scan_index_forward(true)
                .limit(i32::try_from(limit - items.len()).unwrap_or(1000).min(1000))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| store_error(&e))?;
            for item in out.items.unwrap_or_default() {
                if items.len() < limit {
                    items.push(read_record::<Migration>(item)?);
                }
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        Ok(items)
    }

    #[instrument(skip(self))]
    async fn lock_holder(&self, account: &AwsAccountId) -> Result<Option<MigrationId>, StoreError> {
        Ok(self.get_record::<LockItem>(&keys::lock(account)).await?.map(|l| l.migration_id))
    }

    #[instrument(skip(self, key))]
    async fn idempotency(&self, org: &OrgId, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.get_item(&keys::idempotency(org, key)).await?.map(read_idempotency).transpose()
    }

    #[instrument(skip(self))]
    async fn org_profile(&self, org: &OrgId) -> Result<Option<OrgProfile>, StoreError> {
        self.get_record(&keys::org_profile(org)).await
    }

    #[instrument(skip_all, fields(org_id = %profile.org_id))]
    async fn put_org_profile(&self, profile: &OrgProfile) -> Result<(), StoreError> {
        self.put_record(&keys::org_profile(&profile.org_id), entity::PROFILE, profile).await
    }

    #[instrument(skip(self))]
    async fn approval(&self, account: &AwsAccountId) -> Result<Option<Approval>, StoreError> {
        self.get_record(&keys::approval(account)).await
    }

    #[instrument(skip_all, fields(account = %approval.account_id))]
    async fn put_approval(&self, approval: &Approval) -> Result<(), StoreError> {
        self.put_record(&keys::approval(&approval.account_id), entity::APPROVAL, approval).await
    }

    #[instrument(skip(self))]
    async fn terms(&self, territory: &Territory) -> Result<Option<Terms>, StoreError> {
        self.get_record(&keys::terms(territory)).await
    }

    #[instrument(skip_all, fields(territory = %terms.territory))]
    async fn put_terms(&self, terms: &Terms) -> Result<(), StoreError> {
        self.put_record(&keys::terms(&terms.territory), entity::TERMS, terms).await
    }
}

/// Reads the attribute `entity` of an item.
pub(crate) fn entity_of(item: &Item) -> Option<&str> {
    attribute_string(item, keys::ENTITY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use migration_sim::contract::{sample_record, t0};

    #[test]
    fn cursors_round_trip_and_are_bound_to_their_organization() {
        let record = sample_record("acme", "000123456789", t0());
        let cursor = encode_cursor(&record);
        let key = decode_cursor(&"acme".parse().unwrap(), &cursor).expect("valid");
        assert_eq!(attribute_string(&key, keys::GSI1SK), Some(record.id.to_string().as_str()));
        assert_eq!(decode_cursor(&"globex".parse().unwrap(), &cursor).unwrap_err(), StoreError::InvalidCursor);
    }

    #[test]
    fn forged_cursors_are_refused() {
        let org: OrgId = "acme".parse().unwrap();
        let id = MigrationId::new_at(t0());
        let forge = |json: serde_json::Value| URL_SAFE_NO_PAD.encode(json.to_string());
        let cases = [
            "".to_owned(),
            "!!!".to_owned(),
            URL_SAFE_NO_PAD.encode("not json"),
            forge(serde_json::json!({"GSI1PK": "ORG#acme", "GSI1SK": "x", "PK": "MIGRATION#x", "SK": "META"})),
            forge(serde_json::json!({"GSI1PK": "ORG#acme", "GSI1SK": id.to_string(), "PK": format!("MIGRATION#{id}"), "SK": "LOCK"})),
            forge(serde_json::json!({"GSI1PK": "ORG#acme", "GSI1SK": id.to_string(), "PK": "ACCOUNT#000123456789", "SK": "META"})),
            forge(
                serde_json::json!({"GSI1PK": "ORG#acme", "GSI1SK": id.to_string(), "PK": format!("MIGRATION#{id}"), "SK": "META", "X": 1}),
            ),
            "A".repeat(MAX_CURSOR_LEN + 1),
        ];
        for cursor in cases {
            assert_eq!(decode_cursor(&org, &cursor).unwrap_err(), StoreError::InvalidCursor, "{cursor:?}");
        }
        let good =
            forge(serde_json::json!({"GSI1PK": "ORG#acme", "GSI1SK": id.to_string(), "PK": format!("MIGRATION#{id}"), "SK": "META"}));
        assert!(decode_cursor(&org, &good).is_ok());
    }

    #[test]
    fn queue_attributes_are_written_only_for_queued_records() {
        let mut record = sample_record("acme", "000123456789", t0());
        let item = migration_item(&record).unwrap();
        assert_eq!(attribute_string(&item, keys::GSI2PK), Some("QUEUE#UNSTARTED"));
        record.status = Status::Validated;
        let item = migration_item(&record).unwrap();
        assert!(!item.contains_key(keys::GSI2PK) && !item.contains_key(keys::GSI2SK));
        assert_eq!(read_record::<Migration>(item).unwrap(), record);
    }

    #[test]
    fn ttl_rounds_up_to_whole_seconds() {
        assert_eq!(ceil_epoch_seconds(t0()), t0().timestamp());
        assert_eq!(ceil_epoch_seconds(t0() + chrono::Duration::milliseconds(1)), t0().timestamp() + 1);
    }
}
