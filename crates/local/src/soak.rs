//! The soak and scale drivers: many migrations on the real state machine definition and
//! the in-process executor, all on one virtual clock, with transient faults injected in
//! every port (`migration_sim::faults`), including faults that strike after the side
//! effect; and the hardening scan behind the deployed rate limit. Each migration has its
//! own customer account and a scripted customer (`migration_sim::customers`) drawn from the
//! seed. The tests in `tests/soak.rs` run them small; the `soak` and `scan_scale` examples
//! run them long.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use crate::stack::{ExecutorClock, LocalExecutions, build_executor};
use api::http::{Method, StatusCode};
use chrono::{DateTime, Duration, Utc};
use migration::ports::{Clock, MigrationStore, Ports};
use migration::record::{EventKind, HandshakeState};
use migration::request::AccessLevel;
use migration::rules::Approval;
use migration::usage::{self, SnapshotDecision, SnapshotState};
use migration::{AwsAccountId, MigrationId, Settings, Status, steps};
use migration_sim::customers::{AccountKind, Answer, ScriptedCustomer};
use migration_sim::faults::{FaultConfig, FaultTally, Faults, XorShift, faulty_ports};
use migration_sim::fixtures;
use migration_sim::usage::CostExplorer;
use migration_sim::{MemoryStore, RoleTrust, SimAws, SimSupportPlan};

/// A scripted customer and when it asks to migrate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Behaviour {
    pub customer: ScriptedCustomer,
    /// Minutes after the start of the run when the customer asks to migrate.
    pub requested_after_minutes: i64,
}

impl Behaviour {
    fn draw(rng: &mut XorShift) -> Self {
        let roll = rng.range(0, 99);
        let answer = match roll {
            0..70 => Answer::Accept { after_hours: rng.range(1, 120) as i64 },
            70..85 => Answer::Decline { after_hours: rng.range(1, 120) as i64 },
            _ => Answer::Ignore,
        };
        let upgrade_after_checks = if rng.chance(0.2) { None } else { Some(rng.range(0, 5) as u32) };
        let access = if rng.chance(0.5) { AccessLevel::FullHardening } else { AccessLevel::Optimized };
        // Most accounts today are members of some organization: they move directly.
        let account = match rng.range(0, 99) {
            0..40 => AccountKind::Member,
            40..50 => AccountKind::Management,
            _ => AccountKind::Standalone,
        };
        // Most accounts have a Cost Explorer history the role may read; some do not, and a
        // good share of the customers require the snapshot.
        let cost_explorer = match rng.range(0, 99) {
            0..80 => CostExplorer::Enabled,
            80..87 => CostExplorer::Denied,
            87..94 => CostExplorer::NotEnabled,
            _ => CostExplorer::Throttled,
        };
        let snapshot_required = rng.chance(0.4);
        let customer = ScriptedCustomer { answer, upgrade_after_checks, access, account, cost_explorer, snapshot_required };
        Self { customer, requested_after_minutes: rng.range(0, 24 * 60) as i64 }
    }
}

#[derive(Debug, Clone)]
pub struct SoakOptions {
    pub migrations: usize,
    pub seed: u64,
    pub fault_rate: f64,
    pub after_effect_share: f64,
    /// Print progress once per simulated day.
    pub verbose: bool,
    /// The customers, one per migration, instead of drawing them from the seed.
    pub behaviours: Option<Vec<Behaviour>>,
    /// The partner's invitation quota, the ledger's and AWS's alike (`None`: the settings'
    /// default, 20, which AWS's own floor matches).
    pub invitations_per_24_hours: Option<u32>,
}

impl SoakOptions {
    pub fn new(migrations: usize, seed: u64, fault_rate: f64) -> Self {
        Self { migrations, seed, fault_rate, after_effect_share: 0.5, verbose: false, behaviours: None, invitations_per_24_hours: None }
    }
}

/// How the examples end: the summary, then the first 50 violations, if any, and failure.
pub fn finish(summary: &str, violations: &[String]) -> std::process::ExitCode {
    println!("{summary}");
    for v in violations.iter().take(50) {
        eprintln!("VIOLATION {v}");
    }
    if violations.is_empty() { std::process::ExitCode::SUCCESS } else { std::process::ExitCode::FAILURE }
}

#[derive(Debug, Default)]
pub struct SoakReport {
    pub migrations: usize,
    pub outcomes: BTreeMap<String, usize>,
    /// Every broken invariant, one line each. Empty means the run proved what it should.
    pub violations: Vec<String>,
    pub failed_unrecorded: usize,
    pub duplicate_invitations: usize,
    pub orphaned_locks: usize,
    pub missing_locks: usize,
    pub history_gaps: usize,
    pub unexpected_outcomes: usize,
    /// Finished records still holding a (dead) task token.
    pub stale_tokens: usize,
    pub tally: FaultTally,
    /// Transient task failures the definition retried (TaskFailed with Migration.Transient).
    pub transient_retries: u64,
    pub state_transitions: u64,
    /// Create requests answered 503 and retried with the same Idempotency-Key.
    pub create_retries: u64,
    /// Retried creates answered as a replay of the first attempt.
    pub create_replays: u64,
    pub sweep_errors: u64,
    /// Members of another organization that moved directly (AccountDepartedOrganization).
    pub direct_transfers: usize,
    /// Management accounts whose bill the partner pays (a billing transfer in force).
    pub billing_transfers: usize,
    /// Invitations the invite step deferred because the daily quota was used up (its
    /// history entries), and the migrations that waited at least once.
    pub invitation_deferrals: usize,
    pub deferred_migrations: usize,
    /// Invitations sent, by day of the run (0 = the first 24 hours).
    pub invitations_by_day: BTreeMap<i64, usize>,
    /// The most invitations sent within any 24 hours.
    pub most_invitations_in_24_hours: usize,
    /// Usage snapshots taken; migrations that went on without one; required ones that never
    /// came and failed the migration.
    pub snapshots_taken: usize,
    pub snapshots_skipped: usize,
    pub snapshots_required_failed: usize,
    pub simulated: Duration,
    pub wall: StdDuration,
}

