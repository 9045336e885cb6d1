//! Free text the frontend displays is visible text, decided by Unicode general category in
//! one place (`migration::text`), and stated in openapi.yaml as the same rule: characters
//! of every category, drawn from regex-syntax's Unicode tables (not the crate the rule
//! uses), are put into every such field; the parser's verdict, the category's and the
//! contract's pattern must agree.

mod common;

use std::collections::BTreeSet;

use api::http::Method;
use api::{ApiRequest, Command, parse};
use common::*;
use migration::request::MigrationRequest;
use migration::rules::ViolationCode;
use migration::text::{PATTERN, PATTERN_TRIMMED};
use proptest::prelude::*;
use regex_syntax::hir::{Class, HirKind};
use serde_json::{Value, json};

/// The general categories (Cs aside: no `char` is a surrogate; see the JSON test below).
const ALLOWED: &[&str] = &[
    "Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No", "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So",
    "Zs",
];
const FORBIDDEN: &[&str] = &["Cc", "Cf", "Zl", "Zp", "Co", "Cn"];

/// What the category says a character is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Oracle {
    Glyph,
    Mark,
    Space,
    Forbidden,
}

fn oracle(category: &str) -> Oracle {
    match category {
        "Zs" => Oracle::Space,
        c if c.starts_with('M') => Oracle::Mark,
        c if FORBIDDEN.contains(&c) => Oracle::Forbidden,
        _ => Oracle::Glyph,
    }
}

/// The characters of a category, as regex-syntax's tables have them.
fn ranges(category: &str) -> Vec<(u32, u32)> {
    let hir = regex_syntax::parse(&format!(r"\p{{{category}}}")).unwrap_or_else(|e| panic!("{category}: {e}"));
    match hir.kind() {
        HirKind::Class(Class::Unicode(class)) => class.ranges().iter().map(|r| (u32::from(r.start()), u32::from(r.end()))).collect(),
        // A one-character category (Zl, Zp) comes back as that character.
        HirKind::Literal(literal) => std::str::from_utf8(&literal.0).unwrap().chars().map(|c| (u32::from(c), u32::from(c))).collect(),
        other => panic!("{category}: {other:?}"),
    }
}

/// Each category's name and ranges of code points.
type Categories = Vec<(&'static str, Vec<(u32, u32)>)>;

fn categories() -> &'static Categories {
    static ALL: std::sync::OnceLock<Categories> = std::sync::OnceLock::new();
    ALL.get_or_init(|| {
        let all: Vec<_> = ALLOWED.iter().chain(FORBIDDEN).map(|c| (*c, ranges(c))).collect();
        for (name, r) in &all {
            assert!(!r.is_empty(), "{name} has no characters");
        }
        all
    })
}

/// The `index`-th character of `category`.
fn nth(category: usize, index: prop::sample::Index) -> (char, Oracle) {
    let (name, ranges) = &categories()[category];
    let total: usize = ranges.iter().map(|(a, b)| (b - a + 1) as usize).sum();
    let mut i = index.index(total) as u32;
    for (a, b) in ranges {
        if i <= b - a {
            return (char::from_u32(a + i).expect("not a surrogate"), oracle(name));
        }
        i -= b - a + 1;
    }
    unreachable!()
}

fn category_of(set: &'static [&'static str]) -> impl Strategy<Value = usize> {
    let offset = if std::ptr::eq(set, FORBIDDEN) { ALLOWED.len() } else { 0 };
    (0..set.len()).prop_map(move |i| i + offset)
}

/// A character of an allowed category, or (rarely) of a forbidden one.
fn any_char() -> impl Strategy<Value = (char, Oracle)> {
    prop_oneof![
        8 => (category_of(ALLOWED), any::<prop::sample::Index>()).prop_map(|(c, i)| nth(c, i)),
        1 => (category_of(FORBIDDEN), any::<prop::sample::Index>()).prop_map(|(c, i)| nth(c, i)),
    ]
}

/// Marks and spaces only: visible characters that show nothing on their own.
fn mark_or_space() -> impl Strategy<Value = (char, Oracle)> {
    let marks_and_spaces: Vec<usize> = (0..ALLOWED.len()).filter(|&i| matches!(oracle(ALLOWED[i]), Oracle::Mark | Oracle::Space)).collect();
    (prop::sample::select(marks_and_spaces), any::<prop::sample::Index>()).prop_map(|(c, i)| nth(c, i))
}

