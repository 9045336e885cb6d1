//! Crashes right after each side effect of each step, then the retry the state machine (or
//! the next scan) makes: no second invitation, no duplicated history entry, no control
//! applied twice, and the same final state as a run without the fault.
//!
//! A fault is a decorator around a port that performs the call and then reports an error,
//! as when a function dies after AWS or DynamoDB acted but before it could record or
//! answer.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use migration::error::{ExecutionError, OrgError, StoreError, names};
use migration::ids::HandshakeId;
use migration::ports::{Executions, MigrationStore, Ports, TokenDelivery};
use migration::record::{Control, EventKind, HandshakeState, HistoryEvent, Migration};
use migration::request::AccessLevel;
use migration::steps::{self, HardenOutcome};
use migration::{MigrationId, Status, StepError, TaskToken};
use migration_sim::fixtures::{self, Fixture, account};
use migration_sim::hooks::{HookedOrganizations, HookedStore, OrgsCall, OrgsHook, StoreCall, StoreHook};
use migration_sim::{ManualClock, RecordingExecutions, SimSupportPlan, TokenOutcome};

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-02T09:00:00Z").unwrap().with_timezone(&Utc)
}

// ---------------------------------------------------------------------------------------
// Fault injection

/// Where a fault strikes: after the n-th successful call of this kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Point {
    /// `MigrationStore::update`: the write lands, then `Unavailable`.
    StoreWrite,
    /// InviteAccountToOrganization (through `invite_account`).
    Invite,
    MoveAccount,
    AttachPolicy,
    TagAccount,
    /// Any Organizations call, reads included.
    OrgCall,
    TaskSuccess,
    TaskFailure,
}

/// Shared by the decorators of one world: at most one fault armed at a time.
#[derive(Default)]
struct Injector {
    armed: Mutex<Option<(Point, u32)>>,
    fired: AtomicU32,
}

impl Injector {
    fn arm(&self, point: Point, nth: u32) {
        assert!(nth > 0);
        *self.armed.lock().unwrap() = Some((point, nth));
    }

    /// Called after a call at `point` succeeded: whether to report it as failed instead.
    fn strikes(&self, point: Point) -> bool {
        let mut armed = self.armed.lock().unwrap();
        match *armed {
            Some((p, 1)) if p == point => {
                *armed = None;
                self.fired.fetch_add(1, Ordering::SeqCst);
                true
            }
            Some((p, n)) if p == point => {
                *armed = Some((p, n - 1));
                false
            }
            _ => false,
        }
    }

    fn fired(&self) -> u32 {
        self.fired.load(Ordering::SeqCst)
    }
}

/// The store fails after a write when the injector says so.
impl StoreHook for Injector {
    async fn after(&self, call: &StoreCall<'_>, succeeded: bool) -> Result<(), StoreError> {
        if succeeded && matches!(call, StoreCall::Update { .. }) && self.strikes(Point::StoreWrite) {
            return Err(StoreError::Unavailable("injected: the connection dropped after the write".into()));
        }
        Ok(())
    }
}

/// Organizations fail after a call when the injector says so.
impl OrgsHook for Injector {
    async fn after(&self, call: &OrgsCall<'_>, succeeded: bool) -> Result<(), OrgError> {
        let point = match call {
            OrgsCall::InviteAccount { .. } => Some(Point::Invite),
            OrgsCall::MoveAccount { .. } => Some(Point::MoveAccount),
            OrgsCall::AttachPolicy { .. } => Some(Point::AttachPolicy),
            OrgsCall::TagAccount { .. } => Some(Point::TagAccount),
            _ => None,
        };
        if succeeded && (point.is_some_and(|p| self.strikes(p)) || self.strikes(Point::OrgCall)) {
            return Err(OrgError::Retryable { code: "InjectedFault".into(), message: "the function died after the call".into() });
        }
        Ok(())
    }
}

/// Step Functions, failing after a token was delivered when the injector says so.
struct FailAfterExecutions {
    inner: Arc<RecordingExecutions>,
    faults: Arc<Injector>,
}

impl FailAfterExecutions {
    fn after(&self, point: Point, result: Result<TokenDelivery, ExecutionError>) -> Result<TokenDelivery, ExecutionError> {
        let delivery = result?;
        if self.faults.strikes(point) {
            return Err(ExecutionError::Retryable("injected: the answer was lost after delivery".into()));
        }
        Ok(delivery)
    }
}

