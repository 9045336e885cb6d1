//! `.waitForTaskToken` tasks: resolution by an external caller, failure, timeouts and
//! heartbeats on the virtual clock.

mod common;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use asl::{Executor, Progress, Status, TaskInput, TaskRegistry, TokenError, VirtualClock};
use common::*;
use serde_json::{Value, json};

const RESOURCE: &str = "arn:aws:states:::lambda:invoke.waitForTaskToken";

fn def(task_extra: Value) -> Value {
    let mut task = json!({
        "Type": "Task",
        "Resource": RESOURCE,
        "Parameters": {"FunctionName": "approve", "Payload": {"token.$": "$$.Task.Token", "who.$": "$.who"}},
        "ResultPath": "$.approval",
        "Next": "Done"
    });
    for (k, v) in task_extra.as_object().unwrap() {
        task[k] = v.clone();
    }
    json!({"StartAt": "Approve", "States": {
        "Approve": task,
        "Done": {"Type": "Succeed"},
        "Rejected": {"Type": "Pass", "End": true}
    }})
}

/// An executor whose `approve` handler records the payloads it receives.
fn setup(task_extra: Value) -> (Executor, VirtualClock, Arc<Mutex<Vec<Value>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut r = TaskRegistry::new();
    let s = seen.clone();
    r.register("approve", move |t: TaskInput| {
        let s = s.clone();
        async move {
            assert_eq!(t.context.task_token.as_deref(), t.input["token"].as_str());
            s.lock().unwrap().push(t.input);
            Ok(json!({"StatusCode": 202}))
        }
    });
    let clock = VirtualClock::new(t0());
    (Executor::new(load(&def(task_extra)), r, clock.clone()), clock, seen)
}

async fn blocked_token(handle: &asl::ExecutionHandle) -> String {
    match handle.run_until_blocked().await {
        Progress::AwaitingToken(p) => {
            assert_eq!(p.state_name, "Approve");
            p.token
        }
        other => panic!("expected a pending token, got {other:?}"),
    }
}

#[tokio::test]
async fn given_a_waiting_task_when_the_token_succeeds_externally_then_its_output_is_the_task_result() {
    let (exec, clock, seen) = setup(json!({}));
    let handle = exec.start("ok", json!({"who": "ann"})).await.unwrap();
    let token = blocked_token(&handle).await;
    assert_eq!(seen.lock().unwrap()[0], json!({"token": token, "who": "ann"}));
    assert_eq!(handle.status(), Status::Running);
    assert_eq!(exec.pending_tasks().len(), 1);

    handle.send_task_success(&token, json!({"approved": true})).await.unwrap();
    let out = handle.wait().await;

    assert_eq!(out.status, Status::Succeeded);
    assert_eq!(out.output, Some(json!({"who": "ann", "approval": {"approved": true}})));
    assert_eq!(clock.now(), t0(), "no virtual time passed");
    assert!(out.event_types().contains(&"TaskSubmitted"));
    assert_eq!(exec.send_task_success(&token, json!({})).await, Err(TokenError::TaskClosed(token.clone())), "a token resolves once");
    assert!(matches!(exec.send_task_success("nope", json!({})).await, Err(TokenError::InvalidToken(_))));
}

#[tokio::test]
async fn given_a_waiting_task_when_the_token_fails_then_catch_receives_error_and_cause() {
    let (exec, _, _) = setup(json!({"Catch": [{"ErrorEquals": ["Approval.Rejected"], "ResultPath": "$.error", "Next": "Rejected"}]}));
    let handle = exec.start("rejected", json!({"who": "bob"})).await.unwrap();
    let token = blocked_token(&handle).await;

    handle.send_task_failure(&token, "Approval.Rejected", Some("not eligible")).await.unwrap();
    let out = handle.wait().await;

    assert_eq!(out.status, Status::Succeeded);
    assert_eq!(out.states_entered(), vec!["Approve", "Rejected"]);
    assert_eq!(out.output, Some(json!({"who": "bob", "error": {"Error": "Approval.Rejected", "Cause": "not eligible"}})));
    assert!(out.event_types().contains(&"TaskFailed"));
}

