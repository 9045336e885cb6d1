//! The domain of moving a customer's AWS account into the partner's AWS Organization.
//!
//! It owns the identifiers, the program's rules, the status machine, the ports it needs
//! from the world, one use-case per step and in-memory adapters for every port. It depends
//! on no AWS or Lambda crate: adapters live in `migration-aws`, functions in `functions/`.

pub mod error;
pub mod ids;
pub mod memory;
pub mod ports;
pub mod record;
pub mod request;
pub mod rules;
pub mod settings;
pub mod status;
pub mod steps;
pub mod throttle;
pub mod workflow;

#[cfg(any(test, feature = "contract"))]
pub mod contract;

pub use error::{StepError, StoreError};
pub use ids::{AwsAccountId, ExternalId, HandshakeId, MigrationId, OrgId, RoleArn, TaskToken, Territory, UserId};
pub use ports::Ports;
pub use record::Migration;
pub use request::{AccessLevel, MigrationRequest};
pub use settings::Settings;
pub use status::Status;
