//! Choice rules: comparison operators, `And` / `Or` / `Not`, type tests.

use chrono::{DateTime, FixedOffset};
use regex::Regex;
use serde_json::{Map, Value};

use crate::error::{Failure, LoadError, names};
use crate::path::PathExpr;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Kind {
    String,
    Numeric,
    Boolean,
    Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Cmp {
    Eq,
    Lt,
    Gt,
    Le,
    Ge,
}

#[derive(Debug, Clone)]
pub(crate) enum Operand {
    Literal(Value),
    Path(PathExpr),
}

#[derive(Debug, Clone)]
pub(crate) enum TypeTest {
    Present,
    Null,
    String,
    Numeric,
    Boolean,
    Timestamp,
}

#[derive(Debug, Clone)]
pub(crate) enum Rule {
    And(Vec<Rule>),
    Or(Vec<Rule>),
    Not(Box<Rule>),
    Compare { variable: PathExpr, kind: Kind, cmp: Cmp, operand: Operand },
    Matches { variable: PathExpr, pattern: Regex },
    Is { variable: PathExpr, test: TypeTest, expected: bool },
}

fn parse_operator(name: &str) -> Option<(Kind, Cmp, bool)> {
    let (base, path) = match name.strip_suffix("Path") {
        Some(b) => (b, true),
        None => (name, false),
    };
    let (kind, rest) = [("String", Kind::String), ("Numeric", Kind::Numeric), ("Boolean", Kind::Boolean), ("Timestamp", Kind::Timestamp)]
        .into_iter()
        .find_map(|(p, k)| base.strip_prefix(p).map(|r| (k, r)))?;
    let cmp = match rest {
        "Equals" => Cmp::Eq,
        "LessThan" => Cmp::Lt,
        "GreaterThan" => Cmp::Gt,
        "LessThanEquals" => Cmp::Le,
        "GreaterThanEquals" => Cmp::Ge,
        _ => return None,
    };
    if kind == Kind::Boolean && cmp != Cmp::Eq {
        return None;
    }
    Some((kind, cmp, path))
}

/// `*` matches any run of characters; `\*` is a literal star and `\\` a literal backslash.
fn compile_matches(pattern: &str) -> Result<Regex, String> {
    let mut re = String::from("^");
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(n @ ('*' | '\\')) => re.push_str(&regex::escape(&n.to_string())),
                other => {
                    return Err(format!(
                        "StringMatches: invalid escape `\\{}` (only `\\*` and `\\\\`)",
                        other.map(String::from).unwrap_or_default()
                    ));
                }
            },
            '*' => re.push_str(".*"),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    Regex::new(&format!("(?s){re}")).map_err(|e| e.to_string())
}

fn parse_timestamp(s: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(s).ok()
}

