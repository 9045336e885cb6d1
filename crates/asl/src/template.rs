//! Payload templates: `Parameters` and `ResultSelector`. Fields whose name ends in `.$`
//! take their value from a path (`$.x`, `$$.x`) or an intrinsic function; the rule applies
//! recursively through nested objects and arrays.

use serde_json::{Map, Value};

use crate::error::{Failure, LoadError, names};
use crate::intrinsic::{self, Call, Env};
use crate::path::PathExpr;

#[derive(Debug, Clone)]
pub(crate) enum Template {
    Literal(Value),
    Object(Vec<(String, Template)>),
    Array(Vec<Template>),
    Path { field: String, path: PathExpr },
    Intrinsic(Call),
}

/// A path or an intrinsic function: the value of a `.$` field, or of `ErrorPath` etc.
#[derive(Debug, Clone)]
pub(crate) enum Dynamic {
    Path(PathExpr),
    Intrinsic(Call),
}

impl Dynamic {
    pub(crate) fn parse(text: &str, allow_intrinsic: bool) -> Result<Self, String> {
        if text.starts_with('$') {
            PathExpr::parse(text).map(Dynamic::Path)
        } else if allow_intrinsic && text.starts_with("States.") {
            intrinsic::parse(text).map(Dynamic::Intrinsic)
        } else if allow_intrinsic {
            Err(format!("`{text}` is neither a JSONPath (`$...`) nor an intrinsic function (`States....`)"))
        } else {
            Err(format!("`{text}` is not a JSONPath (`$...`)"))
        }
    }
}

impl Template {
    /// Compiles a template. `state`/`field` name the location for load errors.
    pub(crate) fn compile(v: &Value, state: &str, field: &str) -> Result<Self, LoadError> {
        Ok(match v {
            Value::Object(m) => {
                let mut out = Vec::with_capacity(m.len());
                for (k, v) in m {
                    if let Some(name) = k.strip_suffix(".$") {
                        let Value::String(text) = v else {
                            return Err(LoadError::invalid(
                                state,
                                field,
                                format!("the value of `{k}` must be a string path or intrinsic function"),
                            ));
                        };
                        let t = match Dynamic::parse(text, true).map_err(|e| LoadError::invalid(state, field, format!("`{k}`: {e}")))? {
                            Dynamic::Path(path) => Template::Path { field: k.clone(), path },
                            Dynamic::Intrinsic(call) => Template::Intrinsic(call),
                        };
                        out.push((name.to_string(), t));
                    } else {
                        out.push((k.clone(), Template::compile(v, state, field)?));
                    }
                }
                Template::Object(out)
            }
            Value::Array(a) => Template::Array(a.iter().map(|v| Template::compile(v, state, field)).collect::<Result<_, _>>()?),
            v => Template::Literal(v.clone()),
        })
    }

    pub(crate) fn eval(&self, env: &mut Env<'_>) -> Result<Value, Failure> {
        Ok(match self {
            Template::Literal(v) => v.clone(),
            Template::Object(fields) => {
                let mut m = Map::new();
                for (k, t) in fields {
                    m.insert(k.clone(), t.eval(env)?);
                }
                Value::Object(m)
            }
            Template::Array(items) => Value::Array(items.iter().map(|t| t.eval(env)).collect::<Result<_, _>>()?),
            Template::Path { field, path } => path.eval(env.input, env.context).ok_or_else(|| {
                let (what, doc) = if path.is_context() { ("context object", env.context) } else { ("input", env.input) };
                Failure::new(
                    names::PARAMETER_PATH_FAILURE,
                    format!(
                        "The JSONPath '{}' specified for the field '{}' could not be found in the {} '{}'",
                        path.source(),
                        field,
                        what,
                        doc
                    ),
                )
            })?,
            Template::Intrinsic(call) => call.eval(env)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use serde_json::json;

    fn run(template: Value, input: Value) -> Result<Value, Failure> {
        let t = Template::compile(&template, "S", "Parameters").unwrap();
        let ctx = json!({"State": {"Name": "S"}});
        let mut rng = Rng::new(1);
        t.eval(&mut Env { input: &input, context: &ctx, rng: &mut rng })
    }

    #[test]
    fn dollar_keys_are_resolved_recursively_through_objects_and_arrays() {
        let got = run(
            json!({
                "flat.$": "$.a",
                "literal": "$.not-a-path",
                "nested": {"deep.$": "$.b.c", "keep": 1},
                "list": [{"item.$": "$.a"}, "plain", ["x", {"ctx.$": "$$.State.Name"}]],
                "fmt.$": "States.Format('{}-{}', $.a, $.b.c)"
            }),
            json!({"a": "A", "b": {"c": 2}}),
        )
        .unwrap();
        assert_eq!(
            got,
            json!({
                "flat": "A",
                "literal": "$.not-a-path",
                "nested": {"deep": 2, "keep": 1},
                "list": [{"item": "A"}, "plain", ["x", {"ctx": "S"}]],
                "fmt": "A-2"
            })
        );
    }

    #[test]
    fn a_path_selecting_nothing_is_a_parameter_path_failure_but_null_is_a_value() {
        let err = run(json!({"x.$": "$.missing"}), json!({"present": null})).unwrap_err();
        assert_eq!(err.error, names::PARAMETER_PATH_FAILURE);
        assert!(err.cause.contains("$.missing"), "{}", err.cause);
        assert_eq!(run(json!({"x.$": "$.present"}), json!({"present": null})).unwrap(), json!({"x": null}));
    }

    #[test]
    fn dollar_keys_with_non_path_values_are_refused_at_load() {
        for bad in [json!({"x.$": 3}), json!({"x.$": "plain"}), json!({"x.$": "$.a["})] {
            let err = Template::compile(&bad, "S", "Parameters").unwrap_err();
            assert!(err.to_string().contains("S: invalid field `Parameters`"), "{err}");
        }
    }
}
