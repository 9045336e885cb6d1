//! `infra/` agrees with the code:
//!
//! - every `${Substitution}` of the state machine definition is provided by the template, and
//!   none is left unused; the state machine may invoke exactly its six functions;
//! - every function of the template is a workspace binary under `functions/`, and every such
//!   binary is a function; each gets every environment variable the functions read;
//! - the customer's role trusts only the function roles that assume it, with the ExternalId
//!   (each function's own policy is proven from its recorded calls in tests/iam.rs);
//! - the table equals `migration_aws::table_definition()`;
//! - the HTTP API is built from `infra/openapi.yaml`, every operation of which goes to the api
//!   function, with IAM auth exactly under `/admin/`;
//! - the status pipes turn a history item from the stream into exactly the domain's
//!   `StatusChanged`, and nothing else.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{TimeZone, Utc};
use migration::record::{Actor, EventKind, HistoryEvent, StatusChanged};
use migration::settings::ConfigError;
use migration::workflow::Step;
use migration::{MigrationId, Status};
use regex::Regex;
use serde_json::{Map, Value, json};

// ------------------------------------------------------------------------------------------
// Loading: YAML with CloudFormation's short-form tags, as the long-form JSON CloudFormation
// itself would see.

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

fn read(path: &str) -> String {
    fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `!Ref X` -> `{"Ref": "X"}`, `!GetAtt A.B` -> `{"Fn::GetAtt": ["A", "B"]}`, `!Sub s` ->
/// `{"Fn::Sub": s}` and so on for every short form.
fn to_json(value: serde_norway::Value) -> Value {
    use serde_norway::Value as Y;
    match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => serde_json::to_value(n).expect("a YAML number is a JSON number"),
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Y::Mapping(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        Y::String(s) => s,
                        other => serde_norway::to_string(&other).expect("a scalar key").trim().to_owned(),
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
        Y::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let inner = to_json(tagged.value);
            match name {
                "Ref" | "Condition" => json!({ name: inner }),
                "GetAtt" => match inner {
                    Value::String(s) => {
                        let (resource, attribute) = s.split_once('.').unwrap_or_else(|| panic!("!GetAtt {s}"));
                        json!({ "Fn::GetAtt": [resource, attribute] })
                    }
                    other => json!({ "Fn::GetAtt": other }),
                },
                _ => json!({ format!("Fn::{name}"): inner }),
            }
        }
    }
}

fn load_yaml(path: &str) -> Value {
    let parsed: serde_norway::Value = serde_norway::from_str(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    to_json(parsed)
}

fn template() -> &'static Value {
    static TEMPLATE: OnceLock<Value> = OnceLock::new();
    TEMPLATE.get_or_init(|| load_yaml("infra/template.yaml"))
}

fn resources() -> &'static Map<String, Value> {
    template()["Resources"].as_object().expect("Resources")
}

fn resource(id: &str) -> &'static Value {
    resources().get(id).unwrap_or_else(|| panic!("no resource {id}"))
}

fn of_type(kind: &str) -> impl Iterator<Item = (&'static String, &'static Value)> {
    resources().iter().filter(move |(_, r)| r["Type"] == kind)
}

fn definition() -> String {
    read("statemachine/migration.asl.json")
}

/// The logical id a `{"Fn::GetAtt": [id, "Arn"]}` or `{"Ref": id}` points at.
fn referenced(value: &Value) -> Option<&str> {
    if let Some(id) = value.get("Ref").and_then(Value::as_str) {
        return Some(id);
    }
    value.get("Fn::GetAtt").and_then(|v| v.get(0)).and_then(Value::as_str)
}

/// Function logical id -> its binary (`BuildProperties: Binary`).
fn template_functions() -> BTreeMap<String, String> {
    of_type("AWS::Serverless::Function")
        .map(|(id, r)| {
            let binary = r["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap_or_else(|| panic!("{id} names no Binary"));
            (id.clone(), binary.to_owned())
        })
        .collect()
}

fn function_id(binary: &str) -> String {
    template_functions()
        .into_iter()
        .find(|(_, b)| b == binary)
        .map(|(id, _)| id)
        .unwrap_or_else(|| panic!("no function builds the binary {binary}"))
}

// ------------------------------------------------------------------------------------------
// cargo metadata: the workspace's binaries.

fn metadata() -> &'static Value {
    static METADATA: OnceLock<Value> = OnceLock::new();
    METADATA.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = Command::new(cargo)
            // --no-deps: the workspace's own packages only. Without it cargo resolves every
            // platform's dependencies (Windows, Android crates) that no build here downloads,
            // and a fresh machine's --offline metadata fails.
            .args(["metadata", "--format-version", "1", "--no-deps", "--locked", "--offline", "--manifest-path"])
            .arg(root().join("Cargo.toml"))
            .output()
            .expect("cargo metadata runs");
        assert!(out.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("cargo metadata answers JSON")
    })
}

