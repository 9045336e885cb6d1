//! Seeded fault injection for every port: decorators that wrap an `Arc<dyn Port>` and, at a
//! configured rate, answer with the transient error a real adapter would map throttling, 5xx
//! or a concurrent modification to. A write can also fail *after its side effect*: the
//! decorator performs the real call, then reports a transient error, as when a function
//! dies after AWS or DynamoDB acted but before it could record or answer. For the store and
//! Organizations the decorators are those of [`crate::hooks`], with [`Faults`] as their hook.
//!
//! Every decorator of one world shares one [`Faults`]: one seeded generator (a xorshift, no
//! dependency), one rate, one tally. The same seed and the same sequence of calls give the
//! same faults. Tests observe the world through the undecorated adapters, never through
//! these, so faults reach only the code under test.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use chrono::{DateTime, Utc};
use migration::error::{AccessError, ExecutionError, OrgError, StoreError};
use migration::ids::{ExternalId, HandshakeId, MigrationId, RoleArn, TaskToken, TransferId};
use migration::ports::{CustomerAccess, CustomerSession, ExecutionState, Executions, Ports, SupportAnswer, SupportProbe, TokenDelivery};
use migration::record::SupportPlan;
use migration::rules::CustomerOrganization;
use migration::transfer::{
    BillingGroup, BillingGroupSpec, BillingTransfers, ResponsibilityTransfer, SentTransfer, TransferError, TransferInvitation,
};
use migration::usage::{CostAllocationTag, SnapshotStore, UsageError, UsageHistory, UsagePage, UsageQuery};

use crate::hooks::{HookedOrganizations, HookedStore, OrgsCall, OrgsHook, StoreCall, StoreHook, Verdict};

/// How often and how faults strike.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultConfig {
    pub seed: u64,
    /// Probability that a call fails, in [0, 1].
    pub rate: f64,
    /// Of the faults on calls with a side effect, the share that strike after the real
    /// call (the effect happened, the caller sees an error).
    pub after_effect_share: f64,
}

impl FaultConfig {
    pub fn new(seed: u64, rate: f64) -> Self {
        Self { seed, rate, after_effect_share: 0.5 }
    }
}

/// When an injected fault strikes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strike {
    /// The call is not made.
    Before,
    /// The call is made, then reported as failed.
    AfterEffect,
}