impl SoakReport {
    pub fn summary(&self) -> String {
        let t = &self.tally;
        format!(
            "{} migrations; outcomes {:?}\n\
             faults: {} injected in {} port calls ({:.2}%), {} of them after the side effect\n\
             absorbed: {} transient task retries by the definition, {} create retries ({} replays), {} per-record sweep/scan failures retried on schedule\n\
             invariants: {} unexpected outcomes, {} FailedUnrecorded, {} duplicate invitations, {} orphaned locks, {} missing locks, {} history gaps; {} finished records holding a dead task token\n\
             {} direct transfers from another organization, {} billing transfers in force\n\
             invitations by day {:?} (at most {} in any 24 hours), {} deferrals of {} migrations\n\
             usage snapshots: {} taken, {} migrations went on without one, {} required ones failed the migration\n\
             {} state transitions; {}d {}h simulated in {:.1?} wall",
            self.migrations,
            self.outcomes,
            t.total_faults(),
            t.total_calls(),
            100.0 * t.total_faults() as f64 / t.total_calls().max(1) as f64,
            t.total_after_effect(),
            self.transient_retries,
            self.create_retries,
            self.create_replays,
            self.sweep_errors,
            self.unexpected_outcomes,
            self.failed_unrecorded,
            self.duplicate_invitations,
            self.orphaned_locks,
            self.missing_locks,
            self.history_gaps,
            self.stale_tokens,
            self.direct_transfers,
            self.billing_transfers,
            self.invitations_by_day,
            self.most_invitations_in_24_hours,
            self.invitation_deferrals,
            self.deferred_migrations,
            self.snapshots_taken,
            self.snapshots_skipped,
            self.snapshots_required_failed,
            self.state_transitions,
            self.simulated.num_days(),
            self.simulated.num_hours() % 24,
            self.wall,
        )
    }
}

struct Customer {
    account: AwsAccountId,
    behaviour: Behaviour,
    id: Option<MigrationId>,
    answered: bool,
}

pub fn start_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-02T09:00:00Z").expect("valid").with_timezone(&Utc)
}

pub fn account_number(i: usize) -> AwsAccountId {
    format!("{:012}", 100_000_000_000_u64 + i as u64).parse().expect("valid")
}

/// The request of `fixtures::request` for another account.
pub fn request_for(account: &AwsAccountId, access: AccessLevel) -> migration::request::MigrationRequest {
    let mut request = fixtures::request(access);
    request.aws_account_id = account.to_string();
    request.role_arn = fixtures::role(access).to_string().replace(fixtures::ACCOUNT, account.as_str());
    request
}

/// A standalone customer account with both roles trusting the ExternalId, approved by AWS.
pub async fn add_customer(sim: &SimAws, store: &dyn MigrationStore, account: &AwsAccountId, plan: SimSupportPlan, at: DateTime<Utc>) {
    let trust = || RoleTrust::ExternalId(fixtures::EXTERNAL_ID.parse().expect("valid"));
    let role = |access| request_for(account, access).role_arn.parse().expect("valid");
    sim.add_standalone_customer(&role(AccessLevel::FullHardening), trust(), plan);
    sim.update_customer(account, |c| {
        c.roles.insert(role(AccessLevel::Optimized), trust());
    })
    .expect("just added");
    let approval = Approval { account_id: account.clone(), ..fixtures::approval(at) };
    store.put_approval(&approval).await.expect("the memory store does not fail");
}

/// Resolves without waiting when the future is ready at its first poll.
async fn ready_now<F: std::future::Future>(f: F) -> Option<F::Output> {
    tokio::select! {
        biased;
        out = f => Some(out),
        () = std::future::ready(()) => None,
    }
}

/// Waits until no execution can progress by itself: each has finished, waits for a token
/// or sleeps on the frozen virtual clock.
async fn settle(handles: &[asl::ExecutionHandle]) {
    loop {
        let mut quiet = true;
        for h in handles {
            if h.status() != asl::Status::Running {
                continue;
            }
            if ready_now(h.run_until_blocked()).await.is_none() {
                quiet = false;
                h.run_until_blocked().await;
            }
        }
        if quiet {
            return;
        }
    }
}

