//! The billing-transfer kind through the real state machine definition, on the in-process
//! executor over the simulated AWS, on a virtual clock: the path to a transfer in force and
//! every way out of it (decline, expiry on both readings of AWS's invitation lifetime,
//! withdrawal, a missed acceptance window, cancel, and each reason AWS gives to refuse).

use chrono::{DateTime, Duration, Utc};
use local::stack::LocalStack;
use migration::error::names;
use migration::ports::MigrationStore;
use migration::record::{EventKind, HandshakeState, Migration};
use migration::rules::ViolationCode;
use migration::transfer::{TransferRefusal, TransferStatus};
use migration::{MigrationId, Status, steps};
use migration_sim::SimSupportPlan;
use migration_sim::fixtures::{self, account};
use migration_sim::transfers::HandshakeLifetime;

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-02T09:00:00Z").unwrap().with_timezone(&Utc)
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// The month the system picks on 2026-03-02: April (29 days ahead, more than the 8 needed).
const START: &str = "2026-04-01T00:00:00Z";
const ACCEPT_BY: &str = "2026-03-31T00:00:00Z";

async fn stack() -> (LocalStack, asl::VirtualClock) {
    let clock = asl::VirtualClock::new(start());
    let s = LocalStack::new(asl::Clock::Virtual(clock.clone())).await.expect("the definition loads");
    fixtures::make_management_account(&s.fixture.sim, true);
    s.fixture.sim.set_support_plan(&account(), SimSupportPlan::Business).unwrap();
    (s, clock)
}

async fn create(s: &LocalStack, month: Option<&str>) -> MigrationId {
    steps::create_migration(&s.fixture.ports, &fixtures::admin(), &fixtures::transfer_request(month), None)
        .await
        .expect("created")
        .record
        .id
}

async fn record(s: &LocalStack, id: MigrationId) -> Migration {
    s.fixture.store.get(id).await.unwrap().expect("the record exists")
}

async fn status_path(s: &LocalStack, id: MigrationId) -> Vec<Status> {
    let history = s.fixture.store.history(id).await.unwrap();
    let changes: Vec<_> = history.iter().filter(|e| e.kind == EventKind::StatusChanged).collect();
    for pair in changes.windows(2) {
        assert_eq!(pair[1].from, Some(pair[0].to), "the history is one chain of changes");
    }
    changes.iter().map(|e| e.to).collect()
}

fn path(tail: &[Status]) -> Vec<Status> {
    [Status::Requested, Status::Validated, Status::TransferInvited].iter().chain(tail).copied().collect()
}

/// Runs until the execution waits for the customer's answer; returns the invitation.
async fn until_waiting(s: &LocalStack, id: MigrationId) -> migration::HandshakeId {
    match s.execution(id).expect("started").run_until_blocked().await {
        asl::Progress::AwaitingToken(task) => assert_eq!(task.state_name, "WaitForTransferAcceptance"),
        other => panic!("expected to wait for the acceptance, got {other:?}"),
    }
    let r = record(s, id).await;
    assert_eq!(r.status, Status::TransferInvited);
    r.billing_transfer.unwrap().handshake.expect("invited").id
}

async fn sweep(s: &LocalStack) {
    let report = steps::sweep_handshakes(&s.fixture.ports, 10).await.unwrap();
    assert_eq!(report.failed, 0, "{report:?}");
}

async fn assert_released(s: &LocalStack, id: MigrationId) {
    assert_eq!(s.fixture.store.lock_holder(&account()).await.unwrap(), None, "the account lock is released");
    let r = record(s, id).await;
    assert!(r.task_token.is_none() && r.due_at.is_none(), "nothing left queued: {r:?}");
}

