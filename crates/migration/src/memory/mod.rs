//! In-memory adapters for every port: used by the domain's tests, the contract suite's
//! reference run and the local runner.

mod aws;
mod clock;
mod executions;
pub mod faults;
pub mod fixtures;
mod store;

pub use aws::{
    CustomerAccount, INVITATION_LIFETIME, ROOT_ID, RoleTrust, SimAws, SimCustomerAccess, SimError, SimOrganizations, SimSupport,
    SimSupportPlan,
};
pub use clock::ManualClock;
pub use executions::{RecordingExecutions, TokenOutcome};
pub use store::MemoryStore;
