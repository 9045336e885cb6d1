//! Billing transfers in the simulated AWS: the partner's management account invites a
//! customer's management account, the customer accepts, declines or (once accepted)
//! withdraws, and time expires invitations, all on the virtual clock and with the reasons
//! AWS Organizations gives when it refuses.
//!
//! What AWS documents is modelled as documented: a start at 00:00:00.000 UTC on the first
//! of a month, an end at 23:59:59.999 UTC on the last day of one, acceptance at least 24
//! hours before the start, only a management account whose organization has all features
//! accepting, one transfer between the same two organizations at a time. What it does not
//! say is a choice, named where it is made: how far ahead a start or an end may be
//! ([`MAX_MONTHS_AHEAD`]) and when an unanswered invitation expires
//! ([`HandshakeLifetime`]: both readings can be simulated, and the domain is tested on both).

use async_trait::async_trait;
use chrono::{DateTime, Datelike, Duration, Timelike, Utc};

use migration::ids::{AwsAccountId, HandshakeId, TransferId};
use migration::record::{Handshake, HandshakeState};
use migration::rules::CustomerOrganization;
use migration::transfer::{
    BillingGroup, BillingGroupSpec, BillingTransfers, ResponsibilityTransfer, SentTransfer, TransferError, TransferInvitation,
    TransferRefusal, TransferStatus,
};

pub use crate::aws::HandshakeLifetime;
use crate::aws::{SimAws, SimError, SimTransfer, TransferWorld};

/// How far ahead AWS accepts a start or an end: not documented; a year is assumed. The
/// program's own window is much shorter (`migration::transfer::MAX_MONTHS_AFTER_EARLIEST`).
pub const MAX_MONTHS_AHEAD: i32 = 12;

fn refused(refusal: TransferRefusal) -> TransferError {
    let message = format!("{} (simulated)", refusal.reason());
    TransferError::Refused { refusal, message }
}

fn months_between(a: DateTime<Utc>, b: DateTime<Utc>) -> i32 {
    (b.year() - a.year()) * 12 + b.month() as i32 - a.month() as i32
}

fn is_midnight(t: DateTime<Utc>) -> bool {
    t.hour() == 0 && t.minute() == 0 && t.second() == 0 && t.nanosecond() == 0
}

fn is_end_of_month(t: DateTime<Utc>) -> bool {
    let next = t + Duration::milliseconds(1);
    next.day() == 1 && is_midnight(next)
}

impl TransferWorld {
    fn refresh(&mut self, now: DateTime<Utc>) {
        for t in &mut self.transfers {
            if t.transfer.status == TransferStatus::Requested && now >= t.handshake.expires_at {
                t.transfer.status = TransferStatus::Expired;
                t.handshake.state = HandshakeState::Expired;
                t.transfer.active_handshake_id = None;
            }
        }
    }

    fn by_handshake(&mut self, id: &HandshakeId) -> Result<&mut SimTransfer, SimError> {
        self.transfers.iter_mut().find(|t| &t.handshake.id == id).ok_or(SimError::HandshakeNotFound)
    }
}

impl SimAws {
    /// When unanswered transfer invitations expire (default: 24 hours before the start).
    pub fn set_transfer_handshake_lifetime(&self, lifetime: HandshakeLifetime) {
        self.world().transfers.lifetime = lifetime;
    }

    /// AWS refuses to invite `account` to a billing transfer for `refusal`.
    pub fn refuse_transfers_to(&self, account: &AwsAccountId, refusal: TransferRefusal) {
        self.world().transfers.refusals.insert(account.clone(), refusal);
    }

    /// Every transfer the partner sent, in order, as `DescribeResponsibilityTransfer` shows it.
    pub fn transfers(&self) -> Vec<ResponsibilityTransfer> {
        let now = self.now();
        let mut w = self.world();
        w.transfers.refresh(now);
        w.transfers.transfers.iter().map(|t| t.transfer.clone()).collect()
    }

