//! The usage snapshot over the simulated Cost Explorer and bucket: what it saves, what it
//! costs, and each way Cost Explorer refuses.

use chrono::{DateTime, Utc};
use migration::ports::CustomerSession;
use migration::usage::{self, MAX_REQUESTS, SnapshotError, SnapshotManifest, UsageError};
use migration::{AwsAccountId, MigrationId};
use migration_sim::usage::{CostExplorer, MemorySnapshots, SimUsage};

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-02T09:00:00Z").unwrap().with_timezone(&Utc)
}

fn session() -> CustomerSession {
    CustomerSession {
        account_id: "000123456789".parse().unwrap(),
        access_key_id: "ASIASIM".into(),
        secret_access_key: "secret".into(),
        session_token: "token".into(),
        expires_at: now() + chrono::Duration::hours(1),
    }
}

fn id() -> MigrationId {
    "01JNK4Q6X1V8W5Z2Y3A4B5C6D7".parse().unwrap()
}

#[tokio::test]
async fn a_snapshot_saves_every_query_as_csv_with_a_manifest_that_checks_them() {
    let (history, bucket) = (SimUsage::with_page_size(40), MemorySnapshots::default());
    let manifest = usage::take(&history, &bucket, &session(), id(), now(), false).await.expect("taken");

    assert_eq!(manifest.months(), 13);
    // 13 months x 3 services, 13 x 2 regions, 61 days (January 1st to March 2nd) x 3 services.
    let rows: Vec<usize> = manifest.files.iter().map(|f| f.rows).collect();
    assert_eq!(rows, [39, 26, 183]);
    // Pages of 40 rows: 1 + 1 + 5, and one for the tags: every request is counted.
    assert_eq!((manifest.requests, history.requests()), (8, 8));
    assert_eq!(manifest.cost_allocation_tags.len(), 2);
    let prefix = usage::prefix(id());
    let mut keys = bucket.keys();
    keys.sort();
    assert_eq!(
        keys,
        ["daily-by-service.csv", "manifest.json", "monthly-by-region.csv", "monthly-by-service.csv"].map(|k| format!("{prefix}{k}"))
    );
    for file in &manifest.files {
        let (body, content_type) = bucket.get(&format!("{prefix}{}", file.name)).unwrap();
        assert_eq!(content_type, "text/csv");
        let digest: String = <sha2::Sha256 as sha2::Digest>::digest(&body).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(digest, file.sha256, "{}", file.name);
        assert_eq!(String::from_utf8(body).unwrap().lines().count(), file.rows + 1, "a header and one line per row");
    }
    let (stored, _) = bucket.get(&format!("{prefix}manifest.json")).unwrap();
    assert_eq!(serde_json::from_slice::<SnapshotManifest>(&stored).unwrap(), manifest);
    // Nothing of the customer's credentials is in what was saved.
    for key in bucket.keys() {
        let text = String::from_utf8(bucket.get(&key).unwrap().0).unwrap();
        assert!(!text.contains("secret") && !text.contains("ASIASIM"), "{key}");
    }
}

#[tokio::test]
async fn a_management_account_s_snapshot_has_its_linked_accounts() {
    let history = SimUsage::default();
    let account: AwsAccountId = "000123456789".parse().unwrap();
    history.set_members(&account, &["000123456789", "000222333444", "000222333445"]);
    let manifest = usage::take(&history, &MemorySnapshots::default(), &session(), id(), now(), true).await.unwrap();
    let linked = manifest.files.iter().find(|f| f.name == "monthly-by-linked-account.csv").expect("by linked account");
    assert_eq!(linked.rows, 13 * 3);
}

#[tokio::test]
async fn each_refusal_of_cost_explorer_is_named_with_what_to_change() {
    let account: AwsAccountId = "000123456789".parse().unwrap();
    for (mode, code, retryable) in [
        (CostExplorer::Denied, "COST_EXPLORER_ACCESS_DENIED", false),
        (CostExplorer::NotEnabled, "COST_EXPLORER_NOT_ENABLED", false),
        (CostExplorer::Throttled, "COST_EXPLORER_THROTTLED", true),
    ] {
        let (history, bucket) = (SimUsage::default(), MemorySnapshots::default());
        history.set(&account, mode);
        let failure = usage::take(&history, &bucket, &session(), id(), now(), false).await.unwrap_err();
        assert_eq!((failure.error.code(), failure.error.retryable(), failure.requests), (code, retryable, 1), "{mode:?}");
        assert!(bucket.keys().is_empty(), "nothing is saved of a snapshot not taken");
    }
    let denied = SnapshotError::Usage(UsageError::AccessDenied(String::new()));
    assert!(denied.remediation().contains("ce:GetCostAndUsage"));
}

