//! The use-cases driven in sequence on the in-memory adapters, as the state machine would.

mod support;

use chrono::Duration;
use migration::error::names;
use migration::ports::MigrationStore;
use migration::record::Control;
use migration::record::{HandshakeState, SupportPlan};
use migration::rules::{CustomerOrganization, ViolationCode};
use migration::steps::{self, CancelError, CreateError, HardenOutcome};
use migration::{MigrationId, Status, StepError};
use migration_sim::{FULL_AWS_ACCESS, ROOT_ID, SimSupportPlan, TokenOutcome};
use support::*;

/// The Organizations operations a hardening scan calls.
const SCAN_CALLS: [&str; 5] = ["ListPoliciesForTarget", "AttachPolicy", "DescribeAccount", "MoveAccount", "TagResource"];

/// Joined → support checks until paid, upgrading after `basic_checks` checks.
async fn support_until_confirmed(w: &World, id: MigrationId, basic_checks: u32) -> Vec<i64> {
    let mut waits = Vec::new();
    for check in 0.. {
        if check == basic_checks {
            w.sim.set_support_plan(&account(), SimSupportPlan::Business).unwrap();
        }
        let out = steps::check_support(&w.ports, id).await.expect("checked");
        if out.confirmed {
            break;
        }
        waits.push(out.wait_seconds);
        w.advance(Duration::seconds(out.wait_seconds));
    }
    waits
}

#[tokio::test]
async fn full_hardening_request_reaches_hardened() {
    let w = World::new().await;
    let (id, token) = w.until_invited("full_hardening").await;

    // The customer accepts; the AccountJoinedOrganization event arrives.
    w.advance(Duration::hours(30));
    w.sim.accept(&w.handshake_id(id).await).unwrap();
    steps::account_joined(&w.ports, &account()).await.unwrap();
    let record = w.record(id).await;
    assert_eq!(record.status, Status::Joined);
    assert_eq!(record.joined_at, Some(start_time() + Duration::hours(30)), "consolidated billing start is the exact join time");
    assert!(record.task_token.is_none(), "the token is forgotten once delivered");
    assert!(matches!(w.executions.outcome_for(&token), Some(TokenOutcome::Success(_))));

    let waits = support_until_confirmed(&w, id, 3).await;
    // Basic at the first check right after the join is looked at again in ten minutes
    // (AWS's plan reactivation gap); then the waits double.
    assert_eq!(waits, vec![600, 7200, 14400], "a quick re-check, then waits that grow");
    assert_eq!(w.status(id).await, Status::SupportConfirmed);

    steps::schedule_hardening(&w.ports, id).await.unwrap();
    assert_eq!(w.status(id).await, Status::HardeningScheduled);
    let before: Vec<u64> = SCAN_CALLS.iter().map(|op| w.sim.calls(op)).collect();
    let report = steps::hardening_scan(&w.ports, 10, || true).await.unwrap();
    assert_eq!(report.completed, 1);

    let record = w.record(id).await;
    assert_eq!(record.status, Status::Hardened);
    let (parent, policies, tags) = w.sim.member_view(&account()).unwrap();
    assert_eq!(parent, "ou-root-hardened");
    assert_eq!(policies, vec![FULL_AWS_ACCESS], "no SCP attached to the account itself");
    assert_eq!(w.sim.effective_scps(&account()), vec![FULL_AWS_ACCESS, "p-guardrail1", "p-hardening1", "p-hardening2"], "inherited");
    assert_eq!(tags.get("cam:migration-id"), Some(&id.to_string()));
    assert_eq!(tags.get("cam:hardening").map(String::as_str), Some("full"));
    let applied: Vec<_> = record.hardening.unwrap().applied.into_iter().map(|a| a.control).collect();
    assert_eq!(
        applied,
        vec![
            Control::MoveToOnboardingOu { ou_id: "ou-root-onboarding".into(), scps: vec!["p-guardrail1".into()] },
            Control::MoveToHardenedOu {
                ou_id: "ou-root-hardened".into(),
                scps: vec!["p-guardrail1".into(), "p-hardening1".into(), "p-hardening2".into()]
            },
            Control::TagAccount,
        ],
        "each control is recorded, each move with the SCPs its OU carries"
    );
    let scan_calls: Vec<u64> = SCAN_CALLS.iter().zip(&before).map(|(op, n)| w.sim.calls(op) - n).collect();
    // The OUs carried FullAWSAccess only: the run's OU check attached the guardrail to both
    // and the hardening SCPs to the Hardened OU; then the account cost 4 calls.
    assert_eq!(scan_calls, vec![2, 4, 1, 2, 1], "{SCAN_CALLS:?}");

    assert_eq!(
        w.status_trail(id).await,
        vec![
            Status::Requested,
            Status::Validated,
            Status::Invited,
            Status::Joined,
            Status::AwaitingSupportUpgrade,
            Status::SupportConfirmed,
            Status::HardeningScheduled,
            Status::Hardened
        ]
    );
    assert_eq!(w.store.lock_holder(&account()).await.unwrap(), Some(id), "a migrated account stays locked");
    assert_eq!(w.sim.invitations_to(&account()).len(), 1);
}

#[tokio::test]
async fn optimized_request_completes_with_only_the_onboarding_baseline() {
    let w = World::new().await;
    w.sim.set_support_plan(&account(), SimSupportPlan::EnterpriseOnRamp).unwrap();
    let (id, _) = w.until_invited("optimized").await;
    w.sim.accept(&w.handshake_id(id).await).unwrap();
    steps::account_joined(&w.ports, &account()).await.unwrap();
    assert_eq!(support_until_confirmed(&w, id, 0).await, Vec::<i64>::new());
    steps::schedule_hardening(&w.ports, id).await.unwrap();
    assert_eq!(w.status(id).await, Status::Completed);

    steps::hardening_scan(&w.ports, 10, || true).await.unwrap();
    let (parent, policies, tags) = w.sim.member_view(&account()).unwrap();
    assert_eq!(parent, "ou-root-onboarding");
    assert_eq!(policies, vec![FULL_AWS_ACCESS]);
    assert_eq!(w.sim.effective_scps(&account()), vec![FULL_AWS_ACCESS, "p-guardrail1"]);
    assert!(tags.is_empty(), "optimized accounts are not tagged as hardened");
    assert_eq!(w.status(id).await, Status::Completed);
    assert_eq!(w.status_trail(id).await.last(), Some(&Status::Completed));
}