/// Runs the soak and checks every invariant.
pub async fn run_soak(options: &SoakOptions) -> SoakReport {
    let wall = Instant::now();
    let start = start_time();
    let clock = asl::VirtualClock::new(start);
    // The customers, the watcher and the scan act at times of their own: time moves only
    // through the loop below, never by itself past a customer's request (when every
    // execution sleeps, say in the wait for an invitation slot).
    let _hold = clock.hold();
    let domain_clock: Arc<dyn Clock> = Arc::new(ExecutorClock(asl::Clock::Virtual(clock.clone())));

    // The world, observed by the test through these undecorated adapters.
    let store = Arc::new(MemoryStore::new());
    let sim = SimAws::new(fixtures::PARTNER.parse().expect("valid"), domain_clock.clone());
    fixtures::seed_store(store.as_ref(), start).await.expect("the memory store does not fail");
    let executions = Arc::new(LocalExecutions::default());
    let mut settings = fixtures::settings();
    if let Some(quota) = options.invitations_per_24_hours {
        settings.invitations_per_24_hours = quota;
        sim.set_account_quota(quota);
    }
    let clean = sim.ports(store.clone(), executions.clone(), domain_clock.clone(), settings);
    // What the system under test sees: every port faulty.
    let faults = Faults::new(FaultConfig { seed: options.seed, rate: options.fault_rate, after_effect_share: options.after_effect_share });
    let ports = faulty_ports(&clean, &faults);
    let executor = build_executor(&ports, &executions, asl::Clock::Virtual(clock.clone())).expect("the definition loads");
    let api = api::Api::new(ports.clone(), api::ApiConfig::default());

    let mut rng = XorShift::new(options.seed ^ 0x5EED_CAFE);
    let mut customers = Vec::with_capacity(options.migrations);
    for i in 0..options.migrations {
        let account = account_number(i);
        let behaviour = options.behaviours.as_ref().map_or_else(|| Behaviour::draw(&mut rng), |b| b[i]);
        add_customer(&sim, store.as_ref(), &account, SimSupportPlan::Basic, start).await;
        behaviour.customer.set_up(&sim, &account).expect("just added");
        if let Some(k) = behaviour.customer.upgrade_after_checks {
            // The validate step's pre-check reads the plan too.
            sim.upgrade_support_after_checks(&account, k + 1, SimSupportPlan::BusinessSupportPlus);
        }
        customers.push(Customer { account, behaviour, id: None, answered: false });
    }

    let mut report = SoakReport { migrations: options.migrations, ..Default::default() };
    let tick = Duration::minutes(5);
    let sweep_every = ports.settings.handshake_poll_interval;
    let scan_every = Duration::minutes(15);
    let mut next_sweep = start;
    let mut next_scan = start;
    let limit = 100_u32.max(options.migrations as u32);
    let give_up = start + Duration::days(60);
    let mut handles: Vec<asl::ExecutionHandle> = Vec::new();
    let mut known: HashSet<MigrationId> = HashSet::new();
    let mut last_day = -1;

    loop {
        settle(&handles).await;
        let now = clock.now();

        // Customers ask to migrate when their time comes, through the API, retrying a 503
        // with the same Idempotency-Key as a client should.
        for (i, c) in customers.iter_mut().enumerate() {
            if c.id.is_some() || now < start + Duration::minutes(c.behaviour.requested_after_minutes) {
                continue;
            }
            let request = c.behaviour.customer.request(request_for(&c.account, c.behaviour.customer.access_level()));
            let body = serde_json::to_value(request).expect("serializes");
            let key = format!("soak-{}-{i}", options.seed);
            for attempt in 0.. {
                let request = api::ApiRequest::new(
                    Method::POST,
                    "/migrations",
                    api::Identity::Customer(fixtures::admin()),
                    &format!("r{i}-{attempt}"),
                )
                .with_header("idempotency-key", &key)
                .with_json(&body);
                let response = api.handle(request).await;
                match response.status {
                    StatusCode::ACCEPTED => {
                        if response.header("idempotent-replayed").is_some() {
                            report.create_replays += 1;
                        }
                        c.id = Some(response.json()["id"].as_str().expect("an id").parse().expect("a migration id"));
                        break;
                    }
                    StatusCode::SERVICE_UNAVAILABLE if attempt < 50 => report.create_retries += 1,
                    other => panic!("create for {} answered {other}: {}", c.account, response.json()),
                }
            }
        }
        // Executions started by the API or, after a failed start, by the watcher.
        for c in &customers {
            if let Some(id) = c.id
                && !known.contains(&id)
                && let Some(h) = executor.execution(&id.to_string())
            {
                known.insert(id);
                handles.push(h);
            }
        }
        settle(&handles).await;

        // Customers answer their invitation when they said they would.
        for c in customers.iter_mut().filter(|c| c.id.is_some() && !c.answered) {
            let Some((after, accept)) = c.behaviour.customer.answer.after() else { continue };
            // A management account answers a billing-transfer invitation, in the Billing console.
            let transfer = c.behaviour.customer.account == AccountKind::Management;
            let invitations = if transfer { sim.transfer_invitations_to(&c.account) } else { sim.invitations_to(&c.account) };
            let Some(open) = invitations.into_iter().find(|h| h.state == HandshakeState::Open) else { continue };
            if now < open.requested_at + Duration::hours(after) {
                continue;
            }
            c.answered = true;
            if transfer {
                // No event follows: the watcher's sweep polls the transfer.
                if accept {
                    sim.accept_transfer(&open.id).expect("open");
                } else {
                    sim.decline_transfer(&open.id).expect("open");
                }
            } else if accept {
                sim.accept(&open.id).expect("open");
                // AccountJoinedOrganization; when it fails, the watcher's sweep catches up.
                if steps::account_joined(&ports, &c.account).await.is_err() {
                    report.sweep_errors += 1;
                }
            } else {
                sim.decline(&open.id).expect("open");
            }
        }

        // The scheduled functions (each run may fail on a fault; the schedule runs it again).
        if now >= next_sweep {
            next_sweep = now + sweep_every;
            report.sweep_errors += u64::from(steps::sweep_unstarted(&ports, limit).await.map_or(1, |r| r.failed));
            report.sweep_errors += u64::from(steps::sweep_handshakes(&ports, limit).await.map_or(1, |r| r.failed));
        }
        if now >= next_scan {
            next_scan = now + scan_every;
            report.sweep_errors += u64::from(steps::hardening_scan(&ports, limit, || true).await.map_or(1, |r| r.failed));
        }
        settle(&handles).await;

        let day = (clock.now() - start).num_days();
        if options.verbose && day != last_day {
            last_day = day;
            let running = handles.iter().filter(|h| h.status() == asl::Status::Running).count();
            eprintln!(
                "  day {day:>2}: {} requested, {running} executions running, {} faults so far",
                known.len(),
                faults.tally().total_faults()
            );
        }

        let all_requested = customers.iter().all(|c| c.id.is_some()) && known.len() == customers.len();
        let all_ended = handles.iter().all(|h| h.status() != asl::Status::Running);
        let records = store.all();
        let all_final = records.iter().all(|m| m.status.is_terminal() && m.hardening.as_ref().is_none_or(|j| j.completed_at.is_some()));
        if (all_requested && all_ended && all_final) || clock.now() >= give_up {
            break;
        }

        // Time passes, one deadline at a time, up to the next tick.
        let until = clock.now() + tick;
        while let Some(deadline) = clock.next_deadline()
            && deadline <= until
        {
            clock.advance_to_next_deadline();
            settle(&handles).await;
        }
        if clock.now() < until {
            clock.advance((until - clock.now()).to_std().expect("positive"));
        }
    }

    faults.set_enabled(false);
    report.tally = faults.tally();
    report.simulated = clock.now() - start;
    check(&mut report, &customers, &executor, store.as_ref(), &sim, &clean).await;
    check_invitation_pace(&mut report, &sim, start, clean.settings.invitations_per_24_hours);
    report.wall = wall.elapsed();
    report
}

