//! The demo reaches the outcome each customer behaviour should produce.

use clap::Parser;
use local::demo::{self, Access, Account, CostExplorerMode, DemoOptions, Invitation, UsageSnapshot};
use migration::Status;
use migration_sim::fixtures;

fn options() -> DemoOptions {
    DemoOptions {
        access: Access::FullHardening,
        invitation: Invitation::Accept,
        answer_after_hours: 30,
        upgrade_after_checks: 3,
        never_upgrade: false,
        account: Account::Standalone,
        cost_explorer: CostExplorerMode::Enabled,
        usage_snapshot: UsageSnapshot::Optional,
    }
}

#[tokio::test]
async fn every_customer_behaviour_reaches_its_outcome() {
    type Tweak = fn(&mut DemoOptions);
    let cases: &[(Tweak, Status)] = &[
        (|_| {}, Status::Hardened),
        (|o| o.access = Access::Optimized, Status::Completed),
        (|o| o.invitation = Invitation::Decline, Status::InvitationDeclined),
        (|o| o.invitation = Invitation::Ignore, Status::InvitationExpired),
        (|o| o.never_upgrade = true, Status::SupportUpgradeTimedOut),
        // A member of another organization moves directly, like any other account.
        (|o| o.account = Account::Member, Status::Hardened),
        (
            |o| {
                o.account = Account::Member;
                o.access = Access::Optimized;
            },
            Status::Completed,
        ),
        // A management account keeps its organization and moves its bill: a billing transfer
        // from April 1st (the earliest month a request on March 2nd can start in).
        (|o| o.account = Account::Management, Status::Completed),
        (
            |o| {
                o.account = Account::Management;
                o.invitation = Invitation::Decline;
            },
            Status::TransferDeclined,
        ),
        (
            |o| {
                o.account = Account::Management;
                o.invitation = Invitation::Ignore;
            },
            Status::TransferExpired,
        ),
        (
            |o| {
                o.account = Account::Management;
                o.never_upgrade = true;
            },
            Status::SupportUpgradeTimedOut,
        ),
        // A usage history that cannot be saved: by default the migration goes on without it;
        // a request that requires it fails before anything is sent, once the hourly retries
        // run out (two days), for either kind.
        (|o| o.cost_explorer = CostExplorerMode::Denied, Status::Hardened),
        (
            |o| {
                o.cost_explorer = CostExplorerMode::Throttled;
                o.account = Account::Management;
            },
            Status::Completed,
        ),
        (
            |o| {
                o.cost_explorer = CostExplorerMode::Denied;
                o.usage_snapshot = UsageSnapshot::Required;
            },
            Status::Failed,
        ),
        (
            |o| {
                o.cost_explorer = CostExplorerMode::NotEnabled;
                o.usage_snapshot = UsageSnapshot::Required;
                o.account = Account::Management;
            },
            Status::Failed,
        ),
        (|o| o.usage_snapshot = UsageSnapshot::Required, Status::Hardened),
    ];
    for (tweak, expected) in cases {
        let mut o = options();
        tweak(&mut o);
        assert_eq!(o.expected(), *expected);
        let report = demo::run(&o).await.expect("the demo runs");
        assert_eq!(report.outcome, *expected, "{o:?}");
    }
}

#[tokio::test]
async fn a_management_account_s_bill_is_transferred_from_the_first_of_the_month() {
    let mut o = options();
    o.account = Account::Management;
    let report = demo::run(&o).await.expect("the demo runs");
    assert_eq!(report.outcome, Status::Completed);
    assert_eq!(report.billing_starts_at.map(|t| t.to_rfc3339()), Some("2026-04-01T00:00:00+00:00".to_owned()));
    // The wait for the start (29 days 15 hours from the request) is simulated, not waited for.
    assert!(report.simulated >= chrono::Duration::hours(29 * 24 + 15), "{:?}", report.simulated);
    // The last day to accept is March 30th (24 hours before the start): 28 days after the
    // request still counts, 29 are too late.
    o.answer_after_hours = 24 * 28;
    assert_eq!(demo::run(&o).await.unwrap().outcome, Status::Completed);
    o.answer_after_hours = 24 * 29;
    assert_eq!(o.expected(), Status::TransferExpired);
    assert_eq!(demo::run(&o).await.unwrap().outcome, Status::TransferExpired);
}

#[tokio::test]
async fn a_three_day_migration_is_simulated_not_waited_for() {
    let mut o = options();
    o.answer_after_hours = 72;
    let report = demo::run(&o).await.unwrap();
    assert_eq!(report.outcome, Status::Hardened);
    assert!(report.simulated >= chrono::Duration::days(3), "{:?}", report.simulated);
    assert_eq!(report.status_changes, 8);
}

