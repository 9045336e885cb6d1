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

use chrono::{Datelike, TimeZone, Utc};
use migration::record::{Actor, EventKind, HistoryEvent, StatusChanged};
use migration::settings::ConfigError;
use migration::workflow::Step;
use migration::{MigrationId, Status};
use regex::Regex;
use serde_json::{Value, json};

use infra_tests::pipes::{matches, render, stream_record};
use infra_tests::template::{
    arn_like, as_strings, definition, function_id, load_yaml, of_type, read, referenced, resource, resources, template, template_functions,
};
use infra_tests::workspace::{function_binary_dirs, workspace_function_binaries};

// ------------------------------------------------------------------------------------------
// Loading: YAML with CloudFormation's short-form tags, as the long-form JSON CloudFormation
// itself would see.

// ------------------------------------------------------------------------------------------
// cargo metadata: the workspace's binaries.

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

/// The two paths through the definition: the states only one kind enters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    Join,
    BillingTransfer,
}

impl Path {
    fn skips(self, state: &str) -> bool {
        match self {
            Path::Join => matches!(state, "WaitForTransferAcceptance" | "ConfirmTransfer"),
            Path::BillingTransfer => state == "WaitForHandshake",
        }
    }
}

/// The longest an execution of `path` can run.
///
/// Both kinds: the wait for a required usage snapshot (two days of hourly runs).
///
/// A join: the wait for an invitation slot (the invite step stops deferring at the wait
/// limit, counted from its first deferral, so the loop of Invite and WaitForInvitationSlot
/// lasts at most that long plus the last invite), the invitation wait's own timeout, the
/// support deadline, one last check after it, and every Task state's retries at their worst
/// (each attempt running to the function's timeout, each backoff at its cap).
///
/// A billing transfer: no invitation slot (its invitations are not paced), the acceptance
/// wait's timeout, the day from the last acceptance to the start (the Wait), then the same
/// support deadline and retries.
fn worst_case_seconds(definition: &Value, path: Path, deadline_days: i64, function_timeout: i64) -> i64 {
    let states = definition["States"].as_object().expect("States");
    assert_eq!(states["WaitForInvitationSlot"]["Next"], "Invite", "a loop: the invitation slot");
    assert_eq!(states["WaitForUsageSnapshot"]["Next"], "SnapshotUsage", "a loop: the wait for a required snapshot");
    let (snapshot_wait, snapshot_every) = (migration::steps::USAGE_SNAPSHOT_WAIT, migration::steps::USAGE_SNAPSHOT_RETRY_EVERY);
    // The wait for a required usage snapshot, for both kinds (its hourly runs below).
    let mut total = snapshot_wait.num_seconds()
        + deadline_days * 86_400
        + match path {
            Path::Join => migration::settings::MAX_INVITATION_WAIT_DAYS * 86_400,
            Path::BillingTransfer => migration::transfer::ACCEPTANCE_LEAD.num_seconds(),
        };
    for (name, state) in states {
        if state["Type"] != "Task" || path.skips(name) {
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
        // Invite runs before the first deferral and once more at the wait limit; the runs in
        // between, retries included, are inside the wait limit (counted above).
        let runs = match (name.as_str(), path) {
            ("CheckSupport", _) => support_checks(deadline_days),
            ("Invite", Path::Join) => 2,
            // Once when the wait begins, then every hour until it ends, each entry with all
            // its retries.
            ("SnapshotUsage", _) => snapshot_wait.num_seconds() / snapshot_every.num_seconds() + 1,
            _ => 1,
        };
        total += runs * attempts_time;
    }
    total
}

/// The acceptance wait of a billing transfer outlasts the latest acceptance the program
/// allows: a start at most [`migration::transfer::MAX_MONTHS_AFTER_EARLIEST`] months after the
/// earliest, accepted 24 hours before it.
#[test]
fn the_transfer_acceptance_wait_outlasts_the_latest_start() {
    let definition: Value = serde_json::from_str(&definition()).expect("definition JSON");
    let wait = definition["States"]["WaitForTransferAcceptance"]["TimeoutSeconds"].as_i64().expect("TimeoutSeconds");
    // The worst moment to ask: just after a month's start is too close for next month.
    let mut longest = 0;
    let mut now = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().to_utc();
    while now.year() < 2029 {
        let latest = migration::transfer::BillingMonth::latest(now);
        longest = longest.max((latest.accept_by() - now).num_seconds());
        now += chrono::Duration::hours(6);
    }
    assert!(longest < wait, "an acceptance can be due {longest} s after the invitation; the wait times out at {wait} s");
    assert!(wait - longest < 10 * 86_400, "the wait is not much longer than it must be ({wait} s for {longest} s)");
}

/// How many times check-support runs before a `days`-day deadline ends it, with the waits
/// the step itself computes (the join re-check included).
fn support_checks(days: i64) -> i64 {
    let settings = migration::Settings { support_deadline: chrono::Duration::days(days), ..migration_sim::fixtures::settings() };
    i64::try_from(migration::steps::support_check_times(&settings).len()).unwrap()
}

#[test]
fn no_timeout_overtakes_the_support_deadline_over_its_whole_range() {
    let definition: Value = serde_json::from_str(&definition()).expect("definition JSON");
    let timeout = definition["TimeoutSeconds"].as_i64().expect("the execution's TimeoutSeconds");
    let parameter = &template()["Parameters"]["SupportDeadlineDays"];
    let (min, max) = (parameter["MinValue"].as_i64().unwrap(), parameter["MaxValue"].as_i64().unwrap());
    assert_eq!(max, migration::settings::MAX_SUPPORT_DEADLINE_DAYS, "the template and the settings bound the deadline alike");
    let function_timeout = template()["Globals"]["Function"]["Timeout"].as_i64().expect("Globals Timeout");
    for path in [Path::Join, Path::BillingTransfer] {
        for days in min..=max {
            let worst = worst_case_seconds(&definition, path, days, function_timeout);
            assert!(worst < timeout, "{path:?}: a {days}-day deadline can run {worst} s, past the execution's TimeoutSeconds {timeout}");
        }
    }
    // One definition, one timeout: the billing transfer's path sets it, and it is tight
    // enough to matter (ten more days of support deadline would overtake it).
    let longer = worst_case_seconds(&definition, Path::BillingTransfer, max + 10, function_timeout);
    assert!(longer > timeout, "{longer} s with a {}-day deadline still fits in {timeout} s", max + 10);
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
        // The function's own package, not the workspace root: built from the root, cargo would
        // unify the features of every member and link every SDK into every function.
        let dir = &function_binary_dirs()[&binary];
        assert_eq!(function["Properties"]["CodeUri"], format!("../{dir}"), "{id}: CodeUri is the package of `{binary}`");
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
        ("INVITATIONS_PER_24_HOURS", "20"),
        ("SCAN_ORGANIZATIONS_INTERVAL_MS", "1000"),
        ("METRICS_NAMESPACE", "CAM/cam-migration"),
    ]);
    let config = |without: Option<&str>| {
        let read = RefCell::new(BTreeSet::new());
        let result = functions_runtime::Config::from_lookup(|name| {
            read.borrow_mut().insert(name.to_owned());
            if Some(name) == without { None } else { samples.get(name).map(|v| (*v).to_owned()) }
        });
        (result, read.into_inner())
    };
    let (result, mut read) = config(None);
    result.expect("the sample environment is a valid configuration");
    // Read by every function's Config, given only to those that need the bucket (below).
    for own in ["SNAPSHOT_BUCKET", "SNAPSHOT_KMS_KEY_ARN"] {
        assert!(read.remove(own), "functions_runtime::Config reads {own}");
    }
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
    // Only the API and snapshot-usage have variables of their own (SAM merges them with
    // Globals'): who the operators are and where the customer's role template lives (the
    // API's main.rs reads them); the snapshot bucket and its key (functions_runtime::Config),
    // for the two functions that write or sign snapshots.
    for (id, binary) in template_functions() {
        let own = &resource(&id)["Properties"]["Environment"]["Variables"];
        let names: BTreeSet<&str> = own.as_object().map(|m| m.keys().map(String::as_str).collect()).unwrap_or_default();
        let expected: BTreeSet<&str> = match binary.as_str() {
            "api" => ["OPERATOR_PRINCIPAL_ARNS", "ROLE_TEMPLATE_URL", "SNAPSHOT_BUCKET", "SNAPSHOT_KMS_KEY_ARN"].into(),
            "snapshot-usage" => ["SNAPSHOT_BUCKET", "SNAPSHOT_KMS_KEY_ARN"].into(),
            _ => BTreeSet::new(),
        };
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

/// A pattern with its `Fn::Sub`s resolved as CloudFormation would for the fixtures' stack
/// (`cam-migration` in account 999999999999, us-east-1).
fn resolve_subs(value: &Value) -> Value {
    match value {
        Value::Object(map) if map.len() == 1 && map.contains_key("Fn::Sub") => {
            let text = map["Fn::Sub"].as_str().expect("a plain Fn::Sub");
            let resolved = [
                ("AWS::Partition", "aws"),
                ("AWS::Region", "us-east-1"),
                ("AWS::AccountId", "999999999999"),
                ("AWS::StackName", "cam-migration"),
            ]
            .iter()
            .fold(text.to_owned(), |t, (name, v)| t.replace(&format!("${{{name}}}"), v));
            assert!(!resolved.contains("${"), "unresolved substitution in {resolved}");
            Value::String(resolved)
        }
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), resolve_subs(v))).collect()),
        Value::Array(items) => Value::Array(items.iter().map(resolve_subs).collect()),
        other => other.clone(),
    }
}

