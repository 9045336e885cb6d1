//! What moto does not implement of the usage snapshot's Cost Explorer calls, with
//! aws-smithy-mocks in AWS's wire shapes: the active cost allocation tags, and each error
//! the snapshot names (a role without the Cost Explorer reads, Cost Explorer never enabled,
//! its rate limit).

use aws_sdk_costexplorer::Client;
use aws_sdk_costexplorer::operation::list_cost_allocation_tags::ListCostAllocationTagsOutput;
use aws_sdk_costexplorer::types::{CostAllocationTag, CostAllocationTagStatus, CostAllocationTagType};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use chrono::NaiveDate;
use migration::usage::{Dimension, Granularity, UsageError, UsageQuery};
use migration_aws::AwsUsageHistory;

fn json_error(code: &str) -> Option<String> {
    Some(format!(r#"{{"__type":"{code}","Message":"{code} from the mock"}}"#))
}

fn query() -> UsageQuery {
    UsageQuery {
        granularity: Granularity::Daily,
        group_by: Dimension::Service,
        start: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        end: NaiveDate::from_ymd_opt(2026, 3, 3).unwrap(),
    }
}

#[tokio::test]
async fn each_cost_explorer_refusal_is_named() {
    for (code, expected) in [
        ("AccessDeniedException", "AccessDenied"),
        ("DataUnavailableException", "NotEnabled"),
        ("LimitExceededException", "Throttled"),
        ("BillExpirationException", "Other"),
    ] {
        let rule = mock!(Client::get_cost_and_usage).sequence().http_status(400, json_error(code)).build();
        let client = mock_client!(aws_sdk_costexplorer, RuleMode::Sequential, [&rule], |c| c
            .retry_config(aws_smithy_types::retry::RetryConfig::standard().with_max_attempts(1)));
        let err = AwsUsageHistory::page(&client, &query(), None).await.unwrap_err();
        let name = match err {
            UsageError::AccessDenied(_) => "AccessDenied",
            UsageError::NotEnabled(_) => "NotEnabled",
            UsageError::Throttled(_) => "Throttled",
            UsageError::Other(_) => "Other",
        };
        assert_eq!(name, expected, "{code}");
    }
}

#[tokio::test]
async fn the_request_asks_every_metric_grouped_by_the_dimension() {
    let rule = mock!(Client::get_cost_and_usage)
        .match_requests(|r| {
            r.metrics() == ["UnblendedCost", "AmortizedCost", "NetUnblendedCost", "UsageQuantity"]
                && r.granularity() == Some(&aws_sdk_costexplorer::types::Granularity::Daily)
                && r.group_by().first().and_then(|g| g.key()) == Some("SERVICE")
                && r.time_period().is_some_and(|p| p.start() == "2026-01-01" && p.end() == "2026-03-03")
                && r.next_page_token() == Some("t2")
        })
        .then_output(|| aws_sdk_costexplorer::operation::get_cost_and_usage::GetCostAndUsageOutput::builder().build());
    let client = mock_client!(aws_sdk_costexplorer, RuleMode::Sequential, [&rule]);
    let page = AwsUsageHistory::page(&client, &query(), Some("t2")).await.expect("asked as expected");
    assert!(page.rows.is_empty() && page.next_page_token.is_none());
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn active_cost_allocation_tags_are_read_page_by_page() {
    let tag = |key: &str, kind: CostAllocationTagType| {
        CostAllocationTag::builder().tag_key(key).r#type(kind).status(CostAllocationTagStatus::Active).build().unwrap()
    };
    let rule = mock!(Client::list_cost_allocation_tags)
        .match_requests(|r| r.status() == Some(&CostAllocationTagStatus::Active) && r.next_token() == Some("p2"))
        .then_output(move || {
            ListCostAllocationTagsOutput::builder()
                .cost_allocation_tags(tag("CostCenter", CostAllocationTagType::UserDefined))
                .cost_allocation_tags(tag("aws:createdBy", CostAllocationTagType::AwsGenerated))
                .next_token("p3")
                .build()
        });
    let client = mock_client!(aws_sdk_costexplorer, RuleMode::Sequential, [&rule]);
    let (tags, next) = AwsUsageHistory::tags(&client, Some("p2")).await.expect("listed");
    assert_eq!(next.as_deref(), Some("p3"));
    assert_eq!(
        tags.iter().map(|t| (t.key.as_str(), t.tag_type.as_str())).collect::<Vec<_>>(),
        [("CostCenter", "UserDefined"), ("aws:createdBy", "AWSGenerated")]
    );
}
