//! Hookable decorators for the ports the tests wrap most: [`HookedStore`] and
//! [`HookedOrganizations`] pass every call on to the inner adapter, and first hand the call,
//! named with its arguments ([`StoreCall`], [`OrgsCall`]), to a hook. Before the call the
//! hook may await something (a scheduler's yield, a nested request), then let the call
//! through, answer with an error instead of it, or make it and answer with an error all the
//! same ([`Verdict`]); after a call it let through, it learns whether the call succeeded and
//! may answer with an error instead of the success.
//!
//! The seeded faults of [`crate::faults`] and the tests' one-behaviour decorators (an outage
//! of one query, a connection lost after a write, a yield to the scheduler, a cancel racing a
//! write) are hooks over these two, so a method added to a port is forwarded once, here.

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use migration::error::{OrgError, StoreError};
use migration::ids::{AwsAccountId, HandshakeId, MigrationId, OrgId, Territory};
use migration::ports::{IdempotencyRecord, ListQuery, Membership, MigrationStore, Organizations, Page, Reservation};
use migration::record::{Change, Handshake, HistoryEvent, Migration, WorkQueue};
use migration::rules::{Approval, OrgProfile, Terms};

/// What a hook decides before a call.
#[derive(Debug)]
pub enum Verdict<E> {
    /// Make the call and answer with its result (unless `after` says otherwise).
    Proceed,
    /// Answer with the error; the call is not made.
    Fail(E),
    /// Make the call, then answer with the error whatever it returned: the effect happened,
    /// the caller sees a failure (a function that died after DynamoDB or AWS acted).
    FailAfterEffect(E),
}

