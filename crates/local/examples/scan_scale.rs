//! The hardening scan at scale: `cargo run --release -p local --example scan_scale -- --jobs 10000`.
//! 10,000 due jobs behind `RateLimitedOrganizations` (one call a second), the scan on its
//! deployed schedule (every 15 minutes, 300 s runs with 20 s in reserve, 100 jobs a run),
//! one run killed mid-job; the spacing is applied on a manual clock, so hours of schedule take seconds.

use local::soak;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

#[derive(Parser)]
#[command(about = "The hardening scan over many due jobs behind the Organizations rate limit")]
struct Args {
    #[arg(long, default_value_t = 10_000)]
    jobs: usize,
    /// Share of Full Hardening jobs.
    #[arg(long, default_value_t = 0.5)]
    full_share: f64,
    /// Milliseconds between Organizations calls.
    #[arg(long, default_value_t = 1000)]
    min_interval_ms: u64,
    /// The scan function's timeout in seconds.
    #[arg(long, default_value_t = 300)]
    run_timeout: u64,
    #[arg(long)]
    verbose: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("a runtime");
    let mut options = soak::ScanOptions::deployed(args.jobs);
    options.full_share = args.full_share;
    options.min_interval = Duration::from_millis(args.min_interval_ms);
    options.run_timeout = Duration::from_secs(args.run_timeout);
    options.verbose = args.verbose;
    let report = runtime.block_on(soak::run_scan_scale(&options));
    soak::finish(&report.summary(), &report.violations)
}
