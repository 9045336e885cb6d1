//! Loading and validating a state machine definition.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use regex::Regex;
use serde_json::{Map, Value};

use crate::choice::Rule;
use crate::error::{LoadError, TOP, names};
use crate::path::{PathExpr, Seg};
use crate::template::{Dynamic, Template};

/// The reserved error names a definition may refer to in `ErrorEquals`.
const KNOWN_STATES_ERRORS: &[&str] = &[
    names::ALL,
    names::TIMEOUT,
    names::HEARTBEAT_TIMEOUT,
    names::TASK_FAILED,
    names::RESULT_PATH_MATCH_FAILURE,
    names::PARAMETER_PATH_FAILURE,
    names::NO_CHOICE_MATCHED,
    names::INTRINSIC_FAILURE,
    "States.Permissions",
    "States.BranchFailed",
    "States.ExceedToleratedFailureThreshold",
    "States.ItemReaderFailed",
    "States.ResultWriterFailed",
    "States.QueryEvaluationError",
];

/// A loaded, validated state machine definition. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Definition {
    pub(crate) start_at: String,
    pub(crate) states: HashMap<String, State>,
    pub(crate) timeout_seconds: Option<u64>,
    source: Value,
}

#[derive(Debug, Clone)]
pub(crate) struct State {
    pub name: String,
    pub kind: StateKind,
    /// `None`: field absent (`$`); `Some(None)`: `null`.
    pub input_path: Option<Option<PathExpr>>,
    pub output_path: Option<Option<PathExpr>>,
    /// `None` means `End`.
    pub next: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) enum ResultPath {
    Discard,
    At(Vec<Seg>),
}

#[derive(Debug, Clone)]
pub(crate) enum StateKind {
    Pass { parameters: Option<Template>, result: Option<Value>, result_path: ResultPath },
    Task(Box<TaskState>),
    Choice { choices: Vec<(Rule, String)>, default: Option<String> },
    Wait(WaitSpec),
    Succeed,
    Fail { error: Option<FailField>, cause: Option<FailField> },
}

