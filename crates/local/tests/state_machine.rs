//! Paths through the real state machine definition on the in-process executor, with every
//! step in-process over the in-memory adapters, on a virtual clock. Each test asserts the
//! final record, its history and the execution's error name.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Duration, Utc};
use local::stack::{ExecutorClock, LocalExecutions, LocalStack, build_executor_with, run_task};
use migration::error::names;
use migration::ports::{MigrationStore, Ports};
use migration::record::{EventKind, HandshakeState, Migration};
use migration::request::AccessLevel;
use migration::rules::CustomerOrganization;
use migration::workflow::Step;
use migration::{MigrationId, Status, steps};
use migration_sim::SimSupportPlan;
use migration_sim::fixtures::{self, Fixture, account};

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-02T09:00:00Z").unwrap().with_timezone(&Utc)
}

async fn stack() -> (LocalStack, asl::VirtualClock) {
    let clock = asl::VirtualClock::new(start());
    (LocalStack::new(asl::Clock::Virtual(clock.clone())).await.expect("the definition loads"), clock)
}

async fn create(s: &LocalStack, access: AccessLevel) -> MigrationId {
    steps::create_migration(&s.fixture.ports, &fixtures::admin(), &fixtures::request(access), None).await.expect("created").record.id
}

async fn record(s: &LocalStack, id: MigrationId) -> Migration {
    s.fixture.store.get(id).await.unwrap().expect("the record exists")
}

async fn status(s: &LocalStack, id: MigrationId) -> Status {
    record(s, id).await.status
}

/// The statuses the record went through, from its history. Also checks that the history
/// is clean: unique sequence numbers, no entry twice, each change starting where the
/// previous one ended.
async fn status_path(s: &LocalStack, id: MigrationId) -> Vec<Status> {
    let history = s.fixture.store.history(id).await.unwrap();
    let seqs: HashSet<u64> = history.iter().map(|e| e.seq).collect();
    assert_eq!(seqs.len(), history.len(), "history sequence numbers are unique");
    let entries: HashSet<_> = history.iter().map(|e| (e.from, e.to, e.note.clone())).collect();
    assert_eq!(entries.len(), history.len(), "no history entry twice: {history:#?}");
    let changes: Vec<_> = history.iter().filter(|e| e.kind == EventKind::StatusChanged).collect();
    for pair in changes.windows(2) {
        assert_eq!(pair[1].from, Some(pair[0].to), "the history is one chain of changes");
    }
    changes.iter().map(|e| e.to).collect()
}

const UP_TO_INVITED: [Status; 3] = [Status::Requested, Status::Validated, Status::Invited];

fn path(tail: &[Status]) -> Vec<Status> {
    UP_TO_INVITED.iter().chain(tail).copied().collect()
}

/// Runs until the execution waits for the handshake; returns the handshake id.
async fn until_waiting(s: &LocalStack, id: MigrationId) -> migration::HandshakeId {
    let handle = s.execution(id).expect("the API started the execution");
    match handle.run_until_blocked().await {
        asl::Progress::AwaitingToken(task) => assert_eq!(task.state_name, "WaitForHandshake"),
        other => panic!("expected to wait for the handshake, got {other:?}"),
    }
    assert_eq!(status(s, id).await, Status::Invited);
    record(s, id).await.handshake.expect("invited").id
}

async fn assert_released(s: &LocalStack, id: MigrationId) {
    assert_eq!(s.fixture.store.lock_holder(&account()).await.unwrap(), None, "the account lock is released");
    let r = record(s, id).await;
    // Nothing left queued but, for an account that joined, its onboarding baseline.
    let baseline_only = r.joined_at.is_some() && r.work_queue().is_some_and(|(q, _)| q == migration::record::WorkQueue::Hardening);
    assert!(r.task_token.is_none() && (r.due_at.is_none() || baseline_only), "nothing left queued: {r:?}");
}