/// Every event the watcher's fixtures hold (the AccountJoinedOrganization spellings, the
/// direct transfer, the execution timeout) is delivered by one of its EventBridge rules: a
/// spelling the parser reads but no rule matches would never reach it on AWS.
#[test]
fn every_watcher_event_fixture_matches_one_of_its_rules() {
    let watcher = resource(&function_id("handshake-watcher"));
    let patterns: Vec<Value> = watcher["Properties"]["Events"]
        .as_object()
        .expect("the watcher's events")
        .values()
        .filter(|e| e["Type"] == "EventBridgeRule")
        .map(|e| resolve_subs(&e["Properties"]["Pattern"]))
        .collect();
    assert!(patterns.len() >= 2, "{patterns:?}");
    let dir = infra_tests::template::root().join("functions/handshake-watcher/events");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("the watcher's events") {
        let path = entry.unwrap().path();
        let event: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        if event["detail-type"] == "Scheduled Event" {
            continue;
        }
        seen += 1;
        assert!(patterns.iter().any(|p| matches(p, Some(&event))), "no rule of the watcher delivers {}", path.display());
    }
    assert!(seen >= 4, "the AccountJoinedOrganization spellings and the timeout are all fixtures");
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
    assert_eq!(assumers.len(), 4, "validate, snapshot-usage, check-support and hardening-scan assume the customer's role: {assumers:?}");
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

/// Every metric of the functions' namespace that an alarm or the dashboard names is one the
/// functions emit (`functions_runtime::metrics::names_of`), in the namespace they are told
/// to use, and every emitted metric is on the dashboard.
#[test]
fn alarms_and_the_dashboard_name_the_metrics_the_functions_emit() {
    use functions_runtime::metrics::names_of;
    let namespace = template()["Globals"]["Function"]["Environment"]["Variables"]["METRICS_NAMESPACE"].clone();
    assert_eq!(namespace, json!({"Fn::Sub": "CAM/${AWS::StackName}"}));
    let mut alarmed = BTreeSet::new();
    for (id, alarm) in of_type("AWS::CloudWatch::Alarm") {
        let p = &alarm["Properties"];
        let mut metrics: Vec<&Value> = vec![p];
        if let Some(queries) = p["Metrics"].as_array() {
            metrics.extend(queries.iter().filter_map(|q| q.get("MetricStat").map(|m| &m["Metric"])));
        }
        for m in metrics.into_iter().filter(|m| m["Namespace"] == namespace) {
            let name = m["MetricName"].as_str().unwrap_or_else(|| panic!("{id}: a metric name"));
            assert!(names_of::ALL.contains(&name), "{id} alarms on {name}, which no function emits");
            assert!(m.get("Dimensions").is_none(), "{id}: the functions' metrics {name} has no dimension an alarm could name");
            alarmed.insert(name);
        }
    }
    for name in [names_of::UNEXPECTED_FAILURES, names_of::CANCELS, names_of::SWEEP_RECORD_FAILURES, names_of::SCAN_RECORD_FAILURES] {
        assert!(alarmed.contains(name), "no alarm reads {name}");
    }
    assert!(!resources().contains_key("ExecutionsFailedAlarm"), "AWS/States ExecutionsFailed counts declines and expiries: outcomes");
    let body = resource("Dashboard")["Properties"]["DashboardBody"]["Fn::Sub"][0].as_str().expect("the dashboard body").to_owned();
    for name in names_of::ALL {
        assert!(body.contains(&format!("\"{name}\"")) || body.contains(&format!("\\\"{name}\\\"")), "the dashboard does not show {name}");
    }
}

/// The snapshot step's patience with throttling (`steps::TRANSIENT_PATIENCE`) ends well before
/// its state's last `Migration.Transient` retry, whatever the jitter: the retries have none, so
/// the last attempts decide (go on, or wait for the snapshot) instead of failing the migration
/// over a snapshot it may not need. And a required snapshot is waited for hourly, two days.
#[test]
fn the_snapshot_step_decides_before_its_transient_retries_run_out() {
    let definition: Value = serde_json::from_str(&definition()).expect("definition JSON");
    let state = &definition["States"]["SnapshotUsage"];
    assert_eq!(definition["States"]["Validate"]["Next"], "SnapshotUsage", "after validation");
    let retry = |error: &str| state["Retry"].as_array().unwrap().iter().find(|r| r["ErrorEquals"] == json!([error])).cloned().expect(error);
    let transient = retry("Migration.Transient");
    assert_eq!(transient["JitterStrategy"], "NONE");
    let (interval, rate) = (transient["IntervalSeconds"].as_f64().unwrap(), transient["BackoffRate"].as_f64().unwrap());
    let max_delay = transient["MaxDelaySeconds"].as_f64().unwrap_or(f64::INFINITY);
    let attempts = i32::try_from(transient["MaxAttempts"].as_i64().unwrap()).unwrap();
    // When each retry comes after the first attempt, at the soonest (the step runs in no time).
    let retries: Vec<f64> = (1..=attempts).map(|n| (0..n).map(|k| (interval * rate.powi(k)).min(max_delay)).sum()).collect();
    let patience = migration::steps::TRANSIENT_PATIENCE.num_seconds() as f64;
    // Past the patience the step decides; a fault on that attempt (the store, the role) must
    // not exhaust the retries, so three retries at least come after it.
    let deciding = retries.iter().filter(|at| **at >= patience).count();
    assert!(deciding >= 3, "retries at {retries:?} s; {deciding} of them after the patience of {patience} s");
    // A required snapshot is waited for in a Wait state, not a retrier: retriers count across
    // the whole stay in a state, so two days of hourly attempts would use up the transient
    // retries above; each pass through the Wait state enters the Task afresh.
    assert!(state["Retry"].as_array().unwrap().iter().all(|r| r["ErrorEquals"] != json!(["Migration.UsageSnapshotRequired"])));
    assert_eq!(state["ResultSelector"], json!({"retry_at.$": "$.Payload.retry_at"}));
    assert_eq!(state["Next"], "UsageSnapshotWaits");
    let choice = &definition["States"]["UsageSnapshotWaits"];
    assert_eq!(choice["Choices"], json!([{"Variable": "$.usage_snapshot.retry_at", "IsNull": false, "Next": "WaitForUsageSnapshot"}]));
    assert_eq!(choice["Default"], "Invite", "before the invitation, for both kinds");
    let wait = &definition["States"]["WaitForUsageSnapshot"];
    assert_eq!((wait["TimestampPath"].as_str(), wait["Next"].as_str()), (Some("$.usage_snapshot.retry_at"), Some("SnapshotUsage")));
    let (every, wait_for) = (migration::steps::USAGE_SNAPSHOT_RETRY_EVERY, migration::steps::USAGE_SNAPSHOT_WAIT);
    assert_eq!((every.num_hours(), wait_for.num_hours()), (1, 48), "the README and the status promise two days of hourly tries");
}