#[async_trait]
impl Executions for FailAfterExecutions {
    async fn start(&self, migration: MigrationId, input: serde_json::Value) -> Result<(), ExecutionError> {
        self.inner.start(migration, input).await
    }
    async fn stop(&self, migration: MigrationId, error: &str, cause: &str) -> Result<(), ExecutionError> {
        self.inner.stop(migration, error, cause).await
    }
    async fn send_task_success(&self, token: &TaskToken, output: serde_json::Value) -> Result<TokenDelivery, ExecutionError> {
        self.after(Point::TaskSuccess, self.inner.send_task_success(token, output).await)
    }
    async fn send_task_failure(&self, token: &TaskToken, error: &str, cause: &str) -> Result<TokenDelivery, ExecutionError> {
        self.after(Point::TaskFailure, self.inner.send_task_failure(token, error, cause).await)
    }
    fn execution_arn(&self, migration: MigrationId) -> Option<String> {
        self.inner.execution_arn(migration)
    }
    async fn describe(&self, migration: MigrationId) -> Result<Option<migration::ports::ExecutionState>, ExecutionError> {
        self.inner.describe(migration).await
    }
}

// ---------------------------------------------------------------------------------------
// A world and the acts that move a migration along

struct World {
    f: Fixture<ManualClock>,
    recorder: Arc<RecordingExecutions>,
    faults: Arc<Injector>,
    /// The fixture's ports behind the fault decorators.
    ports: Ports,
    id: MigrationId,
}

const TOKEN: &str = "token-of-the-wait-state";

impl World {
    async fn new(access: AccessLevel, plan: SimSupportPlan) -> Self {
        let (f, recorder) = Fixture::with_recorder(start()).await;
        f.sim.set_support_plan(&account(), plan).unwrap();
        let faults = Arc::new(Injector::default());
        let ports = Ports {
            store: Arc::new(HookedStore::new(f.store.clone(), faults.clone())),
            orgs: Arc::new(HookedOrganizations::new(f.ports.orgs.clone(), faults.clone())),
            executions: Arc::new(FailAfterExecutions { inner: recorder.clone(), faults: faults.clone() }),
            ..f.ports.clone()
        };
        let id = steps::create_migration(&f.ports, &fixtures::admin(), &fixtures::request(access), None).await.unwrap().record.id;
        Self { f, recorder, faults, ports, id }
    }

    async fn record(&self) -> Migration {
        self.f.store.get(self.id).await.unwrap().unwrap()
    }

    async fn handshake(&self) -> HandshakeId {
        self.record().await.handshake.expect("invited").id
    }

    async fn act(&self, act: Act) -> Result<(), StepError> {
        let (p, id) = (&self.ports, self.id);
        match act {
            Act::Validate => steps::validate(p, id).await.map(drop),
            Act::Invite => steps::invite(p, id).await.map(drop),
            Act::Wait => steps::wait_for_handshake(p, id, TaskToken::new(TOKEN)).await,
            Act::Accept => {
                self.f.sim.accept(&self.handshake().await).unwrap();
                Ok(())
            }
            Act::Decline => {
                self.f.sim.decline(&self.handshake().await).unwrap();
                Ok(())
            }
            Act::AccountJoined => steps::account_joined(p, &account()).await.map(drop),
            Act::ResolveDeclined => steps::resolve_handshake(p, id, HandshakeState::Declined, "handshake-watcher").await.map(drop),
            Act::CheckSupport => steps::check_support(p, id).await.map(drop),
            Act::ScheduleHardening => steps::schedule_hardening(p, id).await.map(drop),
            Act::Harden => match steps::harden_one(p, id).await? {
                HardenOutcome::Completed { .. } => Ok(()),
                // The crash came after the last control was recorded: the job is done.
                HardenOutcome::Skipped if self.record().await.hardening.is_some_and(|h| h.completed_at.is_some()) => Ok(()),
                // The crash came in the run's check of the baseline OUs: the job waits for the
                // next run, which checks them again.
                HardenOutcome::Blocked { reason } => Err(StepError::Transient(reason)),
                other => panic!("the hardening job did not complete: {other:?}"),
            },
            Act::RecordDeclined => {
                let cause = StepError::InvitationDeclined.cause();
                let out = steps::record_failure(p, id, names::INVITATION_DECLINED, &cause).await?;
                assert_eq!(out.error, names::INVITATION_DECLINED, "the same answer, first time or retried");
                Ok(())
            }
        }
    }

    /// The retry: the state machine's Retry re-invokes the step; a hardening job is due
    /// again once the crashed scan's lease runs out.
    async fn retry(&self, act: Act) -> Result<(), StepError> {
        if act == Act::Harden {
            self.f.clock.advance(self.f.ports.settings.hardening_lease + Duration::minutes(1));
        }
        self.act(act).await
    }

