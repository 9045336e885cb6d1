//! The long fault-injection soak: `cargo run --release -p local --example soak -- --migrations 1000`.
//! Same driver and invariants as the `soak` test (`local::soak`); exits 1 on
//! any broken invariant.

use local::soak;

use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(about = "Migrations under random transient faults in every port, on one virtual clock")]
struct Args {
    #[arg(long, default_value_t = 1000)]
    migrations: usize,
    #[arg(long, default_value_t = 20260302)]
    seed: u64,
    /// Probability that any port call fails transiently.
    #[arg(long, default_value_t = 0.03)]
    fault_rate: f64,
    /// Of the faults on calls with a side effect, the share that strike after it.
    #[arg(long, default_value_t = 0.5)]
    after_effect_share: f64,
    /// The partner's daily invitation quota (the ledger's and the simulated AWS's). By default
    /// as many as there are migrations, so the quota does not bind: a thousand requests on one
    /// day at 20 a day would wait past the 14-day limit (the `soak` test runs at 20).
    #[arg(long)]
    invitations_per_24_hours: Option<u32>,
    #[arg(long)]
    quiet: bool,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = Args::parse();
    let options = soak::SoakOptions {
        migrations: args.migrations,
        seed: args.seed,
        fault_rate: args.fault_rate,
        after_effect_share: args.after_effect_share,
        verbose: !args.quiet,
        behaviours: None,
        invitations_per_24_hours: Some(args.invitations_per_24_hours.unwrap_or(u32::try_from(args.migrations).unwrap_or(u32::MAX).max(20))),
    };
    println!("soak: {} migrations, seed {}, fault rate {}", options.migrations, options.seed, options.fault_rate);
    let report = soak::run_soak(&options).await;
    soak::finish(&report.summary(), &report.violations)
}
