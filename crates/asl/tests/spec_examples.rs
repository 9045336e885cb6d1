//! Behaviour checked against the examples of the Amazon States Language specification
//! (https://states-language.net/spec.html): paths, input/output processing, Choice rules,
//! Retry/Catch ordering and timing, error names.

mod common;

use asl::{Definition, Executor, Status, TaskRegistry, VirtualClock};
use common::*;
use serde_json::{Value, json};
use std::collections::HashMap;

fn task_def(task: Value) -> Value {
    let mut t = task;
    t["Type"] = json!("Task");
    if t.get("Resource").is_none() {
        t["Resource"] = json!("arn:aws:states:us-east-1:123456789012:task:X");
    }
    if t.get("Next").is_none() {
        t["End"] = json!(true);
    }
    json!({"StartAt": "X", "States": {"X": t,
        "Recovered": {"Type": "Pass", "End": true},
        "Z": {"Type": "Pass", "End": true}}})
}

fn registry_returning(result: Value) -> (TaskRegistry, Scripted) {
    let mut r = TaskRegistry::new();
    let s = Scripted::default();
    s.register(&mut r, "arn:aws:states:us-east-1:123456789012:task:X", vec![Ok(result)]);
    (r, s)
}

#[tokio::test]
async fn given_the_spec_path_example_when_paths_select_then_values_are_returned() {
    // Spec "Paths": {"foo": 123, "bar": ["a", "b", "c"], "car": {"cdr": true}}
    let input = json!({"foo": 123, "bar": ["a", "b", "c"], "car": {"cdr": true}});
    let table = [
        ("$.foo", json!(123)),
        ("$.bar", json!(["a", "b", "c"])),
        ("$.car.cdr", json!(true)),
        ("$", input.clone()),
        ("$.bar[1]", json!("b")),
        ("$.bar[*]", json!(["a", "b", "c"])),
    ];
    for (path, want) in table {
        let def = json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "InputPath": path, "End": true}}});
        let out = run(&def, TaskRegistry::new(), input.clone()).await;
        assert_eq!(out.output, Some(want), "{path}");
    }
}

#[tokio::test]
async fn given_the_spec_numbers_example_when_inputpath_resultpath_outputpath_apply_then_the_sum_is_merged() {
    // Spec "InputPath, ResultPath and OutputPath": InputPath $.numbers, ResultPath $.sum.
    let def = task_def(json!({"InputPath": "$.numbers", "ResultPath": "$.sum", "OutputPath": "$"}));
    let mut r = TaskRegistry::new();
    r.register("arn:aws:states:us-east-1:123456789012:task:X", |t: asl::TaskInput| async move {
        let n = &t.input;
        Ok(json!(n["val1"].as_i64().unwrap() + n["val2"].as_i64().unwrap()))
    });
    let input = json!({"title": "Numbers to add", "numbers": {"val1": 3, "val2": 4}});
    let out = run(&def, r, input).await;
    assert_eq!(out.output, Some(json!({"title": "Numbers to add", "numbers": {"val1": 3, "val2": 4}, "sum": 7})));
}

