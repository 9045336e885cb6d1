//! Executions: lambda integration, context object, waits, timeouts, idempotent start,
//! history shape and billed transitions, payload limits, substitutions.

mod common;

use std::collections::HashMap;

use asl::{Definition, Executor, StartError, Status, SystemClock, TaskError, TaskInput, TaskRegistry, VirtualClock};
use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn given_lambda_invoke_when_the_function_returns_then_the_result_is_wrapped_in_payload_for_result_selector() {
    let def = json!({"StartAt": "Validate", "States": {"Validate": {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "${ValidateArn}", "Payload.$": "$"},
        "ResultSelector": {"eligible.$": "$.Payload.eligible", "status.$": "$.StatusCode"},
        "ResultPath": "$.validation",
        "End": true
    }}});
    let subs = HashMap::from([("ValidateArn".to_string(), "arn:aws:lambda:us-east-1:123456789012:function:validate".to_string())]);
    let def = Definition::load(&def.to_string(), &subs).unwrap();
    let mut r = TaskRegistry::new();
    let s = Scripted::default();
    s.register(&mut r, "validate", vec![Ok(json!({"eligible": true}))]);
    let exec = Executor::new(def, r, VirtualClock::new(t0()));
    assert!(exec.missing_handlers().is_empty());
    let out = exec.start("v", json!({"account": "a-1"})).await.unwrap().wait().await;
    assert_eq!(out.output, Some(json!({"account": "a-1", "validation": {"eligible": true, "status": 200}})));
    assert_eq!(s.inputs(), vec![json!({"account": "a-1"})], "the handler gets the Payload");
    let ctx = &s.calls.lock().unwrap()[0].context;
    assert_eq!(ctx.key, "arn:aws:lambda:us-east-1:123456789012:function:validate");
    assert_eq!(ctx.task_token, None);
}

#[tokio::test]
async fn given_a_plain_lambda_arn_when_the_function_fails_then_its_error_name_drives_catch() {
    let arn = "arn:aws:lambda:us-east-1:123456789012:function:migrate";
    let def = json!({"StartAt": "M", "States": {
        "M": {"Type": "Task", "Resource": arn, "Next": "Ok",
              "Catch": [{"ErrorEquals": ["Migration.NotEligible"], "ResultPath": "$.why", "Next": "No"}]},
        "Ok": {"Type": "Succeed"},
        "No": {"Type": "Fail", "Error": "NotEligible"}}});
    let mut r = TaskRegistry::new();
    Scripted::default().register(&mut r, arn, vec![Ok(json!({"raw": 1})), err("Migration.NotEligible", "too young")]);
    let exec = Executor::new(load(&def), r, VirtualClock::new(t0()));
    let ok = exec.start("first", json!({})).await.unwrap().wait().await;
    assert_eq!(ok.output, Some(json!({"raw": 1})), "plain ARN results are not wrapped");
    let no = exec.start("second", json!({})).await.unwrap().wait().await;
    assert_eq!(no.states_entered(), vec!["M", "No"]);
    assert_eq!(no.error.as_deref(), Some("NotEligible"));
}

#[tokio::test]
async fn given_a_task_without_handler_when_run_then_the_execution_fails_naming_the_key_even_with_catch() {
    let def = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "End": true,
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "C"}]},
        "C": {"Type": "Succeed"}}});
    let exec = Executor::new(load(&def), TaskRegistry::new(), VirtualClock::new(t0()));
    assert_eq!(exec.missing_handlers(), vec!["arn:aws:states:::sqs:sendMessage".to_string()]);
    let out = exec.start("x", json!({})).await.unwrap().wait().await;
    assert_eq!(out.status, Status::Failed);
    assert_eq!(out.error.as_deref(), Some("States.Runtime"));
    assert!(out.cause.unwrap().contains("arn:aws:states:::sqs:sendMessage"));
}

#[tokio::test]
async fn given_context_paths_when_a_state_reads_them_then_execution_state_and_machine_fields_are_present() {
    let def = json!({"StartAt": "Wait1", "States": {
        "Wait1": {"Type": "Wait", "Seconds": 5, "Next": "Ctx"},
        "Ctx": {"Type": "Pass", "End": true, "Parameters": {
            "id.$": "$$.Execution.Id", "name.$": "$$.Execution.Name", "start.$": "$$.Execution.StartTime",
            "input.$": "$$.Execution.Input", "state.$": "$$.State.Name", "entered.$": "$$.State.EnteredTime",
            "retries.$": "$$.State.RetryCount", "sm.$": "$$.StateMachine.Id", "smName.$": "$$.StateMachine.Name"}}}});
    let opts = asl::ExecutorOptions { state_machine_name: "orders".into(), ..Default::default() };
    let exec = Executor::with_options(load(&def), TaskRegistry::new(), VirtualClock::new(t0()), opts);
    let out = exec.start("exec-42", json!({"k": 1})).await.unwrap().wait().await;
    assert_eq!(
        out.output,
        Some(json!({
            "id": "arn:aws:states:us-east-1:123456789012:execution:orders:exec-42",
            "name": "exec-42",
            "start": "2024-05-01T12:00:00.000Z",
            "input": {"k": 1},
            "state": "Ctx",
            "entered": "2024-05-01T12:00:05.000Z",
            "retries": 0,
            "sm": "arn:aws:states:us-east-1:123456789012:stateMachine:orders",
            "smName": "orders"
        }))
    );
}