/// A Business-support customer who accepts at once: the execution succeeds within the
/// happy path's transition budget.
async fn happy_path(access: AccessLevel) -> (LocalStack, MigrationId, asl::Outcome) {
    let (s, _) = stack().await;
    s.fixture.sim.set_support_plan(&account(), SimSupportPlan::Business).unwrap();
    let id = create(&s, access).await;
    let handshake = until_waiting(&s, id).await;

    s.fixture.sim.accept(&handshake).unwrap();
    steps::account_joined(&s.fixture.ports, &account()).await.unwrap();
    let outcome = s.execution(id).unwrap().wait().await;
    assert_eq!(outcome.status, asl::Status::Succeeded, "{:?} {:?}", outcome.error, outcome.cause);
    assert_eq!(outcome.error, None);
    assert!(outcome.transitions <= 15, "happy path took {} transitions", outcome.transitions);
    (s, id, outcome)
}

#[tokio::test]
async fn full_hardening_happy_path_within_the_transition_budget() {
    let (s, id, _) = happy_path(AccessLevel::FullHardening).await;
    assert_eq!(status(&s, id).await, Status::HardeningScheduled);

    steps::hardening_scan(&s.fixture.ports, 10, || true).await.unwrap();
    assert_eq!(status(&s, id).await, Status::Hardened);
    assert_eq!(status_path(&s, id).await, path(&[Status::Joined, Status::SupportConfirmed, Status::HardeningScheduled, Status::Hardened]));
    assert_eq!(s.fixture.sim.invitations_to(&account()).len(), 1);
}

#[tokio::test]
async fn optimized_happy_path_completes_within_the_transition_budget() {
    let (s, id, outcome) = happy_path(AccessLevel::Optimized).await;
    assert_eq!(outcome.output.as_ref().unwrap()["hardening"]["status"], "COMPLETED");

    let r = record(&s, id).await;
    assert_eq!(r.status, Status::Completed);
    assert!(r.joined_at.is_some() && r.failure.is_none());
    assert_eq!(status_path(&s, id).await, path(&[Status::Joined, Status::SupportConfirmed, Status::Completed]));
    assert_eq!(s.fixture.store.lock_holder(&account()).await.unwrap(), Some(id), "a completed migration keeps the account");

    // The onboarding baseline follows on the next scan, without changing the status.
    steps::hardening_scan(&s.fixture.ports, 10, || true).await.unwrap();
    assert_eq!(status(&s, id).await, Status::Completed);
    let (parent, _, _) = s.fixture.sim.member_view(&account()).unwrap();
    assert_eq!(parent, "ou-root-onboarding");
    assert!(s.fixture.sim.effective_scps(&account()).contains(&"p-guardrail1".to_owned()), "the guardrail, inherited from the OU");
    assert_eq!(s.fixture.sim.calls("TagResource"), 0, "optimized accounts are not tagged as hardened");
}

#[tokio::test]
async fn support_upgraded_after_several_waits() {
    let (s, clock) = stack().await;
    // The pre-check in validate and two real checks see Basic; then the customer upgrades.
    s.fixture.sim.upgrade_support_after_checks(&account(), 3, SimSupportPlan::Enterprise);
    let id = create(&s, AccessLevel::Optimized).await;
    let handshake = until_waiting(&s, id).await;
    s.fixture.sim.accept(&handshake).unwrap();
    steps::account_joined(&s.fixture.ports, &account()).await.unwrap();
    let outcome = s.execution(id).unwrap().wait().await;
    assert_eq!(outcome.status, asl::Status::Succeeded);
    assert_eq!(outcome.error, None);
    assert_eq!(outcome.states_entered().iter().filter(|n| **n == "WaitForSupportUpgrade").count(), 2);
    assert_eq!(
        clock.now() - start(),
        Duration::minutes(10) + Duration::hours(2),
        "re-checked after ten minutes (the join gap), then waited two hours"
    );
    assert_eq!(status(&s, id).await, Status::Completed);
    assert_eq!(record(&s, id).await.support.unwrap().checks, 3);
    assert_eq!(
        status_path(&s, id).await,
        path(&[Status::Joined, Status::AwaitingSupportUpgrade, Status::SupportConfirmed, Status::Completed])
    );
}

