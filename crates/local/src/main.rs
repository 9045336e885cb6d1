//! The local runner: the migration system on one machine, without AWS.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use local::{demo, serve};

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
    /// The API on localhost, the state machine in-process, the scans on timers.
    Serve(serve::ServeOptions),
}

#[tokio::main]
async fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Serve(options) => {
            init_logs();
            match serve::run(options).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("serve failed: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Demo(options) => match demo::run(&options).await {
            Ok(report) => {
                println!();
                println!("migration {}: {}", report.migration_id, report.outcome);
                println!(
                    "  {} state transitions and {} execution events; {} status changes and {} history entries",
                    report.state_transitions, report.execution_events, report.status_changes, report.history_events
                );
                if let Some(at) = report.billing_starts_at {
                    println!("  the partner pays the organization's bill from {}", at.to_rfc3339());
                }
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

/// JSON logs on stderr, as the functions write them; `RUST_LOG` filters (default info).
fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().json().with_env_filter(filter).with_writer(std::io::stderr).init();
}
