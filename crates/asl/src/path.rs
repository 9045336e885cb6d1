//! JSONPath handling.
//!
//! Reads go through `serde_json_path` (RFC 9535). Two Step Functions conventions are
//! handled on top of it:
//! - `$$.` paths query the context object (one `$` is stripped);
//! - dotted shorthand names RFC 9535 does not accept (e.g. `$.my-key`) are rewritten to
//!   bracket notation (`$['my-key']`) before parsing.
//!
//! Paths made only of names and non-negative indexes are *singular* (reference paths):
//! they are walked directly, and only they can be written to (ResultPath).

use serde_json::{Map, Value};
use serde_json_path::JsonPath;

/// One step of a reference path.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// A compiled JSONPath expression.
#[derive(Debug, Clone)]
pub(crate) struct PathExpr {
    source: String,
    context: bool,
    /// `Some` when the path is a reference path (singular).
    segments: Option<Vec<Seg>>,
    compiled: JsonPath,
}

impl PathExpr {
    /// Parses a path (`$...` or `$$...`). Returns a human-readable reason on failure.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let (context, rest) = if let Some(r) = text.strip_prefix("$$") {
            (true, r)
        } else if let Some(r) = text.strip_prefix('$') {
            (false, r)
        } else {
            return Err(format!("path `{text}` must start with `$`"));
        };
        let (rewritten, segments) = rewrite(rest).map_err(|e| format!("path `{text}`: {e}"))?;
        let full = format!("${rewritten}");
        let compiled = JsonPath::parse(&full).map_err(|e| format!("path `{text}` is not a valid JSONPath: {e}"))?;
        Ok(PathExpr { source: text.to_string(), context, segments, compiled })
    }

    /// The path as written in the definition.
    pub(crate) fn source(&self) -> &str {
        &self.source
    }

    pub(crate) fn is_context(&self) -> bool {
        self.context
    }

    /// Reference-path segments, `None` when the path may select several nodes.
    pub(crate) fn segments(&self) -> Option<&[Seg]> {
        self.segments.as_deref()
    }

    /// Evaluates the path. A singular path yields the node or `None` when absent; any
    /// other path yields the array of all selected nodes (possibly empty).
    pub(crate) fn eval(&self, input: &Value, context: &Value) -> Option<Value> {
        let root = if self.context { context } else { input };
        match &self.segments {
            Some(segs) => get(root, segs).cloned(),
            None => Some(Value::Array(self.compiled.query(root).all().into_iter().cloned().collect())),
        }
    }
}

fn get<'a>(mut v: &'a Value, segs: &[Seg]) -> Option<&'a Value> {
    for s in segs {
        v = match (s, v) {
            (Seg::Key(k), Value::Object(m)) => m.get(k)?,
            (Seg::Index(i), Value::Array(a)) => a.get(*i)?,
            _ => return None,
        };
    }
    Some(v)
}

fn is_shorthand(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' || !c.is_ascii() => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || !c.is_ascii())
}

fn quote(name: &str) -> String {
    let mut s = String::from("['");
    for c in name.chars() {
        match c {
            '\'' => s.push_str("\\'"),
            '\\' => s.push_str("\\\\"),
            c => s.push(c),
        }
    }
    s.push_str("']");
    s
}

/// Rewrites the part after `$` to RFC 9535 and extracts reference segments when singular.
fn rewrite(rest: &str) -> Result<(String, Option<Vec<Seg>>), String> {
    let chars: Vec<char> = rest.chars().collect();
    let mut out = String::new();
    let mut segs = Vec::new();
    let mut singular = true;
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                i += 1;
                if i < chars.len() && chars[i] == '.' {
                    singular = false;
                    out.push_str("..");
                    i += 1;
                    if i < chars.len() && chars[i] == '[' {
                        continue;
                    }
                } else {
                    out.push('.');
                }
                let start = i;
                while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                    i += 1;
                }
                let name: String = chars[start..i].iter().collect();
                if name.is_empty() {
                    return Err("empty member name after `.`".into());
                }
                if name == "*" {
                    singular = false;
                    out.push('*');
                } else if is_shorthand(&name) {
                    out.push_str(&name);
                    segs.push(Seg::Key(name));
                } else {
                    // `.my-key` is accepted by Step Functions but not by RFC 9535.
                    out.pop();
                    if out.ends_with('.') {
                        // descendant segment `..name` -> `..['name']`
                        out.push('.');
                    }
                    out.push_str(&quote(&name));
                    segs.push(Seg::Key(name));
                }
            }
            '[' => {
                let start = i;
                let mut depth = 0usize;
                let mut quote_char: Option<char> = None;
                loop {
                    if i >= chars.len() {
                        return Err("unclosed `[`".into());
                    }
                    let c = chars[i];
                    if let Some(q) = quote_char {
                        if c == '\\' {
                            i += 1;
                        } else if c == q {
                            quote_char = None;
                        }
                    } else if c == '\'' || c == '"' {
                        quote_char = Some(c);
                    } else if c == '[' {
                        depth += 1;
                    } else if c == ']' {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    i += 1;
                }
                let inner: String = chars[start + 1..i].iter().collect();
                i += 1;
                out.push('[');
                out.push_str(&inner);
                out.push(']');
                let t = inner.trim();
                if !t.is_empty() && t.chars().all(|c| c.is_ascii_digit()) {
                    segs.push(Seg::Index(t.parse().map_err(|_| format!("index `{t}` too large"))?));
                } else if let Some(name) = single_quoted(t) {
                    segs.push(Seg::Key(name));
                } else {
                    singular = false;
                }
            }
            c => return Err(format!("unexpected character `{c}`")),
        }
    }
    Ok((out, singular.then_some(segs)))
}

