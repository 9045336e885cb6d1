//! What the API's logs carry: the migration id and the request id, never a request body,
//! an Idempotency-Key, a task token or the ExternalId.
//!
//! Alone in its own test binary on purpose. tracing caches each callsite's interest once,
//! process-wide, against the subscriber of whichever thread reaches it first: a sibling
//! test running the same code with no subscriber pins the callsite to "never", and the
//! capturing subscriber below then sees nothing from it (a span's `request_id` went
//! missing that way in CI), which would also make the "never contains" checks pass vacuously.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::*;
use migration_sim::fixtures::EXTERNAL_ID;
use serde_json::json;

/// Collects everything the subscriber writes.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn logs_carry_the_migration_id_and_never_a_body_or_token() {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber =
        tracing_subscriber::fmt().json().with_current_span(true).with_span_list(true).with_writer(move || writer.clone()).finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let w = World::new().await;
    let (id, _) = invited(&w).await;
    let mut body = valid_body();
    body["provider_name"] = json!("secret-body-marker");
    w.call(post("/migrations", admin()).with_json(&body).with_header("idempotency-key", "key-in-log?")).await;
    w.call(get(&format!("/migrations/{id}"), admin())).await;
    w.call(get("/onboarding", admin())).await;

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains(&format!("\"migration_id\":\"{id}\"")), "{text}");
    assert!(text.contains("\"request_id\":\"req-test-0001\""));
    for secret in ["secret-task-token", "secret-body-marker", EXTERNAL_ID, "key-in-log?"] {
        assert!(!text.contains(secret), "the logs contain {secret}");
    }
}
