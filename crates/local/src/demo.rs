//! `demo`: one migration end to end on the in-memory simulation with a virtual clock and a
//! simulated customer. It drives the steps in the order the state machine does and prints
//! the timeline from the store's change feed.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use migration::memory::fixtures::{self, Fixture};
use migration::memory::{RecordingExecutions, SimSupportPlan, TokenOutcome};
use migration::ports::{ChangeFeed, Clock, MigrationStore};
use migration::record::StatusChanged;
use migration::request::AccessLevel;
use migration::steps;
use migration::{MigrationId, Status, StepError, TaskToken};
use tokio::sync::broadcast;

/// What the simulated customer does with the invitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Invitation {
    Accept,
    Decline,
    /// Never answer: the invitation expires after 15 days.
    Ignore,
}

#[derive(Debug, Clone, clap::Args)]
pub struct DemoOptions {
    /// The access the customer's role grants.
    #[arg(long, value_enum, default_value_t = Access::FullHardening)]
    pub access: Access,
    /// What the customer does with the invitation.
    #[arg(long, value_enum, default_value_t = Invitation::Accept)]
    pub invitation: Invitation,
    /// Hours after the invitation before the customer answers it.
    #[arg(long, default_value_t = 30)]
    pub answer_after_hours: i64,
    /// Support checks that find Basic support before the customer upgrades.
    #[arg(long, default_value_t = 3)]
    pub upgrade_after_checks: u32,
    /// The customer never upgrades support: the 14-day deadline passes.
    #[arg(long)]
    pub never_upgrade: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Access {
    FullHardening,
    Optimized,
}

impl DemoOptions {
    /// The outcome these options should produce.
    pub fn expected(&self) -> Status {
        match (self.invitation, self.never_upgrade, self.access) {
            (Invitation::Decline, ..) => Status::InvitationDeclined,
            (Invitation::Ignore, ..) => Status::InvitationExpired,
            (Invitation::Accept, true, _) => Status::SupportUpgradeTimedOut,
            (Invitation::Accept, false, Access::FullHardening) => Status::Hardened,
            (Invitation::Accept, false, Access::Optimized) => Status::Completed,
        }
    }

    fn access_level(&self) -> AccessLevel {
        match self.access {
            Access::FullHardening => AccessLevel::FullHardening,
            Access::Optimized => AccessLevel::Optimized,
        }
    }
}

pub struct DemoReport {
    pub migration_id: MigrationId,
    pub outcome: Status,
    pub expected: Status,
    pub status_changes: usize,
    pub history_events: usize,
    pub simulated: Duration,
    pub wall: std::time::Duration,
}

struct Timeline {
    start: DateTime<Utc>,
    feed: broadcast::Receiver<StatusChanged>,
    changes: usize,
}

impl Timeline {
    fn elapsed(&self, at: DateTime<Utc>) -> String {
        let d = at - self.start;
        format!("+{:>2}d {:02}h{:02}m", d.num_days(), d.num_hours() % 24, d.num_minutes() % 60)
    }

    /// Prints the status changes published since the last call.
    fn drain(&mut self) {
        while let Ok(e) = self.feed.try_recv() {
            self.changes += 1;
            let from = e.from.map_or_else(|| "-".to_owned(), |s| s.to_string());
            println!("  {}  {:<26} {:<26} {}", self.elapsed(e.at), from, e.to.to_string(), e.note);
        }
    }

