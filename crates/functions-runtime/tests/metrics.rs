//! The EMF documents the functions write, read back as CloudWatch would: one migration
//! accepted and supported, one declined, one canceled, one crashed, through the metered
//! store. One test in its own binary: the recorder is global to the process.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use functions_runtime::metrics::{self, names_of};
use migration::error::names;
use migration::request::AccessLevel;
use migration::status::Status;
use migration::steps;
use migration_sim::SimSupportPlan;
use migration_sim::fixtures::{self, Fixture};
use serde_json::Value;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-02T10:00:00Z").unwrap().with_timezone(&Utc)
}

/// (metric, its dimensions) -> the values CloudWatch would take from the documents.
type Seen = BTreeMap<(String, BTreeMap<String, String>), Vec<f64>>;

fn read_back(documents: &[u8], namespace: &str) -> Seen {
    let mut seen = Seen::new();
    for line in String::from_utf8_lossy(documents).lines().filter(|l| !l.trim().is_empty()) {
        let doc: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("an EMF line is JSON ({e}): {line}"));
        let aws = &doc["_aws"];
        assert!(aws["Timestamp"].is_u64(), "{line}");
        for directive in aws["CloudWatchMetrics"].as_array().expect("a CloudWatchMetrics directive") {
            assert_eq!(directive["Namespace"], namespace, "{line}");
            let dimension_sets = directive["Dimensions"].as_array().unwrap();
            for metric in directive["Metrics"].as_array().unwrap() {
                let name = metric["Name"].as_str().unwrap().to_owned();
                for set in dimension_sets {
                    let dims: BTreeMap<String, String> = set
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|d| {
                            let d = d.as_str().unwrap();
                            (d.to_owned(), doc[d].as_str().unwrap_or_else(|| panic!("dimension {d} has a value: {line}")).to_owned())
                        })
                        .collect();
                    let values = match &doc[&name] {
                        Value::Array(v) => v.iter().map(|x| x.as_f64().unwrap()).collect(),
                        v => vec![v.as_f64().unwrap_or_else(|| panic!("{name} has a value: {line}"))],
                    };
                    seen.entry((name.clone(), dims)).or_default().extend(values);
                }
            }
        }
    }
    seen
}

fn dims(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn total(seen: &Seen, name: &str, d: &[(&str, &str)]) -> f64 {
    seen.get(&(name.to_owned(), dims(d))).map_or(0.0, |v| v.iter().sum())
}

#[tokio::test]
async fn committed_changes_become_business_metrics_in_emf() {
    metrics::init("CAM/test-stack", "test");
    let (fixture, recorder) = Fixture::with_recorder(t0()).await;
    let ports = functions_runtime::metered(fixture.ports.clone());
    let caller = fixtures::admin();

    // Accepted after 30 hours, Business Support+ 2 days after the join.
    let created = steps::create_migration(&ports, &caller, &fixtures::request(AccessLevel::Optimized), Some("k1")).await.unwrap();
    let id = created.record.id;
    // A replay creates nothing and counts nothing.
    steps::create_migration(&ports, &caller, &fixtures::request(AccessLevel::Optimized), Some("k1")).await.unwrap();
    steps::validate(&ports, id).await.unwrap();
    steps::invite(&ports, id).await.unwrap();
    fixture.clock.advance(Duration::hours(30));
    let handshake = ports.store.get(id).await.unwrap().unwrap().handshake.unwrap();
    fixture.sim.accept(&handshake.id).unwrap();
    steps::account_joined(&ports, &fixtures::account()).await.unwrap();
    steps::check_support(&ports, id).await.unwrap();
    fixture.clock.advance(Duration::days(2));
    fixture.sim.set_support_plan(&fixtures::account(), SimSupportPlan::Business).unwrap();
    steps::check_support(&ports, id).await.unwrap();
    assert_eq!(ports.store.get(id).await.unwrap().unwrap().status, Status::SupportConfirmed);

    let mut documents = Vec::new();
    metrics::flush_to(&mut documents);
    let seen = read_back(&documents, "CAM/test-stack");
    assert_eq!(total(&seen, names_of::MIGRATIONS_STARTED, &[("Kind", "join")]), 1.0, "{seen:?}");
    assert_eq!(seen[&(names_of::INVITATION_TO_ACCEPTANCE.to_owned(), dims(&[("Kind", "join")]))], vec![30.0 * 3600.0]);
    assert_eq!(seen[&(names_of::JOIN_TO_SUPPORT_CONFIRMED.to_owned(), dims(&[("Kind", "join")]))], vec![2.0 * 86400.0]);
    assert_eq!(total(&seen, names_of::MIGRATIONS_ENDED, &[("Kind", "join"), ("Outcome", "SUPPORT_CONFIRMED")]), 0.0, "not terminal");

    // Three more: a decline is an outcome, a crash an incident, a cancel neither.
    let mut outcomes = Vec::new();
    for (n, error) in [(2, Some(names::INVITATION_DECLINED)), (3, Some("States.TaskFailed")), (4, None)] {
        let mut request = fixtures::request(AccessLevel::Optimized);
        request.aws_account_id = format!("00012345670{n}");
        request.role_arn = format!("arn:aws:iam::00012345670{n}:role/CenturyLinkOptimized");
        let mut record = migration::Migration::new(
            migration::MigrationId::new_at(t0()),
            caller.org.clone(),
            "US".parse().unwrap(),
            caller.user.clone(),
            request.validate().unwrap(),
            t0(),
        );
        // Invited, as the step before any of these would leave it.
        record.status = Status::Invited;
        ports.store.create(&record, &migration::record::created_event(&record), None).await.unwrap();
        match error {
            Some(error) => {
                steps::record_failure(&ports, record.id, error, "{\"message\":\"x\"}").await.unwrap();
            }
            None => {
                steps::cancel_migration(&ports, &caller, record.id).await.unwrap();
            }
        }
        outcomes.push(ports.store.get(record.id).await.unwrap().unwrap().status);
    }
    assert_eq!(outcomes, vec![Status::InvitationDeclined, Status::Failed, Status::Canceled]);
    metrics::record_sweep_failures(2);
    metrics::record_scan_failures(0);

    let mut documents = Vec::new();
    metrics::flush_to(&mut documents);
    let seen = read_back(&documents, "CAM/test-stack");
    assert_eq!(total(&seen, names_of::MIGRATIONS_STARTED, &[("Kind", "join")]), 3.0, "{seen:?}");
    for outcome in ["INVITATION_DECLINED", "FAILED", "CANCELED"] {
        assert_eq!(total(&seen, names_of::MIGRATIONS_ENDED, &[("Kind", "join"), ("Outcome", outcome)]), 1.0, "{outcome}: {seen:?}");
    }
    assert_eq!(total(&seen, names_of::UNEXPECTED_FAILURES, &[]), 1.0, "only the crash is an incident: {seen:?}");
    assert_eq!(total(&seen, names_of::CANCELS, &[]), 1.0);
    assert_eq!(total(&seen, names_of::SWEEP_RECORD_FAILURES, &[]), 2.0);
    assert_eq!(total(&seen, names_of::SCAN_RECORD_FAILURES, &[]), 0.0, "nothing to count is no datapoint");
    assert!(seen.keys().all(|(name, _)| names_of::ALL.contains(&name.as_str())), "every metric is a named one: {seen:?}");
    drop(recorder);
}
