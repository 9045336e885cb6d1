//! Strict JSON bodies: well-formed, no duplicate keys anywhere (serde_json would keep the
//! last one silently, so `{"approved": false, "approved": true}` could mean either), then
//! the typed shape with unknown fields refused.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::error::Category;

use crate::problem::{Problem, codes};

const DUPLICATE: &str = "duplicate key";

/// Walks any JSON value and fails on the first object with a repeated key.
struct NoDuplicates;

impl<'de> de::Deserialize<'de> for NoDuplicates {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NoDuplicatesVisitor)
    }
}

struct NoDuplicatesVisitor;

impl<'de> Visitor<'de> for NoDuplicatesVisitor {
    type Value = NoDuplicates;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }
    fn visit_i64<E>(self, _: i64) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }
    fn visit_u64<E>(self, _: u64) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }
    fn visit_f64<E>(self, _: f64) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }
    fn visit_str<E>(self, _: &str) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }
    fn visit_unit<E>(self) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NoDuplicates, A::Error> {
        while seq.next_element::<NoDuplicates>()?.is_some() {}
        Ok(NoDuplicates)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NoDuplicates, A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                let shown: String = key.chars().take(64).collect();
                return Err(de::Error::custom(format!("{DUPLICATE} `{shown}`")));
            }
            map.next_value::<NoDuplicates>()?;
        }
        Ok(NoDuplicates)
    }
}

/// Parses a request body into `T`: 400 `MALFORMED_JSON` for anything that is not one JSON
/// value, 400 `DUPLICATE_JSON_KEY`, then 400 `INVALID_BODY` for unknown fields, missing
/// fields and wrong types.
pub fn parse_strict<T: DeserializeOwned>(body: &[u8]) -> Result<T, Problem> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let structure = de::Deserialize::deserialize(&mut de).and_then(|NoDuplicates| de.end());
    if let Err(e) = structure {
        return Err(match e.classify() {
            Category::Data if e.to_string().starts_with(DUPLICATE) => {
                Problem::bad_request(codes::DUPLICATE_JSON_KEY, format!("the body repeats a key: {e}"))
            }
            _ => Problem::bad_request(codes::MALFORMED_JSON, format!("the body is not valid JSON: {e}")),
        });
    }
    serde_json::from_slice(body).map_err(|e| Problem::bad_request(codes::INVALID_BODY, format!("the body does not match the schema: {e}")))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        approved: bool,
        nested: Option<serde_json::Value>,
    }

    #[test]
    fn refuses_duplicates_at_any_depth() {
        let cases: &[(&str, &str)] = &[
            (r#"{"approved": true}"#, ""),
            (r#"{"approved": false, "approved": true}"#, codes::DUPLICATE_JSON_KEY),
            (r#"{"approved": true, "nested": [{"a": 1, "a": 2}]}"#, codes::DUPLICATE_JSON_KEY),
            (r#"{"approved": true, "nested": {"a": 1, "b": {"c": 1, "c": 1}}}"#, codes::DUPLICATE_JSON_KEY),
            (r#"{"approved": true,}"#, codes::MALFORMED_JSON),
            (r#"{"approved": true} {}"#, codes::MALFORMED_JSON),
            ("\u{feff}{\"approved\": true}", codes::MALFORMED_JSON),
            (r#"{"approved": "yes"}"#, codes::INVALID_BODY),
            (r#"{"approved": true, "admin": true}"#, codes::INVALID_BODY),
            (r#"[]"#, codes::INVALID_BODY),
            (r#"null"#, codes::INVALID_BODY),
        ];
        for (body, code) in cases {
            let got = parse_strict::<Body>(body.as_bytes()).err().map(|p| p.code).unwrap_or_default();
            assert_eq!(got, *code, "{body}");
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let body = format!(r#"{{"approved": true, "nested": {}{}}}"#, "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(parse_strict::<Body>(body.as_bytes()).unwrap_err().code, codes::MALFORMED_JSON);
    }
}