    /// The transfer invitations sent to an account.
    pub fn transfer_invitations_to(&self, account: &AwsAccountId) -> Vec<Handshake> {
        let now = self.now();
        let mut w = self.world();
        w.transfers.refresh(now);
        w.transfers.transfers.iter().filter(|t| &t.transfer.customer_account == account).map(|t| t.handshake.clone()).collect()
    }

    /// The billing groups made, by name.
    pub fn billing_groups(&self) -> Vec<String> {
        self.world().transfers.groups.iter().map(|(spec, _)| spec.name.clone()).collect()
    }

    /// The customer's management account accepts in the Billing console. Only a management
    /// account whose organization has all features can, and only until 24 hours before the
    /// start.
    pub fn accept_transfer(&self, id: &HandshakeId) -> Result<(), SimError> {
        let now = self.now();
        let mut w = self.world();
        w.transfers.refresh(now);
        let account = w.transfers.by_handshake(id)?.transfer.customer_account.clone();
        let eligible = matches!(
            w.customers.get(&account).map(|c| &c.own_organization),
            Some(CustomerOrganization::ManagementAccount { all_features: true, .. })
        );
        let t = w.transfers.by_handshake(id)?;
        if t.handshake.state != HandshakeState::Open {
            return Err(SimError::NotOpen(t.handshake.state));
        }
        if !eligible {
            return Err(SimError::NotManagementAccount);
        }
        if now > t.transfer.start_at - migration::transfer::ACCEPTANCE_LEAD {
            return Err(SimError::TooLateToAccept);
        }
        t.handshake.state = HandshakeState::Accepted;
        t.transfer.status = TransferStatus::Accepted;
        t.transfer.active_handshake_id = None;
        Ok(())
    }

    /// The customer declines.
    pub fn decline_transfer(&self, id: &HandshakeId) -> Result<(), SimError> {
        let now = self.now();
        let mut w = self.world();
        w.transfers.refresh(now);
        let t = w.transfers.by_handshake(id)?;
        if t.handshake.state != HandshakeState::Open {
            return Err(SimError::NotOpen(t.handshake.state));
        }
        t.handshake.state = HandshakeState::Declined;
        t.transfer.status = TransferStatus::Declined;
        t.transfer.active_handshake_id = None;
        Ok(())
    }

    /// The customer's management account withdraws an accepted transfer: it ends at the end
    /// of the month `end_at` closes. Simulated as allowed before the start too (the end of the
    /// current month, so the transfer never starts): AWS does not say, and the domain treats
    /// such an end as a withdrawal.
    pub fn withdraw_transfer(&self, id: &TransferId, end_at: DateTime<Utc>) -> Result<(), TransferError> {
        self.end_transfer(id, end_at, false)
    }

    fn end_transfer(&self, id: &TransferId, end_at: DateTime<Utc>, by_partner: bool) -> Result<(), TransferError> {
        let now = self.now();
        let mut w = self.world();
        w.transfers.refresh(now);
        let t = w.transfers.transfers.iter_mut().find(|t| &t.transfer.id == id).ok_or(TransferError::NotFound)?;
        match t.transfer.status {
            TransferStatus::Accepted => {}
            TransferStatus::Withdrawn => return Err(TransferError::AlreadyInStatus("the transfer is already WITHDRAWN".into())),
            other => return Err(TransferError::InvalidTransition(format!("a {} transfer cannot be terminated", other.as_str()))),
        }
        if !is_end_of_month(end_at) {
            return Err(refused(TransferRefusal::EndDateNotEndOfMonth));
        }
        let first_possible = if by_partner { now.max(t.transfer.start_at) } else { now };
        if months_between(first_possible, end_at) < 0 || end_at < first_possible {
            return Err(refused(TransferRefusal::EndDateTooEarly));
        }
        if months_between(now, end_at) > MAX_MONTHS_AHEAD {
            return Err(refused(TransferRefusal::EndDateTooLate));
        }
        t.transfer.status = TransferStatus::Withdrawn;
        t.transfer.end_at = Some(end_at);
        Ok(())
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock().now()
    }

