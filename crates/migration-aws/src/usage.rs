//! The usage snapshot's adapters: Cost Explorer through the customer's role (us-east-1, where
//! Cost Explorer answers), and the stack's snapshot bucket (S3, SSE-KMS, presigned downloads)
//! with the function's own role.

use std::collections::BTreeMap;
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_costexplorer::operation::get_cost_and_usage::GetCostAndUsageError;
use aws_sdk_costexplorer::operation::list_cost_allocation_tags::ListCostAllocationTagsError;
use aws_sdk_costexplorer::types::{CostAllocationTagStatus, DateInterval, GroupDefinition, GroupDefinitionType};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use chrono::{Duration, NaiveDate};
use migration::ports::CustomerSession;
use migration::usage::{
    Amount, CostAllocationTag, Granularity, METRICS, SnapshotStore, UsageError, UsageHistory, UsagePage, UsageQuery, UsageRow,
};
use tracing::instrument;

use crate::clients::{ClientHooks, Signer, session_config};
use crate::errors::{error_message, is_access_denied_code, is_throttling_code, is_transient};

/// What a Cost Explorer failure means for the snapshot. `DataUnavailableException` is Cost
/// Explorer never enabled (or no data yet); `LimitExceededException` its rate limit.
pub fn classify_usage_error(code: Option<&str>, message: String, transient: bool) -> UsageError {
    match code {
        Some(c) if is_access_denied_code(c) => UsageError::AccessDenied(message),
        Some("DataUnavailableException") => UsageError::NotEnabled(message),
        Some("LimitExceededException") => UsageError::Throttled(message),
        Some(c) if is_throttling_code(c) => UsageError::Throttled(message),
        _ if transient => UsageError::Throttled(message),
        _ => UsageError::Other(message),
    }
}

fn usage_error<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> UsageError {
    classify_usage_error(err.code(), error_message(err), is_transient(err))
}

/// The AWS adapter of [`UsageHistory`]: a Cost Explorer client per customer session.
#[derive(Clone, Debug)]
pub struct AwsUsageHistory {
    base: SdkConfig,
    hooks: ClientHooks,
}

impl AwsUsageHistory {
    pub fn with_hooks(base: SdkConfig, hooks: ClientHooks) -> Self {
        Self { base, hooks }
    }

    fn client(&self, session: &CustomerSession) -> aws_sdk_costexplorer::Client {
        self.hooks.costexplorer(&session_config(&self.base, session), Signer::CustomerRole)
    }

    /// One page of a query, with a client already built (tests).
    pub async fn page(client: &aws_sdk_costexplorer::Client, query: &UsageQuery, page: Option<&str>) -> Result<UsagePage, UsageError> {
        let granularity = match query.granularity {
            Granularity::Monthly => aws_sdk_costexplorer::types::Granularity::Monthly,
            Granularity::Daily => aws_sdk_costexplorer::types::Granularity::Daily,
        };
        let period = DateInterval::builder().start(query.start.to_string()).end(query.end.to_string()).build().expect("both set");
        let group = GroupDefinition::builder().r#type(GroupDefinitionType::Dimension).key(query.group_by.as_str()).build();
        let out = client
            .get_cost_and_usage()
            .time_period(period)
            .granularity(granularity)
            .set_metrics(Some(METRICS.iter().map(|m| (*m).to_owned()).collect()))
            .group_by(group)
            .set_next_page_token(page.map(str::to_owned))
            .send()
            .await
            .map_err(|e: SdkError<GetCostAndUsageError, HttpResponse>| usage_error(&e))?;
        let mut rows = Vec::new();
        for result in out.results_by_time() {
            let period = result.time_period().ok_or_else(|| UsageError::Other("a result without its TimePeriod".into()))?;
            let date = |s: &str| {
                NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .map_err(|_| UsageError::Other(format!("a TimePeriod date {s:?} is not YYYY-MM-DD")))
            };
            let (start, end) = (date(period.start())?, date(period.end())?);
            for group in result.groups() {
                let metrics: BTreeMap<String, Amount> = group
                    .metrics()
                    .into_iter()
                    .flatten()
                    .map(|(name, v)| {
                        (
                            name.clone(),
                            Amount { amount: v.amount().unwrap_or_default().to_owned(), unit: v.unit().unwrap_or_default().to_owned() },
                        )
                    })
                    .collect();
                rows.push(UsageRow {
                    period_start: start,
                    period_end: end,
                    group: group.keys().join(" / "),
                    metrics,
                    estimated: result.estimated(),
                });
            }
        }
        Ok(UsagePage { rows, next_page_token: out.next_page_token().map(str::to_owned) })
    }
}

