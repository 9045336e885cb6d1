//! The adapter behind every port a function does not use: no client is built for it, and a
//! call fails closed with a typed error (each port's own error type, classified by the
//! domain as a permanent `Migration.Internal` failure), never a silent success.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use migration::error::{AccessError, ExecutionError, OrgError, StoreError};
use migration::ports::{
    CustomerAccess, CustomerSession, ExecutionState, Executions, IdempotencyRecord, ListQuery, Membership, MigrationStore, Organizations,
    Page, Reservation, SupportAnswer, SupportProbe, TokenDelivery,
};
use migration::record::{Change, Handshake, HistoryEvent, Migration, SupportPlan, WorkQueue};
use migration::rules::{Approval, CustomerOrganization, OrgProfile, Terms};
use migration::transfer::{
    BillingGroup, BillingGroupSpec, BillingTransfers, ResponsibilityTransfer, SentTransfer, TransferError, TransferInvitation,
};
use migration::{AwsAccountId, ExternalId, HandshakeId, MigrationId, OrgId, RoleArn, TaskToken, Territory, TransferId};
use tracing::error;

/// Why a port cannot answer in this function: it is not one of the function's
/// [`Needs`](crate::Needs), or this build does not link its SDK (a cargo feature).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotConfigured {
    /// What was asked for: the port, or the part of it.
    pub port: &'static str,
    /// The cargo feature of `migration-aws` that would link it, when that is what is missing.
    pub feature: Option<&'static str>,
}

impl NotConfigured {
    /// A port the function does not declare among its needs.
    pub const fn port(port: &'static str) -> Self {
        Self { port, feature: None }
    }

    /// A port (or part of one) whose SDK this build does not link.
    pub const fn feature(port: &'static str, feature: &'static str) -> Self {
        Self { port, feature: Some(feature) }
    }

    /// Logs the refused call: it means a step called a port its function was not built
    /// for, a bug in that function's declaration of its needs.
    fn refused(self, operation: &str) -> Self {
        error!(port = self.port, operation, "a port this function is not configured for was called");
        self
    }
}

impl fmt::Display for NotConfigured {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.feature {
            None => write!(f, "{} is not configured in this function (not among its needs)", self.port),
            Some(feature) => write!(f, "{} is not built into this function (migration-aws feature `{feature}`)", self.port),
        }
    }
}

impl std::error::Error for NotConfigured {}

impl From<NotConfigured> for StoreError {
    fn from(e: NotConfigured) -> Self {
        StoreError::Other(e.to_string())
    }
}

impl From<NotConfigured> for OrgError {
    fn from(e: NotConfigured) -> Self {
        OrgError::Other(e.to_string())
    }
}

impl From<NotConfigured> for AccessError {
    fn from(e: NotConfigured) -> Self {
        AccessError::Other(e.to_string())
    }
}

impl From<NotConfigured> for TransferError {
    fn from(e: NotConfigured) -> Self {
        TransferError::Other(e.to_string())
    }
}

impl From<NotConfigured> for ExecutionError {
    fn from(e: NotConfigured) -> Self {
        ExecutionError::Other(e.to_string())
    }
}

/// The port adapter that refuses every call (see the module's documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unavailable(pub NotConfigured);

impl Unavailable {
    fn fail<T, E: From<NotConfigured>>(&self, operation: &str) -> Result<T, E> {
        Err(self.0.refused(operation).into())
    }
}