#[tokio::test]
async fn given_master_detail_inputs_when_result_path_varies_then_the_result_lands_where_documented() {
    let input = json!({"master": {"detail": [1, 2, 3]}});
    // (InputPath, ResultPath, OutputPath) -> output; the task returns the sum of what it gets.
    let table: Vec<(Value, Value, Value, Result<Value, &str>)> = vec![
        (json!("$.master.detail"), json!("$.master.sum"), json!("$"), Ok(json!({"master": {"detail": [1, 2, 3], "sum": 6}}))),
        (json!("$.master.detail"), json!("$.master.detail"), json!("$"), Ok(json!({"master": {"detail": 6}}))),
        (json!("$.master.detail"), json!("$"), json!("$"), Ok(json!(6))),
        (json!("$.master.detail"), Value::Null, json!("$"), Ok(input.clone())),
        (json!("$.master.detail"), json!("$.master.sum"), json!("$.master"), Ok(json!({"detail": [1, 2, 3], "sum": 6}))),
        (json!("$.master.detail"), json!("$.result.deep.sum"), json!("$.result"), Ok(json!({"deep": {"sum": 6}}))),
        (json!("$.master.detail"), json!("$.master.sum"), Value::Null, Ok(json!({}))),
        // writing below a scalar never replaces it
        (json!("$.master.detail"), json!("$.master.detail.sum"), json!("$"), Err("States.ResultPathMatchFailure")),
    ];
    for (ip, rp, op, want) in table {
        let def = task_def(json!({"InputPath": ip, "ResultPath": rp, "OutputPath": op}));
        let mut r = TaskRegistry::new();
        r.register("arn:aws:states:us-east-1:123456789012:task:X", |t: asl::TaskInput| async move {
            Ok(json!(t.input.as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).sum::<i64>()))
        });
        let out = run(&def, r, input.clone()).await;
        match want {
            Ok(v) => assert_eq!(out.output, Some(v), "{ip} {rp} {op}"),
            Err(e) => {
                assert_eq!(out.status, Status::Failed, "{ip} {rp} {op}");
                assert_eq!(out.error.as_deref(), Some(e));
            }
        }
    }
}

#[tokio::test]
async fn given_the_spec_parameters_example_when_dollar_fields_are_resolved_then_the_task_gets_the_built_input() {
    // Spec "Parameters": {"flagged": 7, "vals": [0, 10, 20, 30, 40, 50]}
    let def = task_def(json!({"Parameters": {"flagged": true, "parts": {"first.$": "$.vals[0]", "last3.$": "$.vals[-3:]"}}}));
    let (r, s) = registry_returning(json!("ok"));
    let out = run(&def, r, json!({"flagged": 7, "vals": [0, 10, 20, 30, 40, 50]})).await;
    assert_eq!(out.status, Status::Succeeded);
    assert_eq!(s.inputs(), vec![json!({"flagged": true, "parts": {"first": 0, "last3": [30, 40, 50]}})]);
}

#[tokio::test]
async fn given_the_spec_result_selector_example_when_the_task_returns_then_only_selected_fields_are_kept() {
    let def = task_def(json!({
        "ResultSelector": {"ClusterId.$": "$.output.ClusterId", "ResourceType.$": "$.resourceType"},
        "ResultPath": "$.EMROutput"
    }));
    let (r, _) = registry_returning(json!({
        "resourceType": "elasticmapreduce",
        "resource": "createCluster.sync",
        "output": {"SdkHttpMetadata": {"HttpStatusCode": 200}, "ClusterId": "AKIAIOSFODNN7EXAMPLE"}
    }));
    let out = run(&def, r, json!({"cluster": "c1"})).await;
    assert_eq!(
        out.output,
        Some(json!({"cluster": "c1", "EMROutput": {"ClusterId": "AKIAIOSFODNN7EXAMPLE", "ResourceType": "elasticmapreduce"}}))
    );
}

#[tokio::test]
async fn given_the_spec_pass_example_when_result_is_written_at_result_path_then_input_is_merged() {
    // Spec "Pass State": Result x-datum/y-datum at ResultPath $.coords
    let def = json!({"StartAt": "No-op", "States": {"No-op": {
        "Type": "Pass",
        "Result": {"x-datum": 0.381018, "y-datum": 622.2269926397355},
        "ResultPath": "$.coords",
        "End": true
    }}});
    let out = run(&def, TaskRegistry::new(), json!({"georefOf": "Home"})).await;
    assert_eq!(out.output, Some(json!({"georefOf": "Home", "coords": {"x-datum": 0.381018, "y-datum": 622.2269926397355}})));
}

