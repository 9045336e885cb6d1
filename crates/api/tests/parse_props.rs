//! Request parsing never panics and never answers 5xx, whatever arrives: 100,000 generated
//! requests through `api::parse` (pure, no store), mixing valid parts with garbage so most
//! cases get past routing and credentials into the query, header and body parsers.

use api::http::{HeaderValue, Method};
use api::{ApiRequest, Identity, parse};
use migration::request::AccessLevel;
use migration_sim::fixtures;
use proptest::prelude::*;

const PATHS: &[&str] = &[
    "/migrations",
    "/migrations/01JNQ8M6Z1X4V7C2B9D3E5F7GH",
    "/migrations/01JNQ8M6Z1X4V7C2B9D3E5F7GH/cancel",
    "/onboarding",
    "/admin/organizations/acme/profile",
    "/admin/approvals/000123456789",
    "/admin/terms/US",
];
const METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PURGE"];
const CONTENT_TYPES: &[&str] =
    &["application/json", "application/json; charset=utf-8", "text/plain", "application/json; charset=latin1", ""];

fn identity(i: u8) -> Identity {
    match i % 5 {
        0 | 1 => Identity::Customer(fixtures::admin()),
        2 => Identity::operator("arn:aws:iam::999999999999:role/Ops"),
        3 => Identity::Anonymous,
        _ => Identity::Malformed("claim `sub` is missing".into()),
    }
}

fn valid_json() -> Vec<u8> {
    serde_json::to_vec(&fixtures::request(AccessLevel::Optimized)).unwrap()
}

prop_compose! {
    fn path()(base in 0..PATHS.len(), garbage in proptest::collection::vec(any::<u8>(), 0..24), mode in 0u8..4) -> String {
        let base = PATHS[base];
        let garbage: String = garbage.iter().map(|b| match b % 8 { 0 => '/', 1 => '%', 2 => '.', _ => char::from(b'0' + b % 75) }).collect();
        match mode {
            0 => base.to_owned(),
            1 => format!("{base}{garbage}"),
            2 => match base.rfind('/') { Some(i) => format!("{}{garbage}", &base[..=i]), None => garbage },
            _ => garbage,
        }
    }
}

prop_compose! {
    fn body()(mode in 0u8..4, bytes in proptest::collection::vec(any::<u8>(), 0..96), at in any::<prop::sample::Index>()) -> Vec<u8> {
        match mode {
            0 => bytes,
            1 => valid_json(),
            // A valid body with a slice of garbage spliced in.
            2 => { let mut v = valid_json(); let i = at.index(v.len()); v.splice(i..i, bytes); v }
            _ => { let mut v = valid_json(); v.truncate(at.index(v.len())); v }
        }
    }
}

prop_compose! {
    fn request()(
        method in 0..METHODS.len(),
        path in path(),
        query in proptest::collection::vec(any::<u8>(), 0..32),
        query_mode in 0u8..3,
        key in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..140)),
        content_type in 0..CONTENT_TYPES.len(),
        body in body(),
        who in any::<u8>(),
    ) -> ApiRequest {
        let query = match query_mode {
            0 => String::new(),
            1 => format!("limit={}&status=INVITED", query.len()),
            _ => String::from_utf8_lossy(&query).into_owned(),
        };
        let mut req = ApiRequest::new(Method::from_bytes(METHODS[method].as_bytes()).unwrap(), &path, identity(who), "prop")
            .with_query(&query)
            .with_body(body);
        if !CONTENT_TYPES[content_type].is_empty() {
            req = req.with_header("content-type", CONTENT_TYPES[content_type]);
        }
        if let Some(key) = key.and_then(|k| HeaderValue::from_bytes(&k).ok()) {
            req.headers.insert("idempotency-key", key);
        }
        req
    }
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(100_000) })]

    #[test]
    fn parsing_never_panics_and_refuses_with_a_4xx(req in request()) {
        match parse(&req) {
            Ok(command) => prop_assert!(req.method == Method::from_bytes(command.route().spec().method.as_bytes()).unwrap()),
            Err(problem) => {
                prop_assert!(problem.status.is_client_error(), "{} {:?}", problem.status, problem.detail);
                let body = problem.to_json("prop");
                prop_assert!(body["code"].as_str().is_some_and(|c| !c.is_empty()));
            }
        }
    }
}
