//! The simulated AWS of the migration, beside the real adapters in `migration-aws`.
//!
//! Every port in memory ([`MemoryStore`], [`SimAws`] for Organizations, the customer's role
//! and Support, [`RecordingExecutions`], [`ManualClock`]), the hookable store and
//! Organizations decorators in [`hooks`], the fault decorators in [`faults`], the seed world of the demo, `serve` and the tests in [`fixtures`], and the
//! [`contract`] suites every adapter of the ports must pass (this crate runs them against
//! the simulation, `migration-aws` against moto).
//!
//! Nothing in production depends on this crate; `scripts/test` enforces it.

mod aws;
mod clock;
pub mod contract;
pub mod customers;
mod executions;
pub mod faults;
pub mod fixtures;
pub mod hooks;
mod ports;
mod store;
pub mod transfers;
pub mod usage;

pub use aws::{
    CustomerAccount, FULL_AWS_ACCESS, INVITATION_LIFETIME, MAX_SCPS_PER_TARGET, ROOT_ID, RoleTrust, SimAws, SimCustomerAccess, SimError,
    SimOrganizations, SimSupport, SimSupportPlan,
};
pub use clock::ManualClock;
pub use executions::{RecordingExecutions, TokenOutcome};
pub use store::MemoryStore;