#[tokio::test]
async fn given_null_and_absent_paths_when_processed_then_null_yields_empty_object_or_discards() {
    let input = json!({"a": 1, "n": null});
    // (state fields, expected output)
    let table = [
        (json!({"InputPath": null}), json!({})),
        (json!({"OutputPath": null}), json!({})),
        (json!({"Result": 5, "ResultPath": null}), input.clone()),
        (json!({"Result": 5}), json!(5)),
        (json!({"Parameters": {"v.$": "$.n"}}), json!({"v": null})),
        (json!({"InputPath": "$.n"}), Value::Null),
    ];
    for (fields, want) in table {
        let mut st = fields.clone();
        st["Type"] = json!("Pass");
        st["End"] = json!(true);
        let def = json!({"StartAt": "P", "States": {"P": st}});
        let out = run(&def, TaskRegistry::new(), input.clone()).await;
        assert_eq!(out.output, Some(want), "{fields}");
    }
    // An absent field is an error: Parameters -> ParameterPathFailure, InputPath -> Runtime.
    for (fields, error) in [
        (json!({"Parameters": {"v.$": "$.absent"}}), "States.ParameterPathFailure"),
        (json!({"InputPath": "$.absent"}), "States.Runtime"),
        (json!({"OutputPath": "$.absent"}), "States.Runtime"),
    ] {
        let mut st = fields.clone();
        st["Type"] = json!("Pass");
        st["End"] = json!(true);
        let def = json!({"StartAt": "P", "States": {"P": st}});
        let out = run(&def, TaskRegistry::new(), input.clone()).await;
        assert_eq!(out.status, Status::Failed, "{fields}");
        assert_eq!(out.error.as_deref(), Some(error), "{fields}");
    }
}

fn spec_choice_def() -> Value {
    // Spec "Choice State" example.
    let end = |name: &str| (name.to_string(), json!({"Type": "Pass", "Result": name, "End": true}));
    let mut states: serde_json::Map<String, Value> =
        ["Public", "ValueInTwenties", "StartAudit", "RecordEvent"].iter().map(|n| end(n)).collect();
    states.insert(
        "ChoiceStateX".into(),
        json!({
            "Type": "Choice",
            "Choices": [
                {"Not": {"Variable": "$.type", "StringEquals": "Private"}, "Next": "Public"},
                {"And": [
                    {"Variable": "$.value", "IsPresent": true},
                    {"Variable": "$.value", "IsNumeric": true},
                    {"Variable": "$.value", "NumericGreaterThanEquals": 20},
                    {"Variable": "$.value", "NumericLessThan": 30}
                ], "Next": "ValueInTwenties"},
                {"Or": [
                    {"Variable": "$.rating", "NumericGreaterThanPath": "$.auditThreshold"},
                    {"Variable": "$.forceAudit", "BooleanEquals": true}
                ], "Next": "StartAudit"}
            ],
            "Default": "RecordEvent"
        }),
    );
    json!({"StartAt": "ChoiceStateX", "States": states})
}

#[tokio::test]
async fn given_the_spec_choice_example_when_inputs_vary_then_the_first_matching_rule_wins() {
    let table = [
        (json!({"type": "Public"}), "Public"),
        (json!({"type": "Private", "value": 20}), "ValueInTwenties"),
        (json!({"type": "Private", "value": 29.9}), "ValueInTwenties"),
        (json!({"type": "Private", "value": 30, "rating": 5, "auditThreshold": 4}), "StartAudit"),
        (json!({"type": "Private", "value": "25", "rating": 5, "auditThreshold": 4}), "StartAudit"),
        (json!({"type": "Private", "value": 19, "rating": 4, "auditThreshold": 4, "forceAudit": true}), "StartAudit"),
        (json!({"type": "Private", "rating": 1, "auditThreshold": 4, "forceAudit": false}), "RecordEvent"),
    ];
    for (input, want) in table {
        let out = run(&spec_choice_def(), TaskRegistry::new(), input.clone()).await;
        assert_eq!(out.output, Some(json!(want)), "{input}");
        assert_eq!(out.states_entered(), vec!["ChoiceStateX", want]);
    }
}

#[tokio::test]
async fn given_no_rule_matches_and_no_default_when_choosing_then_states_no_choice_matched() {
    let def = json!({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.x", "NumericEquals": 1, "Next": "A"}]},
        "A": {"Type": "Succeed"}}});
    let out = run(&def, TaskRegistry::new(), json!({"x": 2})).await;
    assert_eq!(out.status, Status::Failed);
    assert_eq!(out.error.as_deref(), Some("States.NoChoiceMatched"));
}