/// Every binary target of a workspace member under `functions/`.
fn workspace_function_binaries() -> BTreeSet<String> {
    let functions_dir = root().join("functions");
    let members: BTreeSet<&str> =
        metadata()["workspace_members"].as_array().expect("workspace_members").iter().filter_map(Value::as_str).collect();
    let mut binaries = BTreeSet::new();
    for package in metadata()["packages"].as_array().expect("packages") {
        if !members.contains(package["id"].as_str().unwrap_or_default()) {
            continue;
        }
        let manifest = Path::new(package["manifest_path"].as_str().expect("manifest_path"));
        if !manifest.starts_with(&functions_dir) {
            continue;
        }
        for target in package["targets"].as_array().expect("targets") {
            if target["kind"].as_array().is_some_and(|k| k.iter().any(|k| k == "bin")) {
                binaries.insert(target["name"].as_str().expect("target name").to_owned());
            }
        }
    }
    binaries
}

// ------------------------------------------------------------------------------------------
// The state machine

#[test]
fn every_substitution_of_the_definition_is_provided_and_none_is_unused() {
    let placeholders: BTreeSet<String> =
        Regex::new(r"\$\{([A-Za-z0-9_]+)\}").unwrap().captures_iter(&definition()).map(|c| c[1].to_owned()).collect();
    let machine = &resource("MigrationStateMachine")["Properties"];
    let provided: BTreeMap<String, Value> =
        machine["DefinitionSubstitutions"].as_object().expect("DefinitionSubstitutions").clone().into_iter().collect();
    let provided_names: BTreeSet<String> = provided.keys().cloned().collect();
    assert_eq!(placeholders, provided_names, "placeholders of the definition vs DefinitionSubstitutions");

    // Each substitution is the ARN of the function that runs that step.
    let expected: BTreeSet<String> = Step::ALL.iter().map(|s| s.substitution().to_owned()).collect();
    assert_eq!(provided_names, expected, "the definition's substitutions are the steps' (Step::substitution)");
    for step in Step::ALL {
        let value = &provided[step.substitution()];
        let id = function_id(step.function_name());
        assert_eq!(value, &json!({ "Fn::GetAtt": [id, "Arn"] }), "{} must be the ARN of {id}", step.substitution());
    }
    assert_eq!(machine["DefinitionUri"], "../statemachine/migration.asl.json");
    assert_eq!(machine["Type"], "STANDARD");
}

#[test]
fn the_state_machine_may_invoke_exactly_its_six_functions() {
    let machine = &resource("MigrationStateMachine")["Properties"];
    let invoked: BTreeSet<String> = machine["Policies"]
        .as_array()
        .expect("Policies")
        .iter()
        .filter_map(|p| p.get("LambdaInvokePolicy"))
        .map(|p| referenced(&p["FunctionName"]).expect("FunctionName: !Ref <function>").to_owned())
        .collect();
    let steps: BTreeSet<String> = Step::ALL.iter().map(|s| function_id(s.function_name())).collect();
    assert_eq!(invoked, steps);
    let logging = &machine["Logging"];
    assert_eq!(logging["Level"], "ALL");
    assert_eq!(logging["IncludeExecutionData"], false, "execution data would log task tokens");
    assert_eq!(machine["Tracing"]["Enabled"], true);
    // Functions that reach the state machine build its ARN from the fixed name (no cycle).
    let name = machine["Name"]["Fn::Sub"].as_str().expect("Name: !Sub ...");
    let arn = template()["Globals"]["Function"]["Environment"]["Variables"]["STATE_MACHINE_ARN"]["Fn::Sub"].as_str().expect("!Sub");
    assert!(arn.ends_with(&format!(":stateMachine:{name}")), "{arn} must name {name}");
}

