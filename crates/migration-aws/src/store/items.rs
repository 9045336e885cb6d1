//! Domain records as DynamoDB items and back: the record's attributes plus the table's
//! layout (keys, entity kind, the index keys a record carries while it is queued).

use std::collections::HashMap;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use migration::error::StoreError;
use migration::ports::IdempotencyRecord;
use migration::record::{HistoryEvent, Migration};
use migration::{MigrationId, OrgId};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::errors::{error_message, is_transient};
use crate::keys::{self, Key, entity};

pub type Item = HashMap<String, AttributeValue>;

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn store_error<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> StoreError {
    let message = error_message(err);
    if is_transient(err) { StoreError::Unavailable(message) } else { StoreError::Other(message) }
}

pub(crate) fn encoding(e: serde_dynamo::Error) -> StoreError {
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
    item.insert(keys::GSI3PK.into(), s(keys::status_partition(record.status)));
    item.insert(keys::GSI3SK.into(), s(keys::gsi1_sort(record.id)));
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
pub(crate) struct LockItem {
    pub(crate) migration_id: MigrationId,
    pub(crate) org_id: OrgId,
    pub(crate) acquired_at: DateTime<Utc>,
}

pub(crate) fn idempotency_item(record: &IdempotencyRecord) -> Result<Item, StoreError> {
    let key = keys::idempotency(&record.org_id, &record.key);
    let mut item = Item::new();
    item.insert(keys::PK.into(), s(key.pk));
    item.insert(keys::SK.into(), s(key.sk));
    item.insert(keys::ENTITY.into(), s(entity::IDEMPOTENCY));
    item.insert(keys::TTL.into(), AttributeValue::N(ceil_epoch_seconds(record.expires_at).to_string()));
    item.insert(keys::IDEMPOTENCY_RECORD.into(), serde_dynamo::to_attribute_value(record).map_err(encoding)?);
    Ok(item)
}

pub(crate) fn read_idempotency(mut item: Item) -> Result<IdempotencyRecord, StoreError> {
    let record = item.remove(keys::IDEMPOTENCY_RECORD).ok_or_else(|| StoreError::Other("idempotency item without its record".into()))?;
    serde_dynamo::from_attribute_value(record).map_err(encoding)
}

/// TTL is whole epoch seconds; round up so a key never expires early.
pub(crate) fn ceil_epoch_seconds(at: DateTime<Utc>) -> i64 {
    at.timestamp() + i64::from(at.timestamp_subsec_nanos() > 0)
}

pub(crate) fn key_map(key: &Key) -> Item {
    HashMap::from([(keys::PK.to_owned(), s(&key.pk)), (keys::SK.to_owned(), s(&key.sk))])
}

pub(crate) fn attribute_string<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
}

/// Reads the attribute `entity` of an item.
pub(crate) fn entity_of(item: &Item) -> Option<&str> {
    attribute_string(item, keys::ENTITY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use migration::Status;
    use migration_sim::contract::{sample_record, t0};

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

    /// A profile item as the code before `Eligibility` wrote it (seven flat BOOLs) still
    /// reads, and today's code writes exactly those attributes.
    #[test]
    fn org_profile_items_keep_their_flat_layout() {
        use migration::rules::{Eligibility, OrgProfile};
        let b = |v: bool| AttributeValue::Bool(v);
        let flat: Item = HashMap::from([
            (keys::PK.to_owned(), s("ORG#acme")),
            (keys::SK.to_owned(), s("PROFILE")),
            (keys::ENTITY.to_owned(), s(entity::PROFILE)),
            ("org_id".to_owned(), s("acme")),
            ("external_id".to_owned(), s("cam-acme-7f3a9c")),
            ("territory".to_owned(), s("US")),
            ("billable".to_owned(), b(true)),
            ("demo".to_owned(), b(false)),
            ("trial".to_owned(), b(true)),
            ("internal".to_owned(), b(false)),
            ("reseller".to_owned(), b(false)),
            ("reseller_customer".to_owned(), b(false)),
            ("us_offices".to_owned(), b(true)),
        ]);
        let profile: OrgProfile = read_record(flat.clone()).expect("the old layout reads");
        assert_eq!(profile.eligibility, Eligibility { trial: true, ..Eligibility::QUALIFYING });
        let written = record_item(&keys::org_profile(&profile.org_id), entity::PROFILE, &profile).unwrap();
        let names = |item: &Item| item.keys().cloned().collect::<std::collections::BTreeSet<_>>();
        assert_eq!(names(&written), names(&flat));
        assert_eq!(written.get("trial"), Some(&b(true)));
    }
}