/// Every invariant, observed through the undecorated adapters.
async fn check(
    report: &mut SoakReport,
    customers: &[Customer],
    executor: &asl::Executor,
    store: &MemoryStore,
    sim: &SimAws,
    clean: &Ports,
) {
    let locks: BTreeMap<AwsAccountId, MigrationId> = store.locks().into_iter().collect();
    let bucket: HashSet<String> = sim.snapshots().keys().into_iter().collect();
    let settings = &clean.settings;
    for c in customers {
        let Some(id) = c.id else {
            report.violations.push(format!("{}: never requested", c.account));
            continue;
        };
        let record = store.get(id).await.expect("memory").expect("the record exists");
        *report.outcomes.entry(record.status.to_string()).or_default() += 1;
        let expected = c.behaviour.customer.expected(settings, record.requested_at);
        if record.status != expected {
            report.unexpected_outcomes += 1;
            let why = record.failure.as_ref().map(|f| format!(" ({}: {})", f.error, f.cause)).unwrap_or_default();
            report.violations.push(format!("{id} ({:?}): ended {}{why} instead of {expected}", c.behaviour, record.status));
        }

        // The execution: ended, and never through FailedUnrecorded.
        match executor.execution(&id.to_string()) {
            None => report.violations.push(format!("{id}: no execution")),
            Some(h) => {
                let outcome = h.describe();
                report.state_transitions += outcome.transitions;
                report.transient_retries += outcome
                    .history
                    .iter()
                    .filter(|e| e.event_type == "TaskFailed" && e.detail_str("error") == Some("Migration.Transient"))
                    .count() as u64;
                if outcome.states_entered().contains(&"FailedUnrecorded") {
                    report.failed_unrecorded += 1;
                    report.violations.push(format!("{id}: FailedUnrecorded ({:?})", outcome.cause));
                }
                let want = if record.status.is_failure() { asl::Status::Failed } else { asl::Status::Succeeded };
                if outcome.status != want {
                    report.violations.push(format!("{id}: execution {} for a {} migration", outcome.status, record.status));
                }
            }
        }

        // One invitation per migration, ever (to join, or to transfer the bill); none for a
        // refused or failed one.
        let invitations = if c.behaviour.customer.account == AccountKind::Management {
            sim.transfer_invitations_to(&c.account).len()
        } else {
            sim.invitations_to(&c.account).len()
        };
        // A required snapshot that never came failed the migration before its invitation.
        let want = if matches!(expected, Status::Rejected | Status::Failed) { 0 } else { 1 };
        if invitations != want {
            report.duplicate_invitations += usize::from(invitations > 1);
            report.violations.push(format!("{id}: {invitations} invitations, not {want}"));
        }

        // A member moved out of its old organization exactly when it joined ours.
        let departed = sim.departures().iter().filter(|d| d.account_id == c.account).count();
        let moved = c.behaviour.customer.account == AccountKind::Member && record.joined_at.is_some();
        if departed != usize::from(moved) {
            report.violations.push(format!("{id}: {departed} departures from the old organization ({:?})", c.behaviour));
        }
        report.direct_transfers += departed;

        // A billing transfer in force started at 00:00 UTC on the first of a month (invoicing
        // depends on it) and has its billing group; one that never came into force has neither.
        if let Some(bt) = &record.billing_transfer {
            let in_force = matches!(record.status, Status::Completed | Status::SupportUpgradeTimedOut);
            match (bt.billing_starts_at, &bt.billing_group) {
                (Some(at), Some(_)) if in_force && at == bt.start_month.start() => report.billing_transfers += 1,
                (None, None) if !in_force => {}
                (at, group) => report.violations.push(format!(
                    "{id}: a {} billing transfer with billing_starts_at {at:?} (month {}) and billing group {group:?}",
                    record.status, bt.start_month
                )),
            }
        }

        let history = store.history(id).await.expect("memory");
        check_snapshot(report, c, &record, &history, &bucket);

        // The lock exists iff the migration succeeded.
        let holds = locks.get(&c.account) == Some(&id);
        let succeeded = matches!(record.status, Status::Hardened | Status::Completed);
        if holds && !succeeded {
            report.orphaned_locks += 1;
            report.violations.push(format!("{id}: lock held by a {} migration", record.status));
        }
        if succeeded && !holds {
            report.missing_locks += 1;
            report.violations.push(format!("{id}: {} without its lock", record.status));
        }

        // The history: strictly increasing seqs, a path of allowed transitions from
        // REQUESTED, ending at the record's status; no token anywhere.
        let deferrals = history.iter().filter(|e| e.note.starts_with("invitation deferred")).count();
        report.invitation_deferrals += deferrals;
        report.deferred_migrations += usize::from(deferrals > 0);
        let mut gap = None;
        if history.windows(2).any(|w| w[0].seq >= w[1].seq) {
            gap = Some("sequence numbers not strictly increasing".to_owned());
        }
        let mut current: Option<Status> = None;
        for e in &history {
            match (&e.kind, current) {
                (EventKind::StatusChanged, None) if e.from.is_none() && e.to == Status::Requested => current = Some(e.to),
                (EventKind::StatusChanged, Some(s)) if e.from == Some(s) && s.can_become(e.to) => current = Some(e.to),
                (EventKind::Progress, Some(s)) if e.to == s => {}
                _ => {
                    gap.get_or_insert_with(|| {
                        format!("entry {} ({:?} {:?} -> {}) does not follow {current:?}", e.seq, e.kind, e.from, e.to)
                    });
                }
            }
        }
        if current != Some(record.status) {
            gap.get_or_insert_with(|| format!("history ends at {current:?}, the record is {}", record.status));
        }
        if let Some(gap) = gap {
            report.history_gaps += 1;
            report.violations.push(format!("{id}: history: {gap}"));
        }
        if record.task_token.is_some() && record.status.is_terminal() {
            // A success delivered, then reported failed (fault after the effect), lets the
            // execution leave JOINED before the watcher clears the token; check-support now
            // forgets the spent token itself, so a finished record never keeps one.
            report.stale_tokens += 1;
            report.violations.push(format!("{id}: a finished record still holds a task token"));
        }

        // Succeeded accounts carry their baseline, applied once; a billing transfer's
        // account stays in the customer's own organization, hardened by nothing.
        if succeeded && record.billing_transfer.is_some() {
            if record.hardening.is_some() || sim.member_view(&c.account).is_some() {
                report.violations.push(format!("{id}: a billing transfer's account was hardened or joined the partner organization"));
            }
        } else if succeeded {
            let full = c.behaviour.customer.access == AccessLevel::FullHardening;
            let job = record.hardening.as_ref();
            let applied: Vec<_> = job.map(|j| j.applied.iter().map(|a| a.control.clone()).collect()).unwrap_or_default();
            let planned = steps::planned_controls(settings, full);
            if applied != planned {
                report.violations.push(format!("{id}: controls applied {applied:?}, planned {planned:?}"));
            }
            let (parent, _, _) = sim.member_view(&c.account).unwrap_or_default();
            let ou = if full { &settings.hardened_ou_id } else { &settings.onboarding_ou_id };
            let under = sim.effective_scps(&c.account);
            let required = steps::baseline_ous(settings).into_iter().find(|(o, _)| o == ou).map(|(_, scps)| scps).unwrap_or_default();
            if &parent != ou || !required.iter().all(|scp| under.contains(scp)) {
                report.violations.push(format!("{id}: the account sits in {parent} under {under:?}, not under {required:?}"));
            }
        }
    }
}