#[tokio::test]
async fn a_management_account_s_bill_moves_on_the_first_of_the_month() {
    let (s, clock) = stack().await;
    let id = create(&s, None).await;
    let handshake = until_waiting(&s, id).await;
    let r = record(&s, id).await;
    let bt = r.billing_transfer.as_ref().unwrap();
    assert_eq!(bt.start_month.to_string(), "2026-04");
    assert_eq!(bt.accept_by(), at(ACCEPT_BY));
    assert_eq!(r.handshake, None, "a billing transfer keeps its invitation apart from a join's");

    // A week later the customer accepts; the watcher's next sweep sees it (no event exists).
    clock.advance(std::time::Duration::from_secs(7 * 86_400));
    s.fixture.sim.accept_transfer(&handshake).unwrap();
    sweep(&s).await;
    assert_eq!(record(&s, id).await.status, Status::TransferAccepted);

    let outcome = s.execution(id).unwrap().wait().await;
    assert_eq!(outcome.status, asl::Status::Succeeded, "{:?} {:?}", outcome.error, outcome.cause);
    let entered = outcome.states_entered();
    for state in ["WaitForTransferAcceptance", "WaitForTransferStart", "ConfirmTransfer", "CheckSupport", "ScheduleHardening"] {
        assert!(entered.contains(&state), "{state} in {entered:?}");
    }
    assert!(!entered.contains(&"WaitForHandshake"));
    let r = record(&s, id).await;
    assert_eq!(r.status, Status::Completed);
    let bt = r.billing_transfer.unwrap();
    assert_eq!(bt.billing_starts_at, Some(at(START)), "billing starts exactly at 00:00 UTC on the first");
    assert_eq!(bt.transfer_status, Some(TransferStatus::Accepted));
    assert!(bt.billing_group.is_some());
    assert_eq!(s.fixture.sim.billing_groups(), vec![format!("cam-{id}")]);
    assert!(clock.now() >= at(START));
    assert_eq!(r.hardening, None, "nothing is hardened in the customer's own organization");
    assert_eq!(
        status_path(&s, id).await,
        path(&[Status::TransferAccepted, Status::BillingTransferred, Status::SupportConfirmed, Status::Completed])
    );
    assert_eq!(s.fixture.sim.transfer_invitations_to(&account()).len(), 1, "one invitation");
    assert_eq!(s.fixture.sim.calls("InviteOrganizationToTransferResponsibility"), 1);
}

#[tokio::test]
async fn a_named_month_is_the_start() {
    let (s, _) = stack().await;
    let id = create(&s, Some("2026-06")).await;
    until_waiting(&s, id).await;
    assert_eq!(s.fixture.sim.transfers()[0].start_at, at("2026-06-01T00:00:00Z"));
}

#[tokio::test]
async fn months_outside_the_window_are_refused_and_change_nothing() {
    let (s, _) = stack().await;
    for (month, code) in [
        ("2026-03", ViolationCode::StartMonthTooEarly),
        ("2026-08", ViolationCode::StartMonthTooLate),
        ("2026-4", ViolationCode::InvalidStartMonth),
    ] {
        let err = steps::create_migration(&s.fixture.ports, &fixtures::admin(), &fixtures::transfer_request(Some(month)), None).await;
        let Err(steps::CreateError::Refused(violations)) = err else { panic!("{month}: {err:?}") };
        assert_eq!(violations.iter().map(|v| v.code).collect::<Vec<_>>(), vec![code], "{month}");
    }
    assert_eq!(s.fixture.store.lock_holder(&account()).await.unwrap(), None);
    // Full Hardening is not offered with a billing transfer.
    let mut full = fixtures::transfer_request(None);
    full.access_level = "full_hardening".into();
    full.role_arn = fixtures::role(migration::AccessLevel::FullHardening).to_string();
    let Err(steps::CreateError::Refused(v)) = steps::create_migration(&s.fixture.ports, &fixtures::admin(), &full, None).await else {
        panic!("refused")
    };
    assert_eq!(v[0].code, ViolationCode::FullHardeningNotWithBillingTransfer);
}

async fn ends_with(s: &LocalStack, id: MigrationId, error: &str, status: Status) {
    let outcome = s.execution(id).unwrap().wait().await;
    assert_eq!(outcome.status, asl::Status::Failed);
    assert_eq!(outcome.error.as_deref(), Some(error));
    let r = record(s, id).await;
    assert_eq!(r.status, status);
    assert_eq!(r.failure.as_ref().unwrap().error, error);
    assert_released(s, id).await;
}

