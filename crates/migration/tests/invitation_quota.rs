//! The invite step against the partner's daily invitation quota: over it an invitation waits
//! (deferred, with the time it will be sent), AWS's own `HANDSHAKE_RATE_LIMIT_EXCEEDED` is
//! handled the same way, a retry after a crash reuses its slot, and racing invites never send
//! more than the quota (under shuttle's random and PCT schedulers).

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use migration::StepError;
use migration::error::{OrgError, Refusal, StoreError};
use migration::ids::{AwsAccountId, MigrationId};
use migration::ports::{MigrationStore, Ports};
use migration::progress::next_action;
use migration::quota::INVITATION_WINDOW;
use migration::record::{Actor, ChangeBuilder, DeferralReason, created_event};
use migration::settings::Settings;
use migration::status::Status;
use migration::steps::{self, AWS_RATE_LIMIT_RETRY, InviteOutput};
use migration_sim::contract::sample_record;
use migration_sim::fixtures::Fixture;
use migration_sim::hooks::{HookedOrganizations, HookedStore, OrgsCall, OrgsHook, StoreCall, StoreHook, Verdict};
use migration_sim::{ManualClock, RecordingExecutions};
use shuttle::scheduler::{PctScheduler, RandomScheduler};

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-02T09:00:00Z").unwrap().with_timezone(&Utc)
}

fn account(i: usize) -> AwsAccountId {
    format!("{:012}", 200_000_000_000_u64 + i as u64).parse().unwrap()
}

/// A VALIDATED migration for account `i`, as the validate step leaves it.
async fn validated(store: &dyn MigrationStore, i: usize, at: DateTime<Utc>) -> MigrationId {
    let record = sample_record("acme", account(i).as_str(), at + Duration::milliseconds(i64::try_from(i).unwrap()));
    store.create(&record, &created_event(&record), None).await.unwrap();
    let change = ChangeBuilder::new(&record, Actor::System("validate".into()), at).transition(Status::Validated, "valid").unwrap().build();
    store.update(&change).await.unwrap();
    record.id
}

fn with_quota(ports: &Ports, quota: u32) -> Ports {
    Ports { settings: Arc::new(Settings { invitations_per_24_hours: quota, ..(*ports.settings).clone() }), ..ports.clone() }
}

async fn fixture() -> Fixture<ManualClock> {
    Fixture::new(start(), Arc::new(RecordingExecutions::default())).await
}

#[tokio::test]
async fn over_the_quota_the_invitation_waits_with_the_time_it_will_be_sent() {
    let f = fixture().await;
    let ports = with_quota(&f.ports, 2);
    let ids = [validated(f.store.as_ref(), 0, start()).await, validated(f.store.as_ref(), 1, start()).await];
    let late = validated(f.store.as_ref(), 2, start()).await;
    for id in ids {
        let out = steps::invite(&ports, id).await.unwrap();
        assert!(out.handshake_id.is_some() && out.deferred_until.is_none(), "{out:?}");
    }
    f.clock.advance(Duration::minutes(7));
    let out = steps::invite(&ports, late).await.expect("deferred, not failed");
    let send_at = start() + INVITATION_WINDOW;
    assert_eq!(
        out,
        InviteOutput {
            migration_id: late,
            already_member: false,
            handshake_id: None,
            expires_at: None,
            deferred_until: Some(send_at),
            kind: Default::default(),
            start_at: None,
        }
    );
    // The state machine's Choice reads the field, so it is there (null) when nothing waits.
    assert_eq!(serde_json::to_value(&out).unwrap()["deferred_until"], "2026-03-03T09:05:00Z");
    let record = f.store.get(late).await.unwrap().unwrap();
    assert_eq!(record.status, Status::Validated);
    let wait = record.invitation_wait.clone().expect("the wait is recorded");
    assert_eq!((wait.send_at, wait.reason, wait.deferrals), (send_at, DeferralReason::QuotaUsedUp, 1));
    let action = next_action(&record).expect("the customer is told");
    assert_eq!(action.code, "WAIT_FOR_INVITATION");
    assert!(
        action.description.contains("2026-03-03T09:05:00+00:00") && action.description.contains("quota is used up"),
        "{}",
        action.description
    );
    assert!(f.sim.invitations_to(&account(2)).is_empty(), "nothing was sent");

    // A retry before that time answers the same, and sends nothing.
    assert_eq!(steps::invite(&ports, late).await.unwrap().deferred_until, Some(send_at));
    // At that time the first slot has aged out: the invitation goes.
    f.clock.set(send_at);
    let out = steps::invite(&ports, late).await.unwrap();
    assert!(out.handshake_id.is_some() && out.deferred_until.is_none());
    let record = f.store.get(late).await.unwrap().unwrap();
    assert_eq!((record.status, record.invitation_wait), (Status::Invited, None));
    assert_eq!(serde_json::to_value(steps::invite(&ports, ids[0]).await.unwrap()).unwrap()["deferred_until"], serde_json::Value::Null);
}

