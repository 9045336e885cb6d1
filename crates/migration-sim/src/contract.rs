//! The contract every adapter of the ports must pass, written once and run against the
//! in-memory adapters (this crate's tests) and the AWS adapters on an emulator
//! (`migration-aws`'s tests).
//!
//! Each check is a `pub async fn` that takes a fresh adapter (or fixture) and panics on a
//! breach. [`store_contract_tests!`](crate::store_contract_tests) and
//! [`org_contract_tests!`](crate::org_contract_tests) turn them into one `#[tokio::test]` per
//! check, given an async fn that makes a fresh adapter, or `None` to skip (an emulator that is
//! not running, outside CI).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use crate::{FULL_AWS_ACCESS, ManualClock, RoleTrust, SimAws, SimSupportPlan};
use migration::ids::{AwsAccountId, MigrationId, OrgId};
use migration::ports::{IdempotencyRecord, ListQuery, Listing, MigrationStore, Organizations, Page, Reservation};
use migration::quota::INVITATION_WINDOW;
use migration::record::{Actor, Change, ChangeBuilder, HistoryEvent, Migration, WorkQueue, created_event};
use migration::request::{Acknowledgements, MigrationRequest};
use migration::rules::{Approval, Eligibility, OrgProfile, Terms, TermsAcceptance, TermsDocument};
use migration::status::Status;

/// A fixed start for every check, on a whole second so every adapter keeps it exactly.
pub fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-02T09:00:00Z").expect("valid time").with_timezone(&Utc)
}

/// A valid new record for `account` in `org`, requested at `at` (its id sorts by `at`).
pub fn sample_record(org: &str, account: &str, at: DateTime<Utc>) -> Migration {
    let request = MigrationRequest {
        provider_name: "Production AWS".into(),
        aws_account_id: account.into(),
        role_arn: format!("arn:aws:iam::{account}:role/CenturyLinkFullHardening"),
        access_level: "full_hardening".into(),
        accepted_terms: vec![TermsAcceptance { document_id: "ctl-aws-terms-us".into(), version: "2024-01".into() }],
        acknowledgements: Acknowledgements {
            historical_usage_data: true,
            cost_allocation_tags: true,
            reserved_instances: true,
            direct_transfer: false,
        },
        kind: None,
        start_month: None,
        usage_snapshot: None,
    }
    .validate()
    .expect("a valid sample request");
    Migration::new(
        MigrationId::new_at(at),
        org.parse().expect("valid org"),
        "US".parse().expect("valid territory"),
        "alice@acme.example".parse().expect("valid user"),
        request,
        at,
    )
}

fn idempotency_for(record: &Migration, key: &str, ttl: Duration) -> IdempotencyRecord {
    IdempotencyRecord {
        org_id: record.org_id.clone(),
        key: key.into(),
        fingerprint: format!("sha256-of-body-{}", record.id),
        migration_id: record.id,
        created_at: record.requested_at,
        expires_at: record.requested_at + ttl,
    }
}

/// Creates a sample record with its first event; returns it.
async fn create(store: &dyn MigrationStore, org: &str, account: &str, at: DateTime<Utc>) -> Migration {
    let record = sample_record(org, account, at);
    store.create(&record, &created_event(&record), None).await.expect("created");
    record
}

fn change_to(current: &Migration, to: Status, at: DateTime<Utc>) -> Change {
    ChangeBuilder::new(current, Actor::System("contract".into()), at)
        .transition(to, format!("to {to}"))
        .expect("allowed transition")
        .build()
}

/// Applies a transition and returns the stored record.
async fn advance(store: &dyn MigrationStore, current: &Migration, to: Status, at: DateTime<Utc>) -> Migration {
    let change = change_to(current, to, at);
    store.update(&change).await.expect("updated");
    change.record
}

fn ids(items: &[Migration]) -> Vec<MigrationId> {
    items.iter().map(|m| m.id).collect()
}

/// The store's checks.
pub mod store {
    use super::*;
    use migration::error::StoreError;

    pub async fn create_then_get(store: Arc<dyn MigrationStore>) {
        let record = sample_record("acme", "000123456789", t0());
        let event = created_event(&record);

        store.create(&record, &event, None).await.expect("created");

        assert_eq!(store.get(record.id).await.unwrap(), Some(record.clone()), "the record reads back exactly");
        assert_eq!(store.history(record.id).await.unwrap(), vec![event]);
        assert_eq!(store.lock_holder(&record.aws_account_id).await.unwrap(), Some(record.id));
        assert_eq!(store.get(MigrationId::new_at(t0())).await.unwrap(), None, "an unknown id is None");
        assert_eq!(store.lock_holder(&"999000111222".parse().unwrap()).await.unwrap(), None);
    }

    pub async fn lock_conflict_names_the_existing_migration(store: Arc<dyn MigrationStore>) {
        let first = create(&*store, "acme", "000123456789", t0()).await;
        let second = sample_record("globex", "000123456789", t0() + Duration::seconds(1));
        let idem = idempotency_for(&second, "key-of-second", Duration::hours(24));

        let err = store.create(&second, &created_event(&second), Some(&idem)).await.unwrap_err();

        assert_eq!(err, StoreError::AccountLocked { account: first.aws_account_id.clone(), existing: first.id });
        assert_eq!(store.get(second.id).await.unwrap(), None, "nothing of the refused create is written");
        assert!(store.history(second.id).await.unwrap().is_empty());
        assert_eq!(store.idempotency(&second.org_id, "key-of-second").await.unwrap(), None);
        assert_eq!(store.lock_holder(&first.aws_account_id).await.unwrap(), Some(first.id));
    }