    /// Organizations calls that change something, as the simulation counted them.
    fn mutations(&self) -> [u64; 4] {
        ["InviteAccountToOrganization", "MoveAccount", "AttachPolicy", "TagResource"].map(|op| self.f.sim.calls(op))
    }

    /// What must come out the same with or without the fault.
    async fn snapshot(&self) -> Snapshot {
        let r = self.record().await;
        let history = self.f.store.history(self.id).await.unwrap();
        assert_clean_history(&history);
        let outcomes = self
            .recorder
            .token_outcomes()
            .into_iter()
            .map(|o| match o {
                TokenOutcome::Success(_) => "success".to_owned(),
                TokenOutcome::Failure { error, .. } => error,
            })
            .collect();
        Snapshot {
            status: r.status,
            changes: history.iter().filter(|e| e.kind == EventKind::StatusChanged).map(|e| (e.from, e.to)).collect(),
            handshake: r.handshake.map(|h| h.state),
            token: r.task_token.map(|t| t.expose().to_owned()),
            joined: r.joined_at.is_some(),
            locked: self.f.store.lock_holder(&account()).await.unwrap().is_some(),
            applied: r.hardening.as_ref().map(|h| h.applied.iter().map(|a| a.control.clone()).collect()).unwrap_or_default(),
            hardening_done: r.hardening.is_some_and(|h| h.completed_at.is_some()),
            failure: r.failure.map(|f| f.error),
            invitations: self.f.sim.invitations_to(&account()).len(),
            token_outcomes: outcomes,
            member: self.f.sim.member_view(&account()).map(|(parent, policies, tags)| (parent, policies, tags.into_keys().collect())),
        }
    }
}

#[derive(Debug, PartialEq)]
struct Snapshot {
    status: Status,
    changes: Vec<(Option<Status>, Status)>,
    handshake: Option<HandshakeState>,
    token: Option<String>,
    joined: bool,
    locked: bool,
    applied: Vec<Control>,
    hardening_done: bool,
    failure: Option<String>,
    invitations: usize,
    token_outcomes: Vec<String>,
    member: Option<(String, Vec<String>, Vec<String>)>,
}

/// Unique sequence numbers, no entry twice, each "control applied" once.
fn assert_clean_history(history: &[HistoryEvent]) {
    let seqs: HashSet<u64> = history.iter().map(|e| e.seq).collect();
    assert_eq!(seqs.len(), history.len(), "history sequence numbers are unique: {history:#?}");
    let entries: HashSet<_> = history.iter().map(|e| (e.from, e.to, e.note.as_str())).collect();
    assert_eq!(entries.len(), history.len(), "no history entry twice: {history:#?}");
}

/// Calls into the steps (and the customer's own actions) in the order a migration meets them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    Validate,
    Invite,
    Wait,
    Accept,
    Decline,
    AccountJoined,
    ResolveDeclined,
    CheckSupport,
    ScheduleHardening,
    Harden,
    RecordDeclined,
}

use Act::*;

const INVITED: &[Act] = &[Validate, Invite, Wait];
const ACCEPTED: &[Act] = &[Validate, Invite, Wait, Accept];
const DECLINED: &[Act] = &[Validate, Invite, Wait, Decline];
const JOINED: &[Act] = &[Validate, Invite, Wait, Accept, AccountJoined];
const CONFIRMED: &[Act] = &[Validate, Invite, Wait, Accept, AccountJoined, CheckSupport];
const SCHEDULED: &[Act] = &[Validate, Invite, Wait, Accept, AccountJoined, CheckSupport, ScheduleHardening];

struct Case {
    side_effect: &'static str,
    access: AccessLevel,
    plan: SimSupportPlan,
    before: &'static [Act],
    act: Act,
    fault: (Point, u32),
    expect: Status,
}

const fn case(side_effect: &'static str, before: &'static [Act], act: Act, fault: (Point, u32), expect: Status) -> Case {
    Case { side_effect, access: AccessLevel::FullHardening, plan: SimSupportPlan::Business, before, act, fault, expect }
}