/// AWS refuses although the ledger had a slot (invitations sent outside this system):
/// deferred an hour, never retried into a failure; at the wait limit the migration stops
/// with its own refusal and remediation.
#[tokio::test]
async fn aws_refusing_over_its_quota_defers_too_until_the_wait_limit() {
    let f = fixture().await;
    // AWS's quota is 20: invitations sent outside this system use it up, and keep it used up.
    let mut outside = 1000;
    let fill_aws = |outside: &mut usize| {
        while f.sim.send_invitation(&account(*outside)).is_ok() {
            *outside += 1;
        }
    };
    fill_aws(&mut outside);
    let ports = with_quota(&f.ports, 50);
    let id = validated(f.store.as_ref(), 0, start()).await;
    let out = steps::invite(&ports, id).await.expect("deferred, not failed");
    assert_eq!(out.deferred_until, Some(start() + AWS_RATE_LIMIT_RETRY));
    let record = f.store.get(id).await.unwrap().unwrap();
    assert_eq!(record.invitation_wait.as_ref().map(|w| w.reason), Some(DeferralReason::AwsRateLimit));

    // Every hour again, until the limit (14 days from the first deferral): then it stops.
    let limit = start() + ports.settings.invitation_wait_limit;
    for run in 0.. {
        assert!(run < 400, "the wait is bounded");
        let due = f.store.get(id).await.unwrap().unwrap().invitation_wait.unwrap().send_at;
        f.clock.set(due);
        fill_aws(&mut outside);
        match steps::invite(&ports, id).await {
            Ok(out) => assert!(out.deferred_until.is_some_and(|t| t > due && t <= limit), "{out:?}"),
            Err(e) => {
                assert_eq!(e, StepError::InvitationRefused(Refusal::HandshakeRateLimitExceeded));
                assert_eq!(e.name(), "Migration.InvitationRefused");
                assert_eq!(due, limit, "stops exactly at the limit");
                break;
            }
        }
    }
    assert!(f.sim.invitations_to(&account(0)).is_empty());
}

/// Answers the first reservation with an error after it was made: the invite Lambda died
/// right after reserving.
struct CrashAfterReserving(std::sync::atomic::AtomicBool);

impl StoreHook for CrashAfterReserving {
    async fn before(&self, call: &StoreCall<'_>) -> Verdict<StoreError> {
        if matches!(call, StoreCall::ReserveInvitation { .. }) && !self.0.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Verdict::FailAfterEffect(StoreError::Unavailable("the function died".into()));
        }
        Verdict::Proceed
    }
}

