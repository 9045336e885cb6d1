//! Billing transfers through AWS Organizations (responsibility transfers of type `BILLING`)
//! and AWS Billing Conductor (the transfer's billing group), called with the partner's
//! management account credentials.
//!
//! In AWS's words the customer's management account is the transfer's `Source` (it lets an
//! account outside its organization manage its bill) and the partner's is its `Target`; the
//! partner sees the transfer among its *inbound* ones. The invitation is a handshake of
//! action `TRANSFER_RESPONSIBILITY` that names the transfer as a `RESPONSIBILITY_TRANSFER`
//! resource.

use async_trait::async_trait;
use aws_sdk_billingconductor::operation::create_billing_group::CreateBillingGroupError;
use aws_sdk_billingconductor::operation::list_billing_groups::ListBillingGroupsError;
use aws_sdk_billingconductor::types::{AccountGrouping, ComputationPreference, ListBillingGroupsFilter};
use aws_sdk_organizations::operation::describe_responsibility_transfer::DescribeResponsibilityTransferError;
use aws_sdk_organizations::operation::invite_organization_to_transfer_responsibility::InviteOrganizationToTransferResponsibilityError;
use aws_sdk_organizations::operation::list_inbound_responsibility_transfers::ListInboundResponsibilityTransfersError;
use aws_sdk_organizations::operation::terminate_responsibility_transfer::TerminateResponsibilityTransferError;
use aws_sdk_organizations::primitives::DateTime as AwsDateTime;
use aws_sdk_organizations::types::{
    self, ActionType, HandshakeParty, HandshakePartyType, HandshakeResourceType, ResponsibilityTransferStatus, ResponsibilityTransferType,
};
use chrono::{DateTime, Utc};
use migration::ids::{AwsAccountId, HandshakeId, TransferId};
use migration::record::Handshake;
use migration::transfer::{
    BillingGroup, BillingGroupSpec, BillingTransfers, ResponsibilityTransfer, SentTransfer, TransferError, TransferInvitation,
    TransferRefusal, TransferStatus,
};
use tracing::{debug, info, instrument};

use crate::errors::transfer_error;
use crate::organizations::{handshake_state, no_longer_open};
use crate::to_chrono;

/// The AWS adapter of [`BillingTransfers`].
#[derive(Clone, Debug)]
pub struct AwsBillingTransfers {
    organizations: aws_sdk_organizations::Client,
    billing: aws_sdk_billingconductor::Client,
}

fn malformed(what: &str) -> TransferError {
    TransferError::Other(format!("AWS returned a billing transfer without a valid {what}"))
}

fn status_from(status: Option<&ResponsibilityTransferStatus>) -> Result<TransferStatus, TransferError> {
    Ok(match status {
        Some(ResponsibilityTransferStatus::Requested) => TransferStatus::Requested,
        Some(ResponsibilityTransferStatus::Accepted) => TransferStatus::Accepted,
        Some(ResponsibilityTransferStatus::Declined) => TransferStatus::Declined,
        Some(ResponsibilityTransferStatus::Canceled) => TransferStatus::Canceled,
        Some(ResponsibilityTransferStatus::Expired) => TransferStatus::Expired,
        Some(ResponsibilityTransferStatus::Withdrawn) => TransferStatus::Withdrawn,
        Some(other) => return Err(TransferError::Other(format!("unknown responsibility transfer status {:?}", other.as_str()))),
        None => return Err(malformed("Status")),
    })
}

/// The domain's transfer from AWS's. The customer is the `Source`.
pub(crate) fn transfer_from(t: &types::ResponsibilityTransfer) -> Result<ResponsibilityTransfer, TransferError> {
    if let Some(kind) = t.r#type()
        && kind != &ResponsibilityTransferType::Billing
    {
        return Err(TransferError::Other(format!("transfer {:?} is of type {}, not BILLING", t.id(), kind.as_str())));
    }
    Ok(ResponsibilityTransfer {
        id: t.id().and_then(|id| id.parse().ok()).ok_or_else(|| malformed("Id"))?,
        arn: t.arn().filter(|a| a.contains(":transfer/")).ok_or_else(|| malformed("Arn"))?.to_owned(),
        status: status_from(t.status())?,
        start_at: t.start_timestamp().and_then(to_chrono).ok_or_else(|| malformed("StartTimestamp"))?,
        end_at: t.end_timestamp().and_then(to_chrono),
        customer_account: t
            .source()
            .and_then(|s| s.management_account_id())
            .and_then(|id| id.parse().ok())
            .ok_or_else(|| malformed("Source.ManagementAccountId"))?,
        active_handshake_id: t.active_handshake_id().and_then(|id| id.parse().ok()),
    })
}