/// `'name'` or `"name"` (with `\` escapes) as one string literal, else None.
fn single_quoted(t: &str) -> Option<String> {
    let q = t.chars().next()?;
    if (q != '\'' && q != '"') || t.len() < 2 || !t.ends_with(q) {
        return None;
    }
    let body: Vec<char> = t[1..t.len() - 1].chars().collect();
    let mut s = String::new();
    let mut i = 0;
    while i < body.len() {
        match body[i] {
            '\\' if i + 1 < body.len() => {
                s.push(body[i + 1]);
                i += 2;
            }
            c if c == q => return None, // e.g. 'a','b'
            c => {
                s.push(c);
                i += 1;
            }
        }
    }
    Some(s)
}

/// Why a ResultPath write failed.
#[derive(Debug)]
pub(crate) struct WriteError(pub String);

/// Writes `value` at the reference path `segs` inside `root`: missing objects are created,
/// a non-object (or non-array for an index) parent is an error; `[]` replaces the root.
pub(crate) fn write(root: Value, segs: &[Seg], value: Value) -> Result<Value, WriteError> {
    if segs.is_empty() {
        return Ok(value);
    }
    let mut root = root;
    let mut cur = &mut root;
    for (n, seg) in segs.iter().enumerate() {
        let last = n + 1 == segs.len();
        match seg {
            Seg::Key(k) => {
                let Value::Object(map) = cur else {
                    return Err(WriteError(format!("cannot set field `{k}` on a {} value", type_name(cur))));
                };
                if last {
                    map.insert(k.clone(), value);
                    return Ok(root);
                }
                cur = map.entry(k.clone()).or_insert_with(|| Value::Object(Map::new()));
            }
            Seg::Index(i) => {
                let Value::Array(arr) = cur else {
                    return Err(WriteError(format!("cannot set index [{i}] on a {} value", type_name(cur))));
                };
                let len = arr.len();
                let Some(slot) = arr.get_mut(*i) else {
                    return Err(WriteError(format!("index [{i}] is out of bounds of an array of {len} items")));
                };
                if last {
                    *slot = value;
                    return Ok(root);
                }
                cur = slot;
            }
        }
    }
    unreachable!("the loop returns on the last segment")
}

pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hyphenated_shorthand_names_are_rewritten_to_bracket_notation() {
        let p = PathExpr::parse("$.my-key.sub_key").unwrap();
        let v = json!({"my-key": {"sub_key": 7}});
        assert_eq!(p.eval(&v, &Value::Null), Some(json!(7)));
        assert_eq!(p.segments().unwrap(), &[Seg::Key("my-key".into()), Seg::Key("sub_key".into())]);
    }

    #[test]
    fn paths_are_classified_singular_or_not() {
        let cases = [
            ("$", true),
            ("$.a", true),
            ("$.a[0].b", true),
            ("$['a b'].c", true),
            ("$.a[*]", false),
            ("$..a", false),
            ("$.a[0,1]", false),
            ("$.a[?(@.x > 1)]", false),
            ("$.a[-1]", false),
        ];
        for (text, singular) in cases {
            let p = PathExpr::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(p.segments().is_some(), singular, "{text}");
        }
    }

    #[test]
    fn invalid_paths_are_refused() {
        for text in ["a.b", "$.", "$.a[", "$.a..", "$.a[?(]", "$x"] {
            assert!(PathExpr::parse(text).is_err(), "{text} should be refused");
        }
    }

    #[test]
    fn context_paths_strip_one_dollar_and_read_the_context() {
        let p = PathExpr::parse("$$.Execution.Id").unwrap();
        assert!(p.is_context());
        let ctx = json!({"Execution": {"Id": "e1"}});
        assert_eq!(p.eval(&json!({}), &ctx), Some(json!("e1")));
    }

    #[test]
    fn multi_node_paths_yield_arrays() {
        let p = PathExpr::parse("$.items[*].id").unwrap();
        let v = json!({"items": [{"id": 1}, {"id": 2}]});
        assert_eq!(p.eval(&v, &Value::Null), Some(json!([1, 2])));
        let desc = PathExpr::parse("$..my-id").unwrap();
        let v = json!({"a": {"my-id": 1}, "b": [{"my-id": 2}]});
        let Some(Value::Array(mut got)) = desc.eval(&v, &Value::Null) else { panic!() };
        got.sort_by_key(|v| v.as_i64());
        assert_eq!(got, vec![json!(1), json!(2)]);
    }

    #[test]
    fn writing_creates_missing_objects_and_refuses_scalar_parents() {
        let segs = [Seg::Key("a".into()), Seg::Key("b".into())];
        assert_eq!(write(json!({"x": 1}), &segs, json!(2)).unwrap(), json!({"x": 1, "a": {"b": 2}}));
        assert!(write(json!({"a": 5}), &segs, json!(2)).is_err());
        assert!(write(json!("str"), &segs, json!(2)).is_err());
        assert_eq!(write(json!({"a": 5}), &[], json!(2)).unwrap(), json!(2));
        let idx = [Seg::Key("a".into()), Seg::Index(1)];
        assert_eq!(write(json!({"a": [0, 0]}), &idx, json!(9)).unwrap(), json!({"a": [0, 9]}));
        assert!(write(json!({"a": [0]}), &idx, json!(9)).is_err());
    }
}