#[tokio::test]
async fn rejection_fails_the_execution_with_the_domain_error_name() {
    let (s, _) = stack().await;
    s.fixture
        .sim
        .update_customer(&account(), |c| {
            c.own_organization =
                CustomerOrganization::ManagementAccount { organization_id: "o-x".into(), member_count: None, all_features: true }
        })
        .unwrap();
    let id = create(&s, AccessLevel::FullHardening).await;
    let outcome = s.execution(id).unwrap().wait().await;
    assert_eq!(outcome.status, asl::Status::Failed);
    assert_eq!(outcome.error.as_deref(), Some(names::NOT_ELIGIBLE));
    assert!(outcome.cause.unwrap().contains("ACCOUNT_IS_MANAGEMENT_ACCOUNT"), "the cause names the failed rule");
    assert_eq!(status(&s, id).await, Status::Rejected);
    assert_eq!(record(&s, id).await.failure.unwrap().error, names::NOT_ELIGIBLE);
    assert_eq!(status_path(&s, id).await, vec![Status::Requested, Status::Rejected]);
    assert_eq!(s.fixture.sim.calls("InviteAccountToOrganization"), 0);
    assert_released(&s, id).await;
}

#[tokio::test]
async fn declined_invitation_seen_by_the_sweep() {
    let (s, clock) = stack().await;
    let id = create(&s, AccessLevel::FullHardening).await;
    let handshake = until_waiting(&s, id).await;
    s.fixture.sim.decline(&handshake).unwrap();
    clock.advance(std::time::Duration::from_secs(600));
    steps::sweep_handshakes(&s.fixture.ports, 10).await.unwrap();
    let outcome = s.execution(id).unwrap().wait().await;
    assert_eq!(outcome.status, asl::Status::Failed);
    assert_eq!(outcome.error.as_deref(), Some(names::INVITATION_DECLINED));
    assert_eq!(status(&s, id).await, Status::InvitationDeclined);
    assert_eq!(record(&s, id).await.failure.unwrap().error, names::INVITATION_DECLINED);
    assert_eq!(status_path(&s, id).await, path(&[Status::InvitationDeclined]));
    assert_released(&s, id).await;
}

#[tokio::test]
async fn unanswered_invitation_times_out_as_expired() {
    let (s, clock) = stack().await;
    let id = create(&s, AccessLevel::FullHardening).await;
    until_waiting(&s, id).await;
    // Nobody sweeps: the state machine's own timeout fires.
    clock.advance(std::time::Duration::from_secs(16 * 86_400));
    let outcome = s.execution(id).unwrap().wait().await;
    assert_eq!(outcome.status, asl::Status::Failed);
    assert_eq!(outcome.error.as_deref(), Some(names::INVITATION_EXPIRED));
    assert_eq!(status(&s, id).await, Status::InvitationExpired);
    assert_eq!(record(&s, id).await.failure.unwrap().error, names::INVITATION_EXPIRED);
    assert_eq!(status_path(&s, id).await, path(&[Status::InvitationExpired]));
    assert_released(&s, id).await;
}

#[tokio::test]
async fn worst_case_stays_under_300_history_events() {
    let (s, clock) = stack().await;
    let id = create(&s, AccessLevel::FullHardening).await;
    let handshake = until_waiting(&s, id).await;
    // Accepted on the last day, then support is never upgraded: the deadline is missed.
    clock.advance(std::time::Duration::from_secs(14 * 86_400 + 23 * 3600));
    s.fixture.sim.accept(&handshake).unwrap();
    steps::account_joined(&s.fixture.ports, &account()).await.unwrap();
    let outcome = s.execution(id).unwrap().wait().await;
    assert_eq!(outcome.status, asl::Status::Failed);
    assert_eq!(outcome.error.as_deref(), Some(names::SUPPORT_UPGRADE_TIMED_OUT));
    assert!(outcome.history.len() < 300, "{} history events", outcome.history.len());
    assert_eq!(status(&s, id).await, Status::SupportUpgradeTimedOut);
    assert_eq!(record(&s, id).await.failure.unwrap().error, names::SUPPORT_UPGRADE_TIMED_OUT);
    assert_eq!(status_path(&s, id).await, path(&[Status::Joined, Status::AwaitingSupportUpgrade, Status::SupportUpgradeTimedOut]));
    assert_released(&s, id).await;
}

