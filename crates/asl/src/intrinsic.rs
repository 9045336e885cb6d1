//! Intrinsic functions (`States.Format(...)` etc.): a parser run at load time and an
//! evaluator run at execution time.
//!
//! Grammar: `call := Name '(' [arg {',' arg}] ')'`, `arg := 'string' | number | true |
//! false | null | path | call`. Strings are single-quoted; `\'`, `\{`, `\}` and `\\`
//! escape. Paths start with `$` and end at the next top-level `,` or `)`.

use serde_json::{Map, Number, Value};

use crate::error::{Failure, names};
use crate::path::{PathExpr, type_name};
use crate::rng::Rng;

#[derive(Debug, Clone)]
pub(crate) enum Arg {
    /// A string literal: unescaped value and raw text (escapes kept, used by Format).
    Str {
        value: String,
        raw: String,
    },
    Literal(Value),
    Path(PathExpr),
    Call(Call),
}

#[derive(Debug, Clone)]
pub(crate) struct Call {
    func: Func,
    args: Vec<Arg>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Func {
    Format,
    StringToJson,
    JsonToString,
    Array,
    ArrayPartition,
    ArrayContains,
    ArrayRange,
    ArrayGetItem,
    ArrayLength,
    ArrayUnique,
    Base64Encode,
    Base64Decode,
    JsonMerge,
    MathRandom,
    MathAdd,
    StringSplit,
    Uuid,
}

impl Func {
    fn from_name(name: &str) -> Result<Self, String> {
        Ok(match name {
            "States.Format" => Func::Format,
            "States.StringToJson" => Func::StringToJson,
            "States.JsonToString" => Func::JsonToString,
            "States.Array" => Func::Array,
            "States.ArrayPartition" => Func::ArrayPartition,
            "States.ArrayContains" => Func::ArrayContains,
            "States.ArrayRange" => Func::ArrayRange,
            "States.ArrayGetItem" => Func::ArrayGetItem,
            "States.ArrayLength" => Func::ArrayLength,
            "States.ArrayUnique" => Func::ArrayUnique,
            "States.Base64Encode" => Func::Base64Encode,
            "States.Base64Decode" => Func::Base64Decode,
            "States.JsonMerge" => Func::JsonMerge,
            "States.MathRandom" => Func::MathRandom,
            "States.MathAdd" => Func::MathAdd,
            "States.StringSplit" => Func::StringSplit,
            "States.UUID" => Func::Uuid,
            "States.Hash" => return Err("intrinsic function States.Hash is not supported".into()),
            other => return Err(format!("unknown intrinsic function `{other}`")),
        })
    }