/// Text with its characters' kinds: mostly visible, sometimes one forbidden character
/// anywhere, sometimes marks and spaces only.
fn text() -> impl Strategy<Value = Vec<(char, Oracle)>> {
    prop_oneof![
        4 => prop::collection::vec(any_char(), 0..8),
        1 => (prop::collection::vec(any_char(), 1..6), category_of(FORBIDDEN), any::<prop::sample::Index>(), any::<prop::sample::Index>())
            .prop_map(|(mut v, c, i, at)| { let at = at.index(v.len() + 1); v.insert(at, nth(c, i)); v }),
        1 => prop::collection::vec(mark_or_space(), 1..6),
    ]
}

/// Whether the category oracle accepts `chars` for a field that refuses (`trims: false`) or
/// trims surrounding spaces, `max` characters at most (after trimming).
fn expected(chars: &[(char, Oracle)], trims: bool, max: usize) -> bool {
    let visible = chars.iter().all(|(_, k)| *k != Oracle::Forbidden) && chars.iter().any(|(_, k)| *k == Oracle::Glyph);
    let space = |c: &&(char, Oracle)| c.1 == Oracle::Space;
    let leading = chars.iter().take_while(space).count();
    let trailing = chars.iter().rev().take_while(space).count();
    // A visible text has a glyph, so its leading and trailing spaces never overlap.
    let trimmed = chars.len().saturating_sub(leading + trailing);
    let surrounded = leading + trailing > 0;
    visible && (trims || !surrounded) && (if trims { trimmed } else { chars.len() }) <= max
}

/// A free-text field of a request body, and how the API judges it.
struct Field {
    name: &'static str,
    /// The JSON pointer of the field in its body.
    pointer: &'static str,
    schema: &'static str,
    trims: bool,
    max: usize,
}

const FIELDS: &[Field] = &[
    Field { name: "provider_name", pointer: "/provider_name", schema: "MigrationRequest", trims: true, max: 255 },
    Field {
        name: "accepted_terms.document_id",
        pointer: "/accepted_terms/0/document_id",
        schema: "TermsAcceptance",
        trims: false,
        max: 128,
    },
    Field { name: "accepted_terms.version", pointer: "/accepted_terms/0/version", schema: "TermsAcceptance", trims: false, max: 128 },
    Field { name: "reference", pointer: "/reference", schema: "ApprovalInput", trims: false, max: 256 },
    Field { name: "documents.document_id", pointer: "/documents/0/document_id", schema: "TermsDocument", trims: false, max: 128 },
    Field { name: "documents.version", pointer: "/documents/0/version", schema: "TermsDocument", trims: false, max: 128 },
    Field { name: "documents.title", pointer: "/documents/0/title", schema: "TermsDocument", trims: false, max: 512 },
];

/// The string properties of request bodies that are identifiers, with patterns of their own
/// (ASCII), enums or a month: everything else is free text under the visible-text rule.
const IDENTIFIERS: &[&str] = &[
    "aws_account_id",
    "role_arn",
    "access_level",
    "external_id",
    "territory",
    "documents.url",
    "kind",
    "start_month",
    "end_month",
    "usage_snapshot",
];

fn body_of(field: &Field, value: &str) -> Value {
    let mut body = match field.schema {
        "MigrationRequest" | "TermsAcceptance" => valid_body(),
        "ApprovalInput" => json!({"reference": "AWS-AGR-7", "approved": true}),
        _ => {
            json!({"documents": [{"document_id": "ctl-aws-terms-us", "version": "1", "title": "Terms", "url": "https://terms.example.invalid/us/1"}]})
        }
    };
    *body.pointer_mut(field.pointer).expect("the field is in the body") = json!(value);
    body
}

/// The API's verdict on a body: the create request's shape is the domain's to judge (its
/// `validate`, which `create_migration` runs), the operator bodies are `api::parse`'s.
fn accepted(field: &Field, body: &Value) -> bool {
    match field.schema {
        "MigrationRequest" | "TermsAcceptance" => {
            let request: MigrationRequest = serde_json::from_value(body.clone()).unwrap();
            let code =
                if field.schema == "MigrationRequest" { ViolationCode::InvalidProviderName } else { ViolationCode::TermsNotAccepted };
            match request.validate() {
                Ok(_) => true,
                Err(violations) => {
                    assert!(violations.iter().all(|v| v.code == code), "{}: {violations:?}", field.name);
                    false
                }
            }
        }
        "ApprovalInput" => parsed("/admin/approvals/000123456789", body),
        _ => parsed("/admin/terms/US", body),
    }
}