/// The edges of the options: the expected outcome follows the invitation's lifetime and the
/// number of support checks the deadline allows, and the demo ends exactly there.
#[tokio::test]
async fn the_exit_status_follows_the_outcome_at_the_edges_of_the_options() {
    let checks = u32::try_from(migration::steps::support_check_times(&fixtures::settings()).len()).unwrap();
    type Tweak = Box<dyn Fn(&mut DemoOptions)>;
    let cases: Vec<(Tweak, Status)> = vec![
        (Box::new(|o| o.answer_after_hours = 359), Status::Hardened),
        (Box::new(|o| o.answer_after_hours = 360), Status::InvitationExpired),
        (
            Box::new(|o| {
                o.invitation = Invitation::Decline;
                o.answer_after_hours = 400;
            }),
            Status::InvitationExpired,
        ),
        // The upgrade before the last check the deadline allows still counts; one more is late.
        (Box::new(move |o| o.upgrade_after_checks = checks - 1), Status::Hardened),
        (Box::new(move |o| o.upgrade_after_checks = checks), Status::SupportUpgradeTimedOut),
    ];
    for (tweak, expected) in cases {
        let mut o = options();
        tweak(&mut o);
        assert_eq!(o.expected(), expected, "{o:?}");
        let report = demo::run(&o).await.expect("the demo runs");
        assert_eq!(report.outcome, expected, "{o:?}");
    }
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    demo: DemoOptions,
}

#[test]
fn numeric_options_are_range_checked_instead_of_overflowing() {
    for args in [
        &["--answer-after-hours", "-1"][..],
        &["--answer-after-hours", "9223372036854775807"],
        &["--upgrade-after-checks", "4294967295"],
        &["--upgrade-after-checks", "1001"],
    ] {
        let argv = std::iter::once("demo").chain(args.iter().copied());
        assert!(Cli::try_parse_from(argv).is_err(), "{args:?} is refused");
    }
    let ok = Cli::try_parse_from(["demo", "--answer-after-hours", "8760", "--upgrade-after-checks", "1000"]).unwrap();
    assert_eq!((ok.demo.answer_after_hours, ok.demo.upgrade_after_checks), (8760, 1000));
}

/// The usage snapshot is taken after validation and before the invitation, for both kinds,
/// and the record says what it holds.
#[tokio::test]
async fn the_usage_history_is_saved_before_the_invitation() {
    for account in [Account::Standalone, Account::Management] {
        let mut o = options();
        o.account = account;
        if account == Account::Management {
            o.access = Access::Optimized;
        }
        let report = demo::run(&o).await.expect("the demo runs");
        let Some(migration::usage::SnapshotState::Taken { months, rows, requests, files, .. }) = report.usage_snapshot else {
            panic!("{account:?}: {:?}", report.usage_snapshot)
        };
        assert_eq!(months, 13, "{account:?}");
        // A management account's history covers its organization's accounts, one by one.
        let by_account = files.iter().any(|f| f == "monthly-by-linked-account.csv");
        assert_eq!(by_account, account == Account::Management, "{account:?}: {files:?}");
        assert!(rows > 0 && requests > 0 && requests <= migration::usage::MAX_REQUESTS, "{account:?}: {rows} rows, {requests} requests");
    }
}

/// A required snapshot the role may not take holds the migration before the invitation: the
/// definition tries hourly for two days, then the migration fails with the error operators
/// and the customer read, and no invitation was sent.
#[tokio::test]
async fn a_required_snapshot_that_cannot_be_taken_fails_the_migration_after_two_days() {
    let mut o = options();
    o.cost_explorer = CostExplorerMode::Denied;
    o.usage_snapshot = UsageSnapshot::Required;
    let report = demo::run(&o).await.expect("the demo runs");
    assert_eq!(report.outcome, Status::Failed);
    assert_eq!(report.failure.as_deref(), Some("Migration.UsageSnapshotRequired"));
    let Some(migration::usage::SnapshotState::Failed { code, then, .. }) = &report.usage_snapshot else {
        panic!("{:?}", report.usage_snapshot)
    };
    assert_eq!((code.as_str(), *then), ("COST_EXPLORER_ACCESS_DENIED", migration::usage::SnapshotDecision::GaveUp));
    assert!(report.simulated >= chrono::Duration::hours(48), "{:?}", report.simulated);
    assert_eq!(report.invitations, 0, "nothing was sent to the account");
    // The same account, not required: it goes on without the history.
    o.usage_snapshot = UsageSnapshot::Optional;
    let report = demo::run(&o).await.expect("the demo runs");
    assert_eq!(report.outcome, Status::Hardened);
    assert!(matches!(
        report.usage_snapshot,
        Some(migration::usage::SnapshotState::Failed { then: migration::usage::SnapshotDecision::GoesOn, .. })
    ));
    assert_eq!(report.invitations, 1);
}