#[tokio::test]
async fn given_the_spec_catch_example_with_a_hyphenated_result_path_when_caught_then_error_info_is_merged() {
    // Spec "Catch": ErrorEquals java.lang.Exception, ResultPath $.error-info
    let def = task_def(json!({"Catch": [{"ErrorEquals": ["java.lang.Exception"], "ResultPath": "$.error-info", "Next": "Recovered"}]}));
    let mut r = TaskRegistry::new();
    Scripted::default().register(&mut r, "arn:aws:states:us-east-1:123456789012:task:X", vec![err("java.lang.Exception", "Kaiju attack")]);
    let out = run(&def, r, json!({"foo": "bar"})).await;
    assert_eq!(out.status, Status::Succeeded);
    assert_eq!(out.output, Some(json!({"foo": "bar", "error-info": {"Error": "java.lang.Exception", "Cause": "Kaiju attack"}})));
}

#[tokio::test]
async fn given_a_caught_error_when_no_result_path_then_the_error_object_replaces_the_input_and_result_selector_is_skipped() {
    let def = task_def(json!({
        "ResultSelector": {"never.$": "$.x"},
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Recovered"}]
    }));
    let mut r = TaskRegistry::new();
    Scripted::default().register(&mut r, "arn:aws:states:us-east-1:123456789012:task:X", vec![err("Boom", "why")]);
    let out = run(&def, r, json!({"keep": 1})).await;
    assert_eq!(out.output, Some(json!({"Error": "Boom", "Cause": "why"})));
    assert_eq!(out.states_entered(), vec!["X", "Recovered"]);
}

#[tokio::test]
async fn given_interval_3_backoff_2_max_attempts_3_when_the_task_keeps_failing_then_retries_wait_3_6_12_seconds_then_catch() {
    let def = task_def(json!({
        "Retry": [{"ErrorEquals": ["ErrorA"], "IntervalSeconds": 3, "BackoffRate": 2, "MaxAttempts": 3}],
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Z"}]
    }));
    let mut r = TaskRegistry::new();
    let s = Scripted::default();
    s.register(&mut r, "arn:aws:states:us-east-1:123456789012:task:X", vec![err("ErrorA", "again")]);
    let started = std::time::Instant::now();
    let out = run(&def, r, json!({})).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "virtual waits are instant");
    assert_eq!(s.count(), 4, "1 attempt + 3 retries");
    assert_eq!(event_times(&out, "TaskStarted"), vec![0, 3, 9, 21]);
    assert_eq!(out.states_entered(), vec!["X", "Z"]);
    assert_eq!(out.transitions, 2 + 3, "each retry is billed as a transition");
    let retry_counts: Vec<u64> = s.calls.lock().unwrap().iter().map(|c| c.context.retry_count).collect();
    assert_eq!(retry_counts, vec![0, 1, 2, 3]);
}

#[tokio::test]
async fn given_the_spec_backoff_1_5_example_when_retrying_then_waits_are_3_and_4_5_seconds() {
    let def = task_def(json!({"Retry": [{"ErrorEquals": ["States.Timeout"], "IntervalSeconds": 3, "MaxAttempts": 2, "BackoffRate": 1.5}]}));
    let mut r = TaskRegistry::new();
    Scripted::default().register(&mut r, "arn:aws:states:us-east-1:123456789012:task:X", vec![err("States.Timeout", "slow")]);
    let out = run(&def, r, json!({})).await;
    assert_eq!(out.status, Status::Failed);
    assert_eq!(out.error.as_deref(), Some("States.Timeout"));
    let ms: Vec<i64> =
        out.history.iter().filter(|e| e.event_type == "TaskStarted").map(|e| (e.timestamp - t0()).num_milliseconds()).collect();
    assert_eq!(ms, vec![0, 3000, 7500]);
}