/// After a failure the account is free: a new request for it starts.
async fn assert_account_released(w: &World, failed: MigrationId) {
    assert_eq!(w.store.lock_holder(&account()).await.unwrap(), None, "no lock left behind");
    let again = steps::create_migration(&w.ports, &admin(), &request("full_hardening"), None).await.expect("a new request starts");
    assert_ne!(again.record.id, failed);
}

#[tokio::test]
async fn declined_invitation_ends_declined_and_releases_the_account() {
    let w = World::new().await;
    let (id, token) = w.until_invited("full_hardening").await;
    w.sim.decline(&w.handshake_id(id).await).unwrap();

    // No event for declines: the watcher's sweep finds it.
    w.advance(Duration::minutes(10));
    let report = steps::sweep_handshakes(&w.ports, 50).await.unwrap();
    assert_eq!(report.resolved, 1);
    let Some(TokenOutcome::Failure { error, cause }) = w.executions.outcome_for(&token) else { panic!("token failed") };
    assert_eq!(error, names::INVITATION_DECLINED);

    let out = w.catch(id, &error, &cause).await;
    assert_eq!(out.error, names::INVITATION_DECLINED);
    let record = w.record(id).await;
    assert_eq!(record.status, Status::InvitationDeclined);
    assert!(record.failure.unwrap().remediation.contains("new migration"));
    assert_account_released(&w, id).await;
}

#[tokio::test]
async fn invitation_canceled_through_the_api_ends_canceled() {
    let w = World::new().await;
    let (id, _) = w.until_invited("full_hardening").await;
    let record = steps::cancel_migration(&w.ports, &admin(), id).await.unwrap();
    assert_eq!(record.status, Status::Canceled);
    assert_eq!(w.sim.invitations_to(&account())[0].state, HandshakeState::Canceled);
    assert_eq!(w.executions.stopped(), vec![(id, names::CANCELED.to_owned())]);

    // Cancel twice is harmless.
    let again = steps::cancel_migration(&w.ports, &admin(), id).await.unwrap();
    assert_eq!(again.version, record.version, "nothing written the second time");
    assert_account_released(&w, id).await;
}

#[tokio::test]
async fn invitation_canceled_outside_ends_canceled() {
    let w = World::new().await;
    let (id, token) = w.until_invited("full_hardening").await;
    // An operator cancels the handshake in the Organizations console.
    w.ports.orgs.cancel_handshake(&w.handshake_id(id).await, &migration_sim::fixtures::account()).await.unwrap();
    w.advance(Duration::minutes(10));
    steps::sweep_handshakes(&w.ports, 50).await.unwrap();
    let Some(TokenOutcome::Failure { error, cause }) = w.executions.outcome_for(&token) else { panic!("token failed") };
    assert_eq!(error, names::INVITATION_CANCELED);
    w.catch(id, &error, &cause).await;
    assert_eq!(w.status(id).await, Status::Canceled);
    assert_account_released(&w, id).await;
}

#[tokio::test]
async fn expired_invitation_ends_expired() {
    let w = World::new().await;
    let (id, token) = w.until_invited("full_hardening").await;
    w.advance(Duration::days(15));
    steps::sweep_handshakes(&w.ports, 50).await.unwrap();
    let Some(TokenOutcome::Failure { error, cause }) = w.executions.outcome_for(&token) else { panic!("token failed") };
    assert_eq!(error, names::INVITATION_EXPIRED);
    w.catch(id, &error, &cause).await;
    assert_eq!(w.status(id).await, Status::InvitationExpired);
    assert_account_released(&w, id).await;
}

#[tokio::test]
async fn the_state_machine_timeout_on_the_wait_also_means_expired() {
    let w = World::new().await;
    let (id, _) = w.until_invited("full_hardening").await;
    let out = w.catch(id, names::STATES_TIMEOUT, "Task timed out").await;
    assert_eq!((out.status, out.error.as_str()), (Status::InvitationExpired, names::INVITATION_EXPIRED));
}

#[tokio::test]
async fn missed_support_deadline_ends_timed_out_and_a_new_request_resumes_after_join() {
    let w = World::new().await;
    let (id, _) = w.until_invited("full_hardening").await;
    w.sim.accept(&w.handshake_id(id).await).unwrap();
    steps::account_joined(&w.ports, &account()).await.unwrap();

    let mut checks = 0;
    let err = loop {
        match steps::check_support(&w.ports, id).await {
            Ok(out) => {
                assert!(!out.confirmed && out.wait_seconds <= 86_400);
                w.advance(Duration::seconds(out.wait_seconds));
                checks += 1;
            }
            Err(e) => break e,
        }
    };
    assert_eq!(err, StepError::SupportUpgradeTimedOut);
    assert!((10..=25).contains(&checks), "about 19 checks over 14 days, not hundreds: {checks}");
    let record = w.record(id).await;
    assert_eq!(
        record.support.as_ref().unwrap().last_checked_at,
        record.support.as_ref().unwrap().deadline,
        "the last check is at the deadline"
    );

    w.catch(id, err.name(), &err.cause()).await;
    assert_eq!(w.status(id).await, Status::SupportUpgradeTimedOut);
    assert_eq!(w.store.lock_holder(&account()).await.unwrap(), None);

    // The customer upgrades, an operator starts again: the account is already a member, so
    // there is nothing to invite.
    w.sim.set_support_plan(&account(), SimSupportPlan::Business).unwrap();
    let again = w.create("full_hardening").await.record.id;
    steps::validate(&w.ports, again).await.expect("membership of the partner organization is allowed");
    let invited = steps::invite(&w.ports, again).await.unwrap();
    assert!(invited.already_member);
    assert_eq!(w.status(again).await, Status::Joined);
    assert_eq!(w.sim.invitations_to(&account()).len(), 1, "no second invitation");
}

