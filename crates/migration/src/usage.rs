//! The usage snapshot: the customer's cost and usage history, read through the customer's
//! role with AWS Cost Explorer before the move makes it unreadable, and saved as CSV files a
//! spreadsheet opens plus one JSON manifest.
//!
//! What is read (the [`plan`]): monthly `UnblendedCost`, `AmortizedCost`, `NetUnblendedCost`
//! and `UsageQuantity` for the 13 months Cost Explorer keeps by default (the current month
//! and the twelve before it), grouped by service and by region, and by linked account for a
//! management account's organization; daily figures of the last three months by service; and
//! the active cost allocation tags (`ListCostAllocationTags`), which the customer activates
//! again under the new payer. Multi-year data (kept up to 38 months where the customer enabled
//! it) is not asked for: a start before the default retention is refused by Cost Explorer, and
//! guessing costs requests.
//!
//! Cost Explorer charges per paginated request (USD 0.01 each, 2026 price list): a snapshot
//! makes at most [`MAX_REQUESTS`] and records how many it made.

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ids::MigrationId;
/// The record keeps the snapshot's state (defined with the record, which imports nothing of
/// this module).
pub use crate::record::{SnapshotDecision, SnapshotState};
use crate::session::CustomerSession;

/// The metrics of every query, in this order in every file.
pub const METRICS: [&str; 4] = ["UnblendedCost", "AmortizedCost", "NetUnblendedCost", "UsageQuantity"];

/// Months of monthly figures: Cost Explorer's default retention (this month and twelve before).
pub const MONTHS: u32 = 13;

/// Months of daily figures, ending today.
pub const DAILY_MONTHS: u32 = 3;

/// What Cost Explorer charges per paginated API request (2026 price list).
pub const USD_PER_REQUEST: f64 = 0.01;

/// The most Cost Explorer requests one snapshot makes (pages of every query and of the tag
/// listing together): USD 0.50 at most per migration.
pub const MAX_REQUESTS: u32 = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Granularity {
    Monthly,
    Daily,
}

/// A `GroupBy` of type `DIMENSION`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Dimension {
    Service,
    Region,
    LinkedAccount,
}

impl Dimension {
    /// Cost Explorer's key.
    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Service => "SERVICE",
            Dimension::Region => "REGION",
            Dimension::LinkedAccount => "LINKED_ACCOUNT",
        }
    }
}

/// One `GetCostAndUsage` question (all its pages).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageQuery {
    pub granularity: Granularity,
    pub group_by: Dimension,
    /// `TimePeriod.Start`, inclusive.
    pub start: NaiveDate,
    /// `TimePeriod.End`, exclusive.
    pub end: NaiveDate,
}

impl UsageQuery {
    /// The file the query's rows go to.
    pub fn file_name(&self) -> String {
        let granularity = match self.granularity {
            Granularity::Monthly => "monthly",
            Granularity::Daily => "daily",
        };
        format!("{granularity}-by-{}.csv", self.group_by.as_str().to_lowercase().replace('_', "-"))
    }
}

/// One metric's value as Cost Explorer gives it: a decimal string and its unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Amount {
    pub amount: String,
    pub unit: String,
}

/// One group of one period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageRow {
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    /// The group's key (a service name, a region, an account id).
    pub group: String,
    /// By metric name; a metric Cost Explorer left out is absent.
    pub metrics: BTreeMap<String, Amount>,
    /// Cost Explorer's `Estimated` (the period is not final yet).
    pub estimated: bool,
}

/// One page of a query.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UsagePage {
    pub rows: Vec<UsageRow>,
    pub next_page_token: Option<String>,
}

/// An active cost allocation tag.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CostAllocationTag {
    pub key: String,
    /// `AWSGenerated` or `UserDefined`.
    pub tag_type: String,
}

/// Why Cost Explorer could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsageError {
    /// `AccessDeniedException`: the role lacks `ce:GetCostAndUsage` or
    /// `ce:ListCostAllocationTags`.
    #[error("the customer role may not read Cost Explorer: {0}")]
    AccessDenied(String),
    /// `DataUnavailableException`: Cost Explorer was never enabled for the account (or has
    /// no data yet).
    #[error("Cost Explorer has no data for the account: {0}")]
    NotEnabled(String),
    /// `LimitExceededException` or throttling, after the SDK's retries.
    #[error("Cost Explorer is throttling: {0}")]
    Throttled(String),
    /// `RequestChangedException`, `BillExpirationException`, `InvalidNextTokenException`,
    /// `ValidationException`, or anything else.
    #[error("Cost Explorer refused the request: {0}")]
    Other(String),
}

