//! The usage snapshot's Cost Explorer adapter, through the customer's role (us-east-1, where
//! Cost Explorer answers). The bucket it is saved to is `crate::snapshots`.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_costexplorer::operation::get_cost_and_usage::GetCostAndUsageError;
use aws_sdk_costexplorer::operation::list_cost_allocation_tags::ListCostAllocationTagsError;
use aws_sdk_costexplorer::types::{CostAllocationTagStatus, DateInterval, GroupDefinition, GroupDefinitionType};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use chrono::NaiveDate;
use migration::ports::CustomerSession;
use migration::usage::{Amount, CostAllocationTag, Granularity, METRICS, UsageError, UsageHistory, UsagePage, UsageQuery, UsageRow};
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
