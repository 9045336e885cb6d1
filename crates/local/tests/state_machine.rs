//! Paths through the real state machine definition on the in-process executor, with every
//! step in-process over the in-memory adapters, on a virtual clock.

use chrono::{DateTime, Duration, Utc};
use local::stack::LocalStack;
use migration::error::names;
use migration::memory::SimSupportPlan;
use migration::memory::fixtures::{self, account};
use migration::ports::MigrationStore;
use migration::request::AccessLevel;
use migration::rules::CustomerOrganization;
use migration::{MigrationId, Status, steps};

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

async fn status(s: &LocalStack, id: MigrationId) -> Status {
    s.fixture.store.get(id).await.unwrap().unwrap().status
}

/// Runs until the execution waits for the handshake; returns the handshake id.
async fn until_waiting(s: &LocalStack, id: MigrationId) -> migration::HandshakeId {
    let handle = s.execution(id).expect("the API started the execution");
    match handle.run_until_blocked().await {
        asl::Progress::AwaitingToken(task) => assert_eq!(task.state_name, "WaitForHandshake"),
        other => panic!("expected to wait for the handshake, got {other:?}"),
    }
    assert_eq!(status(s, id).await, Status::Invited);
    s.fixture.store.get(id).await.unwrap().unwrap().handshake.expect("invited").id
}

#[tokio::test]
async fn full_hardening_happy_path_within_the_transition_budget() {
    let (s, _) = stack().await;
    s.fixture.sim.set_support_plan(&account(), SimSupportPlan::Business).unwrap();
    let id = create(&s, AccessLevel::FullHardening).await;
    let handshake = until_waiting(&s, id).await;

    s.fixture.sim.accept(&handshake).unwrap();
    steps::account_joined(&s.fixture.ports, &account()).await.unwrap();
    let outcome = s.execution(id).unwrap().wait().await;
    assert_eq!(outcome.status, asl::Status::Succeeded, "{:?} {:?}", outcome.error, outcome.cause);
    assert!(outcome.transitions <= 15, "happy path took {} transitions", outcome.transitions);
    assert_eq!(status(&s, id).await, Status::HardeningScheduled);

    steps::hardening_scan(&s.fixture.ports, 10, || true).await.unwrap();
    assert_eq!(status(&s, id).await, Status::Hardened);
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
    assert_eq!(outcome.states_entered().iter().filter(|n| **n == "WaitForSupportUpgrade").count(), 2);
    assert_eq!(clock.now() - start(), Duration::hours(3), "waited one hour, then two");
    assert_eq!(status(&s, id).await, Status::Completed);
}

#[tokio::test]
async fn rejection_fails_the_execution_with_the_domain_error_name() {
    let (s, _) = stack().await;
    s.fixture
        .sim
        .update_customer(&account(), |c| {
            c.own_organization = CustomerOrganization::ManagementAccount { organization_id: "o-x".into(), member_count: None }
        })
        .unwrap();
    let id = create(&s, AccessLevel::FullHardening).await;
    let outcome = s.execution(id).unwrap().wait().await;
    assert_eq!(outcome.status, asl::Status::Failed);
    assert_eq!(outcome.error.as_deref(), Some(names::NOT_ELIGIBLE));
    assert!(outcome.cause.unwrap().contains("ACCOUNT_IS_MANAGEMENT_ACCOUNT"), "the cause names the failed rule");
    assert_eq!(status(&s, id).await, Status::Rejected);
    assert_eq!(s.fixture.sim.calls("InviteAccountToOrganization"), 0);
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
    assert_eq!(outcome.error.as_deref(), Some(names::INVITATION_DECLINED));
    assert_eq!(status(&s, id).await, Status::InvitationDeclined);
    assert_eq!(s.fixture.store.lock_holder(&account()).await.unwrap(), None);
}

#[tokio::test]
async fn unanswered_invitation_times_out_as_expired() {
    let (s, clock) = stack().await;
    let id = create(&s, AccessLevel::FullHardening).await;
    until_waiting(&s, id).await;
    // Nobody sweeps: the state machine's own timeout fires.
    clock.advance(std::time::Duration::from_secs(16 * 86_400));
    let outcome = s.execution(id).unwrap().wait().await;
    assert_eq!(outcome.error.as_deref(), Some(names::INVITATION_EXPIRED));
    assert_eq!(status(&s, id).await, Status::InvitationExpired);
}

#[tokio::test]
async fn worst_case_stays_under_300_history_events() {
    let (s, clock) = stack().await;
    let id = create(&s, AccessLevel::FullHardening).await;
    let handshake = until_waiting(&s, id).await;
    // Accepted on the last day, then support is never upgraded.
    clock.advance(std::time::Duration::from_secs(14 * 86_400 + 23 * 3600));
    s.fixture.sim.accept(&handshake).unwrap();
    steps::account_joined(&s.fixture.ports, &account()).await.unwrap();
    let outcome = s.execution(id).unwrap().wait().await;
    assert_eq!(outcome.error.as_deref(), Some(names::SUPPORT_UPGRADE_TIMED_OUT));
    assert!(outcome.history.len() < 300, "{} history events", outcome.history.len());
    assert_eq!(status(&s, id).await, Status::SupportUpgradeTimedOut);
}
