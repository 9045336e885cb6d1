//! The invite step: one invitation per account, ever reused, never doubled.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::{info, instrument};

use crate::error::{StepError, StoreError};
use crate::ids::{HandshakeId, MigrationId};
use crate::ports::Ports;
use crate::record::{ChangeBuilder, Handshake, Migration};
use crate::status::Status;
use crate::steps::{commit, load, system};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteOutput {
    pub migration_id: MigrationId,
    /// The account is already a member of the partner organization: no invitation needed.
    pub already_member: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handshake_id: Option<HandshakeId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

fn output(record: &Migration) -> InviteOutput {
    InviteOutput {
        migration_id: record.id,
        already_member: record.handshake.is_none() && record.status.has_joined(),
        handshake_id: record.handshake.as_ref().map(|h| h.id.clone()),
        expires_at: record.handshake.as_ref().map(|h| h.expires_at),
    }
}

/// Another write got in between reading the record and recording the invitation. A cancel
/// that did not see the invitation must not leave it open for 15 days with no migration
/// holding the account: withdraw it. Anything else, the step is retried and reuses it.
async fn lost_race(ports: &Ports, id: MigrationId, sent: &Handshake) -> Result<InviteOutput, StepError> {
    let current = load(ports, id).await?;
    if current.status != Status::Canceled || current.handshake.as_ref().is_some_and(|h| h.id == sent.id) {
        return Err(StepError::Transient(format!("migration {id} changed while the invitation was sent")));
    }
    let withdrawn = ports.orgs.cancel_handshake(&sent.id, &current.aws_account_id).await?;
    info!(handshake_id = %sent.id, state = ?withdrawn.state, "canceled while inviting; the invitation is withdrawn");
    Err(StepError::Canceled)
}

#[instrument(skip(ports), fields(migration_id = %id))]
pub async fn invite(ports: &Ports, id: MigrationId) -> Result<InviteOutput, StepError> {
    let record = load(ports, id).await?;
    match record.status {
        Status::Validated => {}
        Status::Canceled => return Err(StepError::Canceled),
        Status::Invited => return Ok(output(&record)),
        s if s.has_joined() => return Ok(output(&record)),
        actual => return Err(StepError::WrongStatus { actual }),
    }
    let now = ports.clock.now();

    if let Some(membership) = ports.orgs.membership(&record.aws_account_id).await? {
        if !membership.is_active() {
            return Err(StepError::AccountNotActive(membership.state));
        }
        let mut change = ChangeBuilder::new(&record, system("invite"), now)
            .transition(Status::Joined, "the account is already a member of the partner organization")?;
        change.record().joined_at = Some(membership.joined_at);
        crate::steps::harden::queue_baseline(&mut change, &ports.settings, now);
        let record = commit(ports, change.build()).await?;
        info!("account already a member; no invitation sent");
        return Ok(output(&record));
    }

    // Reuses an open invitation for the account if one exists (e.g. this step crashed
    // after inviting), so a retry never sends a second one.
    let handshake = ports.orgs.invite_account(&record.aws_account_id, record.id).await?;
    let note = format!("invitation {} sent; it expires at {}", handshake.id, handshake.expires_at.to_rfc3339());
    let mut change = ChangeBuilder::new(&record, system("invite"), now).transition(Status::Invited, note)?;
    change.record().handshake = Some(handshake.clone());
    change.record().due_at = Some(now + ports.settings.handshake_poll_interval);
    let change = change.build();
    let record = match ports.store.update(&change).await {
        Ok(()) => change.record,
        Err(StoreError::VersionConflict(_)) => return lost_race(ports, id, &handshake).await,
        Err(e) => return Err(e.into()),
    };
    info!(handshake_id = ?record.handshake.as_ref().map(|h| h.id.as_str()), "account invited");
    Ok(output(&record))
}
