//! The functions' handlers on their event fixtures (the files `cargo lambda invoke
//! --data-file` uses), over the in-memory adapters.

use functions_runtime::events::EventError;
use functions_runtime::{Config, StepFailure, WatcherEvent, parse_watcher_event, scan_handler, step_handler, watcher_handler};
use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use migration::error::StoreError;
use migration::ports::MigrationStore;
use migration::record::WorkQueue;
use migration::request::AccessLevel;
use migration::workflow::Step;
use migration::{MigrationId, Status, steps};
use migration_sim::fixtures::{self, Fixture};
use migration_sim::hooks::{HookedStore, StoreCall, StoreHook, Verdict};
use migration_sim::{ManualClock, RecordingExecutions};
use serde_json::{Value, json};

mod common;
use common::{event, fixture, start};

/// A fixture payload pointed at a real migration.
fn for_migration(mut payload: Value, id: MigrationId) -> Value {
    payload["migration_id"] = Value::String(id.to_string());
    payload
}

async fn world() -> (Fixture<ManualClock>, std::sync::Arc<RecordingExecutions>, MigrationId) {
    let (f, recorder) = Fixture::with_recorder(start()).await;
    let id = steps::create_migration(&f.ports, &fixtures::admin(), &fixtures::request(AccessLevel::FullHardening), None)
        .await
        .unwrap()
        .record
        .id;
    (f, recorder, id)
}

/// The migration validated, invited and joined, its account on Business Support.
async fn until_joined(f: &Fixture<ManualClock>, id: MigrationId) {
    f.sim.set_support_plan(&fixtures::account(), migration_sim::SimSupportPlan::Business).unwrap();
    steps::validate(&f.ports, id).await.unwrap();
    steps::invite(&f.ports, id).await.unwrap();
    f.sim.accept(&f.store.get(id).await.unwrap().unwrap().handshake.unwrap().id).unwrap();
    steps::account_joined(&f.ports, &fixtures::account()).await.unwrap();
}

/// An invocation context with 15 minutes left before its deadline.
fn with_time_left() -> Context {
    let mut context = Context::default();
    context.deadline = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap() + 900_000;
    context
}

#[tokio::test]
async fn step_fixtures_drive_the_steps() {
    let (f, _, id) = world().await;
    step_handler(&f.ports, Step::Validate, event(for_migration(fixture("validate", "step.json"), id))).await.unwrap();
    let out = step_handler(&f.ports, Step::Invite, event(for_migration(fixture("invite", "step.json"), id))).await.unwrap();
    assert_eq!(out["already_member"], false);
    step_handler(&f.ports, Step::WaitForHandshake, event(for_migration(fixture("wait-for-handshake", "step.json"), id))).await.unwrap();
    let record = f.store.get(id).await.unwrap().unwrap();
    assert_eq!(record.status, Status::Invited);
    assert_eq!(record.task_token.unwrap().expose(), "AQCEAAAAKgAAAAMAAAAAAAAAAexampletoken");

    let out = step_handler(&f.ports, Step::RecordFailure, event(for_migration(fixture("record-failure", "caught-decline.json"), id)))
        .await
        .unwrap();
    assert_eq!(out["error"], "Migration.InvitationDeclined");
    assert_eq!(f.store.get(id).await.unwrap().unwrap().status, Status::InvitationDeclined);
}

#[tokio::test]
async fn a_lambda_crash_is_recorded_as_a_plain_failure() {
    let (f, _, id) = world().await;
    let out = step_handler(&f.ports, Step::RecordFailure, event(for_migration(fixture("record-failure", "caught-lambda-crash.json"), id)))
        .await
        .unwrap();
    assert_eq!(out["error"], "Migration.Failed");
    assert_eq!(f.store.get(id).await.unwrap().unwrap().status, Status::Failed);
}

