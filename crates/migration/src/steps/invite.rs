//! The invite step: one invitation per account, ever reused, never doubled, and never more
//! invitations a day than AWS Organizations allows the partner organization: over the quota
//! the invitation is deferred, not failed ([`crate::quota`]).

use chrono::{DateTime, Duration, DurationRound, Utc};
use tracing::info;

use crate::error::{OrgError, Refusal, StepError, StoreError};
use crate::ids::MigrationId;
use crate::ports::{Ports, Reservation};
use crate::record::{ChangeBuilder, DeferralReason, Handshake, InvitationWait, Migration};
use crate::status::Status;
use crate::steps::invitation::InviteOutput;
use crate::steps::{commit, load, system};

/// How long an invitation waits after AWS itself answered `HANDSHAKE_RATE_LIMIT_EXCEEDED`
/// while the ledger had a slot (invitations sent outside this system, or AWS counting
/// differently). AWS says neither when its window frees a slot nor how it counts, so the
/// step looks again hourly, within the wait limit.
pub const AWS_RATE_LIMIT_RETRY: Duration = Duration::hours(1);

fn output(record: &Migration) -> InviteOutput {
    InviteOutput {
        migration_id: record.id,
        already_member: record.handshake.is_none() && record.status.has_joined(),
        handshake_id: record.handshake.as_ref().map(|h| h.id.clone()),
        expires_at: record.handshake.as_ref().map(|h| h.expires_at),
        deferred_until: record.invitation_wait.as_ref().filter(|_| record.status == Status::Validated).map(|w| w.send_at),
        kind: record.kind,
        start_at: None,
    }
}

/// The metric of a deferral (`functions_runtime::metrics` emits it as EMF; without a
/// recorder, in tests and the local runner, the `metrics` facade drops it). No dimension:
/// the dashboard reads one series; the log line says why.
pub const INVITATIONS_DEFERRED_METRIC: &str = "InvitationsDeferred";

/// The one place an invitation's deferral is reported, once it is committed: a structured
/// log line (the `invitation_deferred` event, with the migration, when it will be sent, why
/// and the quota) and the `InvitationsDeferred` count.
pub fn invitation_deferred(record: &Migration, wait: &InvitationWait, quota: u32) {
    metrics::counter!(INVITATIONS_DEFERRED_METRIC).increment(1);
    info!(
        event = "invitation_deferred",
        migration_id = %record.id,
        aws_account_id = %record.aws_account_id,
        send_at = %wait.send_at.to_rfc3339(),
        reason = ?wait.reason,
        deferrals = wait.deferrals,
        first_deferred_at = %wait.first_deferred_at.to_rfc3339(),
        invitations_per_24_hours = quota,
        "invitation deferred: the partner's daily invitation quota is used up"
    );
}

/// `at` rounded up to a whole second: Step Functions reads the Wait's timestamp as RFC 3339,
/// and whole seconds are the form its documentation shows.
fn whole_second_after(at: DateTime<Utc>) -> DateTime<Utc> {
    let floor = at.duration_trunc(Duration::seconds(1)).unwrap_or(at);
    if floor == at { at } else { floor + Duration::seconds(1) }
}

/// Records that the invitation waits until `until` (the ledger's next free slot, or an hour
/// after AWS's own refusal), never past the wait limit counted from the first deferral; at
/// the limit the migration stops with `HANDSHAKE_RATE_LIMIT_EXCEEDED`. The slot a migration
/// may hold stays where it is: it ages out of the window like every other.
async fn defer(
    ports: &Ports,
    record: &Migration,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    reason: DeferralReason,
) -> Result<InviteOutput, StepError> {
    let first_deferred_at = record.invitation_wait.as_ref().map_or(now, |w| w.first_deferred_at);
    let limit_at = first_deferred_at + ports.settings.invitation_wait_limit;
    if now >= limit_at {
        return Err(StepError::InvitationRefused(Refusal::HandshakeRateLimitExceeded));
    }
    // Never now or earlier: the Wait would run the step again at once.
    let send_at = whole_second_after(until.min(limit_at)).max(whole_second_after(now + Duration::seconds(1)));
    let wait =
        InvitationWait { send_at, first_deferred_at, deferrals: record.invitation_wait.as_ref().map_or(0, |w| w.deferrals) + 1, reason };
    let why = match reason {
        DeferralReason::QuotaUsedUp => {
            format!("all {} invitation slots of the last 24 hours are taken", ports.settings.invitations_per_24_hours)
        }
        DeferralReason::AwsRateLimit => "AWS Organizations answered HANDSHAKE_RATE_LIMIT_EXCEEDED".to_owned(),
    };
    let note = format!("invitation deferred until {}: {why}", send_at.to_rfc3339());
    let mut change = ChangeBuilder::new(record, system("invite"), now).progress(note);
    change.record().invitation_wait = Some(wait.clone());
    let record = commit(ports, change.build()).await?;
    invitation_deferred(&record, &wait, ports.settings.invitations_per_24_hours);
    Ok(output(&record))
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

/// The invite step of a join (inside [`crate::steps::invite`]'s span).
pub(crate) async fn invite_join(ports: &Ports, record: Migration) -> Result<InviteOutput, StepError> {
    let id = record.id;
    match record.status {
        Status::Validated => {}
        Status::Canceled => return Err(StepError::Canceled),
        Status::Invited => return Ok(output(&record)),
        s if s.has_joined() => return Ok(output(&record)),
        actual => return Err(StepError::WrongStatus { actual }),
    }
    let now = ports.clock.now();
    // A deferral already recorded and not yet due (a retry after the write): the same answer.
    if record.invitation_wait.as_ref().is_some_and(|w| w.send_at > now) {
        return Ok(output(&record));
    }

    if let Some(membership) = ports.orgs.membership(&record.aws_account_id).await? {
        if !membership.is_active() {
            return Err(StepError::AccountNotActive(membership.state));
        }
        let mut change = ChangeBuilder::new(&record, system("invite"), now)
            .transition(Status::Joined, "the account is already a member of the partner organization")?;
        change.record().joined_at = Some(membership.joined_at);
        change.record().invitation_wait = None;
        crate::steps::harden::queue_baseline(&mut change, &ports.settings, now);
        let record = commit(ports, change.build()).await?;
        info!("account already a member; no invitation sent");
        return Ok(output(&record));
    }

    // A slot of the partner's daily quota first. A retry after a crash anywhere below gets
    // the slot it already holds, so one migration never takes two.
    match ports.store.reserve_invitation(record.id, now, ports.settings.invitations_per_24_hours).await? {
        Reservation::Granted { .. } => {}
        Reservation::Full { next_free_at } => return defer(ports, &record, now, next_free_at, DeferralReason::QuotaUsedUp).await,
    }

    // Reuses an open invitation for the account if one exists (e.g. this step crashed
    // after inviting), so a retry never sends a second one.
    let handshake = match ports.orgs.invite_account(&record.aws_account_id, record.id).await {
        Ok(handshake) => handshake,
        Err(OrgError::HandshakeRateLimited(_)) => {
            return defer(ports, &record, now, now + AWS_RATE_LIMIT_RETRY, DeferralReason::AwsRateLimit).await;
        }
        Err(e) => return Err(e.into()),
    };
    let note = format!("invitation {} sent; it expires at {}", handshake.id, handshake.expires_at.to_rfc3339());
    let mut change = ChangeBuilder::new(&record, system("invite"), now).transition(Status::Invited, note)?;
    change.record().handshake = Some(handshake.clone());
    change.record().invitation_wait = None;
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
