//! The partner organization through AWS Organizations, called with the management account's
//! credentials.

use async_trait::async_trait;
use aws_sdk_organizations::Client;
use aws_sdk_organizations::operation::attach_policy::AttachPolicyError;
use aws_sdk_organizations::operation::cancel_handshake::CancelHandshakeError;
use aws_sdk_organizations::operation::describe_account::DescribeAccountError;
use aws_sdk_organizations::operation::invite_account_to_organization::InviteAccountToOrganizationError;
use aws_sdk_organizations::operation::move_account::MoveAccountError;
use aws_sdk_organizations::operation::tag_resource::TagResourceError;
use aws_sdk_organizations::types::{
    self, ActionType, HandshakeFilter, HandshakeParty, HandshakePartyType, HandshakeResourceType, PolicyType, Tag,
};
use migration::error::OrgError;
use migration::ports::{AccountState, Membership, Organizations};
use migration::record::{Handshake, HandshakeState};
use migration::{AwsAccountId, HandshakeId, MigrationId};
use tracing::{debug, info, instrument};

use crate::errors::org_error;
use crate::to_chrono;

/// The AWS adapter of [`Organizations`].
#[derive(Clone, Debug)]
pub struct AwsOrganizations {
    client: Client,
}

pub(crate) fn handshake_state(state: Option<&types::HandshakeState>) -> Result<HandshakeState, OrgError> {
    Ok(match state {
        Some(types::HandshakeState::Requested) => HandshakeState::Requested,
        Some(types::HandshakeState::Open) => HandshakeState::Open,
        Some(types::HandshakeState::Canceled) => HandshakeState::Canceled,
        Some(types::HandshakeState::Accepted) => HandshakeState::Accepted,
        Some(types::HandshakeState::Declined) => HandshakeState::Declined,
        Some(types::HandshakeState::Expired) => HandshakeState::Expired,
        other => return Err(OrgError::Other(format!("unknown handshake state {other:?}"))),
    })
}