#[tokio::test]
async fn errors_become_diagnostics_named_as_the_state_machine_matches() {
    let (f, _, _) = world().await;
    let missing = step_handler(&f.ports, Step::Validate, event(fixture("validate", "step.json"))).await.unwrap_err();
    let d = Diagnostic::from(missing);
    assert_eq!(d.error_type, "Migration.NotFound");

    let mut bad = fixture("wait-for-handshake", "step.json");
    bad["migration_id"] = Value::from(42);
    let err: StepFailure = step_handler(&f.ports, Step::WaitForHandshake, event(bad)).await.unwrap_err();
    let d = Diagnostic::from(err);
    assert_eq!(d.error_type, "Migration.BadInput");
    assert!(!d.error_message.contains("AQCEAAAA"), "a task token never reaches an error message");
}

#[test]
fn watcher_events_parse_in_both_spellings() {
    let expected = WatcherEvent::AccountJoined { account_id: fixtures::account() };
    assert_eq!(parse_watcher_event(&fixture("handshake-watcher", "account-joined.json")), Ok(expected.clone()));
    assert_eq!(parse_watcher_event(&fixture("handshake-watcher", "account-joined-older-spelling.json")), Ok(expected.clone()));
    // A direct transfer from another organization: `AWS API Call via CloudTrail`, accepted
    // by the joining account's root user (its id in userIdentity too), joinedMethod INVITED.
    let direct = fixture("handshake-watcher", "account-joined-direct-transfer.json");
    assert_eq!(direct["detail-type"], "AWS API Call via CloudTrail");
    assert_eq!(parse_watcher_event(&direct), Ok(expected.clone()));
    // The API-call spelling may name the member in its response elements only; the
    // identity that accepted (another account here) is never taken for it.
    let mut in_response = direct.clone();
    in_response["detail"]["serviceEventDetails"] = Value::Null;
    in_response["detail"]["userIdentity"]["accountId"] = Value::from("222222222222");
    in_response["detail"]["responseElements"] = serde_json::json!({"account": {"accountId": fixtures::ACCOUNT, "joinedMethod": "INVITED"}});
    assert_eq!(parse_watcher_event(&in_response), Ok(expected));
    assert_eq!(parse_watcher_event(&fixture("handshake-watcher", "scheduled.json")), Ok(WatcherEvent::Scheduled));
    assert_eq!(parse_watcher_event(&fixture("hardening-scan", "scheduled.json")), Ok(WatcherEvent::Scheduled));
}

#[test]
fn watcher_refuses_events_it_does_not_handle() {
    let mut other = fixture("handshake-watcher", "account-joined.json");
    other["detail"]["eventName"] = Value::from("CreateAccountResult");
    assert!(matches!(parse_watcher_event(&other), Err(EventError::Unexpected { .. })));
    let mut no_member = fixture("handshake-watcher", "account-joined.json");
    no_member["detail"]["serviceEventDetails"] = serde_json::json!({});
    assert_eq!(parse_watcher_event(&no_member), Err(EventError::NoAccountId));
    let mut two = fixture("handshake-watcher", "account-joined.json");
    two["detail"]["serviceEventDetails"]["extra"] = serde_json::json!({"accountId": "111111111111"});
    assert!(matches!(parse_watcher_event(&two), Err(EventError::AmbiguousAccountId(_))));
}

#[tokio::test]
async fn watcher_resolves_the_joined_account_from_the_event() {
    let (f, recorder, id) = world().await;
    steps::validate(&f.ports, id).await.unwrap();
    steps::invite(&f.ports, id).await.unwrap();
    steps::wait_for_handshake(&f.ports, id, migration::TaskToken::new("tok")).await.unwrap();
    let handshake = f.store.get(id).await.unwrap().unwrap().handshake.unwrap().id;
    f.sim.accept(&handshake).unwrap();

    let out = watcher_handler(&f.ports, event(fixture("handshake-watcher", "account-joined.json"))).await.unwrap();
    assert_eq!(out["resolved"], id.to_string());
    assert_eq!(f.store.get(id).await.unwrap().unwrap().status, Status::Joined);
    assert_eq!(recorder.token_outcomes().len(), 1);
}

