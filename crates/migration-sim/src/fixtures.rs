//! A ready-made in-memory world: an eligible organization, current terms, an approved
//! customer account whose roles trust the partner with the ExternalId. Used by the
//! domain's tests and by the local runner's demo, so both start from the same facts.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::{ManualClock, MemoryStore, RecordingExecutions, RoleTrust, SimAws, SimSupportPlan};
use migration::error::StoreError;
use migration::ids::{AwsAccountId, RoleArn};
use migration::ports::{Clock, Executions, MigrationStore, Ports};
use migration::request::{AccessLevel, Acknowledgements, MigrationRequest};
use migration::rules::{Approval, Caller, CamRole, CustomerOrganization, Eligibility, OrgProfile, Terms, TermsAcceptance, TermsDocument};
use migration::settings::Settings;

pub const PARTNER: &str = "999999999999";
pub const ACCOUNT: &str = "000123456789";
pub const ORG: &str = "acme";
pub const EXTERNAL_ID: &str = "cam-acme-7f3a9c";

pub fn account() -> AwsAccountId {
    ACCOUNT.parse().expect("valid")
}

pub fn role(access: AccessLevel) -> RoleArn {
    format!("arn:aws:iam::{ACCOUNT}:role/{}", access.role_name()).parse().expect("valid")
}

pub fn admin() -> Caller {
    Caller { user: "alice@acme.example".parse().expect("valid"), org: ORG.parse().expect("valid"), role: CamRole::Administrator }
}

pub fn settings() -> Settings {
    Settings {
        billing_pricing_plan_arn: PRICING_PLAN_ARN.to_owned(),
        ..Settings::new(
            PARTNER.parse().expect("valid"),
            "ou-root-onboarding",
            "p-guardrail1",
            "ou-root-hardened",
            &["p-hardening1", "p-hardening2"],
        )
    }
}

/// The Billing Conductor pricing plan of the simulated partner.
pub const PRICING_PLAN_ARN: &str = "arn:aws:billingconductor::999999999999:pricingplan/simplan001";

/// A billing-transfer request: optimized access (a billing transfer is not hardened), the
/// start month left to the system unless given.
pub fn transfer_request(start_month: Option<&str>) -> MigrationRequest {
    MigrationRequest {
        kind: Some("billing_transfer".into()),
        start_month: start_month.map(str::to_owned),
        usage_snapshot: None,
        ..request(AccessLevel::Optimized)
    }
}

/// Makes the seeded customer account the management account of its own organization, with
/// all features (what a billing transfer needs) unless `all_features` is false.
pub fn make_management_account(sim: &SimAws, all_features: bool) {
    sim.update_customer(&account(), |c| {
        c.own_organization =
            CustomerOrganization::ManagementAccount { organization_id: "o-custorg0001".into(), member_count: Some(4), all_features };
    })
    .expect("the seeded customer");
}

pub fn terms() -> Terms {
    let doc = |id: &str, version: &str, title: &str| TermsDocument {
        document_id: id.into(),
        version: version.into(),
        title: title.into(),
        url: format!("https://terms.example.invalid/{id}/{version}"),
    };
    Terms {
        territory: "US".parse().expect("valid"),
        documents: vec![
            doc("ctl-aws-terms-us", "2024-01", "CenturyLink AWS Terms and Conditions"),
            doc("ctl-aws-addendum-us", "3", "CenturyLink AWS Consolidated Billing Addendum"),
        ],
    }
}

pub fn request(access: AccessLevel) -> MigrationRequest {
    MigrationRequest {
        provider_name: "Production AWS".into(),
        aws_account_id: ACCOUNT.into(),
        role_arn: role(access).to_string(),
        access_level: access.as_str().into(),
        accepted_terms: terms().documents.into_iter().map(|d| TermsAcceptance { document_id: d.document_id, version: d.version }).collect(),
        acknowledgements: Acknowledgements {
            historical_usage_data: true,
            cost_allocation_tags: true,
            reserved_instances: true,
            direct_transfer: false,
        },
        kind: None,
        start_month: None,
        usage_snapshot: None,
    }
}

pub fn profile() -> OrgProfile {
    OrgProfile {
        org_id: ORG.parse().expect("valid"),
        external_id: EXTERNAL_ID.parse().expect("valid"),
        territory: "US".parse().expect("valid"),
        eligibility: Eligibility::QUALIFYING,
    }
}

pub fn approval(at: DateTime<Utc>) -> Approval {
    Approval {
        account_id: account(),
        reference: "AWS-TRANSFER-2026-001".into(),
        approved: true,
        recorded_by: "ops@partner".into(),
        recorded_at: at,
    }
}

/// Writes the organization profile, terms and approval.
pub async fn seed_store(store: &dyn MigrationStore, at: DateTime<Utc>) -> Result<(), StoreError> {
    store.put_org_profile(&profile()).await?;
    store.put_terms(&terms()).await?;
    store.put_approval(&approval(at)).await
}

/// Adds the customer account, standalone, with both roles trusting the ExternalId.
pub fn seed_customer(sim: &SimAws, plan: SimSupportPlan) {
    let trust = || RoleTrust::ExternalId(EXTERNAL_ID.parse().expect("valid"));
    sim.add_standalone_customer(&role(AccessLevel::FullHardening), trust(), plan);
    sim.update_customer(&account(), |c| {
        c.roles.insert(role(AccessLevel::Optimized), trust());
    })
    .expect("just added");
}

/// The in-memory world, seeded. The clock is a [`ManualClock`] unless the caller brings
/// its own (the local runner shares the state machine executor's virtual clock).
pub struct Fixture<C: Clock + ?Sized = ManualClock> {
    pub ports: Ports,
    pub store: Arc<MemoryStore>,
    pub sim: SimAws,
    pub clock: Arc<C>,
}

impl<C: Clock + 'static> Fixture<C> {
    /// `executions` is the Step Functions side: a recorder in unit tests, the in-process
    /// executor in the local runner.
    pub async fn build(clock: Arc<C>, executions: Arc<dyn Executions>) -> Self {
        let store = Arc::new(MemoryStore::new());
        let sim = SimAws::new(PARTNER.parse().expect("valid"), clock.clone() as Arc<dyn Clock>);
        seed_store(store.as_ref(), clock.now()).await.expect("the memory store does not fail");
        seed_customer(&sim, SimSupportPlan::Basic);
        let ports = sim.ports(store.clone(), executions, clock.clone(), settings());
        Self { ports, store, sim, clock }
    }
}

impl Fixture<ManualClock> {
    pub async fn new(start: DateTime<Utc>, executions: Arc<dyn Executions>) -> Self {
        Self::build(Arc::new(ManualClock::new(start)), executions).await
    }

    pub async fn with_recorder(start: DateTime<Utc>) -> (Self, Arc<RecordingExecutions>) {
        let recorder = Arc::new(RecordingExecutions::default());
        (Self::new(start, recorder.clone()).await, recorder)
    }
}
