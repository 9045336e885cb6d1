//! Differential test: the same definitions run on this executor and on moto's Step
//! Functions "parser mode" (a port of LocalStack's interpreter) must end with the same
//! status, output, error and cause.
//!
//! The moto endpoint comes from `MOTO_ENDPOINT` (e.g. `http://127.0.0.1:5000`). Without it
//! the test fails when `CI` or `REQUIRE_MOTO` is set, and is skipped (with a message)
//! otherwise.
//!
//! moto 5.2's parser mode deep-copies its whole regional backend when an execution starts,
//! which fails once a finished execution sits in that backend. So the cases run one at a
//! time in a region of their own (`eu-north-1`), and each state machine is deleted as soon
//! as its execution ended.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use asl::{Definition, Executor, ExecutorOptions, Outcome, TaskRegistry, VirtualClock};
use serde_json::{Value, json};

struct Case {
    name: &'static str,
    definition: Value,
    input: Value,
    /// A deliberate difference (listed in the README): only the status must agree, and
    /// this executor must report this error name.
    deliberate: Option<(&'static str, &'static str)>,
}

fn cases() -> Vec<Case> {
    let pass = |st: Value| json!({"StartAt": "P", "States": {"P": st}});
    vec![
        Case {
            name: "pass-result-path-merge",
            definition: json!({"StartAt": "A", "States": {
                "A": {"Type": "Pass", "Result": {"x-datum": 0.5, "y": [1, 2]}, "ResultPath": "$.coords", "Next": "B"},
                "B": {"Type": "Pass", "InputPath": "$.coords", "ResultPath": "$.copy", "OutputPath": "$.copy", "Next": "C"},
                "C": {"Type": "Pass", "Result": "discarded", "ResultPath": null, "End": true}}}),
            input: json!({"georefOf": "Home"}),
            deliberate: None,
        },
        Case {
            name: "pass-parameters-nested",
            definition: pass(json!({"Type": "Pass", "End": true, "Parameters": {
                "flagged": true,
                "parts": {"first.$": "$.vals[0]", "last.$": "$.vals[5]"},
                "list": [{"v.$": "$.vals[1]"}, "lit"],
                "name.$": "$$.Execution.Name",
                "sm.$": "$$.StateMachine.Name"}})),
            input: json!({"flagged": 7, "vals": [0, 10, 20, 30, 40, 50]}),
            deliberate: None,
        },
        Case {
            name: "pass-null-paths",
            definition: json!({"StartAt": "A", "States": {
                "A": {"Type": "Pass", "InputPath": null, "ResultPath": "$.a", "Next": "B"},
                "B": {"Type": "Pass", "OutputPath": null, "End": true}}}),
            input: json!({"k": 1}),
            deliberate: None,
        },
        Case {
            name: "pass-result-path-deep-create",
            definition: pass(json!({"Type": "Pass", "Result": 1, "ResultPath": "$.a.b.c", "End": true})),
            input: json!({"a": {"keep": true}}),
            deliberate: None,
        },
        Case {
            name: "choice-operators",
            definition: json!({"StartAt": "C", "States": {
                "C": {"Type": "Choice", "Choices": [
                    {"Not": {"Variable": "$.type", "StringEquals": "Private"}, "Next": "Public"},
                    {"And": [
                        {"Variable": "$.value", "IsPresent": true},
                        {"Variable": "$.value", "IsNumeric": true},
                        {"Variable": "$.value", "NumericGreaterThanEquals": 20},
                        {"Variable": "$.value", "NumericLessThan": 30}], "Next": "Twenties"},
                    {"Or": [
                        {"Variable": "$.when", "TimestampGreaterThan": "2024-01-01T00:00:00Z"},
                        {"Variable": "$.file", "StringMatches": "*.log"}], "Next": "Recent"},
                    {"Variable": "$.rating", "NumericGreaterThanPath": "$.threshold", "Next": "Audit"}
                ], "Default": "Other"},
                "Public": {"Type": "Pass", "Result": "public", "End": true},
                "Twenties": {"Type": "Pass", "Result": "twenties", "End": true},
                "Recent": {"Type": "Pass", "Result": "recent", "End": true},
                "Audit": {"Type": "Pass", "Result": "audit", "End": true},
                "Other": {"Type": "Pass", "Result": "other", "End": true}}}),
            input: json!({"type": "Private", "value": 31, "when": "2023-06-01T00:00:00Z",
                          "file": "app.log", "rating": 1, "threshold": 2}),
            deliberate: None,
        },
        Case {
            name: "choice-type-tests-and-default",
            definition: json!({"StartAt": "C", "States": {
                "C": {"Type": "Choice", "Choices": [
                    {"And": [
                        {"Variable": "$.n", "IsNull": true},
                        {"Variable": "$.s", "IsString": true},
                        {"Variable": "$.b", "IsBoolean": true},
                        {"Variable": "$.ts", "IsTimestamp": true},
                        {"Variable": "$.missing", "IsPresent": false},
                        {"Variable": "$.s", "StringLessThanEquals": "b"},
                        {"Variable": "$.b", "BooleanEquals": false}
                    ], "Next": "Yes"}
                ], "Default": "No"},
                "Yes": {"Type": "Succeed", "OutputPath": "$.s"},
                "No": {"Type": "Succeed"}}}),
            input: json!({"n": null, "s": "a", "b": false, "ts": "2024-02-03T04:05:06Z"}),
            deliberate: None,
        },
        Case {
            name: "choice-no-match-fails",
            definition: json!({"StartAt": "C", "States": {
                "C": {"Type": "Choice", "Choices": [{"Variable": "$.x", "NumericEquals": 1, "Next": "A"}]},
                "A": {"Type": "Succeed"}}}),
            input: json!({"x": 2}),
            deliberate: Some((
                "States.NoChoiceMatched",
                "moto reports States.Runtime; the specification and AWS name States.NoChoiceMatched",
            )),
        },
        Case {
            name: "wait-then-pass",
            definition: json!({"StartAt": "W", "States": {
                "W": {"Type": "Wait", "Seconds": 1, "Next": "W2"},
                "W2": {"Type": "Wait", "SecondsPath": "$.delay", "Next": "P"},
                "P": {"Type": "Pass", "Parameters": {"waited.$": "$.delay"}, "End": true}}}),
            input: json!({"delay": 1}),
            deliberate: None,
        },
        Case {
            name: "intrinsics",
            definition: pass(json!({"Type": "Pass", "End": true, "Parameters": {
                // moto fails on the `\\'` escape, see the README
                "greeting.$": "States.Format('Welcome to {} {} playlist.', $.firstName, $.lastName)",
                "parsed.$": "States.StringToJson($.someString)",
                "text.$": "States.JsonToString($.someJson)",
                // moto drops `null` from States.Array, see the README
                "arr.$": "States.Array('Foo', 2020, $.someJson)",
                "sum.$": "States.MathAdd($.value1, $.step)",
                "len.$": "States.ArrayLength($.list)",
                "item.$": "States.ArrayGetItem($.list, 1)",
                "contains.$": "States.ArrayContains($.list, 3)",
                "range.$": "States.ArrayRange(1, 9, 2)",
                "parts.$": "States.ArrayPartition($.list, 2)",
                "unique.$": "States.ArrayUnique($.dups)",
                "split.$": "States.StringSplit($.csv, ',')",
                "b64.$": "States.Base64Encode($.firstName)",
                "unb64.$": "States.Base64Decode('RGF0YSB0byBlbmNvZGU=')",
                "merged.$": "States.JsonMerge($.someJson, $.other, false)",
                "nested.$": "States.Format('{}', States.ArrayLength(States.Array(1, 2)))"}})),
            input: json!({"firstName": "John", "lastName": "Doe", "someString": "{\"number\": 20}",
                "someJson": {"name": "Foo", "year": 2020}, "other": {"year": 2021}, "value1": 111,
                "step": -1, "list": [1, 2, 3], "dups": [1, 1, 2], "csv": "a,b,c"}),
            deliberate: None,
        },
        Case {
            name: "fail-literal",
            definition: pass(json!({"Type": "Fail", "Error": "ErrorA", "Cause": "Kaiju attack"})),
            input: json!({}),
            deliberate: None,
        },
        Case {
            name: "fail-paths",
            definition: json!({"StartAt": "P", "States": {
                "P": {"Type": "Pass", "Next": "F"},
                "F": {"Type": "Fail", "ErrorPath": "$.e", "CausePath": "$.c"}}}),
            input: json!({"e": "Custom.Error", "c": "it broke"}),
            deliberate: None,
        },
        Case {
            name: "succeed-output-path",
            definition: pass(json!({"Type": "Succeed", "InputPath": "$.a", "OutputPath": "$.b"})),
            input: json!({"a": {"b": {"c": [1, 2]}}}),
            deliberate: None,
        },
        Case {
            name: "hyphenated-keys",
            definition: json!({"StartAt": "A", "States": {
                "A": {"Type": "Pass", "InputPath": "$.my-input", "ResultPath": "$.my-result", "Next": "B"},
                "B": {"Type": "Pass", "Parameters": {"v.$": "$.my-result.inner-key"}, "End": true}}}),
            input: json!({"my-input": {"inner-key": 5}}),
            deliberate: None,
        },
    ]
}