#[async_trait]
impl MigrationStore for Unavailable {
    async fn create(&self, _: &Migration, _: &HistoryEvent, _: Option<&IdempotencyRecord>) -> Result<(), StoreError> {
        self.fail("create")
    }
    async fn get(&self, _: MigrationId) -> Result<Option<Migration>, StoreError> {
        self.fail("get")
    }
    async fn update(&self, _: &Change) -> Result<(), StoreError> {
        self.fail("update")
    }
    async fn history(&self, _: MigrationId) -> Result<Vec<HistoryEvent>, StoreError> {
        self.fail("history")
    }
    async fn list(&self, _: &ListQuery, _: u32, _: Option<&str>) -> Result<Page, StoreError> {
        self.fail("list")
    }
    async fn due(&self, _: WorkQueue, _: DateTime<Utc>, _: u32) -> Result<Vec<Migration>, StoreError> {
        self.fail("due")
    }
    async fn lock_holder(&self, _: &AwsAccountId) -> Result<Option<MigrationId>, StoreError> {
        self.fail("lock_holder")
    }
    async fn idempotency(&self, _: &OrgId, _: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.fail("idempotency")
    }
    async fn reserve_invitation(&self, _: MigrationId, _: DateTime<Utc>, _: u32) -> Result<Reservation, StoreError> {
        self.fail("reserve_invitation")
    }
    async fn org_profile(&self, _: &OrgId) -> Result<Option<OrgProfile>, StoreError> {
        self.fail("org_profile")
    }
    async fn put_org_profile(&self, _: &OrgProfile) -> Result<(), StoreError> {
        self.fail("put_org_profile")
    }
    async fn approval(&self, _: &AwsAccountId) -> Result<Option<Approval>, StoreError> {
        self.fail("approval")
    }
    async fn put_approval(&self, _: &Approval) -> Result<(), StoreError> {
        self.fail("put_approval")
    }
    async fn terms(&self, _: &Territory) -> Result<Option<Terms>, StoreError> {
        self.fail("terms")
    }
    async fn put_terms(&self, _: &Terms) -> Result<(), StoreError> {
        self.fail("put_terms")
    }
}

#[async_trait]
impl Organizations for Unavailable {
    async fn invite_account(&self, _: &AwsAccountId, _: MigrationId) -> Result<Handshake, OrgError> {
        self.fail("invite_account")
    }
    async fn describe_handshake(&self, _: &HandshakeId, _: &AwsAccountId) -> Result<Handshake, OrgError> {
        self.fail("describe_handshake")
    }
    async fn cancel_handshake(&self, _: &HandshakeId, _: &AwsAccountId) -> Result<Handshake, OrgError> {
        self.fail("cancel_handshake")
    }
    async fn membership(&self, _: &AwsAccountId) -> Result<Option<Membership>, OrgError> {
        self.fail("membership")
    }
    async fn parent_of(&self, _: &AwsAccountId) -> Result<String, OrgError> {
        self.fail("parent_of")
    }
    async fn move_account(&self, _: &AwsAccountId, _: &str, _: &str) -> Result<(), OrgError> {
        self.fail("move_account")
    }
    async fn scps_of(&self, _: &str) -> Result<Vec<String>, OrgError> {
        self.fail("scps_of")
    }
    async fn attach_policy(&self, _: &str, _: &str) -> Result<(), OrgError> {
        self.fail("attach_policy")
    }
    async fn tag_account(&self, _: &AwsAccountId, _: &[(String, String)]) -> Result<(), OrgError> {
        self.fail("tag_account")
    }
}

#[async_trait]
impl CustomerAccess for Unavailable {
    async fn assume(&self, _: &RoleArn, _: &ExternalId, _: MigrationId) -> Result<CustomerSession, AccessError> {
        self.fail("assume")
    }
    async fn assumable_without_external_id(&self, _: &RoleArn, _: MigrationId) -> Result<bool, AccessError> {
        self.fail("assumable_without_external_id")
    }
    async fn organization(&self, _: &CustomerSession) -> Result<CustomerOrganization, AccessError> {
        self.fail("organization")
    }
}

/// The probe's port cannot fail: the plan is `Unknown` (never Basic, never Paid), which
/// no step treats as an answer, with the reason as its detail.
#[async_trait]
impl SupportProbe for Unavailable {
    async fn support_plan(&self, _: &CustomerSession) -> SupportAnswer {
        SupportAnswer { plan: SupportPlan::Unknown, detail: Some(self.0.refused("support_plan").to_string()) }
    }
}

