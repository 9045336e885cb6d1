//! What the invite step answers, for both kinds: the definition's Choices read it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{HandshakeId, MigrationId};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteOutput {
    pub migration_id: MigrationId,
    /// The account is already a member of the partner organization: no invitation needed.
    pub already_member: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handshake_id: Option<HandshakeId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// When the invitation waits for the partner's daily quota: the time the state machine
    /// runs this step again (whole seconds, RFC 3339, for the Wait state's `TimestampPath`).
    /// Always in the output, `null` when nothing waits: the definition's Choice reads it, and
    /// a JSONPath to a missing field fails the state.
    #[serde(default)]
    pub deferred_until: Option<DateTime<Utc>>,
    /// The migration's kind: the definition's Choice takes a billing transfer its own way.
    #[serde(default)]
    pub kind: crate::transfer::MigrationKind,
    /// A billing transfer's start (the Wait before confirm-transfer reads it); `null` for a
    /// join.
    #[serde(default)]
    pub start_at: Option<DateTime<Utc>>,
}