#[tokio::test]
async fn canceled_through_the_api_aborts_the_execution_and_releases_the_account() {
    let (s, _) = stack().await;
    let id = create(&s, AccessLevel::FullHardening).await;
    let handshake = until_waiting(&s, id).await;

    let canceled = steps::cancel_migration(&s.fixture.ports, &fixtures::admin(), id).await.unwrap();
    assert_eq!(canceled.status, Status::Canceled);

    let outcome = s.execution(id).unwrap().wait().await;
    assert_eq!(outcome.status, asl::Status::Aborted);
    assert_eq!(outcome.error.as_deref(), Some(names::CANCELED));
    assert!(!outcome.states_entered().contains(&"RecordFailure"), "a stopped execution records nothing itself");

    let r = record(&s, id).await;
    assert_eq!(r.status, Status::Canceled);
    assert_eq!(r.failure.unwrap().error, names::CANCELED);
    assert_eq!(r.handshake.unwrap().state, HandshakeState::Canceled);
    assert_eq!(
        s.fixture.sim.invitations_to(&account()).iter().map(|h| (h.id.clone(), h.state)).collect::<Vec<_>>(),
        vec![(handshake, HandshakeState::Canceled)]
    );
    assert_eq!(status_path(&s, id).await, path(&[Status::Canceled]));
    assert_released(&s, id).await;

    // A sweep afterwards finds nothing to do.
    let report = steps::sweep_handshakes(&s.fixture.ports, 10).await.unwrap();
    assert_eq!(report.examined, 0);
    // And the ended execution is not started again under its name, as on AWS.
    let again = s.fixture.ports.executions.start(id, serde_json::json!({"migration_id": id})).await;
    assert_eq!(again, Err(migration::error::ExecutionError::Ended("ABORTED".into())));
}

#[tokio::test]
async fn invitation_canceled_outside_is_seen_by_the_sweep() {
    let (s, clock) = stack().await;
    let id = create(&s, AccessLevel::FullHardening).await;
    let handshake = until_waiting(&s, id).await;
    // An operator cancels the handshake in the Organizations console.
    s.fixture.ports.orgs.cancel_handshake(&handshake, &migration_sim::fixtures::account()).await.unwrap();
    clock.advance(std::time::Duration::from_secs(600));
    let report = steps::sweep_handshakes(&s.fixture.ports, 10).await.unwrap();
    assert_eq!(report.resolved, 1);

    let outcome = s.execution(id).unwrap().wait().await;
    assert_eq!(outcome.status, asl::Status::Failed);
    assert_eq!(outcome.error.as_deref(), Some(names::INVITATION_CANCELED));
    let r = record(&s, id).await;
    assert_eq!(r.status, Status::Canceled);
    assert_eq!(r.failure.unwrap().error, names::INVITATION_CANCELED);
    assert_eq!(status_path(&s, id).await, path(&[Status::Canceled]));
    assert_released(&s, id).await;
}

