//! Resolves waiting executions from the AccountJoinedOrganization event and a periodic sweep.

use functions_runtime::{Config, Function};
use lambda_runtime::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    functions_runtime::init_tracing();
    let config = Config::from_env()?;
    let ports = &config.ports(Function::HandshakeWatcher).await?;
    lambda_runtime::run(service_fn(|event| functions_runtime::watcher_handler(ports, event))).await
}