#[tokio::test]
async fn rejection_in_validate_records_every_violation() {
    let w = World::new().await;
    w.sim
        .update_customer(&account(), |c| {
            c.own_organization =
                CustomerOrganization::ManagementAccount { organization_id: "o-own".into(), member_count: Some(3), all_features: true };
            c.roles.insert(role("full_hardening"), migration_sim::RoleTrust::NoExternalId);
        })
        .unwrap();
    let id = w.create("full_hardening").await.record.id;
    let err = steps::validate(&w.ports, id).await.unwrap_err();
    let StepError::NotEligible(violations) = &err else { panic!("{err:?}") };
    let codes: Vec<_> = violations.iter().map(|v| v.code).collect();
    assert_eq!(codes, vec![ViolationCode::ExternalIdNotEnforced, ViolationCode::AccountIsManagementAccount]);

    let out = w.catch(id, err.name(), &err.cause()).await;
    assert_eq!(out.error, names::NOT_ELIGIBLE);
    let record = w.record(id).await;
    assert_eq!(record.status, Status::Rejected);
    assert_eq!(record.failure.unwrap().violations.len(), 2, "the violations survive the trip through the state machine");
    assert_eq!(w.sim.calls("InviteAccountToOrganization"), 0, "nothing was invited");
    assert_eq!(w.store.lock_holder(&account()).await.unwrap(), None);
}

#[tokio::test]
async fn role_not_assumable_is_a_rejection_not_a_crash() {
    let w = World::new().await;
    w.sim
        .update_customer(&account(), |c| {
            c.roles.insert(role("full_hardening"), migration_sim::RoleTrust::ExternalId("someone-else".parse().unwrap()));
        })
        .unwrap();
    let id = w.create("full_hardening").await.record.id;
    let err = steps::validate(&w.ports, id).await.unwrap_err();
    assert!(matches!(&err, StepError::NotEligible(v) if v[0].code == ViolationCode::RoleNotAssumable), "{err:?}");
}

#[tokio::test]
async fn create_refuses_bad_requests_with_all_problems_and_writes_nothing() {
    let w = World::new().await;
    let mut bad = request("full_hardening");
    bad.aws_account_id = "12345".into();
    bad.acknowledgements.reserved_instances = false;
    bad.accepted_terms.pop();
    let Err(CreateError::Refused(violations)) = steps::create_migration(&w.ports, &admin(), &bad, None).await else { panic!() };
    let codes: Vec<_> = violations.iter().map(|v| v.code).collect();
    assert!(codes.contains(&ViolationCode::InvalidAccountId));
    assert!(codes.contains(&ViolationCode::ReservedInstancesNotAcknowledged));
    assert!(codes.contains(&ViolationCode::TermsNotAccepted));
    assert!(w.store.all().is_empty() && w.store.locks().is_empty());

    let mut user = admin();
    user.role = migration::rules::CamRole::User;
    let Err(CreateError::Refused(v)) = steps::create_migration(&w.ports, &user, &request("full_hardening"), None).await else { panic!() };
    assert_eq!(v[0].code, ViolationCode::CallerNotAdministrator);
    assert!(w.executions.started().is_empty());
}

#[tokio::test]
async fn one_active_migration_per_account() {
    let w = World::new().await;
    let first = w.create("full_hardening").await.record.id;
    let Err(CreateError::Refused(v)) = steps::create_migration(&w.ports, &admin(), &request("optimized"), None).await else { panic!() };
    assert_eq!(v[0].code, ViolationCode::AccountAlreadyMigrating);
    assert!(v[0].message.contains(&first.to_string()), "the conflict names the existing migration");
}

/// Another organization asking for the same account learns that it is taken, and nothing
/// about the migration that holds it: no id (a ULID tells when it was made), no time.
#[tokio::test]
async fn a_lock_held_by_another_organization_reveals_nothing_of_it() {
    let w = World::new().await;
    let first = w.create("full_hardening").await.record;
    let other_org: migration::OrgId = "globex".parse().unwrap();
    let mut profile = migration_sim::fixtures::profile();
    profile.org_id = other_org.clone();
    profile.external_id = "cam-globex-0001".parse().unwrap();
    w.store.put_org_profile(&profile).await.unwrap();
    let other = migration::rules::Caller { org: other_org, ..admin() };

    let Err(CreateError::Refused(v)) = steps::create_migration(&w.ports, &other, &request("optimized"), None).await else { panic!() };
    assert_eq!(v.iter().map(|v| v.code).collect::<Vec<_>>(), vec![ViolationCode::AccountAlreadyMigrating]);
    let text = serde_json::to_string(&v).unwrap();
    assert!(!text.contains(&first.id.to_string()), "{text}");
    assert!(!text.contains(&first.id.to_string()[..10]), "not even the ULID's time part: {text}");
    assert!(!text.contains(first.org_id.as_str()) && !text.contains(&first.provider_name), "{text}");
    assert!(!text.contains("2026-"), "no time of the other migration: {text}");
}