impl StateKind {
    /// The prefix of the history events of this state (`TaskStateEntered`...).
    pub(crate) fn event_prefix(&self) -> &'static str {
        match self {
            StateKind::Pass { .. } => "Pass",
            StateKind::Task(_) => "Task",
            StateKind::Choice { .. } => "Choice",
            StateKind::Wait(_) => "Wait",
            StateKind::Succeed => "Succeed",
            StateKind::Fail { .. } => "Fail",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum FailField {
    Literal(String),
    Dynamic(Dynamic),
}

#[derive(Debug, Clone)]
pub(crate) enum WaitSpec {
    Seconds(u64),
    SecondsPath(PathExpr),
    Timestamp(DateTime<Utc>),
    TimestampPath(PathExpr),
}

#[derive(Debug, Clone)]
pub(crate) enum Seconds {
    Fixed(u64),
    Path(PathExpr),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum ResourceKind {
    /// `arn:aws:states:::lambda:invoke`: keyed by `FunctionName`, result wrapped in `Payload`.
    LambdaInvoke,
    /// Any other resource, keyed by the resource ARN (without `.waitForTaskToken`).
    Direct,
}

#[derive(Debug, Clone)]
pub(crate) struct TaskState {
    pub resource: String,
    pub resource_kind: ResourceKind,
    pub wait_for_token: bool,
    pub parameters: Option<Template>,
    pub result_selector: Option<Template>,
    pub result_path: ResultPath,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
    pub timeout: Option<Seconds>,
    pub heartbeat: Option<Seconds>,
}

#[derive(Debug, Clone)]
pub(crate) struct Retrier {
    pub error_equals: Vec<String>,
    pub interval_seconds: f64,
    pub max_attempts: u64,
    pub backoff_rate: f64,
    pub max_delay_seconds: Option<f64>,
    pub full_jitter: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Catcher {
    pub error_equals: Vec<String>,
    pub next: String,
    pub result_path: ResultPath,
}

/// Does an `ErrorEquals` list match an error name? (`States.ALL`, `States.TaskFailed` and
/// `States.Timeout` are wildcards, see the crate README.)
pub(crate) fn error_matches(error_equals: &[String], error: &str) -> bool {
    let is_timeout = error == names::TIMEOUT || error == names::HEARTBEAT_TIMEOUT;
    error_equals.iter().any(|e| {
        e == error
            || e == names::ALL
            || (e == names::TASK_FAILED && !is_timeout)
            || (e == names::TIMEOUT && error == names::HEARTBEAT_TIMEOUT)
    })
}

/// Replaces `${Name}` placeholders in the definition text.
pub(crate) fn substitute(text: &str, substitutions: &HashMap<String, String>) -> Result<String, LoadError> {
    let re = Regex::new(r"\$\{([^{}\s]*)\}").expect("static regex");
    let mut missing: Option<String> = None;
    let out = re.replace_all(text, |c: &regex::Captures<'_>| {
        let name = &c[1];
        match substitutions.get(name) {
            Some(v) => v.clone(),
            None => {
                missing.get_or_insert_with(|| name.to_string());
                String::new()
            }
        }
    });
    match missing {
        Some(name) => Err(LoadError::UnresolvedSubstitution { name }),
        None => Ok(out.into_owned()),
    }
}

struct Fields<'a> {
    state: &'a str,
    map: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    fn check_allowed(&self, allowed: &[&str]) -> Result<(), LoadError> {
        for k in self.map.keys() {
            if !allowed.contains(&k.as_str()) {
                return Err(LoadError::UnknownField { state: self.state.to_string(), field: k.clone() });
            }
        }
        Ok(())
    }
    fn get(&self, f: &str) -> Option<&'a Value> {
        self.map.get(f)
    }
    fn str(&self, f: &str) -> Result<Option<&'a str>, LoadError> {
        match self.map.get(f) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(LoadError::invalid(self.state, f, "must be a string")),
        }
    }
    fn uint(&self, f: &str, min: u64) -> Result<Option<u64>, LoadError> {
        match self.map.get(f) {
            None => Ok(None),
            Some(v) => match v.as_u64() {
                Some(n) if n >= min => Ok(Some(n)),
                _ => Err(LoadError::invalid(self.state, f, format!("must be an integer >= {min}, got {v}"))),
            },
        }
    }
    /// InputPath / OutputPath: absent, null, or a path.
    fn opt_path(&self, f: &str) -> Result<Option<Option<PathExpr>>, LoadError> {
        match self.map.get(f) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(Value::String(s)) => PathExpr::parse(s).map(|p| Some(Some(p))).map_err(|e| LoadError::invalid(self.state, f, e)),
            Some(_) => Err(LoadError::invalid(self.state, f, "must be a path or null")),
        }
    }
    fn reference_path(&self, f: &str, s: &str) -> Result<PathExpr, LoadError> {
        let p = PathExpr::parse(s).map_err(|e| LoadError::invalid(self.state, f, e))?;
        if p.segments().is_none() {
            return Err(LoadError::invalid(self.state, f, format!("`{s}` must be a reference path selecting a single node")));
        }
        Ok(p)
    }
    fn result_path(&self, f: &str, v: Option<&Value>) -> Result<ResultPath, LoadError> {
        match v {
            None => Ok(ResultPath::At(Vec::new())),
            Some(Value::Null) => Ok(ResultPath::Discard),
            Some(Value::String(s)) => {
                let p = self.reference_path(f, s)?;
                if p.is_context() {
                    return Err(LoadError::invalid(self.state, f, "cannot write to the context object"));
                }
                Ok(ResultPath::At(p.segments().unwrap_or_default().to_vec()))
            }
            Some(_) => Err(LoadError::invalid(self.state, f, "must be a path or null")),
        }
    }
    fn template(&self, f: &str) -> Result<Option<Template>, LoadError> {
        self.map.get(f).map(|v| Template::compile(v, self.state, f)).transpose()
    }
    fn seconds(&self, f: &str, path_field: &str) -> Result<Option<Seconds>, LoadError> {
        match (self.uint(f, 1)?, self.str(path_field)?) {
            (Some(_), Some(_)) => Err(LoadError::invalid(self.state, f, format!("`{f}` and `{path_field}` are mutually exclusive"))),
            (Some(n), None) => Ok(Some(Seconds::Fixed(n))),
            (None, Some(p)) => Ok(Some(Seconds::Path(self.reference_path(path_field, p)?))),
            (None, None) => Ok(None),
        }
    }
}

