//! The business metrics, in CloudWatch Embedded Metric Format: the `metrics` facade, with
//! `metrics_cloudwatch_embedded` as its recorder, one EMF document on stdout after each
//! invocation ([`flush`]). The alarms and the dashboard of `infra/template.yaml` name these
//! metrics; `tests/infra` holds the two together.
//!
//! Which migrations started and ended, and how long the customer took, are read off the
//! writes that committed: [`MeteredStore`] wraps the store of every function, so a change is
//! counted once, whichever step made it, and never for a write that lost a race.

use std::sync::OnceLock;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use migration::error::{StoreError, names};
use migration::ports::{IdempotencyRecord, ListQuery, MigrationStore, Page, Reservation};
use migration::record::{Actor, Change, HistoryEvent, Migration, WorkQueue};
use migration::rules::{Approval, OrgProfile, Terms};
use migration::status::Status;
use migration::{AwsAccountId, MigrationId, OrgId, Territory};
use std::sync::Arc;

/// `METRICS_NAMESPACE` (the template sets `CAM/<stack>`); this when unset.
pub const DEFAULT_NAMESPACE: &str = "CAM/Migrations";

/// Every metric the functions emit, with its unit. Counters are `Count`.
pub mod names_of {
    /// A migration was created (dimension `Kind`).
    pub const MIGRATIONS_STARTED: &str = "MigrationsStarted";
    /// A migration reached a terminal status (dimensions `Kind`, `Outcome`: the status).
    pub const MIGRATIONS_ENDED: &str = "MigrationsEnded";
    /// A migration ended `FAILED` with `Migration.Failed`: an incident, not an outcome.
    pub const UNEXPECTED_FAILURES: &str = "UnexpectedFailures";
    /// A customer or an operator canceled (the aborted-executions alarm subtracts these).
    pub const CANCELS: &str = "Cancels";
    /// Seconds from the invitation to its acceptance (dimension `Kind`).
    pub const INVITATION_TO_ACCEPTANCE: &str = "InvitationToAcceptanceSeconds";
    /// Seconds from the join to Business Support+ confirmed (dimension `Kind`).
    pub const JOIN_TO_SUPPORT_CONFIRMED: &str = "JoinToSupportConfirmedSeconds";
    /// Records the watcher's scheduled run could not handle.
    pub const SWEEP_RECORD_FAILURES: &str = "SweepRecordFailures";
    /// Hardening jobs the scan's run could not handle.
    pub const SCAN_RECORD_FAILURES: &str = "ScanRecordFailures";
    /// Invitations held back by the 24-hour handshake quota (counted by the invite step).
    pub const INVITATIONS_DEFERRED: &str = migration::steps::INVITATIONS_DEFERRED_METRIC;

    pub const ALL: &[&str] = &[
        MIGRATIONS_STARTED,
        MIGRATIONS_ENDED,
        UNEXPECTED_FAILURES,
        CANCELS,
        INVITATION_TO_ACCEPTANCE,
        JOIN_TO_SUPPORT_CONFIRMED,
        SWEEP_RECORD_FAILURES,
        SCAN_RECORD_FAILURES,
        INVITATIONS_DEFERRED,
    ];
}

static COLLECTOR: OnceLock<&'static metrics_cloudwatch_embedded::Collector> = OnceLock::new();

/// Installs the EMF recorder. Once per process; a second call, or a failure, leaves the
/// first (metrics are never worth failing a function for, so a failure is logged). No
/// `Function` dimension: an alarm then reads one metric whichever function emitted it
/// (`UnexpectedFailures` comes from record-failure and from the watcher); `function` is a
/// property of the document, for Logs Insights.
pub fn init(namespace: &str, function: &'static str) {
    if COLLECTOR.get().is_some() {
        return;
    }
    match metrics_cloudwatch_embedded::Builder::new().cloudwatch_namespace(namespace.to_owned()).init() {
        Ok(collector) => {
            collector.set_property("function", function);
            let _ = COLLECTOR.set(collector);
        }
        Err(e) => tracing::warn!(error = %e, "the metrics recorder is not installed"),
    }
}

/// Writes what was recorded since the last flush as one EMF line on stdout. Called at the
/// end of every invocation: a frozen Lambda sandbox runs no background flush.
pub fn flush() {
    flush_to(std::io::stdout());
}

/// [`flush`] to any writer (tests read the documents back).
pub fn flush_to(writer: impl std::io::Write) {
    if let Some(collector) = COLLECTOR.get()
        && let Err(e) = collector.flush(writer)
    {
        tracing::warn!(error = %e, "metrics not written");
    }
}

/// The kind of a migration, for the `Kind` dimension.
pub fn kind(record: &Migration) -> &'static str {
    if record.direct_transfer.is_some() { "direct_transfer" } else { "join" }
}