#[tokio::test]
async fn idempotency_key_replays_the_same_answer_and_refuses_another_body() {
    let w = World::new().await;
    let a = steps::create_migration(&w.ports, &admin(), &request("full_hardening"), Some("key-1")).await.unwrap();
    let b = steps::create_migration(&w.ports, &admin(), &request("full_hardening"), Some("key-1")).await.unwrap();
    assert!(!a.replayed && b.replayed);
    assert_eq!(a.record.id, b.record.id);
    let err = steps::create_migration(&w.ports, &admin(), &request("optimized"), Some("key-1")).await.unwrap_err();
    assert!(matches!(err, CreateError::IdempotencyMismatch { migration_id } if migration_id == a.record.id));
    assert_eq!(w.store.all().len(), 1);
}

#[tokio::test]
async fn retried_invite_after_a_crash_sends_no_second_invitation() {
    let w = World::new().await;
    let id = w.create("full_hardening").await.record.id;
    steps::validate(&w.ports, id).await.unwrap();
    // The first attempt invited, then crashed before writing the record.
    let sent = w.ports.orgs.invite_account(&account(), id).await.unwrap();
    let out = steps::invite(&w.ports, id).await.unwrap();
    assert_eq!(out.handshake_id, Some(sent.id));
    assert_eq!(w.sim.calls("InviteAccountToOrganization"), 1);
    // And a retry of the whole step is a no-op.
    let history_len = w.history(id).await.len();
    steps::invite(&w.ports, id).await.unwrap();
    assert_eq!(w.history(id).await.len(), history_len, "no duplicated history event");
}

#[tokio::test]
async fn acceptance_found_by_the_sweep_alone_when_the_event_is_missed() {
    let w = World::new().await;
    let (id, token) = w.until_invited("full_hardening").await;
    w.sim.accept(&w.handshake_id(id).await).unwrap();
    w.advance(Duration::minutes(10));
    let report = steps::sweep_handshakes(&w.ports, 50).await.unwrap();
    assert_eq!((report.examined, report.resolved), (1, 1));
    assert_eq!(w.status(id).await, Status::Joined);
    assert!(matches!(w.executions.outcome_for(&token), Some(TokenOutcome::Success(_))));
    // The event arriving late changes nothing.
    let before = w.record(id).await;
    steps::account_joined(&w.ports, &account()).await.unwrap();
    assert_eq!(w.record(id).await.version, before.version);
}

#[tokio::test]
async fn acceptance_before_the_wait_step_is_resolved_by_the_wait_step_itself() {
    let w = World::new().await;
    let id = w.create("full_hardening").await.record.id;
    steps::validate(&w.ports, id).await.unwrap();
    steps::invite(&w.ports, id).await.unwrap();
    w.sim.accept(&w.handshake_id(id).await).unwrap();
    steps::account_joined(&w.ports, &account()).await.unwrap();
    assert_eq!(w.status(id).await, Status::Joined);
    let token = migration::TaskToken::new("late-token");
    steps::wait_for_handshake(&w.ports, id, token.clone()).await.unwrap();
    assert!(matches!(w.executions.outcome_for(&token), Some(TokenOutcome::Success(_))));
}

#[tokio::test]
async fn unknown_support_plan_is_never_taken_for_basic() {
    let w = World::new().await;
    let (id, _) = w.until_invited("full_hardening").await;
    w.sim.accept(&w.handshake_id(id).await).unwrap();
    steps::account_joined(&w.ports, &account()).await.unwrap();
    w.sim.update_customer(&account(), |c| c.support_access_denied = true).unwrap();
    let out = steps::check_support(&w.ports, id).await.unwrap();
    assert_eq!(out.plan, SupportPlan::Unknown);
    assert_eq!(w.status(id).await, Status::Joined, "not moved to awaiting an upgrade on a guess");

    // The customer is told what to change in the role, not to buy a plan.
    let action = migration::progress::next_action(&w.record(id).await).expect("an action");
    assert_eq!(action.code, "GRANT_SUPPORT_READ");
    assert!(action.description.contains("support:DescribeSeverityLevels"), "{}", action.description);
    assert!(!action.description.contains("upgrade"), "{}", action.description);

    // Unreadable until the deadline: its own outcome, with no claim about the plan.
    let err = w.support_until_the_end(id).await;
    assert_eq!(err.name(), names::SUPPORT_PLAN_UNREADABLE, "{err:?}");
    let out = w.catch(id, err.name(), &err.cause()).await;
    assert_eq!(out.status, Status::SupportPlanUnreadable);
    let failure = w.record(id).await.failure.unwrap();
    assert!(failure.remediation.contains("support:DescribeSeverityLevels"));
    assert!(!failure.remediation.contains("upgrade"), "{}", failure.remediation);
    assert_eq!(w.store.lock_holder(&account()).await.unwrap(), None, "released like every failure");
}

/// Read as Basic, then unreadable at the deadline (throttling, a broken role): the outcome
/// rests on the last reading, not on the one failed check.
#[tokio::test]
async fn one_unreadable_last_check_after_basic_readings_is_still_a_missed_upgrade() {
    let w = World::new().await;
    let id = w.until_joined("optimized").await;
    let err = loop {
        let last =
            w.record(id).await.support.is_some_and(|s| migration::ports::Clock::now(w.clock.as_ref()) + Duration::days(2) > s.deadline);
        if last {
            w.sim.update_customer(&account(), |c| c.support_access_denied = true).unwrap();
        }
        match steps::check_support(&w.ports, id).await {
            Ok(out) => w.advance(Duration::seconds(out.wait_seconds)),
            Err(e) => break e,
        }
    };
    assert_eq!(err.name(), names::SUPPORT_UPGRADE_TIMED_OUT, "{err:?}");
    let support = w.record(id).await.support.unwrap();
    assert_eq!((support.plan, support.last_read), (SupportPlan::Unknown, Some(SupportPlan::BasicOrDeveloper)));
}

