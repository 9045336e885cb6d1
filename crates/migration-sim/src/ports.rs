//! The simulated AWS as the domain's ports: one shared world behind Organizations, the
//! customer's role, Support and billing transfers.

use std::sync::Arc;

use migration::ports::{Clock, Executions, MigrationStore, Ports};
use migration::settings::Settings;

use crate::aws::SimAws;
use crate::transfers::SimTransfers;

impl SimAws {
    /// The billing-transfer port on the simulation.
    pub fn billing_transfers(&self) -> SimTransfers {
        SimTransfers(self.clone())
    }

    /// Ports with this simulation behind Organizations, customer access, Support and billing
    /// transfers, and
    /// the caller's store, executions, clock and settings. The baseline OUs and SCPs the
    /// settings name are created if missing ([`SimAws::create_baseline`]).
    pub fn ports(
        &self,
        store: Arc<dyn MigrationStore>,
        executions: Arc<dyn Executions>,
        clock: Arc<dyn Clock>,
        settings: Settings,
    ) -> Ports {
        self.create_baseline(&settings);
        Ports {
            store,
            orgs: Arc::new(self.organizations()),
            customer: Arc::new(self.customer_access()),
            support: Arc::new(self.support()),
            executions,
            transfers: Arc::new(self.billing_transfers()),
            usage: Arc::new(self.usage()),
            snapshots: Arc::new(self.snapshots()),
            clock,
            settings: Arc::new(settings),
        }
    }
}
