//! Feeds arbitrary requests to `api::parse`: it must never panic and must refuse with a
//! 4xx. The input is split on 0xFF bytes into identity selector, method, path, query,
//! Idempotency-Key, content type and body.
#![no_main]

use api::http::{HeaderValue, Method};
use api::{ApiRequest, Identity, parse};
use libfuzzer_sys::fuzz_target;
use migration::memory::fixtures;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(7, |b| *b == 0xFF);
    let mut next = || parts.next().unwrap_or_default();
    let identity = match next().first().copied().unwrap_or(0) % 4 {
        0 => Identity::Customer(fixtures::admin()),
        1 => Identity::operator("arn:aws:iam::999999999999:role/Ops"),
        2 => Identity::Anonymous,
        _ => Identity::Malformed("fuzz".into()),
    };
    let method = Method::from_bytes(next()).unwrap_or(Method::GET);
    let path = String::from_utf8_lossy(next()).into_owned();
    let query = String::from_utf8_lossy(next()).into_owned();
    let mut req = ApiRequest::new(method, &path, identity, "fuzz").with_query(&query);
    if let Ok(key) = HeaderValue::from_bytes(next()) {
        req.headers.insert("idempotency-key", key);
    }
    if let Ok(content_type) = HeaderValue::from_bytes(next()) {
        req.headers.insert("content-type", content_type);
    }
    req.body = next().to_vec();
    if let Err(problem) = parse(&req) {
        assert!(problem.status.is_client_error(), "{}", problem.status);
    }
});
