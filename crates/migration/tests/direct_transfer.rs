//! AWS as it is in 2026, driven through the use-cases on the simulated AWS: direct transfers
//! from another organization, the refusals that remain, account states and support plans.

mod support;

use chrono::Duration;
use migration::error::names;
use migration::ports::{AccountState, MigrationStore};
use migration::record::SupportPlan;
use migration::rules::{CustomerOrganization, ViolationCode};
use migration::steps::{self, HardenOutcome};
use migration::{AwsAccountId, Status, StepError};
use migration_sim::SimSupportPlan;
use support::*;

fn old_management() -> AwsAccountId {
    "111111111111".parse().unwrap()
}

/// The customer's account is a member of organization `o-old` today.
fn make_member(w: &World) {
    w.sim
        .update_customer(&account(), |c| {
            c.own_organization =
                CustomerOrganization::Member { organization_id: "o-old1234".into(), management_account_id: old_management() };
        })
        .unwrap();
}

async fn create_acknowledged(w: &World, access: &str) -> migration::MigrationId {
    let mut req = request(access);
    req.acknowledgements.direct_transfer = true;
    steps::create_migration(&w.ports, &admin(), &req, None).await.expect("created").record.id
}

#[tokio::test]
async fn a_member_of_another_organization_moves_directly_with_its_acknowledgement_recorded() {
    let w = World::new().await;
    make_member(&w);
    let id = create_acknowledged(&w, "full_hardening").await;

    steps::validate(&w.ports, id).await.expect("a member elsewhere is eligible");
    let record = w.record(id).await;
    let transfer = record.direct_transfer.expect("the readiness facts are recorded");
    assert_eq!((transfer.organization_id.as_str(), &transfer.management_account_id), ("o-old1234", &old_management()));
    assert!(record.acknowledgements.direct_transfer, "the acknowledgement is recorded");

    // Invited as any other account; on acceptance AWS moves it out and in, in one step.
    steps::invite(&w.ports, id).await.unwrap();
    steps::wait_for_handshake(&w.ports, id, migration::TaskToken::new("t")).await.unwrap();
    w.advance(Duration::hours(2));
    w.sim.accept(&w.handshake_id(id).await).unwrap();
    let departures = w.sim.departures();
    assert_eq!(departures.len(), 1);
    assert_eq!((departures[0].organization_id.as_str(), departures[0].departure_method), ("o-old1234", "LEFT"));
    steps::account_joined(&w.ports, &account()).await.unwrap();
    let record = w.record(id).await;
    assert_eq!(record.status, Status::Joined);
    assert_eq!(record.joined_at, Some(start_time() + Duration::hours(2)), "joined_at is AWS's JoinedTimestamp");

    w.sim.set_support_plan(&account(), SimSupportPlan::BusinessSupportPlus).unwrap();
    assert!(steps::check_support(&w.ports, id).await.unwrap().confirmed);
    steps::schedule_hardening(&w.ports, id).await.unwrap();
    steps::hardening_scan(&w.ports, 10, || true).await.unwrap();
    assert_eq!(w.status(id).await, Status::Hardened);
}

#[tokio::test]
async fn a_member_elsewhere_without_the_acknowledgement_is_rejected_naming_the_field() {
    let w = World::new().await;
    make_member(&w);
    let id = w.create("full_hardening").await.record.id;
    let err = steps::validate(&w.ports, id).await.unwrap_err();
    let StepError::NotEligible(violations) = &err else { panic!("{err:?}") };
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert_eq!(violations[0].code, ViolationCode::DirectTransferNotAcknowledged);
    assert_eq!(violations[0].field.as_deref(), Some("acknowledgements.direct_transfer"));
    assert!(violations[0].message.contains("o-old1234"));
    w.catch(id, err.name(), &err.cause()).await;
    assert_eq!(w.status(id).await, Status::Rejected);
    assert_eq!(w.store.lock_holder(&account()).await.unwrap(), None, "the account is free for the acknowledged request");
    assert_eq!(w.sim.calls("InviteAccountToOrganization"), 0);

    // The acknowledgement is not needed for a standalone account.
    let w = World::new().await;
    let id = w.create("full_hardening").await.record.id;
    steps::validate(&w.ports, id).await.expect("standalone: no acknowledgement needed");
    assert!(w.record(id).await.direct_transfer.is_none());
}