/// The longest an execution can run: the invitation wait's own timeout, the support deadline,
/// one last check after it, and every Task state's retries at their worst (each attempt
/// running to the function's timeout, each backoff at its cap).
fn worst_case_seconds(definition: &Value, deadline_days: i64, function_timeout: i64) -> i64 {
    let states = definition["States"].as_object().expect("States");
    let mut total = deadline_days * 86_400;
    for (name, state) in states {
        if state["Type"] != "Task" {
            continue;
        }
        let own = state["TimeoutSeconds"].as_i64().unwrap_or(function_timeout);
        let mut attempts_time = own;
        for retry in state["Retry"].as_array().into_iter().flatten() {
            let (interval, rate) = (retry["IntervalSeconds"].as_f64().unwrap_or(1.0), retry["BackoffRate"].as_f64().unwrap_or(2.0));
            let cap = retry["MaxDelaySeconds"].as_f64().unwrap_or(f64::MAX);
            for k in 0..retry["MaxAttempts"].as_i64().unwrap_or(3) {
                attempts_time += function_timeout.min(own) + (interval * rate.powi(i32::try_from(k).unwrap())).min(cap) as i64;
            }
        }
        // The support check runs once per wait; its waits sum to the deadline (counted above).
        let runs = if name == "CheckSupport" { support_checks(deadline_days) } else { 1 };
        total += runs * attempts_time;
    }
    total
}

/// How many times check-support runs before a `days`-day deadline ends it, with the waits
/// the step itself computes.
fn support_checks(days: i64) -> i64 {
    let settings = migration::Settings { support_deadline: chrono::Duration::days(days), ..migration_sim::fixtures::settings() };
    let start = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
    let deadline = start + settings.support_deadline;
    let (mut now, mut checks) = (start, 0u32);
    loop {
        checks += 1;
        if now >= deadline {
            return i64::from(checks);
        }
        now += migration::steps::next_support_wait(&settings, checks, now, deadline);
    }
}

#[test]
fn no_timeout_overtakes_the_support_deadline_over_its_whole_range() {
    let definition: Value = serde_json::from_str(&definition()).expect("definition JSON");
    let timeout = definition["TimeoutSeconds"].as_i64().expect("the execution's TimeoutSeconds");
    let parameter = &template()["Parameters"]["SupportDeadlineDays"];
    let (min, max) = (parameter["MinValue"].as_i64().unwrap(), parameter["MaxValue"].as_i64().unwrap());
    assert_eq!(max, migration::settings::MAX_SUPPORT_DEADLINE_DAYS, "the template and the settings bound the deadline alike");
    let function_timeout = template()["Globals"]["Function"]["Timeout"].as_i64().expect("Globals Timeout");
    for days in min..=max {
        let worst = worst_case_seconds(&definition, days, function_timeout);
        assert!(worst < timeout, "a {days}-day deadline can run {worst} s, past the execution's TimeoutSeconds {timeout}");
    }
    // The bound is tight enough to matter: the old maximum (30 days) would overtake it.
    assert!(worst_case_seconds(&definition, 30, function_timeout) > timeout);
}

// ------------------------------------------------------------------------------------------
// Functions

#[test]
fn every_function_is_a_workspace_binary_and_every_binary_a_function() {
    let in_template: BTreeSet<String> = template_functions().into_values().collect();
    assert_eq!(in_template, workspace_function_binaries(), "template functions vs binaries under functions/");
    let globals = &template()["Globals"]["Function"];
    assert_eq!(globals["Runtime"], "provided.al2023");
    assert_eq!(globals["Handler"], "bootstrap");
    assert_eq!(globals["Architectures"], json!(["arm64"]));
    assert_eq!(globals["LoggingConfig"]["LogFormat"], "JSON");
    for (id, binary) in template_functions() {
        let function = resource(&id);
        assert_eq!(function["Metadata"]["BuildMethod"], "rust-cargolambda", "{id}");
        assert_eq!(function["Properties"]["CodeUri"], "..", "{id}: CodeUri is the workspace root");
        // An explicit log group with a retention for each function.
        let group =
            referenced(&function["Properties"]["LoggingConfig"]["LogGroup"]).unwrap_or_else(|| panic!("{id}: LoggingConfig.LogGroup"));
        let group = resource(group);
        assert_eq!(group["Type"], "AWS::Logs::LogGroup", "{id}");
        assert!(!group["Properties"]["RetentionInDays"].is_null(), "{id}: log retention");
        assert!(
            group["Properties"]["LogGroupName"]["Fn::Sub"].as_str().is_some_and(|n| n.ends_with(&format!("-{binary}"))),
            "{id}: the log group is named after the function"
        );
        // An Errors alarm for each function.
        let alarmed = of_type("AWS::CloudWatch::Alarm").any(|(_, a)| {
            a["Properties"]["MetricName"] == "Errors"
                && a["Properties"]["Dimensions"].as_array().is_some_and(|d| d.iter().any(|d| referenced(&d["Value"]) == Some(id.as_str())))
        });
        assert!(alarmed, "{id} has no Errors alarm");
    }
}