#[tokio::test]
async fn a_declined_transfer_is_its_own_outcome() {
    let (s, _) = stack().await;
    let id = create(&s, None).await;
    let handshake = until_waiting(&s, id).await;
    s.fixture.sim.decline_transfer(&handshake).unwrap();
    sweep(&s).await;
    ends_with(&s, id, names::TRANSFER_DECLINED, Status::TransferDeclined).await;
    assert_eq!(status_path(&s, id).await, path(&[Status::TransferDeclined]));
}

#[tokio::test]
async fn an_invitation_aws_expires_at_the_acceptance_deadline_is_an_expiry() {
    let (s, clock) = stack().await;
    s.fixture.sim.set_transfer_handshake_lifetime(HandshakeLifetime::UntilAcceptBy);
    let id = create(&s, None).await;
    until_waiting(&s, id).await;
    clock.advance((at(ACCEPT_BY) - clock.now() + Duration::minutes(1)).to_std().unwrap());
    sweep(&s).await;
    ends_with(&s, id, names::TRANSFER_EXPIRED, Status::TransferExpired).await;
}

#[tokio::test]
async fn an_invitation_that_outlives_its_window_is_withdrawn_as_a_missed_window() {
    let (s, clock) = stack().await;
    // The other reading: AWS keeps it open longer than it can be accepted.
    s.fixture.sim.set_transfer_handshake_lifetime(HandshakeLifetime::Fixed(Duration::days(60)));
    let id = create(&s, None).await;
    let handshake = until_waiting(&s, id).await;
    clock.advance((at(ACCEPT_BY) - clock.now() + Duration::minutes(1)).to_std().unwrap());
    // Too late for AWS as well.
    assert!(s.fixture.sim.accept_transfer(&handshake).is_err());
    sweep(&s).await;
    ends_with(&s, id, names::TRANSFER_WINDOW_MISSED, Status::TransferWindowMissed).await;
    let r = record(&s, id).await;
    assert!(r.failure.unwrap().remediation.contains("start_month"));
    assert_eq!(s.fixture.sim.transfers()[0].status, TransferStatus::Canceled, "the invitation is withdrawn at AWS");
    assert_eq!(r.billing_transfer.unwrap().handshake.unwrap().state, HandshakeState::Canceled);
}

#[tokio::test]
async fn a_transfer_withdrawn_before_its_start_never_starts() {
    let (s, clock) = stack().await;
    let id = create(&s, None).await;
    let handshake = until_waiting(&s, id).await;
    s.fixture.sim.accept_transfer(&handshake).unwrap();
    sweep(&s).await;
    // The customer withdraws effective the end of March: before April's start.
    let transfer = s.fixture.sim.transfers()[0].clone();
    let _ = clock;
    s.fixture.sim.withdraw_transfer(&transfer.id, at("2026-03-31T23:59:59.999Z")).unwrap();
    ends_with(&s, id, names::TRANSFER_WITHDRAWN, Status::TransferWithdrawn).await;
    assert_eq!(status_path(&s, id).await, path(&[Status::TransferAccepted, Status::TransferWithdrawn]));
    assert!(s.fixture.sim.billing_groups().is_empty(), "no billing group for a transfer that never started");
}

#[tokio::test]
async fn a_cancel_before_acceptance_withdraws_the_invitation() {
    let (s, _) = stack().await;
    let id = create(&s, None).await;
    until_waiting(&s, id).await;
    let canceled = steps::cancel_migration(&s.fixture.ports, &fixtures::admin(), id).await.unwrap();
    assert_eq!(canceled.status, Status::Canceled);
    let outcome = s.execution(id).unwrap().wait().await;
    assert_eq!(outcome.status, asl::Status::Aborted);
    assert_eq!(s.fixture.sim.transfers()[0].status, TransferStatus::Canceled);
    assert_released(&s, id).await;
}