    pub async fn idempotency_key_conflict_returns_the_stored_key(store: Arc<dyn MigrationStore>) {
        let first = sample_record("acme", "000123456789", t0());
        let first_key = idempotency_for(&first, "k-1", Duration::hours(24));
        store.create(&first, &created_event(&first), Some(&first_key)).await.expect("created");
        assert_eq!(store.idempotency(&first.org_id, "k-1").await.unwrap(), Some(first_key.clone()));
        assert_eq!(store.idempotency(&"globex".parse().unwrap(), "k-1").await.unwrap(), None, "keys are per organization");

        // The same key for another account, within the key's lifetime.
        let second = sample_record("acme", "000123456780", t0() + Duration::hours(1));
        let second_key = idempotency_for(&second, "k-1", Duration::hours(24));
        let err = store.create(&second, &created_event(&second), Some(&second_key)).await.unwrap_err();
        assert_eq!(err, StoreError::IdempotencyKeyUsed { existing: first_key.clone() });
        assert_eq!(store.get(second.id).await.unwrap(), None);
        assert_eq!(store.lock_holder(&second.aws_account_id).await.unwrap(), None, "no lock left behind");

        // After the key expired it may be used again.
        let third = sample_record("acme", "000123456781", t0() + Duration::hours(25));
        let third_key = idempotency_for(&third, "k-1", Duration::hours(24));
        store.create(&third, &created_event(&third), Some(&third_key)).await.expect("an expired key is reusable");
        assert_eq!(store.idempotency(&third.org_id, "k-1").await.unwrap(), Some(third_key));
    }

    pub async fn stale_update_is_refused_and_overwrites_nothing(store: Arc<dyn MigrationStore>) {
        let original = create(&*store, "acme", "000123456789", t0()).await;
        let fresh = change_to(&original, Status::Validated, t0() + Duration::minutes(1));
        store.update(&fresh).await.expect("the first change applies");
        let history_before = store.history(original.id).await.unwrap();

        // A writer that read the original record and decides otherwise.
        let stale = change_to(&original, Status::Canceled, t0() + Duration::minutes(2));
        let err = store.update(&stale).await.unwrap_err();

        assert_eq!(err, StoreError::VersionConflict(original.id));
        assert_eq!(store.get(original.id).await.unwrap(), Some(fresh.record.clone()), "the record is unchanged");
        assert_eq!(store.history(original.id).await.unwrap(), history_before, "no history entry of the stale change");
        assert_eq!(history_before.len(), 2);
        assert_eq!(store.lock_holder(&original.aws_account_id).await.unwrap(), Some(original.id), "the stale failure kept the lock");

        // A record that does not exist.
        let ghost = sample_record("acme", "000123456782", t0());
        let err = store.update(&change_to(&ghost, Status::Validated, t0())).await.unwrap_err();
        assert_eq!(err, StoreError::NotFound(ghost.id));
        assert_eq!(store.get(ghost.id).await.unwrap(), None);
    }

    pub async fn failure_change_releases_only_its_own_lock(store: Arc<dyn MigrationStore>) {
        let failed = create(&*store, "acme", "000123456789", t0()).await;
        let change = change_to(&failed, Status::Failed, t0() + Duration::minutes(1));
        assert!(change.release_lock);
        store.update(&change).await.expect("failure recorded");
        assert_eq!(store.lock_holder(&failed.aws_account_id).await.unwrap(), None, "the lock is released with the failure");

        // The account is free for a new migration.
        let retry = create(&*store, "acme", "000123456789", t0() + Duration::minutes(2)).await;
        assert_eq!(store.lock_holder(&retry.aws_account_id).await.unwrap(), Some(retry.id));

        // A late change of the failed record that asks to release the lock leaves the new holder's.
        let mut late =
            ChangeBuilder::new(&change.record, Actor::System("contract".into()), t0() + Duration::minutes(3)).progress("late note").build();
        late.release_lock = true;
        store.update(&late).await.expect("the late change applies");
        assert_eq!(store.lock_holder(&retry.aws_account_id).await.unwrap(), Some(retry.id), "another migration's lock is kept");
        assert_eq!(store.get(failed.id).await.unwrap(), Some(late.record));
    }

    pub async fn history_is_in_order(store: Arc<dyn MigrationStore>) {
        let created = sample_record("acme", "000123456789", t0());
        let first = created_event(&created);
        store.create(&created, &first, None).await.unwrap();
        let mut expected: Vec<HistoryEvent> = vec![first];
        let mut current = created;
        let steps = [Status::Validated, Status::Invited, Status::Joined, Status::SupportConfirmed];
        for (i, to) in steps.into_iter().enumerate() {
            let at = t0() + Duration::minutes(i as i64 + 1);
            let change = ChangeBuilder::new(&current, Actor::System("contract".into()), at)
                .progress(format!("before {to}"))
                .transition(to, format!("to {to}"))
                .unwrap()
                .progress(format!("after {to}"))
                .build();
            store.update(&change).await.unwrap();
            expected.extend(change.events.iter().cloned());
            current = change.record;
        }

        let history = store.history(current.id).await.unwrap();

        assert_eq!(history, expected);
        assert!(history.windows(2).all(|w| w[0].seq < w[1].seq));
        assert_eq!(history.len(), 13);
    }

