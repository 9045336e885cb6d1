//! AWS Organizations handshakes: an invitation to join, and a billing transfer's invitation.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{AwsAccountId, HandshakeId};

/// The state of an AWS Organizations handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HandshakeState {
    Requested,
    Open,
    Canceled,
    Accepted,
    Declined,
    Expired,
}

impl HandshakeState {
    /// The customer (or time) has decided; nothing more will happen to this handshake.
    pub fn is_decided(self) -> bool {
        matches!(self, Self::Canceled | Self::Accepted | Self::Declined | Self::Expired)
    }
}

/// An invitation of the account into the partner organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handshake {
    pub id: HandshakeId,
    pub account_id: AwsAccountId,
    pub state: HandshakeState,
    pub requested_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}
