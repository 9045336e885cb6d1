//! Anything the executor does not run is refused at load, naming the state and the field.

use std::collections::HashMap;

use asl::{Definition, LoadError};
use serde_json::{Value, json};

fn load(def: &Value) -> Result<Definition, LoadError> {
    Definition::load(&def.to_string(), &HashMap::new())
}

fn with_state(state: Value) -> Value {
    json!({"StartAt": "S", "States": {"S": state, "Next1": {"Type": "Succeed"}}})
}

#[test]
fn given_unsupported_or_invalid_definitions_when_loading_then_the_error_names_state_and_field() {
    let task = |extra: Value| {
        let mut t = json!({"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "End": true});
        for (k, v) in extra.as_object().unwrap() {
            t[k] = v.clone();
        }
        with_state(t)
    };
    // (definition, expected message prefix)
    let table: Vec<(Value, &str)> = vec![
        (json!({"States": {"A": {"Type": "Succeed"}}}), "<top level>: missing required field `StartAt`"),
        (json!({"StartAt": "A"}), "<top level>: missing required field `States`"),
        (json!({"StartAt": "Nope", "States": {"A": {"Type": "Succeed"}}}), "<top level>: field `StartAt` refers to missing state `Nope`"),
        (json!({"StartAt": "A", "Foo": 1, "States": {"A": {"Type": "Succeed"}}}), "<top level>: unknown or unsupported field `Foo`"),
        (
            json!({"StartAt": "A", "QueryLanguage": "JSONata", "States": {"A": {"Type": "Succeed"}}}),
            "<top level>: `QueryLanguage` is not supported",
        ),
        (with_state(json!({"Type": "Pass", "QueryLanguage": "JSONata", "End": true})), "S: `QueryLanguage` is not supported"),
        (with_state(json!({"Type": "Map", "End": true})), "S: `Type` is not supported by this executor: Map"),
        (with_state(json!({"Type": "Parallel", "Branches": [], "End": true})), "S: `Type` is not supported by this executor: Parallel"),
        (with_state(json!({"Type": "Pass", "ItemReader": {}, "End": true})), "S: `ItemReader` is not supported"),
        (with_state(json!({"Type": "Pass", "Assign": {"x": 1}, "End": true})), "S: `Assign` is not supported"),
        (with_state(json!({"Type": "Pass", "Resultt": 1, "End": true})), "S: unknown or unsupported field `Resultt`"),
        (with_state(json!({"Type": "Pass", "Next": "Ghost"})), "S: field `Next` refers to missing state `Ghost`"),
        (with_state(json!({"Type": "Pass", "Next": "Next1", "End": true})), "S: invalid field `End`: a state cannot have both"),
        (with_state(json!({"Type": "Pass"})), "S: missing required field `Next`"),
        (with_state(json!({"Type": "Succeed", "Next": "Next1"})), "S: unknown or unsupported field `Next`"),
        (with_state(json!({"Type": "Fail", "InputPath": "$"})), "S: unknown or unsupported field `InputPath`"),
        (with_state(json!({"Type": "Bogus"})), "S: invalid field `Type`"),
        (with_state(json!({"End": true})), "S: missing required field `Type`"),
        (
            with_state(json!({"Type": "Choice", "Choices": [{"Variable": "$.x", "IsNull": true, "Next": "Ghost"}]})),
            "S: field `Choices[0].Next` refers to missing state `Ghost`",
        ),
        (
            with_state(json!({"Type": "Choice", "Choices": [{"Variable": "$.x", "IsNull": true, "Next": "Next1"}], "Default": "Ghost"})),
            "S: field `Default` refers to missing state `Ghost`",
        ),
        (with_state(json!({"Type": "Choice", "Choices": []})), "S: invalid field `Choices`"),
        (with_state(json!({"Type": "Wait", "End": true})), "S: invalid field `Seconds`: exactly one"),
        (
            with_state(json!({"Type": "Wait", "Seconds": 1, "Timestamp": "2024-01-01T00:00:00Z", "End": true})),
            "S: invalid field `Seconds`: exactly one",
        ),
        (with_state(json!({"Type": "Wait", "Timestamp": "tomorrow", "End": true})), "S: invalid field `Timestamp`"),
        (with_state(json!({"Type": "Pass", "ResultPath": "$.a[*]", "End": true})), "S: invalid field `ResultPath`"),
        (with_state(json!({"Type": "Pass", "ResultPath": "$$.State", "End": true})), "S: invalid field `ResultPath`"),
        (with_state(json!({"Type": "Pass", "InputPath": "foo", "End": true})), "S: invalid field `InputPath`"),
        (with_state(json!({"Type": "Pass", "Parameters": {"x.$": "States.Nope()"}, "End": true})), "S: invalid field `Parameters`"),
        (with_state(json!({"Type": "Fail", "Error": "E", "ErrorPath": "$.e"})), "S: invalid field `Error`"),
        (task(json!({"Catch": [{"ErrorEquals": ["E"], "Next": "Ghost"}]})), "S: field `Catch[0].Next` refers to missing state `Ghost`"),
        (task(json!({"Catch": [{"ErrorEquals": ["E"]}]})), "S: missing required field `Catch[0].Next`"),
        (task(json!({"Retry": [{"ErrorEquals": []}]})), "S: invalid field `Retry[0]`"),
        (task(json!({"Retry": [{"ErrorEquals": ["E"], "Backoff": 2}]})), "S: unknown or unsupported field `Retry[0].Backoff`"),
        (task(json!({"Retry": [{"ErrorEquals": ["E"], "BackoffRate": 0.5}]})), "S: invalid field `Retry[0].BackoffRate`"),
        (task(json!({"Retry": [{"ErrorEquals": ["E"], "JitterStrategy": "HALF"}]})), "S: invalid field `Retry[0].JitterStrategy`"),
        (task(json!({"Retry": [{"ErrorEquals": ["E"], "MaxAttempts": -1}]})), "S: invalid field `Retry[0].MaxAttempts`"),
        (
            task(json!({"Retry": [{"ErrorEquals": ["States.Runtime"]}]})),
            "S: invalid field `Retry[0]`: `States.Runtime` is a terminal error",
        ),
        (
            task(json!({"Catch": [{"ErrorEquals": ["States.Tiemout"], "Next": "Next1"}]})),
            "S: invalid field `Catch[0]`: `States.Tiemout` is not a predefined",
        ),
        (task(json!({"HeartbeatSeconds": 5})), "S: `HeartbeatSeconds` is not supported"),
        (task(json!({"TimeoutSeconds": 0})), "S: invalid field `TimeoutSeconds`"),
        (task(json!({"TimeoutSeconds": 5, "TimeoutSecondsPath": "$.t"})), "S: invalid field `TimeoutSeconds`"),
        (task(json!({"Credentials": {}})), "S: `Credentials` is not supported"),
        (
            with_state(json!({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true})),
            "S: invalid field `Parameters`: lambda:invoke needs `FunctionName`",
        ),
        (
            with_state(
                json!({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken", "Parameters": {"FunctionName": "f"}, "HeartbeatSeconds": 10, "TimeoutSeconds": 10, "End": true}),
            ),
            "S: invalid field `HeartbeatSeconds`: must be smaller",
        ),
        (with_state(json!({"Type": "Task", "End": true})), "S: missing required field `Resource`"),
    ];
    for (def, want) in table {
        let err = load(&def).expect_err(&def.to_string());
        assert!(err.to_string().starts_with(want), "{def}\n  got:  {err}\n  want: {want}");
    }
}

#[test]
fn given_unreachable_states_when_loading_then_they_are_allowed() {
    let def = json!({"StartAt": "A", "States": {"A": {"Type": "Succeed"}, "Orphan": {"Type": "Pass", "Next": "A"}}});
    let d = load(&def).unwrap();
    assert_eq!(d.state_names(), vec!["A", "Orphan"]);
}

#[test]
fn given_substitutions_when_loading_then_placeholders_are_replaced_and_missing_ones_named() {
    let text = r#"{"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": "${Greeting}, ${Name}", "End": true}}}"#;
    let subs = HashMap::from([("Greeting".to_string(), "Hello".to_string()), ("Name".to_string(), "World".to_string())]);
    let d = Definition::load(text, &subs).unwrap();
    assert_eq!(d.source()["States"]["A"]["Result"], json!("Hello, World"));
    let partial = HashMap::from([("Greeting".to_string(), "Hello".to_string())]);
    assert_eq!(Definition::load(text, &partial).unwrap_err(), LoadError::UnresolvedSubstitution { name: "Name".into() });
    assert!(matches!(Definition::load("{not json", &HashMap::new()), Err(LoadError::InvalidJson(_))));
}

#[test]
fn given_hyphenated_shorthand_paths_when_loading_then_they_are_accepted() {
    let def = json!({"StartAt": "A", "States": {"A": {"Type": "Pass",
        "InputPath": "$.my-input", "ResultPath": "$.my-result.sub-key", "Parameters": {"v.$": "$.in-ner"}, "End": true}}});
    load(&def).unwrap();
}