#[tokio::test]
async fn the_requests_are_bounded_and_a_bucket_failure_saves_no_manifest() {
    // Pages of one row: far more pages than one snapshot may read.
    let history = SimUsage::with_page_size(1);
    let failure = usage::take(&history, &MemorySnapshots::default(), &session(), id(), now(), false).await.unwrap_err();
    assert_eq!((failure.error.clone(), failure.requests, history.requests()), (SnapshotError::TooManyRequests, MAX_REQUESTS, MAX_REQUESTS));

    let bucket = MemorySnapshots::default();
    bucket.set_failing(true);
    let failure = usage::take(&SimUsage::default(), &bucket, &session(), id(), now(), false).await.unwrap_err();
    assert_eq!(failure.error.code(), "SNAPSHOT_NOT_STORED");
    assert!(bucket.get(&format!("{}manifest.json", usage::prefix(id()))).is_none());
}

mod step {
    //! The snapshot step on a validated migration of the seeded customer.
    use migration::Status;
    use migration::ports::MigrationStore;
    use migration::request::AccessLevel;
    use migration::steps;
    use migration::usage::{SnapshotDecision, SnapshotState};
    use migration_sim::fixtures::{self, Fixture};
    use migration_sim::usage::CostExplorer;

    /// The step, then the record it leaves.
    async fn snapshot(f: &Fixture, id: migration::MigrationId) -> Result<migration::Migration, migration::StepError> {
        steps::snapshot_usage(&f.ports, id).await?;
        Ok(f.store.get(id).await.unwrap().unwrap())
    }

    async fn validated() -> (Fixture, migration::MigrationId) {
        let (f, _) = Fixture::with_recorder(super::now()).await;
        let id = steps::create_migration(&f.ports, &fixtures::admin(), &fixtures::request(AccessLevel::Optimized), None)
            .await
            .unwrap()
            .record
            .id;
        steps::validate(&f.ports, id).await.unwrap();
        (f, id)
    }

    #[tokio::test]
    async fn the_snapshot_is_recorded_once_and_the_migration_goes_on() {
        let (f, id) = validated().await;
        let record = snapshot(&f, id).await.expect("taken");
        assert_eq!(record.status, Status::Validated);
        let Some(SnapshotState::Taken { months, files, requests, .. }) = &record.usage_snapshot else {
            panic!("{:?}", record.usage_snapshot)
        };
        assert_eq!((*months, files.len(), *requests), (13, 4, f.sim.usage().requests()));
        let history = f.store.history(id).await.unwrap();
        assert!(history.last().unwrap().note.starts_with("usage snapshot taken: 13 months"), "{:?}", history.last());
        // Again: nothing more is read or written.
        let requests = f.sim.usage().requests();
        steps::snapshot_usage(&f.ports, id).await.unwrap();
        assert_eq!((f.sim.usage().requests(), f.store.history(id).await.unwrap().len()), (requests, history.len()));
        assert_eq!(f.sim.snapshots().keys().len(), 4);
    }

    #[tokio::test]
    async fn a_role_without_cost_explorer_leaves_a_named_reason_and_no_file() {
        let (f, id) = validated().await;
        f.sim.usage().set(&fixtures::account(), CostExplorer::Denied);
        let record = snapshot(&f, id).await.expect("the migration goes on");
        let Some(SnapshotState::Failed { code, remediation, retryable, .. }) = &record.usage_snapshot else { panic!() };
        assert_eq!((code.as_str(), *retryable), ("COST_EXPLORER_ACCESS_DENIED", false));
        assert!(remediation.contains("ce:GetCostAndUsage"));
        assert!(f.sim.snapshots().keys().is_empty());
        // The customer fixes the role; the step taken again saves the snapshot.
        f.sim.usage().set(&fixtures::account(), CostExplorer::Enabled);
        let record = snapshot(&f, id).await.unwrap();
        assert!(matches!(record.usage_snapshot, Some(SnapshotState::Taken { .. })));
    }