    pub async fn list_is_newest_first_with_pages_and_filter(store: Arc<dyn MigrationStore>) {
        let mut acme = Vec::new();
        for i in 0..5 {
            acme.push(create(&*store, "acme", &format!("00012345678{i}"), t0() + Duration::minutes(i)).await);
        }
        let globex_old = create(&*store, "globex", "000999999990", t0()).await;
        let globex_new = create(&*store, "globex", "000999999991", t0() + Duration::minutes(9)).await;
        let acme_org: OrgId = "acme".parse().unwrap();

        // Pages of 2 across 5 records, newest first.
        let p1 = store.list(&ListQuery::org(acme_org.clone(), None), 2, None).await.unwrap();
        assert_eq!(ids(&p1.items), vec![acme[4].id, acme[3].id]);
        let p2 = store.list(&ListQuery::org(acme_org.clone(), None), 2, p1.next_cursor.as_deref()).await.unwrap();
        assert_eq!(ids(&p2.items), vec![acme[2].id, acme[1].id]);
        let p3 = store.list(&ListQuery::org(acme_org.clone(), None), 2, p2.next_cursor.as_deref()).await.unwrap();
        assert_eq!(ids(&p3.items), vec![acme[0].id]);
        assert_eq!(p3.next_cursor, None, "the last page has no cursor");
        let all = store.list(&ListQuery::org(acme_org.clone(), None), 10, None).await.unwrap();
        assert_eq!(all.items.len(), 5);
        assert_eq!(all.next_cursor, None);
        assert_eq!(all.items[0], acme[4], "listed records are whole");

        // A status filter, across pages of one.
        let v1 = advance(&*store, &acme[1], Status::Validated, t0() + Duration::hours(1)).await;
        let v3 = advance(&*store, &acme[3], Status::Validated, t0() + Duration::hours(1)).await;
        let f1 = store.list(&ListQuery::org(acme_org.clone(), Some(Status::Validated)), 1, None).await.unwrap();
        assert_eq!(f1.items, vec![v3]);
        let f2 = store.list(&ListQuery::org(acme_org.clone(), Some(Status::Validated)), 1, f1.next_cursor.as_deref()).await.unwrap();
        assert_eq!(f2.items, vec![v1]);
        assert_eq!(f2.next_cursor, None);
        let none = store.list(&ListQuery::org(acme_org.clone(), Some(Status::Hardened)), 3, None).await.unwrap();
        assert!(none.items.is_empty() && none.next_cursor.is_none());

        // Another organization's listing and cursors.
        let g = store.list(&ListQuery::org("globex".parse().unwrap(), None), 1, None).await.unwrap();
        assert_eq!(ids(&g.items), vec![globex_new.id]);
        let foreign = g.next_cursor.expect("globex has a second page");
        assert_eq!(store.list(&ListQuery::org(acme_org.clone(), None), 2, Some(&foreign)).await.unwrap_err(), StoreError::InvalidCursor);
        let g2 = store.list(&ListQuery::org("globex".parse().unwrap(), None), 1, Some(&foreign)).await.unwrap();
        assert_eq!(ids(&g2.items), vec![globex_old.id]);
        for forged in ["not-a-cursor", "", "%%%", "eyJ4IjoxfQ", "00", &"ab".repeat(600)] {
            assert_eq!(
                store.list(&ListQuery::org(acme_org.clone(), None), 2, Some(forged)).await.unwrap_err(),
                StoreError::InvalidCursor,
                "{forged:?}"
            );
        }
    }

    pub async fn list_by_status_across_organizations_within_a_window(store: Arc<dyn MigrationStore>) {
        let by_status = |status, after: Option<DateTime<Utc>>, before: Option<DateTime<Utc>>| ListQuery {
            listing: Listing::Status(status),
            created_after: after,
            created_before: before,
        };
        let a0 = create(&*store, "acme", "000123456780", t0()).await;
        let g1 = create(&*store, "globex", "000123456781", t0() + Duration::minutes(1)).await;
        let a2 = create(&*store, "acme", "000123456782", t0() + Duration::minutes(2)).await;
        let g3 = create(&*store, "globex", "000123456783", t0() + Duration::minutes(3)).await;
        let v1 = advance(&*store, &g1, Status::Validated, t0() + Duration::hours(1)).await;

        // Every organization's REQUESTED migrations, newest first, across pages.
        let p1 = store.list(&by_status(Status::Requested, None, None), 2, None).await.unwrap();
        assert_eq!(ids(&p1.items), vec![g3.id, a2.id]);
        let p2 = store.list(&by_status(Status::Requested, None, None), 2, p1.next_cursor.as_deref()).await.unwrap();
        assert_eq!(ids(&p2.items), vec![a0.id]);
        assert_eq!(p2.next_cursor, None);
        // A status change moves the record to its new status's listing.
        assert_eq!(store.list(&by_status(Status::Validated, None, None), 10, None).await.unwrap().items, vec![v1]);

        // The window: strictly after and strictly before, to the millisecond.
        let window = by_status(Status::Requested, Some(t0()), Some(t0() + Duration::minutes(3)));
        assert_eq!(ids(&store.list(&window, 10, None).await.unwrap().items), vec![a2.id]);
        let to_the_ms = by_status(Status::Requested, Some(t0() - Duration::milliseconds(1)), Some(t0() + Duration::milliseconds(1)));
        assert_eq!(ids(&store.list(&to_the_ms, 10, None).await.unwrap().items), vec![a0.id]);
        let empty = by_status(Status::Requested, Some(t0() + Duration::minutes(3)), Some(t0()));
        assert_eq!(store.list(&empty, 10, None).await.unwrap(), Page { items: Vec::new(), next_cursor: None });
        // An organization's listing keeps to the window too.
        let acme_recent = ListQuery { created_after: Some(t0()), ..ListQuery::org("acme".parse().unwrap(), None) };
        assert_eq!(ids(&store.list(&acme_recent, 10, None).await.unwrap().items), vec![a2.id]);

        // A cursor belongs to its listing and its window.
        let first = store.list(&by_status(Status::Requested, None, None), 1, None).await.unwrap();
        let cursor = first.next_cursor.expect("a second page");
        for other in [
            by_status(Status::Validated, None, None),
            ListQuery::org("globex".parse().unwrap(), None),
            by_status(Status::Requested, Some(t0() + Duration::minutes(5)), None),
        ] {
            assert_eq!(store.list(&other, 1, Some(&cursor)).await.unwrap_err(), StoreError::InvalidCursor, "{other:?}");
        }
    }

