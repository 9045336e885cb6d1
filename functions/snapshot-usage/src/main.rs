//! Before the invitation: saves the account's Cost Explorer history, read through the customer's role, to the stack's snapshot bucket.

use functions_runtime::{Config, Function};
use lambda_runtime::{Error, service_fn};
use migration::workflow::Step;

#[tokio::main]
async fn main() -> Result<(), Error> {
    functions_runtime::init_tracing();
    let config = Config::from_env()?;
    let step = Step::SnapshotUsage;
    let ports = &config.ports(Function::of_step(step)).await?;
    lambda_runtime::run(service_fn(|event| functions_runtime::step_handler(ports, step, event))).await
}
