//! `demo`: one migration end to end on the real state machine definition, run by the
//! in-process executor over the simulated AWS, on a virtual clock, with a simulated customer.
//! It prints the timeline from the store's change feed as it happens.

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use migration::ports::{ChangeFeed, MigrationStore};
use migration::record::StatusChanged;
use migration::request::AccessLevel;
use migration::{MigrationId, Status, StepError};
use migration::{progress, steps};
use migration_sim::SimSupportPlan;
use migration_sim::customers::{AccountKind, Answer, ScriptedCustomer};
use migration_sim::fixtures;
use migration_sim::usage::CostExplorer;
use tokio::sync::broadcast;

use crate::stack::LocalStack;

/// A year: past the invitation's 15 days every answer is the same.
pub const MAX_ANSWER_HOURS: i64 = 24 * 365;
/// Far past the checks any deadline allows.
pub const MAX_UPGRADE_CHECKS: i64 = 1000;

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
    /// Hours after the invitation before the customer answers it (0 to 8760; at 360 or more
    /// the invitation has expired).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(i64).range(0..=MAX_ANSWER_HOURS))]
    pub answer_after_hours: i64,
    /// Support checks that find Basic support before the customer upgrades (0 to 1000).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(0..=MAX_UPGRADE_CHECKS))]
    pub upgrade_after_checks: u32,
    /// The customer never upgrades support: the 14-day deadline passes.
    #[arg(long)]
    pub never_upgrade: bool,
    /// What the customer's AWS account is today: standalone, a member of another
    /// organization (a direct transfer), or the management account of its own organization
    /// (a billing transfer: it keeps its organization, the partner takes over its bill).
    #[arg(long, value_enum, default_value_t = Account::Standalone)]
    pub account: Account,
    /// How the account's Cost Explorer answers the usage snapshot: it has a history, the
    /// role may not read it, it was never enabled, or it throttles every request.
    #[arg(long, value_enum, default_value_t = CostExplorerMode::Enabled)]
    pub cost_explorer: CostExplorerMode,
    /// The request's `usage_snapshot`: `required` makes the migration wait for a snapshot.
    #[arg(long, value_enum, default_value_t = UsageSnapshot::Optional)]
    pub usage_snapshot: UsageSnapshot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CostExplorerMode {
    Enabled,
    Denied,
    NotEnabled,
    Throttled,
}