/// Whether `api::parse` takes the operator's PUT of `body` to `path`; a refusal must be the
/// documented one.
fn parsed(path: &str, body: &Value) -> bool {
    match parse(&ApiRequest::new(Method::PUT, path, operator(), "req-visible").with_json(body)) {
        Ok(Command::PutApproval { .. } | Command::PutTerms { .. }) => true,
        Ok(other) => panic!("{path} parsed as {other:?}"),
        Err(problem) => {
            let json = problem.to_json("req-visible");
            assert_eq!((json["status"].as_u64(), json["code"].as_str()), (Some(400), Some("INVALID_BODY")), "{json}");
            assert_eq!(json["violations"][0]["code"], "INVALID_FIELD", "{json}");
            false
        }
    }
}

/// The field's schema in openapi.yaml, compiled once.
fn field_validator(field: &Field) -> jsonschema::Validator {
    let c = contract();
    let property = field.pointer.rsplit('/').next().unwrap();
    let schema = &c.doc["components"]["schemas"][field.schema]["properties"][property];
    assert!(schema.is_object(), "{}: no schema", field.name);
    jsonschema::draft7::options().build(schema).unwrap_or_else(|e| panic!("{}: {e}", field.name))
}

fn validators() -> &'static Vec<jsonschema::Validator> {
    static V: std::sync::OnceLock<Vec<jsonschema::Validator>> = std::sync::OnceLock::new();
    V.get_or_init(|| FIELDS.iter().map(field_validator).collect())
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(2_000) })]

    #[test]
    fn the_category_the_parser_and_the_contract_agree(chars in text(), field in 0..FIELDS.len()) {
        let field = &FIELDS[field];
        let value: String = chars.iter().map(|(c, _)| *c).collect();
        let want = expected(&chars, field.trims, field.max);
        let body = body_of(field, &value);
        prop_assert_eq!(accepted(field, &body), want, "{}: {:?} {:?}", field.name, value, chars);
        prop_assert_eq!(validators()[FIELDS.iter().position(|f| f.name == field.name).unwrap()].is_valid(&json!(value)), want, "{} schema: {:?} {:?}", field.name, value, chars);
    }
}

#[test]
fn every_category_is_judged_by_its_kind() {
    // One character of every category, alone and between glyphs, in every field.
    for (name, ranges) in categories() {
        for (a, b) in [ranges[0], ranges[ranges.len() / 2], *ranges.last().unwrap()] {
            for c in [a, b].map(|u| char::from_u32(u).unwrap()) {
                let k = oracle(name);
                for (chars, label) in [(vec![(c, k)], "alone"), (vec![('a', Oracle::Glyph), (c, k), ('z', Oracle::Glyph)], "inside")] {
                    let value: String = chars.iter().map(|(c, _)| *c).collect();
                    for (f, field) in FIELDS.iter().enumerate() {
                        let want = expected(&chars, field.trims, field.max);
                        assert_eq!(accepted(field, &body_of(field, &value)), want, "{} {name} U+{:04X} {label}", field.name, u32::from(c));
                        assert_eq!(
                            validators()[f].is_valid(&json!(value)),
                            want,
                            "{} schema {name} U+{:04X} {label}",
                            field.name,
                            u32::from(c)
                        );
                    }
                }
            }
        }
    }
    // The tag characters, bidi controls and separators the rule names, by code point.
    for c in [
        '\u{E0000}',
        '\u{E0001}',
        '\u{E0041}',
        '\u{E007F}',
        '\u{202A}',
        '\u{202E}',
        '\u{2066}',
        '\u{2069}',
        '\u{200B}',
        '\u{2028}',
        '\u{2029}',
        '\u{FEFF}',
    ] {
        for field in FIELDS {
            assert!(!accepted(field, &body_of(field, &format!("a{c}b"))), "{} U+{:04X}", field.name, u32::from(c));
        }
    }
}