    #[tokio::test]
    async fn throttling_is_retried_for_a_minute_then_the_migration_goes_on() {
        let (f, id) = validated().await;
        f.sim.usage().set(&fixtures::account(), CostExplorer::Throttled);
        let before = f.store.history(id).await.unwrap().len();
        let err = steps::snapshot_usage(&f.ports, id).await.unwrap_err();
        assert_eq!(err.name(), "Migration.Transient");
        let recorded = f.store.get(id).await.unwrap().unwrap().usage_snapshot;
        let Some(SnapshotState::Failed { code, retryable: true, at, .. }) = &recorded else { panic!("{recorded:?}") };
        assert_eq!((code.as_str(), *at), ("COST_EXPLORER_THROTTLED", super::now()));
        assert_eq!(f.store.history(id).await.unwrap().len(), before + 1, "recorded once");
        // The definition's retries, 15 and 30 s later: still within the patience, nothing new.
        for wait in [15, 30] {
            f.clock.advance(chrono::Duration::seconds(wait));
            assert_eq!(steps::snapshot_usage(&f.ports, id).await.unwrap_err().name(), "Migration.Transient");
        }
        assert_eq!(f.store.history(id).await.unwrap().len(), before + 1, "the same failure is not written again");
        // 60 s later (105 s after the first): the patience is over and the default goes on.
        f.clock.advance(chrono::Duration::seconds(60));
        let record = snapshot(&f, id).await.expect("the migration goes on");
        assert!(matches!(record.usage_snapshot, Some(SnapshotState::Failed { retryable: true, then: SnapshotDecision::GoesOn, .. })));
        assert_eq!(record.status, Status::Validated);
        // The attempt that decided is the history's last word, not the retries before it.
        let history = f.store.history(id).await.unwrap();
        assert_eq!(history.len(), before + 2, "the decision is written once");
        let last = &history.last().unwrap().note;
        assert!(last.contains("COST_EXPLORER_THROTTLED") && last.ends_with("The migration goes on without it."), "{last}");
        // The step repeated (a redelivered task) decides alike and writes nothing.
        steps::snapshot_usage(&f.ports, id).await.expect("still goes on");
        assert_eq!(f.store.history(id).await.unwrap().len(), before + 2);
    }

    async fn validated_requiring_a_snapshot() -> (Fixture, migration::MigrationId) {
        let (f, _) = Fixture::with_recorder(super::now()).await;
        let mut request = fixtures::request(AccessLevel::Optimized);
        request.usage_snapshot = Some("required".into());
        let id = steps::create_migration(&f.ports, &fixtures::admin(), &request, None).await.unwrap().record.id;
        steps::validate(&f.ports, id).await.unwrap();
        (f, id)
    }

    #[tokio::test]
    async fn a_required_snapshot_holds_the_migration_until_the_customer_fixes_the_role() {
        let (f, id) = validated_requiring_a_snapshot().await;
        assert!(f.store.get(id).await.unwrap().unwrap().usage_snapshot_required);
        f.sim.usage().set(&fixtures::account(), CostExplorer::Denied);
        let out = steps::snapshot_usage(&f.ports, id).await.expect("the migration waits");
        assert_eq!(out.retry_at, Some(super::now() + steps::USAGE_SNAPSHOT_RETRY_EVERY), "in an hour, by the definition's Wait state");
        let Some(SnapshotState::Failed { code, then: SnapshotDecision::Waits, waiting_since, .. }) = &out.usage_snapshot else {
            panic!("{:?}", out.usage_snapshot)
        };
        assert_eq!((code.as_str(), *waiting_since), ("COST_EXPLORER_ACCESS_DENIED", Some(super::now())));
        let record = f.store.get(id).await.unwrap().unwrap();
        let action = migration::progress::next_action(&record).expect("the customer has something to do");
        assert_eq!(action.code, "GRANT_COST_EXPLORER_READ");
        assert!(action.description.contains("ce:GetCostAndUsage"), "{}", action.description);
        let entries = f.store.history(id).await.unwrap().len();
        // An hour later, still denied: the same failure, not written again.
        f.clock.advance(chrono::Duration::hours(1));
        assert!(steps::snapshot_usage(&f.ports, id).await.unwrap().retry_at.is_some());
        assert_eq!(f.store.history(id).await.unwrap().len(), entries);
        // The customer updates the role: the next hourly attempt takes it, and the invitation
        // comes next, its action saying to download first.
        f.sim.usage().set(&fixtures::account(), CostExplorer::Enabled);
        f.clock.advance(chrono::Duration::hours(1));
        let out = steps::snapshot_usage(&f.ports, id).await.expect("taken");
        assert_eq!(out.retry_at, None, "on to the invitation");
        let record = f.store.get(id).await.unwrap().unwrap();
        assert!(matches!(record.usage_snapshot, Some(SnapshotState::Taken { .. })));
        assert_eq!(migration::progress::next_action(&record).unwrap().code, "DOWNLOAD_USAGE_SNAPSHOT");
        steps::invite(&f.ports, id).await.unwrap();
        let invited = f.store.get(id).await.unwrap().unwrap();
        assert_eq!(invited.status, Status::Invited);
        let action = migration::progress::next_action(&invited).unwrap();
        assert_eq!((action.code, action.first.map(|a| a.code)), ("ACCEPT_INVITATION", Some("DOWNLOAD_USAGE_SNAPSHOT")));
    }