#[tokio::test]
async fn after_acceptance_the_migration_is_not_canceled_but_the_transfer_can_be_ended() {
    let (s, _) = stack().await;
    let id = create(&s, None).await;
    let handshake = until_waiting(&s, id).await;
    s.fixture.sim.accept_transfer(&handshake).unwrap();
    sweep(&s).await;
    let refused = steps::cancel_migration(&s.fixture.ports, &fixtures::admin(), id).await.unwrap_err();
    assert_eq!(refused, steps::CancelError::NotCancellable(Status::TransferAccepted));
    let outcome = s.execution(id).unwrap().wait().await;
    assert_eq!(outcome.status, asl::Status::Succeeded);
    let r = record(&s, id).await;
    // Offboarding: the end of a month, no earlier than the one it is in.
    let early = steps::terminate_transfer(
        &s.fixture.ports,
        migration::record::Actor::Operator("ops".into()),
        r.clone(),
        "2026-03".parse().unwrap(),
    )
    .await;
    assert!(matches!(early, Err(steps::TerminateError::Month(_))), "{early:?}");
    let ended =
        steps::terminate_transfer(&s.fixture.ports, migration::record::Actor::Operator("ops".into()), r, "2026-09".parse().unwrap())
            .await
            .unwrap();
    assert_eq!(ended.billing_transfer.unwrap().billing_ends_at, Some(at("2026-09-30T23:59:59.999Z")));
    assert_eq!(ended.status, Status::Completed);
    assert_eq!(s.fixture.sim.transfers()[0].status, TransferStatus::Withdrawn);
}

#[tokio::test]
async fn every_reason_aws_refuses_a_transfer_fails_with_its_own_remediation() {
    for refusal in TransferRefusal::NAMED {
        let (s, _) = stack().await;
        s.fixture.sim.refuse_transfers_to(&account(), refusal.clone());
        let id = create(&s, None).await;
        ends_with(&s, id, names::TRANSFER_REFUSED, Status::Failed).await;
        let failure = record(&s, id).await.failure.unwrap();
        assert!(failure.cause.contains(refusal.reason()), "{}: {}", refusal.reason(), failure.cause);
        assert_eq!(failure.remediation, refusal.remediation(), "{}", refusal.reason());
    }
}

#[tokio::test]
async fn only_a_management_account_with_all_features_can_transfer_its_bill() {
    for (setup, code) in [(Some(false), ViolationCode::OrganizationWithoutAllFeatures), (None, ViolationCode::NotAManagementAccount)] {
        let (s, _) = stack().await;
        match setup {
            Some(all) => fixtures::make_management_account(&s.fixture.sim, all),
            None => s
                .fixture
                .sim
                .update_customer(&account(), |c| c.own_organization = migration::rules::CustomerOrganization::Standalone)
                .unwrap(),
        }
        let id = create(&s, None).await;
        ends_with(&s, id, names::NOT_ELIGIBLE, Status::Rejected).await;
        let failure = record(&s, id).await.failure.unwrap();
        assert_eq!(failure.violations.iter().map(|v| v.code).collect::<Vec<_>>(), vec![code]);
        assert!(s.fixture.sim.transfers().is_empty(), "nothing invited");
    }
}

/// The longest billing-transfer path: accepted at the last moment of a start named as late
/// as allowed, then the support plan is never upgraded.
#[tokio::test]
async fn the_worst_case_billing_transfer_stays_under_300_history_events() {
    let (s, clock) = stack().await;
    s.fixture.sim.set_support_plan(&account(), SimSupportPlan::Basic).unwrap();
    let id = create(&s, Some("2026-07")).await;
    let handshake = until_waiting(&s, id).await;
    clock.advance((at("2026-06-30T00:00:00Z") - clock.now() - Duration::minutes(1)).to_std().unwrap());
    s.fixture.sim.accept_transfer(&handshake).unwrap();
    sweep(&s).await;
    let outcome = s.execution(id).unwrap().wait().await;
    assert_eq!(outcome.error.as_deref(), Some(names::SUPPORT_UPGRADE_TIMED_OUT));
    assert!(outcome.history.len() < 300, "{} history events", outcome.history.len());
    assert_eq!(record(&s, id).await.status, Status::SupportUpgradeTimedOut);
}