    /// Accepted argument counts (min, max).
    fn arity(self) -> (usize, usize) {
        match self {
            Func::Format => (1, usize::MAX),
            Func::Array => (0, usize::MAX),
            Func::Uuid => (0, 0),
            Func::StringToJson | Func::JsonToString | Func::ArrayLength | Func::ArrayUnique | Func::Base64Encode | Func::Base64Decode => {
                (1, 1)
            }
            Func::ArrayPartition | Func::ArrayContains | Func::ArrayGetItem | Func::MathAdd | Func::StringSplit => (2, 2),
            Func::MathRandom => (2, 3),
            Func::ArrayRange | Func::JsonMerge => (3, 3),
        }
    }
}

/// Parses an intrinsic function call; the whole text must be one call.
pub(crate) fn parse(text: &str) -> Result<Call, String> {
    let mut p = Parser { chars: text.chars().collect(), pos: 0 };
    let call = p.call()?;
    p.ws();
    if p.pos != p.chars.len() {
        return Err(format!("unexpected text after the intrinsic function call at offset {}", p.pos));
    }
    Ok(call)
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }
    fn call(&mut self) -> Result<Call, String> {
        self.ws();
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_') {
            self.pos += 1;
        }
        let name: String = self.chars[start..self.pos].iter().collect();
        let func = Func::from_name(&name)?;
        self.ws();
        if self.peek() != Some('(') {
            return Err(format!("expected `(` after `{name}`"));
        }
        self.pos += 1;
        let mut args = Vec::new();
        self.ws();
        if self.peek() == Some(')') {
            self.pos += 1;
        } else {
            loop {
                args.push(self.arg()?);
                self.ws();
                match self.peek() {
                    Some(',') => self.pos += 1,
                    Some(')') => {
                        self.pos += 1;
                        break;
                    }
                    _ => return Err(format!("expected `,` or `)` in the arguments of `{name}`")),
                }
            }
        }
        let (min, max) = func.arity();
        if args.len() < min || args.len() > max {
            return Err(format!(
                "`{name}` takes {} argument(s), got {}",
                if min == max {
                    min.to_string()
                } else if max == usize::MAX {
                    format!("at least {min}")
                } else {
                    format!("{min} to {max}")
                },
                args.len()
            ));
        }
        Ok(Call { func, args })
    }

    fn arg(&mut self) -> Result<Arg, String> {
        self.ws();
        match self.peek() {
            None => Err("unexpected end of the intrinsic function".into()),
            Some('\'') => self.string(),
            Some('$') => {
                let start = self.pos;
                let mut depth = 0i32;
                let mut quote: Option<char> = None;
                while let Some(c) = self.peek() {
                    if let Some(q) = quote {
                        if c == '\\' {
                            self.pos += 1;
                        } else if c == q {
                            quote = None;
                        }
                    } else {
                        match c {
                            '\'' | '"' => quote = Some(c),
                            '[' | '(' => depth += 1,
                            ']' => depth -= 1,
                            ')' if depth == 0 => break,
                            ')' => depth -= 1,
                            ',' if depth == 0 => break,
                            _ => {}
                        }
                    }
                    self.pos += 1;
                }
                let text: String = self.chars[start..self.pos].iter().collect();
                Ok(Arg::Path(PathExpr::parse(text.trim())?))
            }
            Some(c) if c == '-' || c.is_ascii_digit() => {
                let start = self.pos;
                while self.peek().is_some_and(|c| c.is_ascii_digit() || "+-.eE".contains(c)) {
                    self.pos += 1;
                }
                let text: String = self.chars[start..self.pos].iter().collect();
                let n: Number = serde_json::from_str(&text).map_err(|_| format!("`{text}` is not a valid number"))?;
                Ok(Arg::Literal(Value::Number(n)))
            }
            Some(_) => {
                for (word, v) in [("true", Value::Bool(true)), ("false", Value::Bool(false)), ("null", Value::Null)] {
                    let end = self.pos + word.len();
                    if end <= self.chars.len()
                        && self.chars[self.pos..end].iter().copied().eq(word.chars())
                        && !self.chars.get(end).is_some_and(|c| c.is_ascii_alphanumeric())
                    {
                        self.pos = end;
                        return Ok(Arg::Literal(v));
                    }
                }
                Ok(Arg::Call(self.call()?))
            }
        }
    }

    fn string(&mut self) -> Result<Arg, String> {
        self.pos += 1; // opening quote
        let mut value = String::new();
        let mut raw = String::new();
        loop {
            match self.peek() {
                None => return Err("unterminated string literal".into()),
                Some('\'') => {
                    self.pos += 1;
                    return Ok(Arg::Str { value, raw });
                }
                Some('\\') => {
                    let Some(next) = self.chars.get(self.pos + 1).copied() else {
                        return Err("unterminated escape in string literal".into());
                    };
                    if !"'{}\\".contains(next) {
                        return Err(format!("invalid escape `\\{next}` in string literal"));
                    }
                    value.push(next);
                    raw.push('\\');
                    raw.push(next);
                    self.pos += 2;
                }
                Some(c) => {
                    value.push(c);
                    raw.push(c);
                    self.pos += 1;
                }
            }
        }
    }
}

/// Evaluation environment.
pub(crate) struct Env<'a> {
    pub input: &'a Value,
    pub context: &'a Value,
    pub rng: &'a mut Rng,
}

fn fail(msg: impl Into<String>) -> Failure {
    Failure::new(names::INTRINSIC_FAILURE, msg)
}