    /// The invite step itself refuses a migration whose required snapshot is not taken (an
    /// execution of an earlier definition could reach it), and sends nothing.
    #[tokio::test]
    async fn no_invitation_goes_out_before_a_required_snapshot() {
        let (f, id) = validated_requiring_a_snapshot().await;
        f.sim.usage().set(&fixtures::account(), CostExplorer::Denied);
        assert!(steps::snapshot_usage(&f.ports, id).await.unwrap().retry_at.is_some());
        let err = steps::invite(&f.ports, id).await.unwrap_err();
        assert_eq!(err.name(), "Migration.UsageSnapshotRequired");
        assert!(f.sim.invitations_to(&fixtures::account()).is_empty());
        assert_eq!(f.store.get(id).await.unwrap().unwrap().status, Status::Validated);
    }

    /// Two days after the wait began, the step gives up with `Migration.UsageSnapshotRequired`
    /// (the definition's Catch records the failure). A passing failure of another kind during
    /// the wait (throttling for one attempt) does not start the two days again.
    #[tokio::test]
    async fn a_required_snapshot_is_waited_for_two_days_from_the_first_wait() {
        let (f, id) = validated_requiring_a_snapshot().await;
        f.sim.usage().set(&fixtures::account(), CostExplorer::Denied);
        let began = super::now();
        assert!(steps::snapshot_usage(&f.ports, id).await.unwrap().retry_at.is_some());
        let mut hours = 0;
        loop {
            f.clock.advance(chrono::Duration::hours(1));
            hours += 1;
            if hours == 10 {
                // Cost Explorer throttles once: retried within the minute, then denied again.
                f.sim.usage().set(&fixtures::account(), CostExplorer::Throttled);
                assert_eq!(steps::snapshot_usage(&f.ports, id).await.unwrap_err().name(), "Migration.Transient");
                f.sim.usage().set(&fixtures::account(), CostExplorer::Denied);
                f.clock.advance(chrono::Duration::seconds(15));
            }
            match steps::snapshot_usage(&f.ports, id).await {
                Ok(out) => {
                    let Some(SnapshotState::Failed { waiting_since, .. }) = out.usage_snapshot else { panic!() };
                    assert_eq!(waiting_since, Some(began), "hour {hours}");
                    assert!(out.retry_at.is_some());
                }
                Err(err) => {
                    assert_eq!(err.name(), "Migration.UsageSnapshotRequired");
                    assert!(err.to_string().contains("COST_EXPLORER_ACCESS_DENIED"), "{err}");
                    break;
                }
            }
            assert!(hours < 100, "the wait never ended");
        }
        assert_eq!(hours, 48, "hourly for two days");
        // The record and the history say the wait is over, not that it goes on.
        let record = f.store.get(id).await.unwrap().unwrap();
        assert!(matches!(record.usage_snapshot, Some(SnapshotState::Failed { then: SnapshotDecision::GaveUp, .. })));
        let last = f.store.history(id).await.unwrap().last().unwrap().note.clone();
        assert!(last.ends_with("The migration waited two days for it and stops."), "{last}");
    }

    #[tokio::test]
    async fn a_required_snapshot_also_waits_out_throttling_that_lasts() {
        let (f, id) = validated_requiring_a_snapshot().await;
        f.sim.usage().set(&fixtures::account(), CostExplorer::Throttled);
        assert_eq!(steps::snapshot_usage(&f.ports, id).await.unwrap_err().name(), "Migration.Transient");
        f.clock.advance(chrono::Duration::seconds(61));
        assert!(steps::snapshot_usage(&f.ports, id).await.unwrap().retry_at.is_some(), "the migration waits");
        let record = f.store.get(id).await.unwrap().unwrap();
        assert!(matches!(record.usage_snapshot, Some(SnapshotState::Failed { then: SnapshotDecision::Waits, .. })));
        let last = f.store.history(id).await.unwrap().last().unwrap().note.clone();
        assert!(last.ends_with("tries again hourly, for two days."), "the wait is in the history: {last}");
        // Throttling passes by itself: nothing for the customer to grant.
        assert_ne!(migration::progress::next_action(&record).map(|a| a.code), Some("GRANT_COST_EXPLORER_READ"));
    }
}