/// The guardrail does not wait for the support plan: the scan after the join applies the
/// onboarding baseline while the customer still has days to upgrade, a missed deadline keeps
/// it, and Full Hardening later adds only its own controls.
#[tokio::test]
async fn the_onboarding_baseline_is_applied_when_the_account_joins() {
    let w = World::new().await;
    let id = w.until_joined("full_hardening").await;
    let record = w.record(id).await;
    assert_eq!(record.status, Status::Joined);
    assert_eq!(record.hardening.as_ref().map(|j| j.planned.clone()), Some(steps::planned_controls(&w.ports.settings, false)));
    let report = steps::hardening_scan(&w.ports, 10, || true).await.unwrap();
    assert_eq!(report.completed, 1, "the baseline is due at the join");
    let (parent, _, _) = w.sim.member_view(&account()).unwrap();
    assert_eq!(
        (parent.as_str(), w.sim.effective_scps(&account())),
        ("ou-root-onboarding", vec![FULL_AWS_ACCESS.to_owned(), "p-guardrail1".to_owned()])
    );
    assert_eq!(w.status(id).await, Status::Joined, "the baseline changes no status");

    // Support confirmed days later: Full Hardening adds its controls to the same job.
    w.advance(Duration::days(3));
    w.sim.set_support_plan(&account(), SimSupportPlan::BusinessSupportPlus).unwrap();
    steps::check_support(&w.ports, id).await.unwrap();
    steps::schedule_hardening(&w.ports, id).await.unwrap();
    let moves_before = w.sim.calls("MoveAccount");
    let attaches_before = w.sim.calls("AttachPolicy");
    steps::hardening_scan(&w.ports, 10, || true).await.unwrap();
    assert_eq!(w.sim.calls("AttachPolicy"), attaches_before, "the OUs carry their SCPs since the first run");
    let record = w.record(id).await;
    assert_eq!(record.status, Status::Hardened);
    let applied: Vec<_> = record.hardening.unwrap().applied.into_iter().map(|a| a.control).collect();
    assert_eq!(applied, steps::planned_controls(&w.ports.settings, true), "each control once, baseline first");
    assert_eq!(w.sim.calls("MoveAccount") - moves_before, 1, "only the move to the Hardened OU is left");

    // A missed deadline keeps the guardrail: the account stays a guarded member.
    let w = World::new().await;
    let id = w.until_joined("optimized").await;
    let err = w.support_until_the_end(id).await;
    w.catch(id, err.name(), &err.cause()).await;
    assert_eq!(w.status(id).await, Status::SupportUpgradeTimedOut);
    steps::hardening_scan(&w.ports, 10, || true).await.unwrap();
    assert!(w.sim.effective_scps(&account()).contains(&"p-guardrail1".to_owned()), "the guardrail holds after the deadline");
}

/// The SCPs live on the two OUs: one check of both per run, whatever the number of jobs,
/// attaching what is missing (the first run, or after an operator detached one).
#[tokio::test]
async fn the_baseline_ous_are_checked_once_per_run_and_given_back_a_detached_scp() {
    let w = World::new().await;
    let mut ids = Vec::new();
    for (i, access) in ["full_hardening", "optimized", "full_hardening"].into_iter().enumerate() {
        let account: migration::AwsAccountId = format!("00012345678{i}").parse().unwrap();
        ids.push(w.until_hardening_scheduled_for(&account, access, SimSupportPlan::Business).await);
    }
    let report = steps::hardening_scan(&w.ports, 10, || true).await.unwrap();
    assert_eq!((report.completed, report.blocked, report.unverified_ous.clone()), (3, 0, vec![]));
    assert_eq!((w.sim.calls("ListPoliciesForTarget"), w.sim.calls("AttachPolicy")), (2, 4), "one check per OU, not per account");
    let settings = &w.ports.settings;
    assert_eq!(w.sim.scps_attached_to(&settings.onboarding_ou_id), vec![FULL_AWS_ACCESS, "p-guardrail1"]);
    assert_eq!(w.sim.scps_attached_to(&settings.hardened_ou_id), vec![FULL_AWS_ACCESS, "p-guardrail1", "p-hardening1", "p-hardening2"]);

    // An operator detaches the guardrail from the Hardened OU: the next run with a due job
    // attaches it again before it moves anyone in.
    w.sim.detach_scp("p-guardrail1", &settings.hardened_ou_id).unwrap();
    let late = w.until_hardening_scheduled_for(&"000123456783".parse().unwrap(), "full_hardening", SimSupportPlan::Business).await;
    steps::hardening_scan(&w.ports, 10, || true).await.unwrap();
    assert_eq!(w.status(late).await, Status::Hardened);
    assert!(w.sim.scps_attached_to(&settings.hardened_ou_id).contains(&"p-guardrail1".to_owned()));
    assert_eq!((w.sim.calls("ListPoliciesForTarget"), w.sim.calls("AttachPolicy")), (4, 5));
    // A run with nothing due checks nothing.
    steps::hardening_scan(&w.ports, 10, || true).await.unwrap();
    assert_eq!(w.sim.calls("ListPoliciesForTarget"), 4);
}

