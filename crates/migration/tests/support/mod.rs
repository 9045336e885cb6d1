//! A world of in-memory adapters for driving the use-cases in sequence.
#![allow(dead_code)]

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use migration::memory::{ManualClock, MemoryStore, RecordingExecutions, RoleTrust, SimAws, SimSupportPlan};
use migration::ports::{MigrationStore, Ports};
use migration::record::HistoryEvent;
use migration::request::{Acknowledgements, MigrationRequest};
use migration::rules::{Approval, Caller, CamRole, OrgProfile, TermsAcceptance, TermsDocument};
use migration::steps::{self, Created};
use migration::{AwsAccountId, MigrationId, RoleArn, Settings, Status, TaskToken};

pub const PARTNER: &str = "999999999999";
pub const ACCOUNT: &str = "000123456789";
pub const EXTERNAL_ID: &str = "cam-acme-7f3a9c";

pub struct World {
    pub ports: Ports,
    pub store: Arc<MemoryStore>,
    pub sim: SimAws,
    pub clock: Arc<ManualClock>,
    pub executions: Arc<RecordingExecutions>,
}

pub fn start_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-02T09:00:00Z").unwrap().with_timezone(&Utc)
}

pub fn account() -> AwsAccountId {
    ACCOUNT.parse().unwrap()
}

pub fn role(access: &str) -> RoleArn {
    let name = if access == "optimized" { "CenturyLinkOptimized" } else { "CenturyLinkFullHardening" };
    format!("arn:aws:iam::{ACCOUNT}:role/{name}").parse().unwrap()
}

pub fn admin() -> Caller {
    Caller { user: "alice@acme.example".parse().unwrap(), org: "acme".parse().unwrap(), role: CamRole::Administrator }
}

pub fn settings() -> Settings {
    Settings::new(PARTNER.parse().unwrap(), "ou-root-onboarding", "p-guardrail1", "ou-root-hardened", &["p-hardening1", "p-hardening2"])
}

pub fn request(access: &str) -> MigrationRequest {
    MigrationRequest {
        provider_name: "Production AWS".into(),
        aws_account_id: ACCOUNT.into(),
        role_arn: role(access).to_string(),
        access_level: access.into(),
        accepted_terms: vec![
            TermsAcceptance { document_id: "ctl-aws-terms-us".into(), version: "2024-01".into() },
            TermsAcceptance { document_id: "ctl-aws-addendum-us".into(), version: "3".into() },
        ],
        acknowledgements: Acknowledgements { historical_usage_data: true, cost_allocation_tags: true, reserved_instances: true },
    }
}

pub fn profile() -> OrgProfile {
    OrgProfile {
        org_id: "acme".parse().unwrap(),
        external_id: EXTERNAL_ID.parse().unwrap(),
        territory: "US".parse().unwrap(),
        billable: true,
        demo: false,
        trial: false,
        internal: false,
        reseller: false,
        reseller_customer: false,
        us_offices: true,
    }
}

impl World {
    /// An eligible organization, an approved account whose role trusts the partner with the
    /// ExternalId, on Basic support.
    pub async fn new() -> Self {
        let clock = Arc::new(ManualClock::new(start_time()));
        let store = Arc::new(MemoryStore::new());
        let sim = SimAws::new(PARTNER.parse().unwrap(), clock.clone());
        let executions = Arc::new(RecordingExecutions::default());
        let ports = Ports {
            store: store.clone(),
            orgs: Arc::new(sim.organizations()),
            customer: Arc::new(sim.customer_access()),
            support: Arc::new(sim.support()),
            executions: executions.clone(),
            clock: clock.clone(),
            settings: Arc::new(settings()),
        };
        store.put_org_profile(&profile()).await.unwrap();
        store
            .put_terms(&migration::rules::Terms {
                territory: "US".parse().unwrap(),
                documents: vec![
                    TermsDocument {
                        document_id: "ctl-aws-terms-us".into(),
                        version: "2024-01".into(),
                        title: "CenturyLink AWS Terms".into(),
                        url: "https://example.invalid/t".into(),
                    },
                    TermsDocument {
                        document_id: "ctl-aws-addendum-us".into(),
                        version: "3".into(),
                        title: "Addendum".into(),
                        url: "https://example.invalid/a".into(),
                    },
                ],
            })
            .await
            .unwrap();
        store
            .put_approval(&Approval {
                account_id: account(),
                reference: "AWS-TRANSFER-2026-001".into(),
                approved: true,
                recorded_by: "ops@partner".into(),
                recorded_at: start_time(),
            })
            .await
            .unwrap();
        for access in ["full_hardening", "optimized"] {
            sim.add_standalone_customer(&role(access), RoleTrust::ExternalId(EXTERNAL_ID.parse().unwrap()), SimSupportPlan::Basic);
        }
        // Both roles live in the same account: register the second one on the first's account.
        sim.update_customer(&account(), |c| {
            c.roles.insert(role("full_hardening"), RoleTrust::ExternalId(EXTERNAL_ID.parse().unwrap()));
            c.roles.insert(role("optimized"), RoleTrust::ExternalId(EXTERNAL_ID.parse().unwrap()));
        })
        .unwrap();
        Self { ports, store, sim, clock, executions }
    }

    pub async fn create(&self, access: &str) -> Created {
        steps::create_migration(&self.ports, &admin(), &request(access), None).await.expect("created")
    }

    pub async fn status(&self, id: MigrationId) -> Status {
        self.store.get(id).await.unwrap().unwrap().status
    }

    pub async fn record(&self, id: MigrationId) -> migration::Migration {
        self.store.get(id).await.unwrap().unwrap()
    }

    pub async fn history(&self, id: MigrationId) -> Vec<HistoryEvent> {
        self.store.history(id).await.unwrap()
    }

    /// The statuses the history walked through, in order.
    pub async fn status_trail(&self, id: MigrationId) -> Vec<Status> {
        self.history(id).await.into_iter().filter(|e| e.kind == migration::record::EventKind::StatusChanged).map(|e| e.to).collect()
    }

    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// Drives create → validate → invite → wait (token stored). Returns the id and token.
    pub async fn until_invited(&self, access: &str) -> (MigrationId, TaskToken) {
        let id = self.create(access).await.record.id;
        steps::validate(&self.ports, id).await.expect("validated");
        steps::invite(&self.ports, id).await.expect("invited");
        let token = TaskToken::new(format!("token-for-{id}"));
        steps::wait_for_handshake(&self.ports, id, token.clone()).await.expect("waiting");
        assert_eq!(self.status(id).await, Status::Invited);
        (id, token)
    }

    pub async fn handshake_id(&self, id: MigrationId) -> migration::HandshakeId {
        self.record(id).await.handshake.expect("invited").id
    }

    /// What the state machine does on a Catch: record-failure with the caught error.
    pub async fn catch(&self, id: MigrationId, error: &str, cause: &str) -> steps::FailureOutput {
        steps::record_failure(&self.ports, id, error, cause).await.expect("failure recorded")
    }
}