/// The transfer a handshake names (its `RESPONSIBILITY_TRANSFER` resource, at any depth).
fn transfer_named(resources: &[types::HandshakeResource]) -> Option<TransferId> {
    resources.iter().find_map(|r| {
        if r.r#type() == Some(&HandshakeResourceType::ResponsibilityTransfer) {
            r.value().and_then(|v| v.parse().ok())
        } else {
            transfer_named(r.resources())
        }
    })
}

/// The domain handshake of a transfer invitation to `account`. Any other handshake (an
/// invitation to join, say) is an error, never taken for the transfer's.
fn invitation_from(h: &types::Handshake, account: &AwsAccountId) -> Result<Handshake, TransferError> {
    let id = h.id().unwrap_or("(no id)");
    if h.action() != Some(&ActionType::TransferResponsibility) {
        return Err(TransferError::Other(format!(
            "handshake {id} is {}, not a billing-transfer invitation (TRANSFER_RESPONSIBILITY)",
            h.action().map_or("without an Action", |a| a.as_str())
        )));
    }
    Ok(Handshake {
        id: h.id().and_then(|id| id.parse::<HandshakeId>().ok()).ok_or_else(|| malformed("handshake Id"))?,
        account_id: account.clone(),
        state: handshake_state(h.state()).map_err(|e| TransferError::Other(e.to_string()))?,
        requested_at: h.requested_timestamp().and_then(to_chrono).ok_or_else(|| malformed("handshake RequestedTimestamp"))?,
        expires_at: h.expiration_timestamp().and_then(to_chrono).ok_or_else(|| malformed("handshake ExpirationTimestamp"))?,
    })
}

fn aws_time(at: DateTime<Utc>) -> AwsDateTime {
    AwsDateTime::from_millis(at.timestamp_millis())
}

fn invite_reason(err: &InviteOrganizationToTransferResponsibilityError) -> Option<&str> {
    match err {
        InviteOrganizationToTransferResponsibilityError::InvalidInputException(e) => e.reason().map(|r| r.as_str()),
        InviteOrganizationToTransferResponsibilityError::ConstraintViolationException(e) => e.reason().map(|r| r.as_str()),
        InviteOrganizationToTransferResponsibilityError::HandshakeConstraintViolationException(e) => e.reason().map(|r| r.as_str()),
        _ => None,
    }
}

fn terminate_reason(err: &TerminateResponsibilityTransferError) -> Option<&str> {
    match err {
        TerminateResponsibilityTransferError::InvalidInputException(e) => e.reason().map(|r| r.as_str()),
        TerminateResponsibilityTransferError::ConstraintViolationException(e) => e.reason().map(|r| r.as_str()),
        _ => None,
    }
}

fn describe_reason(err: &DescribeResponsibilityTransferError) -> Option<&str> {
    match err {
        DescribeResponsibilityTransferError::InvalidInputException(e) => e.reason().map(|r| r.as_str()),
        _ => None,
    }
}

fn list_reason(err: &ListInboundResponsibilityTransfersError) -> Option<&str> {
    match err {
        ListInboundResponsibilityTransfersError::InvalidInputException(e) => e.reason().map(|r| r.as_str()),
        ListInboundResponsibilityTransfersError::ConstraintViolationException(e) => e.reason().map(|r| r.as_str()),
        _ => None,
    }
}

fn create_group_reason(err: &CreateBillingGroupError) -> Option<&str> {
    match err {
        CreateBillingGroupError::ValidationException(e) => e.reason().map(|r| r.as_str()),
        CreateBillingGroupError::ConflictException(e) => e.reason().map(|r| r.as_str()),
        _ => None,
    }
}

fn list_groups_reason(err: &ListBillingGroupsError) -> Option<&str> {
    match err {
        ListBillingGroupsError::ValidationException(e) => e.reason().map(|r| r.as_str()),
        _ => None,
    }
}

impl AwsBillingTransfers {
    /// Both clients in us-east-1, where Organizations and Billing Conductor answer.
    pub fn new(organizations: aws_sdk_organizations::Client, billing: aws_sdk_billingconductor::Client) -> Self {
        Self { organizations, billing }
    }