/// The Hardened OU cannot take all its SCPs (the partner attached two of its own, so the
/// second hardening SCP would be a sixth): no account is moved into it. Full Hardening jobs still get the Onboarding OU's guardrail, then wait
/// at every run without counting attempts (the partner's problem must not fail the
/// customer's migration), Optimized jobs complete, and the run names the OU. Once the
/// partner frees a place, the next run finishes the jobs.
#[tokio::test]
async fn no_account_is_moved_into_an_ou_that_cannot_be_shown_to_carry_its_scps() {
    let w = World::new().await;
    let hardened = w.ports.settings.hardened_ou_id.clone();
    for i in 1..=2 {
        let scp = format!("p-partner{i:04}");
        w.sim.create_scp(&scp);
        w.ports.orgs.attach_policy(&scp, &hardened).await.unwrap();
    }
    let full = w.until_hardening_scheduled("full_hardening", SimSupportPlan::Business).await;
    let optimized_account: migration::AwsAccountId = "000123456780".parse().unwrap();
    let optimized = w.until_hardening_scheduled_for(&optimized_account, "optimized", SimSupportPlan::Business).await;

    let report = steps::hardening_scan(&w.ports, 10, || true).await.unwrap();
    assert_eq!((report.completed, report.blocked), (1, 1), "{report:?}");
    assert_eq!(report.unverified_ous.len(), 1);
    assert!(report.unverified_ous[0].contains(&hardened) && report.unverified_ous[0].contains("MAX_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED"));
    assert_eq!(w.status(optimized).await, Status::Completed);
    let (parent, _, _) = w.sim.member_view(&account()).unwrap();
    assert_eq!(parent, w.ports.settings.onboarding_ou_id, "the baseline applied, under the guardrail; never the Hardened OU");
    let record = w.record(full).await;
    assert_eq!(record.status, Status::HardeningScheduled);
    let job = record.hardening.unwrap();
    assert!(job.last_error.as_deref().is_some_and(|e| e.contains(&hardened)), "{:?}", job.last_error);
    let attempts = job.attempts;

    for _ in 0..60 {
        w.advance(Duration::minutes(15));
        let report = steps::hardening_scan(&w.ports, 10, || true).await.unwrap();
        assert_eq!((report.blocked, report.completed), (1, 0));
    }
    let record = w.record(full).await;
    assert_eq!(record.hardening.as_ref().unwrap().attempts, attempts, "waiting on an OU counts no attempt: no HardeningStalled");
    assert_eq!(w.sim.member_view(&account()).unwrap().0, w.ports.settings.onboarding_ou_id);
    let waits = w.history(full).await.into_iter().filter(|e| e.note.starts_with("hardening waits")).count();
    assert_eq!(waits, 1, "the history says it once, not at every run");

    w.sim.detach_scp("p-partner0002", &hardened).unwrap();
    w.advance(Duration::minutes(15));
    let report = steps::hardening_scan(&w.ports, 10, || true).await.unwrap();
    assert_eq!((report.completed, report.unverified_ous.len()), (1, 0));
    assert_eq!(w.status(full).await, Status::Hardened);
    assert_eq!(w.sim.member_view(&account()).unwrap().0, hardened);
}

/// The scan may not read the OUs at all (the role lost ListPoliciesForTarget): nobody is
/// moved, not even into the Onboarding OU, until it can.
#[tokio::test]
async fn an_ou_check_denied_moves_no_account_until_it_is_allowed() {
    let w = World::new().await;
    let id = w.until_joined("optimized").await;
    w.sim.deny("ListPoliciesForTarget");
    let account_calls = w.sim.calls("DescribeAccount") + w.sim.calls("MoveAccount");
    let report = steps::hardening_scan(&w.ports, 10, || true).await.unwrap();
    assert_eq!((report.blocked, report.unverified_ous.len()), (1, 2));
    assert!(report.unverified_ous.iter().all(|r| r.contains("access denied")), "{:?}", report.unverified_ous);
    assert_eq!(w.sim.member_view(&account()).unwrap().0, ROOT_ID);
    assert_eq!(w.sim.calls("DescribeAccount") + w.sim.calls("MoveAccount"), account_calls, "a blocked job costs no account call");

    w.sim.allow("ListPoliciesForTarget");
    w.advance(Duration::minutes(15));
    assert_eq!(steps::hardening_scan(&w.ports, 10, || true).await.unwrap().completed, 1);
    assert_eq!(w.sim.member_view(&account()).unwrap().0, w.ports.settings.onboarding_ou_id);
    assert_eq!(w.record(id).await.hardening.unwrap().attempts, 1);
}

/// A job recorded while the SCPs were attached to each account (before they moved to the
/// OUs): what it applied stays on record; the attachments it had not made are dropped, since
/// the OU carries those SCPs; the move it had not made names the OU's SCPs.
#[tokio::test]
async fn a_job_recorded_with_per_account_attachments_finishes_through_the_ous() {
    let w = World::new().await;
    let id = w.until_hardening_scheduled("full_hardening", SimSupportPlan::Business).await;
    // The account went to the Onboarding OU and had the guardrail attached to it; then the
    // scan crashed before its hardening SCPs and the move to the Hardened OU.
    let settings = &w.ports.settings;
    w.ports.orgs.move_account(&account(), ROOT_ID, &settings.onboarding_ou_id).await.unwrap();
    w.ports.orgs.attach_policy("p-guardrail1", account().as_str()).await.unwrap();
    let legacy: migration::record::HardeningJob = serde_json::from_value(serde_json::json!({
        "full": true,
        "planned": [
            {"control": "move_to_onboarding_ou", "ou_id": settings.onboarding_ou_id},
            {"control": "attach_guardrail_scp", "policy_id": "p-guardrail1"},
            {"control": "move_to_hardened_ou", "ou_id": settings.hardened_ou_id},
            {"control": "attach_hardening_scp", "policy_id": "p-hardening1"},
            {"control": "attach_hardening_scp", "policy_id": "p-hardening2"},
            {"control": "tag_account"}
        ],
        "applied": [
            {"control": "move_to_onboarding_ou", "ou_id": settings.onboarding_ou_id, "applied_at": "2026-03-02T09:00:00Z"},
            {"control": "attach_guardrail_scp", "policy_id": "p-guardrail1", "applied_at": "2026-03-02T09:00:01Z"}
        ],
        "attempts": 1
    }))
    .unwrap();
    let record = w.record(id).await;
    let mut change = migration::record::ChangeBuilder::new(&record, migration::record::Actor::System("test".into()), record.updated_at);
    change.record().hardening = Some(legacy);
    w.store.update(&change.build()).await.unwrap();

    // While a baseline OU cannot be verified, the job adopts nothing: the attachments it
    // would drop lean on the OUs.
    w.sim.deny("ListPoliciesForTarget");
    let planned_before = w.record(id).await.hardening.unwrap().planned;
    assert_eq!(steps::hardening_scan(&w.ports, 10, || true).await.unwrap().blocked, 1);
    assert_eq!(w.record(id).await.hardening.unwrap().planned, planned_before);
    w.sim.allow("ListPoliciesForTarget");
    w.advance(Duration::minutes(15));
    let attaches = w.sim.calls("AttachPolicy");

    assert_eq!(steps::hardening_scan(&w.ports, 10, || true).await.unwrap().completed, 1);

    let record = w.record(id).await;
    assert_eq!(record.status, Status::Hardened);
    let job = record.hardening.unwrap();
    let applied: Vec<_> = job.applied.iter().map(|a| a.control.clone()).collect();
    assert_eq!(
        applied,
        vec![
            Control::MoveToOnboardingOu { ou_id: settings.onboarding_ou_id.clone(), scps: vec![] },
            Control::AttachGuardrailScp { policy_id: "p-guardrail1".into() },
            Control::MoveToHardenedOu {
                ou_id: settings.hardened_ou_id.clone(),
                scps: vec!["p-guardrail1".into(), "p-hardening1".into(), "p-hardening2".into()]
            },
            Control::TagAccount,
        ]
    );
    assert!(job.planned.iter().all(|c| !c.is_account_attachment() || applied.contains(c)), "{:?}", job.planned);
    assert_eq!(w.sim.calls("AttachPolicy") - attaches, 4, "to the OUs only (their first check), none to the account");
    assert_eq!(w.sim.scps_attached_to(account().as_str()), vec![FULL_AWS_ACCESS, "p-guardrail1"], "what was attached stays");
    assert_eq!(w.sim.member_view(&account()).unwrap().0, settings.hardened_ou_id);
}