#[tokio::test]
async fn already_in_an_organization_is_a_named_terminal_outcome_that_releases_the_account() {
    let w = World::new().await;
    make_member(&w);
    // Its organization is in another region group: AWS will not move it directly.
    w.sim.update_customer(&account(), |c| c.transfer_blocked = true).unwrap();
    let id = create_acknowledged(&w, "optimized").await;
    steps::validate(&w.ports, id).await.unwrap();
    let err = steps::invite(&w.ports, id).await.unwrap_err();
    assert_eq!(err, StepError::AlreadyInAnOrganization);
    assert_eq!(err.name(), names::ALREADY_IN_AN_ORGANIZATION);

    let out = w.catch(id, err.name(), &err.cause()).await;
    assert_eq!((out.status, out.error.as_str()), (Status::Failed, names::ALREADY_IN_AN_ORGANIZATION));
    let failure = w.record(id).await.failure.unwrap();
    assert!(failure.remediation.contains("region group"), "{}", failure.remediation);
    assert_eq!(w.store.lock_holder(&account()).await.unwrap(), None);
}

#[tokio::test]
async fn a_management_account_is_told_both_ways_forward_or_only_to_delete_an_empty_organization() {
    for (members, code) in
        [(Some(4), ViolationCode::AccountIsManagementAccount), (Some(1), ViolationCode::AccountIsManagementOfEmptyOrganization)]
    {
        let w = World::new().await;
        w.sim
            .update_customer(&account(), |c| {
                c.own_organization =
                    CustomerOrganization::ManagementAccount { organization_id: "o-own".into(), member_count: members, all_features: true };
            })
            .unwrap();
        let id = create_acknowledged(&w, "full_hardening").await;
        let StepError::NotEligible(violations) = steps::validate(&w.ports, id).await.unwrap_err() else { panic!() };
        assert_eq!(violations.iter().map(|v| v.code).collect::<Vec<_>>(), vec![code]);
    }
}

#[tokio::test]
async fn a_suspended_account_is_not_hardened_and_stops_its_migration() {
    let w = World::new().await;
    let id = w.until_hardening_scheduled("full_hardening", SimSupportPlan::Enterprise).await;

    w.sim.set_account_state(&account(), AccountState::Suspended).unwrap();
    let outcome = steps::harden_one(&w.ports, id).await.unwrap();
    assert!(matches!(outcome, HardenOutcome::Stopped { .. }), "{outcome:?}");
    let record = w.record(id).await;
    assert_eq!(record.status, Status::Failed);
    assert_eq!(record.failure.as_ref().unwrap().error, names::ACCOUNT_NOT_ACTIVE);
    assert_eq!(record.work_queue(), None, "the job left the queue");
    assert_eq!(w.sim.calls("MoveAccount") + w.sim.calls("TagResource"), 0, "nothing was applied to it");
    assert_eq!(w.sim.member_view(&account()).unwrap().0, migration_sim::ROOT_ID, "not moved under any OU's SCPs");
    assert_eq!(w.store.lock_holder(&account()).await.unwrap(), None);
    let report = steps::hardening_scan(&w.ports, 10, || true).await.unwrap();
    assert_eq!(report.examined, 0);
}

#[tokio::test]
async fn an_already_member_account_that_is_closing_is_not_taken_for_a_healthy_member() {
    let w = World::new().await;
    let (id, _) = w.until_invited("optimized").await;
    w.sim.accept(&w.handshake_id(id).await).unwrap();
    w.sim.set_account_state(&account(), AccountState::PendingClosure).unwrap();
    // A fresh migration of the account that already joined: the invite step sees a member.
    steps::record_failure(&w.ports, id, names::FAILED, "test").await.unwrap();
    let again = w.create("optimized").await.record.id;
    steps::validate(&w.ports, again).await.unwrap();
    assert_eq!(steps::invite(&w.ports, again).await.unwrap_err(), StepError::AccountNotActive(AccountState::PendingClosure));
}

