//! The operators' migration routes: read any migration with its execution, list across
//! organizations by status, organization and age, cancel as the customer would, and record
//! the failure of an execution that ended without recording it.

mod common;

use chrono::Duration;
use common::*;
use migration::ids::MigrationId;
use migration::ports::ExecutionStatus;
use migration::record::HandshakeState;
use migration::status::Status;
use migration_sim::fixtures;
use serde_json::{Value, json};

const OPERATOR_ARN: &str = "arn:aws:sts::999999999999:assumed-role/CamOperator/ops-session";

fn ids(page: &Value) -> Vec<String> {
    page["items"].as_array().unwrap().iter().map(|i| i["migration"]["id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn an_operator_reads_any_migration_with_its_execution_and_console_link() {
    let w = World::new().await;
    let id = w.create().await;

    let res = w.call(get(&format!("/admin/migrations/{id}"), operator())).await;
    assert_eq!(res.status, 200, "{}", res.json());
    let body = res.json();
    assert_eq!(body["organization_id"], fixtures::ORG);
    assert_eq!(body["migration"]["id"], id.as_str());
    assert_eq!(body["migration"]["status"], "REQUESTED");
    let arn = format!("arn:aws:states:us-east-1:999999999999:execution:cam-migration:{id}");
    assert_eq!(body["execution"]["arn"], arn.as_str());
    assert_eq!(
        body["execution"]["console_url"],
        format!("https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1#/v2/executions/details/{arn}").as_str()
    );
    assert_eq!(body["execution"]["status"], "RUNNING", "the API started it");
    assert_eq!(body["execution"]["failure_unrecorded"], false);
    assert!(!body["migration"]["timeline"].as_array().unwrap().is_empty(), "the full timeline");

    // Missing is 404; a customer's token is refused; unknown ids are 400.
    let missing = w.call(get(&format!("/admin/migrations/{}", MigrationId::new_at(t0())), operator())).await;
    assert_eq!((missing.status.as_u16(), missing.json()["code"].as_str()), (404, Some("MIGRATION_NOT_FOUND")));
    assert_eq!(w.call(get(&format!("/admin/migrations/{id}"), admin())).await.json()["code"], "OPERATOR_ONLY");
    assert_eq!(w.call(get("/admin/migrations/nope", operator())).await.status, 400);
}

#[tokio::test]
async fn operators_list_by_status_or_organization_within_a_window_never_unfiltered() {
    let w = World::new().await;
    let at = |minutes| {
        w.fixture.clock.set(t0() + Duration::minutes(minutes));
        t0() + Duration::minutes(minutes)
    };
    at(1);
    let acme_old = w.insert("000000000101", "acme", Status::Invited).await;
    at(2);
    let globex = w.insert("000000000102", "globex", Status::Invited).await;
    at(3);
    let acme_new = w.insert("000000000103", "acme", Status::Invited).await;
    at(4);
    let acme_failed = w.insert("000000000104", "acme", Status::Failed).await;

    // Neither status nor org: no index could answer, so the API refuses rather than scan.
    let unfiltered = w.call(get("/admin/migrations", operator())).await;
    assert_eq!((unfiltered.status.as_u16(), unfiltered.json()["code"].as_str()), (400, Some("INVALID_QUERY")));

    let invited = w.call(get("/admin/migrations", operator()).with_query("status=INVITED")).await;
    assert_eq!(invited.status, 200, "{}", invited.json());
    assert_eq!(ids(&invited.json()), vec![acme_new.to_string(), globex.to_string(), acme_old.to_string()], "every org, newest first");
    assert_eq!(invited.json()["items"][1]["organization_id"], "globex");

    let acme = w.call(get("/admin/migrations", operator()).with_query("org=acme")).await.json();
    assert_eq!(ids(&acme), vec![acme_failed.to_string(), acme_new.to_string(), acme_old.to_string()]);
    let acme_invited = w.call(get("/admin/migrations", operator()).with_query("org=acme&status=INVITED")).await.json();
    assert_eq!(ids(&acme_invited), vec![acme_new.to_string(), acme_old.to_string()]);

    // Age: strictly after and before, RFC 3339.
    let window = format!(
        "status=INVITED&created_after={}&created_before={}",
        urlencode(&(t0() + Duration::seconds(90)).to_rfc3339()),
        urlencode(&(t0() + Duration::minutes(3)).to_rfc3339())
    );
    assert_eq!(ids(&w.call(get("/admin/migrations", operator()).with_query(&window)).await.json()), vec![globex.to_string()]);
    let bad_time = w.call(get("/admin/migrations", operator()).with_query("status=INVITED&created_after=yesterday")).await;
    assert_eq!(bad_time.status, 400);

    // Pages, and a cursor only for the listing that gave it.
    let p1 = w.call(get("/admin/migrations", operator()).with_query("status=INVITED&limit=2")).await.json();
    assert_eq!(ids(&p1).len(), 2);
    let cursor = p1["next_cursor"].as_str().expect("a second page").to_owned();
    let p2 = w.call(get("/admin/migrations", operator()).with_query(&format!("status=INVITED&limit=2&cursor={cursor}"))).await.json();
    assert_eq!(ids(&p2), vec![acme_old.to_string()]);
    let foreign = w.call(get("/admin/migrations", operator()).with_query(&format!("status=FAILED&cursor={cursor}"))).await;
    assert_eq!((foreign.status.as_u16(), foreign.json()["code"].as_str()), (400, Some("INVALID_CURSOR")));
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test]
async fn an_operator_cancels_with_the_customers_effect_and_the_customer_sees_only_an_operator() {
    let w = World::new().await;
    let (id, mid) = invited(&w).await;
    let account = w.record(mid).aws_account_id;
    assert_eq!(w.locks(), 1);

    let res = w.call(post(&format!("/admin/migrations/{id}/cancel"), operator())).await;
    assert_eq!(res.status, 200, "{}", res.json());
    assert_eq!(res.json()["migration"]["status"], "CANCELED");
    let record = w.record(mid);
    assert_eq!(record.status, Status::Canceled);
    assert!(w.fixture.sim.invitations_to(&account).iter().all(|h| h.state == HandshakeState::Canceled), "the invitation is withdrawn");
    assert!(w.recorder.stopped().iter().any(|(m, _)| *m == mid), "the execution is stopped");
    assert_eq!(w.locks(), 0, "the account is released");

    // The operator's view names the principal; the customer's does not.
    let last = |body: &Value| body["timeline"].as_array().unwrap().last().unwrap()["actor"].clone();
    assert_eq!(last(&res.json()["migration"]), json!({"type": "operator", "id": OPERATOR_ARN}));
    let customer = w.call(get(&format!("/migrations/{id}"), admin())).await;
    assert_eq!(last(&customer.json()), json!({"type": "operator", "id": "CenturyLink operator"}));
    assert!(!String::from_utf8_lossy(&customer.body).contains("CamOperator"), "no operator principal reaches the customer");

    // Again is harmless; a joined account is not cancellable.
    assert_eq!(w.call(post(&format!("/admin/migrations/{id}/cancel"), operator())).await.status, 200);
    let joined = w.insert("000000000777", "globex", Status::Joined).await;
    let refused = w.call(post(&format!("/admin/migrations/{joined}/cancel"), operator())).await;
    assert_eq!((refused.status.as_u16(), refused.json()["code"].as_str()), (409, Some("NOT_CANCELLABLE")));
}

#[tokio::test]
async fn record_failure_records_what_the_ended_execution_says_and_nothing_else() {
    let w = World::new().await;
    let (id, mid) = invited(&w).await;
    let path = format!("/admin/migrations/{id}/record-failure");

    // Running: the execution records its own outcome.
    let running = w.call(post(&path, operator())).await;
    assert_eq!((running.status.as_u16(), running.json()["code"].as_str()), (409, Some("EXECUTION_RUNNING")));
    assert_eq!(w.record(mid).status, Status::Invited, "nothing changed");

    // FailedUnrecorded: the execution failed with the caught error, the record did not follow.
    let cause = json!({"message": "the customer declined the invitation", "violations": []}).to_string();
    w.recorder.end_with(mid, ExecutionStatus::Failed, Some("Migration.InvitationDeclined"), Some(&cause));
    let view = w.call(get(&format!("/admin/migrations/{id}"), operator())).await.json();
    assert_eq!(view["execution"]["failure_unrecorded"], true);
    assert_eq!(view["execution"]["error"], "Migration.InvitationDeclined");

    let recorded = w.call(post(&path, operator())).await;
    assert_eq!(recorded.status, 200, "{}", recorded.json());
    let record = w.record(mid);
    assert_eq!(record.status, Status::InvitationDeclined, "classified as record-failure would have");
    assert_eq!(record.failure.as_ref().unwrap().cause, "the customer declined the invitation");
    assert_eq!(w.locks(), 0, "the account is released");
    assert_eq!(recorded.json()["execution"]["failure_unrecorded"], false);
    let actor = recorded.json()["migration"]["timeline"].as_array().unwrap().last().unwrap()["actor"].clone();
    assert_eq!(actor["type"], "operator");
    // Again: the terminal record as it is.
    let again = w.call(post(&path, operator())).await;
    assert_eq!((again.status.as_u16(), again.json()["migration"]["status"].as_str()), (200, Some("INVITATION_DECLINED")));

    // A timeout without an error is the state machine's own.
    let (timed_out, tid) = invited(&w).await;
    w.recorder.end(tid, ExecutionStatus::TimedOut);
    assert_eq!(w.call(post(&format!("/admin/migrations/{timed_out}/record-failure"), operator())).await.status, 200);
    assert_eq!(w.record(tid).status, Status::InvitationExpired);

    // No execution, or a succeeded one: nothing to record.
    let unstarted = w.insert("000000000201", "globex", Status::Requested).await;
    let none = w.call(post(&format!("/admin/migrations/{unstarted}/record-failure"), operator())).await;
    assert_eq!((none.status.as_u16(), none.json()["code"].as_str()), (409, Some("EXECUTION_NOT_STARTED")));
    let (succeeded, sid) = invited(&w).await;
    w.recorder.end(sid, ExecutionStatus::Succeeded);
    let done = w.call(post(&format!("/admin/migrations/{succeeded}/record-failure"), operator())).await;
    assert_eq!((done.status.as_u16(), done.json()["code"].as_str()), (409, Some("EXECUTION_SUCCEEDED")));
    assert_eq!(w.record(sid).status, Status::Invited);
}