#[tokio::test]
async fn acceptance_seen_by_the_sweep_alone() {
    let (s, clock) = stack().await;
    s.fixture.sim.set_support_plan(&account(), SimSupportPlan::Business).unwrap();
    let id = create(&s, AccessLevel::FullHardening).await;
    let handshake = until_waiting(&s, id).await;
    s.fixture.sim.accept(&handshake).unwrap();
    let accepted_at = clock.now();

    // The AccountJoinedOrganization event never arrives; the schedule's sweep notices.
    clock.advance(std::time::Duration::from_secs(600));
    let report = steps::sweep_handshakes(&s.fixture.ports, 10).await.unwrap();
    assert_eq!(report.resolved, 1);

    let outcome = s.execution(id).unwrap().wait().await;
    assert_eq!(outcome.status, asl::Status::Succeeded, "{:?} {:?}", outcome.error, outcome.cause);
    assert_eq!(outcome.error, None);
    let r = record(&s, id).await;
    assert_eq!(r.status, Status::HardeningScheduled);
    assert_eq!(r.joined_at, Some(accepted_at), "the join time is AWS's, not the sweep's");
    assert!(r.task_token.is_none());
    assert_eq!(status_path(&s, id).await, path(&[Status::Joined, Status::SupportConfirmed, Status::HardeningScheduled]));
}

// ---------------------------------------------------------------------------------------
// Lambda errors: the stack built as LocalStack builds it, with one handler wrapped.

