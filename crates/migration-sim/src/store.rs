//! The in-memory store: the same conditional semantics as the DynamoDB adapter (one lock per
//! account, all-or-nothing writes, version checks), and the change feed of status events.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::broadcast;

use migration::error::StoreError;
use migration::ids::{AwsAccountId, MigrationId, OrgId, Territory};
use migration::ports::{ChangeFeed, IdempotencyRecord, ListQuery, Listing, MigrationStore, Page, Reservation};
use migration::quota::InvitationLedger;
use migration::record::{Change, HistoryEvent, Migration, StatusChanged, WorkQueue};
use migration::rules::{Approval, OrgProfile, Terms};

#[derive(Default)]
struct Tables {
    migrations: HashMap<MigrationId, Migration>,
    history: BTreeMap<(MigrationId, u64), HistoryEvent>,
    locks: HashMap<AwsAccountId, MigrationId>,
    idempotency: HashMap<(OrgId, String), IdempotencyRecord>,
    profiles: HashMap<OrgId, OrgProfile>,
    approvals: HashMap<AwsAccountId, Approval>,
    terms: HashMap<Territory, Terms>,
    invitations: InvitationLedger,
}

pub struct MemoryStore {
    tables: Mutex<Tables>,
    feed: broadcast::Sender<StatusChanged>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self { tables: Mutex::new(Tables::default()), feed: broadcast::channel(4096).0 }
    }

    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.tables.lock().expect("no panics while holding the lock")
    }

    fn publish(&self, events: &[HistoryEvent]) {
        for event in events.iter().filter_map(HistoryEvent::status_changed) {
            // No subscriber is fine: the history is the record of truth.
            let _ = self.feed.send(event);
        }
    }

    /// Every account lock, for tests that look for orphans.
    pub fn locks(&self) -> Vec<(AwsAccountId, MigrationId)> {
        self.tables().locks.iter().map(|(a, m)| (a.clone(), *m)).collect()
    }

    /// Every record, for tests and the local runner's views.
    pub fn all(&self) -> Vec<Migration> {
        self.tables().migrations.values().cloned().collect()
    }
}

/// Opaque cursor: hex of `<org>|<last id>`. Checked against the caller's organization.
/// The index a listing reads, as DynamoDB's would name its partition: a cursor is bound to it.
fn partition(query: &ListQuery) -> String {
    match &query.listing {
        Listing::Org { org, .. } => format!("ORG#{org}"),
        Listing::Status(status) => format!("STATUS#{status}"),
    }
}

fn encode_cursor(query: &ListQuery, last: MigrationId) -> String {
    format!("{}|{last}", partition(query)).bytes().map(|b| format!("{b:02x}")).collect()
}

/// The last id of the previous page, if the cursor is well-formed, of the same partition
/// and inside the query's window (DynamoDB refuses a start key outside the key condition).
fn decode_cursor(query: &ListQuery, cursor: &str) -> Result<MigrationId, StoreError> {
    if !cursor.len().is_multiple_of(2) || cursor.len() > 512 {
        return Err(StoreError::InvalidCursor);
    }
    let bytes: Option<Vec<u8>> = (0..cursor.len()).step_by(2).map(|i| u8::from_str_radix(cursor.get(i..i + 2)?, 16).ok()).collect();
    let text = bytes.and_then(|b| String::from_utf8(b).ok()).ok_or(StoreError::InvalidCursor)?;
    let (cursor_partition, last) = text.rsplit_once('|').ok_or(StoreError::InvalidCursor)?;
    if cursor_partition != partition(query) {
        return Err(StoreError::InvalidCursor);
    }
    let last: MigrationId = last.parse().map_err(|_| StoreError::InvalidCursor)?;
    match query.id_bounds() {
        Some((low, high)) if (low..=high).contains(&last) => Ok(last),
        _ => Err(StoreError::InvalidCursor),
    }
}

#[async_trait]
impl MigrationStore for MemoryStore {
    async fn create(&self, record: &Migration, event: &HistoryEvent, idempotency: Option<&IdempotencyRecord>) -> Result<(), StoreError> {
        {
            let mut t = self.tables();
            // The key before the lock: a request that lost the race to its own key finds the
            // winner's lock too (both were written together), and must be told "replay", not
            // "locked" (the DynamoDB adapter reads the cancellation reasons in the same order).
            if let Some(idem) = idempotency
                && let Some(existing) = t.idempotency.get(&(idem.org_id.clone(), idem.key.clone()))
                && existing.expires_at > idem.created_at
            {
                return Err(StoreError::IdempotencyKeyUsed { existing: existing.clone() });
            }
            if let Some(existing) = t.locks.get(&record.aws_account_id) {
                return Err(StoreError::AccountLocked { account: record.aws_account_id.clone(), existing: *existing });
            }
            if t.migrations.contains_key(&record.id) {
                return Err(StoreError::AlreadyExists(record.id));
            }
            t.locks.insert(record.aws_account_id.clone(), record.id);
            t.migrations.insert(record.id, record.clone());
            t.history.insert((record.id, event.seq), event.clone());
            if let Some(idem) = idempotency {
                t.idempotency.insert((idem.org_id.clone(), idem.key.clone()), idem.clone());
            }
        }
        self.publish(std::slice::from_ref(event));
        Ok(())
    }