fn error_equals(state: &str, field: &str, v: Option<&Value>) -> Result<Vec<String>, LoadError> {
    let arr = v
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| LoadError::invalid(state, field, "`ErrorEquals` must be a non-empty array of strings"))?;
    let mut out = Vec::new();
    for e in arr {
        let s = e.as_str().ok_or_else(|| LoadError::invalid(state, field, "`ErrorEquals` must contain strings only"))?;
        if s == names::RUNTIME || s == names::DATA_LIMIT_EXCEEDED {
            return Err(LoadError::invalid(state, field, format!("`{s}` is a terminal error that can never be retried or caught")));
        }
        if s.starts_with("States.") && !KNOWN_STATES_ERRORS.contains(&s) {
            return Err(LoadError::invalid(state, field, format!("`{s}` is not a predefined error name")));
        }
        out.push(s.to_string());
    }
    if out.iter().any(|e| e == names::ALL) && out.len() > 1 {
        return Err(LoadError::invalid(state, field, "`States.ALL` must appear alone in `ErrorEquals`"));
    }
    Ok(out)
}

fn check_all_last(state: &str, field: &str, lists: &[&Vec<String>]) -> Result<(), LoadError> {
    for (i, l) in lists.iter().enumerate() {
        if l.iter().any(|e| e == names::ALL) && i + 1 != lists.len() {
            return Err(LoadError::invalid(
                state,
                &format!("{field}[{i}]"),
                format!("`States.ALL` must appear in the last element of `{field}`"),
            ));
        }
    }
    Ok(())
}

impl Definition {
    /// Applies `${Name}` substitutions to the text, then parses and validates the definition.
    ///
    /// Refuses (naming the state and the field) anything this executor does not execute:
    /// Map, Parallel, JSONata, unknown fields, dangling `Next`, `End` with `Next`...
    pub fn load(text: &str, substitutions: &HashMap<String, String>) -> Result<Self, LoadError> {
        let text = substitute(text, substitutions)?;
        let source: Value = serde_json::from_str(&text).map_err(|e| LoadError::InvalidJson(e.to_string()))?;
        Self::from_value(source)
    }

    /// The definition JSON after substitution.
    pub fn source(&self) -> &Value {
        &self.source
    }

    /// Names of all states, sorted.
    pub fn state_names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.states.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    fn from_value(source: Value) -> Result<Self, LoadError> {
        let Value::Object(top) = &source else {
            return Err(LoadError::InvalidJson("the definition must be a JSON object".into()));
        };
        let f = Fields { state: TOP, map: top };
        f.check_allowed(&["StartAt", "States", "Comment", "Version", "TimeoutSeconds", "QueryLanguage"])?;
        check_query_language(&f)?;
        if let Some(v) = f.str("Version")?
            && v != "1.0"
        {
            return Err(LoadError::invalid(TOP, "Version", "only \"1.0\" is supported"));
        }
        let timeout_seconds = f.uint("TimeoutSeconds", 1)?;
        let start_at = f.str("StartAt")?.ok_or_else(|| LoadError::missing(TOP, "StartAt"))?.to_string();
        let states_obj = match f.get("States") {
            None => return Err(LoadError::missing(TOP, "States")),
            Some(Value::Object(m)) if !m.is_empty() => m,
            Some(_) => {
                return Err(LoadError::invalid(TOP, "States", "must be a non-empty object"));
            }
        };
        let mut states = HashMap::new();
        for (name, v) in states_obj {
            if name.is_empty() || name.chars().count() > 80 {
                return Err(LoadError::invalid(name, "States", "state names must have 1 to 80 characters"));
            }
            let Value::Object(m) = v else {
                return Err(LoadError::invalid(name, "States", "a state must be an object"));
            };
            states.insert(name.clone(), parse_state(name, m)?);
        }
        if !states.contains_key(&start_at) {
            return Err(LoadError::DanglingReference { state: TOP.into(), field: "StartAt".into(), target: start_at });
        }
        // Every reference must resolve (sorted for a deterministic first error).
        let sorted: BTreeMap<&String, &State> = states.iter().collect();
        for (name, st) in sorted {
            let mut refs: Vec<(String, &String)> = Vec::new();
            if let Some(n) = &st.next {
                refs.push(("Next".into(), n));
            }
            match &st.kind {
                StateKind::Choice { choices, default } => {
                    for (i, (_, n)) in choices.iter().enumerate() {
                        refs.push((format!("Choices[{i}].Next"), n));
                    }
                    if let Some(d) = default {
                        refs.push(("Default".into(), d));
                    }
                }
                StateKind::Task(t) => {
                    for (i, c) in t.catch.iter().enumerate() {
                        refs.push((format!("Catch[{i}].Next"), &c.next));
                    }
                }
                _ => {}
            }
            for (field, target) in refs {
                if !states.contains_key(target) {
                    return Err(LoadError::DanglingReference { state: name.clone(), field, target: target.clone() });
                }
            }
        }
        Ok(Definition { start_at, states, timeout_seconds, source })
    }
}