#[tokio::test]
async fn given_max_delay_seconds_when_backoff_grows_then_waits_are_capped() {
    let def = task_def(
        json!({"Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "BackoffRate": 3, "MaxAttempts": 4, "MaxDelaySeconds": 5}]}),
    );
    let mut r = TaskRegistry::new();
    Scripted::default().register(&mut r, "arn:aws:states:us-east-1:123456789012:task:X", vec![err("E", "")]);
    let out = run(&def, r, json!({})).await;
    let t = event_times(&out, "TaskStarted");
    let waits: Vec<i64> = t.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(waits, vec![1, 3, 5, 5]);
}

#[tokio::test]
async fn given_full_jitter_when_retrying_then_waits_are_random_below_the_backoff_and_reproducible_per_seed() {
    let def = task_def(
        json!({"Retry": [{"ErrorEquals": ["E"], "IntervalSeconds": 10, "BackoffRate": 2, "MaxAttempts": 3, "JitterStrategy": "FULL"}]}),
    );
    let run_with_seed = |seed: u64| {
        let def = def.clone();
        async move {
            let mut r = TaskRegistry::new();
            Scripted::default().register(&mut r, "arn:aws:states:us-east-1:123456789012:task:X", vec![err("E", "")]);
            let opts = asl::ExecutorOptions { seed, ..Default::default() };
            let exec = Executor::with_options(load(&def), r, VirtualClock::new(t0()), opts);
            let out = exec.start("j", json!({})).await.unwrap().wait().await;
            let ms: Vec<i64> =
                out.history.iter().filter(|e| e.event_type == "TaskStarted").map(|e| (e.timestamp - t0()).num_milliseconds()).collect();
            ms.windows(2).map(|w| w[1] - w[0]).collect::<Vec<i64>>()
        }
    };
    let a = run_with_seed(1).await;
    assert_eq!(a, run_with_seed(1).await, "same seed, same waits");
    assert_ne!(a, run_with_seed(2).await, "another seed, other waits");
    for (wait, cap) in a.iter().zip([10_000, 20_000, 40_000]) {
        assert!((0..=cap).contains(wait), "{wait} within [0, {cap}]");
    }
    assert_ne!(a, vec![10_000, 20_000, 40_000], "jitter changes the waits");
}

#[tokio::test]
async fn given_two_retriers_when_the_first_matching_is_exhausted_then_later_retriers_are_not_used_and_catch_applies() {
    // Spec: retriers are evaluated in order; the first one matching decides.
    let def = task_def(json!({
        "Retry": [
            {"ErrorEquals": ["ErrorA", "ErrorB"], "IntervalSeconds": 1, "BackoffRate": 2, "MaxAttempts": 2},
            {"ErrorEquals": ["ErrorC"], "IntervalSeconds": 5},
            {"ErrorEquals": ["States.ALL"], "MaxAttempts": 10}
        ],
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Z"}]
    }));
    // (errors raised in turn, expected attempts, expected TaskStarted times)
    let table: Vec<(Vec<&str>, usize, Vec<i64>)> = vec![
        (vec!["ErrorA"], 3, vec![0, 1, 3]),
        // ErrorA and ErrorB share the first retrier's counter
        (vec!["ErrorA", "ErrorB"], 3, vec![0, 1, 3]),
        // ErrorC: default MaxAttempts 3, BackoffRate 2.0
        (vec!["ErrorC"], 4, vec![0, 5, 15, 35]),
        // each retrier backs off from its own attempt count: A waits 1 then 2, C waits 5
        (vec!["ErrorA", "ErrorC", "ErrorA"], 4, vec![0, 1, 6, 8]),
    ];
    for (errors, attempts, times) in table {
        let mut r = TaskRegistry::new();
        let s = Scripted::default();
        s.register(&mut r, "arn:aws:states:us-east-1:123456789012:task:X", errors.iter().map(|e| err(e, "")).collect());
        let out = run(&def, r, json!({})).await;
        assert_eq!(s.count(), attempts, "{errors:?}");
        assert_eq!(event_times(&out, "TaskStarted"), times, "{errors:?}");
        assert_eq!(out.states_entered(), vec!["X", "Z"]);
    }
}

#[tokio::test]
async fn given_separate_retriers_when_errors_alternate_then_each_retrier_counts_its_own_attempts() {
    let def = task_def(json!({"Retry": [
        {"ErrorEquals": ["A"], "MaxAttempts": 2, "IntervalSeconds": 1, "BackoffRate": 1},
        {"ErrorEquals": ["B"], "MaxAttempts": 2, "IntervalSeconds": 1, "BackoffRate": 1}
    ]}));
    let mut r = TaskRegistry::new();
    let s = Scripted::default();
    s.register(
        &mut r,
        "arn:aws:states:us-east-1:123456789012:task:X",
        vec![err("A", ""), err("B", ""), err("A", ""), err("B", ""), Ok(json!("done"))],
    );
    let out = run(&def, r, json!({})).await;
    assert_eq!(out.status, Status::Succeeded, "{:?}", out.error);
    assert_eq!(s.count(), 5);
}

#[tokio::test]
async fn given_max_attempts_zero_when_the_error_matches_then_it_is_never_retried() {
    let def = task_def(json!({"Retry": [{"ErrorEquals": ["E"], "MaxAttempts": 0}, {"ErrorEquals": ["States.ALL"]}]}));
    let mut r = TaskRegistry::new();
    let s = Scripted::default();
    s.register(&mut r, "arn:aws:states:us-east-1:123456789012:task:X", vec![err("E", "no")]);
    let out = run(&def, r, json!({})).await;
    assert_eq!(s.count(), 1);
    assert_eq!(out.status, Status::Failed);
    assert_eq!(out.error.as_deref(), Some("E"));
    assert_eq!(out.cause.as_deref(), Some("no"));
}

#[tokio::test]
async fn given_error_names_when_matched_against_error_equals_then_wildcards_follow_the_spec() {
    // (raised error, ErrorEquals of the only catcher, caught?)
    let table = [
        ("Custom.Error", "Custom.Error", true),
        ("Custom.Error", "Other.Error", false),
        ("Custom.Error", "States.TaskFailed", true),
        ("States.TaskFailed", "States.TaskFailed", true),
        ("States.Timeout", "States.TaskFailed", false),
        ("States.HeartbeatTimeout", "States.TaskFailed", false),
        ("States.HeartbeatTimeout", "States.Timeout", true),
        ("States.HeartbeatTimeout", "States.HeartbeatTimeout", true),
        ("States.Timeout", "States.HeartbeatTimeout", false),
        ("States.Timeout", "States.ALL", true),
        ("Custom.Error", "States.ALL", true),
        ("custom.error", "Custom.Error", false),
    ];
    for (raised, equals, caught) in table {
        let def = task_def(json!({"Catch": [{"ErrorEquals": [equals], "Next": "Z"}]}));
        let mut r = TaskRegistry::new();
        Scripted::default().register(&mut r, "arn:aws:states:us-east-1:123456789012:task:X", vec![err(raised, "")]);
        let out = run(&def, r, json!({})).await;
        let was_caught = out.status == Status::Succeeded;
        assert_eq!(was_caught, caught, "{raised} vs {equals}");
        if !caught {
            assert_eq!(out.error.as_deref(), Some(raised));
        }
    }
}

#[tokio::test]
async fn given_a_runtime_error_when_retry_and_catch_use_states_all_then_the_execution_still_fails_without_retry() {
    let def = task_def(json!({
        "OutputPath": "$.absent",
        "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 5}],
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Z"}]
    }));
    let (r, s) = registry_returning(json!({"present": 1}));
    let out = run(&def, r, json!({})).await;
    assert_eq!(out.status, Status::Failed);
    assert_eq!(out.error.as_deref(), Some("States.Runtime"));
    assert_eq!(s.count(), 1);
}

#[tokio::test]
async fn given_a_result_path_below_a_scalar_when_caught_then_result_path_match_failure_is_catchable() {
    let def = task_def(json!({
        "ResultPath": "$.a.b",
        "Catch": [{"ErrorEquals": ["States.ResultPathMatchFailure"], "ResultPath": "$.err", "Next": "Z"}]
    }));
    let (r, _) = registry_returning(json!(1));
    let out = run(&def, r, json!({"a": 5})).await;
    assert_eq!(out.status, Status::Succeeded);
    let output = out.output.unwrap();
    assert_eq!(output["a"], json!(5), "the scalar is kept");
    assert_eq!(output["err"]["Error"], json!("States.ResultPathMatchFailure"));
}

#[test]
fn given_states_all_not_alone_or_not_last_when_loading_then_the_definition_is_refused() {
    let table = [
        (json!({"Retry": [{"ErrorEquals": ["States.ALL", "E"]}]}), "Retry[0]"),
        (json!({"Retry": [{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["E"]}]}), "Retry[0]"),
        (json!({"Catch": [{"ErrorEquals": ["E", "States.ALL"], "Next": "Z"}]}), "Catch[0]"),
        (json!({"Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Z"}, {"ErrorEquals": ["E"], "Next": "Z"}]}), "Catch[0]"),
    ];
    for (fields, field) in table {
        let def = task_def(fields.clone());
        let e = Definition::load(&def.to_string(), &HashMap::new()).unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with(&format!("X: invalid field `{field}`")), "{fields}: {msg}");
        assert!(msg.contains("States.ALL"), "{msg}");
    }
    // Alone and last is fine.
    let ok = task_def(json!({"Retry": [{"ErrorEquals": ["E"]}, {"ErrorEquals": ["States.ALL"]}],
        "Catch": [{"ErrorEquals": ["E"], "Next": "Z"}, {"ErrorEquals": ["States.ALL"], "Next": "Z"}]}));
    Definition::load(&ok.to_string(), &HashMap::new()).unwrap();
}

