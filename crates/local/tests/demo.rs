//! The demo reaches the outcome each customer behaviour should produce.

use local::demo::{self, Access, Account, DemoOptions, Invitation};
use migration::Status;

fn options() -> DemoOptions {
    DemoOptions {
        access: Access::FullHardening,
        invitation: Invitation::Accept,
        answer_after_hours: 30,
        upgrade_after_checks: 3,
        never_upgrade: false,
        account: Account::Standalone,
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
        // A management account: the refusal, until the billing-transfer path exists.
        (|o| o.account = Account::Management, Status::Rejected),
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
async fn a_three_day_migration_is_simulated_not_waited_for() {
    let mut o = options();
    o.answer_after_hours = 72;
    let report = demo::run(&o).await.unwrap();
    assert_eq!(report.outcome, Status::Hardened);
    assert!(report.simulated >= chrono::Duration::days(3), "{:?}", report.simulated);
    assert_eq!(report.status_changes, 8);
}