    pub async fn work_queue_returns_due_records_only(store: Arc<dyn MigrationStore>) {
        // New records sit in the Unstarted queue, due a grace period after they were requested.
        let a = create(&*store, "acme", "000123456789", t0()).await;
        let b = create(&*store, "acme", "000123456780", t0() + Duration::minutes(1)).await;
        let c = create(&*store, "globex", "000123456781", t0() + Duration::minutes(2)).await;
        let due_a = a.due_at.unwrap();

        assert!(store.due(WorkQueue::Unstarted, due_a - Duration::seconds(1), 10).await.unwrap().is_empty(), "nothing due yet");
        assert_eq!(ids(&store.due(WorkQueue::Unstarted, due_a, 10).await.unwrap()), vec![a.id], "due exactly now is due");
        assert_eq!(ids(&store.due(WorkQueue::Unstarted, t0() + Duration::hours(1), 10).await.unwrap()), vec![a.id, b.id, c.id]);
        assert_eq!(
            ids(&store.due(WorkQueue::Unstarted, t0() + Duration::hours(1), 2).await.unwrap()),
            vec![a.id, b.id],
            "oldest due first"
        );
        assert!(store.due(WorkQueue::Handshake, t0() + Duration::hours(1), 10).await.unwrap().is_empty());

        // Validated is in no queue; Invited with a due time is in the handshake queue.
        let a = advance(&*store, &a, Status::Validated, t0() + Duration::minutes(3)).await;
        assert_eq!(a.work_queue(), None);
        assert_eq!(ids(&store.due(WorkQueue::Unstarted, t0() + Duration::hours(1), 10).await.unwrap()), vec![b.id, c.id]);
        let mut invite = ChangeBuilder::new(&a, Actor::System("contract".into()), t0() + Duration::minutes(4))
            .transition(Status::Invited, "invited")
            .unwrap();
        invite.record().due_at = Some(t0() + Duration::minutes(30));
        let invite = invite.build();
        store.update(&invite).await.unwrap();
        assert!(store.due(WorkQueue::Handshake, t0() + Duration::minutes(29), 10).await.unwrap().is_empty());
        assert_eq!(store.due(WorkQueue::Handshake, t0() + Duration::minutes(30), 10).await.unwrap(), vec![invite.record]);
        assert!(store.due(WorkQueue::Hardening, t0() + Duration::days(30), 10).await.unwrap().is_empty());
    }

    pub async fn reference_data_round_trips(store: Arc<dyn MigrationStore>) {
        let mut profile = OrgProfile {
            org_id: "acme".parse().unwrap(),
            external_id: "cam-acme-7f3a9c".parse().unwrap(),
            territory: "US".parse().unwrap(),
            eligibility: Eligibility::QUALIFYING,
        };
        let approval = Approval {
            account_id: "000123456789".parse().unwrap(),
            reference: "AWS-TRANSFER-2026-001".into(),
            approved: true,
            recorded_by: "ops@partner".into(),
            recorded_at: t0(),
        };
        let terms = Terms {
            territory: "US".parse().unwrap(),
            documents: vec![TermsDocument {
                document_id: "ctl-aws-terms-us".into(),
                version: "2024-01".into(),
                title: "CenturyLink AWS Terms".into(),
                url: "https://example.invalid/terms".into(),
            }],
        };
        assert_eq!(store.org_profile(&profile.org_id).await.unwrap(), None);
        assert_eq!(store.approval(&approval.account_id).await.unwrap(), None);
        assert_eq!(store.terms(&terms.territory).await.unwrap(), None);

        store.put_org_profile(&profile).await.unwrap();
        store.put_approval(&approval).await.unwrap();
        store.put_terms(&terms).await.unwrap();

        assert_eq!(store.org_profile(&profile.org_id).await.unwrap(), Some(profile.clone()));
        assert_eq!(store.approval(&approval.account_id).await.unwrap(), Some(approval.clone()));
        assert_eq!(store.terms(&terms.territory).await.unwrap(), Some(terms.clone()));
        assert_eq!(store.lock_holder(&approval.account_id).await.unwrap(), None, "an approval is not a lock");

        // Operators overwrite.
        profile.eligibility.trial = true;
        store.put_org_profile(&profile).await.unwrap();
        assert_eq!(store.org_profile(&profile.org_id).await.unwrap(), Some(profile));
        assert!(
            store.list(&ListQuery::org("acme".parse().unwrap(), None), 10, None).await.unwrap().items.is_empty(),
            "a profile is not a migration"
        );
    }

    fn migration_ids(n: usize) -> Vec<MigrationId> {
        (0..n).map(|i| MigrationId::new_at(t0() + Duration::milliseconds(i64::try_from(i).unwrap()))).collect()
    }