    pub(crate) fn transfers_invite(&self, inv: &TransferInvitation) -> Result<SentTransfer, TransferError> {
        let now = self.now();
        let partner = self.partner().clone();
        let mut w = self.world();
        w.transfers.refresh(now);
        SimAws::count(&mut w, "ListInboundResponsibilityTransfers");
        // Reuse: a REQUESTED transfer to the same account is ours already (the account lock),
        // one with the same start preferred, as the AWS adapter does.
        let open = |t: &&SimTransfer| t.transfer.customer_account == inv.account && t.transfer.status == TransferStatus::Requested;
        let mut candidates = w.transfers.transfers.iter().filter(open);
        if let Some(t) = candidates.clone().find(|t| t.transfer.start_at == inv.start_at).or_else(|| candidates.next()) {
            return Ok(SentTransfer { handshake: t.handshake.clone(), transfer: t.transfer.clone() });
        }
        SimAws::count(&mut w, "InviteOrganizationToTransferResponsibility");
        if inv.source_name.is_empty() || inv.source_name.len() > 128 || !inv.source_name.bytes().all(|b| (b' '..=b'~').contains(&b)) {
            return Err(TransferError::Other("InvalidInputException (INVALID_INPUT): SourceName must be 1-128 printable ASCII".into()));
        }
        if inv.notes.contains('<') || inv.notes.contains('>') {
            return Err(TransferError::Other("InvalidInputException (INVALID_PATTERN): Notes must not contain markup".into()));
        }
        if inv.account == partner {
            return Err(refused(TransferRefusal::SourceAndTargetCannotMatch));
        }
        if !is_midnight(inv.start_at) {
            return Err(refused(TransferRefusal::StartDateNotBeginningOfDay));
        }
        if inv.start_at.day() != 1 {
            return Err(refused(TransferRefusal::StartDateNotBeginningOfMonth));
        }
        if inv.start_at - migration::transfer::ACCEPTANCE_LEAD <= now {
            return Err(refused(TransferRefusal::StartDateTooEarly));
        }
        if months_between(now, inv.start_at) > MAX_MONTHS_AHEAD {
            return Err(refused(TransferRefusal::StartDateTooLate));
        }
        if let Some(refusal) = w.transfers.refusals.get(&inv.account) {
            return Err(refused(refusal.clone()));
        }
        let exists = w.transfers.transfers.iter().any(|t| {
            t.transfer.customer_account == inv.account
                && (t.transfer.status == TransferStatus::Requested
                    || (matches!(t.transfer.status, TransferStatus::Accepted | TransferStatus::Withdrawn)
                        && t.transfer.end_at.is_none_or(|end| end >= now)))
        });
        if exists {
            return Err(refused(TransferRefusal::AlreadyExists));
        }
        w.transfers.next += 1;
        let n = w.transfers.next;
        let expires_at = match w.transfers.lifetime {
            HandshakeLifetime::UntilAcceptBy => inv.start_at - migration::transfer::ACCEPTANCE_LEAD,
            HandshakeLifetime::Fixed(d) => now + d,
        };
        let handshake = Handshake {
            id: format!("h-simtr{n:08}").parse().expect("valid handshake id"),
            account_id: inv.account.clone(),
            state: HandshakeState::Open,
            requested_at: now,
            expires_at,
        };
        let id: TransferId = format!("rt-sim{n:08}").parse().expect("valid transfer id");
        let transfer = ResponsibilityTransfer {
            arn: format!("arn:aws:organizations::{partner}:transfer/o-simpartner/billing/inbound/{id}"),
            id,
            status: TransferStatus::Requested,
            start_at: inv.start_at,
            end_at: None,
            customer_account: inv.account.clone(),
            active_handshake_id: Some(handshake.id.clone()),
        };
        w.transfers.transfers.push(SimTransfer { transfer: transfer.clone(), handshake: handshake.clone() });
        Ok(SentTransfer { handshake, transfer })
    }