fn check_query_language(f: &Fields<'_>) -> Result<(), LoadError> {
    match f.str("QueryLanguage")? {
        None | Some("JSONPath") => Ok(()),
        Some("JSONata") => Err(LoadError::unsupported(f.state, "QueryLanguage", "JSONata; only JSONPath is executed")),
        Some(other) => Err(LoadError::invalid(f.state, "QueryLanguage", format!("unknown query language `{other}`"))),
    }
}

fn parse_state(name: &str, m: &Map<String, Value>) -> Result<State, LoadError> {
    let f = Fields { state: name, map: m };
    let ty = f.str("Type")?.ok_or_else(|| LoadError::missing(name, "Type"))?;
    const COMMON: &[&str] = &["Type", "Comment", "QueryLanguage"];
    const IO: &[&str] = &["InputPath", "OutputPath"];
    const FLOW: &[&str] = &["Next", "End"];
    let allowed: Vec<&str> = match ty {
        "Pass" => [COMMON, IO, FLOW, &["Parameters", "Result", "ResultPath"]].concat(),
        "Task" => [
            COMMON,
            IO,
            FLOW,
            &[
                "Resource",
                "Parameters",
                "ResultSelector",
                "ResultPath",
                "Retry",
                "Catch",
                "TimeoutSeconds",
                "TimeoutSecondsPath",
                "HeartbeatSeconds",
                "HeartbeatSecondsPath",
            ],
        ]
        .concat(),
        "Choice" => [COMMON, IO, &["Choices", "Default"]].concat(),
        "Wait" => [COMMON, IO, FLOW, &["Seconds", "SecondsPath", "Timestamp", "TimestampPath"]].concat(),
        "Succeed" => [COMMON, IO].concat(),
        "Fail" => [COMMON, &["Error", "ErrorPath", "Cause", "CausePath"]].concat(),
        "Map" | "Parallel" => {
            return Err(LoadError::unsupported(name, "Type", format!("{ty} states are not implemented")));
        }
        other => {
            return Err(LoadError::invalid(name, "Type", format!("unknown state type `{other}`")));
        }
    };
    if let Some(k) = m.keys().find(|k| !allowed.contains(&k.as_str())) {
        let known_elsewhere = [
            "Credentials",
            "Arguments",
            "Output",
            "Assign",
            "ItemReader",
            "ItemProcessor",
            "ItemSelector",
            "Iterator",
            "Branches",
            "ResultWriter",
            "ItemBatcher",
            "MaxConcurrency",
            "ToleratedFailurePercentage",
            "ToleratedFailureCount",
        ];
        if known_elsewhere.contains(&k.as_str()) {
            return Err(LoadError::unsupported(name, k, format!("`{k}` is not executed on {ty} states by this executor")));
        }
        return Err(LoadError::UnknownField { state: name.to_string(), field: k.clone() });
    }
    check_query_language(&f)?;

    let next = match ty {
        "Choice" | "Succeed" | "Fail" => None,
        _ => {
            let next = f.str("Next")?;
            let end = match f.get("End") {
                None => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err(LoadError::invalid(name, "End", "must be a boolean")),
            };
            match (next, end) {
                (Some(_), true) => {
                    return Err(LoadError::invalid(name, "End", "a state cannot have both `End: true` and `Next`"));
                }
                (Some(n), false) => Some(n.to_string()),
                (None, true) => None,
                (None, false) => {
                    return Err(LoadError::MissingField { state: name.to_string(), field: "Next".into() });
                }
            }
        }
    };
    let input_path = f.opt_path("InputPath")?;
    let output_path = f.opt_path("OutputPath")?;

    let kind = match ty {
        "Pass" => StateKind::Pass {
            parameters: f.template("Parameters")?,
            result: f.get("Result").cloned(),
            result_path: f.result_path("ResultPath", f.get("ResultPath"))?,
        },
        "Succeed" => StateKind::Succeed,
        "Fail" => {
            let field = |lit: &str, path: &str| -> Result<Option<FailField>, LoadError> {
                match (f.str(lit)?, f.str(path)?) {
                    (Some(_), Some(_)) => Err(LoadError::invalid(name, lit, format!("`{lit}` and `{path}` are mutually exclusive"))),
                    (Some(s), None) => Ok(Some(FailField::Literal(s.to_string()))),
                    (None, Some(p)) => {
                        Dynamic::parse(p, true).map(|d| Some(FailField::Dynamic(d))).map_err(|e| LoadError::invalid(name, path, e))
                    }
                    (None, None) => Ok(None),
                }
            };
            StateKind::Fail { error: field("Error", "ErrorPath")?, cause: field("Cause", "CausePath")? }
        }
        "Wait" => {
            let mut specs = Vec::new();
            if let Some(n) = f.uint("Seconds", 0)? {
                specs.push(WaitSpec::Seconds(n));
            }
            if let Some(p) = f.str("SecondsPath")? {
                specs.push(WaitSpec::SecondsPath(f.reference_path("SecondsPath", p)?));
            }
            if let Some(t) = f.str("Timestamp")? {
                let ts = DateTime::parse_from_rfc3339(t)
                    .map_err(|e| LoadError::invalid(name, "Timestamp", format!("not an RFC 3339 timestamp: {e}")))?;
                specs.push(WaitSpec::Timestamp(ts.with_timezone(&Utc)));
            }
            if let Some(p) = f.str("TimestampPath")? {
                specs.push(WaitSpec::TimestampPath(f.reference_path("TimestampPath", p)?));
            }
            if specs.len() != 1 {
                return Err(LoadError::invalid(
                    name,
                    "Seconds",
                    "exactly one of Seconds, SecondsPath, Timestamp, TimestampPath is required",
                ));
            }
            StateKind::Wait(specs.remove(0))
        }
        "Choice" => {
            let arr = f
                .get("Choices")
                .ok_or_else(|| LoadError::missing(name, "Choices"))?
                .as_array()
                .filter(|a| !a.is_empty())
                .ok_or_else(|| LoadError::invalid(name, "Choices", "must be a non-empty array"))?;
            let mut choices = Vec::new();
            for c in arr {
                let Value::Object(o) = c else {
                    return Err(LoadError::invalid(name, "Choices", "rules must be objects"));
                };
                let mut o = o.clone();
                let next = match o.remove("Next") {
                    Some(Value::String(s)) => s,
                    _ => {
                        return Err(LoadError::invalid(name, "Choices", "every top-level choice rule needs a string `Next`"));
                    }
                };
                choices.push((Rule::parse(&o, name)?, next));
            }
            StateKind::Choice { choices, default: f.str("Default")?.map(str::to_string) }
        }
        "Task" => StateKind::Task(Box::new(parse_task(&f)?)),
        _ => unreachable!("state types were matched above"),
    };
    Ok(State { name: name.to_string(), kind, input_path, output_path, next })
}

