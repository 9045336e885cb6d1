//! The domain of moving a customer's AWS account into the partner's AWS Organization.
//!
//! It owns the identifiers, the program's rules, the status machine, the ports it needs
//! from the world and one use-case per step. It depends on no AWS or Lambda crate: the AWS
//! adapters live in `migration-aws`, the simulated AWS (every port in memory, faults, the
//! seed world, the contract suites) in `migration-sim`, the functions in `functions/`.

pub mod error;
pub mod handshake;
pub mod ids;
pub mod ports;
pub mod progress;
pub mod quota;
pub mod readiness;
pub mod record;
pub mod request;
pub mod rules;
pub mod session;
pub mod settings;
pub mod status;
pub mod steps;
pub mod text;
pub mod throttle;
pub mod transfer;
pub mod usage;
pub mod workflow;

pub use error::{StepError, StoreError};
pub use ids::{AwsAccountId, ExternalId, HandshakeId, MigrationId, OrgId, RoleArn, TaskToken, Territory, TransferId, UserId};
pub use ports::Ports;
pub use record::Migration;
pub use request::{AccessLevel, MigrationRequest};
pub use settings::Settings;
pub use status::Status;
