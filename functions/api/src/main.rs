//! The HTTP API function: tracing, typed config, clients once, run.

use api::{Api, ApiConfig};
use functions_runtime::Config;
use lambda_runtime::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    functions_runtime::init_tracing();
    let config = Config::from_env()?;
    let api_config = ApiConfig {
        role_template_url: std::env::var("ROLE_TEMPLATE_URL").ok().filter(|v| !v.trim().is_empty()),
        operator_roles: ApiConfig::operator_roles_from(std::env::var("OPERATOR_PRINCIPAL_ARNS").ok().as_deref()),
    };
    let api = &Api::new(config.aws_ports().await, api_config);
    lambda_runtime::run(service_fn(|event| api_function::handle(api, event))).await
}
