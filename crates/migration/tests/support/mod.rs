//! The seeded in-memory world, with helpers for driving the use-cases in sequence.
#![allow(dead_code, unused_imports)]

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use migration::ports::{MigrationStore, Ports};
use migration::record::HistoryEvent;
use migration::request::{AccessLevel, MigrationRequest};
use migration::steps::{self, Created};
use migration::{AwsAccountId, MigrationId, RoleArn, Status, TaskToken};
use migration_sim::fixtures::{self, Fixture};
use migration_sim::{ManualClock, MemoryStore, RecordingExecutions, SimAws};

pub use migration_sim::fixtures::{EXTERNAL_ID, admin};

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

fn access_level(access: &str) -> AccessLevel {
    if access == "optimized" { AccessLevel::Optimized } else { AccessLevel::FullHardening }
}

pub fn account() -> AwsAccountId {
    fixtures::account()
}

pub fn role(access: &str) -> RoleArn {
    fixtures::role(access_level(access))
}

pub fn request(access: &str) -> MigrationRequest {
    fixtures::request(access_level(access))
}

impl World {
    /// An eligible organization, an approved account whose role trusts the partner with the
    /// ExternalId, on Basic support.
    pub async fn new() -> Self {
        let (f, executions) = Fixture::with_recorder(start_time()).await;
        Self { ports: f.ports, store: f.store, sim: f.sim, clock: f.clock, executions }
    }

    pub async fn create(&self, access: &str) -> Created {
        steps::create_migration(&self.ports, &admin(), &request(access), None).await.expect("created")
    }

    pub async fn status(&self, id: MigrationId) -> Status {
        self.record(id).await.status
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

    /// Drives the migration until the customer accepted and the join was recorded.
    pub async fn until_joined(&self, access: &str) -> MigrationId {
        let (id, _) = self.until_invited(access).await;
        self.sim.accept(&self.handshake_id(id).await).expect("accepted");
        steps::account_joined(&self.ports, &account()).await.expect("joined");
        id
    }

    /// Drives the migration until its hardening is scheduled, the customer on `plan`.
    pub async fn until_hardening_scheduled(&self, access: &str, plan: migration_sim::SimSupportPlan) -> MigrationId {
        let id = self.until_joined(access).await;
        self.sim.set_support_plan(&account(), plan).expect("a customer");
        steps::check_support(&self.ports, id).await.expect("checked");
        steps::schedule_hardening(&self.ports, id).await.expect("scheduled");
        id
    }

    /// Another customer account (standalone, approved, both roles trusting the ExternalId,
    /// on `plan`), driven until its hardening is scheduled.
    pub async fn until_hardening_scheduled_for(
        &self,
        account: &AwsAccountId,
        access: &str,
        plan: migration_sim::SimSupportPlan,
    ) -> MigrationId {
        let role_for = |access: &str| -> RoleArn {
            format!("arn:aws:iam::{account}:role/{}", access_level(access).role_name()).parse().expect("valid")
        };
        let trust = || migration_sim::RoleTrust::ExternalId(EXTERNAL_ID.parse().expect("valid"));
        self.sim.add_standalone_customer(&role_for("full_hardening"), trust(), plan);
        self.sim
            .update_customer(account, |c| {
                c.roles.insert(role_for("optimized"), trust());
            })
            .expect("just added");
        let approval = migration::rules::Approval { account_id: account.clone(), ..fixtures::approval(start_time()) };
        self.store.put_approval(&approval).await.expect("memory");
        let mut request = request(access);
        request.aws_account_id = account.to_string();
        request.role_arn = role_for(access).to_string();
        let id = steps::create_migration(&self.ports, &admin(), &request, None).await.expect("created").record.id;
        steps::validate(&self.ports, id).await.expect("validated");
        steps::invite(&self.ports, id).await.expect("invited");
        self.sim.accept(&self.handshake_id(id).await).expect("accepted");
        steps::account_joined(&self.ports, account).await.expect("joined");
        steps::check_support(&self.ports, id).await.expect("checked");
        steps::schedule_hardening(&self.ports, id).await.expect("scheduled");
        id
    }

    /// Runs the support checks, waiting as each says, until one ends the migration.
    pub async fn support_until_the_end(&self, id: MigrationId) -> migration::StepError {
        loop {
            match steps::check_support(&self.ports, id).await {
                Ok(out) => self.advance(Duration::seconds(out.wait_seconds)),
                Err(e) => return e,
            }
        }
    }

    pub async fn handshake_id(&self, id: MigrationId) -> migration::HandshakeId {
        self.record(id).await.handshake.expect("invited").id
    }

    /// What the state machine does on a Catch: record-failure with the caught error.
    pub async fn catch(&self, id: MigrationId, error: &str, cause: &str) -> steps::FailureOutput {
        steps::record_failure(&self.ports, id, error, cause).await.expect("failure recorded")
    }
}