/// Cost Explorer through the customer's role.
#[async_trait]
pub trait UsageHistory: Send + Sync {
    async fn cost_and_usage(&self, session: &CustomerSession, query: &UsageQuery, page: Option<&str>) -> Result<UsagePage, UsageError>;
    /// One page of the active cost allocation tags, and the next page's token.
    async fn active_cost_allocation_tags(
        &self,
        session: &CustomerSession,
        page: Option<&str>,
    ) -> Result<(Vec<CostAllocationTag>, Option<String>), UsageError>;
}

/// Where snapshots are kept (the stack's bucket), one prefix per migration.
#[async_trait]
pub trait SnapshotStore: Send + Sync {
    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), String>;
    /// A link that downloads `key` until `expires_in` has passed.
    async fn download_link(&self, key: &str, expires_in: Duration) -> Result<String, String>;
}

/// What a snapshot asks, at `now`, for a management account's organization or one account.
pub fn plan(now: DateTime<Utc>, organization: bool) -> Vec<UsageQuery> {
    let today = now.date_naive();
    let this_month = today.with_day(1).expect("the first exists");
    let first = this_month - Months::new(MONTHS - 1);
    // Cost Explorer's End is exclusive: tomorrow covers today.
    let end = today + Duration::days(1);
    let mut dims = vec![Dimension::Service, Dimension::Region];
    if organization {
        dims.push(Dimension::LinkedAccount);
    }
    let mut queries: Vec<UsageQuery> =
        dims.into_iter().map(|group_by| UsageQuery { granularity: Granularity::Monthly, group_by, start: first, end }).collect();
    let daily_start = this_month - Months::new(DAILY_MONTHS - 1);
    queries.push(UsageQuery { granularity: Granularity::Daily, group_by: Dimension::Service, start: daily_start, end });
    queries
}

/// One file of a snapshot, as the manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotFile {
    pub name: String,
    pub granularity: Granularity,
    pub group_by: Dimension,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub rows: usize,
    /// Hex SHA-256 of the file's bytes.
    pub sha256: String,
}

/// The snapshot's `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotManifest {
    pub migration_id: MigrationId,
    pub aws_account_id: String,
    pub taken_at: DateTime<Utc>,
    pub metrics: Vec<String>,
    pub files: Vec<SnapshotFile>,
    pub cost_allocation_tags: Vec<CostAllocationTag>,
    /// Cost Explorer requests made (each billed).
    pub requests: u32,
}

impl SnapshotManifest {
    pub fn rows(&self) -> usize {
        self.files.iter().map(|f| f.rows).sum()
    }

    /// Monthly periods covered (of the first monthly file).
    pub fn months(&self) -> u32 {
        self.files.iter().find(|f| f.granularity == Granularity::Monthly).map_or(0, |f| months_between(f.period_start, f.period_end))
    }
}

fn months_between(start: NaiveDate, end_exclusive: NaiveDate) -> u32 {
    let last = end_exclusive - Duration::days(1);
    let n = (last.year() - start.year()) * 12 + last.month() as i32 - start.month() as i32 + 1;
    u32::try_from(n).unwrap_or(0)
}

/// Why a snapshot was not taken, with the requests it made before it stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotFailure {
    pub error: SnapshotError,
    pub requests: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    #[error(transparent)]
    Usage(UsageError),
    /// The plan needs more pages than [`MAX_REQUESTS`] allows.
    #[error("the usage history needs more than {MAX_REQUESTS} Cost Explorer requests")]
    TooManyRequests,
    #[error("the snapshot could not be stored: {0}")]
    Store(String),
}