/// The usage snapshot: taken when the account's Cost Explorer has a history (every file it
/// lists is in the bucket), or failed for the account's reason (or, after the retries, for an
/// injected fault that can pass); a required one that never came failed the migration with
/// `Migration.UsageSnapshotRequired`, an optional one went on. The history's last word on the
/// snapshot is the decision the record holds.
fn check_snapshot(
    report: &mut SoakReport,
    c: &Customer,
    record: &migration::Migration,
    history: &[migration::record::HistoryEvent],
    bucket: &HashSet<String>,
) {
    let id = record.id;
    let customer = c.behaviour.customer;
    let last_note = history.iter().rev().find(|e| e.note.starts_with("usage snapshot")).map(|e| e.note.as_str());
    match &record.usage_snapshot {
        None if record.status == Status::Rejected => {}
        Some(SnapshotState::Taken { files, .. }) if customer.cost_explorer == CostExplorer::Enabled => {
            report.snapshots_taken += 1;
            let missing: Vec<_> = files.iter().filter(|f| !bucket.contains(&format!("{}{f}", usage::prefix(id)))).collect();
            if !missing.is_empty() {
                report.violations.push(format!("{id}: snapshot files {missing:?} are not in the bucket"));
            }
            if !last_note.is_some_and(|n| n.starts_with("usage snapshot taken")) {
                report.violations.push(format!("{id}: a taken snapshot, the history says {last_note:?}"));
            }
        }
        Some(SnapshotState::Failed { code, retryable, then, waiting_since, .. })
            if customer.cost_explorer != CostExplorer::Enabled || *retryable =>
        {
            // The code the account's own refusal has (the domain's table, not a copy of it).
            let reason = customer.cost_explorer.refusal().map(|e| usage::SnapshotError::Usage(e).code());
            if reason != Some(code.as_str()) && !retryable {
                report
                    .violations
                    .push(format!("{id}: snapshot failed with {code}, the account's Cost Explorer is {:?}", customer.cost_explorer));
            }
            let failure = record.failure.as_ref().map(|f| f.error.as_str());
            match (customer.snapshot_required, then) {
                // Failed after the whole wait, not before.
                (true, SnapshotDecision::GaveUp)
                    if failure == Some(migration::error::names::USAGE_SNAPSHOT_REQUIRED)
                        && waiting_since.is_some_and(|w| {
                            record.failure.as_ref().is_some_and(|f| f.at - w >= migration::steps::USAGE_SNAPSHOT_WAIT)
                        }) =>
                {
                    report.snapshots_required_failed += 1
                }
                (false, SnapshotDecision::GoesOn) if failure.is_none_or(|f| f != migration::error::names::USAGE_SNAPSHOT_REQUIRED) => {
                    report.snapshots_skipped += 1;
                }
                (required, then) => report.violations.push(format!(
                    "{id}: snapshot {code} decided {then:?} (required: {required}), the migration ended {} with {failure:?}",
                    record.status
                )),
            }
            if !last_note.is_some_and(|n| n.starts_with("usage snapshot not taken") && n.ends_with(then.describe())) {
                report.violations.push(format!("{id}: the snapshot decided {then:?}, the history's last word is {last_note:?}"));
            }
        }
        other => report
            .violations
            .push(format!("{id}: snapshot {other:?} for Cost Explorer {:?}, a {} migration", customer.cost_explorer, record.status)),
    }
}