impl CostExplorerMode {
    fn sim(self) -> CostExplorer {
        match self {
            CostExplorerMode::Enabled => CostExplorer::Enabled,
            CostExplorerMode::Denied => CostExplorer::Denied,
            CostExplorerMode::NotEnabled => CostExplorer::NotEnabled,
            CostExplorerMode::Throttled => CostExplorer::Throttled,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UsageSnapshot {
    Optional,
    Required,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Account {
    Standalone,
    Member,
    Management,
}

impl Account {
    pub fn kind(self) -> AccountKind {
        match self {
            Account::Standalone => AccountKind::Standalone,
            Account::Member => AccountKind::Member,
            Account::Management => AccountKind::Management,
        }
    }

    /// The organization the simulated account is in.
    pub fn organization(self) -> migration::rules::CustomerOrganization {
        self.kind().organization()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Access {
    FullHardening,
    Optimized,
}

impl DemoOptions {
    /// The scripted customer these options describe.
    pub fn customer(&self) -> ScriptedCustomer {
        let after_hours = self.answer_after_hours;
        ScriptedCustomer {
            answer: match self.invitation {
                Invitation::Accept => Answer::Accept { after_hours },
                Invitation::Decline => Answer::Decline { after_hours },
                Invitation::Ignore => Answer::Ignore,
            },
            upgrade_after_checks: (!self.never_upgrade).then_some(self.upgrade_after_checks),
            access: self.access_level(),
            account: self.account.kind(),
            cost_explorer: self.cost_explorer.sim(),
            snapshot_required: self.usage_snapshot == UsageSnapshot::Required,
        }
    }

    /// The outcome these options should produce (the scripted customers' one table).
    pub fn expected(&self) -> Status {
        self.customer().expected(&fixtures::settings(), demo_start())
    }

    fn access_level(&self) -> AccessLevel {
        match self.access {
            Access::FullHardening => AccessLevel::FullHardening,
            Access::Optimized => AccessLevel::Optimized,
        }
    }
}

/// When the demo's customer asks to migrate (its virtual clock's start).
pub fn demo_start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-02T09:00:00Z").expect("valid").with_timezone(&Utc)
}

pub struct DemoReport {
    pub migration_id: MigrationId,
    /// A billing transfer's: when the partner started paying the bill.
    pub billing_starts_at: Option<DateTime<Utc>>,
    /// What the usage snapshot saved before the invitation, or why it could not.
    pub usage_snapshot: Option<migration::usage::SnapshotState>,
    pub outcome: Status,
    pub expected: Status,
    /// The error name of a failed migration (`Migration.UsageSnapshotRequired`, ...).
    pub failure: Option<String>,
    /// Invitations the simulated AWS received for the account (to join, or to transfer the
    /// bill).
    pub invitations: usize,
    /// The execution's state transitions, as Step Functions bills them.
    pub state_transitions: u64,
    /// Events in the execution's history.
    pub execution_events: usize,
    pub status_changes: usize,
    /// Entries in the migration's own history (audit trail).
    pub history_events: usize,
    pub simulated: Duration,
    pub wall: std::time::Duration,
}

struct Timeline {
    start: DateTime<Utc>,
    feed: broadcast::Receiver<StatusChanged>,
    changes: usize,
    store: std::sync::Arc<migration_sim::MemoryStore>,
    /// The history entries already printed besides the status changes (the usage snapshot's).
    printed: std::collections::BTreeSet<u64>,
}

impl Timeline {
    fn elapsed(&self, at: DateTime<Utc>) -> String {
        let d = at - self.start;
        format!("+{:>2}d {:02}h{:02}m", d.num_days(), d.num_hours() % 24, d.num_minutes() % 60)
    }

    /// Prints the status changes published since the last call, and what the customer is
    /// asked to do: the API's `next_action` (`migration::progress`), word for word. The usage
    /// snapshot's entries of the history (progress inside VALIDATED) come in their place.
    async fn drain(&mut self) {
        while let Ok(e) = self.feed.try_recv() {
            let history = self.store.history(e.migration_id).await.unwrap_or_default();
            for h in history.iter().filter(|h| h.seq < e.seq && h.note.starts_with("usage snapshot")) {
                if self.printed.insert(h.seq) {
                    println!("  {}  {:<26} {:<26} {}", self.elapsed(h.at), "", "", h.note);
                }
            }
            self.changes += 1;
            let from = e.from.map_or_else(|| "-".to_owned(), |s| s.to_string());
            println!("  {}  {:<26} {:<26} {}", self.elapsed(e.at), from, e.to.to_string(), e.note);
            if let Some((_, title)) = progress::asked_on_reaching(e.to) {
                // The acceptance ends the account's Cost Explorer history: download it first.
                let first = if matches!(e.to, Status::Invited | Status::TransferInvited)
                    && history.iter().any(|h| h.seq < e.seq && h.note.starts_with("usage snapshot taken"))
                {
                    "Download your usage history (usage_snapshot), then: "
                } else {
                    ""
                };
                println!("  {}  {:<26} {:<26} customer is asked: {first}{title}", self.elapsed(e.at), "", "");
            }
        }
    }

    async fn customer(&mut self, at: DateTime<Utc>, what: &str) {
        self.drain().await;
        println!("  {}  {:<26} {:<26} customer: {what}", self.elapsed(at), "", "");
    }
}

/// Runs one migration on the real state machine definition, the in-process executor and
/// the simulated AWS, on a virtual clock.
pub async fn run(options: &DemoOptions) -> Result<DemoReport, StepError> {
    let wall = Instant::now();
    let start = demo_start();
    let clock = asl::VirtualClock::new(start);
    let stack = LocalStack::new(asl::Clock::Virtual(clock.clone())).await.map_err(|e| StepError::Internal(e.to_string()))?;
    let f = &stack.fixture;
    let customer = options.customer();
    if let Some(checks) = customer.upgrade_after_checks {
        // The validate step's pre-check reads the plan too: it is not one of the customer's checks.
        f.sim.upgrade_support_after_checks(&fixtures::account(), checks + 1, SimSupportPlan::BusinessSupportPlus);
    }
    customer.set_up(&f.sim, &fixtures::account()).map_err(|e| StepError::Internal(e.to_string()))?;
    let mut timeline = Timeline { start, feed: f.store.subscribe(), changes: 0, store: f.store.clone(), printed: Default::default() };

    println!("  {:<12}  {:<26} {:<26} what happened", "sim time", "from", "to");
    let request = customer.request(fixtures::request(customer.access_level()));
    let created =
        steps::create_migration(&f.ports, &fixtures::admin(), &request, None).await.map_err(|e| StepError::Internal(e.to_string()))?;
    let id = created.record.id;
    let execution = stack.execution(id).ok_or_else(|| StepError::Internal("the execution did not start".into()))?;

    let outcome = drive(&stack, &clock, &execution, &mut timeline, customer, id).await?;
    timeline.drain().await;
    let record = f.store.get(id).await?.expect("exists");
    let final_status = if record.status == Status::HardeningScheduled || record.hardening.as_ref().is_some_and(|h| h.completed_at.is_none())
    {
        // The hardening scan runs every 15 minutes.
        clock.advance(std::time::Duration::from_secs(15 * 60));
        steps::hardening_scan(&f.ports, 100, || true).await?;
        timeline.drain().await;
        f.store.get(id).await?.expect("exists").status
    } else {
        record.status
    };
    let last = f.store.get(id).await?.expect("exists");
    let billing_starts_at = last.billing_transfer.and_then(|bt| bt.billing_starts_at);
    Ok(DemoReport {
        migration_id: id,
        billing_starts_at,
        usage_snapshot: last.usage_snapshot,
        failure: last.failure.map(|f| f.error),
        invitations: f.sim.invitations_to(&fixtures::account()).len() + f.sim.transfer_invitations_to(&fixtures::account()).len(),
        outcome: final_status,
        expected: customer.expected(&f.ports.settings, start),
        state_transitions: outcome.transitions,
        execution_events: outcome.history.len(),
        status_changes: timeline.changes,
        history_events: f.store.history(id).await?.len(),
        simulated: clock.now() - start,
        wall: wall.elapsed(),
    })
}

/// Lets the execution run; while it waits for the handshake, time passes in the watcher's
/// steps, the customer acts when due, and the watcher's sweep resolves the token.
async fn drive(
    stack: &LocalStack,
    clock: &asl::VirtualClock,
    execution: &asl::ExecutionHandle,
    timeline: &mut Timeline,
    customer: ScriptedCustomer,
    id: MigrationId,
) -> Result<asl::Outcome, StepError> {
    let f = &stack.fixture;
    let poll = f.ports.settings.handshake_poll_interval.to_std().expect("positive");
    let mut answered = false;
    loop {
        let progress = execution.run_until_blocked().await;
        timeline.drain().await;
        let record = f.store.get(id).await?.expect("exists");
        match progress {
            asl::Progress::Finished(outcome) => return Ok(*outcome),
            asl::Progress::Sleeping { until } => clock.advance((until - clock.now()).to_std().unwrap_or_default()),
            asl::Progress::AwaitingToken(_) => {
                let transfer = record.billing_transfer.is_some();
                let handshake = match &record.billing_transfer {
                    Some(bt) => bt.handshake.clone(),
                    None => record.handshake.clone(),
                }
                .expect("invited before waiting");
                clock.advance(poll);
                if let Some((after_hours, accept)) = customer.answer.after() {
                    let due = clock.now() >= handshake.requested_at + Duration::hours(after_hours);
                    if !answered && due && clock.now() < handshake.expires_at {
                        answered = true;
                        if transfer {
                            let (answer, what) = if accept {
                                (f.sim.accept_transfer(&handshake.id), "accepted the billing transfer in the Billing console")
                            } else {
                                (f.sim.decline_transfer(&handshake.id), "declined the billing transfer")
                            };
                            answer.map_err(|e| StepError::Internal(e.to_string()))?;
                            timeline.customer(clock.now(), what).await;
                        } else if accept {
                            let departed = f.sim.departures().len();
                            f.sim.accept(&handshake.id).map_err(|e| StepError::Internal(e.to_string()))?;
                            timeline.customer(clock.now(), "accepted the invitation").await;
                            for d in f.sim.departures().iter().skip(departed) {
                                timeline
                                    .customer(
                                        d.at,
                                        &format!(
                                            "moved directly out of organization {} (AccountDepartedOrganization, departureMethod {})",
                                            d.organization_id, d.departure_method
                                        ),
                                    )
                                    .await;
                            }
                            steps::account_joined(&f.ports, &fixtures::account()).await?;
                        } else {
                            f.sim.decline(&handshake.id).map_err(|e| StepError::Internal(e.to_string()))?;
                            timeline.customer(clock.now(), "declined the invitation").await;
                        }
                    }
                }
                steps::sweep_handshakes(&f.ports, 100).await?;
            }
        }
    }
}