#[test]
fn every_function_gets_every_variable_the_functions_read() {
    let variables = template()["Globals"]["Function"]["Environment"]["Variables"].as_object().expect("Globals environment");
    let samples: HashMap<&str, &str> = HashMap::from([
        ("TABLE_NAME", "table"),
        ("STATE_MACHINE_ARN", "arn:aws:states:us-east-1:999999999999:stateMachine:cam-migration-migration"),
        ("PARTNER_ACCOUNT_ID", "999999999999"),
        ("ONBOARDING_OU_ID", "ou-ab12-onboard1"),
        ("GUARDRAIL_SCP_ID", "p-guardrail"),
        ("HARDENED_OU_ID", "ou-ab12-hardened"),
        ("HARDENING_SCP_IDS", "p-one12345,p-two12345"),
        ("SUPPORT_DEADLINE_DAYS", "14"),
        ("HANDSHAKE_POLL_MINUTES", "10"),
        ("SCAN_ORGANIZATIONS_INTERVAL_MS", "1000"),
    ]);
    let config = |without: Option<&str>| {
        let read = RefCell::new(BTreeSet::new());
        let result = functions_runtime::Config::from_lookup(|name| {
            read.borrow_mut().insert(name.to_owned());
            if Some(name) == without { None } else { samples.get(name).map(|v| (*v).to_owned()) }
        });
        (result, read.into_inner())
    };
    let (result, read) = config(None);
    result.expect("the sample environment is a valid configuration");
    let provided: BTreeSet<String> = variables.keys().cloned().collect();
    for name in samples.keys() {
        assert!(provided.contains(*name), "the template does not set {name}");
    }
    let unread: Vec<&String> = provided.difference(&read).collect();
    assert!(unread.is_empty(), "the template sets {unread:?}, which no function reads");
    // A variable is required when the configuration fails without it; optional ones may be
    // left to their defaults.
    for name in &read {
        if matches!(config(Some(name)).0, Err(ConfigError::Missing(_))) {
            assert!(provided.contains(name), "the functions require {name}, which the template does not set");
        }
    }
    // Only the API has variables of its own, read by its main.rs (SAM merges them with
    // Globals'): who the operators are, and where the customer's role template lives.
    for (id, binary) in template_functions() {
        let own = &resource(&id)["Properties"]["Environment"]["Variables"];
        let names: BTreeSet<&str> = own.as_object().map(|m| m.keys().map(String::as_str).collect()).unwrap_or_default();
        let expected: BTreeSet<&str> =
            if binary == "api" { ["OPERATOR_PRINCIPAL_ARNS", "ROLE_TEMPLATE_URL"].into() } else { BTreeSet::new() };
        assert_eq!(names, expected, "{id}'s own environment; keep shared variables in Globals");
        for name in names {
            assert!(!provided.contains(name), "{id} overrides the shared {name}");
        }
    }
    let api_main = self::read("functions/api/src/main.rs");
    for name in ["OPERATOR_PRINCIPAL_ARNS", "ROLE_TEMPLATE_URL"] {
        assert!(api_main.contains(&format!("\"{name}\"")), "functions/api reads {name}");
    }
}

#[test]
fn rate_limited_functions_have_reserved_concurrency_and_event_driven_ones_a_dead_letter_queue() {
    for binary in ["invite", "handshake-watcher", "hardening-scan"] {
        let reserved = &resource(&function_id(binary))["Properties"]["ReservedConcurrentExecutions"];
        assert!(reserved.as_u64().is_some_and(|n| (1..=2).contains(&n)), "{binary}: reserved concurrency 1..=2, found {reserved}");
    }
    for binary in ["handshake-watcher", "hardening-scan"] {
        let props = &resource(&function_id(binary))["Properties"];
        let queue = referenced(&props["DeadLetterQueue"]["TargetArn"]).unwrap_or_else(|| panic!("{binary}: DeadLetterQueue"));
        let queue = resource(queue);
        assert_eq!(queue["Type"], "AWS::SQS::Queue");
        let encrypted = queue["Properties"]["SqsManagedSseEnabled"] == true || !queue["Properties"]["KmsMasterKeyId"].is_null();
        assert!(encrypted, "{binary}: the dead-letter queue is encrypted");
        for (name, event) in props["Events"].as_object().expect("Events") {
            assert!(!event["Properties"]["DeadLetterConfig"].is_null(), "{binary}: event {name} has no DeadLetterConfig");
        }
    }
}