/// The pace of the invitations: by day, and never more than the quota in any 24 hours (a
/// sliding window over every invitation the organization sent).
fn check_invitation_pace(report: &mut SoakReport, sim: &SimAws, start: DateTime<Utc>, quota: u32) {
    let mut sent: Vec<DateTime<Utc>> = sim.invitations().iter().map(|h| h.requested_at).collect();
    sent.sort();
    for at in &sent {
        *report.invitations_by_day.entry((*at - start).num_days()).or_default() += 1;
    }
    report.most_invitations_in_24_hours = sent
        .iter()
        .enumerate()
        .map(|(i, first)| sent[i..].iter().take_while(|at| **at < *first + Duration::hours(24)).count())
        .max()
        .unwrap_or(0);
    if report.most_invitations_in_24_hours > quota as usize {
        report.violations.push(format!("{} invitations within 24 hours, over the quota of {quota}", report.most_invitations_in_24_hours));
    }
}

// ---------------------------------------------------------------------------------------
// Scale of the hardening scan
//
// The scan's Organizations calls go through `RateLimitedOrganizations` as deployed, but the
// spacing itself is applied on a manual clock: every call starts at least `min_interval`
// after the previous one (the limiter's rule), and the in-memory calls take no time, so the
// virtual time of a run is exactly the rate-limited time. Hours of schedule take seconds,
// without tokio's paused clock (a feature the local crate does not enable).

/// Counts Organizations calls per account and operation, spaces them on the manual clock,
/// and can cut a run short right after a given call returned (a function killed between a
/// side effect and its record).
struct PacedOrganizations {
    inner: Arc<dyn migration::ports::Organizations>,
    clock: Arc<migration_sim::ManualClock>,
    interval: Duration,
    last_call: std::sync::Mutex<Option<DateTime<Utc>>>,
    total: std::sync::Mutex<BTreeMap<&'static str, u64>>,
    per_account: std::sync::Mutex<BTreeMap<(AwsAccountId, &'static str), u64>>,
    /// Calls that concern no account: the per-run check of the baseline OUs.
    shared: std::sync::Mutex<u64>,
    cut_after: std::sync::Mutex<Option<u64>>,
    cut: tokio::sync::Notify,
}

impl PacedOrganizations {
    fn call(&self, op: &'static str, account: Option<&AwsAccountId>) {
        {
            let mut last = self.last_call.lock().unwrap();
            if let Some(previous) = *last
                && self.clock.now() < previous + self.interval
            {
                self.clock.set(previous + self.interval);
            }
            *last = Some(self.clock.now());
        }
        *self.total.lock().unwrap().entry(op).or_default() += 1;
        match account {
            Some(a) => *self.per_account.lock().unwrap().entry((a.clone(), op)).or_default() += 1,
            None => *self.shared.lock().unwrap() += 1,
        }
    }

