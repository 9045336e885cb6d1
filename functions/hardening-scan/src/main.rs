//! Applies the hardening baseline to due accounts, bounded by the invocation's remaining time.

use functions_runtime::Config;
use lambda_runtime::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    functions_runtime::init_tracing();
    let config = Config::from_env()?;
    let ports = &config.scan_ports().await?;
    lambda_runtime::run(service_fn(|event| functions_runtime::scan_handler(ports, event))).await
}