fn cases() -> Vec<Case> {
    let full = |n| (Point::StoreWrite, n);
    vec![
        case("validate: the VALIDATED write", &[], Validate, full(1), Status::Validated),
        case("invite: InviteAccountToOrganization", &[Validate], Invite, (Point::Invite, 1), Status::Invited),
        case("invite: the INVITED write", &[Validate], Invite, full(1), Status::Invited),
        case("wait-for-handshake: the token write", &[Validate, Invite], Wait, full(1), Status::Invited),
        case(
            "wait-for-handshake: SendTaskSuccess when already joined",
            &[Validate, Invite, Accept, AccountJoined],
            Wait,
            (Point::TaskSuccess, 1),
            Status::Joined,
        ),
        case("acceptance: the JOINED write", ACCEPTED, AccountJoined, full(1), Status::Joined),
        case("acceptance: the token delivery", ACCEPTED, AccountJoined, (Point::TaskSuccess, 1), Status::Joined),
        case("acceptance: the token clear", ACCEPTED, AccountJoined, full(2), Status::Joined),
        case("decline: the handshake write", DECLINED, ResolveDeclined, full(1), Status::Invited),
        case("decline: the token delivery", DECLINED, ResolveDeclined, (Point::TaskFailure, 1), Status::Invited),
        case("decline: the token clear", DECLINED, ResolveDeclined, full(2), Status::Invited),
        case("check-support: the write", JOINED, CheckSupport, full(1), Status::SupportConfirmed),
        Case {
            plan: SimSupportPlan::Basic,
            // The first Basic right after the join is re-checked (AWS's plan reactivation
            // gap): the write records the check and the status stays JOINED.
            ..case("check-support on Basic: the write", JOINED, CheckSupport, full(1), Status::Joined)
        },
        case("schedule-hardening: the write", CONFIRMED, ScheduleHardening, full(1), Status::HardeningScheduled),
        case("harden: the lease", SCHEDULED, Harden, full(1), Status::Hardened),
        case("harden: the guardrail attached to the Onboarding OU", SCHEDULED, Harden, (Point::AttachPolicy, 1), Status::Hardened),
        case("harden: the guardrail attached to the Hardened OU", SCHEDULED, Harden, (Point::AttachPolicy, 2), Status::Hardened),
        case("harden: the last hardening SCP attached to the Hardened OU", SCHEDULED, Harden, (Point::AttachPolicy, 4), Status::Hardened),
        case("harden: onboarding OU applied", SCHEDULED, Harden, (Point::MoveAccount, 1), Status::Hardened),
        case("harden: onboarding OU recorded", SCHEDULED, Harden, full(2), Status::Hardened),
        case("harden: hardened OU applied", SCHEDULED, Harden, (Point::MoveAccount, 2), Status::Hardened),
        case("harden: hardened OU recorded", SCHEDULED, Harden, full(3), Status::Hardened),
        case("harden: tags applied", SCHEDULED, Harden, (Point::TagAccount, 1), Status::Hardened),
        case("harden: tags recorded (the HARDENED write)", SCHEDULED, Harden, full(4), Status::Hardened),
        Case {
            access: AccessLevel::Optimized,
            ..case("harden optimized: onboarding OU applied", SCHEDULED, Harden, (Point::MoveAccount, 1), Status::Completed)
        },
        Case {
            access: AccessLevel::Optimized,
            ..case("harden optimized: onboarding OU recorded (the job's last write)", SCHEDULED, Harden, full(2), Status::Completed)
        },
        case("record-failure: the write", INVITED, RecordDeclined, full(1), Status::InvitationDeclined),
    ]
}

async fn world_before(case: &Case) -> World {
    let w = World::new(case.access, case.plan).await;
    for act in case.before {
        w.act(*act).await.unwrap_or_else(|e| panic!("{}: {act:?} before the fault: {e}", case.side_effect));
    }
    w
}

#[tokio::test]
async fn a_crash_after_any_side_effect_then_the_retry_changes_nothing_twice() {
    for case in cases() {
        let name = case.side_effect;
        let clean = world_before(&case).await;
        clean.act(case.act).await.unwrap_or_else(|e| panic!("{name}: without the fault: {e}"));
        let expected = clean.snapshot().await;
        assert_eq!(expected.status, case.expect, "{name}: the fault-free run");

        let w = world_before(&case).await;
        w.faults.arm(case.fault.0, case.fault.1);
        let first = w.act(case.act).await;
        assert_eq!(w.faults.fired(), 1, "{name}: the fault struck");
        assert!(matches!(first, Err(StepError::Transient(_))), "{name}: the crash surfaces as retryable, got {first:?}");

        w.retry(case.act).await.unwrap_or_else(|e| panic!("{name}: the retry failed: {e}"));
        let got = w.snapshot().await;
        assert_eq!(got, expected, "{name}: the same final state as without the fault");
        assert!(got.invitations <= 1, "{name}: no second invitation");

        // AWS saw no change twice, except at most the one control whose record was lost
        // (attaching and tagging are idempotent; a move checks the parent first).
        let ([invites, moves, attaches, tags], [clean_invites, clean_moves, clean_attaches, clean_tags]) =
            (w.mutations(), clean.mutations());
        assert_eq!(invites, clean_invites, "{name}: InviteAccountToOrganization calls");
        assert_eq!(moves, clean_moves, "{name}: no account moved twice");
        assert!(attaches + tags <= clean_attaches + clean_tags + 1, "{name}: at most the interrupted control again");
    }
}