#[tokio::test]
async fn the_hardening_scan_reads_the_parent_from_the_accounts_paths() {
    let w = World::new().await;
    let id = w.until_hardening_scheduled("full_hardening", SimSupportPlan::Business).await;
    steps::hardening_scan(&w.ports, 10, || true).await.unwrap();
    assert_eq!(w.status(id).await, Status::Hardened);
    assert_eq!(w.sim.calls("ListParents"), 0, "DescribeAccount's Paths named the parent; both moves needed no ListParents");
    assert_eq!(w.sim.calls("MoveAccount"), 2);
}

#[tokio::test]
async fn every_plan_of_2026_legacy_and_new_is_classified_and_only_paid_ones_confirm() {
    use SimSupportPlan::*;
    for plan in SimSupportPlan::ALL {
        let w = World::new().await;
        let id = w.until_joined("optimized").await;
        w.sim.set_support_plan(&account(), plan).unwrap();
        let out = steps::check_support(&w.ports, id).await.unwrap();
        let expected = match plan {
            Basic | Developer => SupportPlan::BasicOrDeveloper,
            Business | BusinessSupportPlus => SupportPlan::BusinessClass,
            EnterpriseOnRamp | Enterprise | UnifiedOperations => SupportPlan::EnterpriseClass,
        };
        assert_eq!(out.plan, expected, "{plan:?}");
        assert_eq!(out.confirmed, expected.is_paid(), "{plan:?}");
        assert_eq!(w.record(id).await.support.unwrap().plan, expected, "the record says which class was seen");
    }
}

#[tokio::test]
async fn the_first_check_after_the_join_does_not_call_a_plan_basic_on_one_subscription_required() {
    let w = World::new().await;
    // The customer has Business Support+; AWS reactivates it on the consolidated bill five
    // minutes after the join.
    w.sim.set_support_plan(&account(), SimSupportPlan::BusinessSupportPlus).unwrap();
    w.sim.set_support_reactivation(Duration::minutes(5));
    let id = w.until_joined("optimized").await;

    let first = steps::check_support(&w.ports, id).await.unwrap();
    assert!(!first.confirmed);
    assert_eq!(first.wait_seconds, 600, "looks again in ten minutes");
    assert_eq!(w.status(id).await, Status::Joined, "not AWAITING_SUPPORT_UPGRADE: nobody is told to upgrade");
    assert!(migration::progress::next_action(&w.record(id).await).is_none());

    w.advance(Duration::seconds(first.wait_seconds));
    let second = steps::check_support(&w.ports, id).await.unwrap();
    assert!(second.confirmed);
    assert_eq!(second.plan, SupportPlan::BusinessClass);
    assert!(!w.status_trail(id).await.contains(&Status::AwaitingSupportUpgrade));

    // A plan that really is Basic is told to upgrade at the re-check, not before: a retry
    // of the first check (a crash after its write) keeps the re-check's due time.
    let w = World::new().await;
    let id = w.until_joined("optimized").await;
    let first = steps::check_support(&w.ports, id).await.unwrap();
    w.advance(Duration::seconds(60));
    let retried = steps::check_support(&w.ports, id).await.unwrap();
    assert_eq!(w.status(id).await, Status::Joined, "a retry inside the gap asks nothing yet");
    assert_eq!(retried.wait_seconds, first.wait_seconds - 60, "the re-check stays when it was due");
    w.advance(Duration::seconds(retried.wait_seconds));
    steps::check_support(&w.ports, id).await.unwrap();
    assert_eq!(w.status(id).await, Status::AwaitingSupportUpgrade);
}