#[tokio::test]
async fn scheduled_watcher_starts_unstarted_executions() {
    let (f, recorder, id) = world().await;
    f.clock.advance(chrono::Duration::minutes(6));
    let out = watcher_handler(&f.ports, event(fixture("handshake-watcher", "scheduled.json"))).await.unwrap();
    assert_eq!((out["started"].clone(), out["ended"].clone()), (json!(1), json!(0)));
    assert_eq!(recorder.start_calls(), 2, "once by the API, once by the sweep");
    assert_eq!(recorder.started(), vec![id]);
}

#[tokio::test]
async fn scheduled_watcher_fails_a_record_whose_execution_ended_before_it_started() {
    let (f, recorder, id) = world().await;
    recorder.end(id, migration::ports::ExecutionStatus::Aborted);
    f.clock.advance(chrono::Duration::minutes(6));
    let out = watcher_handler(&f.ports, event(fixture("handshake-watcher", "scheduled.json"))).await.unwrap();
    assert_eq!((out["started"].clone(), out["ended"].clone()), (json!(0), json!(1)));
    assert_eq!(f.store.get(id).await.unwrap().unwrap().status, Status::Failed);
}

#[tokio::test]
async fn scan_works_only_while_time_remains() {
    let (f, _, id) = world().await;
    until_joined(&f, id).await;
    steps::check_support(&f.ports, id).await.unwrap();
    steps::schedule_hardening(&f.ports, id).await.unwrap();

    // The invocation's deadline has passed: the job is left for the next run.
    let out = scan_handler(&f.ports, event(fixture("hardening-scan", "scheduled.json"))).await.unwrap();
    assert_eq!((out["examined"].as_u64(), out["deferred"].as_u64()), (Some(0), Some(1)));
    assert_eq!(f.store.get(id).await.unwrap().unwrap().status, Status::HardeningScheduled);

    let context = with_time_left();
    let out = scan_handler(&f.ports, LambdaEvent::new(fixture("hardening-scan", "scheduled.json"), context)).await.unwrap();
    assert_eq!(out["completed"], 1);
    assert_eq!(f.store.get(id).await.unwrap().unwrap().status, Status::Hardened);
}

/// A run that cannot show the Onboarding OU to carry the guardrail moves no account into
/// it and reports itself failed, naming the OU, so the function's alarm fires.
#[tokio::test]
async fn a_scan_whose_baseline_ous_cannot_be_verified_fails_and_moves_nothing() {
    let (f, _, id) = world().await;
    until_joined(&f, id).await;
    f.sim.deny("AttachPolicy");

    let context = with_time_left();
    let err = scan_handler(&f.ports, LambdaEvent::new(fixture("hardening-scan", "scheduled.json"), context)).await.unwrap_err();
    let diagnostic = Diagnostic::from(err);
    assert_eq!(diagnostic.error_type, "Migration.Internal");
    assert!(diagnostic.error_message.contains(&f.ports.settings.onboarding_ou_id), "{}", diagnostic.error_message);
    assert_eq!(f.sim.member_view(&fixtures::account()).unwrap().0, migration_sim::ROOT_ID, "not moved");
}

#[test]
fn config_names_what_is_missing() {
    let err = Config::from_lookup(|_| None).unwrap_err();
    assert_eq!(err.to_string(), "environment variable TABLE_NAME is not set");
}