impl Call {
    pub(crate) fn eval(&self, env: &mut Env<'_>) -> Result<Value, Failure> {
        let mut vals = Vec::with_capacity(self.args.len());
        for a in &self.args {
            vals.push(match a {
                Arg::Str { value, .. } => Value::String(value.clone()),
                Arg::Literal(v) => v.clone(),
                Arg::Path(p) => p
                    .eval(env.input, env.context)
                    .ok_or_else(|| fail(format!("the JSONPath `{}` in an intrinsic function selects nothing", p.source())))?,
                Arg::Call(c) => c.eval(env)?,
            });
        }
        match self.func {
            Func::Format => {
                let template = match &self.args[0] {
                    Arg::Str { raw, .. } => raw.clone(),
                    _ => match &vals[0] {
                        Value::String(s) => s.clone(),
                        v => return Err(fail(format!("States.Format: the template must be a string, got {}", type_name(v)))),
                    },
                };
                format(&template, &vals[1..])
            }
            Func::StringToJson => {
                let s = as_str(&vals[0], "States.StringToJson")?;
                if s.trim().is_empty() {
                    return Ok(Value::Null);
                }
                serde_json::from_str(s).map_err(|e| fail(format!("States.StringToJson: invalid JSON: {e}")))
            }
            Func::JsonToString => Ok(Value::String(vals[0].to_string())),
            Func::Array => Ok(Value::Array(vals)),
            Func::ArrayPartition => {
                let arr = as_array(&vals[0], "States.ArrayPartition")?;
                let size = as_int(&vals[1], "States.ArrayPartition")?;
                if size <= 0 {
                    return Err(fail("States.ArrayPartition: the chunk size must be positive"));
                }
                Ok(Value::Array(arr.chunks(size as usize).map(|c| Value::Array(c.to_vec())).collect()))
            }
            Func::ArrayContains => {
                let arr = as_array(&vals[0], "States.ArrayContains")?;
                Ok(Value::Bool(arr.contains(&vals[1])))
            }
            Func::ArrayRange => {
                let start = as_int(&vals[0], "States.ArrayRange")?;
                let end = as_int(&vals[1], "States.ArrayRange")?;
                let step = as_int(&vals[2], "States.ArrayRange")?;
                if step == 0 {
                    return Err(fail("States.ArrayRange: the step must not be 0"));
                }
                let mut out = Vec::new();
                let mut i = start;
                while (step > 0 && i <= end) || (step < 0 && i >= end) {
                    out.push(Value::from(i));
                    if out.len() > 1000 {
                        return Err(fail("States.ArrayRange: more than 1000 items"));
                    }
                    i += step;
                }
                Ok(Value::Array(out))
            }
            Func::ArrayGetItem => {
                let arr = as_array(&vals[0], "States.ArrayGetItem")?;
                let i = as_int(&vals[1], "States.ArrayGetItem")?;
                usize::try_from(i)
                    .ok()
                    .and_then(|i| arr.get(i))
                    .cloned()
                    .ok_or_else(|| fail(format!("States.ArrayGetItem: index {i} out of bounds")))
            }
            Func::ArrayLength => Ok(Value::from(as_array(&vals[0], "States.ArrayLength")?.len())),
            Func::ArrayUnique => {
                let arr = as_array(&vals[0], "States.ArrayUnique")?;
                let mut out: Vec<Value> = Vec::new();
                for v in arr {
                    if !out.contains(v) {
                        out.push(v.clone());
                    }
                }
                Ok(Value::Array(out))
            }
            Func::Base64Encode => Ok(Value::String(crate::rng::base64_encode(as_str(&vals[0], "States.Base64Encode")?.as_bytes()))),
            Func::Base64Decode => {
                let bytes = crate::rng::base64_decode(as_str(&vals[0], "States.Base64Decode")?)
                    .ok_or_else(|| fail("States.Base64Decode: invalid base64"))?;
                String::from_utf8(bytes).map(Value::String).map_err(|_| fail("States.Base64Decode: the decoded bytes are not UTF-8"))
            }
            Func::JsonMerge => {
                let (Value::Object(a), Value::Object(b)) = (&vals[0], &vals[1]) else {
                    return Err(fail("States.JsonMerge: both arguments must be objects"));
                };
                if vals[2] != Value::Bool(false) {
                    return Err(fail("States.JsonMerge: only shallow merge (third argument false) is supported"));
                }
                let mut m: Map<String, Value> = a.clone();
                for (k, v) in b {
                    m.insert(k.clone(), v.clone());
                }
                Ok(Value::Object(m))
            }
            Func::MathRandom => {
                let start = as_int(&vals[0], "States.MathRandom")?;
                let end = as_int(&vals[1], "States.MathRandom")?;
                if end <= start {
                    return Err(fail("States.MathRandom: end must be greater than start"));
                }
                let mut seeded;
                let rng = if let Some(seed) = vals.get(2) {
                    seeded = Rng::new(as_int(seed, "States.MathRandom")? as u64);
                    &mut seeded
                } else {
                    &mut *env.rng
                };
                let span = (end - start) as u64;
                Ok(Value::from(start + (rng.next_u64() % span) as i64))
            }
            Func::MathAdd => {
                let a = as_int(&vals[0], "States.MathAdd")?;
                let b = as_int(&vals[1], "States.MathAdd")?;
                a.checked_add(b).map(Value::from).ok_or_else(|| fail("States.MathAdd: overflow"))
            }
            Func::StringSplit => {
                let s = as_str(&vals[0], "States.StringSplit")?;
                let delims = as_str(&vals[1], "States.StringSplit")?;
                Ok(Value::Array(s.split(|c| delims.contains(c)).filter(|p| !p.is_empty()).map(|p| Value::String(p.to_string())).collect()))
            }
            Func::Uuid => Ok(Value::String(env.rng.uuid_v4())),
        }
    }
}

