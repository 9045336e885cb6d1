//! Stores the execution's task token; resolves it at once if the handshake is decided.

use functions_runtime::Config;
use lambda_runtime::{Error, service_fn};
use migration::workflow::Step;

#[tokio::main]
async fn main() -> Result<(), Error> {
    functions_runtime::init_tracing();
    let config = Config::from_env()?;
    let ports = &config.aws_ports().await;
    lambda_runtime::run(service_fn(|event| functions_runtime::step_handler(ports, Step::WaitForHandshake, event))).await
}
