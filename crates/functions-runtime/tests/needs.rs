//! Each function's declared needs: enough for every path of its handler (a whole migration
//! with each function given only the ports it declares, over the simulator), refused
//! otherwise, and matched by the cargo features its Cargo.toml enables.

use chrono::Utc;
use functions_runtime::{Function, Needs, only, scan_handler, step_handler, watcher_handler};
use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use migration::ports::{MigrationStore, Ports};
use migration::request::AccessLevel;
use migration::rules::Caller;
use migration::workflow::Step;
use migration::{MigrationId, Status, steps};
use migration_sim::fixtures::{self, Fixture};
use migration_sim::{ManualClock, SimSupportPlan};
use serde_json::{Value, json};

mod common;
use common::{event, fixture, start};

fn ports_of(f: &Fixture<ManualClock>, function: Function) -> Ports {
    only(f.ports.clone(), function.needs())
}

async fn step(f: &Fixture<ManualClock>, step: Step, payload: Value) -> Value {
    step_handler(&ports_of(f, Function::of_step(step)), step, event(payload)).await.unwrap_or_else(|e| panic!("{step:?}: {e:?}"))
}

fn admin() -> Caller {
    fixtures::admin()
}

#[tokio::test]
async fn a_whole_migration_runs_with_each_function_given_only_its_needs() {
    let (f, _) = Fixture::with_recorder(start()).await;
    f.sim.set_support_plan(&fixtures::account(), SimSupportPlan::Business).unwrap();
    let api = ports_of(&f, Function::Api);
    let id = steps::create_migration(&api, &admin(), &fixtures::request(AccessLevel::FullHardening), None).await.unwrap().record.id;
    let input = json!({ "migration_id": id.to_string() });

    step(&f, Step::Validate, input.clone()).await;
    step(&f, Step::Invite, input.clone()).await;
    step(&f, Step::WaitForHandshake, json!({ "migration_id": id.to_string(), "task_token": "tok" })).await;
    let handshake = f.store.get(id).await.unwrap().unwrap().handshake.unwrap().id;
    f.sim.accept(&handshake).unwrap();
    let watcher = ports_of(&f, Function::HandshakeWatcher);
    let out = watcher_handler(&watcher, event(fixture("handshake-watcher", "account-joined.json"))).await.unwrap();
    assert_eq!(out["resolved"], id.to_string());
    step(&f, Step::CheckSupport, input.clone()).await;
    step(&f, Step::ScheduleHardening, input.clone()).await;

    let mut context = Context::default();
    context.deadline = u64::try_from(Utc::now().timestamp_millis()).unwrap() + 900_000;
    let scan = ports_of(&f, Function::HardeningScan);
    let out = scan_handler(&scan, LambdaEvent::new(fixture("hardening-scan", "scheduled.json"), context)).await.unwrap();
    assert_eq!(out["completed"], 1, "{out}");
    assert_eq!(f.store.get(id).await.unwrap().unwrap().status, Status::Hardened);

    // The sweeps, and the paths that end a migration.
    let out = watcher_handler(&watcher, event(fixture("handshake-watcher", "scheduled.json"))).await.unwrap();
    assert_eq!(out["failed"], 0, "{out}");
}

#[tokio::test]
async fn cancel_and_failure_paths_run_with_only_their_needs() {
    let (f, _) = Fixture::with_recorder(start()).await;
    let api = ports_of(&f, Function::Api);
    let id = steps::create_migration(&api, &admin(), &fixtures::request(AccessLevel::FullHardening), None).await.unwrap().record.id;
    let input = json!({ "migration_id": id.to_string() });
    step(&f, Step::Validate, input.clone()).await;
    step(&f, Step::Invite, input).await;
    let canceled = steps::cancel_migration(&api, &admin(), id).await.unwrap();
    assert_eq!(canceled.status, Status::Canceled);

    let (f, _) = Fixture::with_recorder(start()).await;
    let api = ports_of(&f, Function::Api);
    let id = steps::create_migration(&api, &admin(), &fixtures::request(AccessLevel::FullHardening), None).await.unwrap().record.id;
    let mut failure = fixture("record-failure", "caught-decline.json");
    failure["migration_id"] = Value::String(id.to_string());
    let out = step(&f, Step::RecordFailure, failure).await;
    assert_eq!(out["error"], "Migration.InvitationDeclined");

    let mut timed_out = fixture("handshake-watcher", "execution-timed-out.json");
    timed_out["detail"]["name"] = Value::String(id.to_string());
    let watcher = ports_of(&f, Function::HandshakeWatcher);
    assert_eq!(watcher_handler(&watcher, event(timed_out)).await.unwrap()["recorded"], false, "already failed");
}