#[tokio::test]
async fn a_timed_out_execution_fails_its_active_migration_and_frees_the_account() {
    let (f, _, id) = world().await;
    step_handler(&f.ports, Step::Validate, event(for_migration(fixture("validate", "step.json"), id))).await.unwrap();
    step_handler(&f.ports, Step::Invite, event(for_migration(fixture("invite", "step.json"), id))).await.unwrap();
    let mut timed_out = fixture("handshake-watcher", "execution-timed-out.json");
    assert_eq!(
        parse_watcher_event(&timed_out),
        Ok(WatcherEvent::ExecutionTimedOut { migration_id: "01JNK4Q6X1V8W5Z2Y3A4B5C6D7".parse().unwrap() })
    );
    timed_out["detail"]["name"] = Value::String(id.to_string());
    let out = watcher_handler(&f.ports, event(timed_out.clone())).await.unwrap();
    assert_eq!(out["recorded"], true);
    let record = f.store.get(id).await.unwrap().unwrap();
    assert_eq!(record.status, Status::Failed);
    assert!(record.failure.as_ref().unwrap().cause.contains("TIMED_OUT"), "{:?}", record.failure);
    assert_eq!(f.store.lock_holder(&record.aws_account_id).await.unwrap(), None, "the account is released");
    // A second delivery (EventBridge delivers at least once) changes nothing.
    let history = f.store.history(id).await.unwrap().len();
    let again = watcher_handler(&f.ports, event(timed_out)).await.unwrap();
    assert_eq!(again["recorded"], false);
    assert_eq!(f.store.history(id).await.unwrap().len(), history);
}

#[tokio::test]
async fn other_execution_status_changes_are_not_the_watchers() {
    let mut succeeded = fixture("handshake-watcher", "execution-timed-out.json");
    succeeded["detail"]["status"] = json!("SUCCEEDED");
    assert!(matches!(parse_watcher_event(&succeeded), Err(EventError::NotAMigrationTimeout(_))));
    let mut foreign = fixture("handshake-watcher", "execution-timed-out.json");
    foreign["detail"]["name"] = json!("someone-elses-execution");
    assert!(matches!(parse_watcher_event(&foreign), Err(EventError::NotAMigrationTimeout(_))));
    // An execution of no migration (started by hand with a ULID name) records nothing.
    let (f, _, _) = world().await;
    let unknown = fixture("handshake-watcher", "execution-timed-out.json");
    assert_eq!(watcher_handler(&f.ports, event(unknown)).await.unwrap()["recorded"], false);
}

/// Listing the unstarted queue fails (an outage of that one query); every other call works.
struct UnstartedQueueDown;

impl StoreHook for UnstartedQueueDown {
    async fn before(&self, call: &StoreCall<'_>) -> Verdict<StoreError> {
        match call {
            StoreCall::Due { queue: WorkQueue::Unstarted, .. } => {
                Verdict::Fail(StoreError::Unavailable("the unstarted queue is down (test)".into()))
            }
            _ => Verdict::Proceed,
        }
    }
}

/// A failure of the unstarted sweep used to end the scheduled run before the handshake
/// sweep (`?`), so declines, expiries and missed joins waited for everyone: both run now,
/// and the invocation still reports the failure.
#[tokio::test]
async fn the_handshake_sweep_runs_even_when_the_unstarted_sweep_fails() {
    let (f, recorder, id) = world().await;
    step_handler(&f.ports, Step::Validate, event(for_migration(fixture("validate", "step.json"), id))).await.unwrap();
    step_handler(&f.ports, Step::Invite, event(for_migration(fixture("invite", "step.json"), id))).await.unwrap();
    let payload = json!({ "migration_id": id.to_string(), "task_token": "token-for-the-sweep" });
    step_handler(&f.ports, Step::WaitForHandshake, event(payload)).await.unwrap();
    let handshake = f.store.get(id).await.unwrap().unwrap().handshake.expect("invited").id;
    f.sim.decline(&handshake).unwrap();
    f.clock.advance(chrono::Duration::hours(1));

    let ports =
        migration::Ports { store: std::sync::Arc::new(HookedStore::new(f.ports.store.clone(), UnstartedQueueDown)), ..f.ports.clone() };
    let out = watcher_handler(&ports, event(fixture("handshake-watcher", "scheduled.json"))).await;
    let failure = out.expect_err("the unstarted sweep's failure fails the invocation");
    assert_eq!(Diagnostic::from(failure).error_type, "Migration.Transient");
    let token = migration::TaskToken::new("token-for-the-sweep".to_owned());
    assert!(recorder.outcome_for(&token).is_some(), "the decline was delivered to the waiting execution all the same");
}