impl Rule {
    /// Parses a rule; `top` is true for the elements of `Choices` (which carry `Next`,
    /// handled by the caller and removed from `m` beforehand).
    pub(crate) fn parse(m: &Map<String, Value>, state: &str) -> Result<Rule, LoadError> {
        let field = "Choices";
        let inv = |reason: String| LoadError::invalid(state, field, reason);
        let mut variable: Option<PathExpr> = None;
        let mut op: Option<(String, &Value)> = None;
        for (k, v) in m {
            match k.as_str() {
                "Comment" => {}
                "Variable" => {
                    let s = v.as_str().ok_or_else(|| inv("`Variable` must be a string path".into()))?;
                    variable = Some(PathExpr::parse(s).map_err(|e| inv(format!("`Variable`: {e}")))?);
                }
                "Next" => return Err(inv("`Next` is only allowed in top-level choice rules".into())),
                _ => {
                    if let Some((other, _)) = &op {
                        return Err(inv(format!("a choice rule has more than one operator: `{other}` and `{k}`")));
                    }
                    op = Some((k.clone(), v));
                }
            }
        }
        let Some((name, value)) = op else {
            return Err(inv("a choice rule has no comparison operator".into()));
        };
        let rule = match name.as_str() {
            "And" | "Or" => {
                if variable.is_some() {
                    return Err(inv(format!("`{name}` must not have a `Variable`")));
                }
                let arr = value
                    .as_array()
                    .filter(|a| !a.is_empty())
                    .ok_or_else(|| inv(format!("`{name}` must be a non-empty array of rules")))?;
                let rules = arr
                    .iter()
                    .map(|r| {
                        r.as_object().ok_or_else(|| inv(format!("`{name}` elements must be objects"))).and_then(|o| Rule::parse(o, state))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                if name == "And" { Rule::And(rules) } else { Rule::Or(rules) }
            }
            "Not" => {
                if variable.is_some() {
                    return Err(inv("`Not` must not have a `Variable`".into()));
                }
                let o = value.as_object().ok_or_else(|| inv("`Not` must be a rule object".into()))?;
                Rule::Not(Box::new(Rule::parse(o, state)?))
            }
            _ => {
                let variable = variable.ok_or_else(|| inv(format!("the `{name}` rule has no `Variable`")))?;
                let is = |test: TypeTest| -> Result<Rule, LoadError> {
                    let expected = value.as_bool().ok_or_else(|| inv(format!("`{name}` must be true or false")))?;
                    Ok(Rule::Is { variable: variable.clone(), test, expected })
                };
                match name.as_str() {
                    "IsPresent" => is(TypeTest::Present)?,
                    "IsNull" => is(TypeTest::Null)?,
                    "IsString" => is(TypeTest::String)?,
                    "IsNumeric" => is(TypeTest::Numeric)?,
                    "IsBoolean" => is(TypeTest::Boolean)?,
                    "IsTimestamp" => is(TypeTest::Timestamp)?,
                    "StringMatches" => {
                        let p = value.as_str().ok_or_else(|| inv("`StringMatches` must be a string".into()))?;
                        Rule::Matches { variable, pattern: compile_matches(p).map_err(inv)? }
                    }
                    _ => {
                        let (kind, cmp, is_path) =
                            parse_operator(&name).ok_or_else(|| inv(format!("unknown choice rule operator `{name}`")))?;
                        let operand = if is_path {
                            let s = value.as_str().ok_or_else(|| inv(format!("`{name}` must be a path string")))?;
                            Operand::Path(PathExpr::parse(s).map_err(|e| inv(format!("`{name}`: {e}")))?)
                        } else {
                            let ok = match kind {
                                Kind::String => value.is_string(),
                                Kind::Numeric => value.is_number(),
                                Kind::Boolean => value.is_boolean(),
                                Kind::Timestamp => value.as_str().and_then(parse_timestamp).is_some(),
                            };
                            if !ok {
                                return Err(inv(format!("`{name}` has a value of the wrong type: {value}")));
                            }
                            Operand::Literal(value.clone())
                        };
                        Rule::Compare { variable, kind, cmp, operand }
                    }
                }
            }
        };
        Ok(rule)
    }

    pub(crate) fn eval(&self, input: &Value, ctx: &Value) -> Result<bool, Failure> {
        let read = |p: &PathExpr| -> Result<Value, Failure> {
            p.eval(input, ctx).ok_or_else(|| {
                Failure::new(
                    names::RUNTIME,
                    format!("Invalid path '{}': The choice state's condition path references an invalid value.", p.source()),
                )
            })
        };
        Ok(match self {
            Rule::And(rs) => {
                for r in rs {
                    if !r.eval(input, ctx)? {
                        return Ok(false);
                    }
                }
                true
            }
            Rule::Or(rs) => {
                for r in rs {
                    if r.eval(input, ctx)? {
                        return Ok(true);
                    }
                }
                false
            }
            Rule::Not(r) => !r.eval(input, ctx)?,
            Rule::Is { variable, test, expected } => {
                let v = variable.eval(input, ctx);
                let actual = match (test, &v) {
                    (TypeTest::Present, v) => v.is_some(),
                    (_, None) => false,
                    (TypeTest::Null, Some(v)) => v.is_null(),
                    (TypeTest::String, Some(v)) => v.is_string(),
                    (TypeTest::Numeric, Some(v)) => v.is_number(),
                    (TypeTest::Boolean, Some(v)) => v.is_boolean(),
                    (TypeTest::Timestamp, Some(v)) => v.as_str().and_then(parse_timestamp).is_some(),
                };
                actual == *expected
            }
            Rule::Matches { variable, pattern } => {
                matches!(read(variable)?, Value::String(s) if pattern.is_match(&s))
            }
            Rule::Compare { variable, kind, cmp, operand } => {
                let left = read(variable)?;
                let right = match operand {
                    Operand::Literal(v) => v.clone(),
                    Operand::Path(p) => read(p)?,
                };
                compare(*kind, *cmp, &left, &right)
            }
        })
    }
}

fn ordered<T: PartialOrd>(cmp: Cmp, a: T, b: T) -> bool {
    match cmp {
        Cmp::Eq => a == b,
        Cmp::Lt => a < b,
        Cmp::Gt => a > b,
        Cmp::Le => a <= b,
        Cmp::Ge => a >= b,
    }
}

/// A value of the wrong type never matches (no error), as in AWS.
fn compare(kind: Kind, cmp: Cmp, left: &Value, right: &Value) -> bool {
    match kind {
        Kind::String => match (left, right) {
            (Value::String(a), Value::String(b)) => ordered(cmp, a, b),
            _ => false,
        },
        Kind::Numeric => match (left, right) {
            (Value::Number(a), Value::Number(b)) => match (a.as_i64(), b.as_i64()) {
                (Some(a), Some(b)) => ordered(cmp, a, b),
                _ => match (a.as_f64(), b.as_f64()) {
                    (Some(a), Some(b)) => ordered(cmp, a, b),
                    _ => false,
                },
            },
            _ => false,
        },
        Kind::Boolean => match (left, right) {
            (Value::Bool(a), Value::Bool(b)) => a == b,
            _ => false,
        },
        Kind::Timestamp => match (left.as_str().and_then(parse_timestamp), right.as_str().and_then(parse_timestamp)) {
            (Some(a), Some(b)) => ordered(cmp, a, b),
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(v: Value) -> Rule {
        Rule::parse(v.as_object().unwrap(), "C").unwrap_or_else(|e| panic!("{e}"))
    }

    fn check(r: Value, input: Value) -> bool {
        rule(r).eval(&input, &json!({})).unwrap()
    }

    #[test]
    fn every_comparison_operator_matches_as_documented() {
        let input = json!({
            "s": "b", "n": 5, "f": 2.5, "t": true,
            "ts": "2024-01-02T00:00:00Z", "other_s": "b", "other_n": 5.0,
            "later": "2024-01-02T01:00:00+01:00"
        });
        // (operator, operand, variable, expected)
        let table: &[(&str, Value, &str, bool)] = &[
            ("StringEquals", json!("b"), "$.s", true),
            ("StringEquals", json!("a"), "$.s", false),
            ("StringLessThan", json!("c"), "$.s", true),
            ("StringLessThan", json!("b"), "$.s", false),
            ("StringGreaterThan", json!("a"), "$.s", true),
            ("StringGreaterThan", json!("b"), "$.s", false),
            ("StringLessThanEquals", json!("b"), "$.s", true),
            ("StringLessThanEquals", json!("a"), "$.s", false),
            ("StringGreaterThanEquals", json!("b"), "$.s", true),
            ("StringGreaterThanEquals", json!("c"), "$.s", false),
            ("NumericEquals", json!(5), "$.n", true),
            ("NumericEquals", json!(5.0), "$.n", true),
            ("NumericEquals", json!(4), "$.n", false),
            ("NumericLessThan", json!(6), "$.n", true),
            ("NumericLessThan", json!(5), "$.n", false),
            ("NumericGreaterThan", json!(2.4), "$.f", true),
            ("NumericGreaterThan", json!(2.5), "$.f", false),
            ("NumericLessThanEquals", json!(5), "$.n", true),
            ("NumericLessThanEquals", json!(4.99), "$.n", false),
            ("NumericGreaterThanEquals", json!(5), "$.n", true),
            ("NumericGreaterThanEquals", json!(5.01), "$.n", false),
            ("BooleanEquals", json!(true), "$.t", true),
            ("BooleanEquals", json!(false), "$.t", false),
            ("TimestampEquals", json!("2024-01-02T00:00:00Z"), "$.ts", true),
            ("TimestampEquals", json!("2024-01-02T01:00:00+01:00"), "$.ts", true),
            ("TimestampLessThan", json!("2024-01-03T00:00:00Z"), "$.ts", true),
            ("TimestampLessThan", json!("2024-01-02T00:00:00Z"), "$.ts", false),
            ("TimestampGreaterThan", json!("2024-01-01T23:59:59Z"), "$.ts", true),
            ("TimestampGreaterThan", json!("2024-01-02T00:00:00Z"), "$.ts", false),
            ("TimestampLessThanEquals", json!("2024-01-02T00:00:00Z"), "$.ts", true),
            ("TimestampLessThanEquals", json!("2024-01-01T00:00:00Z"), "$.ts", false),
            ("TimestampGreaterThanEquals", json!("2024-01-02T00:00:00Z"), "$.ts", true),
            ("TimestampGreaterThanEquals", json!("2024-01-03T00:00:00Z"), "$.ts", false),
            // ...Path variants compare with another field of the input
            ("StringEqualsPath", json!("$.other_s"), "$.s", true),
            ("StringLessThanPath", json!("$.other_s"), "$.s", false),
            ("StringGreaterThanPath", json!("$.other_s"), "$.s", false),
            ("StringLessThanEqualsPath", json!("$.other_s"), "$.s", true),
            ("StringGreaterThanEqualsPath", json!("$.other_s"), "$.s", true),
            ("NumericEqualsPath", json!("$.other_n"), "$.n", true),
            ("NumericLessThanPath", json!("$.n"), "$.f", true),
            ("NumericGreaterThanPath", json!("$.n"), "$.f", false),
            ("NumericLessThanEqualsPath", json!("$.other_n"), "$.n", true),
            ("NumericGreaterThanEqualsPath", json!("$.n"), "$.f", false),
            ("BooleanEqualsPath", json!("$.t"), "$.t", true),
            ("TimestampEqualsPath", json!("$.later"), "$.ts", true),
            ("TimestampLessThanPath", json!("$.later"), "$.ts", false),
            ("TimestampGreaterThanPath", json!("$.later"), "$.ts", false),
            ("TimestampLessThanEqualsPath", json!("$.later"), "$.ts", true),
            ("TimestampGreaterThanEqualsPath", json!("$.later"), "$.ts", true),
            // a value of another type never matches
            ("StringEquals", json!("5"), "$.n", false),
            ("NumericEquals", json!(0), "$.s", false),
            ("TimestampEquals", json!("2024-01-02T00:00:00Z"), "$.s", false),
        ];
        for (op, operand, var, expected) in table {
            let r = json!({"Variable": var, (*op): operand});
            assert_eq!(check(r.clone(), input.clone()), *expected, "{r}");
        }
    }

    #[test]
    fn string_matches_supports_star_and_escaped_star() {
        let table = [
            ("*.log", "a.log", true),
            ("*.log", "a.txt", false),
            ("log-*-done", "log-12-done", true),
            ("a*b*c", "abc", true),
            (r"literal\*star", "literal*star", true),
            (r"literal\*star", "literalXstar", false),
            (r"back\\slash*", r"back\slash!", true),
            ("exact", "exactly", false),
            ("dots.are.literal", "dotsXareXliteral", false),
        ];
        for (pattern, value, expected) in table {
            let r = json!({"Variable": "$.v", "StringMatches": pattern});
            assert_eq!(check(r, json!({"v": value})), expected, "{pattern} vs {value}");
        }
    }

    #[test]
    fn type_tests_distinguish_null_from_absent() {
        let input = json!({"null": null, "s": "x", "n": 1, "b": false, "ts": "2024-01-01T00:00:00Z"});
        let table = [
            ("IsPresent", "$.null", true),
            ("IsPresent", "$.absent", false),
            ("IsNull", "$.null", true),
            ("IsNull", "$.s", false),
            ("IsNull", "$.absent", false),
            ("IsString", "$.s", true),
            ("IsString", "$.n", false),
            ("IsNumeric", "$.n", true),
            ("IsNumeric", "$.s", false),
            ("IsBoolean", "$.b", true),
            ("IsBoolean", "$.null", false),
            ("IsTimestamp", "$.ts", true),
            ("IsTimestamp", "$.s", false),
        ];
        for (op, var, expected) in table {
            assert_eq!(check(json!({"Variable": var, op: true}), input.clone()), expected, "{op} {var}");
            assert_eq!(check(json!({"Variable": var, op: false}), input.clone()), !expected, "{op} {var} false");
        }
    }

    #[test]
    fn comparing_an_absent_variable_is_a_runtime_error() {
        let r = rule(json!({"Variable": "$.absent", "StringEquals": "x"}));
        let err = r.eval(&json!({}), &json!({})).unwrap_err();
        assert_eq!(err.error, names::RUNTIME);
        let r = rule(json!({"Variable": "$.s", "StringEqualsPath": "$.absent"}));
        assert_eq!(r.eval(&json!({"s": "x"}), &json!({})).unwrap_err().error, names::RUNTIME);
    }

    #[test]
    fn malformed_rules_are_refused_naming_the_state_and_field() {
        let bad = [
            json!({"Variable": "$.x", "StringEquals": 1}),
            json!({"Variable": "$.x", "NumericEquals": "1"}),
            json!({"Variable": "$.x", "TimestampEquals": "yesterday"}),
            json!({"Variable": "$.x", "BooleanLessThan": true}),
            json!({"Variable": "$.x", "StringFoo": "a"}),
            json!({"Variable": "$.x"}),
            json!({"StringEquals": "a"}),
            json!({"Variable": "$.x", "StringEquals": "a", "StringLessThan": "b"}),
            json!({"And": []}),
            json!({"Not": {"Variable": "$.x", "IsNull": true, "Next": "X"}}),
            json!({"Variable": "$.x", "StringMatches": r"bad\escape"}),
            json!({"Variable": "x", "IsNull": true}),
        ];
        for b in bad {
            let err = Rule::parse(b.as_object().unwrap(), "C").unwrap_err();
            assert!(err.to_string().starts_with("C: invalid field `Choices`"), "{b}: {err}");
        }
    }
}
