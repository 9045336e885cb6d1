//! The partner organization's daily invitation quota, end to end: the API, the real
//! definition on the executor, every step, the simulated AWS enforcing the quota as AWS does
//! (`HANDSHAKE_RATE_LIMIT_EXCEEDED` past 20 invitations in 24 hours), on one virtual clock.

use local::soak::{Behaviour, SoakOptions, SoakReport, run_soak};
use migration::request::AccessLevel;
use migration_sim::customers::{AccountKind, Answer, ScriptedCustomer};
use migration_sim::usage::CostExplorer;

/// Fifty customers, all asking on the first day (one every 25 minutes), all accepting two
/// hours after their invitation arrives, Optimized, with Business-class support at once.
fn fifty_on_one_day() -> Vec<Behaviour> {
    (0..50)
        .map(|i| Behaviour {
            customer: ScriptedCustomer {
                answer: Answer::Accept { after_hours: 2 },
                upgrade_after_checks: Some(0),
                access: AccessLevel::Optimized,
                account: AccountKind::Standalone,
                cost_explorer: CostExplorer::Enabled,
                snapshot_required: false,
            },
            requested_after_minutes: i * 25,
        })
        .collect()
}

fn run(fault_rate: f64) -> SoakReport {
    let options = SoakOptions {
        behaviours: Some(fifty_on_one_day()),
        invitations_per_24_hours: Some(20),
        ..SoakOptions::new(50, 20261202, fault_rate)
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    runtime.block_on(run_soak(&options))
}

#[test]
fn fifty_requests_on_one_day_end_in_fifty_invitations_over_three_days_none_failed() {
    let report = run(0.0);
    println!("{}", report.summary());
    assert!(report.violations.is_empty(), "{}\n{}", report.summary(), report.violations.join("\n"));
    assert_eq!(report.outcomes.get("COMPLETED").copied(), Some(50), "every migration completed: {:?}", report.outcomes);
    // One invitation per account (checked per migration), sent 20, 20 and 10 on three days:
    // the first twenty on the first day, each later one when a slot of the 24 hours frees.
    let sent: usize = report.invitations_by_day.values().sum();
    assert_eq!(sent, 50);
    assert_eq!(report.invitations_by_day.len(), 3, "three days: {:?}", report.invitations_by_day);
    assert_eq!(report.invitations_by_day.values().copied().collect::<Vec<_>>(), vec![20, 20, 10]);
    assert!(report.most_invitations_in_24_hours <= 20, "never over the quota: {}", report.most_invitations_in_24_hours);
    assert_eq!(report.deferred_migrations, 30, "the thirty over the quota waited");
    // Once each: the time a waiting migration is told is the time it gets its slot (first
    // in line, first served), so nobody wakes up to wait again.
    assert_eq!(report.invitation_deferrals, 30);
    assert_eq!(report.transient_retries, 0, "no refusal of AWS was retried: the ledger kept every invite under the quota");
}

/// The same day with transient faults in every port (3%, half of those on writes after the
/// effect): deferrals, retries and crashes after a reservation still end in fifty
/// invitations, one per account, none failed, never over the quota.
#[test]
fn the_quota_holds_under_transient_faults() {
    let report = run(0.03);
    println!("{}", report.summary());
    assert!(report.violations.is_empty(), "{}\n{}", report.summary(), report.violations.join("\n"));
    assert_eq!(report.outcomes.get("COMPLETED").copied(), Some(50), "{:?}", report.outcomes);
    assert_eq!(report.invitations_by_day.values().sum::<usize>(), 50);
    assert!(report.most_invitations_in_24_hours <= 20);
    assert!(report.tally.total_faults() > 20, "faults were injected: {:?}", report.tally);
}