    /// The inbound transfer still `REQUESTED` of `account`: the invitation a retried or
    /// concurrent invite step sent already, whatever start it named (the account lock makes
    /// any open invitation to the account this migration's, and a retry may have computed a
    /// later default month); one starting at `start_at` is preferred. Every page is read (a
    /// page can be empty while more follow).
    async fn find_requested(
        &self,
        account: &AwsAccountId,
        start_at: DateTime<Utc>,
    ) -> Result<Option<types::ResponsibilityTransfer>, TransferError> {
        let mut found: Option<types::ResponsibilityTransfer> = None;
        let mut next: Option<String> = None;
        loop {
            let page = self
                .organizations
                .list_inbound_responsibility_transfers()
                .r#type(ResponsibilityTransferType::Billing)
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| transfer_error(&e, e.as_service_error().and_then(list_reason)))?;
            for t in page.responsibility_transfers() {
                let open = t.status() == Some(&ResponsibilityTransferStatus::Requested)
                    && t.source().and_then(|s| s.management_account_id()) == Some(account.as_str());
                if !open {
                    continue;
                }
                if t.start_timestamp().and_then(to_chrono) == Some(start_at) {
                    return Ok(Some(t.clone()));
                }
                found.get_or_insert_with(|| t.clone());
            }
            match page.next_token() {
                Some(token) => next = Some(token.to_owned()),
                None => return Ok(found),
            }
        }
    }

    /// The invitation of a `REQUESTED` transfer, with the transfer.
    async fn sent(&self, t: &types::ResponsibilityTransfer, account: &AwsAccountId) -> Result<SentTransfer, TransferError> {
        let transfer = transfer_from(t)?;
        let handshake_id = transfer.active_handshake_id.clone().ok_or_else(|| malformed("ActiveHandshakeId of a REQUESTED transfer"))?;
        let out = self
            .organizations
            .describe_handshake()
            .handshake_id(handshake_id.as_str())
            .send()
            .await
            .map_err(|e| transfer_error(&e, None))?;
        let handshake = invitation_from(out.handshake().ok_or(TransferError::NotFound)?, account)?;
        Ok(SentTransfer { handshake, transfer })
    }

    /// The open invitation of ours for `invitation`'s account, with its handshake, if the
    /// inbound transfers list one (one listing).
    async fn reuse_open(&self, invitation: &TransferInvitation, why: &str) -> Result<Option<SentTransfer>, TransferError> {
        let Some(t) = self.find_requested(&invitation.account, invitation.start_at).await? else { return Ok(None) };
        let sent = self.sent(&t, &invitation.account).await?;
        info!(transfer_id = %sent.transfer.id, "{why}");
        Ok(Some(sent))
    }

    /// The billing group made for `transfer_arn`, if there is one.
    async fn find_group(&self, transfer_arn: &str) -> Result<Option<BillingGroup>, TransferError> {
        let mut next: Option<String> = None;
        loop {
            let page = self
                .billing
                .list_billing_groups()
                .filters(ListBillingGroupsFilter::builder().responsibility_transfer_arns(transfer_arn).build())
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| transfer_error(&e, e.as_service_error().and_then(list_groups_reason)))?;
            let found = page
                .billing_groups()
                .iter()
                // The filter is AWS's; the group must still name the transfer itself.
                .find(|g| g.account_grouping().and_then(|a| a.responsibility_transfer_arn()) == Some(transfer_arn));
            if let Some(g) = found {
                let arn = g.arn().ok_or_else(|| malformed("billing group Arn"))?.to_owned();
                let created_at = DateTime::from_timestamp(g.creation_time(), 0).ok_or_else(|| malformed("billing group CreationTime"))?;
                return Ok(Some(BillingGroup { arn, created_at }));
            }
            match page.next_token() {
                Some(token) => next = Some(token.to_owned()),
                None => return Ok(None),
            }
        }
    }
}

#[async_trait]
impl BillingTransfers for AwsBillingTransfers {
    #[instrument(skip(self, invitation), fields(migration_id = %invitation.migration))]
    async fn invite(&self, invitation: &TransferInvitation) -> Result<SentTransfer, TransferError> {
        if let Some(sent) = self.reuse_open(invitation, "reusing the open billing-transfer invitation").await? {
            return Ok(sent);
        }
        let target =
            HandshakeParty::builder().id(invitation.account.as_str()).r#type(HandshakePartyType::Account).build().expect("id and type set");
        let sent = self
            .organizations
            .invite_organization_to_transfer_responsibility()
            .r#type(ResponsibilityTransferType::Billing)
            .target(target)
            .start_timestamp(aws_time(invitation.start_at))
            .source_name(&invitation.source_name)
            // No tags: tagging on create needs organizations:TagResource too (as for an
            // invitation to join), and the notes name the migration already.
            .notes(&invitation.notes)
            .send()
            .await;
        match sent {
            Ok(out) => {
                let raw = out.handshake().ok_or_else(|| TransferError::Other("the invitation returned no handshake".into()))?;
                let handshake = invitation_from(raw, &invitation.account)?;
                let transfer = match transfer_named(raw.resources()) {
                    Some(id) => self.describe(&id).await?,
                    None => {
                        // The handshake does not name its transfer: find it by its invitation.
                        debug!("the handshake names no RESPONSIBILITY_TRANSFER; listing the inbound transfers");
                        let t = self.find_requested(&invitation.account, invitation.start_at).await?.ok_or(TransferError::NotFound)?;
                        transfer_from(&t)?
                    }
                };
                info!(transfer_id = %transfer.id, handshake_id = %handshake.id, "invited the organization to transfer its bill");
                Ok(SentTransfer { handshake, transfer })
            }
            Err(err)
                if matches!(
                    err.as_service_error(),
                    Some(InviteOrganizationToTransferResponsibilityError::DuplicateHandshakeException(_))
                ) =>
            {
                self.reuse_open(invitation, "adopted the concurrent billing-transfer invitation").await?.ok_or_else(|| {
                    TransferError::Retryable {
                        code: "DuplicateHandshakeException".into(),
                        message: "AWS reports an open billing-transfer invitation that the listing does not show yet".into(),
                    }
                })
            }
            Err(err) => match transfer_error(&err, err.as_service_error().and_then(invite_reason)) {
                // An open invitation of ours that the first listing missed (sent meanwhile by
                // a concurrent attempt) is refused this way too: adopt it if it is there, or
                // else the refusal stands.
                refused @ TransferError::Refused {
                    refusal: TransferRefusal::AlreadyExists | TransferRefusal::ActiveTransferProcess,
                    ..
                } => self.reuse_open(invitation, "adopted the billing-transfer invitation AWS reports as existing").await?.ok_or(refused),
                other => Err(other),
            },
        }
    }