    fn customer(&mut self, at: DateTime<Utc>, what: &str) {
        self.drain();
        println!("  {}  {:<26} {:<26} customer: {what}", self.elapsed(at), "", "");
    }
}

pub async fn run(options: &DemoOptions) -> Result<DemoReport, StepError> {
    let wall = Instant::now();
    let start = DateTime::parse_from_rfc3339("2026-03-02T09:00:00Z").expect("valid").with_timezone(&Utc);
    let recorder = Arc::new(RecordingExecutions::default());
    let f = Fixture::new(start, recorder.clone()).await;
    let mut timeline = Timeline { start, feed: f.store.subscribe(), changes: 0 };
    let ports = &f.ports;

    println!("  {:<12}  {:<26} {:<26} what happened", "sim time", "from", "to");
    let created = steps::create_migration(ports, &fixtures::admin(), &fixtures::request(options.access_level()), None)
        .await
        .map_err(|e| StepError::Internal(e.to_string()))?;
    let id = created.record.id;

    let outcome = drive(&f, &recorder, &mut timeline, options, id).await?;
    timeline.drain();
    let history_events = f.store.history(id).await?.len();
    Ok(DemoReport {
        migration_id: id,
        outcome,
        expected: options.expected(),
        status_changes: timeline.changes,
        history_events,
        simulated: f.clock.now() - start,
        wall: wall.elapsed(),
    })
}

/// The state machine's order of steps; a step error goes to record-failure, like a Catch.
async fn drive(
    f: &Fixture,
    recorder: &RecordingExecutions,
    timeline: &mut Timeline,
    options: &DemoOptions,
    id: MigrationId,
) -> Result<Status, StepError> {
    let ports = &f.ports;
    macro_rules! step {
        ($call:expr) => {
            match $call.await {
                Ok(v) => v,
                Err(e) => return fail(f, id, &e).await,
            }
        };
    }
    step!(steps::validate(ports, id));
    step!(steps::invite(ports, id));
    let token = TaskToken::new(format!("demo-token-{id}"));
    step!(steps::wait_for_handshake(ports, id, token.clone()));
    let handshake = f.store.get(id).await?.and_then(|m| m.handshake).expect("invited");
    timeline.customer(f.clock.now(), "asked to accept the invitation in the AWS console (My Organization → Invitations)");

    let answer_at = handshake.requested_at + Duration::hours(options.answer_after_hours);
    let mut answered = false;
    let outcome = loop {
        f.clock.advance(ports.settings.handshake_poll_interval);
        if !answered && f.clock.now() >= answer_at && f.clock.now() < handshake.expires_at {
            answered = true;
            match options.invitation {
                Invitation::Accept => {
                    f.sim.accept(&handshake.id).map_err(|e| StepError::Internal(e.to_string()))?;
                    timeline.customer(f.clock.now(), "accepted the invitation");
                    steps::account_joined(ports, &fixtures::account()).await?;
                }
                Invitation::Decline => {
                    f.sim.decline(&handshake.id).map_err(|e| StepError::Internal(e.to_string()))?;
                    timeline.customer(f.clock.now(), "declined the invitation");
                }
                Invitation::Ignore => answered = false,
            }
        }
        steps::sweep_handshakes(ports, 100).await?;
        if let Some(outcome) = recorder.outcome_for(&token) {
            break outcome;
        }
    };
    if let TokenOutcome::Failure { error, cause } = outcome {
        return Ok(steps::record_failure(ports, id, &error, &cause).await?.status);
    }

    let mut checks = 0;
    loop {
        let out = step!(steps::check_support(ports, id));
        if out.confirmed {
            break;
        }
        checks += 1;
        if checks == 1 {
            timeline.customer(f.clock.now(), "asked to upgrade to Business Support (root user, Support Center)");
        }
        f.clock.advance(Duration::seconds(out.wait_seconds));
        if !options.never_upgrade && checks == options.upgrade_after_checks {
            f.sim.set_support_plan(&fixtures::account(), SimSupportPlan::Business).map_err(|e| StepError::Internal(e.to_string()))?;
            timeline.customer(f.clock.now(), "upgraded to Business Support");
        }
    }
    step!(steps::schedule_hardening(ports, id));
    timeline.drain();
    // The hardening scan runs every 15 minutes.
    f.clock.advance(Duration::minutes(15));
    steps::hardening_scan(ports, 100, || true).await?;
    Ok(f.store.get(id).await?.expect("exists").status)
}

async fn fail(f: &Fixture, id: MigrationId, e: &StepError) -> Result<Status, StepError> {
    Ok(steps::record_failure(&f.ports, id, e.name(), &e.cause()).await?.status)
}
