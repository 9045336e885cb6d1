//! `infra/` agrees with the code (DESIGN §4, "Infrastructure checks offline"):
//!
//! - every `${Substitution}` of the state machine definition is provided by the template, and
//!   none is left unused; the state machine may invoke exactly its six functions;
//! - every function of the template is a workspace binary under `functions/`, and every such
//!   binary is a function; each gets every environment variable the functions read;
//! - each function's IAM actions in the template equal `functions/<name>/iam-actions.txt`,
//!   every one of them is declared by an adapter on the function's code path, and each
//!   adapter's declared actions are exactly the SDK operations its source calls;
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
// cargo metadata: the workspace's binaries and where the SDK crates' sources are.

fn metadata() -> &'static Value {
    static METADATA: OnceLock<Value> = OnceLock::new();
    METADATA.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = Command::new(cargo)
            .args(["metadata", "--format-version", "1", "--locked", "--offline", "--manifest-path"])
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

/// The directory of a function binary's package, e.g. `functions/invite`.
fn function_dir(binary: &str) -> PathBuf {
    for package in metadata()["packages"].as_array().expect("packages") {
        let has_bin = package["targets"]
            .as_array()
            .is_some_and(|ts| ts.iter().any(|t| t["name"] == binary && t["kind"].as_array().is_some_and(|k| k.iter().any(|k| k == "bin"))));
        if has_bin {
            return Path::new(package["manifest_path"].as_str().expect("manifest_path")).parent().expect("package dir").to_owned();
        }
    }
    panic!("no package has the binary {binary}")
}

