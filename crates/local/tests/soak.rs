//! Fault-injection soak: many migrations on the real state machine definition and the
//! in-process executor, all on one virtual clock, with transient faults injected in every
//! port (`migration_sim::faults`), including faults that strike after the side effect.
//! Each migration has its own customer account and a scripted customer drawn from the seed,
//! its Cost Explorer among them (some deny the role, were never enabled or throttle).
//!
//! The test runs 100 migrations; `cargo run --release -p local --example soak -- --migrations
//! 1000` runs the long version with the same driver (`local::soak`).

use std::time::Duration as StdDuration;

use local::soak::{ScanOptions, SoakOptions, run_scan_scale, run_soak};

#[tokio::test]
async fn soak_100_migrations_under_transient_faults_in_every_port() {
    let options = SoakOptions::new(100, 20260302, 0.03);
    let report = run_soak(&options).await;
    println!("{}", report.summary());
    assert!(report.violations.is_empty(), "{}\n{}", report.summary(), report.violations.join("\n"));
    assert_eq!(report.outcomes.values().sum::<usize>(), 100);
    assert!(report.tally.total_faults() > 100, "faults were injected: {:?}", report.tally);
    assert!(report.tally.total_after_effect() > 20, "some after the side effect: {:?}", report.tally);
    assert!(report.transient_retries > 0);
    assert!(report.direct_transfers > 10, "members of other organizations moved directly: {}", report.direct_transfers);
    assert!(report.billing_transfers > 0, "management accounts moved their bill: {}", report.billing_transfers);
    // Usage snapshots, under faults in Cost Explorer and the bucket too: most taken, some
    // accounts without a readable history going on, some required ones failing the migration.
    assert!(report.snapshots_taken > 50, "{}", report.snapshots_taken);
    assert!(report.snapshots_skipped > 0, "{}", report.snapshots_skipped);
    assert!(report.snapshots_required_failed > 0, "{}", report.snapshots_required_failed);
    assert!(report.tally.calls.keys().any(|op| op.starts_with("usage.")) && report.tally.calls.contains_key("snapshots.put"));
}

#[tokio::test]
async fn hardening_scan_200_jobs_behind_the_rate_limit_resumes_after_a_killed_run() {
    let report = run_scan_scale(&ScanOptions::deployed(200)).await;
    println!("{}", report.summary());
    assert!(report.violations.is_empty(), "{}\n{}", report.summary(), report.violations.join("\n"));
    assert_eq!(report.interrupted_runs, 1);
    assert!(report.repeated_calls_accounts <= 1, "only the job cut mid-way may repeat an idempotent call");
    let calls: u64 = report.calls.values().sum();
    assert!(report.busy >= StdDuration::from_secs(calls - report.runs as u64), "one call a second: {:?} for {calls} calls", report.busy);
    // Per account a DescribeAccount, a move per OU and (Full Hardening) the tag; the SCPs
    // come with the OU, checked once per run (it was 7 and 3 calls per job with an
    // AttachPolicy per SCP and account, 9 and 4 with ListParents too).
    assert_eq!(report.calls.get("ListPoliciesForTarget").copied(), Some(2 * report.runs as u64), "both OUs, once per run");
    assert_eq!(report.calls.get("AttachPolicy").copied(), Some(4), "the guardrail on both OUs and two hardening SCPs, once");
    assert!(report.calls_per_full_job <= 5.0 && (4.0..=4.3).contains(&report.calls_per_full_job), "{}", report.calls_per_full_job);
    assert!((2.0..=2.3).contains(&report.calls_per_optimized_job), "{}", report.calls_per_optimized_job);
}
