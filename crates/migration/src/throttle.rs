//! Pacing calls to AWS Organizations.
//!
//! Organizations is a global service whose request quota belongs to the management
//! account: the hardening scan, the invite step, the handshake watcher and operators in the
//! console all draw from it, and a throttled call surfaces as `TooManyRequestsException`.
//! The scan is the only bulk caller (four calls per Full Hardening job, up to a hundred jobs
//! a run), so it is the one that is paced; the steps make a handful of calls each and
//! rely on the SDK's retries.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::error::OrgError;
use crate::ids::{AwsAccountId, HandshakeId, MigrationId};
use crate::ports::{Membership, Organizations};
use crate::record::Handshake;

/// The default spacing of the scan's Organizations calls: one call a second.
///
/// AWS does not publish per-operation rates for Organizations; about one request per second
/// per account is the rate commonly cited for most of its APIs. The scan
/// is not in a hurry. It runs every 15 minutes, and a job waits for the next run anyway.
/// Pacing it at that rate leaves the short bursts above it to the steps and the console.
/// It costs about four seconds per Full Hardening job. That is within the 20 seconds
/// the scan keeps in reserve before its deadline, so the job it is working on when time
/// runs out still finishes, and the remaining jobs go to the next run.
pub const DEFAULT_MIN_INTERVAL: Duration = Duration::from_secs(1);

/// An [`Organizations`] port that starts calls at least `min_interval` apart, whoever
/// makes them (concurrent callers queue). The first call, and any call after a long enough
/// pause, goes through at once. Results and errors of the inner port pass through
/// unchanged. Only call starts are spaced: retries inside the AWS SDK are its own.
pub struct RateLimitedOrganizations<O: ?Sized> {
    inner: Arc<O>,
    min_interval: Duration,
    /// When the previous call was let through.
    last_call: Mutex<Option<Instant>>,
}

impl<O: Organizations + ?Sized> RateLimitedOrganizations<O> {
    pub fn new(inner: Arc<O>, min_interval: Duration) -> Self {
        Self { inner, min_interval, last_call: Mutex::new(None) }
    }

    /// Paced at [`DEFAULT_MIN_INTERVAL`].
    pub fn with_default_interval(inner: Arc<O>) -> Self {
        Self::new(inner, DEFAULT_MIN_INTERVAL)
    }

    pub fn min_interval(&self) -> Duration {
        self.min_interval
    }

    /// Waits for this call's turn. The lock is held while sleeping, so callers are let
    /// through one at a time, in order.
    async fn pace(&self) {
        let mut last = self.last_call.lock().await;
        if let Some(previous) = *last {
            tokio::time::sleep_until(previous + self.min_interval).await;
        }
        *last = Some(Instant::now());
    }
}

#[async_trait]
impl<O: Organizations + ?Sized> Organizations for RateLimitedOrganizations<O> {
    async fn invite_account(&self, account: &AwsAccountId, migration: MigrationId) -> Result<Handshake, OrgError> {
        self.pace().await;
        self.inner.invite_account(account, migration).await
    }

    async fn describe_handshake(&self, id: &HandshakeId, account: &AwsAccountId) -> Result<Handshake, OrgError> {
        self.pace().await;
        self.inner.describe_handshake(id, account).await
    }

    async fn cancel_handshake(&self, id: &HandshakeId, account: &AwsAccountId) -> Result<Handshake, OrgError> {
        self.pace().await;
        self.inner.cancel_handshake(id, account).await
    }

    async fn membership(&self, account: &AwsAccountId) -> Result<Option<Membership>, OrgError> {
        self.pace().await;
        self.inner.membership(account).await
    }

    async fn parent_of(&self, account: &AwsAccountId) -> Result<String, OrgError> {
        self.pace().await;
        self.inner.parent_of(account).await
    }

    async fn move_account(&self, account: &AwsAccountId, from: &str, to: &str) -> Result<(), OrgError> {
        self.pace().await;
        self.inner.move_account(account, from, to).await
    }