    pub async fn invitation_slots_are_granted_up_to_the_quota_and_age_out(store: Arc<dyn MigrationStore>) {
        let m = migration_ids(4);
        let at = |minutes: i64| t0() + Duration::minutes(minutes);
        for (i, id) in m.iter().take(3).enumerate() {
            let when = at(i64::try_from(i).unwrap());
            assert_eq!(store.reserve_invitation(*id, when, 3).await.unwrap(), Reservation::Granted { at: when });
        }
        assert_eq!(store.reserve_invitation(m[3], at(3), 3).await.unwrap(), Reservation::Full { next_free_at: at(0) + INVITATION_WINDOW });
        // A retry of a migration that holds a slot gets it again, counted from the retry,
        // and takes no second one.
        assert_eq!(store.reserve_invitation(m[0], at(4), 3).await.unwrap(), Reservation::Granted { at: at(4) });
        assert_eq!(
            store.reserve_invitation(m[3], at(5), 3).await.unwrap(),
            Reservation::Full { next_free_at: at(1) + INVITATION_WINDOW },
            "the oldest slot is now the second migration's"
        );
        // A slot is released only by ageing out of the window.
        let freed = at(1) + INVITATION_WINDOW;
        assert_eq!(
            store.reserve_invitation(m[3], freed - Duration::seconds(1), 3).await.unwrap(),
            Reservation::Full { next_free_at: freed }
        );
        assert_eq!(store.reserve_invitation(m[3], freed, 3).await.unwrap(), Reservation::Granted { at: freed });
        // The ledger is not a migration, a lock or a queue item.
        assert!(store.due(WorkQueue::Unstarted, freed, 10).await.unwrap().is_empty());
        assert!(store.list(&ListQuery::org("acme".parse().unwrap(), None), 10, None).await.unwrap().items.is_empty());
    }

    /// Twelve invites reserve at once for five slots: exactly five are granted, and asking
    /// again changes nobody's answer. An adapter that checks and writes in two steps without
    /// a condition on what it read lets two writers decide on the same ledger and grants
    /// more (on DynamoDB the requests interleave at every round trip).
    pub async fn invitation_slots_never_over_admit_under_concurrency(store: Arc<dyn MigrationStore>) {
        const QUOTA: u32 = 5;
        let m = migration_ids(12);
        let mut tasks = tokio::task::JoinSet::new();
        for id in m.iter().copied() {
            let store = store.clone();
            tasks.spawn(async move { (id, store.reserve_invitation(id, t0(), QUOTA).await.expect("reserved or full")) });
        }
        let answers = tasks.join_all().await;
        let granted: Vec<MigrationId> =
            answers.iter().filter(|(_, r)| matches!(r, Reservation::Granted { .. })).map(|(id, _)| *id).collect();
        assert_eq!(granted.len(), QUOTA as usize, "exactly the quota is granted: {answers:?}");
        // The seven in line: five get the slots as they age out, two the round after. Two
        // waiters told the same place in line would show here as six or more at the first.
        let told = |at: DateTime<Utc>| answers.iter().filter(|(_, r)| *r == Reservation::Full { next_free_at: at }).count();
        assert_eq!((told(t0() + INVITATION_WINDOW), told(t0() + INVITATION_WINDOW * 2)), (5, 2), "{answers:?}");
        let later = t0() + Duration::minutes(1);
        for id in &m {
            let again = store.reserve_invitation(*id, later, QUOTA).await.unwrap();
            assert_eq!(matches!(again, Reservation::Granted { .. }), granted.contains(id), "{id}: {again:?}");
        }
    }
}

/// Turns the store checks into one `#[tokio::test]` each. `$make` is an async fn returning
/// `Option<Arc<dyn MigrationStore>>`, a fresh store per call (`None` skips the test).
#[macro_export]
macro_rules! store_contract_tests {
    ($make:path) => {
        $crate::store_contract_tests!(@each $make;
            create_then_get,
            lock_conflict_names_the_existing_migration,
            idempotency_key_conflict_returns_the_stored_key,
            stale_update_is_refused_and_overwrites_nothing,
            failure_change_releases_only_its_own_lock,
            history_is_in_order,
            list_is_newest_first_with_pages_and_filter,
            list_by_status_across_organizations_within_a_window,
            work_queue_returns_due_records_only,
            reference_data_round_trips,
            invitation_slots_are_granted_up_to_the_quota_and_age_out,
            invitation_slots_never_over_admit_under_concurrency
        );
    };
    (@each $make:path; $($check:ident),*) => {
        $(
            #[tokio::test]
            async fn $check() {
                if let Some(store) = $make().await {
                    $crate::contract::store::$check(store).await;
                }
            }
        )*
    };
}

/// What a check can see of the partner organization besides the port itself.
#[async_trait]
pub trait OrgObserver: Send + Sync {
    /// The SCPs attached directly to a root, OU or account.
    async fn policies_of(&self, target: &str) -> Vec<String>;
    async fn tags_of(&self, account: &AwsAccountId) -> BTreeMap<String, String>;
}

/// A partner organization with one member account, an OU it is not in, and an SCP attached
/// to neither.
pub struct OrgFixture {
    pub orgs: Arc<dyn Organizations>,
    pub member: AwsAccountId,
    /// An account that is not a member.
    pub stranger: AwsAccountId,
    /// An OU the member is not in.
    pub other_parent: String,
    pub policy_id: String,
    pub observer: Arc<dyn OrgObserver>,
}

#[async_trait]
impl OrgObserver for SimAws {
    async fn policies_of(&self, target: &str) -> Vec<String> {
        self.scps_attached_to(target)
    }

    async fn tags_of(&self, account: &AwsAccountId) -> BTreeMap<String, String> {
        self.member_view(account).map(|(_, _, tags)| tags).unwrap_or_default()
    }
}