impl SnapshotError {
    /// A stable code, for the status API.
    pub fn code(&self) -> &'static str {
        match self {
            SnapshotError::Usage(UsageError::AccessDenied(_)) => "COST_EXPLORER_ACCESS_DENIED",
            SnapshotError::Usage(UsageError::NotEnabled(_)) => "COST_EXPLORER_NOT_ENABLED",
            SnapshotError::Usage(UsageError::Throttled(_)) => "COST_EXPLORER_THROTTLED",
            SnapshotError::Usage(UsageError::Other(_)) => "COST_EXPLORER_ERROR",
            SnapshotError::TooManyRequests => "SNAPSHOT_TOO_LARGE",
            SnapshotError::Store(_) => "SNAPSHOT_NOT_STORED",
        }
    }

    /// What the customer (or the operators) change for the next attempt.
    pub fn remediation(&self) -> &'static str {
        match self {
            SnapshotError::Usage(UsageError::AccessDenied(_)) => {
                "The customer role may not read Cost Explorer: update the role's stack to the current template (it grants ce:GetCostAndUsage and ce:ListCostAllocationTags), then retry."
            }
            SnapshotError::Usage(UsageError::NotEnabled(_)) => {
                "Cost Explorer was never enabled for this account, so there is no history to save: enable it in the Billing console (data appears within 24 hours), or go on without a snapshot."
            }
            SnapshotError::Usage(UsageError::Throttled(_)) => {
                "Cost Explorer is throttling the account's requests: the snapshot is retried later."
            }
            SnapshotError::Usage(UsageError::Other(_)) => {
                "Cost Explorer refused the request: operators read the cause in the migration's history."
            }
            SnapshotError::TooManyRequests => {
                "The history is larger than one snapshot reads (its Cost Explorer requests are bounded): the customer downloads it from Cost Explorer."
            }
            SnapshotError::Store(_) => "The snapshot could not be saved: it is retried.",
        }
    }

    /// Whether trying again later can succeed without anyone changing anything.
    pub fn retryable(&self) -> bool {
        matches!(self, SnapshotError::Usage(UsageError::Throttled(_)) | SnapshotError::Store(_))
    }
}

impl fmt::Display for SnapshotFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (after {} Cost Explorer requests)", self.error, self.requests)
    }
}

impl SnapshotState {
    pub fn taken(manifest: &SnapshotManifest) -> Self {
        SnapshotState::Taken {
            taken_at: manifest.taken_at,
            months: manifest.months(),
            rows: manifest.rows(),
            files: manifest.files.iter().map(|f| f.name.clone()).chain(["manifest.json".to_owned()]).collect(),
            requests: manifest.requests,
        }
    }

    pub fn failed(failure: &SnapshotFailure, at: DateTime<Utc>, then: SnapshotDecision, waiting_since: Option<DateTime<Utc>>) -> Self {
        SnapshotState::Failed {
            at,
            code: failure.error.code().to_owned(),
            remediation: failure.error.remediation().to_owned(),
            retryable: failure.error.retryable(),
            requests: failure.requests,
            then,
            waiting_since,
        }
    }
}

/// The prefix of a migration's snapshot in the bucket.
pub fn prefix(migration: MigrationId) -> String {
    format!("migrations/{migration}/usage/")
}