fn comparable(status: &str, output: Option<Value>, error: Option<String>, cause: Option<String>) -> Value {
    json!({"status": status, "output": output, "error": error, "cause": cause})
}

fn ours(case: &Case, sm_name: &str) -> Outcome {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let def = Definition::load(&case.definition.to_string(), &HashMap::new()).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let opts = ExecutorOptions { state_machine_name: sm_name.to_string(), region: REGION.to_string(), ..Default::default() };
        let exec = Executor::with_options(def, TaskRegistry::new(), VirtualClock::new(chrono::Utc::now()), opts);
        exec.start("e1", case.input.clone()).await.unwrap().wait().await
    })
}

/// Region used on moto, so that other tests sharing the server do not interfere.
const REGION: &str = "eu-north-1";

struct Moto {
    endpoint: String,
}

impl Moto {
    fn call(&self, target: &str, body: Value) -> Value {
        let resp = ureq::post(&format!("{}/", self.endpoint.trim_end_matches('/')))
            .set("X-Amz-Target", &format!("AWSStepFunctions.{target}"))
            .set("Content-Type", "application/x-amz-json-1.0")
            .set(
                "Authorization",
                &format!("AWS4-HMAC-SHA256 Credential=test/20240101/{REGION}/states/aws4_request, SignedHeaders=host, Signature=0"),
            )
            .send_string(&body.to_string());
        match resp {
            Ok(r) => {
                let text = r.into_string().unwrap();
                serde_json::from_str(&text).unwrap_or(Value::String(text))
            }
            Err(ureq::Error::Status(code, r)) => {
                panic!("moto {target} -> HTTP {code}: {}", r.into_string().unwrap_or_default())
            }
            Err(e) => panic!("moto {target} unreachable at {}: {e}", self.endpoint),
        }
    }