fn as_str<'v>(v: &'v Value, f: &str) -> Result<&'v str, Failure> {
    v.as_str().ok_or_else(|| fail(format!("{f}: expected a string, got {}", type_name(v))))
}
fn as_array<'v>(v: &'v Value, f: &str) -> Result<&'v Vec<Value>, Failure> {
    v.as_array().ok_or_else(|| fail(format!("{f}: expected an array, got {}", type_name(v))))
}
fn as_int(v: &Value, f: &str) -> Result<i64, Failure> {
    if let Some(i) = v.as_i64() {
        return Ok(i);
    }
    match v.as_f64() {
        Some(x) if x.fract() == 0.0 && x.abs() < 9.0e15 => Ok(x as i64),
        _ => Err(fail(format!("{f}: expected an integer, got {v}"))),
    }
}

/// `{}` placeholders, `\{` `\}` `\'` `\\` escapes; strings are inserted raw, other values
/// as JSON.
fn format(template: &str, args: &[Value]) -> Result<Value, Failure> {
    let chars: Vec<char> = template.chars().collect();
    let mut out = String::new();
    let mut next = 0;
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' if i + 1 < chars.len() => {
                out.push(chars[i + 1]);
                i += 2;
            }
            '{' if chars.get(i + 1) == Some(&'}') => {
                let arg = args.get(next).ok_or_else(|| {
                    fail(format!("States.Format: the template has more placeholders than the {} argument(s)", args.len()))
                })?;
                match arg {
                    Value::String(s) => out.push_str(s),
                    Value::Object(_) | Value::Array(_) => {
                        return Err(fail("States.Format: arguments must be strings, numbers, booleans or null"));
                    }
                    v => out.push_str(&v.to_string()),
                }
                next += 1;
                i += 2;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    if next != args.len() {
        return Err(fail(format!("States.Format: the template has {next} placeholder(s) but {} argument(s) were given", args.len())));
    }
    Ok(Value::String(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(text: &str, input: Value) -> Result<Value, Failure> {
        let call = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let mut rng = Rng::new(7);
        let ctx = json!({"Execution": {"Name": "exec-1"}});
        call.eval(&mut Env { input: &input, context: &ctx, rng: &mut rng })
    }

    #[test]
    fn intrinsic_calls_evaluate_to_the_documented_values() {
        let input = json!({"name": "Ann", "n": 3, "list": [1, 2, 2, 3], "s": "a,b;;c",
                           "obj": {"k": [1, "x"]}, "bad": "{"});
        let cases: &[(&str, Value)] = &[
            ("States.Format('Hello, {}!', $.name)", json!("Hello, Ann!")),
            ("States.Format('{} + {} = {}', 1, $.n, true)", json!("1 + 3 = true")),
            (r"States.Format('a \{literal\} {} it\'s', 'x')", json!("a {literal} x it's")),
            (r"States.Format('back\\slash {}', null)", json!(r"back\slash null")),
            ("States.Format('{}', States.Format('<{}>', $.name))", json!("<Ann>")),
            ("States.Format('run {}', $$.Execution.Name)", json!("run exec-1")),
            ("States.StringToJson('{\"a\": [1, 2]}')", json!({"a": [1, 2]})),
            ("States.JsonToString($.obj)", json!("{\"k\":[1,\"x\"]}")),
            ("States.StringToJson(States.JsonToString($.obj))", json!({"k": [1, "x"]})),
            ("States.Array(1, 'two', $.n, null, States.Array())", json!([1, "two", 3, null, []])),
            ("States.ArrayLength($.list)", json!(4)),
            ("States.ArrayGetItem($.list, 3)", json!(3)),
            ("States.ArrayUnique($.list)", json!([1, 2, 3])),
            ("States.ArrayContains($.list, 2)", json!(true)),
            ("States.ArrayPartition($.list, 3)", json!([[1, 2, 2], [3]])),
            ("States.ArrayRange(1, 9, 2)", json!([1, 3, 5, 7, 9])),
            ("States.MathAdd($.n, -5)", json!(-2)),
            ("States.MathAdd(  1 ,2 )", json!(3)),
            ("States.StringSplit($.s, ',;')", json!(["a", "b", "c"])),
            ("States.Base64Encode('Data to encode')", json!("RGF0YSB0byBlbmNvZGU=")),
            ("States.Base64Decode('RGF0YSB0byBlbmNvZGU=')", json!("Data to encode")),
            ("States.JsonMerge($.obj, States.StringToJson('{\"z\":1}'), false)", json!({"k": [1, "x"], "z": 1})),
            ("States.ArrayLength($.list[?(@ > 1)])", json!(3)),
        ];
        for (text, want) in cases {
            assert_eq!(&eval(text, input.clone()).unwrap(), want, "{text}");
        }
    }

    #[test]
    fn intrinsic_runtime_errors_are_intrinsic_failures() {
        let input = json!({"bad": "{", "list": [1]});
        for text in [
            "States.StringToJson($.bad)",
            "States.Format('{} {}', 1)",
            "States.Format('{}', 1, 2)",
            "States.MathAdd(1.5, 1)",
            "States.ArrayGetItem($.list, 5)",
            "States.ArrayLength($.missing)",
            "States.Format('{}', $.list)",
        ] {
            let err = eval(text, input.clone()).unwrap_err();
            assert_eq!(err.error, names::INTRINSIC_FAILURE, "{text}");
        }
    }

    #[test]
    fn malformed_intrinsic_calls_are_refused_at_parse_time() {
        for text in [
            "States.Nope(1)",
            "States.Hash('a', 'SHA-1')",
            "States.Format('unterminated)",
            "States.Format('x' 1)",
            "States.UUID(1)",
            "States.MathAdd(1)",
            "States.Array(1) trailing",
            r"States.Format('\n')",
            "States.Array(1,)",
        ] {
            assert!(parse(text).is_err(), "{text} should be refused");
        }
    }

    #[test]
    fn uuid_is_a_version_4_uuid() {
        let v = eval("States.UUID()", json!({})).unwrap();
        let s = v.as_str().unwrap();
        let re = regex::Regex::new("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$").unwrap();
        assert!(re.is_match(s), "{s}");
    }

    #[test]
    fn math_random_stays_in_range_and_is_reproducible_with_a_seed() {
        for _ in 0..20 {
            let v = eval("States.MathRandom(5, 8)", json!({})).unwrap();
            let n = v.as_i64().unwrap();
            assert!((5..8).contains(&n), "{n}");
        }
        let a = eval("States.MathRandom(0, 1000000, 42)", json!({})).unwrap();
        let b = eval("States.MathRandom(0, 1000000, 42)", json!({})).unwrap();
        assert_eq!(a, b);
    }
}
