//! AWS adapters of the migration ports: the DynamoDB store, AWS Organizations,
//! the customer's role through STS, the Support probe and Step Functions executions.
//!
//! Clients are built once from one `SdkConfig` ([`AwsPorts::from_env`]); `AWS_ENDPOINT_URL`
//! points them at an emulator.

pub mod clients;
pub mod customer;
pub mod errors;
pub mod executions;
pub mod keys;
pub mod organizations;
pub mod store;
pub mod stream;
pub mod support;
pub mod table;

use aws_config::{BehaviorVersion, Region, SdkConfig};

pub use clients::{ArnContext, AwsCall, CallLog, ClientHooks, Service, Signer};

pub use customer::{AwsCustomerAccess, role_session_name};
pub use errors::error_code;
pub use executions::StepFunctionsExecutions;
pub use organizations::AwsOrganizations;
pub use store::DynamoStore;
pub use stream::status_changed_from_stream_image;
pub use support::AwsSupportProbe;
pub use table::{IndexDefinition, TableDefinition, table_definition};

/// Every AWS adapter, built from one configuration.
#[derive(Clone, Debug)]
pub struct AwsPorts {
    pub store: DynamoStore,
    pub organizations: AwsOrganizations,
    pub customer: AwsCustomerAccess,
    pub support: AwsSupportProbe,
    pub executions: StepFunctionsExecutions,
}

impl AwsPorts {
    /// Loads the standard AWS configuration (environment, `AWS_ENDPOINT_URL`, the Lambda
    /// role) once and builds every client from it.
    pub async fn from_env(table_name: &str, state_machine_arn: &str) -> Self {
        let config = aws_config::defaults(BehaviorVersion::latest()).load().await;
        Self::from_config(&config, table_name, state_machine_arn)
    }

    pub fn from_config(config: &SdkConfig, table_name: &str, state_machine_arn: &str) -> Self {
        Self::from_config_with(config, table_name, state_machine_arn, &ClientHooks::default())
    }

    /// Every client built through `hooks` (tests: the IAM check's call recorder, doubles).
    pub fn from_config_with(config: &SdkConfig, table_name: &str, state_machine_arn: &str, hooks: &ClientHooks) -> Self {
        // Organizations is a global service answered in us-east-1.
        let global = config.to_builder().region(Region::from_static(customer::GLOBAL_REGION)).build();
        let own = Signer::Function;
        Self {
            store: DynamoStore::new(hooks.dynamodb(config, own), table_name),
            organizations: AwsOrganizations::new(hooks.organizations(&global, own)),
            customer: AwsCustomerAccess::with_hooks(hooks.sts(config, own), config.clone(), hooks.clone()),
            support: AwsSupportProbe::with_hooks(config.clone(), hooks.clone()),
            executions: StepFunctionsExecutions::new(hooks.sfn(config, own), state_machine_arn),
        }
    }

    /// The domain's ports over these adapters.
    pub fn into_ports(self, clock: std::sync::Arc<dyn migration::ports::Clock>, settings: migration::Settings) -> migration::Ports {
        use std::sync::Arc;
        migration::Ports {
            store: Arc::new(self.store),
            orgs: Arc::new(self.organizations),
            customer: Arc::new(self.customer),
            support: Arc::new(self.support),
            executions: Arc::new(self.executions),
            clock,
            settings: Arc::new(settings),
        }
    }
}