#[test]
fn openapi_states_the_rule_on_every_free_text_field_of_a_request() {
    let c = contract();
    let mut strings = BTreeSet::new();
    for (_, _, _, op) in c.operations() {
        if let Some(schema) = op["requestBody"]["content"]["application/json"].get("schema") {
            string_properties(c, schema, "", &mut strings);
        }
    }
    let free: BTreeSet<String> = strings.iter().filter(|s| !IDENTIFIERS.contains(&s.as_str())).cloned().collect();
    let listed: BTreeSet<String> = FIELDS.iter().map(|f| f.name.to_owned()).collect();
    assert_eq!(free, listed, "a free-text field of a request body without the visible-text rule, or a listed one that is gone");
    for field in FIELDS {
        let property = field.pointer.rsplit('/').next().unwrap();
        let pattern = &c.doc["components"]["schemas"][field.schema]["properties"][property]["pattern"];
        let want = if field.trims { PATTERN_TRIMMED } else { PATTERN };
        assert_eq!(pattern.as_str(), Some(want), "{}: openapi.yaml states another pattern than migration::text", field.name);
    }
}

/// The names of the string properties under `schema`, dotted from the body's root.
fn string_properties(c: &Contract, schema: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    let schema = c.resolve(schema);
    if let Some(props) = schema["properties"].as_object() {
        for (name, sub) in props {
            let sub = c.resolve(sub);
            let path = if prefix.is_empty() { name.clone() } else { format!("{prefix}.{name}") };
            match sub["type"].as_str() {
                Some("string") => {
                    out.insert(path);
                }
                Some("object") => string_properties(c, sub, &path, out),
                Some("array") => string_properties(c, &sub["items"], &path, out),
                _ => {}
            }
        }
    }
}

#[tokio::test]
async fn refusals_are_problems_with_a_stable_code_and_change_nothing() {
    let w = World::new().await;
    let terms_before = w.call(get("/admin/terms/US", operator())).await.body;
    let bad = "Prod\u{202E}SWA";
    let cases: Vec<(ApiRequest, u16, &str)> = vec![
        (post("/migrations", admin()).with_json(&body_of(&FIELDS[0], bad)), 400, "INVALID_PROVIDER_NAME"),
        (post("/migrations", admin()).with_json(&body_of(&FIELDS[0], "\u{301}\u{3000}")), 400, "INVALID_PROVIDER_NAME"),
        (post("/migrations", admin()).with_json(&body_of(&FIELDS[2], "2024-01\u{E0041}")), 422, "TERMS_NOT_ACCEPTED"),
        (put("/admin/approvals/000000000042", operator()).with_json(&body_of(&FIELDS[3], bad)), 400, "INVALID_BODY"),
        (put("/admin/terms/US", operator()).with_json(&body_of(&FIELDS[6], "Terms\u{2028}")), 400, "INVALID_BODY"),
        (put("/admin/terms/US", operator()).with_json(&body_of(&FIELDS[6], "\u{E000}")), 400, "INVALID_BODY"),
    ];
    for (req, status, code) in cases {
        let res = w.call(req).await;
        let json = res.json();
        assert_eq!((res.status.as_u16(), json["code"].as_str()), (status, Some(code)), "{json}");
        assert_eq!(res.content_type(), Some("application/problem+json"));
    }
    // A surrogate (Cs) cannot be a character of a JSON string: an escaped one is malformed JSON.
    for escaped in [r#""\ud800""#, r#""a\udfffb""#, r#""\udbff\u0041""#] {
        let raw = serde_json::to_string(&body_of(&FIELDS[0], "SURROGATE")).unwrap().replace(r#""SURROGATE""#, escaped);
        let res = w.call(post("/migrations", admin()).with_header("content-type", "application/json").with_body(raw.into_bytes())).await;
        assert_eq!((res.status.as_u16(), res.json()["code"].as_str()), (400, Some("MALFORMED_JSON")), "{escaped}");
    }
    assert!(w.records().is_empty(), "a refused create wrote a record");
    assert_eq!(w.locks(), 0);
    assert_eq!(w.call(get("/admin/approvals/000000000042", operator())).await.status, 404, "a refused approval was recorded");
    assert_eq!(w.call(get("/admin/terms/US", operator())).await.body, terms_before, "refused terms replaced the terms");
}
