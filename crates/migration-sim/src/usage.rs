//! Cost Explorer and the snapshot bucket, simulated: every account has a cost history (a few
//! services in two regions, every period of a query), answered in pages as Cost Explorer
//! pages them, and an account can be made to refuse as AWS refuses (`AccessDeniedException`
//! for a role without the Cost Explorer reads, `DataUnavailableException` where Cost Explorer
//! was never enabled, `LimitExceededException`).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{Duration, Months, NaiveDate};

use migration::ids::AwsAccountId;
use migration::ports::CustomerSession;
use migration::usage::{
    Amount, CostAllocationTag, Granularity, METRICS, SnapshotStore, UsageError, UsageHistory, UsagePage, UsageQuery, UsageRow,
};

/// How a simulated account's Cost Explorer answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CostExplorer {
    /// A history in every period asked.
    Enabled,
    /// `AccessDeniedException`: the role lacks the Cost Explorer reads.
    Denied,
    /// `DataUnavailableException`: never enabled.
    NotEnabled,
    /// `LimitExceededException` on every request.
    Throttled,
}

const SERVICES: [&str; 3] = ["Amazon Elastic Compute Cloud - Compute", "Amazon Simple Storage Service", "AWS Key Management Service"];
const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];

#[derive(Default)]
struct State {
    accounts: HashMap<AwsAccountId, CostExplorer>,
    /// Linked accounts of a management account's organization.
    members: HashMap<AwsAccountId, Vec<String>>,
    requests: u32,
}

impl CostExplorer {
    /// What Cost Explorer answers every request of an account in this mode with, if it
    /// refuses them.
    pub fn refusal(self) -> Option<UsageError> {
        match self {
            CostExplorer::Enabled => None,
            CostExplorer::Denied => {
                Some(UsageError::AccessDenied("AccessDeniedException: not authorized to perform ce:GetCostAndUsage (simulated)".into()))
            }
            CostExplorer::NotEnabled => Some(UsageError::NotEnabled("DataUnavailableException: Data is not available (simulated)".into())),
            CostExplorer::Throttled => Some(UsageError::Throttled("LimitExceededException: Rate exceeded (simulated)".into())),
        }
    }
}

/// The simulated Cost Explorer. Rows per page: `page_size` (Cost Explorer's own is not
/// documented; the paging is what matters).
#[derive(Clone)]
pub struct SimUsage {
    state: Arc<Mutex<State>>,
    page_size: usize,
}

impl Default for SimUsage {
    fn default() -> Self {
        Self { state: Arc::default(), page_size: 50 }
    }
}

impl SimUsage {
    pub fn with_page_size(page_size: usize) -> Self {
        Self { page_size: page_size.max(1), ..Self::default() }
    }

    /// How `account`'s Cost Explorer answers (default: [`CostExplorer::Enabled`]).
    pub fn set(&self, account: &AwsAccountId, mode: CostExplorer) {
        self.state.lock().expect("usage state").accounts.insert(account.clone(), mode);
    }

    /// `account` manages an organization with these linked accounts.
    pub fn set_members(&self, account: &AwsAccountId, members: &[&str]) {
        self.state.lock().expect("usage state").members.insert(account.clone(), members.iter().map(|m| (*m).to_owned()).collect());
    }

    /// Requests answered or refused so far.
    pub fn requests(&self) -> u32 {
        self.state.lock().expect("usage state").requests
    }

    fn enter(&self, session: &CustomerSession) -> Result<Vec<String>, UsageError> {
        let mut s = self.state.lock().expect("usage state");
        s.requests += 1;
        if let Some(refusal) = s.accounts.get(&session.account_id).copied().unwrap_or(CostExplorer::Enabled).refusal() {
            return Err(refusal);
        }
        let own = session.account_id.to_string();
        Ok(s.members.get(&session.account_id).cloned().unwrap_or_else(|| vec![own]))
    }
}

fn periods(query: &UsageQuery) -> Vec<(NaiveDate, NaiveDate)> {
    let mut out = Vec::new();
    let mut start = query.start;
    while start < query.end {
        let next = match query.granularity {
            Granularity::Monthly => start + Months::new(1),
            Granularity::Daily => start + Duration::days(1),
        };
        out.push((start, next.min(query.end)));
        start = next;
    }
    out
}