    async fn scps_of(&self, target: &str) -> Result<Vec<String>, OrgError> {
        self.pace().await;
        self.inner.scps_of(target).await
    }

    async fn attach_policy(&self, policy_id: &str, target: &str) -> Result<(), OrgError> {
        self.pace().await;
        self.inner.attach_policy(policy_id, target).await
    }

    async fn tag_account(&self, account: &AwsAccountId, tags: &[(String, String)]) -> Result<(), OrgError> {
        self.pace().await;
        self.inner.tag_account(account, tags).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex as StdMutex;

    use chrono::{DateTime, Utc};

    use super::*;

    /// Records when each call arrived (tokio time). `parent_of`, `cancel_handshake` and
    /// `tag_account` fail, each with a different error; the other calls succeed.
    #[derive(Default)]
    struct Recorder {
        calls: StdMutex<Vec<(&'static str, Instant)>>,
    }

    impl Recorder {
        fn record(&self, name: &'static str) {
            self.calls.lock().unwrap().push((name, Instant::now()));
        }

        fn calls(&self) -> Vec<(&'static str, Instant)> {
            self.calls.lock().unwrap().clone()
        }
    }

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-02T09:00:00Z").unwrap().with_timezone(&Utc)
    }

    fn account() -> AwsAccountId {
        "000123456789".parse().unwrap()
    }

    fn member() -> Membership {
        Membership { joined_at: at(), state: crate::ports::AccountState::Active, parent: None }
    }

    fn handshake() -> Handshake {
        Handshake {
            id: "h-abcdefgh12".parse().unwrap(),
            account_id: account(),
            state: crate::record::HandshakeState::Open,
            requested_at: at(),
            expires_at: at(),
        }
    }

    #[async_trait]
    impl Organizations for Recorder {
        async fn invite_account(&self, _: &AwsAccountId, _: MigrationId) -> Result<Handshake, OrgError> {
            self.record("invite_account");
            Ok(handshake())
        }
        async fn describe_handshake(&self, _: &HandshakeId, _: &AwsAccountId) -> Result<Handshake, OrgError> {
            self.record("describe_handshake");
            Ok(handshake())
        }
        async fn cancel_handshake(&self, _: &HandshakeId, _: &AwsAccountId) -> Result<Handshake, OrgError> {
            self.record("cancel_handshake");
            Err(OrgError::HandshakeNotFound)
        }
        async fn membership(&self, _: &AwsAccountId) -> Result<Option<Membership>, OrgError> {
            self.record("membership");
            Ok(Some(member()))
        }
        async fn parent_of(&self, _: &AwsAccountId) -> Result<String, OrgError> {
            self.record("parent_of");
            Err(OrgError::Retryable { code: "TooManyRequestsException".into(), message: "slow down".into() })
        }
        async fn move_account(&self, _: &AwsAccountId, _: &str, _: &str) -> Result<(), OrgError> {
            self.record("move_account");
            Ok(())
        }
        async fn scps_of(&self, _: &str) -> Result<Vec<String>, OrgError> {
            self.record("scps_of");
            Ok(vec!["p-FullAWSAccess".into()])
        }
        async fn attach_policy(&self, _: &str, _: &str) -> Result<(), OrgError> {
            self.record("attach_policy");
            Ok(())
        }
        async fn tag_account(&self, _: &AwsAccountId, _: &[(String, String)]) -> Result<(), OrgError> {
            self.record("tag_account");
            Err(OrgError::AccessDenied("organizations:TagResource".into()))
        }
    }

    fn limited(interval: Duration) -> (Arc<Recorder>, RateLimitedOrganizations<Recorder>) {
        let inner = Arc::new(Recorder::default());
        (inner.clone(), RateLimitedOrganizations::new(inner, interval))
    }

    fn gaps(calls: &[(&'static str, Instant)]) -> Vec<Duration> {
        calls.windows(2).map(|w| w[1].1 - w[0].1).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn spaces_consecutive_calls_by_the_interval() {
        let (inner, orgs) = limited(Duration::from_millis(250));
        let begin = Instant::now();

        orgs.membership(&account()).await.unwrap();
        orgs.attach_policy("p-1", "ou-ab12-onboard1").await.unwrap();
        orgs.move_account(&account(), "r-1", "ou-1").await.unwrap();
        orgs.invite_account(&account(), MigrationId::new_at(at())).await.unwrap();

        let calls = inner.calls();
        assert_eq!(calls.len(), 4);
        assert_eq!(calls[0].1, begin, "the first call does not wait");
        assert_eq!(gaps(&calls), vec![Duration::from_millis(250); 3]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_after_a_long_enough_pause_goes_through_at_once() {
        let (inner, orgs) = limited(Duration::from_secs(1));
        orgs.membership(&account()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let before = Instant::now();
        orgs.membership(&account()).await.unwrap();
        assert_eq!(inner.calls()[1].1, before, "no wait once the interval has passed");

        // Part of the interval gone: only the rest is waited.
        tokio::time::sleep(Duration::from_millis(400)).await;
        orgs.membership(&account()).await.unwrap();
        assert_eq!(gaps(&inner.calls())[1], Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_queue_and_are_spaced_too() {
        let (inner, orgs) = limited(Duration::from_millis(500));
        let a = account();
        let (r1, r2, r3) =
            tokio::join!(orgs.membership(&a), orgs.attach_policy("p-1", "ou-ab12-onboard1"), orgs.move_account(&a, "r", "ou"));
        assert!(r1.is_ok() && r2.is_ok() && r3.is_ok());
        let calls = inner.calls();
        assert_eq!(calls.len(), 3);
        assert!(gaps(&calls).iter().all(|g| *g >= Duration::from_millis(500)), "{:?}", gaps(&calls));
    }

    #[tokio::test(start_paused = true)]
    async fn passes_results_and_errors_through_unchanged() {
        let (inner, orgs) = limited(Duration::from_millis(250));
        let a = account();
        assert_eq!(orgs.membership(&a).await, Ok(Some(member())));
        assert_eq!(orgs.describe_handshake(&handshake().id, &a).await, Ok(handshake()));
        assert_eq!(
            orgs.parent_of(&a).await,
            Err(OrgError::Retryable { code: "TooManyRequestsException".into(), message: "slow down".into() })
        );
        assert_eq!(orgs.cancel_handshake(&handshake().id, &a).await, Err(OrgError::HandshakeNotFound));
        assert_eq!(orgs.tag_account(&a, &[]).await, Err(OrgError::AccessDenied("organizations:TagResource".into())));

        // A failed call still counts: the next one is spaced from it.
        let names: Vec<_> = inner.calls().iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["membership", "describe_handshake", "parent_of", "cancel_handshake", "tag_account"]);
        assert_eq!(gaps(&inner.calls()), vec![Duration::from_millis(250); 4]);
    }

    #[tokio::test(start_paused = true)]
    async fn the_default_paces_at_one_call_a_second() {
        let inner = Arc::new(Recorder::default());
        let orgs = RateLimitedOrganizations::with_default_interval(inner.clone());
        assert_eq!(orgs.min_interval(), Duration::from_secs(1));
        orgs.membership(&account()).await.unwrap();
        orgs.membership(&account()).await.unwrap();
        assert_eq!(gaps(&inner.calls()), vec![Duration::from_secs(1)]);
    }

    #[tokio::test(start_paused = true)]
    async fn wraps_a_shared_port_object() {
        let inner: Arc<dyn Organizations> = Arc::new(Recorder::default());
        let orgs: Arc<dyn Organizations> = Arc::new(RateLimitedOrganizations::new(inner, Duration::from_millis(100)));
        let begin = Instant::now();
        orgs.membership(&account()).await.unwrap();
        orgs.membership(&account()).await.unwrap();
        assert_eq!(Instant::now() - begin, Duration::from_millis(100));
    }
}