// ------------------------------------------------------------------------------------------
// Least privilege: tests/iam.rs proves each function's policy from the calls its code makes.
// Here: who may assume the customer's role.

fn as_strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

/// IAM's `ArnLike`: `*` any run of characters, `?` one, each ARN part matched on its own.
fn arn_like(pattern: &str, arn: &str) -> bool {
    fn glob(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => glob(&p[1..], s) || (!s.is_empty() && glob(p, &s[1..])),
            (Some(b'?'), Some(_)) => glob(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => glob(&p[1..], &s[1..]),
            _ => false,
        }
    }
    let (p, a): (Vec<&str>, Vec<&str>) = (pattern.splitn(6, ':').collect(), arn.splitn(6, ':').collect());
    p.len() == 6 && a.len() == 6 && p.iter().zip(&a).all(|(p, a)| glob(p.as_bytes(), a.as_bytes()))
}

#[test]
fn the_customer_role_is_assumed_only_as_a_centurylink_role() {
    for (id, _) in template_functions() {
        for policy in resource(&id)["Properties"]["Policies"].as_array().expect("Policies") {
            for statement in policy["Statement"].as_array().expect("Statement") {
                if as_strings(&statement["Action"]).iter().any(|a| a == "sts:AssumeRole") {
                    assert_eq!(as_strings(&statement["Action"]), ["sts:AssumeRole"], "{id}: AssumeRole in a statement of its own");
                    assert_eq!(statement["Resource"], json!({ "Fn::Sub": "arn:${AWS::Partition}:iam::*:role/CenturyLink*" }), "{id}");
                }
            }
        }
    }
}

/// The customer's role admits only the partner's functions that assume it (their roles sit
/// under one IAM path), and only with the ExternalId: not every principal of the partner
/// account. The functions that assume it are those the template allows sts:AssumeRole
/// (tests/iam.rs proves each such grant is used by a recorded call).
#[test]
fn the_customer_role_trusts_only_the_functions_that_assume_it_with_the_external_id() {
    let role = load_yaml("infra/customer-role.yaml");
    let (_, role) = role["Resources"].as_object().expect("Resources").iter().find(|(_, r)| r["Type"] == "AWS::IAM::Role").expect("a role");
    let trust = role["Properties"]["AssumeRolePolicyDocument"]["Statement"].as_array().expect("trust statements");
    assert_eq!(trust.len(), 1, "one trust statement");
    let statement = &trust[0];
    assert_eq!(statement["Effect"], "Allow");
    assert_eq!(statement["Action"], "sts:AssumeRole");
    assert_eq!(statement["Principal"]["AWS"], json!({ "Fn::Sub": "arn:${AWS::Partition}:iam::${PartnerAccountId}:root" }));
    assert_eq!(
        statement["Condition"]["StringEquals"]["sts:ExternalId"],
        json!({ "Ref": "ExternalId" }),
        "the ExternalId is still required"
    );
    let pattern = statement["Condition"]["ArnLike"]["aws:PrincipalArn"]["Fn::Sub"].as_str().expect("an aws:PrincipalArn condition");
    let path = load_yaml("infra/customer-role.yaml")["Parameters"]["PartnerRolePath"]["Default"]
        .as_str()
        .expect("PartnerRolePath default")
        .to_owned();
    let pattern =
        pattern.replace("${AWS::Partition}", "aws").replace("${PartnerAccountId}", "999999999999").replace("${PartnerRolePath}", &path);

    // The partner stack's function roles: those under the path are the ones that assume.
    let mut admitted = BTreeSet::new();
    for (id, binary) in template_functions() {
        let role_path = resource(&id)["Properties"]["RolePath"].as_str().unwrap_or("/");
        let arn = format!("arn:aws:iam::999999999999:role{role_path}cam-migration-{binary}-role");
        if arn_like(&pattern, &arn) {
            admitted.insert(binary);
        }
    }
    // The functions allowed sts:AssumeRole (tests/iam.rs proves each grant is used by a call).
    let assumers: BTreeSet<String> = template_functions()
        .into_iter()
        .filter(|(id, _)| {
            resource(id)["Properties"]["Policies"].as_array().into_iter().flatten().any(|p| {
                p["Statement"].as_array().into_iter().flatten().any(|s| as_strings(&s["Action"]).iter().any(|a| a == "sts:AssumeRole"))
            })
        })
        .map(|(_, binary)| binary)
        .collect();
    assert_eq!(assumers.len(), 3, "validate, check-support and hardening-scan assume the customer's role: {assumers:?}");
    assert_eq!(admitted, assumers, "the role trusts exactly the functions allowed to assume it ({pattern})");
    for other in [
        "arn:aws:iam::999999999999:role/Admin",
        "arn:aws:iam::999999999999:user/alice",
        "arn:aws:iam::111122223333:role/cam-customer-access/validate",
    ] {
        assert!(!arn_like(&pattern, other), "{other} must not be trusted");
    }
    assert!(
        arn_like("arn:aws:iam::1:role/a/*", "arn:aws:iam::1:role/a/b") && !arn_like("arn:aws:iam::1:role/a/*", "arn:aws:iam::1:role/b")
    );
}