    async fn get(&self, id: MigrationId) -> Result<Option<Migration>, StoreError> {
        Ok(self.tables().migrations.get(&id).cloned())
    }

    async fn update(&self, change: &Change) -> Result<(), StoreError> {
        let id = change.record.id;
        {
            let mut t = self.tables();
            let stored = t.migrations.get(&id).ok_or(StoreError::NotFound(id))?;
            if stored.version != change.expected_version || change.record.version != change.expected_version + 1 {
                return Err(StoreError::VersionConflict(id));
            }
            if change.events.iter().any(|e| t.history.contains_key(&(id, e.seq))) {
                return Err(StoreError::VersionConflict(id));
            }
            t.migrations.insert(id, change.record.clone());
            for e in &change.events {
                t.history.insert((id, e.seq), e.clone());
            }
            if change.release_lock && t.locks.get(&change.record.aws_account_id) == Some(&id) {
                t.locks.remove(&change.record.aws_account_id);
            }
        }
        self.publish(&change.events);
        Ok(())
    }

    async fn history(&self, id: MigrationId) -> Result<Vec<HistoryEvent>, StoreError> {
        Ok(self.tables().history.range((id, 0)..=(id, u64::MAX)).map(|(_, e)| e.clone()).collect())
    }

    async fn list(&self, query: &ListQuery, limit: u32, cursor: Option<&str>) -> Result<Page, StoreError> {
        let after = cursor.map(|c| decode_cursor(query, c)).transpose()?;
        let t = self.tables();
        let mut selected: Vec<&Migration> = t.migrations.values().filter(|m| query.selects(m) && after.is_none_or(|a| m.id < a)).collect();
        selected.sort_by_key(|m| std::cmp::Reverse(m.id));
        let limit = limit as usize;
        let more = selected.len() > limit;
        let items: Vec<Migration> = selected.into_iter().take(limit).cloned().collect();
        let next_cursor = if more { items.last().map(|m| encode_cursor(query, m.id)) } else { None };
        Ok(Page { items, next_cursor })
    }

    async fn due(&self, queue: WorkQueue, now: DateTime<Utc>, limit: u32) -> Result<Vec<Migration>, StoreError> {
        let t = self.tables();
        let mut due: Vec<(DateTime<Utc>, &Migration)> = t
            .migrations
            .values()
            .filter_map(|m| m.work_queue().filter(|(q, at)| *q == queue && *at <= now).map(|(_, at)| (at, m)))
            .collect();
        due.sort_by_key(|(at, m)| (*at, m.id));
        Ok(due.into_iter().take(limit as usize).map(|(_, m)| m.clone()).collect())
    }

    async fn lock_holder(&self, account: &AwsAccountId) -> Result<Option<MigrationId>, StoreError> {
        Ok(self.tables().locks.get(account).copied())
    }

    async fn idempotency(&self, org: &OrgId, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        Ok(self.tables().idempotency.get(&(org.clone(), key.to_owned())).cloned())
    }

    async fn reserve_invitation(&self, migration: MigrationId, now: DateTime<Utc>, quota: u32) -> Result<Reservation, StoreError> {
        // Read, decide and write under one lock: the DynamoDB adapter gets the same effect
        // from a write conditioned on the version it read.
        let mut t = self.tables();
        let (reservation, changed) = t.invitations.reserve(migration, now, quota);
        if changed {
            t.invitations.version += 1;
        }
        Ok(reservation)
    }

    async fn org_profile(&self, org: &OrgId) -> Result<Option<OrgProfile>, StoreError> {
        Ok(self.tables().profiles.get(org).cloned())
    }

    async fn put_org_profile(&self, profile: &OrgProfile) -> Result<(), StoreError> {
        self.tables().profiles.insert(profile.org_id.clone(), profile.clone());
        Ok(())
    }

    async fn approval(&self, account: &AwsAccountId) -> Result<Option<Approval>, StoreError> {
        Ok(self.tables().approvals.get(account).cloned())
    }

    async fn put_approval(&self, approval: &Approval) -> Result<(), StoreError> {
        self.tables().approvals.insert(approval.account_id.clone(), approval.clone());
        Ok(())
    }

    async fn terms(&self, territory: &Territory) -> Result<Option<Terms>, StoreError> {
        Ok(self.tables().terms.get(territory).cloned())
    }

    async fn put_terms(&self, terms: &Terms) -> Result<(), StoreError> {
        self.tables().terms.insert(terms.territory.clone(), terms.clone());
        Ok(())
    }
}

impl ChangeFeed for MemoryStore {
    fn subscribe(&self) -> broadcast::Receiver<StatusChanged> {
        self.feed.subscribe()
    }
}