#[async_trait]
impl Executions for Unavailable {
    async fn start(&self, _: MigrationId, _: serde_json::Value) -> Result<(), ExecutionError> {
        self.fail("start")
    }
    async fn stop(&self, _: MigrationId, _: &str, _: &str) -> Result<(), ExecutionError> {
        self.fail("stop")
    }
    async fn send_task_success(&self, _: &TaskToken, _: serde_json::Value) -> Result<TokenDelivery, ExecutionError> {
        self.fail("send_task_success")
    }
    async fn send_task_failure(&self, _: &TaskToken, _: &str, _: &str) -> Result<TokenDelivery, ExecutionError> {
        self.fail("send_task_failure")
    }
    fn execution_arn(&self, _: MigrationId) -> Option<String> {
        None
    }
    async fn describe(&self, _: MigrationId) -> Result<Option<ExecutionState>, ExecutionError> {
        self.fail("describe")
    }
}

#[async_trait]
impl BillingTransfers for Unavailable {
    async fn invite(&self, _: &TransferInvitation) -> Result<SentTransfer, TransferError> {
        self.fail("invite")
    }
    async fn describe(&self, _: &TransferId) -> Result<ResponsibilityTransfer, TransferError> {
        self.fail("describe")
    }
    async fn cancel_invitation(&self, _: &HandshakeId) -> Result<(), TransferError> {
        self.fail("cancel_invitation")
    }
    async fn terminate(&self, _: &TransferId, _: DateTime<Utc>) -> Result<ResponsibilityTransfer, TransferError> {
        self.fail("terminate")
    }
    async fn ensure_billing_group(&self, _: &BillingGroupSpec) -> Result<BillingGroup, TransferError> {
        self.fail("ensure_billing_group")
    }
}

#[async_trait]
impl migration::usage::UsageHistory for Unavailable {
    async fn cost_and_usage(
        &self,
        _: &CustomerSession,
        _: &migration::usage::UsageQuery,
        _: Option<&str>,
    ) -> Result<migration::usage::UsagePage, migration::usage::UsageError> {
        Err(migration::usage::UsageError::Other(format!("cost_and_usage: {}", self.0)))
    }
    async fn active_cost_allocation_tags(
        &self,
        _: &CustomerSession,
        _: Option<&str>,
    ) -> Result<(Vec<migration::usage::CostAllocationTag>, Option<String>), migration::usage::UsageError> {
        Err(migration::usage::UsageError::Other(format!("active_cost_allocation_tags: {}", self.0)))
    }
}

#[async_trait]
impl migration::usage::SnapshotStore for Unavailable {
    async fn put(&self, _: &str, _: Vec<u8>, _: &str) -> Result<(), String> {
        Err(format!("put: {}", self.0))
    }
    async fn download_link(&self, _: &str, _: chrono::Duration) -> Result<String, String> {
        Err(format!("download_link: {}", self.0))
    }
}

#[cfg(test)]
mod tests {
    use migration::StepError;

    use super::*;

    #[tokio::test]
    async fn every_port_fails_closed_as_an_internal_error() {
        let port = Unavailable(NotConfigured::port("the executions port"));
        let err = port.start(MigrationId::new_at(Utc::now()), serde_json::json!({})).await.unwrap_err();
        assert_eq!(err, ExecutionError::Other("the executions port is not configured in this function (not among its needs)".into()));
        assert_eq!(StepError::from(err).name(), "Migration.Internal");

        let store = Unavailable(NotConfigured::port("the store"));
        let err = store.get(MigrationId::new_at(Utc::now())).await.unwrap_err();
        assert_eq!(StepError::from(err).name(), "Migration.Internal");

        let orgs = Unavailable(NotConfigured::feature("the Organizations port", "organizations"));
        let err = orgs.membership(&"000123456789".parse().unwrap()).await.unwrap_err();
        assert!(err.to_string().contains("feature `organizations`"), "{err}");
        assert_eq!(StepError::from(err).name(), "Migration.Internal");

        let customer = Unavailable(NotConfigured::port("the customer-access port"));
        let role = "arn:aws:iam::000123456789:role/CenturyLinkOptimized".parse().unwrap();
        let err = customer.assumable_without_external_id(&role, MigrationId::new_at(Utc::now())).await.unwrap_err();
        assert_eq!(StepError::from(err).name(), "Migration.Internal");
    }
}