pub fn record_sweep_failures(n: u32) {
    if n > 0 {
        metrics::counter!(names_of::SWEEP_RECORD_FAILURES).increment(u64::from(n));
    }
}

pub fn record_scan_failures(n: u32) {
    if n > 0 {
        metrics::counter!(names_of::SCAN_RECORD_FAILURES).increment(u64::from(n));
    }
}

fn seconds(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    // Whole milliseconds as seconds; never negative (clock skew between writers).
    (to - from).num_milliseconds().max(0) as f64 / 1000.0
}

/// What a committed change tells: its status changes, read from its history events.
fn observe(change: &Change) {
    let record = &change.record;
    let kind = kind(record);
    for event in change.events.iter().filter(|e| e.from.is_some_and(|from| from != e.to)) {
        observe_transition(record, event, kind);
    }
}

fn observe_transition(record: &Migration, event: &HistoryEvent, kind: &'static str) {
    let to = event.to;
    if to == Status::Joined
        && let (Some(handshake), Some(joined_at)) = (&record.handshake, record.joined_at)
    {
        metrics::histogram!(names_of::INVITATION_TO_ACCEPTANCE, "Kind" => kind).record(seconds(handshake.requested_at, joined_at));
    }
    if to == Status::SupportConfirmed
        && let Some(joined_at) = record.joined_at
    {
        metrics::histogram!(names_of::JOIN_TO_SUPPORT_CONFIRMED, "Kind" => kind).record(seconds(joined_at, event.at));
    }
    if to.is_terminal() {
        metrics::counter!(names_of::MIGRATIONS_ENDED, "Kind" => kind, "Outcome" => to.as_str()).increment(1);
        let unexpected = to == Status::Failed && record.failure.as_ref().is_some_and(|f| f.error == names::FAILED);
        if unexpected {
            metrics::counter!(names_of::UNEXPECTED_FAILURES).increment(1);
        }
        let canceled_by_someone = to == Status::Canceled && matches!(event.actor, Actor::User(_) | Actor::Operator(_));
        if canceled_by_someone {
            metrics::counter!(names_of::CANCELS).increment(1);
        }
    }
}

/// A store that counts what its committed writes mean (see the module). Reads pass through.
pub struct MeteredStore {
    inner: Arc<dyn MigrationStore>,
}

impl MeteredStore {
    pub fn new(inner: Arc<dyn MigrationStore>) -> Self {
        Self { inner }
    }
}

#[async_trait]
impl MigrationStore for MeteredStore {
    async fn create(&self, record: &Migration, event: &HistoryEvent, idempotency: Option<&IdempotencyRecord>) -> Result<(), StoreError> {
        self.inner.create(record, event, idempotency).await?;
        metrics::counter!(names_of::MIGRATIONS_STARTED, "Kind" => kind(record)).increment(1);
        Ok(())
    }
    async fn get(&self, id: MigrationId) -> Result<Option<Migration>, StoreError> {
        self.inner.get(id).await
    }
    async fn update(&self, change: &Change) -> Result<(), StoreError> {
        self.inner.update(change).await?;
        observe(change);
        Ok(())
    }
    async fn history(&self, id: MigrationId) -> Result<Vec<HistoryEvent>, StoreError> {
        self.inner.history(id).await
    }
    async fn list(&self, query: &ListQuery, limit: u32, cursor: Option<&str>) -> Result<Page, StoreError> {
        self.inner.list(query, limit, cursor).await
    }
    async fn due(&self, queue: WorkQueue, now: DateTime<Utc>, limit: u32) -> Result<Vec<Migration>, StoreError> {
        self.inner.due(queue, now, limit).await
    }
    async fn lock_holder(&self, account: &AwsAccountId) -> Result<Option<MigrationId>, StoreError> {
        self.inner.lock_holder(account).await
    }
    async fn idempotency(&self, org: &OrgId, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.inner.idempotency(org, key).await
    }
    async fn org_profile(&self, org: &OrgId) -> Result<Option<OrgProfile>, StoreError> {
        self.inner.org_profile(org).await
    }
    async fn put_org_profile(&self, profile: &OrgProfile) -> Result<(), StoreError> {
        self.inner.put_org_profile(profile).await
    }
    async fn approval(&self, account: &AwsAccountId) -> Result<Option<Approval>, StoreError> {
        self.inner.approval(account).await
    }
    async fn put_approval(&self, approval: &Approval) -> Result<(), StoreError> {
        self.inner.put_approval(approval).await
    }
    async fn reserve_invitation(&self, migration: MigrationId, now: DateTime<Utc>, quota: u32) -> Result<Reservation, StoreError> {
        self.inner.reserve_invitation(migration, now, quota).await
    }
    async fn terms(&self, territory: &Territory) -> Result<Option<Terms>, StoreError> {
        self.inner.terms(territory).await
    }
    async fn put_terms(&self, terms: &Terms) -> Result<(), StoreError> {
        self.inner.put_terms(terms).await
    }
}