/// A xorshift64* generator: small, fast, reproducible.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        // Zero is a fixed point of xorshift; mix the seed so 0, 1, 2... all start well.
        let mut s = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        s = (s ^ (s >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        s = (s ^ (s >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Self((s ^ (s >> 31)).max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `low..=high`.
    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.next_u64() % (high - low + 1)
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.next_f64() < p
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.next_u64() as usize % items.len()]
    }
}

/// What was injected, per operation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultTally {
    /// Calls that went through a decorator (faulted or not).
    pub calls: BTreeMap<&'static str, u64>,
    pub before: BTreeMap<&'static str, u64>,
    pub after_effect: BTreeMap<&'static str, u64>,
}

impl FaultTally {
    pub fn total_calls(&self) -> u64 {
        self.calls.values().sum()
    }

    pub fn total_faults(&self) -> u64 {
        self.before.values().sum::<u64>() + self.after_effect.values().sum::<u64>()
    }

    pub fn total_after_effect(&self) -> u64 {
        self.after_effect.values().sum()
    }
}

/// The shared source of faults of one world.
pub struct Faults {
    config: FaultConfig,
    rng: Mutex<XorShift>,
    enabled: AtomicBool,
    tally: Mutex<FaultTally>,
}

impl Faults {
    pub fn new(config: FaultConfig) -> Arc<Self> {
        Arc::new(Self { config, rng: Mutex::new(XorShift::new(config.seed)), enabled: AtomicBool::new(true), tally: Mutex::default() })
    }

    pub fn config(&self) -> FaultConfig {
        self.config
    }

    /// Turns injection on or off (calls still pass through and are counted).
    pub fn set_enabled(&self, enabled: bool) {
        self.enabled.store(enabled, Ordering::SeqCst);
    }

    pub fn tally(&self) -> FaultTally {
        self.tally.lock().expect("no panics while holding the lock").clone()
    }

    /// Whether this call fails, and when. `effect`: the call changes something.
    pub fn roll(&self, operation: &'static str, effect: bool) -> Option<Strike> {
        let strike = if self.enabled.load(Ordering::SeqCst) {
            let mut rng = self.rng.lock().expect("no panics while holding the lock");
            if rng.chance(self.config.rate) {
                Some(if effect && rng.chance(self.config.after_effect_share) { Strike::AfterEffect } else { Strike::Before })
            } else {
                None
            }
        } else {
            None
        };
        let mut tally = self.tally.lock().expect("no panics while holding the lock");
        *tally.calls.entry(operation).or_default() += 1;
        match strike {
            Some(Strike::Before) => *tally.before.entry(operation).or_default() += 1,
            Some(Strike::AfterEffect) => *tally.after_effect.entry(operation).or_default() += 1,
            None => {}
        }
        strike
    }

    /// [`Self::roll`] as a hook's verdict, with `err` the injected error.
    fn verdict<E>(&self, operation: &'static str, effect: bool, err: impl FnOnce() -> E) -> Verdict<E> {
        match self.roll(operation, effect) {
            Some(Strike::Before) => Verdict::Fail(err()),
            Some(Strike::AfterEffect) => Verdict::FailAfterEffect(err()),
            None => Verdict::Proceed,
        }
    }

    /// One of a few codes, drawn from the generator.
    fn code(&self, codes: &[&'static str]) -> &'static str {
        let i = self.rng.lock().expect("no panics while holding the lock").next_u64() as usize % codes.len();
        codes[i]
    }
}

/// Runs a call through the fault source: fails before, after, or not at all.
macro_rules! faulty {
    ($faults:expr, $op:literal, effect, $err:expr, $call:expr) => {
        match $faults.roll($op, true) {
            Some(Strike::Before) => Err($err),
            Some(Strike::AfterEffect) => {
                let _ = $call;
                Err($err)
            }
            None => $call,
        }
    };
    ($faults:expr, $op:literal, read, $err:expr, $call:expr) => {
        match $faults.roll($op, false) {
            Some(_) => Err($err),
            None => $call,
        }
    };
}

// ---------------------------------------------------------------------------------------
// Store

const STORE_CODES: &[&str] =
    &["ProvisionedThroughputExceededException", "ThrottlingException", "InternalServerError (500)", "RequestTimeout"];

impl StoreHook for Faults {
    async fn before(&self, call: &StoreCall<'_>) -> Verdict<StoreError> {
        self.verdict(call.name(), call.writes(), || StoreError::Unavailable(format!("{} (injected)", self.code(STORE_CODES))))
    }
}

// ---------------------------------------------------------------------------------------
// Organizations

const ORG_CODES: &[&str] = &["TooManyRequestsException", "ConcurrentModificationException", "ServiceException"];

impl OrgsHook for Faults {
    async fn before(&self, call: &OrgsCall<'_>) -> Verdict<OrgError> {
        self.verdict(call.name(), call.writes(), || OrgError::Retryable {
            code: self.code(ORG_CODES).to_owned(),
            message: "injected".into(),
        })
    }
}

// ---------------------------------------------------------------------------------------
// Customer access (STS and the customer's Organizations view)

pub struct FaultyCustomerAccess {
    inner: Arc<dyn CustomerAccess>,
    faults: Arc<Faults>,
}

impl FaultyCustomerAccess {
    pub fn new(inner: Arc<dyn CustomerAccess>, faults: Arc<Faults>) -> Self {
        Self { inner, faults }
    }

    fn err(&self) -> AccessError {
        AccessError::Retryable(format!(
            "{} (injected)",
            self.faults.code(&["Throttling: Rate exceeded", "RegionDisabledException", "InternalFailure"])
        ))
    }
}

#[async_trait]
impl CustomerAccess for FaultyCustomerAccess {
    async fn assume(&self, role: &RoleArn, external_id: &ExternalId, migration: MigrationId) -> Result<CustomerSession, AccessError> {
        faulty!(self.faults, "customer.assume", read, self.err(), self.inner.assume(role, external_id, migration).await)
    }
    async fn assumable_without_external_id(&self, role: &RoleArn, migration: MigrationId) -> Result<bool, AccessError> {
        faulty!(
            self.faults,
            "customer.assumable_without_external_id",
            read,
            self.err(),
            self.inner.assumable_without_external_id(role, migration).await
        )
    }
    async fn organization(&self, session: &CustomerSession) -> Result<CustomerOrganization, AccessError> {
        faulty!(self.faults, "customer.organization", read, self.err(), self.inner.organization(session).await)
    }
}

// ---------------------------------------------------------------------------------------
// Support probe: it never fails, so a fault is an answer it cannot read.

pub struct FaultySupport {
    inner: Arc<dyn SupportProbe>,
    faults: Arc<Faults>,
}

impl FaultySupport {
    pub fn new(inner: Arc<dyn SupportProbe>, faults: Arc<Faults>) -> Self {
        Self { inner, faults }
    }
}

#[async_trait]
impl SupportProbe for FaultySupport {
    async fn support_plan(&self, session: &CustomerSession) -> SupportAnswer {
        let unknown = || SupportAnswer { plan: SupportPlan::Unknown, detail: Some("ThrottlingException (injected)".into()) };
        match self.faults.roll("support.support_plan", true) {
            Some(Strike::Before) => unknown(),
            Some(Strike::AfterEffect) => {
                let _ = self.inner.support_plan(session).await;
                unknown()
            }
            None => self.inner.support_plan(session).await,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Executions (Step Functions)

pub struct FaultyExecutions {
    inner: Arc<dyn Executions>,
    faults: Arc<Faults>,
}

impl FaultyExecutions {
    pub fn new(inner: Arc<dyn Executions>, faults: Arc<Faults>) -> Self {
        Self { inner, faults }
    }

    fn err(&self) -> ExecutionError {
        ExecutionError::Retryable(format!("{} (injected)", self.faults.code(&["ThrottlingException", "ServiceUnavailable (503)"])))
    }
}

#[async_trait]
impl Executions for FaultyExecutions {
    async fn start(&self, migration: MigrationId, input: serde_json::Value) -> Result<(), ExecutionError> {
        faulty!(self.faults, "executions.start", effect, self.err(), self.inner.start(migration, input.clone()).await)
    }
    async fn stop(&self, migration: MigrationId, error: &str, cause: &str) -> Result<(), ExecutionError> {
        faulty!(self.faults, "executions.stop", effect, self.err(), self.inner.stop(migration, error, cause).await)
    }
    async fn send_task_success(&self, token: &TaskToken, output: serde_json::Value) -> Result<TokenDelivery, ExecutionError> {
        faulty!(self.faults, "executions.send_task_success", effect, self.err(), self.inner.send_task_success(token, output.clone()).await)
    }
    async fn send_task_failure(&self, token: &TaskToken, error: &str, cause: &str) -> Result<TokenDelivery, ExecutionError> {
        faulty!(self.faults, "executions.send_task_failure", effect, self.err(), self.inner.send_task_failure(token, error, cause).await)
    }
    fn execution_arn(&self, migration: MigrationId) -> Option<String> {
        self.inner.execution_arn(migration)
    }
    async fn describe(&self, migration: MigrationId) -> Result<Option<ExecutionState>, ExecutionError> {
        faulty!(self.faults, "executions.describe", read, self.err(), self.inner.describe(migration).await)
    }
}

// ---------------------------------------------------------------------------------------
// Billing transfers (Organizations, Billing Conductor)

pub struct FaultyTransfers {
    inner: Arc<dyn BillingTransfers>,
    faults: Arc<Faults>,
}

impl FaultyTransfers {
    pub fn new(inner: Arc<dyn BillingTransfers>, faults: Arc<Faults>) -> Self {
        Self { inner, faults }
    }

    fn err(&self) -> TransferError {
        TransferError::Retryable { code: self.faults.code(ORG_CODES).to_owned(), message: "injected".into() }
    }
}

#[async_trait]
impl BillingTransfers for FaultyTransfers {
    async fn invite(&self, invitation: &TransferInvitation) -> Result<SentTransfer, TransferError> {
        faulty!(self.faults, "transfers.invite", effect, self.err(), self.inner.invite(invitation).await)
    }
    async fn describe(&self, id: &TransferId) -> Result<ResponsibilityTransfer, TransferError> {
        faulty!(self.faults, "transfers.describe", read, self.err(), self.inner.describe(id).await)
    }
    async fn cancel_invitation(&self, handshake: &HandshakeId) -> Result<(), TransferError> {
        faulty!(self.faults, "transfers.cancel_invitation", effect, self.err(), self.inner.cancel_invitation(handshake).await)
    }
    async fn terminate(&self, id: &TransferId, end_at: DateTime<Utc>) -> Result<ResponsibilityTransfer, TransferError> {
        faulty!(self.faults, "transfers.terminate", effect, self.err(), self.inner.terminate(id, end_at).await)
    }
    async fn ensure_billing_group(&self, spec: &BillingGroupSpec) -> Result<BillingGroup, TransferError> {
        faulty!(self.faults, "transfers.ensure_billing_group", effect, self.err(), self.inner.ensure_billing_group(spec).await)
    }
}

// ---------------------------------------------------------------------------------------
// Usage history (Cost Explorer) and the snapshot bucket (S3)

pub struct FaultyUsage {
    inner: Arc<dyn UsageHistory>,
    faults: Arc<Faults>,
}

impl FaultyUsage {
    pub fn new(inner: Arc<dyn UsageHistory>, faults: Arc<Faults>) -> Self {
        Self { inner, faults }
    }

    /// What the adapter maps `LimitExceededException` and throttling to, after the SDK's
    /// retries.
    fn err(&self) -> UsageError {
        UsageError::Throttled(format!("{} (injected)", self.faults.code(&["LimitExceededException", "ThrottlingException"])))
    }
}

#[async_trait]
impl UsageHistory for FaultyUsage {
    async fn cost_and_usage(&self, session: &CustomerSession, query: &UsageQuery, page: Option<&str>) -> Result<UsagePage, UsageError> {
        faulty!(self.faults, "usage.cost_and_usage", read, self.err(), self.inner.cost_and_usage(session, query, page).await)
    }
    async fn active_cost_allocation_tags(
        &self,
        session: &CustomerSession,
        page: Option<&str>,
    ) -> Result<(Vec<CostAllocationTag>, Option<String>), UsageError> {
        faulty!(
            self.faults,
            "usage.active_cost_allocation_tags",
            read,
            self.err(),
            self.inner.active_cost_allocation_tags(session, page).await
        )
    }
}

pub struct FaultySnapshots {
    inner: Arc<dyn SnapshotStore>,
    faults: Arc<Faults>,
}

impl FaultySnapshots {
    pub fn new(inner: Arc<dyn SnapshotStore>, faults: Arc<Faults>) -> Self {
        Self { inner, faults }
    }

    fn err(&self) -> String {
        format!("{} (injected)", self.faults.code(&["SlowDown (503)", "InternalError (500)", "RequestTimeout"]))
    }
}

#[async_trait]
impl SnapshotStore for FaultySnapshots {
    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), String> {
        faulty!(self.faults, "snapshots.put", effect, self.err(), self.inner.put(key, body.clone(), content_type).await)
    }
    async fn download_link(&self, key: &str, expires_in: chrono::Duration) -> Result<String, String> {
        // Signing is local to the SDK: no call to S3, nothing to fail.
        self.inner.download_link(key, expires_in).await
    }
}

/// `ports` with every port but the clock and the settings behind a fault decorator.
pub fn faulty_ports(ports: &Ports, faults: &Arc<Faults>) -> Ports {
    Ports {
        store: Arc::new(HookedStore::new(ports.store.clone(), faults.clone())),
        orgs: Arc::new(HookedOrganizations::new(ports.orgs.clone(), faults.clone())),
        customer: Arc::new(FaultyCustomerAccess::new(ports.customer.clone(), faults.clone())),
        support: Arc::new(FaultySupport::new(ports.support.clone(), faults.clone())),
        executions: Arc::new(FaultyExecutions::new(ports.executions.clone(), faults.clone())),
        transfers: Arc::new(FaultyTransfers::new(ports.transfers.clone(), faults.clone())),
        usage: Arc::new(FaultyUsage::new(ports.usage.clone(), faults.clone())),
        snapshots: Arc::new(FaultySnapshots::new(ports.snapshots.clone(), faults.clone())),
        clock: ports.clock.clone(),
        settings: ports.settings.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryStore;
    use migration::ports::MigrationStore;

    #[test]
    fn the_generator_is_reproducible_and_roughly_uniform() {
        let mut a = XorShift::new(7);
        let mut b = XorShift::new(7);
        assert!((0..100).all(|_| a.next_u64() == b.next_u64()));
        let mut r = XorShift::new(0);
        let hits = (0..100_000).filter(|_| r.chance(0.1)).count();
        assert!((9_000..11_000).contains(&hits), "{hits}");
    }

    #[tokio::test]
    async fn a_fault_after_the_effect_keeps_the_effect() {
        let inner = Arc::new(MemoryStore::new());
        let faults = Faults::new(FaultConfig { seed: 1, rate: 1.0, after_effect_share: 1.0 });
        let store = HookedStore::new(inner.clone(), faults.clone());
        let terms = crate::fixtures::terms();
        assert!(matches!(store.put_terms(&terms).await, Err(StoreError::Unavailable(_))));
        assert_eq!(inner.terms(&terms.territory).await.unwrap(), Some(terms.clone()), "the write landed");
        assert!(store.terms(&terms.territory).await.is_err(), "reads fail before the call");
        faults.set_enabled(false);
        assert_eq!(store.terms(&terms.territory).await.unwrap(), Some(terms));
        let tally = faults.tally();
        assert_eq!((tally.total_calls(), tally.total_faults(), tally.total_after_effect()), (3, 2, 1));
    }
}