    #[instrument(skip(self))]
    async fn describe(&self, id: &TransferId) -> Result<ResponsibilityTransfer, TransferError> {
        let out = self
            .organizations
            .describe_responsibility_transfer()
            .id(id.as_str())
            .send()
            .await
            .map_err(|e| transfer_error(&e, e.as_service_error().and_then(describe_reason)))?;
        transfer_from(out.responsibility_transfer().ok_or(TransferError::NotFound)?)
    }

    #[instrument(skip(self))]
    async fn cancel_invitation(&self, handshake: &HandshakeId) -> Result<(), TransferError> {
        match self.organizations.cancel_handshake().handshake_id(handshake.as_str()).send().await {
            Ok(_) => Ok(()),
            // Decided (or canceled) already: left as it is.
            Err(err) if err.as_service_error().is_some_and(no_longer_open) => {
                debug!("the transfer invitation is no longer open");
                Ok(())
            }
            Err(err) => Err(transfer_error(&err, None)),
        }
    }

    #[instrument(skip(self))]
    async fn terminate(&self, id: &TransferId, end_at: DateTime<Utc>) -> Result<ResponsibilityTransfer, TransferError> {
        let out = self
            .organizations
            .terminate_responsibility_transfer()
            .id(id.as_str())
            .end_timestamp(aws_time(end_at))
            .send()
            .await
            .map_err(|e| transfer_error(&e, e.as_service_error().and_then(terminate_reason)))?;
        transfer_from(out.responsibility_transfer().ok_or_else(|| malformed("ResponsibilityTransfer"))?)
    }

    #[instrument(skip(self, spec), fields(migration_id = %spec.migration))]
    async fn ensure_billing_group(&self, spec: &BillingGroupSpec) -> Result<BillingGroup, TransferError> {
        if let Some(group) = self.find_group(&spec.transfer_arn).await? {
            debug!(billing_group = %group.arn, "the transfer's billing group exists");
            return Ok(group);
        }
        let created = self
            .billing
            .create_billing_group()
            // A retry within Billing Conductor's idempotency window gets the same group.
            .client_token(spec.migration.to_string())
            .name(&spec.name)
            .description(format!("Cloud Application Manager billing transfer, migration {}", spec.migration))
            .account_grouping(AccountGrouping::builder().responsibility_transfer_arn(&spec.transfer_arn).build())
            .computation_preference(
                ComputationPreference::builder().pricing_plan_arn(&spec.pricing_plan_arn).build().expect("pricing plan set"),
            )
            // No tags: tagging on create needs billingconductor:TagResource too; the
            // description names the migration.
            .send()
            .await;
        match created {
            Ok(out) => {
                let arn = out.arn().ok_or_else(|| malformed("billing group Arn"))?.to_owned();
                info!(billing_group = %arn, "made the transfer's billing group");
                // CreateBillingGroup answers with the ARN only.
                Ok(BillingGroup { arn, created_at: Utc::now() })
            }
            Err(err) if matches!(err.as_service_error(), Some(CreateBillingGroupError::ConflictException(_))) => {
                // Made meanwhile (a concurrent or retried step), or the name is taken.
                match self.find_group(&spec.transfer_arn).await? {
                    Some(group) => Ok(group),
                    None => Err(transfer_error(&err, err.as_service_error().and_then(create_group_reason))),
                }
            }
            Err(err) => Err(transfer_error(&err, err.as_service_error().and_then(create_group_reason))),
        }
    }
}