#[async_trait]
impl UsageHistory for AwsUsageHistory {
    #[instrument(skip(self, session))]
    async fn cost_and_usage(&self, session: &CustomerSession, query: &UsageQuery, page: Option<&str>) -> Result<UsagePage, UsageError> {
        Self::page(&self.client(session), query, page).await
    }

    #[instrument(skip(self, session))]
    async fn active_cost_allocation_tags(
        &self,
        session: &CustomerSession,
        page: Option<&str>,
    ) -> Result<(Vec<CostAllocationTag>, Option<String>), UsageError> {
        Self::tags(&self.client(session), page).await
    }
}

impl AwsUsageHistory {
    /// One page of the active cost allocation tags, with a client already built (tests).
    pub async fn tags(
        client: &aws_sdk_costexplorer::Client,
        page: Option<&str>,
    ) -> Result<(Vec<CostAllocationTag>, Option<String>), UsageError> {
        let out = client
            .list_cost_allocation_tags()
            .status(CostAllocationTagStatus::Active)
            .set_next_token(page.map(str::to_owned))
            .send()
            .await
            .map_err(|e: SdkError<ListCostAllocationTagsError, HttpResponse>| usage_error(&e))?;
        let tags = out
            .cost_allocation_tags()
            .iter()
            .map(|t| CostAllocationTag { key: t.tag_key().to_owned(), tag_type: t.r#type().as_str().to_owned() })
            .collect();
        Ok((tags, out.next_token().map(str::to_owned)))
    }
}

/// The AWS adapter of [`SnapshotStore`]: the stack's bucket, encrypted with its KMS key.
#[derive(Clone, Debug)]
pub struct S3Snapshots {
    client: aws_sdk_s3::Client,
    bucket: String,
    kms_key: Option<String>,
}

impl S3Snapshots {
    /// `kms_key`: the key objects are encrypted with (SSE-KMS); `None` leaves the bucket's
    /// default encryption to apply (the template sets the same key as the default).
    pub fn new(client: aws_sdk_s3::Client, bucket: &str, kms_key: Option<String>) -> Self {
        Self { client, bucket: bucket.to_owned(), kms_key }
    }
}

#[async_trait]
impl SnapshotStore for S3Snapshots {
    #[instrument(skip(self, body))]
    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), String> {
        let mut put = self.client.put_object().bucket(&self.bucket).key(key).content_type(content_type).body(ByteStream::from(body));
        if let Some(kms) = &self.kms_key {
            put = put.server_side_encryption(ServerSideEncryption::AwsKms).ssekms_key_id(kms);
        }
        put.send().await.map(|_| ()).map_err(|e| error_message(&e))
    }

    #[instrument(skip(self))]
    async fn download_link(&self, key: &str, expires_in: Duration) -> Result<String, String> {
        let seconds = u64::try_from(expires_in.num_seconds()).map_err(|_| "a negative expiry".to_owned())?;
        let config = PresigningConfig::expires_in(StdDuration::from_secs(seconds)).map_err(|e| e.to_string())?;
        let request = self.client.get_object().bucket(&self.bucket).key(key).presigned(config).await.map_err(|e| error_message(&e))?;
        Ok(request.uri().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_explorer_s_refusals_are_named() {
        let m = || "m".to_owned();
        assert_eq!(classify_usage_error(Some("AccessDeniedException"), m(), false), UsageError::AccessDenied(m()));
        assert_eq!(classify_usage_error(Some("DataUnavailableException"), m(), false), UsageError::NotEnabled(m()));
        assert_eq!(classify_usage_error(Some("LimitExceededException"), m(), false), UsageError::Throttled(m()));
        assert_eq!(classify_usage_error(Some("ThrottlingException"), m(), true), UsageError::Throttled(m()));
        assert_eq!(classify_usage_error(None, m(), true), UsageError::Throttled(m()));
        for code in ["BillExpirationException", "RequestChangedException", "InvalidNextTokenException", "ValidationException"] {
            assert_eq!(classify_usage_error(Some(code), m(), false), UsageError::Other(m()), "{code}");
        }
    }
}