    fn enable_parser_mode(&self) {
        ureq::post(&format!("{}/moto-api/config", self.endpoint.trim_end_matches('/')))
            .send_string(r#"{"stepfunctions":{"execute_state_machine":true}}"#)
            .unwrap_or_else(|e| panic!("cannot configure moto at {}: {e}", self.endpoint));
    }

    /// Deletes state machines left over by an interrupted earlier run.
    fn clean(&self) {
        let list = self.call("ListStateMachines", json!({}));
        for sm in list["stateMachines"].as_array().into_iter().flatten() {
            if sm["name"].as_str().is_some_and(|n| n.starts_with("asl-")) {
                self.call("DeleteStateMachine", json!({"stateMachineArn": sm["stateMachineArn"]}));
            }
        }
    }

    fn start(&self, case: &Case, sm_name: &str) -> (String, String) {
        let sm = self.call(
            "CreateStateMachine",
            json!({
                "name": sm_name,
                "definition": case.definition.to_string(),
                "roleArn": "arn:aws:iam::123456789012:role/asl-executor",
            }),
        );
        let arn = sm["stateMachineArn"].as_str().unwrap().to_string();
        let ex = self.call(
            "StartExecution",
            json!({
            "stateMachineArn": arn, "name": "e1", "input": case.input.to_string()}),
        );
        (arn, ex["executionArn"].as_str().unwrap().to_string())
    }

    fn wait(&self, state_machine_arn: &str, execution_arn: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let d = self.call("DescribeExecution", json!({"executionArn": execution_arn}));
            let status = d["status"].as_str().unwrap_or("?").to_string();
            if status != "RUNNING" {
                self.call("DeleteStateMachine", json!({"stateMachineArn": state_machine_arn}));
                let output = d["output"].as_str().map(|s| serde_json::from_str(s).unwrap_or(Value::String(s.to_string())));
                let s = |k: &str| d[k].as_str().map(str::to_string);
                return comparable(&status, output, s("error"), s("cause"));
            }
            assert!(Instant::now() < deadline, "moto execution {execution_arn} still RUNNING after 60 s");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

#[test]
fn given_definitions_without_lambdas_when_run_here_and_on_moto_then_status_and_output_agree() {
    let Ok(endpoint) = std::env::var("MOTO_ENDPOINT") else {
        if std::env::var_os("CI").is_some() || std::env::var_os("REQUIRE_MOTO").is_some() {
            panic!("MOTO_ENDPOINT is not set but CI/REQUIRE_MOTO is: start `moto_server` and set MOTO_ENDPOINT=http://127.0.0.1:PORT");
        }
        eprintln!("SKIPPED moto differential test: MOTO_ENDPOINT is not set");
        return;
    };
    let moto = Moto { endpoint };
    moto.enable_parser_mode();
    let run_id = format!("{}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis());
    moto.clean();
    let mut mismatches = Vec::new();
    for case in cases() {
        let sm = format!("asl-{}-{run_id}", case.name);
        let (sm_arn, exec_arn) = moto.start(&case, &sm);
        let theirs = moto.wait(&sm_arn, &exec_arn);
        let o = ours(&case, &sm);
        if let Some((error, why)) = case.deliberate {
            assert_eq!(o.error.as_deref(), Some(error), "{}", case.name);
            if o.status.to_string() != theirs["status"] {
                mismatches.push(format!("{} ({why}): status {} vs {}", case.name, o.status, theirs["status"]));
            }
            continue;
        }
        let mine = comparable(&o.status.to_string(), o.output, o.error, o.cause);
        if mine != theirs {
            mismatches.push(format!("{}:\n  asl:  {mine}\n  moto: {theirs}", case.name));
        }
    }
    assert!(mismatches.is_empty(), "differences with moto:\n{}", mismatches.join("\n"));
}