// ------------------------------------------------------------------------------------------
// The table

#[test]
fn the_table_is_the_one_the_code_defines() {
    let expected = migration_aws::table_definition();
    let table = &resource("MigrationTable")["Properties"];
    let key = |schema: &Value| -> (String, String) {
        let schema = schema.as_array().expect("KeySchema");
        let of = |kind: &str| {
            schema.iter().find(|k| k["KeyType"] == kind).and_then(|k| k["AttributeName"].as_str()).expect("key element").to_owned()
        };
        assert_eq!(schema.len(), 2);
        (of("HASH"), of("RANGE"))
    };
    assert_eq!(key(&table["KeySchema"]), (expected.partition_key.to_owned(), expected.sort_key.to_owned()));

    let attributes: BTreeMap<String, String> = table["AttributeDefinitions"]
        .as_array()
        .expect("AttributeDefinitions")
        .iter()
        .map(|a| (a["AttributeName"].as_str().unwrap().to_owned(), a["AttributeType"].as_str().unwrap().to_owned()))
        .collect();
    let expected_attributes: BTreeMap<String, String> =
        expected.attribute_names().into_iter().map(|n| (n.to_owned(), "S".to_owned())).collect();
    assert_eq!(attributes, expected_attributes);

    let indexes: BTreeMap<String, (String, String)> = table["GlobalSecondaryIndexes"]
        .as_array()
        .expect("GlobalSecondaryIndexes")
        .iter()
        .map(|i| {
            assert_eq!(i["Projection"]["ProjectionType"], "ALL");
            (i["IndexName"].as_str().unwrap().to_owned(), key(&i["KeySchema"]))
        })
        .collect();
    let expected_indexes: BTreeMap<String, (String, String)> =
        expected.indexes.iter().map(|i| (i.name.to_owned(), (i.partition_key.to_owned(), i.sort_key.to_owned()))).collect();
    assert_eq!(indexes, expected_indexes);

    assert_eq!(table["TimeToLiveSpecification"], json!({ "AttributeName": expected.ttl_attribute, "Enabled": true }));
    assert_eq!(table["StreamSpecification"]["StreamViewType"], expected.stream_view_type);
    assert_eq!(table["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], true);
    assert_eq!(table["SSESpecification"]["SSEEnabled"], true);
    assert_eq!(table["DeletionProtectionEnabled"], true);
    assert_eq!(resource("MigrationTable")["DeletionPolicy"], "Retain");
}

// ------------------------------------------------------------------------------------------
// The HTTP API

#[test]
fn the_api_is_the_contract_with_iam_exactly_under_admin() {
    let api = &resource("HttpApi")["Properties"];
    assert_eq!(
        api["DefinitionBody"],
        json!({ "Fn::Transform": { "Name": "AWS::Include", "Parameters": { "Location": "openapi.yaml" } } }),
        "the HTTP API is built from infra/openapi.yaml"
    );
    let openapi = load_yaml("infra/openapi.yaml");
    let schemes = openapi["components"]["securitySchemes"].as_object().expect("securitySchemes");
    let jwt_schemes: BTreeSet<&String> =
        schemes.iter().filter(|(_, s)| s["x-amazon-apigateway-authorizer"]["type"] == "jwt").map(|(name, _)| name).collect();
    let iam_schemes: BTreeSet<&String> =
        schemes.iter().filter(|(_, s)| s["x-amazon-apigateway-authtype"] == "awsSigv4").map(|(name, _)| name).collect();
    assert!(!jwt_schemes.is_empty() && !iam_schemes.is_empty(), "a JWT and an IAM security scheme");
    // The authorizer's issuer and audience are template parameters.
    for (_, scheme) in schemes.iter().filter(|(n, _)| jwt_schemes.contains(n)) {
        let jwt = &scheme["x-amazon-apigateway-authorizer"]["jwtConfiguration"];
        for parameter in [referenced(&jwt["issuer"]), jwt["audience"].get(0).and_then(referenced)] {
            let parameter = parameter.expect("issuer and audience are Refs");
            assert!(!template()["Parameters"][parameter].is_null(), "the template has no parameter {parameter}");
        }
    }

    let methods = ["get", "put", "post", "delete", "patch", "head", "options"];
    let mut operations = 0;
    for (path, item) in openapi["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item").iter().filter(|(m, _)| methods.contains(&m.as_str())) {
            operations += 1;
            let route = format!("{} {path}", method.to_uppercase());
            let integration = &operation["x-amazon-apigateway-integration"];
            assert_eq!(integration["type"], "aws_proxy", "{route}");
            assert_eq!(integration["payloadFormatVersion"], "2.0", "{route}");
            let uri = integration["uri"]["Fn::Sub"].as_str().unwrap_or_else(|| panic!("{route}: uri is a Fn::Sub"));
            assert!(uri.contains("${ApiFunction.Arn}"), "{route} must go to ApiFunction");
            let security: BTreeSet<String> = operation["security"]
                .as_array()
                .unwrap_or_else(|| panic!("{route}: security"))
                .iter()
                .flat_map(|s| s.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()).unwrap_or_default())
                .collect();
            let expected = if path.starts_with("/admin/") { &iam_schemes } else { &jwt_schemes };
            assert!(
                !security.is_empty() && security.iter().all(|s| expected.contains(s)),
                "{route}: security {security:?}, expected one of {expected:?}"
            );
        }
    }
    assert!(operations > 0, "the contract has operations");
    assert_eq!(referenced(&resource("ApiInvokePermission")["Properties"]["FunctionName"]), Some("ApiFunction"));
    for output in ["ApiUrl", "StateMachineArn", "TableName"] {
        assert!(!template()["Outputs"][output].is_null(), "output {output}");
    }
}