#[async_trait]
impl UsageHistory for SimUsage {
    async fn cost_and_usage(&self, session: &CustomerSession, query: &UsageQuery, page: Option<&str>) -> Result<UsagePage, UsageError> {
        let accounts = self.enter(session)?;
        let groups: Vec<String> = match query.group_by {
            migration::usage::Dimension::Service => SERVICES.iter().map(|s| (*s).to_owned()).collect(),
            migration::usage::Dimension::Region => REGIONS.iter().map(|s| (*s).to_owned()).collect(),
            migration::usage::Dimension::LinkedAccount => accounts,
        };
        let mut rows = Vec::new();
        for (i, (start, end)) in periods(query).into_iter().enumerate() {
            for (j, group) in groups.iter().enumerate() {
                let cost = format!("{:.2}", 10.0 + (i * 7 + j * 3) as f64 * 1.25);
                let metrics: BTreeMap<String, Amount> = METRICS
                    .iter()
                    .map(|m| {
                        let (amount, unit) =
                            if *m == "UsageQuantity" { (format!("{}", 100 + i + j), "N/A") } else { (cost.clone(), "USD") };
                        ((*m).to_owned(), Amount { amount, unit: unit.to_owned() })
                    })
                    .collect();
                rows.push(UsageRow { period_start: start, period_end: end, group: group.clone(), metrics, estimated: false });
            }
        }
        let from: usize = match page {
            None => 0,
            Some(token) => token
                .strip_prefix("sim-page-")
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| UsageError::Other("InvalidNextTokenException: the token is not one this API gave (simulated)".into()))?,
        };
        let to = (from + self.page_size).min(rows.len());
        let next_page_token = (to < rows.len()).then(|| format!("sim-page-{to}"));
        Ok(UsagePage { rows: rows.get(from..to).map(<[UsageRow]>::to_vec).unwrap_or_default(), next_page_token })
    }

    async fn active_cost_allocation_tags(
        &self,
        session: &CustomerSession,
        _page: Option<&str>,
    ) -> Result<(Vec<CostAllocationTag>, Option<String>), UsageError> {
        self.enter(session)?;
        Ok((
            vec![
                CostAllocationTag { key: "CostCenter".into(), tag_type: "UserDefined".into() },
                CostAllocationTag { key: "aws:createdBy".into(), tag_type: "AWSGenerated".into() },
            ],
            None,
        ))
    }
}

/// A file's bytes and its content type, as a download gives them.
pub type Download = (Vec<u8>, String);

/// How the memory bucket's links begin.
pub const LINK_SCHEME: &str = "local-snapshot://";

/// The snapshot bucket in memory: objects by key, links as `<base><key>?expires-in=`, the
/// base [`LINK_SCHEME`] unless [`MemorySnapshots::serve_links_at`] set one.
#[derive(Clone, Default)]
pub struct MemorySnapshots {
    objects: Arc<Mutex<BTreeMap<String, Download>>>,
    failing: Arc<Mutex<bool>>,
    link_base: Arc<Mutex<Option<String>>>,
}

impl MemorySnapshots {
    /// Links from now on begin with `base` (`cam-local serve`: its download route, whose
    /// address is known once it listens).
    pub fn serve_links_at(&self, base: &str) {
        *self.link_base.lock().expect("snapshots") = Some(base.to_owned());
    }

    fn base(&self) -> String {
        self.link_base.lock().expect("snapshots").clone().unwrap_or_else(|| LINK_SCHEME.to_owned())
    }

    /// Every `put` fails from now on (or works again).
    pub fn set_failing(&self, failing: bool) {
        *self.failing.lock().expect("snapshots") = failing;
    }

    /// An object and its content type.
    pub fn get(&self, key: &str) -> Option<Download> {
        self.objects.lock().expect("snapshots").get(key).cloned()
    }

    /// What following `link` downloads: the object and its content type.
    pub fn follow(&self, link: &str) -> Option<Download> {
        let key = link.strip_prefix(&self.base())?.split('?').next()?;
        self.get(key)
    }

    pub fn keys(&self) -> Vec<String> {
        self.objects.lock().expect("snapshots").keys().cloned().collect()
    }
}

#[async_trait]
impl SnapshotStore for MemorySnapshots {
    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), String> {
        if *self.failing.lock().expect("snapshots") {
            return Err("ServiceUnavailable: the bucket is unavailable (simulated)".into());
        }
        self.objects.lock().expect("snapshots").insert(key.to_owned(), (body, content_type.to_owned()));
        Ok(())
    }

    /// Like a presigned URL, made without looking at the object: a link to a missing key
    /// fails when it is followed, not when it is made.
    async fn download_link(&self, key: &str, expires_in: Duration) -> Result<String, String> {
        Ok(format!("{}{key}?expires-in={}", self.base(), expires_in.num_seconds()))
    }
}