/// The fixture on the simulated AWS: a customer who accepted the invitation.
pub fn sim_org_fixture() -> OrgFixture {
    let sim = SimAws::new("999999999999".parse().unwrap(), Arc::new(ManualClock::new(t0())));
    let member: AwsAccountId = "000123456789".parse().unwrap();
    let role = format!("arn:aws:iam::{member}:role/CenturyLinkFullHardening").parse().unwrap();
    sim.add_standalone_customer(&role, RoleTrust::NoExternalId, SimSupportPlan::Business);
    let handshake = sim.send_invitation(&member).expect("invited");
    sim.accept(&handshake.id).expect("accepted");
    sim.create_ou("ou-sim0-hardened");
    sim.create_scp("p-sim0guard");
    OrgFixture {
        orgs: Arc::new(sim.organizations()),
        member,
        stranger: "000999888777".parse().unwrap(),
        other_parent: "ou-sim0-hardened".into(),
        policy_id: "p-sim0guard".into(),
        observer: Arc::new(sim),
    }
}

/// The Organizations checks (account, OU, SCP and tag operations; handshakes are covered
/// by adapter-specific tests since no emulator implements them). The 5-SCP quota is not
/// here: moto does not enforce it; the simulation's own tests and the adapter's mocks of
/// AWS's `ConstraintViolationException` hold it.
pub mod organizations {
    use super::*;
    use migration::error::OrgError;

    pub async fn membership_is_known_for_members_only(f: OrgFixture) {
        let membership = f.orgs.membership(&f.member).await.expect("described");
        assert!(membership.is_some(), "the member is a member");
        assert_eq!(f.orgs.membership(&f.stranger).await.expect("described"), None);
    }

    pub async fn move_account_changes_the_parent(f: OrgFixture) {
        let parent = f.orgs.parent_of(&f.member).await.expect("parent");
        assert_ne!(parent, f.other_parent);

        f.orgs.move_account(&f.member, &parent, &f.other_parent).await.expect("moved");

        assert_eq!(f.orgs.parent_of(&f.member).await.unwrap(), f.other_parent);
        f.orgs.move_account(&f.member, &f.other_parent, &parent).await.expect("moved back");
        assert_eq!(f.orgs.parent_of(&f.member).await.unwrap(), parent);
    }

    pub async fn attach_policy_to_an_ou_twice_is_done_once(f: OrgFixture) {
        let ou = f.other_parent.as_str();
        f.orgs.attach_policy(&f.policy_id, ou).await.expect("attached");
        f.orgs.attach_policy(&f.policy_id, ou).await.expect("already attached counts as done");

        let policies = f.observer.policies_of(ou).await;
        assert_eq!(policies.iter().filter(|p| **p == f.policy_id).count(), 1, "{policies:?}");
        assert!(!f.observer.policies_of(f.member.as_str()).await.contains(&f.policy_id), "attached to the OU, not to the account");
    }

    /// `ListPoliciesForTarget` lists what is attached to the target itself: a new OU and a
    /// new member carry FullAWSAccess, as AWS attaches it when SCPs are enabled.
    pub async fn scps_of_lists_the_scps_attached_to_the_target(f: OrgFixture) {
        let ou = f.other_parent.as_str();
        let before = f.orgs.scps_of(ou).await.expect("listed");
        assert!(before.iter().any(|p| p == FULL_AWS_ACCESS), "{before:?}");
        assert!(!before.contains(&f.policy_id), "{before:?}");
        assert!(f.orgs.scps_of(f.member.as_str()).await.expect("listed").iter().any(|p| p == FULL_AWS_ACCESS));

        f.orgs.attach_policy(&f.policy_id, ou).await.expect("attached");

        let after = f.orgs.scps_of(ou).await.expect("listed");
        assert!(after.contains(&f.policy_id), "{after:?}");
        assert_eq!(after.len(), before.len() + 1, "{after:?}");
        assert!(!f.orgs.scps_of(f.member.as_str()).await.expect("listed").contains(&f.policy_id));
    }

    pub async fn tag_account_sets_and_overwrites(f: OrgFixture) {
        let tags = |v: &str| vec![("cam:migration-id".to_owned(), v.to_owned()), ("cam:hardening".to_owned(), "full".to_owned())];
        f.orgs.tag_account(&f.member, &tags("first")).await.expect("tagged");
        f.orgs.tag_account(&f.member, &tags("second")).await.expect("tagged again");

        let seen = f.observer.tags_of(&f.member).await;
        assert_eq!(seen.get("cam:migration-id").map(String::as_str), Some("second"));
        assert_eq!(seen.get("cam:hardening").map(String::as_str), Some("full"));
    }

    pub async fn a_stranger_is_not_found(f: OrgFixture) {
        assert_eq!(f.orgs.parent_of(&f.stranger).await.unwrap_err(), OrgError::AccountNotFound);
        assert_eq!(f.orgs.attach_policy(&f.policy_id, f.stranger.as_str()).await.unwrap_err(), OrgError::AccountNotFound);
        assert_eq!(f.orgs.scps_of(f.stranger.as_str()).await.unwrap_err(), OrgError::AccountNotFound);
        // An OU that does not exist is an error, never taken for attached.
        assert!(f.orgs.attach_policy(&f.policy_id, "ou-ab12-nosuchou1").await.is_err());
        assert!(f.orgs.scps_of("ou-ab12-nosuchou1").await.is_err());
        assert_eq!(f.orgs.tag_account(&f.stranger, &[("k".into(), "v".into())]).await.unwrap_err(), OrgError::AccountNotFound);
    }
}