// ------------------------------------------------------------------------------------------
// Events out: the status pipes

/// A stream record's attribute value as DynamoDB JSON.
fn dynamodb_json(value: &AttributeValue) -> Value {
    match value {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        AttributeValue::Null(_) => json!({ "NULL": true }),
        AttributeValue::M(m) => json!({ "M": m.iter().map(|(k, v)| (k.clone(), dynamodb_json(v))).collect::<Map<_, _>>() }),
        AttributeValue::L(l) => json!({ "L": l.iter().map(dynamodb_json).collect::<Vec<_>>() }),
        AttributeValue::Ss(ss) => json!({ "SS": ss }),
        AttributeValue::Ns(ns) => json!({ "NS": ns }),
        other => panic!("no DynamoDB JSON for {other:?} in a history item"),
    }
}

fn stream_record(item: &migration_aws::store::Item) -> Value {
    let image: Map<String, Value> = item.iter().map(|(k, v)| (k.clone(), dynamodb_json(v))).collect();
    json!({ "eventName": "INSERT", "eventSource": "aws:dynamodb", "dynamodb": { "NewImage": image, "StreamViewType": "NEW_IMAGE" } })
}

/// EventBridge pattern matching, for the parts the pipes use: nested objects, lists of
/// literal values, `{"exists": bool}`.
fn matches(pattern: &Value, event: Option<&Value>) -> bool {
    match pattern {
        Value::Object(fields) => {
            let Some(Value::Object(event)) = event else { return false };
            fields.iter().all(|(k, p)| match p {
                // `"key": [{"exists": false}]` matches when the key is absent.
                Value::Array(options) if options.iter().any(|o| o.get("exists").is_some()) => {
                    options.iter().any(|o| matches_value(o, event.get(k)))
                }
                _ => matches(p, event.get(k)),
            })
        }
        Value::Array(options) => options.iter().any(|o| matches_value(o, event)),
        other => panic!("unsupported pattern {other}"),
    }
}

fn matches_value(option: &Value, value: Option<&Value>) -> bool {
    match option.get("exists").and_then(Value::as_bool) {
        Some(exists) => value.is_some() == exists,
        None => value == Some(option),
    }
}