/// A job that keeps waiting (the customer removed the role) stops after its stated bound
/// with an outcome an operator sees, instead of retrying forever.
#[tokio::test]
async fn a_hardening_job_that_never_gets_ready_stops_after_its_bound() {
    let w = World::new().await;
    let id = w.until_hardening_scheduled("full_hardening", SimSupportPlan::Enterprise).await;
    w.sim.update_customer(&account(), |c| c.roles.clear()).unwrap();

    let bound = w.ports.settings.hardening_max_attempts;
    let mut waits = 0;
    let outcome = loop {
        match steps::harden_one(&w.ports, id).await.unwrap() {
            HardenOutcome::NotReady { .. } => waits += 1,
            HardenOutcome::Completed { .. } => {} // the baseline needs no role
            other => break other,
        }
        w.advance(w.ports.settings.hardening_retry);
        assert!(waits <= bound, "never stopped");
    };
    assert!(matches!(outcome, HardenOutcome::Stopped { .. }), "{outcome:?}");
    let record = w.record(id).await;
    assert_eq!(record.status, Status::Failed);
    let failure = record.failure.clone().unwrap();
    assert_eq!(failure.error, names::HARDENING_STALLED);
    assert!(failure.cause.contains("assume"), "the cause names the last error: {}", failure.cause);
    assert_eq!(record.work_queue(), None, "out of the queue");
    assert!(steps::hardening_scan(&w.ports, 10, || true).await.unwrap().examined == 0);
}

#[tokio::test]
async fn hardening_waits_for_access_and_never_runs_twice() {
    let w = World::new().await;
    w.sim.set_support_plan(&account(), SimSupportPlan::Business).unwrap();
    let (id, _) = w.until_invited("full_hardening").await;
    w.sim.accept(&w.handshake_id(id).await).unwrap();
    steps::account_joined(&w.ports, &account()).await.unwrap();
    steps::check_support(&w.ports, id).await.unwrap();
    steps::schedule_hardening(&w.ports, id).await.unwrap();

    // The customer removed the role: the job waits and says why.
    w.sim.update_customer(&account(), |c| c.roles.clear()).unwrap();
    assert!(matches!(steps::harden_one(&w.ports, id).await.unwrap(), HardenOutcome::NotReady { .. }));
    assert_eq!(w.sim.member_view(&account()).unwrap().0, ROOT_ID, "nothing applied without access");
    assert!(w.record(id).await.hardening.unwrap().last_error.unwrap().contains("assume"));

    w.sim
        .update_customer(&account(), |c| {
            c.roles.insert(role("full_hardening"), migration_sim::RoleTrust::ExternalId(EXTERNAL_ID.parse().unwrap()));
        })
        .unwrap();
    // Not due until the retry time.
    assert_eq!(steps::hardening_scan(&w.ports, 10, || true).await.unwrap().examined, 0);
    w.advance(Duration::hours(1));
    assert_eq!(steps::hardening_scan(&w.ports, 10, || true).await.unwrap().completed, 1);
    let moves = w.sim.calls("MoveAccount");
    w.advance(Duration::days(1));
    assert_eq!(steps::hardening_scan(&w.ports, 10, || true).await.unwrap().examined, 0, "a hardened account is never due again");
    assert_eq!(steps::harden_one(&w.ports, id).await.unwrap(), HardenOutcome::Skipped);
    assert_eq!(w.sim.calls("MoveAccount"), moves);
}

#[tokio::test]
async fn cancel_is_refused_after_the_account_joined_and_for_other_organizations() {
    let w = World::new().await;
    let (id, _) = w.until_invited("full_hardening").await;
    let mut stranger = admin();
    stranger.org = "globex".parse().unwrap();
    assert_eq!(steps::cancel_migration(&w.ports, &stranger, id).await.unwrap_err(), CancelError::NotFound);

    w.sim.accept(&w.handshake_id(id).await).unwrap();
    steps::account_joined(&w.ports, &account()).await.unwrap();
    assert_eq!(steps::cancel_migration(&w.ports, &admin(), id).await.unwrap_err(), CancelError::NotCancellable(Status::Joined));
}