/// What a wrapped handler does instead of (or besides) running its step.
#[derive(Debug, Clone, Copy)]
enum HandlerFault {
    /// The first invocation fails with this error name without running the step (Lambda
    /// never got to it); later invocations run it.
    FailsOnceBefore(&'static str),
    /// The first invocation runs the step, then fails with this error name (the function
    /// crashed or its answer was lost after the step's side effects).
    FailsOnceAfter(&'static str),
    /// Every invocation fails with this error name.
    Always(&'static str),
}

impl HandlerFault {
    fn error(self) -> &'static str {
        match self {
            HandlerFault::FailsOnceBefore(e) | HandlerFault::FailsOnceAfter(e) | HandlerFault::Always(e) => e,
        }
    }
}

/// The real definition on the executor with every step in-process, `faulty`'s handler
/// wrapped by `fault` when given.
async fn stack_with(fault: Option<(Step, HandlerFault)>) -> (LocalStack, asl::VirtualClock) {
    let clock = asl::VirtualClock::new(start());
    let executions = Arc::new(LocalExecutions::default());
    let fixture = Fixture::build(Arc::new(ExecutorClock(asl::Clock::Virtual(clock.clone()))), executions.clone()).await;
    let fired = Arc::new(AtomicBool::new(false));
    let handler = move |step: Step, ports: Ports, task: asl::TaskInput| {
        let fault = fault.filter(|(s, _)| *s == step).map(|(_, f)| f);
        let first = fault.is_some() && !fired.swap(true, Ordering::SeqCst);
        async move {
            let fail = |error: &str| asl::TaskError::new(error, format!("injected {error} in {}", step.function_name()));
            match fault {
                Some(HandlerFault::Always(error)) => return Err(fail(error)),
                Some(HandlerFault::FailsOnceBefore(error)) if first => return Err(fail(error)),
                _ => {}
            }
            let result = run_task(&ports, step, task).await;
            match fault {
                Some(HandlerFault::FailsOnceAfter(error)) if first && result.is_ok() => Err(fail(error)),
                _ => result,
            }
        }
    };
    let executor =
        build_executor_with(&fixture.ports, &executions, asl::Clock::Virtual(clock.clone()), handler).expect("the definition loads");
    (LocalStack { fixture, executor }, clock)
}

/// The customer of a scenario: eligible with Business support (accepts the invitation), or
/// a management account of its own organization (rejected).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Customer {
    Accepts,
    Ineligible,
}

/// Drives one migration to its end the way the customer would; returns the outcome.
async fn run_scenario(s: &LocalStack, customer: Customer) -> (MigrationId, asl::Outcome) {
    match customer {
        Customer::Accepts => s.fixture.sim.set_support_plan(&account(), SimSupportPlan::Business).unwrap(),
        Customer::Ineligible => s
            .fixture
            .sim
            .update_customer(&account(), |c| {
                c.own_organization =
                    CustomerOrganization::ManagementAccount { organization_id: "o-x".into(), member_count: None, all_features: true }
            })
            .unwrap(),
    }
    let id = create(s, AccessLevel::FullHardening).await;
    let handle = s.execution(id).unwrap();
    if let asl::Progress::AwaitingToken(_) = handle.run_until_blocked().await {
        let handshake = record(s, id).await.handshake.expect("invited").id;
        s.fixture.sim.accept(&handshake).unwrap();
        steps::account_joined(&s.fixture.ports, &account()).await.unwrap();
    }
    (id, handle.wait().await)
}

fn failures_named(outcome: &asl::Outcome, error: &str) -> usize {
    outcome.history.iter().filter(|e| e.event_type == "TaskFailed" && e.detail_str("error") == Some(error)).count()
}

#[tokio::test]
async fn transient_lambda_errors_are_retried_without_repeating_side_effects() {
    use HandlerFault::*;
    let cases = [
        (Step::Validate, FailsOnceBefore("Lambda.ServiceException"), Customer::Accepts),
        (Step::Validate, FailsOnceAfter(names::TRANSIENT), Customer::Accepts),
        (Step::Invite, FailsOnceAfter("Lambda.ServiceException"), Customer::Accepts),
        (Step::Invite, FailsOnceBefore(names::TRANSIENT), Customer::Accepts),
        (Step::WaitForHandshake, FailsOnceAfter("Lambda.SdkClientException"), Customer::Accepts),
        (Step::CheckSupport, FailsOnceAfter("Lambda.TooManyRequestsException"), Customer::Accepts),
        (Step::ScheduleHardening, FailsOnceAfter(names::TRANSIENT), Customer::Accepts),
        (Step::RecordFailure, FailsOnceAfter("Lambda.ServiceException"), Customer::Ineligible),
    ];
    for (step, fault, customer) in cases {
        let case = format!("{step:?} {fault:?}");
        let (clean, _) = stack_with(None).await;
        let (clean_id, expected) = run_scenario(&clean, customer).await;

        let (s, _) = stack_with(Some((step, fault))).await;
        let (id, outcome) = run_scenario(&s, customer).await;

        assert_eq!((outcome.status, &outcome.error), (expected.status, &expected.error), "{case}: ends the same");
        assert_eq!(failures_named(&outcome, fault.error()), 1, "{case}: the history shows the failed attempt");
        assert_eq!(outcome.transitions, expected.transitions + 1, "{case}: one retry, billed once");
        assert_eq!(outcome.states_entered(), expected.states_entered(), "{case}: retried in place, no detour");
        assert_eq!(status(&s, id).await, status(&clean, clean_id).await, "{case}");
        assert_eq!(status_path(&s, id).await, status_path(&clean, clean_id).await, "{case}: no duplicated history");
        assert_eq!(
            s.fixture.sim.invitations_to(&account()).len(),
            clean.fixture.sim.invitations_to(&account()).len(),
            "{case}: no second invitation"
        );
        assert!(record(&s, id).await.task_token.is_none(), "{case}: no token left behind");
    }
}

#[tokio::test]
async fn an_unnamed_error_is_recorded_by_record_failure_as_failed() {
    let (s, _) = stack_with(Some((Step::CheckSupport, HandlerFault::Always("Lambda.Unknown")))).await;
    let (id, outcome) = run_scenario(&s, Customer::Accepts).await;

    assert_eq!(outcome.status, asl::Status::Failed);
    assert_eq!(outcome.error.as_deref(), Some(names::FAILED));
    assert_eq!(failures_named(&outcome, "Lambda.Unknown"), 1, "an unnamed error is not retried");
    assert!(outcome.states_entered().ends_with(&["CheckSupport", "RecordFailure", "Failed"]), "{:?}", outcome.states_entered());

    let r = record(&s, id).await;
    assert_eq!(r.status, Status::Failed);
    let failure = r.failure.expect("recorded");
    assert_eq!(failure.error, names::FAILED);
    assert!(failure.cause.contains("injected Lambda.Unknown in check-support"), "the cause is kept: {}", failure.cause);
    assert_eq!(status_path(&s, id).await, path(&[Status::Joined, Status::Failed]));
    assert_released(&s, id).await;
}