#[tokio::test]
async fn given_the_spec_fail_state_when_reached_then_the_execution_fails_with_its_error_and_cause() {
    let table = [
        (json!({"Error": "ErrorA", "Cause": "Kaiju attack"}), json!({}), Some("ErrorA"), Some("Kaiju attack")),
        (json!({"ErrorPath": "$.e", "CausePath": "$.c"}), json!({"e": "E1", "c": "C1"}), Some("E1"), Some("C1")),
        (json!({"Error": "E", "CausePath": "States.Format('code {}', $.n)"}), json!({"n": 7}), Some("E"), Some("code 7")),
        (json!({}), json!({}), None, None),
    ];
    for (fields, input, error, cause) in table {
        let mut st = fields.clone();
        st["Type"] = json!("Fail");
        let def = json!({"StartAt": "F", "States": {"F": st}});
        let out = run(&def, TaskRegistry::new(), input).await;
        assert_eq!(out.status, Status::Failed);
        assert_eq!(out.error.as_deref(), error, "{fields}");
        assert_eq!(out.cause.as_deref(), cause, "{fields}");
    }
}

#[tokio::test]
async fn given_the_spec_intrinsic_examples_when_evaluated_in_parameters_then_values_match() {
    let def = json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true, "Parameters": {
        "greeting.$": "States.Format('Welcome to {} {}\\'s playlist.', $.firstName, $.lastName)",
        "parsed.$": "States.StringToJson($.someString)",
        "text.$": "States.JsonToString($.someJson)",
        "arr.$": "States.Array('Foo', 2020, $.someJson, null)",
        "sum.$": "States.MathAdd($.value1, $.step)",
        "len.$": "States.ArrayLength($.list)",
        "item.$": "States.ArrayGetItem($.list, 1)"
    }}}});
    let input = json!({"firstName": "John", "lastName": "Doe", "someString": "{\"number\": 20}",
        "someJson": {"name": "Foo", "year": 2020}, "value1": 111, "step": -1, "list": [1, 2, 3]});
    let out = run(&def, TaskRegistry::new(), input).await;
    assert_eq!(
        out.output,
        Some(json!({
            "greeting": "Welcome to John Doe's playlist.",
            "parsed": {"number": 20},
            "text": "{\"name\":\"Foo\",\"year\":2020}",
            "arr": ["Foo", 2020, {"name": "Foo", "year": 2020}, null],
            "sum": 110,
            "len": 3,
            "item": 2
        }))
    );
}

#[tokio::test]
async fn given_a_failing_intrinsic_when_no_catch_then_the_execution_fails_with_intrinsic_failure() {
    let def = json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true,
        "Parameters": {"x.$": "States.StringToJson($.s)"}}}});
    let out = run(&def, TaskRegistry::new(), json!({"s": "{not json"})).await;
    assert_eq!(out.status, Status::Failed);
    assert_eq!(out.error.as_deref(), Some("States.IntrinsicFailure"));
}
