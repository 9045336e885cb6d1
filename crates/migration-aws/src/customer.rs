//! The customer's account through the role they created: sts:AssumeRole with the
//! organization's ExternalId, then Organizations calls with the session's credentials.

use async_trait::async_trait;
use aws_config::SdkConfig;
#[cfg(feature = "organizations")]
use aws_sdk_organizations::operation::describe_organization::DescribeOrganizationError;
use aws_sdk_sts::config::http::HttpResponse;
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sts::operation::assume_role::AssumeRoleError;
use migration::error::AccessError;
use migration::ports::{CustomerAccess, CustomerSession};
use migration::rules::CustomerOrganization;
use migration::{ExternalId, MigrationId, RoleArn};
use tracing::{info, instrument, warn};

use crate::clients::ClientHooks;
#[cfg(feature = "organizations")]
use crate::clients::{Signer, session_config};
use crate::errors::{error_message, is_access_denied_code, is_transient};
use crate::to_chrono;

/// The AWS adapter of [`CustomerAccess`].
#[derive(Clone, Debug)]
pub struct AwsCustomerAccess {
    sts: aws_sdk_sts::Client,
    /// The partner's configuration; sessions derive theirs from it (endpoint, retries).
    base: SdkConfig,
    hooks: ClientHooks,
}

/// `cam-migration-<id>`: CloudTrail in the customer's account shows which migration acted.
pub fn role_session_name(migration: MigrationId) -> String {
    format!("cam-migration-{migration}")
}

fn access_error(err: &SdkError<AssumeRoleError, HttpResponse>) -> AccessError {
    let message = error_message(err);
    match err.code() {
        Some(code) if is_access_denied_code(code) => AccessError::NotAssumable(message),
        _ if is_transient(err) => AccessError::Retryable(message),
        _ => AccessError::Other(message),
    }
}

impl AwsCustomerAccess {
    pub fn new(sts: aws_sdk_sts::Client, base: SdkConfig) -> Self {
        Self::with_hooks(sts, base, ClientHooks::default())
    }

    /// The clients it builds with the customer's credentials go through `hooks`.
    pub fn with_hooks(sts: aws_sdk_sts::Client, base: SdkConfig, hooks: ClientHooks) -> Self {
        Self { sts, base, hooks }
    }

    /// Every account of the customer's own organization, when the role may list them.
    ///
    /// Every listed account counts, whatever its `State` (and the retired `Status` is never
    /// read): each one, suspended or closing included, must leave before the organization
    /// can be deleted.
    #[cfg(feature = "organizations")]
    async fn account_count(&self, orgs: &aws_sdk_organizations::Client) -> Option<u32> {
        let mut count = 0u32;
        let mut pages = orgs.list_accounts().into_paginator().send();
        while let Some(page) = pages.next().await {
            match page {
                Ok(out) => count = count.saturating_add(u32::try_from(out.accounts().len()).unwrap_or(u32::MAX)),
                Err(err) if err.code().is_some_and(is_access_denied_code) => return None,
                Err(err) => {
                    warn!(error = %error_message(&err), "could not count the accounts of the customer's organization");
                    return None;
                }
            }
        }
        Some(count)
    }
}

#[async_trait]
impl CustomerAccess for AwsCustomerAccess {
    #[instrument(skip(self, external_id), fields(migration_id = %migration))]
    async fn assume(&self, role: &RoleArn, external_id: &ExternalId, migration: MigrationId) -> Result<CustomerSession, AccessError> {
        let out = self
            .sts
            .assume_role()
            .role_arn(role.as_str())
            .role_session_name(role_session_name(migration))
            .external_id(external_id.as_str())
            .send()
            .await
            .map_err(|e| access_error(&e))?;
        let credentials = out.credentials().ok_or_else(|| AccessError::Other("AssumeRole returned no credentials".into()))?;
        info!("assumed the customer role");
        Ok(CustomerSession {
            account_id: role.account_id(),
            access_key_id: credentials.access_key_id().to_owned(),
            secret_access_key: credentials.secret_access_key().to_owned(),
            session_token: credentials.session_token().to_owned(),
            expires_at: to_chrono(credentials.expiration()).ok_or_else(|| AccessError::Other("invalid credential expiry".into()))?,
        })
    }

    #[instrument(skip(self), fields(migration_id = %migration))]
    async fn assumable_without_external_id(&self, role: &RoleArn, migration: MigrationId) -> Result<bool, AccessError> {
        match self.sts.assume_role().role_arn(role.as_str()).role_session_name(role_session_name(migration)).send().await {
            // The credentials are dropped unused: the only question was whether AWS hands them out.
            Ok(_) => {
                warn!("the customer role can be assumed without the ExternalId");
                Ok(true)
            }
            Err(err) => match access_error(&err) {
                AccessError::NotAssumable(_) => Ok(false),
                other => Err(other),
            },
        }
    }

    /// Built without the `organizations` feature (a function that never reads the
    /// customer's organization) this fails closed: a typed error, never a guess.
    #[cfg(not(feature = "organizations"))]
    async fn organization(&self, session: &CustomerSession) -> Result<CustomerOrganization, AccessError> {
        let _ = (&self.base, &self.hooks, session);
        Err(crate::unavailable::NotConfigured::feature("reading the customer's organization", "organizations").into())
    }

    #[cfg(feature = "organizations")]
    #[instrument(skip(self, session), fields(account = %session.account_id))]
    async fn organization(&self, session: &CustomerSession) -> Result<CustomerOrganization, AccessError> {
        let orgs = self.hooks.organizations(&session_config(&self.base, session), Signer::CustomerRole);
        let out = match orgs.describe_organization().send().await {
            Ok(out) => out,
            Err(err) if matches!(err.as_service_error(), Some(DescribeOrganizationError::AwsOrganizationsNotInUseException(_))) => {
                return Ok(CustomerOrganization::Standalone);
            }
            Err(err) if err.code().is_some_and(is_access_denied_code) => {
                return Err(AccessError::AccessDenied("organizations:DescribeOrganization".into()));
            }
            Err(err) if is_transient(&err) => return Err(AccessError::Retryable(error_message(&err))),
            Err(err) => return Err(AccessError::Other(error_message(&err))),
        };
        let org = out.organization().ok_or_else(|| AccessError::Other("DescribeOrganization returned no organization".into()))?;
        let organization_id = org.id().unwrap_or_default().to_owned();
        let management = org.master_account_id().unwrap_or_default();
        if management == session.account_id.as_str() {
            // `CONSOLIDATED_BILLING` only is what a billing transfer refuses; an absent or
            // unknown feature set is not taken for it.
            let all_features =
                !matches!(org.feature_set(), Some(aws_sdk_organizations::types::OrganizationFeatureSet::ConsolidatedBilling));
            return Ok(CustomerOrganization::ManagementAccount {
                organization_id,
                member_count: self.account_count(&orgs).await,
                all_features,
            });
        }
        let management_account_id =
            management.parse().map_err(|_| AccessError::Other(format!("invalid management account id {management:?}")))?;
        Ok(CustomerOrganization::Member { organization_id, management_account_id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names_carry_the_migration_id_within_limits() {
        let id = MigrationId::new_at(chrono::Utc::now());
        let name = role_session_name(id);
        assert!(name.ends_with(&id.to_string()));
        assert!((2..=64).contains(&name.len()));
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)));
    }
}