/// Renders an input template the way Pipes does: `<$.path>` inside quotes is the value's
/// text, escaped for a JSON string; outside quotes it is inserted as it is.
fn render(template: &str, record: &Value) -> String {
    let placeholder = Regex::new(r"<\$\.([A-Za-z0-9_.\-]+)>").unwrap();
    let mut out = String::new();
    let mut last = 0;
    for m in placeholder.captures_iter(template) {
        let whole = m.get(0).unwrap();
        out.push_str(&template[last..whole.start()]);
        let value = m[1].split('.').try_fold(record, |v, key| v.get(key));
        let value = value.unwrap_or_else(|| panic!("{} is not in the record", &m[1]));
        let quoted = template[..whole.start()].ends_with('"');
        match (value, quoted) {
            (Value::String(s), true) => out.push_str(serde_json::to_string(s).unwrap().trim_matches('"')),
            (Value::String(s), false) => out.push_str(s),
            (other, _) => out.push_str(&other.to_string()),
        }
        last = whole.end();
    }
    out.push_str(&template[last..]);
    out
}

fn history_event(kind: EventKind, from: Option<Status>, to: Status, actor: Actor) -> HistoryEvent {
    let at = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap() + chrono::Duration::nanoseconds(123_456_789);
    HistoryEvent {
        migration_id: MigrationId::new_at(at),
        seq: 21,
        at,
        kind,
        actor,
        from,
        to,
        note: "the customer said \"yes\"; \\ and / survive".into(),
        org_id: "acme".parse().unwrap(),
        aws_account_id: "000123456789".parse().unwrap(),
    }
}

#[test]
fn the_status_pipes_publish_exactly_the_domains_status_changed() {
    let pipes: Vec<(&String, &Value)> = of_type("AWS::Pipes::Pipe").collect();
    assert!(!pipes.is_empty(), "a status pipe");
    for (id, pipe) in &pipes {
        let props = &pipe["Properties"];
        assert_eq!(referenced(&props["Source"]), Some("MigrationTable"), "{id} reads the table's stream");
        assert_eq!(props["Source"]["Fn::GetAtt"][1], "StreamArn");
        let bus = &props["TargetParameters"]["EventBridgeEventBusParameters"];
        assert_eq!(bus["Source"], migration::record::EVENT_SOURCE, "{id}");
        assert_eq!(bus["DetailType"], migration::record::EVENT_DETAIL_TYPE, "{id}");
    }
    let events = [
        history_event(EventKind::StatusChanged, Some(Status::Invited), Status::Joined, Actor::System("handshake-watcher".into())),
        history_event(EventKind::StatusChanged, None, Status::Requested, Actor::User("user-1".parse().unwrap())),
        history_event(EventKind::Progress, None, Status::Joined, Actor::System("check-support".into())),
    ];
    for event in &events {
        let record = stream_record(&migration_aws::store::event_item(event).expect("a history item"));
        // The stream image reads back as the same event (the adapter's own reader agrees).
        let published = event.status_changed();
        let matching: Vec<&(&String, &Value)> = pipes
            .iter()
            .filter(|(_, pipe)| {
                pipe["Properties"]["SourceParameters"]["FilterCriteria"]["Filters"].as_array().expect("Filters").iter().any(|f| {
                    let pattern: Value = serde_json::from_str(f["Pattern"].as_str().expect("Pattern")).expect("a JSON pattern");
                    matches(&pattern, Some(&record))
                })
            })
            .collect();
        match &published {
            None => assert!(matching.is_empty(), "a progress entry must not be published, but {matching:?} match"),
            Some(expected) => {
                assert_eq!(matching.len(), 1, "exactly one pipe publishes {:?} -> {:?}", event.from, event.to);
                let (id, pipe) = matching[0];
                let template = pipe["Properties"]["TargetParameters"]["InputTemplate"].as_str().expect("InputTemplate");
                let rendered = render(template, &record);
                let detail: StatusChanged =
                    serde_json::from_str(&rendered).unwrap_or_else(|e| panic!("{id} renders {rendered}, not a StatusChanged: {e}"));
                assert_eq!(&detail, expected, "{id}");
                // And it is exactly the serialized shape, no extra keys.
                let value: Value = serde_json::from_str(&rendered).unwrap();
                assert_eq!(value, serde_json::to_value(expected).unwrap(), "{id}");
            }
        }
        assert_eq!(migration_aws::status_changed_from_stream_image(&migration_aws::store::event_item(event).unwrap()), published);
    }
}