/// The source directory of a dependency of migration-aws (an AWS SDK crate).
fn crate_src(name: &str) -> PathBuf {
    let package = metadata()["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("{name} is not in the dependency graph"));
    Path::new(package["manifest_path"].as_str().expect("manifest_path")).parent().expect("crate dir").join("src")
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
    for (id, _) in template_functions() {
        let own = &resource(&id)["Properties"]["Environment"];
        assert!(own.is_null(), "{id} overrides the shared environment; keep it in Globals");
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
// Least privilege

/// Which adapters each function's code path uses (its `main.rs` builds every port, but only
/// these are called by the handler it runs; see crates/migration/src/steps and crates/api).
fn adapters_of(binary: &str) -> &'static [&'static str] {
    match binary {
        // load/commit, the profile, terms, approval, the lock; the customer role (through it:
        // the customer's organization and the support pre-check).
        "validate" => &["store", "customer", "support"],
        // load/commit; membership, open invitation listing, the invitation.
        "invite" => &["store", "organizations"],
        // stores the token; a decided handshake resolves at once (membership, token delivery).
        "wait-for-handshake" => &["store", "organizations", "executions"],
        // the profile, the customer role (through it: the support plan), commit.
        "check-support" => &["store", "customer", "support"],
        "schedule-hardening" => &["store"],
        // the failure and the lock release, in one transaction.
        "record-failure" => &["store"],
        // the lock holder, the work queue, handshakes, membership, token delivery, unstarted executions.
        "handshake-watcher" => &["store", "organizations", "executions"],
        // the work queue, membership, the customer role, the baseline controls.
        "hardening-scan" => &["store", "organizations", "customer"],
        // records, history, listings, operator items; cancel (handshake, execution); start.
        "api" => &["store", "organizations", "executions"],
        other => panic!("no adapter list for the function {other}; add one here"),
    }
}

/// The adapter modules of migration-aws and their declared actions.
fn adapter_actions() -> BTreeMap<&'static str, (&'static [&'static str], &'static [&'static str])> {
    use migration_aws::{customer, executions, organizations, store, support};
    BTreeMap::from([
        ("store", (store::IAM_ACTIONS, &[][..])),
        ("organizations", (organizations::IAM_ACTIONS, &[][..])),
        ("customer", (customer::IAM_ACTIONS, customer::CUSTOMER_ROLE_ACTIONS)),
        ("support", (support::IAM_ACTIONS, support::CUSTOMER_ROLE_ACTIONS)),
        ("executions", (executions::IAM_ACTIONS, &[][..])),
    ])
}

fn as_strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

/// The actions of a function's own inline statements (SAM adds the logging and dead-letter
/// permissions itself).
fn template_actions(function_id: &str) -> BTreeSet<String> {
    let mut actions = BTreeSet::new();
    for policy in resource(function_id)["Properties"]["Policies"].as_array().unwrap_or_else(|| panic!("{function_id}: Policies")) {
        let statements = policy["Statement"].as_array().unwrap_or_else(|| panic!("{function_id}: inline policy documents only"));
        for statement in statements {
            assert_eq!(statement["Effect"], "Allow", "{function_id}");
            assert!(!statement["Resource"].is_null(), "{function_id}: every statement names its resources");
            actions.extend(as_strings(&statement["Action"]));
        }
    }
    actions
}

fn listed_actions(binary: &str) -> BTreeSet<String> {
    let path = function_dir(binary).join("iam-actions.txt");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_owned).collect()
}

#[test]
fn each_function_is_allowed_exactly_its_listed_actions_and_an_adapter_on_its_path_calls_each() {
    let adapters = adapter_actions();
    let mut used_by_someone = BTreeSet::new();
    for (id, binary) in template_functions() {
        let granted = template_actions(&id);
        let listed = listed_actions(&binary);
        assert_eq!(granted, listed, "{id}: the template's actions vs functions/{binary}/iam-actions.txt");
        let mut declared = BTreeSet::new();
        for adapter in adapters_of(&binary) {
            let (own, _) = adapters[adapter];
            declared.extend(own.iter().map(|a| (*a).to_owned()));
        }
        let undeclared: Vec<&String> = listed.difference(&declared).collect();
        assert!(
            undeclared.is_empty(),
            "{binary} is allowed {undeclared:?}, which no adapter on its path ({:?}) calls",
            adapters_of(&binary)
        );
        used_by_someone.extend(listed);
        // Calls made through the customer's role are never the function's own permission.
        for adapter in adapters_of(&binary) {
            for through in adapters[adapter].1 {
                assert!(!granted.contains(*through), "{binary}: {through} is called through the customer's role");
            }
        }
    }
    let all_declared: BTreeSet<String> = adapters.values().flat_map(|(own, _)| own.iter().map(|a| (*a).to_owned())).collect();
    let unused: Vec<&String> = all_declared.difference(&used_by_someone).collect();
    assert!(unused.is_empty(), "actions adapters declare but no function is allowed: {unused:?}");
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

/// `list_handshakes_for_organization` -> `ListHandshakesForOrganization`.
fn pascal(snake: &str) -> String {
    snake
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect()
}

/// The IAM prefix of an SDK crate.
fn iam_prefix(sdk_crate: &str) -> &'static str {
    match sdk_crate {
        "aws-sdk-dynamodb" => "dynamodb",
        "aws-sdk-organizations" => "organizations",
        "aws-sdk-sfn" => "states",
        "aws-sdk-sts" => "sts",
        "aws-sdk-support" => "support",
        other => panic!("no IAM prefix for {other}; add it here"),
    }
}

/// The operation of each fluent SDK call `<client>.<operation>()...send()` in `source`: from
/// each `.send()`, walk the method chain back to its first call, whose receiver is a client.
fn sdk_operations(source: &str) -> Vec<String> {
    let bytes = source.as_bytes();
    let mut operations = Vec::new();
    for (send, _) in source.match_indices(".send()") {
        let mut i = send; // at the '.' of `.send`
        let mut first: Option<String> = None;
        loop {
            // Skip whitespace before the '.'.
            let mut j = i;
            while j > 0 && bytes[j - 1].is_ascii_whitespace() {
                j -= 1;
            }
            if j == 0 || bytes[j - 1] != b')' {
                break; // the receiver is a name: `first` is the operation
            }
            // Match the parentheses of the previous call backwards.
            let mut depth = 0usize;
            let mut k = j;
            loop {
                k -= 1;
                match bytes[k] {
                    b')' => depth += 1,
                    b'(' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
            }
            // The method name before '('.
            let end = k;
            let mut start = end;
            while start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_') {
                start -= 1;
            }
            if start == 0 || bytes[start - 1] != b'.' || start == end {
                break; // a function call, not a method: not an SDK chain
            }
            first = Some(source[start..end].to_owned());
            i = start - 1;
        }
        if let Some(op) = first {
            operations.push(op);
        }
    }
    operations
}

/// The IAM actions of the SDK calls of one adapter source file.
fn called_actions(file: &str, source: &str) -> BTreeSet<String> {
    let sdk_crates: Vec<&str> = ["aws-sdk-dynamodb", "aws-sdk-organizations", "aws-sdk-sfn", "aws-sdk-sts", "aws-sdk-support"]
        .into_iter()
        .filter(|c| source.contains(&c.replace('-', "_")))
        .collect();
    let mut actions = BTreeSet::new();
    for op in sdk_operations(source) {
        let owners: Vec<&str> = sdk_crates
            .iter()
            .copied()
            .filter(|c| {
                let dir = crate_src(c).join("operation");
                dir.join(&op).is_dir() || dir.join(format!("{op}.rs")).is_file()
            })
            .collect();
        assert_eq!(owners.len(), 1, "{file}: `.{op}()` is an operation of {owners:?} among the SDKs it uses ({sdk_crates:?})");
        let prefix = iam_prefix(owners[0]);
        if prefix == "dynamodb" && op == "transact_write_items" {
            // Not an IAM action: each item's own action is checked (DynamoDB developer guide,
            // "Using IAM with DynamoDB transactions").
            for (builder, action) in [
                ("Put::builder()", "PutItem"),
                ("Delete::builder()", "DeleteItem"),
                ("Update::builder()", "UpdateItem"),
                ("ConditionCheck::builder()", "ConditionCheckItem"),
            ] {
                if source.contains(builder) {
                    actions.insert(format!("dynamodb:{action}"));
                }
            }
        } else {
            actions.insert(format!("{prefix}:{}", pascal(&op)));
        }
    }
    actions
}

#[test]
fn each_adapter_declares_exactly_the_sdk_operations_its_source_calls() {
    let src = root().join("crates/migration-aws/src");
    for (adapter, (own, through_customer)) in adapter_actions() {
        let file = format!("{adapter}.rs");
        let source = fs::read_to_string(src.join(&file)).expect("adapter source");
        let called = called_actions(&file, &source);
        let declared: BTreeSet<String> = own.iter().chain(through_customer.iter()).map(|a| (*a).to_owned()).collect();
        assert_eq!(declared, called, "{file}: IAM_ACTIONS (+ CUSTOMER_ROLE_ACTIONS) vs the SDK calls in its source");
        let overlap: Vec<&&str> = own.iter().filter(|a| through_customer.contains(a)).collect();
        assert!(overlap.is_empty(), "{file}: {overlap:?} both own and through the customer's role");
    }
    // No other module calls AWS in production (table.rs creates tables for tests and the
    // local runner only).
    for entry in fs::read_dir(&src).expect("migration-aws/src") {
        let path = entry.expect("entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        let adapter = name.trim_end_matches(".rs");
        if adapter_actions().contains_key(adapter) || name == "table.rs" {
            continue;
        }
        let source = fs::read_to_string(&path).expect("source");
        assert!(sdk_operations(&source).is_empty(), "{name} calls AWS but is not an adapter with IAM_ACTIONS");
    }
}

#[test]
fn the_sdk_call_parser_finds_chained_calls() {
    let source = "let a = self.client.get_item().table_name(&t).set_key(Some(k(&x))).send().await;\n\
                  orgs.list_accounts()\n    .set_next_token(next.take())\n    .send()\n    .await;\n\
                  client.describe_severity_levels().language(\"en\").send().await";
    assert_eq!(sdk_operations(source), ["get_item", "list_accounts", "describe_severity_levels"]);
    assert_eq!(pascal("list_handshakes_for_organization"), "ListHandshakesForOrganization");
}

#[test]
fn the_customer_role_template_allows_what_is_called_through_it() {
    let role = load_yaml("infra/customer-role.yaml");
    let resources = role["Resources"].as_object().expect("Resources");
    let (_, role) = resources.iter().find(|(_, r)| r["Type"] == "AWS::IAM::Role").expect("a role");
    let props = &role["Properties"];
    assert_eq!(
        props["RoleName"],
        json!({ "Fn::If": ["IsFullHardening", "CenturyLinkFullHardening", "CenturyLinkOptimized"] }),
        "the recommended role names"
    );
    let trust = &props["AssumeRolePolicyDocument"]["Statement"];
    assert_eq!(trust.as_array().map(Vec::len), Some(1), "one trust statement");
    assert_eq!(trust[0]["Principal"]["AWS"], json!({ "Fn::Sub": "arn:${AWS::Partition}:iam::${PartnerAccountId}:root" }));
    assert_eq!(trust[0]["Condition"]["StringEquals"]["sts:ExternalId"], json!({ "Ref": "ExternalId" }));

    // Optimized: the inline policy allows every action called through the customer's role.
    let optimized = &props["Policies"]["Fn::If"][2];
    let allowed: Vec<String> = optimized
        .as_array()
        .expect("the Optimized policies")
        .iter()
        .flat_map(|p| p["PolicyDocument"]["Statement"].as_array().cloned().unwrap_or_default())
        .flat_map(|s| as_strings(&s["Action"]))
        .collect();
    let through: Vec<&str> = adapter_actions().values().flat_map(|(_, through)| through.iter().copied()).collect();
    for action in through {
        let covered = allowed.iter().any(|a| match a.strip_suffix('*') {
            Some(prefix) => action.starts_with(prefix),
            None => a == action,
        });
        assert!(covered, "the Optimized role does not allow {action}, which the system calls through it");
    }
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