/// The CSV of `rows`: a header, then one line per group and period, metrics as amount and
/// unit columns, in [`METRICS`] order.
pub fn csv(group_by: Dimension, rows: &[UsageRow]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["period_start".to_owned(), "period_end".to_owned(), group_by.as_str().to_lowercase(), "estimated".to_owned()];
    for m in METRICS {
        header.push(m.to_owned());
        header.push(format!("{m}_unit"));
    }
    w.write_record(&header).expect("writing to memory");
    for r in rows {
        let mut record = vec![r.period_start.to_string(), r.period_end.to_string(), r.group.clone(), r.estimated.to_string()];
        for m in METRICS {
            let a = r.metrics.get(m);
            record.push(a.map(|a| a.amount.clone()).unwrap_or_default());
            record.push(a.map(|a| a.unit.clone()).unwrap_or_default());
        }
        w.write_record(&record).expect("writing to memory");
    }
    w.into_inner().expect("flushing to memory")
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Takes the snapshot: every query of [`plan`] page by page, the active tags, then the files
/// and the manifest under [`prefix`]. Stops at the first error, and before a request beyond
/// [`MAX_REQUESTS`].
pub async fn take(
    history: &dyn UsageHistory,
    store: &dyn SnapshotStore,
    session: &CustomerSession,
    migration: MigrationId,
    now: DateTime<Utc>,
    organization: bool,
) -> Result<SnapshotManifest, SnapshotFailure> {
    let mut requests = 0u32;
    let fail = |error, requests| SnapshotFailure { error, requests };
    let spend = |requests: &mut u32| {
        if *requests >= MAX_REQUESTS {
            return Err(SnapshotError::TooManyRequests);
        }
        *requests += 1;
        Ok(())
    };
    let mut files = Vec::new();
    for query in plan(now, organization) {
        let mut rows = Vec::new();
        let mut page: Option<String> = None;
        loop {
            spend(&mut requests).map_err(|e| fail(e, requests))?;
            let got =
                history.cost_and_usage(session, &query, page.as_deref()).await.map_err(|e| fail(SnapshotError::Usage(e), requests))?;
            rows.extend(got.rows);
            match got.next_page_token {
                Some(next) => page = Some(next),
                None => break,
            }
        }
        rows.sort_by(|a, b| (a.period_start, &a.group).cmp(&(b.period_start, &b.group)));
        files.push((query, rows));
    }
    let mut tags = Vec::new();
    let mut page: Option<String> = None;
    loop {
        spend(&mut requests).map_err(|e| fail(e, requests))?;
        let (got, next) =
            history.active_cost_allocation_tags(session, page.as_deref()).await.map_err(|e| fail(SnapshotError::Usage(e), requests))?;
        tags.extend(got);
        match next {
            Some(next) => page = Some(next),
            None => break,
        }
    }
    tags.sort();
    let base = prefix(migration);
    let mut listed = Vec::new();
    for (query, rows) in files {
        let body = csv(query.group_by, &rows);
        let name = query.file_name();
        listed.push(SnapshotFile {
            name: name.clone(),
            granularity: query.granularity,
            group_by: query.group_by,
            period_start: query.start,
            period_end: query.end,
            rows: rows.len(),
            sha256: sha256_hex(&body),
        });
        store.put(&format!("{base}{name}"), body, "text/csv").await.map_err(|e| fail(SnapshotError::Store(e), requests))?;
    }
    let manifest = SnapshotManifest {
        migration_id: migration,
        aws_account_id: session.account_id.to_string(),
        taken_at: now,
        metrics: METRICS.iter().map(|m| (*m).to_owned()).collect(),
        files: listed,
        cost_allocation_tags: tags,
        requests,
    };
    let body = serde_json::to_vec_pretty(&manifest).expect("a manifest serializes");
    store.put(&format!("{base}manifest.json"), body, "application/json").await.map_err(|e| fail(SnapshotError::Store(e), requests))?;
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_plan_reads_thirteen_months_and_three_of_days() {
        let queries = plan(at("2026-03-02T09:00:00Z"), false);
        let names: Vec<String> = queries.iter().map(UsageQuery::file_name).collect();
        assert_eq!(names, ["monthly-by-service.csv", "monthly-by-region.csv", "daily-by-service.csv"]);
        assert_eq!(queries[0].start.to_string(), "2025-03-01");
        assert_eq!(queries[0].end.to_string(), "2026-03-03");
        assert_eq!(months_between(queries[0].start, queries[0].end), 13);
        assert_eq!(queries[2].start.to_string(), "2026-01-01");
        let org = plan(at("2026-03-02T09:00:00Z"), true);
        assert_eq!(org.len(), 4);
        assert!(org.iter().any(|q| q.group_by == Dimension::LinkedAccount));
    }

    #[test]
    fn csv_quotes_what_a_spreadsheet_would_split() {
        let mut metrics = BTreeMap::new();
        metrics.insert("UnblendedCost".to_owned(), Amount { amount: "12.5".into(), unit: "USD".into() });
        let row = UsageRow {
            period_start: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            period_end: NaiveDate::from_ymd_opt(2026, 2, 1).unwrap(),
            group: "Amazon Elastic Compute Cloud - Compute, \"EC2\"".into(),
            metrics,
            estimated: false,
        };
        let text = String::from_utf8(csv(Dimension::Service, &[row])).unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next().unwrap(),
            "period_start,period_end,service,estimated,UnblendedCost,UnblendedCost_unit,AmortizedCost,AmortizedCost_unit,NetUnblendedCost,NetUnblendedCost_unit,UsageQuantity,UsageQuantity_unit"
        );
        assert_eq!(
            lines.next().unwrap(),
            "2026-01-01,2026-02-01,\"Amazon Elastic Compute Cloud - Compute, \"\"EC2\"\"\",false,12.5,USD,,,,,,"
        );
    }

    #[test]
    fn every_failure_has_a_code_and_a_remediation() {
        let all = [
            SnapshotError::Usage(UsageError::AccessDenied("m".into())),
            SnapshotError::Usage(UsageError::NotEnabled("m".into())),
            SnapshotError::Usage(UsageError::Throttled("m".into())),
            SnapshotError::Usage(UsageError::Other("m".into())),
            SnapshotError::TooManyRequests,
            SnapshotError::Store("m".into()),
        ];
        let codes: std::collections::BTreeSet<_> = all.iter().map(SnapshotError::code).collect();
        assert_eq!(codes.len(), all.len());
        assert!(all.iter().all(|e| !e.remediation().is_empty()));
        assert_eq!(all.iter().filter(|e| e.retryable()).count(), 2);
    }
}
