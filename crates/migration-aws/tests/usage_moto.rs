//! The usage snapshot's adapters on moto: the snapshot bucket passes the contract the memory
//! bucket passes (presigned links followed over HTTP on loopback), and Cost Explorer's pages
//! (results queued through moto's API, as moto documents) are read through a customer
//! session. What moto does not implement (`ListCostAllocationTags`, Cost Explorer's errors)
//! is in `usage_mocks`.

mod support;

use std::collections::BTreeMap;

use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use chrono::{DateTime, NaiveDate, Utc};
use migration::ports::CustomerSession;
use migration::usage::{Dimension, Granularity, UsageHistory, UsageQuery};
use migration_aws::{AwsUsageHistory, ClientHooks, S3Snapshots};
use migration_sim::contract::SnapshotFixture;
use serde_json::json;
use support::{moto_config, moto_endpoint, unique};

fn follow(link: &str) -> Option<migration_sim::usage::Download> {
    match ureq::get(link).call() {
        Ok(response) => {
            let content_type = response.header("content-type").unwrap_or_default().to_owned();
            let mut body = Vec::new();
            std::io::Read::read_to_end(&mut response.into_reader(), &mut body).expect("the body reads");
            Some((body, content_type))
        }
        Err(ureq::Error::Status(404 | 403, _)) => None,
        Err(e) => panic!("{link}: {e}"),
    }
}

async fn s3_fixture() -> Option<SnapshotFixture> {
    let config = moto_config().await?;
    // A local endpoint has no bucket subdomains: path-style addresses.
    let client = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&config).force_path_style(true).build());
    let bucket = unique("snapshots");
    client.create_bucket().bucket(&bucket).send().await.expect("bucket created in moto");
    client
        .put_bucket_versioning()
        .bucket(&bucket)
        .versioning_configuration(VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build())
        .send()
        .await
        .expect("versioned");
    Some(SnapshotFixture {
        store: std::sync::Arc::new(S3Snapshots::new(client, &bucket, None)),
        follow: Box::new(follow),
        prefix: format!("migrations/{}/usage/", unique("m")),
    })
}

mod snapshot_contract {
    migration_sim::snapshot_contract_tests!(crate::s3_fixture);
}

fn session() -> CustomerSession {
    CustomerSession {
        account_id: "000123456789".parse().unwrap(),
        access_key_id: "ASIAMOTO".into(),
        secret_access_key: "moto-secret".into(),
        session_token: "moto-session".into(),
        expires_at: DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z").unwrap().with_timezone(&Utc),
    }
}

fn group(service: &str, cost: &str) -> serde_json::Value {
    let metric = |amount: &str, unit: &str| json!({ "Amount": amount, "Unit": unit });
    json!({
        "Keys": [service],
        "Metrics": {
            "UnblendedCost": metric(cost, "USD"),
            "AmortizedCost": metric(cost, "USD"),
            "NetUnblendedCost": metric(cost, "USD"),
            "UsageQuantity": metric("42", "N/A"),
        }
    })
}

#[tokio::test]
async fn cost_explorer_pages_are_read_through_the_customer_session() {
    let Some(config) = moto_config().await else { return };
    let endpoint = moto_endpoint().unwrap();
    // Two pages of one query: moto answers each distinct request with the next queued result.
    let first = json!({
        "ResultsByTime": [{
            "TimePeriod": { "Start": "2026-01-01", "End": "2026-02-01" },
            "Total": {},
            "Groups": [group("Amazon Simple Storage Service", "12.50"), group("AWS Key Management Service", "1.00")],
            "Estimated": false
        }],
        "DimensionValueAttributes": [],
        "NextPageToken": "moto-page-2"
    });
    let second = json!({
        "ResultsByTime": [{
            "TimePeriod": { "Start": "2026-02-01", "End": "2026-03-01" },
            "Total": {},
            "Groups": [group("Amazon Simple Storage Service", "13.75")],
            "Estimated": true
        }],
        "DimensionValueAttributes": []
    });
    let queued = ureq::post(&format!("{endpoint}/moto-api/static/ce/cost-and-usage-results"))
        .send_json(json!({ "results": [first, second] }))
        .expect("moto takes the results");
    assert_eq!(queued.status(), 201);

    let history = AwsUsageHistory::with_hooks(config, ClientHooks::default());
    let query = UsageQuery {
        granularity: Granularity::Monthly,
        group_by: Dimension::Service,
        start: NaiveDate::from_ymd_opt(2025, 3, 1).unwrap(),
        // A period no other test asks, so moto's per-request memory starts clean.
        end: NaiveDate::from_ymd_opt(2026, 3, 3).unwrap(),
    };
    let page = history.cost_and_usage(&session(), &query, None).await.expect("page 1");
    assert_eq!(page.next_page_token.as_deref(), Some("moto-page-2"));
    assert_eq!(page.rows.len(), 2);
    assert_eq!(page.rows[0].group, "Amazon Simple Storage Service");
    assert_eq!(page.rows[0].metrics["UnblendedCost"].amount, "12.50");
    assert_eq!(page.rows[0].metrics["UsageQuantity"].unit, "N/A");
    let metrics: BTreeMap<_, _> = page.rows[1].metrics.iter().map(|(k, v)| (k.clone(), v.amount.clone())).collect();
    assert_eq!(metrics.len(), 4);
    let page = history.cost_and_usage(&session(), &query, Some("moto-page-2")).await.expect("page 2");
    assert_eq!((page.rows.len(), page.rows[0].estimated, page.next_page_token), (1, true, None));
    assert_eq!(page.rows[0].period_start.to_string(), "2026-02-01");
}