#[tokio::test]
async fn a_retry_after_a_crash_reuses_its_slot() {
    let f = fixture().await;
    let crashing =
        Ports { store: Arc::new(HookedStore::new(f.store.clone(), CrashAfterReserving(false.into()))), ..with_quota(&f.ports, 1) };
    let id = validated(f.store.as_ref(), 0, start()).await;
    assert!(matches!(steps::invite(&crashing, id).await, Err(StepError::Transient(_))));
    // The slot was taken; the retry gets it again rather than waiting behind itself.
    let out = steps::invite(&crashing, id).await.unwrap();
    assert!(out.handshake_id.is_some(), "{out:?}");
    // And it was the only one: the next migration waits.
    let other = validated(f.store.as_ref(), 1, start()).await;
    assert!(steps::invite(&crashing, other).await.unwrap().deferred_until.is_some());
    assert_eq!(f.sim.invitations().len(), 1);
}

/// A scheduling point before every store call and every Organizations call, and after the
/// invitation: where the real adapters wait on the network.
struct Yields;

impl StoreHook for Yields {
    async fn before(&self, _: &StoreCall<'_>) -> Verdict<StoreError> {
        shuttle::future::yield_now().await;
        Verdict::Proceed
    }
}

impl OrgsHook for Yields {
    async fn before(&self, _: &OrgsCall<'_>) -> Verdict<OrgError> {
        shuttle::future::yield_now().await;
        Verdict::Proceed
    }
    async fn after(&self, call: &OrgsCall<'_>, _: bool) -> Result<(), OrgError> {
        if matches!(call, OrgsCall::InviteAccount { .. }) {
            shuttle::future::yield_now().await;
        }
        Ok(())
    }
}

/// Three migrations invite at once for two slots, and the first one's invite runs twice at
/// once (a retried Lambda overlapping its first attempt): two invitations, to two accounts,
/// the third migration waiting for the first slot to age out, nothing failed, in every
/// interleaving shuttle draws of their reservations, invitations and writes.
#[test]
fn racing_invites_never_send_more_than_the_quota_under_seeded_schedules() {
    let body = || {
        shuttle::future::block_on(async {
            let f = fixture().await;
            let ids = [
                validated(f.store.as_ref(), 0, start()).await,
                validated(f.store.as_ref(), 1, start()).await,
                validated(f.store.as_ref(), 2, start()).await,
            ];
            let ports = Ports {
                store: Arc::new(HookedStore::new(f.store.clone(), Yields)),
                orgs: Arc::new(HookedOrganizations::new(f.ports.orgs.clone(), Yields)),
                ..with_quota(&f.ports, 2)
            };
            let tasks: Vec<_> = [ids[0], ids[0], ids[1], ids[2]]
                .into_iter()
                .map(|id| {
                    let ports = ports.clone();
                    shuttle::future::spawn(async move { steps::invite(&ports, id).await })
                })
                .collect();
            for t in tasks {
                match t.await.expect("an invite completes") {
                    Ok(_) => {}
                    // The duplicate of the first lost its write to the first: the state machine
                    // retries it, and the retry reads the recorded invitation.
                    Err(StepError::Transient(_)) => {}
                    Err(e) => panic!("an invite failed: {e:?}"),
                }
            }
            let mut invited = 0;
            let mut waiting = 0;
            for id in ids {
                let out = steps::invite(&ports, id).await.expect("a retry answers");
                let record = f.store.get(id).await.unwrap().unwrap();
                match record.status {
                    Status::Invited => invited += 1,
                    Status::Validated => {
                        waiting += 1;
                        assert_eq!(out.deferred_until, Some(start() + INVITATION_WINDOW));
                    }
                    other => panic!("{id} is {other}"),
                }
            }
            assert_eq!((invited, waiting), (2, 1));
            let sent = f.sim.invitations();
            assert_eq!(sent.len(), 2, "never more than the quota: {sent:?}");
            assert!(sent[0].account_id != sent[1].account_id, "one invitation per account");
        })
    };
    let config = || {
        let mut config = shuttle::Config::new();
        config.stack_size = 1 << 20;
        config
    };
    shuttle::Runner::new(RandomScheduler::new_from_seed(20_261_202, 300), config()).run(body);
    shuttle::Runner::new(PctScheduler::new_from_seed(20_261_202, 3, 300), config()).run(body);
}