fn parse_task(f: &Fields<'_>) -> Result<TaskState, LoadError> {
    let name = f.state;
    let resource = f.str("Resource")?.ok_or_else(|| LoadError::missing(name, "Resource"))?;
    let (base, wait_for_token) = match resource.strip_suffix(".waitForTaskToken") {
        Some(b) => (b, true),
        None => (resource, false),
    };
    let resource_kind = if base == "arn:aws:states:::lambda:invoke" {
        ResourceKind::LambdaInvoke
    } else {
        if base.starts_with("arn:aws:lambda:") && wait_for_token {
            return Err(LoadError::invalid(
                name,
                "Resource",
                "`.waitForTaskToken` needs a service integration such as arn:aws:states:::lambda:invoke",
            ));
        }
        ResourceKind::Direct
    };
    let parameters = f.template("Parameters")?;
    if resource_kind == ResourceKind::LambdaInvoke {
        let has_fn = f
            .get("Parameters")
            .and_then(Value::as_object)
            .is_some_and(|p| p.contains_key("FunctionName") || p.contains_key("FunctionName.$"));
        if !has_fn {
            return Err(LoadError::invalid(name, "Parameters", "lambda:invoke needs `FunctionName` (or `FunctionName.$`) in Parameters"));
        }
    }
    let timeout = f.seconds("TimeoutSeconds", "TimeoutSecondsPath")?;
    let heartbeat = f.seconds("HeartbeatSeconds", "HeartbeatSecondsPath")?;
    if heartbeat.is_some() && !wait_for_token {
        return Err(LoadError::unsupported(name, "HeartbeatSeconds", "heartbeats can only be sent for `.waitForTaskToken` tasks"));
    }
    if let (Some(Seconds::Fixed(h)), Some(Seconds::Fixed(t))) = (&heartbeat, &timeout)
        && h >= t
    {
        return Err(LoadError::invalid(name, "HeartbeatSeconds", "must be smaller than TimeoutSeconds"));
    }

    let mut retry = Vec::new();
    if let Some(v) = f.get("Retry") {
        let arr = v.as_array().ok_or_else(|| LoadError::invalid(name, "Retry", "must be an array"))?;
        for (i, r) in arr.iter().enumerate() {
            let field = format!("Retry[{i}]");
            let m = r.as_object().ok_or_else(|| LoadError::invalid(name, &field, "must be an object"))?;
            let rf = Fields { state: name, map: m };
            for k in m.keys() {
                if !["ErrorEquals", "IntervalSeconds", "MaxAttempts", "BackoffRate", "MaxDelaySeconds", "JitterStrategy", "Comment"]
                    .contains(&k.as_str())
                {
                    return Err(LoadError::UnknownField { state: name.into(), field: format!("{field}.{k}") });
                }
            }
            let at = |k: &str| format!("{field}.{k}");
            let backoff_rate = match m.get("BackoffRate") {
                None => 2.0,
                Some(v) => v
                    .as_f64()
                    .filter(|x| *x >= 1.0)
                    .ok_or_else(|| LoadError::invalid(name, &at("BackoffRate"), "must be a number >= 1.0"))?,
            };
            let full_jitter =
                match rf.str("JitterStrategy").map_err(|_| LoadError::invalid(name, &at("JitterStrategy"), "must be FULL or NONE"))? {
                    None | Some("NONE") => false,
                    Some("FULL") => true,
                    Some(o) => {
                        return Err(LoadError::invalid(name, &at("JitterStrategy"), format!("must be FULL or NONE, got `{o}`")));
                    }
                };
            let uint =
                |k: &str, min: u64| rf.uint(k, min).map_err(|_| LoadError::invalid(name, &at(k), format!("must be an integer >= {min}")));
            retry.push(Retrier {
                error_equals: error_equals(name, &field, m.get("ErrorEquals"))?,
                interval_seconds: uint("IntervalSeconds", 1)?.unwrap_or(1) as f64,
                max_attempts: uint("MaxAttempts", 0)?.unwrap_or(3),
                backoff_rate,
                max_delay_seconds: uint("MaxDelaySeconds", 1)?.map(|n| n as f64),
                full_jitter,
            });
        }
    }
    check_all_last(name, "Retry", &retry.iter().map(|r| &r.error_equals).collect::<Vec<_>>())?;

    let mut catch = Vec::new();
    if let Some(v) = f.get("Catch") {
        let arr = v.as_array().ok_or_else(|| LoadError::invalid(name, "Catch", "must be an array"))?;
        for (i, c) in arr.iter().enumerate() {
            let field = format!("Catch[{i}]");
            let m = c.as_object().ok_or_else(|| LoadError::invalid(name, &field, "must be an object"))?;
            for k in m.keys() {
                if !["ErrorEquals", "Next", "ResultPath", "Comment"].contains(&k.as_str()) {
                    return Err(LoadError::UnknownField { state: name.into(), field: format!("{field}.{k}") });
                }
            }
            let cf = Fields { state: name, map: m };
            let next = match m.get("Next") {
                Some(Value::String(s)) => s.clone(),
                _ => return Err(LoadError::missing(name, &format!("{field}.Next"))),
            };
            catch.push(Catcher {
                error_equals: error_equals(name, &field, m.get("ErrorEquals"))?,
                next,
                result_path: cf.result_path(&format!("{field}.ResultPath"), m.get("ResultPath"))?,
            });
        }
    }
    check_all_last(name, "Catch", &catch.iter().map(|c| &c.error_equals).collect::<Vec<_>>())?;

    Ok(TaskState {
        resource: resource.to_string(),
        resource_kind,
        wait_for_token,
        parameters,
        result_selector: f.template("ResultSelector")?,
        result_path: f.result_path("ResultPath", f.get("ResultPath"))?,
        retry,
        catch,
        timeout,
        heartbeat,
    })
}
