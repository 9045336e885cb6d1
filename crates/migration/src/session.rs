//! The customer role's temporary credentials, which the customer-facing ports take.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::ids::AwsAccountId;

/// Temporary credentials of the customer role. `Debug` shows no credential.
#[derive(Clone, PartialEq, Eq)]
pub struct CustomerSession {
    pub account_id: AwsAccountId,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub expires_at: DateTime<Utc>,
}

impl fmt::Debug for CustomerSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CustomerSession")
            .field("account_id", &self.account_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}