#[tokio::test]
async fn unstarted_records_are_started_by_the_sweep() {
    let w = World::new().await;
    let id = w.create("full_hardening").await.record.id;
    assert_eq!(w.executions.start_calls(), 1);
    assert_eq!(steps::sweep_unstarted(&w.ports, 10).await.unwrap().examined, 0, "not before the grace period");
    w.advance(Duration::minutes(6));
    assert_eq!(steps::sweep_unstarted(&w.ports, 10).await.unwrap().started, 1);
    assert_eq!(w.executions.started(), vec![id]);
    steps::validate(&w.ports, id).await.unwrap();
    w.advance(Duration::minutes(6));
    assert_eq!(steps::sweep_unstarted(&w.ports, 10).await.unwrap().examined, 0, "a validated record is out of the queue");
}

#[tokio::test]
async fn a_record_whose_execution_ended_before_it_started_is_failed_by_the_sweep() {
    let w = World::new().await;
    let id = w.create("full_hardening").await.record.id;
    // An operator stopped the execution before validate ran. Step Functions now refuses the
    // name whatever the input, so sweeping would otherwise re-arm the record forever.
    w.executions.end(id, migration::ports::ExecutionStatus::Aborted);
    w.advance(Duration::minutes(6));

    let report = steps::sweep_unstarted(&w.ports, 10).await.unwrap();

    assert_eq!((report.examined, report.started, report.ended, report.failed), (1, 0, 1, 0));
    let record = w.record(id).await;
    assert_eq!(record.status, Status::Failed);
    let failure = record.failure.unwrap();
    assert_eq!(failure.error, names::FAILED);
    assert!(failure.cause.contains("ended ABORTED before its first step ran"), "{}", failure.cause);
    assert_account_released(&w, id).await;
    w.advance(Duration::minutes(6));
    assert_eq!(steps::sweep_unstarted(&w.ports, 10).await.unwrap().examined, 1, "only the new request is due");
}

#[tokio::test]
async fn status_changes_are_published_on_the_change_feed() {
    use migration::ports::ChangeFeed;
    let w = World::new().await;
    let mut feed = w.store.subscribe();
    let id = w.create("full_hardening").await.record.id;
    steps::validate(&w.ports, id).await.unwrap();
    let first = feed.recv().await.unwrap();
    let second = feed.recv().await.unwrap();
    assert_eq!((first.from, first.to), (None, Status::Requested));
    assert_eq!((second.from, second.to), (Some(Status::Requested), Status::Validated));
    assert_eq!(second.migration_id, id);
    assert!(feed.try_recv().is_err(), "progress entries are not published");
}

/// An executions port that behaves like Step Functions resuming at once: delivering the
/// token runs the next steps before the deliverer writes again.
struct EagerExecutions {
    ports: std::sync::OnceLock<migration::Ports>,
}

#[async_trait::async_trait]
impl migration::ports::Executions for EagerExecutions {
    async fn start(&self, _: MigrationId, _: serde_json::Value) -> Result<(), migration::error::ExecutionError> {
        Ok(())
    }
    async fn stop(&self, _: MigrationId, _: &str, _: &str) -> Result<(), migration::error::ExecutionError> {
        Ok(())
    }
    async fn send_task_success(
        &self,
        _: &migration::TaskToken,
        output: serde_json::Value,
    ) -> Result<migration::ports::TokenDelivery, migration::error::ExecutionError> {
        let ports = self.ports.get().expect("set");
        let id: MigrationId = output["migration_id"].as_str().unwrap().parse().unwrap();
        steps::check_support(ports, id).await.unwrap();
        steps::schedule_hardening(ports, id).await.unwrap();
        Ok(migration::ports::TokenDelivery::Delivered)
    }
    async fn send_task_failure(
        &self,
        _: &migration::TaskToken,
        _: &str,
        _: &str,
    ) -> Result<migration::ports::TokenDelivery, migration::error::ExecutionError> {
        Ok(migration::ports::TokenDelivery::Delivered)
    }
    fn execution_arn(&self, _: MigrationId) -> Option<String> {
        None
    }
    async fn describe(&self, _: MigrationId) -> Result<Option<migration::ports::ExecutionState>, migration::error::ExecutionError> {
        Ok(None)
    }
}

#[tokio::test]
async fn delivering_the_token_does_not_drop_the_hardening_job_the_execution_queued_meanwhile() {
    let eager = std::sync::Arc::new(EagerExecutions { ports: std::sync::OnceLock::new() });
    let f = migration_sim::fixtures::Fixture::new(start_time(), eager.clone()).await;
    eager.ports.set(f.ports.clone()).ok().unwrap();
    f.sim.set_support_plan(&account(), SimSupportPlan::Business).unwrap();
    let id = steps::create_migration(&f.ports, &admin(), &request("full_hardening"), None).await.unwrap().record.id;
    steps::validate(&f.ports, id).await.unwrap();
    steps::invite(&f.ports, id).await.unwrap();
    steps::wait_for_handshake(&f.ports, id, migration::TaskToken::new("t")).await.unwrap();
    f.sim.accept(&f.store.get(id).await.unwrap().unwrap().handshake.unwrap().id).unwrap();
    steps::account_joined(&f.ports, &account()).await.unwrap();

    let record = f.store.get(id).await.unwrap().unwrap();
    assert_eq!(record.status, Status::HardeningScheduled);
    assert!(record.task_token.is_none());
    assert!(record.due_at.is_some(), "the hardening job is still due");
    assert_eq!(steps::hardening_scan(&f.ports, 10, || true).await.unwrap().completed, 1);
    assert_eq!(f.store.get(id).await.unwrap().unwrap().status, Status::Hardened);
}