#[tokio::test]
async fn given_wait_states_when_run_on_the_virtual_clock_then_time_jumps_instantly_to_each_deadline() {
    let def = json!({"StartAt": "S", "States": {
        "S": {"Type": "Wait", "Seconds": 3600, "Next": "SP"},
        "SP": {"Type": "Wait", "SecondsPath": "$.delay", "Next": "T"},
        "T": {"Type": "Wait", "Timestamp": "2024-05-01T14:00:00Z", "Next": "TP"},
        "TP": {"Type": "Wait", "TimestampPath": "$.until", "Next": "Past"},
        "Past": {"Type": "Wait", "Timestamp": "2000-01-01T00:00:00Z", "End": true}}});
    let started = std::time::Instant::now();
    let out = run(&def, TaskRegistry::new(), json!({"delay": 60, "until": "2024-05-01T15:30:00+01:00"})).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    assert_eq!(out.status, Status::Succeeded);
    assert_eq!(event_times(&out, "WaitStateExited"), vec![3600, 3660, 7200, 9000, 9000]);
}

#[tokio::test]
async fn given_a_held_virtual_clock_when_every_execution_sleeps_then_time_moves_only_when_advanced() {
    let def = json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": true}}});
    let clock = VirtualClock::new(t0());
    let hold = clock.hold();
    let exec = Executor::new(load(&def), TaskRegistry::new(), clock.clone());
    let handle = exec.start("held", json!({})).await.unwrap();
    assert!(matches!(handle.run_until_blocked().await, asl::Progress::Sleeping { .. }));
    assert_eq!(clock.now(), t0(), "held: no jump to the wait's end");
    clock.advance(std::time::Duration::from_secs(600));
    assert_eq!(clock.now(), at(600));
    assert_eq!(handle.status(), Status::Running);
    drop(hold);
    let out = handle.wait().await;
    assert_eq!(out.status, Status::Succeeded);
    assert_eq!(clock.now(), at(3600), "released: the clock jumps by itself again");
}

#[tokio::test]
async fn given_a_bad_seconds_path_when_waiting_then_the_execution_fails_with_states_runtime() {
    let def = json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "SecondsPath": "$.d", "End": true}}});
    for input in [json!({}), json!({"d": -1}), json!({"d": "5"})] {
        let out = run(&def, TaskRegistry::new(), input.clone()).await;
        assert_eq!(out.error.as_deref(), Some("States.Runtime"), "{input}");
    }
}