#[tokio::test]
async fn a_port_a_function_does_not_need_refuses_its_calls() {
    let (f, _) = Fixture::with_recorder(start()).await;
    let id: MigrationId =
        steps::create_migration(&f.ports, &admin(), &fixtures::request(AccessLevel::FullHardening), None).await.unwrap().record.id;
    let input = json!({ "migration_id": id.to_string() });
    step_handler(&f.ports, Step::Validate, event(input.clone())).await.unwrap();

    // Invite's step with record-failure's ports: the Organizations port refuses.
    let err = step_handler(&ports_of(&f, Function::Step(Step::RecordFailure)), Step::Invite, event(input)).await.unwrap_err();
    let d = Diagnostic::from(err);
    assert_eq!(d.error_type, "Migration.Internal", "a permanent failure, not a retry");
    assert!(d.error_message.contains("the Organizations port is not configured in this function"), "{}", d.error_message);
    assert_eq!(f.store.get(id).await.unwrap().unwrap().status, Status::Validated, "nothing changed");
    assert_eq!(f.sim.calls("DescribeAccount"), 0, "no call reached AWS");

    let none = only(f.ports.clone(), Needs::NOTHING);
    let err = steps::validate(&none, id).await.unwrap_err();
    assert!(err.to_string().contains("the store is not configured in this function"), "{err}");
}

#[test]
fn every_function_enables_the_features_of_its_needs_and_no_other() {
    for function in Function::ALL {
        let needs = function.needs();
        let features = function.features();
        for (needed, feature) in
            [(needs.organizations, "organizations"), (needs.customer_access, "sts"), (needs.support, "support"), (needs.executions, "sfn")]
        {
            assert!(!needed || features.contains(&feature), "{function:?} needs the `{feature}` feature");
        }
        assert!(needs.store, "{function:?}: every function reads the table");

        let manifest = std::fs::read_to_string(format!("{}/../../functions/{}/Cargo.toml", env!("CARGO_MANIFEST_DIR"), function.name()))
            .unwrap_or_else(|e| panic!("{function:?}: {e}"));
        let line = manifest.lines().find(|l| l.starts_with("functions-runtime = ")).expect("depends on functions-runtime");
        let listed = line.split("features = [").nth(1).and_then(|rest| rest.split(']').next()).unwrap_or_else(|| panic!("{line}"));
        let listed: Vec<&str> = listed.split(',').map(|f| f.trim().trim_matches('"')).filter(|f| !f.is_empty()).collect();
        assert!(line.contains("default-features = false"), "{function:?} must not link every SDK: {line}");
        assert_eq!(listed, features, "functions/{}/Cargo.toml", function.name());
    }
}

#[test]
fn the_scan_takes_its_schedule_and_nothing_else() {
    use functions_runtime::events::EventError;
    use functions_runtime::parse_scan_event;

    assert_eq!(parse_scan_event(&fixture("hardening-scan", "scheduled.json")), Ok(()));
    assert!(matches!(parse_scan_event(&fixture("handshake-watcher", "account-joined.json")), Err(EventError::Unexpected { .. })));
    assert!(matches!(parse_scan_event(&json!({})), Err(EventError::NotEventBridge(_))));
    assert!(matches!(functions_runtime::parse_watcher_event(&json!({"source": "aws.events"})), Err(EventError::NotEventBridge(_))));
}