/// Whether `resources`, or any resource nested in them, is the ACCOUNT `account`.
fn resources_name(resources: &[types::HandshakeResource], account: &str) -> bool {
    resources.iter().any(|r| {
        (r.r#type() == Some(&HandshakeResourceType::Account) && r.value() == Some(account)) || resources_name(r.resources(), account)
    })
}

/// Whether the handshake involves `account`, wherever AWS puts it: an ACCOUNT party (AWS
/// documents no order of `Parties`, and the partner's own management account can be listed
/// first) or an ACCOUNT resource, at any depth.
fn involves(h: &types::Handshake, account: &AwsAccountId) -> bool {
    h.parties().iter().any(|p| p.r#type() == &HandshakePartyType::Account && p.id() == account.as_str())
        || resources_name(h.resources(), account.as_str())
}

/// An invitation (`Action` INVITE) of `account`. A billing transfer
/// (`TRANSFER_RESPONSIBILITY`) that names the account is not.
fn is_invitation_of(h: &types::Handshake, account: &AwsAccountId) -> bool {
    h.action() == Some(&ActionType::InviteAccountToOrganization) && involves(h, account)
}

/// The domain handshake of `h`, which must be an invitation of `account`: anything else is
/// an error that names the mismatch, never taken for ours.
fn invitation_from(h: &types::Handshake, account: &AwsAccountId) -> Result<Handshake, OrgError> {
    let id = h.id().unwrap_or("(no id)");
    match h.action() {
        Some(ActionType::InviteAccountToOrganization) => {}
        Some(other) => {
            return Err(OrgError::Other(format!(
                "handshake {id} is a {} handshake, not an invitation (INVITE) of account {account}",
                other.as_str()
            )));
        }
        None => {
            return Err(OrgError::Other(format!("handshake {id} has no Action: it is not known to be an invitation of account {account}")));
        }
    }
    if !involves(h, account) {
        let parties: Vec<String> = h.parties().iter().map(|p| format!("{} {}", p.r#type().as_str(), p.id())).collect();
        return Err(OrgError::Other(format!(
            "handshake {id} is an invitation that does not name account {account} (parties: {})",
            if parties.is_empty() { "none".to_owned() } else { parties.join(", ") }
        )));
    }
    handshake_from(h, account)
}

fn handshake_from(h: &types::Handshake, account: &AwsAccountId) -> Result<Handshake, OrgError> {
    let malformed = |what: &str| OrgError::Other(format!("the handshake has no valid {what}"));
    Ok(Handshake {
        id: h.id().and_then(|id| id.parse::<HandshakeId>().ok()).ok_or_else(|| malformed("id"))?,
        account_id: account.clone(),
        state: handshake_state(h.state())?,
        requested_at: h.requested_timestamp().and_then(to_chrono).ok_or_else(|| malformed("RequestedTimestamp"))?,
        expires_at: h.expiration_timestamp().and_then(to_chrono).ok_or_else(|| malformed("ExpirationTimestamp"))?,
    })
}

/// `Account.State`, the only lifecycle field read (`Status` was retired on 2026-09-09).
fn account_state(account: &AwsAccountId, state: Option<&types::AccountState>) -> Result<AccountState, OrgError> {
    Ok(match state {
        Some(types::AccountState::PendingActivation) => AccountState::PendingActivation,
        Some(types::AccountState::Active) => AccountState::Active,
        Some(types::AccountState::Suspended) => AccountState::Suspended,
        Some(types::AccountState::PendingClosure) => AccountState::PendingClosure,
        Some(types::AccountState::Closed) => AccountState::Closed,
        Some(other) => {
            return Err(OrgError::Other(format!("DescribeAccount gave account {account} an unknown State {:?}", other.as_str())));
        }
        None => {
            return Err(OrgError::Other(format!(
                "DescribeAccount gave account {account} no State (the retired Status is not read): its lifecycle state is unknown"
            )));
        }
    })
}

/// A target that is not found: `AccountNotFound` for a member account; a root or an OU
/// (`TargetNotFoundException`, `OrganizationalUnitNotFoundException` on moto) names itself,
/// so a missing baseline OU is never read as a missing account.
fn target_error(target: &str, err: OrgError) -> OrgError {
    let is_account = target.parse::<AwsAccountId>().is_ok();
    match err {
        OrgError::AccountNotFound if !is_account => OrgError::Other(format!("TargetNotFoundException: no root or OU {target}")),
        OrgError::Other(m) if !is_account && m.starts_with("OrganizationalUnitNotFoundException") => {
            OrgError::Other(format!("TargetNotFoundException: no root or OU {target} ({m})"))
        }
        other => other,
    }
}

/// The account's parent (root or OU) from the first of its `Paths`
/// (`o-abc/r-ab12/ou-ab12-xyz/`): the last segment. The path's pattern lets it end with
/// the account's own id, which is skipped: an account is never a parent.
fn parent_from_paths(account: &AwsAccountId, paths: &[String]) -> Option<String> {
    let path = paths.first()?;
    path.split('/').rfind(|s| !s.is_empty() && *s != account.as_str()).map(str::to_owned)
}

/// CancelHandshake's answer for a handshake decided or canceled already.
pub(crate) fn no_longer_open(err: &CancelHandshakeError) -> bool {
    matches!(err, CancelHandshakeError::InvalidHandshakeTransitionException(_) | CancelHandshakeError::HandshakeAlreadyInStateException(_))
}

fn account_party(account: &AwsAccountId) -> HandshakeParty {
    HandshakeParty::builder().id(account.as_str()).r#type(HandshakePartyType::Account).build().expect("id and type set")
}

fn invite_reason(err: &InviteAccountToOrganizationError) -> Option<&str> {
    match err {
        InviteAccountToOrganizationError::HandshakeConstraintViolationException(e) => e.reason().map(|r| r.as_str()),
        InviteAccountToOrganizationError::ConstraintViolationException(e) => e.reason().map(|r| r.as_str()),
        _ => None,
    }
}

impl AwsOrganizations {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// An OPEN or REQUESTED invitation to the account, looking through every page: pages can
    /// be empty while more follow, so only an absent NextToken ends the listing (the SDK's
    /// paginator).
    async fn find_open_invitation(&self, account: &AwsAccountId) -> Result<Option<Handshake>, OrgError> {
        let filter = HandshakeFilter::builder().action_type(ActionType::InviteAccountToOrganization).build();
        let mut pages = self.client.list_handshakes_for_organization().filter(filter).into_paginator().send();
        let mut read = 0u32;
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| org_error(&e, None))?;
            read += 1;
            // The filter asks for invitations only; each is checked all the same, and one
            // that is not an INVITE or does not involve the account is skipped.
            let open = page.handshakes().iter().find(|h| {
                is_invitation_of(h, account) && matches!(h.state(), Some(types::HandshakeState::Open | types::HandshakeState::Requested))
            });
            if let Some(h) = open {
                debug!(pages = read, "found an open invitation");
                return handshake_from(h, account).map(Some);
            }
        }
        Ok(None)
    }
}

#[async_trait]
impl Organizations for AwsOrganizations {
    #[instrument(skip(self), fields(migration_id = %migration))]
    async fn invite_account(&self, account: &AwsAccountId, migration: MigrationId) -> Result<Handshake, OrgError> {
        if let Some(open) = self.find_open_invitation(account).await? {
            info!(handshake_id = %open.id, "reusing the open invitation");
            return Ok(open);
        }
        let sent = self
            .client
            .invite_account_to_organization()
            .target(account_party(account))
            .notes(format!("Cloud Application Manager migration {migration}"))
            .send()
            .await;
        match sent {
            Ok(out) => {
                let handshake = out.handshake().ok_or_else(|| OrgError::Other("the invitation returned no handshake".into()))?;
                let handshake = invitation_from(handshake, account)?;
                info!(handshake_id = %handshake.id, "invited the account");
                Ok(handshake)
            }
            Err(err) if matches!(err.as_service_error(), Some(InviteAccountToOrganizationError::DuplicateHandshakeException(_))) => {
                // Another invitation appeared since the listing (a concurrent or retried call).
                match self.find_open_invitation(account).await? {
                    Some(open) => {
                        info!(handshake_id = %open.id, "adopted the concurrent invitation");
                        Ok(open)
                    }
                    None => Err(OrgError::Retryable {
                        code: "DuplicateHandshakeException".into(),
                        message: "AWS reports an open invitation that the listing does not show yet".into(),
                    }),
                }
            }
            Err(err) => Err(org_error(&err, err.as_service_error().and_then(invite_reason))),
        }
    }

    #[instrument(skip(self))]
    async fn describe_handshake(&self, id: &HandshakeId, account: &AwsAccountId) -> Result<Handshake, OrgError> {
        let out = self.client.describe_handshake().handshake_id(id.as_str()).send().await.map_err(|e| org_error(&e, None))?;
        invitation_from(out.handshake().ok_or(OrgError::HandshakeNotFound)?, account)
    }

    #[instrument(skip(self))]
    async fn cancel_handshake(&self, id: &HandshakeId, account: &AwsAccountId) -> Result<Handshake, OrgError> {
        match self.client.cancel_handshake().handshake_id(id.as_str()).send().await {
            Ok(out) => {
                invitation_from(out.handshake().ok_or_else(|| OrgError::Other("the cancellation returned no handshake".into()))?, account)
            }
            Err(err) if err.as_service_error().is_some_and(no_longer_open) => {
                // Already decided (or already canceled): its state says what happened.
                debug!("the handshake is no longer open; describing it");
                self.describe_handshake(id, account).await
            }
            Err(err) => Err(org_error(&err, None)),
        }
    }

    #[instrument(skip(self))]
    async fn membership(&self, account: &AwsAccountId) -> Result<Option<Membership>, OrgError> {
        match self.client.describe_account().account_id(account.as_str()).send().await {
            Ok(out) => {
                let described = out.account().ok_or_else(|| OrgError::Other("DescribeAccount returned no account".into()))?;
                let joined_at = described
                    .joined_timestamp()
                    .and_then(to_chrono)
                    .ok_or_else(|| OrgError::Other("the account has no JoinedTimestamp".into()))?;
                let state = account_state(account, described.state())?;
                let parent = parent_from_paths(account, described.paths());
                Ok(Some(Membership { joined_at, state, parent }))
            }
            Err(err) if matches!(err.as_service_error(), Some(DescribeAccountError::AccountNotFoundException(_))) => Ok(None),
            Err(err) => Err(org_error(&err, None)),
        }
    }

    #[instrument(skip(self))]
    async fn parent_of(&self, account: &AwsAccountId) -> Result<String, OrgError> {
        // An account has one parent, but a List* page may come back empty with a NextToken.
        let mut pages = self.client.list_parents().child_id(account.as_str()).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| org_error(&e, None))?;
            if let Some(id) = page.parents().first().and_then(|p| p.id()) {
                return Ok(id.to_owned());
            }
        }
        Err(OrgError::AccountNotFound)
    }

    #[instrument(skip(self))]
    async fn move_account(&self, account: &AwsAccountId, from: &str, to: &str) -> Result<(), OrgError> {
        let result = self.client.move_account().account_id(account.as_str()).source_parent_id(from).destination_parent_id(to).send().await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if matches!(err.as_service_error(), Some(MoveAccountError::DuplicateAccountException(_))) => Ok(()),
            Err(err) if matches!(err.as_service_error(), Some(MoveAccountError::SourceParentNotFoundException(_))) => {
                // Not in `from` any more: done if it is already where it should go.
                if self.parent_of(account).await? == to {
                    Ok(())
                } else {
                    Err(OrgError::Other(format!("SourceParentNotFoundException: the account is not in {from}")))
                }
            }
            Err(err) => Err(org_error(&err, None)),
        }
    }

    #[instrument(skip(self))]
    async fn scps_of(&self, target: &str) -> Result<Vec<String>, OrgError> {
        // ListPoliciesForTarget lists the policies attached directly to the target, of the
        // type `Filter` names (required); a page may come back empty with a NextToken, so
        // the paginator reads every page (Organizations API Reference, ListPoliciesForTarget).
        let mut pages =
            self.client.list_policies_for_target().target_id(target).filter(PolicyType::ServiceControlPolicy).into_paginator().send();
        let mut scps = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| target_error(target, org_error(&e, None)))?;
            scps.extend(page.policies().iter().filter_map(|p| p.id()).map(str::to_owned));
        }
        Ok(scps)
    }

    #[instrument(skip(self))]
    async fn attach_policy(&self, policy_id: &str, target: &str) -> Result<(), OrgError> {
        // AttachPolicy takes a root, an OU or an account as TargetId. Already attached is
        // DuplicatePolicyAttachmentException, taken as done; a target carrying 5 SCPs
        // already is ConstraintViolationException MAX_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED
        // (POLICY_NUMBER_LIMIT_EXCEEDED is the organization's count of policies instead).
        match self.client.attach_policy().policy_id(policy_id).target_id(target).send().await {
            Ok(_) => Ok(()),
            Err(err) if matches!(err.as_service_error(), Some(AttachPolicyError::DuplicatePolicyAttachmentException(_))) => Ok(()),
            Err(err) => {
                let reason = match err.as_service_error() {
                    Some(AttachPolicyError::ConstraintViolationException(e)) => e.reason().map(|r| r.as_str()),
                    _ => None,
                };
                Err(target_error(target, org_error(&err, reason)))
            }
        }
    }

    #[instrument(skip(self, tags), fields(tags = tags.len()))]
    async fn tag_account(&self, account: &AwsAccountId, tags: &[(String, String)]) -> Result<(), OrgError> {
        let tags: Vec<Tag> = tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build().expect("key and value set")).collect();
        match self.client.tag_resource().resource_id(account.as_str()).set_tags(Some(tags)).send().await {
            Ok(_) => Ok(()),
            Err(err) => {
                let reason = match err.as_service_error() {
                    Some(TagResourceError::ConstraintViolationException(e)) => e.reason().map(|r| r.as_str()),
                    _ => None,
                };
                Err(org_error(&err, reason))
            }
        }
    }
}
