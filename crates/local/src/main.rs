//! The local runner: the migration system on one machine, without AWS.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use local::demo;

#[derive(Parser)]
#[command(name = "cam-local", about = "Run the account migration locally, without AWS")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// One migration end to end with a simulated customer on a virtual clock.
    Demo(demo::DemoOptions),
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Demo(options) => match demo::run(&options).await {
            Ok(report) => {
                println!();
                println!("migration {}: {}", report.migration_id, report.outcome);
                println!(
                    "  {} state transitions and {} execution events; {} status changes and {} history entries",
                    report.state_transitions, report.execution_events, report.status_changes, report.history_events
                );
                println!("  {} simulated in {:.1?} wall time", human(report.simulated), report.wall);
                if report.outcome == report.expected {
                    ExitCode::SUCCESS
                } else {
                    eprintln!("expected {}, got {}", report.expected, report.outcome);
                    ExitCode::FAILURE
                }
            }
            Err(e) => {
                eprintln!("demo failed: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn human(d: chrono::Duration) -> String {
    format!("{}d {}h {}m", d.num_days(), d.num_hours() % 24, d.num_minutes() % 60)
}