    /// Whether the run is killed now, after this call's effect and before its record.
    fn returned(&self) -> bool {
        let mut cut = self.cut_after.lock().unwrap();
        if let Some(n) = cut.as_mut() {
            *n = n.saturating_sub(1);
            if *n == 0 {
                *cut = None;
                self.cut.notify_one();
                return true;
            }
        }
        false
    }
}

macro_rules! paced {
    ($self:ident, $op:literal, $account:expr, $call:expr) => {{
        $self.call($op, $account);
        let out = $call.await;
        if $self.returned() {
            // Killed here: the effect happened, the scan never records it.
            std::future::pending::<()>().await;
        }
        out
    }};
}

#[async_trait::async_trait]
impl migration::ports::Organizations for PacedOrganizations {
    async fn invite_account(
        &self,
        account: &AwsAccountId,
        m: MigrationId,
    ) -> Result<migration::record::Handshake, migration::error::OrgError> {
        paced!(self, "InviteAccountToOrganization", Some(account), self.inner.invite_account(account, m))
    }
    async fn describe_handshake(
        &self,
        id: &migration::HandshakeId,
        account: &AwsAccountId,
    ) -> Result<migration::record::Handshake, migration::error::OrgError> {
        paced!(self, "DescribeHandshake", None, self.inner.describe_handshake(id, account))
    }
    async fn cancel_handshake(
        &self,
        id: &migration::HandshakeId,
        account: &AwsAccountId,
    ) -> Result<migration::record::Handshake, migration::error::OrgError> {
        paced!(self, "CancelHandshake", None, self.inner.cancel_handshake(id, account))
    }
    async fn membership(&self, account: &AwsAccountId) -> Result<Option<migration::ports::Membership>, migration::error::OrgError> {
        paced!(self, "DescribeAccount", Some(account), self.inner.membership(account))
    }
    async fn parent_of(&self, account: &AwsAccountId) -> Result<String, migration::error::OrgError> {
        paced!(self, "ListParents", Some(account), self.inner.parent_of(account))
    }
    async fn move_account(&self, account: &AwsAccountId, from: &str, to: &str) -> Result<(), migration::error::OrgError> {
        paced!(self, "MoveAccount", Some(account), self.inner.move_account(account, from, to))
    }
    async fn scps_of(&self, target: &str) -> Result<Vec<String>, migration::error::OrgError> {
        paced!(self, "ListPoliciesForTarget", None, self.inner.scps_of(target))
    }
    async fn attach_policy(&self, policy_id: &str, target: &str) -> Result<(), migration::error::OrgError> {
        let account = target.parse::<AwsAccountId>().ok();
        paced!(self, "AttachPolicy", account.as_ref(), self.inner.attach_policy(policy_id, target))
    }
    async fn tag_account(&self, account: &AwsAccountId, tags: &[(String, String)]) -> Result<(), migration::error::OrgError> {
        paced!(self, "TagResource", Some(account), self.inner.tag_account(account, tags))
    }
}

#[derive(Debug, Clone)]
pub struct ScanOptions {
    pub jobs: usize,
    /// Share of the jobs that are Full Hardening (the rest Optimized).
    pub full_share: f64,
    /// The limiter's spacing of Organizations calls.
    pub min_interval: StdDuration,
    /// The function's timeout and the scan's reserve: a run starts jobs while more than the
    /// reserve is left.
    pub run_timeout: StdDuration,
    pub reserve: StdDuration,
    pub schedule: StdDuration,
    /// Jobs per run (SWEEP_LIMIT).
    pub limit: u32,
    /// This run (1-based) is killed right after its n-th Organizations call returned.
    pub interrupt: Option<(usize, u64)>,
    pub verbose: bool,
}

impl ScanOptions {
    /// As deployed: one call a second, 300 s functions with 20 s in reserve, every 15
    /// minutes, 100 jobs a run; the second run killed mid-job.
    pub fn deployed(jobs: usize) -> Self {
        Self {
            jobs,
            full_share: 0.5,
            min_interval: migration::throttle::DEFAULT_MIN_INTERVAL,
            run_timeout: StdDuration::from_secs(300),
            reserve: StdDuration::from_secs(20),
            schedule: StdDuration::from_secs(15 * 60),
            limit: 100,
            interrupt: Some((2, 47)),
            verbose: false,
        }
    }
}

#[derive(Debug, Default)]
pub struct ScanScaleReport {
    pub jobs: usize,
    pub full_jobs: usize,
    pub runs: usize,
    pub interrupted_runs: usize,
    /// Organizations calls made by the scan, per operation.
    pub calls: BTreeMap<&'static str, u64>,
    /// Each including its share of the per-run OU check (`ou_check_calls` over all jobs).
    pub calls_per_full_job: f64,
    pub calls_per_optimized_job: f64,
    /// The calls of the baseline-OU check (ListPoliciesForTarget, AttachPolicy on the OUs),
    /// made once per run, not per account.
    pub ou_check_calls: u64,
    /// From the first run's start to the end of the last run (virtual).
    pub elapsed: StdDuration,
    /// Time spent inside runs (virtual).
    pub busy: StdDuration,
    /// Accounts with more mutating calls than planned (an idempotent control re-applied
    /// after the interruption).
    pub repeated_calls_accounts: usize,
    pub violations: Vec<String>,
    pub setup_wall: StdDuration,
    pub wall: StdDuration,
}

impl ScanScaleReport {
    pub fn summary(&self) -> String {
        let minutes = self.elapsed.as_secs_f64() / 60.0;
        let busy_minutes = self.busy.as_secs_f64() / 60.0;
        format!(
            "{} hardening jobs ({} Full Hardening), Organizations calls spaced 1 per interval\n\
             Organizations calls: {:?}\n\
             calls per job: {:.2} Full Hardening, {:.2} Optimized, each including {:.3} for the baseline-OU check ({} calls, once per run)\n\
             {} scan runs ({} killed mid-job, resumed by the next); all done after {:.1} h of schedule ({:.2} accounts/min), {:.1} h inside runs ({:.2} accounts/min while running)\n\
             {} accounts with a repeated idempotent call after the kill; violations: {}\n\
             setup {:.1?}, scans {:.1?} wall",
            self.jobs,
            self.full_jobs,
            self.calls,
            self.calls_per_full_job,
            self.calls_per_optimized_job,
            self.ou_check_calls as f64 / self.jobs.max(1) as f64,
            self.ou_check_calls,
            self.runs,
            self.interrupted_runs,
            minutes / 60.0,
            self.jobs as f64 / minutes,
            busy_minutes / 60.0,
            self.jobs as f64 / busy_minutes,
            self.repeated_calls_accounts,
            self.violations.len(),
            self.setup_wall,
            self.wall,
        )
    }
}

/// `jobs` migrations brought to HARDENING_SCHEDULED (or COMPLETED with a pending baseline)
/// through the real steps, then the scan on its schedule until every job is done.
pub async fn run_scan_scale(options: &ScanOptions) -> ScanScaleReport {
    let setup = Instant::now();
    let start = start_time();
    let manual = Arc::new(migration_sim::ManualClock::new(start));
    let clock: Arc<dyn Clock> = manual.clone();
    let store = Arc::new(MemoryStore::new());
    let sim = SimAws::new(fixtures::PARTNER.parse().expect("valid"), clock.clone());
    fixtures::seed_store(store.as_ref(), start).await.expect("memory");
    // The setup invites every account at the same instant; the daily invitation quota is not
    // what this run measures, so both AWS's and the ledger's are out of the way.
    sim.set_account_quota(u32::MAX);
    let settings = Settings { invitations_per_24_hours: u32::MAX, ..fixtures::settings() };
    let plain = sim.ports(store.clone(), Arc::new(migration_sim::RecordingExecutions::default()), clock.clone(), settings);

    let mut rng = XorShift::new(7);
    let mut full = BTreeMap::new();
    for i in 0..options.jobs {
        let account = account_number(i);
        let access = if rng.chance(options.full_share) { AccessLevel::FullHardening } else { AccessLevel::Optimized };
        add_customer(&sim, store.as_ref(), &account, SimSupportPlan::Business, start).await;
        let created = steps::create_migration(&plain, &fixtures::admin(), &request_for(&account, access), None).await.expect("created");
        let id = created.record.id;
        steps::validate(&plain, id).await.expect("valid");
        steps::invite(&plain, id).await.expect("invited");
        let open = sim.invitations_to(&account).pop().expect("one invitation");
        sim.accept(&open.id).expect("open");
        steps::account_joined(&plain, &account).await.expect("joined");
        assert!(steps::check_support(&plain, id).await.expect("checked").confirmed);
        steps::schedule_hardening(&plain, id).await.expect("scheduled");
        full.insert(id, access == AccessLevel::FullHardening);
    }
    let setup_wall = setup.elapsed();

    let wall = Instant::now();
    let interval = Duration::from_std(options.min_interval).expect("fits");
    let paced = Arc::new(PacedOrganizations {
        inner: plain.orgs.clone(),
        clock: manual.clone(),
        interval,
        last_call: std::sync::Mutex::new(None),
        total: std::sync::Mutex::default(),
        per_account: std::sync::Mutex::default(),
        shared: std::sync::Mutex::default(),
        cut_after: std::sync::Mutex::new(None),
        cut: tokio::sync::Notify::new(),
    });
    // As deployed: the scan's port is the limiter around the Organizations adapter. Its own
    // tokio pauses are zero here; the manual clock carries the spacing.
    let limited =
        migration::throttle::RateLimitedOrganizations::new(paced.clone() as Arc<dyn migration::ports::Organizations>, StdDuration::ZERO);
    let scan_ports = Ports { orgs: Arc::new(limited), ..plain.clone() };
    let mut report =
        ScanScaleReport { jobs: options.jobs, full_jobs: full.values().filter(|f| **f).count(), setup_wall, ..Default::default() };
    let first = manual.now();
    let timeout = Duration::from_std(options.run_timeout).expect("fits");
    let budget = timeout - Duration::from_std(options.reserve).expect("fits");
    loop {
        let run_start = manual.now();
        report.runs += 1;
        let keep_going = {
            let manual = manual.clone();
            move || manual.now() < run_start + budget
        };
        let scan = steps::hardening_scan(&scan_ports, options.limit, keep_going);
        let outcome = match options.interrupt {
            Some((run, calls)) if run == report.runs => {
                report.interrupted_runs += 1;
                *paced.cut_after.lock().unwrap() = Some(calls);
                tokio::select! {
                    biased;
                    () = paced.cut.notified() => None,
                    r = scan => Some(r),
                }
            }
            _ => Some(scan.await),
        };
        let run_end = manual.now();
        if run_end - run_start > timeout {
            report.violations.push(format!(
                "run {} lasted {}s, past the function's timeout",
                report.runs,
                (run_end - run_start).num_seconds()
            ));
        }
        report.busy += (run_end - run_start).to_std().expect("forward");
        let pending = store.all().iter().filter(|m| m.hardening.as_ref().is_some_and(|j| j.completed_at.is_none())).count();
        if options.verbose {
            eprintln!(
                "  run {:>4} at +{:>7.1} min: {:?}; {pending} jobs left",
                report.runs,
                (run_start - first).num_seconds() as f64 / 60.0,
                outcome
            );
        }
        if pending == 0 {
            report.elapsed = (run_end - first).to_std().expect("forward");
            break;
        }
        assert!(report.runs < 1_000_000, "the scan does not converge");
        let next = run_start + Duration::from_std(options.schedule).expect("fits");
        if manual.now() < next {
            manual.set(next);
        }
    }
    report.calls = paced.total.lock().unwrap().clone();

    // Every job done once: each control recorded once, one HARDENED for Full Hardening,
    // the account where it belongs, mutating calls as planned (one idempotent repeat allowed
    // where the run was killed between a call and its record).
    let settings = &plain.settings;
    let per_account = paced.per_account.lock().unwrap().clone();
    let (mut full_calls, mut optimized_calls) = (0u64, 0u64);
    for (id, is_full) in &full {
        let record = store.get(*id).await.expect("memory").expect("exists");
        let job = record.hardening.as_ref().expect("a job");
        let applied: Vec<_> = job.applied.iter().map(|a| a.control.clone()).collect();
        if applied != steps::planned_controls(settings, *is_full) {
            report.violations.push(format!("{id}: applied {applied:?}"));
        }
        let want = if *is_full { Status::Hardened } else { Status::Completed };
        if record.status != want {
            report.violations.push(format!("{id}: {} instead of {want}", record.status));
        }
        let history = store.history(*id).await.expect("memory");
        let hardened = history.iter().filter(|e| e.kind == EventKind::StatusChanged && e.to == Status::Hardened).count();
        if hardened != usize::from(*is_full) {
            report.violations.push(format!("{id}: {hardened} HARDENED entries"));
        }
        let (parent, attached, _) = sim.member_view(&record.aws_account_id).unwrap_or_default();
        let ou = if *is_full { &settings.hardened_ou_id } else { &settings.onboarding_ou_id };
        let under = sim.effective_scps(&record.aws_account_id);
        let required = if *is_full { 1 + settings.hardening_scp_ids.len() } else { 1 };
        // Under FullAWSAccess and the OU's SCPs; nothing attached to the account itself.
        if &parent != ou || under.len() != 1 + required || attached != [migration_sim::FULL_AWS_ACCESS] {
            report.violations.push(format!("{id}: in {parent} under {under:?}, attached {attached:?}"));
        }
        let account = &record.aws_account_id;
        let calls = |op| per_account.get(&(account.clone(), op)).copied().unwrap_or(0);
        let done = (calls("MoveAccount"), calls("AttachPolicy"), calls("TagResource"));
        let planned = if *is_full { (2, 0, 1) } else { (1, 0, 0) };
        if done != planned {
            report.repeated_calls_accounts += 1;
            if done.0 > planned.0 || done.1 > 0 || done.2 > planned.2 + 1 {
                report.violations.push(format!("{id}: moves/attaches/tags {done:?}, planned {planned:?}"));
            }
        }
        let total: u64 = per_account.iter().filter(|((a, _), _)| a == account).map(|(_, n)| n).sum();
        if *is_full {
            full_calls += total;
        } else {
            optimized_calls += total;
        }
    }
    // The OU check serves every job of its run alike: its calls are shared over all jobs.
    report.ou_check_calls = *paced.shared.lock().unwrap();
    let ou_share = report.ou_check_calls as f64 / report.jobs.max(1) as f64;
    report.calls_per_full_job = full_calls as f64 / report.full_jobs.max(1) as f64 + ou_share;
    report.calls_per_optimized_job = optimized_calls as f64 / (report.jobs - report.full_jobs).max(1) as f64 + ou_share;
    report.wall = wall.elapsed();
    report
}
