//! The HTTP API function: tracing, typed config, clients once, run.

use api::{Api, ApiConfig};
use functions_runtime::{Config, Function};
use lambda_runtime::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    functions_runtime::init_tracing();
    let config = Config::from_env()?;
    let api_config = ApiConfig {
        role_template_url: std::env::var("ROLE_TEMPLATE_URL").ok().filter(|v| !v.trim().is_empty()),
        // Never open: without the list every signed principal of the account would be an
        // operator (the local runner and tests admit any signer; a deployment never does).
        operator_roles: Some(
            ApiConfig::operator_roles_from(std::env::var("OPERATOR_PRINCIPAL_ARNS").ok().as_deref())
                .ok_or("OPERATOR_PRINCIPAL_ARNS is not set: the stack's OperatorPrincipalArns names the operator roles")?,
        ),
    };
    let api = &Api::new(config.ports(Function::Api).await?, api_config);
    lambda_runtime::run(service_fn(|event| api_function::handle(api, event))).await
}