#[tokio::test]
async fn given_a_state_machine_timeout_when_a_wait_outlasts_it_then_the_execution_times_out() {
    let def = json!({"TimeoutSeconds": 30, "StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 60, "End": true}}});
    let out = run(&def, TaskRegistry::new(), json!({})).await;
    assert_eq!(out.status, Status::TimedOut);
    assert_eq!(event_times(&out, "ExecutionTimedOut"), vec![30]);
}

#[tokio::test]
async fn given_an_execution_name_when_started_twice_then_same_input_is_idempotent_while_running_and_refused_otherwise() {
    let def = json!({"StartAt": "Hold", "States": {"Hold": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName": "hold"}, "End": true
    }}});
    let mut registry = TaskRegistry::new();
    registry.register("hold", |_: TaskInput| std::future::pending::<Result<Value, TaskError>>());
    let exec = Executor::new(load(&def), registry, VirtualClock::new(t0()));
    let a = exec.start("same", json!({"x": 1})).await.unwrap();
    let b = exec.start("same", json!({"x": 1})).await.unwrap();
    assert_eq!(b.execution_arn(), a.execution_arn());
    assert_eq!(exec.start("same", json!({"x": 2})).await.unwrap_err(), StartError::ExecutionAlreadyExists("same".into()));
    assert_eq!(a.stop(Some("Stopped"), None).await.status, Status::Aborted);
    // Ended: refused whatever the input (AWS: "when the original execution is closed"), never run twice.
    assert_eq!(exec.start("same", json!({"x": 1})).await.unwrap_err(), StartError::ExecutionAlreadyExists("same".into()));
    assert_eq!(a.describe().event_types().iter().filter(|t| **t == "ExecutionStarted").count(), 1);
    for bad in ["", "has space", "a/b", &"x".repeat(81)] {
        assert!(matches!(exec.start(bad, json!({})).await, Err(StartError::InvalidName(_))), "{bad}");
    }
}

#[tokio::test]
async fn given_a_happy_path_when_it_ends_then_history_is_shaped_like_aws_and_transitions_are_counted() {
    let def = json!({"StartAt": "Validate", "States": {
        "Validate": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:v", "Next": "Route"},
        "Route": {"Type": "Choice", "Choices": [{"Variable": "$.ok", "BooleanEquals": true, "Next": "Pause"}], "Default": "Bad"},
        "Pause": {"Type": "Wait", "Seconds": 10, "Next": "Done"},
        "Bad": {"Type": "Fail", "Error": "Bad"},
        "Done": {"Type": "Succeed"}}});
    let mut r = TaskRegistry::new();
    Scripted::default().register(&mut r, "v", vec![Ok(json!({"ok": true}))]);
    let out = run(&def, r, json!({})).await;
    assert_eq!(
        out.event_types(),
        vec![
            "ExecutionStarted",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskStarted",
            "TaskSucceeded",
            "TaskStateExited",
            "ChoiceStateEntered",
            "ChoiceStateExited",
            "WaitStateEntered",
            "WaitStateExited",
            "SucceedStateEntered",
            "SucceedStateExited",
            "ExecutionSucceeded",
        ]
    );
    for (i, e) in out.history.iter().enumerate() {
        assert_eq!(e.id, i as u64 + 1);
        assert_eq!(e.previous_event_id, i as u64);
    }
    assert_eq!(out.transitions, 4);
    assert!(out.transitions <= 15 && out.history.len() < 300, "cost budget style assertion");
    let json = serde_json::to_value(&out.history[2]).unwrap();
    assert_eq!(json["type"], "TaskScheduled");
    assert_eq!(json["previousEventId"], 2);
    assert_eq!(json["taskScheduledEventDetails"]["resourceType"], "lambda");
    assert_eq!(out.history[1].detail_str("name"), Some("Validate"));
    assert_eq!(out.stop_date, Some(at(10)));
}

#[tokio::test]
async fn given_a_result_over_256_kib_when_the_task_returns_then_data_limit_exceeded_is_terminal() {
    let def = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "big", "End": true,
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "C"}]},
        "C": {"Type": "Succeed"}}});
    let mut r = TaskRegistry::new();
    r.register("big", |_: TaskInput| async { Ok(Value::String("x".repeat(asl::MAX_PAYLOAD_BYTES))) });
    let out = run(&def, r, json!({})).await;
    assert_eq!(out.status, Status::Failed);
    assert_eq!(out.error.as_deref(), Some("States.DataLimitExceeded"));
    let exec = Executor::new(load(&def), TaskRegistry::new(), VirtualClock::new(t0()));
    let big = json!({"s": "y".repeat(asl::MAX_PAYLOAD_BYTES)});
    assert!(matches!(exec.start("big", big).await, Err(StartError::InvalidExecutionInput(_))));
}

#[tokio::test]
async fn given_a_handler_that_panics_when_retried_then_it_is_a_task_failure() {
    let def = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "p", "End": true,
        "Retry": [{"ErrorEquals": ["States.TaskFailed"], "MaxAttempts": 1}]}}});
    let mut r = TaskRegistry::new();
    r.register("p", |_: TaskInput| async { panic!("handler bug") });
    let out = run(&def, r, json!({})).await;
    assert_eq!(out.error.as_deref(), Some("States.TaskFailed"));
    assert_eq!(out.event_types().iter().filter(|t| **t == "TaskFailed").count(), 2);
}

#[tokio::test]
async fn given_the_system_clock_when_a_short_wait_runs_then_real_time_passes() {
    let def = json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 1, "End": true}}});
    let exec = Executor::new(load(&def), TaskRegistry::new(), SystemClock);
    let started = std::time::Instant::now();
    let out = exec.start("real", json!({"a": 1})).await.unwrap().wait().await;
    assert_eq!(out.output, Some(json!({"a": 1})));
    assert!(started.elapsed() >= std::time::Duration::from_millis(950));
}

#[tokio::test]
async fn given_a_running_execution_on_the_system_clock_when_stopped_then_it_is_aborted() {
    let def = json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": true}}});
    let exec = Executor::new(load(&def), TaskRegistry::new(), SystemClock);
    let h = exec.start("long", json!({})).await.unwrap();
    let out = h.stop(None, None).await;
    assert_eq!(out.status, Status::Aborted);
    assert_eq!(h.stop(Some("again"), None).await.error, None, "stopping twice changes nothing");
}

#[tokio::test]
async fn given_parameters_with_task_token_context_when_not_a_callback_task_then_the_path_fails() {
    let def = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "r", "End": true,
        "Parameters": {"t.$": "$$.Task.Token"}}}});
    let mut r = TaskRegistry::new();
    r.register("r", |_: TaskInput| async { Err::<Value, _>(TaskError::new("never", "")) });
    let out = run(&def, r, json!({})).await;
    assert_eq!(out.error.as_deref(), Some("States.ParameterPathFailure"));
}