    pub(crate) fn transfers_describe(&self, id: &TransferId) -> Result<ResponsibilityTransfer, TransferError> {
        let now = self.now();
        let mut w = self.world();
        w.transfers.refresh(now);
        SimAws::count(&mut w, "DescribeResponsibilityTransfer");
        w.transfers.transfers.iter().find(|t| &t.transfer.id == id).map(|t| t.transfer.clone()).ok_or(TransferError::NotFound)
    }

    pub(crate) fn transfers_cancel(&self, handshake: &HandshakeId) -> Result<(), TransferError> {
        let now = self.now();
        let mut w = self.world();
        w.transfers.refresh(now);
        SimAws::count(&mut w, "CancelHandshake");
        let t = w.transfers.by_handshake(handshake).map_err(|_| TransferError::NotFound)?;
        if t.handshake.state == HandshakeState::Open {
            t.handshake.state = HandshakeState::Canceled;
            t.transfer.status = TransferStatus::Canceled;
            t.transfer.active_handshake_id = None;
        }
        Ok(())
    }

    pub(crate) fn transfers_terminate(&self, id: &TransferId, end_at: DateTime<Utc>) -> Result<ResponsibilityTransfer, TransferError> {
        SimAws::count(&mut self.world(), "TerminateResponsibilityTransfer");
        self.end_transfer(id, end_at, true)?;
        self.transfers_describe(id)
    }

    pub(crate) fn transfers_billing_group(&self, spec: &BillingGroupSpec) -> Result<BillingGroup, TransferError> {
        let now = self.now();
        let mut w = self.world();
        w.transfers.refresh(now);
        SimAws::count(&mut w, "CreateBillingGroup");
        if let Some((_, group)) = w.transfers.groups.iter().find(|(s, _)| s.name == spec.name) {
            return Ok(group.clone());
        }
        let accepted = w.transfers.transfers.iter().any(|t| {
            t.transfer.arn == spec.transfer_arn && matches!(t.transfer.status, TransferStatus::Accepted | TransferStatus::Withdrawn)
        });
        if !accepted {
            return Err(TransferError::Other(
                "ValidationException: the responsibility transfer is not accepted (simulated; AWS's reason code for this is not documented)".into(),
            ));
        }
        let n = w.transfers.groups.len() + 1;
        let group = BillingGroup { arn: format!("arn:aws:billingconductor::{}:billinggroup/sim{n:08}", self.partner()), created_at: now };
        w.transfers.groups.push((spec.clone(), group.clone()));
        Ok(group)
    }
}

/// The billing-transfer port on the simulation.
#[derive(Clone)]
pub struct SimTransfers(pub(crate) SimAws);

#[async_trait]
impl BillingTransfers for SimTransfers {
    async fn invite(&self, invitation: &TransferInvitation) -> Result<SentTransfer, TransferError> {
        self.0.transfers_invite(invitation)
    }
    async fn describe(&self, id: &TransferId) -> Result<ResponsibilityTransfer, TransferError> {
        self.0.transfers_describe(id)
    }
    async fn cancel_invitation(&self, handshake: &HandshakeId) -> Result<(), TransferError> {
        self.0.transfers_cancel(handshake)
    }
    async fn terminate(&self, id: &TransferId, end_at: DateTime<Utc>) -> Result<ResponsibilityTransfer, TransferError> {
        self.0.transfers_terminate(id, end_at)
    }
    async fn ensure_billing_group(&self, spec: &BillingGroupSpec) -> Result<BillingGroup, TransferError> {
        self.0.transfers_billing_group(spec)
    }
}