// ---------------------------------------------------------------------------------------
// The hardening scan, interrupted mid-job

/// A world whose migration waits in the hardening queue.
async fn scheduled(access: AccessLevel) -> World {
    let w = World::new(access, SimSupportPlan::Business).await;
    for act in SCHEDULED {
        w.act(*act).await.unwrap();
    }
    w
}

/// Organizations calls of every kind, as the simulation counted them.
fn org_calls(w: &World) -> u64 {
    ["ListPoliciesForTarget", "AttachPolicy", "DescribeAccount", "ListParents", "MoveAccount", "TagResource"]
        .iter()
        .map(|op| w.f.sim.calls(op))
        .sum()
}

#[tokio::test]
async fn a_scan_interrupted_after_any_organizations_call_is_resumed_by_the_next() {
    for access in [AccessLevel::FullHardening, AccessLevel::Optimized] {
        let clean = scheduled(access).await;
        let queued_as = clean.record().await.status;
        let calls_before = org_calls(&clean);
        let report = steps::hardening_scan(&clean.ports, 10, || true).await.unwrap();
        assert_eq!(report.completed, 1);
        let scan_calls = org_calls(&clean) - calls_before;
        let expected = clean.snapshot().await;
        let final_status = if access == AccessLevel::FullHardening { Status::Hardened } else { Status::Completed };
        assert_eq!(expected.status, final_status);

        for n in 1..=u32::try_from(scan_calls).unwrap() {
            let case = format!("{access:?}, interrupted after Organizations call {n} of {scan_calls}");
            let w = scheduled(access).await;
            w.faults.arm(Point::OrgCall, n);
            let first = steps::hardening_scan(&w.ports, 10, || true).await.unwrap();
            assert_eq!(w.faults.fired(), 1, "{case}");
            if first.completed == 1 {
                // The crash struck the check of an OU this job never moves into (the Hardened
                // OU, for an Optimized account): the job finished all the same.
                assert_eq!(access, AccessLevel::Optimized, "{case}");
                assert_eq!(first.unverified_ous.len(), 1, "{case}");
            } else {
                // A crash in the check of an OU the job needs leaves it waiting for the next run
                // (blocked); one after the check fails the job, due again after its lease.
                assert_eq!((first.examined, first.failed + first.blocked, first.completed), (1, 1, 0), "{case}");
                assert_eq!(w.record().await.status, queued_as, "{case}: not finished yet");

                // The next scheduled run, once the crashed run's lease has run out.
                let early = steps::hardening_scan(&w.ports, 10, || true).await.unwrap();
                assert_eq!(early.examined, 0, "{case}: the job is leased to the crashed run for a while");
                w.f.clock.advance(w.f.ports.settings.hardening_lease + Duration::minutes(1));
                let second = steps::hardening_scan(&w.ports, 10, || true).await.unwrap();
                assert_eq!((second.examined, second.completed), (1, 1), "{case}");
            }
            let third = steps::hardening_scan(&w.ports, 10, || true).await.unwrap();
            assert_eq!(third.examined, 0, "{case}: never hardened twice");

            let got = w.snapshot().await;
            assert_eq!(got, expected, "{case}: the same final state as an uninterrupted scan");
            let history = w.f.store.history(w.id).await.unwrap();
            let applied: Vec<_> = history.iter().filter(|e| e.note.starts_with("control applied")).map(|e| e.note.as_str()).collect();
            assert_eq!(applied.len(), expected.applied.len(), "{case}: each control recorded once: {applied:?}");
            let finished = history.iter().filter(|e| e.kind == EventKind::StatusChanged && e.to == Status::Hardened).count();
            assert_eq!(finished, usize::from(access == AccessLevel::FullHardening), "{case}: HARDENED once");

            let ([_, moves, attaches, tags], [_, clean_moves, clean_attaches, clean_tags]) = (w.mutations(), clean.mutations());
            assert_eq!(moves, clean_moves, "{case}: no account moved twice");
            assert!(attaches + tags <= clean_attaches + clean_tags + 1, "{case}: at most the interrupted control again");
        }
    }
}
