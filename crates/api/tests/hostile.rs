//! Hostile input: every case is a 4xx problem document (checked against openapi.yaml by
//! `World::call`) and changes no state: no record, no lock, no execution, no profile,
//! approval or terms written.

mod common;

use api::http::{HeaderValue, Method};
use api::{ApiRequest, Identity};
use common::*;
use migration::ports::MigrationStore;
use migration_sim::fixtures;
use serde_json::{Value, json};

fn create_with(mutate: impl FnOnce(&mut Value)) -> ApiRequest {
    let mut body = valid_body();
    mutate(&mut body);
    post("/migrations", admin()).with_json(&body)
}

fn create_raw(body: &[u8]) -> ApiRequest {
    post("/migrations", admin()).with_header("content-type", "application/json").with_body(body.to_vec())
}

fn raw_header(mut req: ApiRequest, name: &'static str, value: &[u8]) -> ApiRequest {
    req.headers.append(name, HeaderValue::from_bytes(value).expect("obs-text is a valid header value"));
    req
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

/// Everything a hostile request could have changed.
async fn snapshot(w: &World) -> String {
    let store = &w.store;
    let mut records: Vec<String> = w.records().iter().map(|r| format!("{}:{}:{}", r.id, r.status, r.version)).collect();
    records.sort();
    let profile = store.org_profile(&fixtures::ORG.parse().unwrap()).await.unwrap();
    let approval = store.approval(&fixtures::account()).await.unwrap();
    let terms = store.terms(&"US".parse().unwrap()).await.unwrap();
    format!("{records:?} locks={} starts={} {profile:?} {approval:?} {terms:?}", w.locks(), w.recorder.start_calls())
}

fn cases(existing: &str) -> Vec<(&'static str, ApiRequest)> {
    let long = "x".repeat(10_000);
    let admin_put =
        |path: &str, body: &str| put(path, operator()).with_header("content-type", "application/json").with_body(body.as_bytes().to_vec());
    let profile_body = || json!({"territory": "US", "billable": true, "demo": false, "trial": false, "internal": false, "reseller": false, "reseller_customer": false, "us_offices": true});
    vec![
        // Injection strings where an identifier belongs.
        ("sql injection in account id", create_with(|b| b["aws_account_id"] = json!("1' OR '1'='1"))),
        ("sql injection in role arn", create_with(|b| b["role_arn"] = json!("arn:aws:iam::000123456789:role/x' OR 1=1--"))),
        ("script in access level", create_with(|b| b["access_level"] = json!("<script>alert(1)</script>"))),
        ("nosql operator as account id", create_with(|b| b["aws_account_id"] = json!({"$ne": null}))),
        ("injection in migration id", get("/migrations/'%20OR%201=1--", admin())),
        ("injection in org path", admin_put("/admin/organizations/acme'%20OR%20'1'='1/profile", &profile_body().to_string())),
        ("injection in status filter", get("/migrations", admin()).with_query("status=INVITED'%20OR%201=1")),
        ("template injection in territory", get("/admin/terms/$%7B7*7%7D", operator())),
        // Unicode and control characters.
        ("arabic-indic digits", create_with(|b| b["aws_account_id"] = json!("٠٠٠١٢٣٤٥٦٧٨٩"))),
        ("fullwidth digits", create_with(|b| b["aws_account_id"] = json!("０００１２３４５６７８９"))),
        ("zero-width space in account id", create_with(|b| b["aws_account_id"] = json!("000123\u{200b}456789"))),
        ("cyrillic homoglyph in arn", create_with(|b| b["role_arn"] = json!("аrn:aws:iam::000123456789:role/CenturyLinkFullHardening"))),
        ("nul in provider name", create_with(|b| b["provider_name"] = json!("Prod\u{0000}AWS"))),
        ("bell in provider name", create_with(|b| b["provider_name"] = json!("\u{0007}"))),
        ("only whitespace provider name", create_with(|b| b["provider_name"] = json!(" \t\n "))),
        ("rtl override in id", get("/migrations/%E2%80%AE01JNQ8M6Z1X4V7C2B9D3E5F7GH", admin())),
        ("percent-encoded nul in path", get("/admin/terms/U%00S", operator())),
        ("invalid utf-8 in path", get("/admin/terms/%FF%FE", operator())),
        ("invalid utf-8 in body", create_raw(b"{\"provider_name\": \"\xff\xfe\"}")),
        ("control character in idempotency key", create_with(|_| {}).with_header("idempotency-key", "abc\tdef")),
        ("obs-text in idempotency key", raw_header(create_with(|_| {}), "idempotency-key", b"key-\xe9")),
        // Huge numbers, nulls, arrays where objects belong.
        ("huge number as boolean", create_raw(br#"{"acknowledgements": {"historical_usage_data": 1e999}}"#)),
        ("huge integer as account id", create_with(|b| b["aws_account_id"] = json!(123456789012345678u64))),
        ("null account id", create_with(|b| b["aws_account_id"] = Value::Null)),
        ("null body", create_raw(b"null")),
        ("null acknowledgements", create_with(|b| b["acknowledgements"] = Value::Null)),
        ("array body", create_raw(b"[]")),
        ("array acknowledgements", create_with(|b| b["acknowledgements"] = json!([true, true, true]))),
        ("object as accepted terms", create_with(|b| b["accepted_terms"] = json!({"document_id": "x", "version": "1"}))),
        ("string as acknowledgement", create_with(|b| b["acknowledgements"]["reserved_instances"] = json!("true"))),
        // Duplicate keys: refused, never "last one wins".
        (
            "duplicate key in create",
            create_raw(
                br#"{"provider_name": "a", "provider_name": "b", "aws_account_id": "000123456789", "role_arn": "arn:aws:iam::000123456789:role/CenturyLinkFullHardening", "access_level": "full_hardening", "accepted_terms": [], "acknowledgements": {"historical_usage_data": true, "cost_allocation_tags": true, "reserved_instances": true}}"#,
            ),
        ),
        ("duplicate key in approval", admin_put(&format!("/admin/approvals/{}", fixtures::ACCOUNT), r#"{"reference": "r", "approved": false, "approved": true}"#)),
        ("duplicate nested key", admin_put("/admin/terms/US", r#"{"documents": [{"document_id": "a", "document_id": "b", "version": "1", "title": "t", "url": "https://x.invalid/"}]}"#)),
        // Smuggled fields.
        ("org smuggled into create", create_with(|b| b["org_id"] = json!("globex"))),
        ("status smuggled into create", create_with(|b| b["status"] = json!("HARDENED"))),
        ("task token smuggled into create", create_with(|b| b["task_token"] = json!("AQCEAAAA"))),
        ("recorded_by smuggled into approval", admin_put(&format!("/admin/approvals/{}", fixtures::ACCOUNT), r#"{"reference": "r", "approved": true, "recorded_by": "aws"}"#)),
        ("org smuggled into profile", admin_put("/admin/organizations/acme/profile", &{
            let mut b = profile_body();
            b["org_id"] = json!("globex");
            b.to_string()
        })),
        ("external id with spaces", admin_put("/admin/organizations/acme/profile", &{
            let mut b = profile_body();
            b["external_id"] = json!("has spaces; rm -rf /");
            b.to_string()
        })),
        // Found by schemathesis: null where the contract says string (absent means "keep").
        ("null external id", admin_put("/admin/organizations/acme/profile", &{
            let mut b = profile_body();
            b["external_id"] = Value::Null;
            b.to_string()
        })),
        ("empty terms url host", admin_put("/admin/terms/US", r#"{"documents": [{"document_id": "a", "version": "1", "title": "t", "url": "https://"}]}"#)),
        // Found by schemathesis, whose URL parser then crashed on our echo of it.
        ("unclosed IPv6 terms url", admin_put("/admin/terms/US", r#"{"documents": [{"document_id": "a", "version": "1", "title": "t", "url": "https://[0"}]}"#)),
        ("credentials in terms url", admin_put("/admin/terms/US", r#"{"documents": [{"document_id": "a", "version": "1", "title": "t", "url": "https://user:pw@x.invalid/"}]}"#)),
        ("javascript url in terms", admin_put("/admin/terms/US", r#"{"documents": [{"document_id": "a", "version": "1", "title": "t", "url": "javascript:alert(1)"}]}"#)),
        ("no terms documents", admin_put("/admin/terms/US", r#"{"documents": []}"#)),
        ("too many terms documents", admin_put("/admin/terms/US", &json!({"documents": (0..33).map(|i| json!({"document_id": format!("d{i}"), "version": "1", "title": "t", "url": "https://x.invalid/"})).collect::<Vec<_>>()}).to_string())),
        // Limits and cursors.
        ("negative limit", get("/migrations", admin()).with_query("limit=-1")),
        ("zero limit", get("/migrations", admin()).with_query("limit=0")),
        ("limit over the maximum", get("/migrations", admin()).with_query("limit=101")),
        ("huge limit", get("/migrations", admin()).with_query("limit=99999999999999999999999")),
        ("limit with sign", get("/migrations", admin()).with_query("limit=%2B5")),
        ("limit in exponent form", get("/migrations", admin()).with_query("limit=1e2")),
        ("empty limit", get("/migrations", admin()).with_query("limit=")),
        ("repeated parameter", get("/migrations", admin()).with_query("status=INVITED&status=JOINED")),
        ("unknown parameter", get("/migrations", admin()).with_query("org=globex")),
        ("forged cursor for another organization", get("/migrations", admin()).with_query(&format!("cursor={}", hex(&format!("globex|{existing}"))))),
        ("forged cursor with a bad id", get("/migrations", admin()).with_query(&format!("cursor={}", hex("acme|../../etc")))),
        ("cursor that is not hex", get("/migrations", admin()).with_query("cursor=zz")),
        ("overlong cursor", get("/migrations", admin()).with_query(&format!("cursor={}", "ab".repeat(1000)))),
        ("overlong query string", get("/migrations", admin()).with_query(&format!("status={long}"))),
        // Ids of the wrong shape and path traversal.
        ("lower-case ulid", get(&format!("/migrations/{}", existing.to_lowercase()), admin())),
        ("27-character id", get(&format!("/migrations/{existing}0"), admin())),
        ("dot-dot id", get("/migrations/..", admin())),
        ("encoded traversal in id", get("/migrations/..%2F..%2Fadmin%2Fterms%2FUS", admin())),
        ("raw traversal", get("/migrations/../admin/terms/US", admin())),
        ("encoded traversal in org", admin_put("/admin/organizations/..%2Facme/profile", &profile_body().to_string())),
        ("11-digit account path", get("/admin/approvals/12345678901", operator())),
        ("lower-case territory", get("/admin/terms/us", operator())),
        ("double slash", get("//migrations", admin())),
        ("trailing slash", get("/migrations/", admin())),
        // Overlong and repeated headers, content types.
        ("129-character idempotency key", create_with(|_| {}).with_header("idempotency-key", &"k".repeat(129))),
        ("10000-character idempotency key", create_with(|_| {}).with_header("idempotency-key", &long)),
        ("two idempotency keys", create_with(|_| {}).with_header("idempotency-key", "a").with_header("idempotency-key", "b")),
        ("empty idempotency key", create_with(|_| {}).with_header("idempotency-key", "")),
        ("overlong content type", create_raw(b"{}").with_header("content-type", &format!("application/json; x={long}"))),
        ("utf-16 charset", post("/migrations", admin()).with_header("content-type", "application/json; charset=utf-16").with_body(b"{}".to_vec())),
        ("jsonp content type", post("/migrations", admin()).with_header("content-type", "application/jsonp").with_body(b"{}".to_vec())),
        ("no content type", post("/migrations", admin()).with_body(serde_json::to_vec(&valid_body()).unwrap())),
        // Broken JSON.
        ("trailing garbage", create_raw(b"{} {}")),
        ("byte order mark", create_raw(b"\xef\xbb\xbf{}")),
        ("truncated", create_raw(br#"{"provider_name": "#)),
        ("deep nesting", create_raw(format!("{}{}", "[".repeat(5000), "]".repeat(5000)).as_bytes())),
        ("empty body", post("/migrations", admin()).with_header("content-type", "application/json")),
        ("body over 64 KiB", create_raw(&[b' '; 65 * 1024])),
        // Credentials in the wrong place.
        ("customer token on operator route", put("/admin/terms/US", admin()).with_json(&json!({"documents": []}))),
        ("operator on customer write", post("/migrations", operator()).with_json(&valid_body())),
        ("malformed claims", post("/migrations", Identity::Malformed("claim `sub` is missing".into())).with_json(&valid_body())),
        ("anonymous operator route", put("/admin/approvals/000123456789", Identity::Anonymous).with_json(&json!({"reference": "r", "approved": true}))),
        ("non-administrator create", post("/migrations", user()).with_json(&valid_body())),
        // The role is the use case's to judge, after parsing: a non-administrator's broken
        // body is a 400, and still changes nothing.
        ("non-administrator malformed create", post("/migrations", user()).with_header("content-type", "application/json").with_body(b"{".to_vec())),
        // A profile is an object; serde would read a struct from a positional array.
        ("profile as an array", put("/admin/organizations/acme/profile", operator()).with_json(&json!(["cam-acme-1", "US", true, false, false, false, false, false, true]))),
        ("unknown method", ApiRequest::new(Method::from_bytes(b"PURGE").unwrap(), "/migrations", admin(), "req-test-0001")),
    ]
}

#[tokio::test]
async fn every_hostile_input_is_a_4xx_problem_and_changes_nothing() {
    let w = World::new().await;
    // One legitimate migration, so cursors, ids and locks have something to aim at.
    let existing = w.create().await;
    let cases = cases(&existing);
    assert!(cases.len() >= 40, "only {} cases", cases.len());
    for (name, req) in cases {
        let before = snapshot(&w).await;
        let res = w.call(req).await;
        let status = res.status.as_u16();
        assert!((400..500).contains(&status), "{name}: answered {status}: {}", res.json());
        assert_eq!(res.content_type(), Some("application/problem+json"), "{name}");
        let body = String::from_utf8(res.body.clone()).unwrap();
        assert!(!body.contains("Error {") && !body.contains("StoreError") && !body.contains("\\n    "), "{name}: debug dump: {body}");
        assert_eq!(snapshot(&w).await, before, "{name}: the request changed state");
    }
    assert_eq!(w.records().len(), 1);
    assert_eq!(w.locks(), 1);
}