#[tokio::test]
async fn given_a_waiting_task_with_timeout_when_the_virtual_clock_passes_it_then_states_timeout() {
    let (exec, clock, _) = setup(json!({"TimeoutSeconds": 60}));
    let handle = exec.start("slow", json!({"who": "cy"})).await.unwrap();
    let token = blocked_token(&handle).await;

    clock.advance(Duration::from_secs(59));
    assert!(matches!(handle.run_until_blocked().await, Progress::AwaitingToken(_)), "not yet");
    clock.advance(Duration::from_secs(1));
    let out = handle.wait().await;

    assert_eq!(out.status, Status::Failed);
    assert_eq!(out.error.as_deref(), Some("States.Timeout"));
    assert_eq!(event_times(&out, "TaskTimedOut"), vec![60]);
    assert_eq!(handle.send_task_success(&token, json!({})).await, Err(TokenError::TaskClosed(token)));
}

#[tokio::test]
async fn given_only_token_waits_when_advancing_to_the_next_deadline_then_the_timeout_fires() {
    let (exec, clock, _) = setup(json!({"TimeoutSeconds": 300}));
    let handle = exec.start("idle", json!({"who": "d"})).await.unwrap();
    blocked_token(&handle).await;
    assert_eq!(clock.next_deadline(), Some(at(300)));
    assert_eq!(clock.advance_to_next_deadline(), Some(at(300)));
    assert_eq!(handle.wait().await.error.as_deref(), Some("States.Timeout"));
}

#[tokio::test]
async fn given_heartbeat_seconds_when_heartbeats_arrive_in_time_then_the_task_stays_alive_and_times_out_after_silence() {
    let (exec, clock, _) = setup(json!({"TimeoutSeconds": 100, "HeartbeatSeconds": 10}));
    let handle = exec.start("hb", json!({"who": "e"})).await.unwrap();
    let token = blocked_token(&handle).await;

    clock.advance(Duration::from_secs(8));
    handle.send_task_heartbeat(&token).await.unwrap(); // deadline now t+18
    clock.advance(Duration::from_secs(8)); // t+16
    assert!(matches!(handle.run_until_blocked().await, Progress::AwaitingToken(_)));
    clock.advance(Duration::from_secs(2)); // t+18
    let out = handle.wait().await;

    assert_eq!(out.status, Status::Failed);
    assert_eq!(out.error.as_deref(), Some("States.HeartbeatTimeout"));
    assert_eq!(event_times(&out, "TaskTimedOut"), vec![18]);
}

#[tokio::test]
async fn given_a_heartbeat_timeout_when_catch_matches_states_timeout_then_it_is_caught() {
    let (exec, clock, _) = setup(json!({"HeartbeatSeconds": 5,
        "Catch": [{"ErrorEquals": ["States.Timeout"], "ResultPath": "$.error", "Next": "Rejected"}]}));
    let handle = exec.start("hb2", json!({"who": "f"})).await.unwrap();
    blocked_token(&handle).await;
    clock.advance(Duration::from_secs(5));
    let out = handle.wait().await;
    assert_eq!(out.status, Status::Succeeded);
    assert_eq!(out.output.unwrap()["error"]["Error"], json!("States.HeartbeatTimeout"));
}

#[tokio::test]
async fn given_a_handler_that_resolves_its_own_token_through_callbacks_then_the_execution_continues() {
    let mut r = TaskRegistry::new();
    r.register("approve", |t: TaskInput| async move {
        let cb = t.context.callbacks.clone();
        let token = t.context.task_token.clone().unwrap();
        tokio::spawn(async move {
            cb.send_task_success(&token, json!("auto")).await.unwrap();
        });
        Ok(Value::Null)
    });
    let exec = Executor::new(load(&def(json!({}))), r, VirtualClock::new(t0()));
    let out = exec.start("auto", json!({"who": "g"})).await.unwrap().wait().await;
    assert_eq!(out.output, Some(json!({"who": "g", "approval": "auto"})));
}