/// Turns the Organizations checks into one `#[tokio::test]` each. `$make` is an async fn
/// returning `Option<OrgFixture>`.
#[macro_export]
macro_rules! org_contract_tests {
    ($make:path) => {
        $crate::org_contract_tests!(@each $make;
            membership_is_known_for_members_only,
            move_account_changes_the_parent,
            attach_policy_to_an_ou_twice_is_done_once,
            scps_of_lists_the_scps_attached_to_the_target,
            tag_account_sets_and_overwrites,
            a_stranger_is_not_found
        );
    };
    (@each $make:path; $($check:ident),*) => {
        $(
            #[tokio::test]
            async fn $check() {
                if let Some(fixture) = $make().await {
                    $crate::contract::organizations::$check(fixture).await;
                }
            }
        )*
    };
}

/// Follows a download link: what it downloads, or `None` when it downloads nothing.
pub type Follow = Box<dyn Fn(&str) -> Option<crate::usage::Download> + Send + Sync>;

/// A snapshot bucket and a way to follow its links (an HTTP GET for S3's presigned URLs).
pub struct SnapshotFixture {
    pub store: Arc<dyn migration::usage::SnapshotStore>,
    pub follow: Follow,
    /// A key prefix no other check uses.
    pub prefix: String,
}

/// The memory bucket.
pub fn memory_snapshot_fixture() -> SnapshotFixture {
    let bucket = crate::usage::MemorySnapshots::default();
    let follower = bucket.clone();
    SnapshotFixture {
        store: Arc::new(bucket),
        follow: Box::new(move |link| follower.follow(link)),
        prefix: format!("migrations/{}/usage/", MigrationId::new_at(t0())),
    }
}

/// The snapshot bucket's checks: what the status API's download relies on.
pub mod snapshots {
    use super::*;

    pub async fn a_stored_file_downloads_through_its_link(f: SnapshotFixture) {
        let key = format!("{}monthly-by-service.csv", f.prefix);
        let body = b"period_start,period_end,service\n2026-01-01,2026-02-01,\"Amazon S3, Glacier\"\n".to_vec();
        f.store.put(&key, body.clone(), "text/csv").await.expect("stored");
        let link = f.store.download_link(&key, Duration::minutes(5)).await.expect("a link");
        let (got, content_type) = (f.follow)(&link).expect("the link downloads");
        assert_eq!((got, content_type.as_str()), (body, "text/csv"));
    }

    pub async fn storing_again_replaces_the_file(f: SnapshotFixture) {
        let key = format!("{}manifest.json", f.prefix);
        f.store.put(&key, b"{\"v\":1}".to_vec(), "application/json").await.expect("stored");
        f.store.put(&key, b"{\"v\":2}".to_vec(), "application/json").await.expect("stored again");
        let link = f.store.download_link(&key, Duration::minutes(5)).await.expect("a link");
        assert_eq!((f.follow)(&link).expect("downloads").0, b"{\"v\":2}".to_vec());
    }

    pub async fn a_link_to_a_missing_file_downloads_nothing(f: SnapshotFixture) {
        let key = format!("{}never-stored.csv", f.prefix);
        let link = f.store.download_link(&key, Duration::minutes(5)).await.expect("a link is made without looking");
        assert!((f.follow)(&link).is_none());
    }
}

/// Turns the snapshot-bucket checks into one `#[tokio::test]` each. `$make` is an async fn
/// returning `Option<SnapshotFixture>`.
#[macro_export]
macro_rules! snapshot_contract_tests {
    ($make:path) => {
        $crate::snapshot_contract_tests!(@each $make;
            a_stored_file_downloads_through_its_link,
            storing_again_replaces_the_file,
            a_link_to_a_missing_file_downloads_nothing
        );
    };
    (@each $make:path; $($check:ident),*) => {
        $(
            #[tokio::test]
            async fn $check() {
                if let Some(fixture) = $make().await {
                    $crate::contract::snapshots::$check(fixture).await;
                }
            }
        )*
    };
}

/// What only the customer's side can do to a billing transfer (the port is the partner's).
#[async_trait]
pub trait TransferCustomer: Send + Sync {
    /// The customer's management account accepts the invitation in the Billing console.
    async fn accept(&self, handshake: &migration::ids::HandshakeId);
}

#[async_trait]
impl TransferCustomer for SimAws {
    async fn accept(&self, handshake: &migration::ids::HandshakeId) {
        self.accept_transfer(handshake).expect("the simulated customer accepts");
    }
}

/// A billing-transfer port, the customer's side of it, and an account to invite.
pub struct TransferFixture {
    pub port: Arc<dyn migration::transfer::BillingTransfers>,
    pub customer: Arc<dyn TransferCustomer>,
    /// A management account whose organization has all features.
    pub account: AwsAccountId,
    /// The adapter's now.
    pub now: DateTime<Utc>,
}

/// The simulation's billing transfers, at [`t0`].
pub fn sim_transfer_fixture() -> TransferFixture {
    let sim = SimAws::new("999999999999".parse().expect("valid"), Arc::new(ManualClock::new(t0())));
    let account: AwsAccountId = "000123456789".parse().expect("valid");
    let role = format!("arn:aws:iam::{account}:role/CenturyLinkOptimized").parse().expect("valid");
    sim.add_standalone_customer(&role, RoleTrust::NoExternalId, SimSupportPlan::Business);
    sim.update_customer(&account, |c| {
        c.own_organization = migration::rules::CustomerOrganization::ManagementAccount {
            organization_id: "o-custorg0001".into(),
            member_count: Some(3),
            all_features: true,
        }
    })
    .expect("the customer exists");
    TransferFixture { port: Arc::new(sim.billing_transfers()), customer: Arc::new(sim), account, now: t0() }
}