impl<E> Verdict<E> {
    /// Carries the verdict out on `made` (the call, not yet awaited); `after` is asked only
    /// when the call was made on [`Verdict::Proceed`]. The one place both decorators share.
    async fn carry_out<T, A>(self, made: impl Future<Output = Result<T, E>>, after: impl FnOnce(bool) -> A) -> Result<T, E>
    where
        A: Future<Output = Result<(), E>>,
    {
        match self {
            Verdict::Proceed => {
                let result = made.await;
                after(result.is_ok()).await?;
                result
            }
            Verdict::Fail(e) => Err(e),
            Verdict::FailAfterEffect(e) => {
                let _ = made.await;
                Err(e)
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Store

/// One call of [`MigrationStore`], with its arguments.
#[derive(Debug, Clone, Copy)]
pub enum StoreCall<'a> {
    Create { record: &'a Migration, event: &'a HistoryEvent, idempotency: Option<&'a IdempotencyRecord> },
    Get { id: MigrationId },
    Update { change: &'a Change },
    History { id: MigrationId },
    List { query: &'a ListQuery, limit: u32, cursor: Option<&'a str> },
    Due { queue: WorkQueue, now: DateTime<Utc>, limit: u32 },
    LockHolder { account: &'a AwsAccountId },
    Idempotency { org: &'a OrgId, key: &'a str },
    ReserveInvitation { migration: MigrationId, now: DateTime<Utc>, quota: u32 },
    OrgProfile { org: &'a OrgId },
    PutOrgProfile { profile: &'a OrgProfile },
    Approval { account: &'a AwsAccountId },
    PutApproval { approval: &'a Approval },
    Terms { territory: &'a Territory },
    PutTerms { terms: &'a Terms },
}

impl StoreCall<'_> {
    /// `store.` and the method's name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Create { .. } => "store.create",
            Self::Get { .. } => "store.get",
            Self::Update { .. } => "store.update",
            Self::History { .. } => "store.history",
            Self::List { .. } => "store.list",
            Self::Due { .. } => "store.due",
            Self::LockHolder { .. } => "store.lock_holder",
            Self::Idempotency { .. } => "store.idempotency",
            Self::ReserveInvitation { .. } => "store.reserve_invitation",
            Self::OrgProfile { .. } => "store.org_profile",
            Self::PutOrgProfile { .. } => "store.put_org_profile",
            Self::Approval { .. } => "store.approval",
            Self::PutApproval { .. } => "store.put_approval",
            Self::Terms { .. } => "store.terms",
            Self::PutTerms { .. } => "store.put_terms",
        }
    }

    /// Whether the call writes.
    pub fn writes(&self) -> bool {
        matches!(
            self,
            Self::Create { .. }
                | Self::Update { .. }
                | Self::ReserveInvitation { .. }
                | Self::PutOrgProfile { .. }
                | Self::PutApproval { .. }
                | Self::PutTerms { .. }
        )
    }
}

/// What a [`HookedStore`] asks around each call. Both methods default to doing nothing.
pub trait StoreHook: Send + Sync {
    fn before(&self, call: &StoreCall<'_>) -> impl Future<Output = Verdict<StoreError>> + Send {
        let _ = call;
        async { Verdict::Proceed }
    }

    /// After a call made on [`Verdict::Proceed`]; an error is the answer instead of the call's.
    fn after(&self, call: &StoreCall<'_>, succeeded: bool) -> impl Future<Output = Result<(), StoreError>> + Send {
        let _ = (call, succeeded);
        async { Ok(()) }
    }
}

impl<H: StoreHook> StoreHook for Arc<H> {
    fn before(&self, call: &StoreCall<'_>) -> impl Future<Output = Verdict<StoreError>> + Send {
        (**self).before(call)
    }
    fn after(&self, call: &StoreCall<'_>, succeeded: bool) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).after(call, succeeded)
    }
}

/// A store whose every call goes through `hook` (see the module).
pub struct HookedStore<H> {
    inner: Arc<dyn MigrationStore>,
    hook: H,
}

impl<H: StoreHook> HookedStore<H> {
    pub fn new(inner: Arc<dyn MigrationStore>, hook: H) -> Self {
        Self { inner, hook }
    }

    pub fn hook(&self) -> &H {
        &self.hook
    }

    async fn run<T>(&self, call: StoreCall<'_>, made: impl Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
        self.hook.before(&call).await.carry_out(made, |ok| self.hook.after(&call, ok)).await
    }
}

#[async_trait]
impl<H: StoreHook> MigrationStore for HookedStore<H> {
    async fn create(&self, record: &Migration, event: &HistoryEvent, idempotency: Option<&IdempotencyRecord>) -> Result<(), StoreError> {
        self.run(StoreCall::Create { record, event, idempotency }, self.inner.create(record, event, idempotency)).await
    }
    async fn get(&self, id: MigrationId) -> Result<Option<Migration>, StoreError> {
        self.run(StoreCall::Get { id }, self.inner.get(id)).await
    }
    async fn update(&self, change: &Change) -> Result<(), StoreError> {
        self.run(StoreCall::Update { change }, self.inner.update(change)).await
    }
    async fn history(&self, id: MigrationId) -> Result<Vec<HistoryEvent>, StoreError> {
        self.run(StoreCall::History { id }, self.inner.history(id)).await
    }
    async fn list(&self, query: &ListQuery, limit: u32, cursor: Option<&str>) -> Result<Page, StoreError> {
        self.run(StoreCall::List { query, limit, cursor }, self.inner.list(query, limit, cursor)).await
    }
    async fn due(&self, queue: WorkQueue, now: DateTime<Utc>, limit: u32) -> Result<Vec<Migration>, StoreError> {
        self.run(StoreCall::Due { queue, now, limit }, self.inner.due(queue, now, limit)).await
    }
    async fn lock_holder(&self, account: &AwsAccountId) -> Result<Option<MigrationId>, StoreError> {
        self.run(StoreCall::LockHolder { account }, self.inner.lock_holder(account)).await
    }
    async fn idempotency(&self, org: &OrgId, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.run(StoreCall::Idempotency { org, key }, self.inner.idempotency(org, key)).await
    }
    async fn reserve_invitation(&self, migration: MigrationId, now: DateTime<Utc>, quota: u32) -> Result<Reservation, StoreError> {
        self.run(StoreCall::ReserveInvitation { migration, now, quota }, self.inner.reserve_invitation(migration, now, quota)).await
    }
    async fn org_profile(&self, org: &OrgId) -> Result<Option<OrgProfile>, StoreError> {
        self.run(StoreCall::OrgProfile { org }, self.inner.org_profile(org)).await
    }
    async fn put_org_profile(&self, profile: &OrgProfile) -> Result<(), StoreError> {
        self.run(StoreCall::PutOrgProfile { profile }, self.inner.put_org_profile(profile)).await
    }
    async fn approval(&self, account: &AwsAccountId) -> Result<Option<Approval>, StoreError> {
        self.run(StoreCall::Approval { account }, self.inner.approval(account)).await
    }
    async fn put_approval(&self, approval: &Approval) -> Result<(), StoreError> {
        self.run(StoreCall::PutApproval { approval }, self.inner.put_approval(approval)).await
    }
    async fn terms(&self, territory: &Territory) -> Result<Option<Terms>, StoreError> {
        self.run(StoreCall::Terms { territory }, self.inner.terms(territory)).await
    }
    async fn put_terms(&self, terms: &Terms) -> Result<(), StoreError> {
        self.run(StoreCall::PutTerms { terms }, self.inner.put_terms(terms)).await
    }
}

// ---------------------------------------------------------------------------------------
// Organizations

/// One call of [`Organizations`], with its arguments.
#[derive(Debug, Clone, Copy)]
pub enum OrgsCall<'a> {
    InviteAccount {
        account: &'a AwsAccountId,
        migration: MigrationId,
    },
    DescribeHandshake {
        id: &'a HandshakeId,
        account: &'a AwsAccountId,
    },
    CancelHandshake {
        id: &'a HandshakeId,
        account: &'a AwsAccountId,
    },
    Membership {
        account: &'a AwsAccountId,
    },
    ParentOf {
        account: &'a AwsAccountId,
    },
    MoveAccount {
        account: &'a AwsAccountId,
        from: &'a str,
        to: &'a str,
    },
    ScpsOf {
        target: &'a str,
    },
    /// `target` is an OU (the baseline SCPs live on OUs) or an account.
    AttachPolicy {
        policy_id: &'a str,
        target: &'a str,
    },
    TagAccount {
        account: &'a AwsAccountId,
        tags: &'a [(String, String)],
    },
}

impl OrgsCall<'_> {
    /// `orgs.` and the method's name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::InviteAccount { .. } => "orgs.invite_account",
            Self::DescribeHandshake { .. } => "orgs.describe_handshake",
            Self::CancelHandshake { .. } => "orgs.cancel_handshake",
            Self::Membership { .. } => "orgs.membership",
            Self::ParentOf { .. } => "orgs.parent_of",
            Self::MoveAccount { .. } => "orgs.move_account",
            Self::ScpsOf { .. } => "orgs.scps_of",
            Self::AttachPolicy { .. } => "orgs.attach_policy",
            Self::TagAccount { .. } => "orgs.tag_account",
        }
    }

    /// Whether the call changes something at AWS.
    pub fn writes(&self) -> bool {
        matches!(
            self,
            Self::InviteAccount { .. }
                | Self::CancelHandshake { .. }
                | Self::MoveAccount { .. }
                | Self::AttachPolicy { .. }
                | Self::TagAccount { .. }
        )
    }
}

/// What a [`HookedOrganizations`] asks around each call, as [`StoreHook`] for the store.
pub trait OrgsHook: Send + Sync {
    fn before(&self, call: &OrgsCall<'_>) -> impl Future<Output = Verdict<OrgError>> + Send {
        let _ = call;
        async { Verdict::Proceed }
    }

    /// After a call made on [`Verdict::Proceed`]; an error is the answer instead of the call's.
    fn after(&self, call: &OrgsCall<'_>, succeeded: bool) -> impl Future<Output = Result<(), OrgError>> + Send {
        let _ = (call, succeeded);
        async { Ok(()) }
    }
}

impl<H: OrgsHook> OrgsHook for Arc<H> {
    fn before(&self, call: &OrgsCall<'_>) -> impl Future<Output = Verdict<OrgError>> + Send {
        (**self).before(call)
    }
    fn after(&self, call: &OrgsCall<'_>, succeeded: bool) -> impl Future<Output = Result<(), OrgError>> + Send {
        (**self).after(call, succeeded)
    }
}

/// Organizations whose every call goes through `hook` (see the module).
pub struct HookedOrganizations<H> {
    inner: Arc<dyn Organizations>,
    hook: H,
}

impl<H: OrgsHook> HookedOrganizations<H> {
    pub fn new(inner: Arc<dyn Organizations>, hook: H) -> Self {
        Self { inner, hook }
    }

    pub fn hook(&self) -> &H {
        &self.hook
    }

    async fn run<T>(&self, call: OrgsCall<'_>, made: impl Future<Output = Result<T, OrgError>>) -> Result<T, OrgError> {
        self.hook.before(&call).await.carry_out(made, |ok| self.hook.after(&call, ok)).await
    }
}

#[async_trait]
impl<H: OrgsHook> Organizations for HookedOrganizations<H> {
    async fn invite_account(&self, account: &AwsAccountId, migration: MigrationId) -> Result<Handshake, OrgError> {
        self.run(OrgsCall::InviteAccount { account, migration }, self.inner.invite_account(account, migration)).await
    }
    async fn describe_handshake(&self, id: &HandshakeId, account: &AwsAccountId) -> Result<Handshake, OrgError> {
        self.run(OrgsCall::DescribeHandshake { id, account }, self.inner.describe_handshake(id, account)).await
    }
    async fn cancel_handshake(&self, id: &HandshakeId, account: &AwsAccountId) -> Result<Handshake, OrgError> {
        self.run(OrgsCall::CancelHandshake { id, account }, self.inner.cancel_handshake(id, account)).await
    }
    async fn membership(&self, account: &AwsAccountId) -> Result<Option<Membership>, OrgError> {
        self.run(OrgsCall::Membership { account }, self.inner.membership(account)).await
    }
    async fn parent_of(&self, account: &AwsAccountId) -> Result<String, OrgError> {
        self.run(OrgsCall::ParentOf { account }, self.inner.parent_of(account)).await
    }
    async fn move_account(&self, account: &AwsAccountId, from: &str, to: &str) -> Result<(), OrgError> {
        self.run(OrgsCall::MoveAccount { account, from, to }, self.inner.move_account(account, from, to)).await
    }
    async fn scps_of(&self, target: &str) -> Result<Vec<String>, OrgError> {
        self.run(OrgsCall::ScpsOf { target }, self.inner.scps_of(target)).await
    }
    async fn attach_policy(&self, policy_id: &str, target: &str) -> Result<(), OrgError> {
        self.run(OrgsCall::AttachPolicy { policy_id, target }, self.inner.attach_policy(policy_id, target)).await
    }
    async fn tag_account(&self, account: &AwsAccountId, tags: &[(String, String)]) -> Result<(), OrgError> {
        self.run(OrgsCall::TagAccount { account, tags }, self.inner.tag_account(account, tags)).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use migration::request::AccessLevel;

    use super::*;
    use crate::{MemoryStore, fixtures};

    /// Fails reads of the terms, fails a successful `put_terms` after it landed, and logs
    /// every call with what `after` was told.
    #[derive(Default)]
    struct Probe(Mutex<Vec<(&'static str, Option<bool>)>>);

    impl StoreHook for Probe {
        async fn before(&self, call: &StoreCall<'_>) -> Verdict<StoreError> {
            self.0.lock().unwrap().push((call.name(), None));
            match call {
                StoreCall::Terms { .. } => Verdict::Fail(StoreError::Unavailable("down".into())),
                _ => Verdict::Proceed,
            }
        }
        async fn after(&self, call: &StoreCall<'_>, succeeded: bool) -> Result<(), StoreError> {
            self.0.lock().unwrap().push((call.name(), Some(succeeded)));
            match call {
                StoreCall::PutTerms { .. } if succeeded => Err(StoreError::Unavailable("lost after the write".into())),
                _ => Ok(()),
            }
        }
    }

    #[tokio::test]
    async fn the_hook_answers_before_or_after_the_call_and_sees_its_outcome() {
        let inner = Arc::new(MemoryStore::new());
        let store = HookedStore::new(inner.clone(), Probe::default());
        let terms = fixtures::terms();
        assert!(matches!(store.put_terms(&terms).await, Err(StoreError::Unavailable(m)) if m == "lost after the write"));
        assert_eq!(inner.terms(&terms.territory).await.unwrap(), Some(terms.clone()), "the write landed");
        assert!(matches!(store.terms(&terms.territory).await, Err(StoreError::Unavailable(m)) if m == "down"));
        let now = Utc::now();
        let valid = fixtures::request(AccessLevel::Optimized).validate().unwrap();
        let record = Migration::new(
            MigrationId::new_at(now),
            fixtures::ORG.parse().unwrap(),
            "US".parse().unwrap(),
            "seed".parse().unwrap(),
            valid,
            now,
        );
        let missing = store.update(&Change { record, expected_version: 1, events: Vec::new(), release_lock: false }).await;
        assert!(missing.is_err(), "the inner store's own failure (no such record) is the answer");
        assert_eq!(
            *store.hook().0.lock().unwrap(),
            [
                ("store.put_terms", None),
                ("store.put_terms", Some(true)),
                ("store.terms", None),
                ("store.update", None),
                ("store.update", Some(false)),
            ]
        );
    }
}