/// Step Functions opens the token before it invokes the function, so a function may deliver
/// its own token before it returns. This handler delivers it the moment it is invoked, before
/// its future is first polled: the token must already be open. (It was opened after the
/// handler was spawned, and serve's billing transfer failed now and then with InvalidToken when
/// the handler, on another worker thread, was quicker.)
#[tokio::test]
async fn given_a_handler_that_delivers_its_own_token_when_invoked_then_the_token_is_already_open() {
    let mut r = TaskRegistry::new();
    r.register("approve", |t: TaskInput| {
        let token = t.context.task_token.clone().unwrap();
        // `send_task_success` resolves at its first poll: poll it here, synchronously.
        let mut delivery = std::pin::pin!(t.context.callbacks.send_task_success(&token, json!("at once")));
        let delivered = match delivery.as_mut().poll(&mut std::task::Context::from_waker(std::task::Waker::noop())) {
            std::task::Poll::Ready(r) => r.map_err(|e| e.to_string()),
            std::task::Poll::Pending => Err("pending".to_owned()),
        };
        async move {
            delivered.map_err(|e| asl::TaskError::new("Refused", e))?;
            Ok(Value::Null)
        }
    });
    let exec = Executor::new(load(&def(json!({}))), r, VirtualClock::new(t0()));
    let out = exec.start("at-once", json!({"who": "g"})).await.unwrap().wait().await;
    assert_eq!(out.output, Some(json!({"who": "g", "approval": "at once"})), "{:?}", out.cause);
}

#[tokio::test]
async fn given_a_waiting_execution_when_stopped_then_it_is_aborted_and_its_token_closed() {
    let (exec, _, _) = setup(json!({}));
    let handle = exec.start("stopme", json!({"who": "h"})).await.unwrap();
    let token = blocked_token(&handle).await;

    let out = handle.stop(Some("Operator.Cancelled"), Some("by test")).await;

    assert_eq!(out.status, Status::Aborted);
    assert_eq!(out.error.as_deref(), Some("Operator.Cancelled"));
    assert_eq!(out.event_types().last(), Some(&"ExecutionAborted"));
    assert_eq!(handle.send_task_success(&token, json!({})).await, Err(TokenError::TaskClosed(token)));
    assert!(exec.pending_tasks().is_empty());
}

#[tokio::test]
async fn given_a_handler_that_never_returns_when_timeout_elapses_then_the_task_times_out() {
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
    let started_tx = Arc::new(Mutex::new(Some(started_tx)));
    let mut r = TaskRegistry::new();
    r.register("arn:aws:lambda:us-east-1:123456789012:function:hang", move |_t: TaskInput| {
        let tx = started_tx.lock().unwrap().take();
        async move {
            if let Some(tx) = tx {
                let _ = tx.send(());
            }
            std::future::pending::<()>().await;
            Ok(Value::Null)
        }
    });
    let def = json!({"StartAt": "T", "States": {"T": {"Type": "Task",
        "Resource": "arn:aws:lambda:us-east-1:123456789012:function:hang", "TimeoutSeconds": 30, "End": true}}});
    let clock = VirtualClock::new(t0());
    let exec = Executor::new(load(&def), r, clock.clone());
    let handle = exec.start("hang", json!({})).await.unwrap();
    started_rx.await.unwrap();
    clock.advance(Duration::from_secs(30));
    let out = handle.wait().await;
    assert_eq!(out.error.as_deref(), Some("States.Timeout"));
    assert_eq!(event_times(&out, "TaskTimedOut"), vec![30]);
}