/// The billing-transfer checks: what the steps rely on from any adapter of the port.
pub mod transfers {
    use super::*;
    use migration::transfer::{BillingGroupSpec, BillingMonth, TransferError, TransferInvitation, TransferStatus};

    fn invitation(f: &TransferFixture) -> TransferInvitation {
        TransferInvitation {
            account: f.account.clone(),
            start_at: BillingMonth::earliest(f.now).start(),
            source_name: "CenturyLink".into(),
            notes: "Contract check.".into(),
            migration: MigrationId::new_at(f.now),
        }
    }

    pub async fn inviting_twice_sends_one_invitation(f: TransferFixture) {
        let first = f.port.invite(&invitation(&f)).await.expect("invited");
        let again = f.port.invite(&invitation(&f)).await.expect("invited again");
        assert_eq!((&again.transfer.id, &again.handshake.id), (&first.transfer.id, &first.handshake.id), "one invitation");
        let t = f.port.describe(&first.transfer.id).await.expect("described");
        assert_eq!((t.status, t.start_at, &t.customer_account), (TransferStatus::Requested, invitation(&f).start_at, &f.account));
        assert_eq!(t.arn, first.transfer.arn);
    }

    pub async fn a_canceled_invitation_is_canceled_and_canceling_again_is_harmless(f: TransferFixture) {
        let sent = f.port.invite(&invitation(&f)).await.expect("invited");
        f.port.cancel_invitation(&sent.handshake.id).await.expect("canceled");
        f.port.cancel_invitation(&sent.handshake.id).await.expect("canceled again");
        assert_eq!(f.port.describe(&sent.transfer.id).await.expect("described").status, TransferStatus::Canceled);
    }

    pub async fn an_unknown_transfer_is_not_found(f: TransferFixture) {
        let unknown: migration::ids::TransferId = "rt-0000nosuch".parse().expect("valid");
        assert_eq!(f.port.describe(&unknown).await.unwrap_err(), TransferError::NotFound);
    }

    pub async fn an_unaccepted_transfer_cannot_be_ended(f: TransferFixture) {
        let sent = f.port.invite(&invitation(&f)).await.expect("invited");
        let end = BillingMonth::containing(sent.transfer.start_at).end();
        assert!(matches!(f.port.terminate(&sent.transfer.id, end).await, Err(TransferError::InvalidTransition(_))));
    }

    pub async fn an_accepted_transfer_gets_one_billing_group_and_ends_at_a_month_s_end(f: TransferFixture) {
        let sent = f.port.invite(&invitation(&f)).await.expect("invited");
        f.customer.accept(&sent.handshake.id).await;
        let t = f.port.describe(&sent.transfer.id).await.expect("described");
        assert_eq!(t.status, TransferStatus::Accepted);
        let spec = BillingGroupSpec {
            name: format!("cam-{}", invitation(&f).migration),
            transfer_arn: t.arn.clone(),
            pricing_plan_arn: "arn:aws:billingconductor::999999999999:pricingplan/contract01".into(),
            primary_account: f.account.clone(),
            migration: invitation(&f).migration,
        };
        let group = f.port.ensure_billing_group(&spec).await.expect("made");
        assert_eq!(f.port.ensure_billing_group(&spec).await.expect("found").arn, group.arn, "one billing group");
        let end = BillingMonth::containing(t.start_at).end();
        let ended = f.port.terminate(&t.id, end).await.expect("ended");
        assert_eq!((ended.status, ended.end_at), (TransferStatus::Withdrawn, Some(end)));
        assert!(matches!(f.port.terminate(&t.id, end).await, Err(TransferError::AlreadyInStatus(_))));
    }
}

/// Turns the billing-transfer checks into one `#[tokio::test]` each. `$make` is an async fn
/// returning `Option<TransferFixture>`.
#[macro_export]
macro_rules! transfer_contract_tests {
    ($make:path) => {
        $crate::transfer_contract_tests!(@each $make;
            inviting_twice_sends_one_invitation,
            a_canceled_invitation_is_canceled_and_canceling_again_is_harmless,
            an_unknown_transfer_is_not_found,
            an_unaccepted_transfer_cannot_be_ended,
            an_accepted_transfer_gets_one_billing_group_and_ends_at_a_month_s_end
        );
    };
    (@each $make:path; $($check:ident),*) => {
        $(
            #[tokio::test]
            async fn $check() {
                if let Some(fixture) = $make().await {
                    $crate::contract::transfers::$check(fixture).await;
                }
            }
        )*
    };
}

#[cfg(test)]
mod tests {
    //! The reference run: the in-memory adapters pass their own contract.
    use super::*;
    use crate::MemoryStore;

    async fn memory_store() -> Option<Arc<dyn MigrationStore>> {
        Some(Arc::new(MemoryStore::new()))
    }

    async fn sim_orgs() -> Option<OrgFixture> {
        Some(sim_org_fixture())
    }

    mod store_contract {
        crate::store_contract_tests!(super::memory_store);
    }

    mod org_contract {
        crate::org_contract_tests!(super::sim_orgs);
    }

    async fn sim_transfers() -> Option<TransferFixture> {
        Some(sim_transfer_fixture())
    }

    mod transfer_contract {
        crate::transfer_contract_tests!(super::sim_transfers);
    }

    async fn memory_snapshots() -> Option<SnapshotFixture> {
        Some(memory_snapshot_fixture())
    }

    mod snapshot_contract {
        crate::snapshot_contract_tests!(super::memory_snapshots);
    }
}
