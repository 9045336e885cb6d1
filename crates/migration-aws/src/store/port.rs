//! The [`MigrationStore`] port on DynamoDB.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use migration::error::StoreError;
use migration::ports::{IdempotencyRecord, ListQuery, Listing, MigrationStore, Page, Reservation};
use migration::record::{Change, HistoryEvent, Migration, WorkQueue};
use migration::rules::{Approval, OrgProfile, Terms};
use migration::{AwsAccountId, MigrationId, OrgId, Territory};
use tracing::{instrument, warn};

use crate::keys::{self, entity};
use crate::store::DynamoStore;
use crate::store::cursor::{ListIndex, decode_cursor, encode_cursor};
use crate::store::items::*;
use crate::store::transactions::*;

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
    async fn list(&self, query: &ListQuery, limit: u32, cursor: Option<&str>) -> Result<Page, StoreError> {
        let mut start = cursor.map(|c| decode_cursor(query, c)).transpose()?;
        let Some((low, high)) = query.id_bounds() else { return Ok(Page { items: Vec::new(), next_cursor: None }) };
        if limit == 0 {
            return Ok(Page { items: Vec::new(), next_cursor: None });
        }
        let index = ListIndex::of(query);
        // GSI1 holds every status of an organization: a status is a filter there. GSI3 is
        // keyed by the status itself.
        let filter = match &query.listing {
            Listing::Org { status, .. } => *status,
            Listing::Status(_) => None,
        };
        let limit = limit as usize;
        // One more than asked tells whether another page exists.
        let wanted = limit + 1;
        let mut items: Vec<Migration> = Vec::with_capacity(wanted);
        loop {
            let needed = wanted - items.len();
            // Limit applies before the filter: read more per page when filtering.
            let page = if filter.is_some() { needed.max(50) } else { needed }.min(1000);
            let mut request = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index.name)
                .key_condition_expression("#pk = :pk AND #sk BETWEEN :low AND :high")
                .expression_attribute_names("#pk", index.pk)
                .expression_attribute_names("#sk", index.sk)
                .expression_attribute_values(":pk", s(index.partition.clone()))
                .expression_attribute_values(":low", s(keys::gsi1_sort(low)))
                .expression_attribute_values(":high", s(keys::gsi1_sort(high)))
                .scan_index_forward(false)
                .limit(i32::try_from(page).unwrap_or(1000))
                .set_exclusive_start_key(start.take());
            if let Some(status) = filter {
                request = request
                    .filter_expression("#status = :status")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":status", s(status.as_str()));
            }
            let out = request.send().await.map_err(|e| store_error(&e))?;
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
        let next_cursor = if more { items.last().map(|last| encode_cursor(&index, last)) } else { None };
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
    async fn reserve_invitation(&self, migration: MigrationId, now: DateTime<Utc>, quota: u32) -> Result<Reservation, StoreError> {
        self.reserve_invitation_slot(migration, now, quota).await
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
