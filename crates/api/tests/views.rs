//! What the customer and the operators see: the timeline, the next action with its console
//! link, the onboarding facts, and what must never appear (task token, ExternalId outside
//! onboarding). What the logs carry is checked in `logs.rs`.

mod common;

use api::views::{CONSOLE_INVITATIONS_URL, CONSOLE_SUPPORT_PLANS_URL};
use common::*;
use migration::ports::MigrationStore;
use migration::record::HandshakeState;
use migration::steps;
use migration_sim::fixtures::{self, EXTERNAL_ID};
use serde_json::{Value, json};

fn step_states(body: &Value) -> Vec<(String, String)> {
    body["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["step"].as_str().unwrap().to_owned(), s["state"].as_str().unwrap().to_owned()))
        .collect()
}

#[tokio::test]
async fn an_invited_migration_shows_the_handshake_and_how_to_accept_it_but_never_the_token() {
    let w = World::new().await;
    let (id, mid) = invited(&w).await;
    assert!(w.store.all()[0].task_token.is_some(), "the store holds the token");

    let res = w.call(get(&format!("/migrations/{id}"), user())).await;
    assert_eq!(res.status, 200);
    let body = res.json();
    assert_eq!(body["status"], "INVITED");
    let handshake = &body["handshake"];
    assert_eq!(handshake["state"], "OPEN");
    let action = &body["next_action"];
    assert_eq!(action["code"], "ACCEPT_INVITATION");
    assert_eq!(action["url"], CONSOLE_INVITATIONS_URL);
    assert_eq!(action["deadline"], handshake["expires_at"]);
    assert!(action["description"].as_str().unwrap().contains(handshake["id"].as_str().unwrap()));
    assert_eq!(
        step_states(&body),
        [
            ("validate", "completed"),
            ("invite", "completed"),
            ("accept_invitation", "in_progress"),
            ("support_plan", "pending"),
            ("hardening", "pending")
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    let statuses: Vec<&str> = body["timeline"].as_array().unwrap().iter().map(|e| e["status"].as_str().unwrap()).collect();
    assert_eq!(statuses.first(), Some(&"REQUESTED"));
    assert!(statuses.contains(&"VALIDATED") && statuses.contains(&"INVITED"));

    for path in [format!("/migrations/{id}"), "/migrations".to_owned(), format!("/migrations/{id}/cancel")] {
        let req = if path.ends_with("cancel") { post(&path, admin()) } else { get(&path, admin()) };
        let text = String::from_utf8(w.call(req).await.body).unwrap();
        assert!(!text.contains("secret-task-token") && !text.contains("task_token"), "{path} leaks the task token");
        assert!(!text.contains(EXTERNAL_ID), "{path} leaks the ExternalId");
    }
    // The cancel above withdrew the invitation.
    let after = w.record(mid);
    assert_eq!(after.handshake.unwrap().state, HandshakeState::Canceled);
    assert!(after.task_token.is_none());
}

/// A joined account's hardening shows each move with the SCPs its OU carries: the account
/// is under them from the move on (the SCPs are attached to the OUs, not to the account).
#[tokio::test]
async fn the_hardening_shows_the_scps_each_ou_carries() {
    let w = World::new().await;
    let (id, mid) = invited(&w).await;
    let ports = &w.fixture.ports;
    w.fixture.sim.accept(&w.record(mid).handshake.unwrap().id).unwrap();
    steps::resolve_handshake(ports, mid, HandshakeState::Accepted, "test").await.unwrap();
    steps::hardening_scan(ports, 10, || true).await.unwrap();

    let body = w.call(get(&format!("/migrations/{id}"), admin())).await.json();
    let controls = body["hardening"]["controls"].as_array().unwrap();
    assert_eq!(controls.len(), 1, "{controls:?}");
    assert_eq!(controls[0]["control"], "move_to_onboarding_ou");
    assert_eq!(controls[0]["target"], json!(ports.settings.onboarding_ou_id));
    assert_eq!(controls[0]["scps"], json!([ports.settings.guardrail_scp_id]));
    assert!(controls[0]["applied_at"].is_string());
}

#[tokio::test]
async fn a_joined_account_on_basic_support_is_told_to_upgrade() {
    let w = World::new().await;
    let (id, mid) = invited(&w).await;
    let ports = &w.fixture.ports;
    let handshake = w.record(mid).handshake.unwrap();
    w.fixture.sim.accept(&handshake.id).unwrap();
    steps::resolve_handshake(ports, mid, HandshakeState::Accepted, "test").await.unwrap();
    // Basic at the first check right after the join may be AWS's plan reactivation gap:
    // nothing is asked yet, and the step looks again soon.
    let first = steps::check_support(ports, mid).await.unwrap();
    assert_eq!(first.wait_seconds, 600);
    let body = w.call(get(&format!("/migrations/{id}"), admin())).await.json();
    assert_eq!(body["status"], "JOINED");
    assert!(body["next_action"].is_null(), "no upgrade is asked on the first Basic: {}", body["next_action"]);
    w.fixture.clock.advance(chrono::Duration::seconds(first.wait_seconds));
    steps::check_support(ports, mid).await.unwrap();

    let body = w.call(get(&format!("/migrations/{id}"), admin())).await.json();
    assert_eq!(body["status"], "AWAITING_SUPPORT_UPGRADE");
    assert!(body["next_action"]["description"].as_str().unwrap().contains("Business Support+"), "names the plan sold today");
    assert!(body["joined_at"].is_string(), "the join time is shown");
    assert_eq!(body["support"]["plan"], "basic_or_developer");
    let action = &body["next_action"];
    assert_eq!(action["code"], "UPGRADE_SUPPORT_PLAN");
    assert_eq!(action["url"], CONSOLE_SUPPORT_PLANS_URL);
    assert_eq!(action["deadline"], body["support"]["deadline"]);
    assert_eq!(step_states(&body)[3], ("support_plan".to_owned(), "in_progress".to_owned()));

    // A joined migration can no longer be canceled.
    let res = w.call(post(&format!("/migrations/{id}/cancel"), admin())).await;
    assert_eq!((res.status.as_u16(), res.json()["code"].as_str()), (409, Some("NOT_CANCELLABLE")));
}

#[tokio::test]
async fn a_rejected_migration_shows_the_failure_and_its_remediation() {
    let w = World::new().await;
    let id = w.create().await;
    let mid = id.parse().unwrap();
    // AWS withdrew its approval after the request: validation rejects it.
    w.call(
        put(&format!("/admin/approvals/{}", fixtures::ACCOUNT), operator()).with_json(&json!({"reference": "AWS-X", "approved": false})),
    )
    .await;
    let err = steps::validate(&w.fixture.ports, mid).await.unwrap_err();
    steps::record_failure(&w.fixture.ports, mid, err.name(), &err.cause()).await.unwrap();

    let body = w.call(get(&format!("/migrations/{id}"), admin())).await.json();
    assert_eq!(body["status"], "REJECTED");
    assert_eq!(body["failure"]["error"], "Migration.NotEligible");
    assert_eq!(body["next_action"]["code"], "REVIEW_FAILURE");
    assert_eq!(step_states(&body)[0], ("validate".to_owned(), "failed".to_owned()));
    assert_eq!(w.locks(), 0, "a rejection releases the account");
}

#[tokio::test]
async fn onboarding_hands_out_the_external_id_and_the_role_template_parameters() {
    let w = World::new().await;
    let body = w.call(get("/onboarding", user())).await.json();
    assert_eq!(body["external_id"], EXTERNAL_ID);
    assert_eq!(body["partner_account_id"], fixtures::PARTNER);
    let templates = body["role_templates"].as_array().unwrap();
    let names: Vec<&str> = templates.iter().map(|t| t["role_name"].as_str().unwrap()).collect();
    assert_eq!(names, ["CenturyLinkFullHardening", "CenturyLinkOptimized"]);
    for (t, level) in templates.iter().zip(["FullHardening", "Optimized"]) {
        assert_eq!(t["parameters"], json!({"PartnerAccountId": fixtures::PARTNER, "ExternalId": EXTERNAL_ID, "AccessLevel": level}));
        let link = t["quick_create_url"].as_str().unwrap();
        assert!(
            link.contains(&format!("param_ExternalId={EXTERNAL_ID}")) && link.contains(&format!("param_AccessLevel={level}")),
            "{link}"
        );
    }
    let docs: Vec<&str> = body["terms"].as_array().unwrap().iter().map(|d| d["document_id"].as_str().unwrap()).collect();
    assert_eq!(docs, ["ctl-aws-terms-us", "ctl-aws-addendum-us"]);

    // Operators see that an ExternalId exists, never its value.
    let text = String::from_utf8(w.call(get("/admin/organizations/acme/profile", operator())).await.body).unwrap();
    assert!(text.contains("\"external_id_issued\":true") && !text.contains(EXTERNAL_ID), "{text}");
}

#[tokio::test]
async fn a_new_organization_profile_gets_an_external_id_and_keeps_it() {
    let w = World::new().await;
    let profile = json!({"territory": "US", "billable": true, "demo": false, "trial": false, "internal": false, "reseller": false, "reseller_customer": false, "us_offices": true});
    w.call(put("/admin/organizations/globex/profile", operator()).with_json(&profile)).await;
    let first = w.call(get("/onboarding", other_org_admin())).await.json()["external_id"].as_str().unwrap().to_owned();
    assert!(first.starts_with("cam-globex-"), "{first}");
    let mut changed = profile.clone();
    changed["trial"] = json!(true);
    let view = w.call(put("/admin/organizations/globex/profile", operator()).with_json(&changed)).await.json();
    assert_eq!(view["eligible"], false);
    assert_eq!(view["violations"][0]["code"], "ORG_TRIAL_ACCOUNT");
    assert_eq!(w.call(get("/onboarding", other_org_admin())).await.json()["external_id"], first, "kept across updates");
}

#[tokio::test]
async fn approvals_record_the_operator_and_the_time() {
    let w = World::new().await;
    let res =
        w.call(put("/admin/approvals/000000000042", operator()).with_json(&json!({"reference": "AWS-AGR-42", "approved": true}))).await;
    let body = res.json();
    assert_eq!(body["recorded_by"], "arn:aws:sts::999999999999:assumed-role/CamOperator/ops-session");
    assert_eq!(body["recorded_at"], "2026-03-02T10:00:00Z");
    assert_eq!(w.call(get("/admin/approvals/000000000042", operator())).await.json(), body);
}

#[tokio::test]
async fn what_a_status_change_asks_is_what_the_api_shows_for_that_status() {
    use migration::Status;
    use migration::progress::asked_on_reaching;

    let w = World::new().await;
    let (id, mid) = invited(&w).await;
    let shown = |body: &Value| (body["next_action"]["code"].clone(), body["next_action"]["title"].clone());
    let asked = |status| asked_on_reaching(status).map(|(code, title)| (json!(code), json!(title))).unwrap();

    let body = w.call(get(&format!("/migrations/{id}"), admin())).await.json();
    assert_eq!(shown(&body), asked(Status::Invited));

    let ports = &w.fixture.ports;
    w.fixture.sim.accept(&w.record(mid).handshake.unwrap().id).unwrap();
    steps::resolve_handshake(ports, mid, HandshakeState::Accepted, "test").await.unwrap();
    let first = steps::check_support(ports, mid).await.unwrap();
    w.fixture.clock.advance(chrono::Duration::seconds(first.wait_seconds));
    steps::check_support(ports, mid).await.unwrap();
    let body = w.call(get(&format!("/migrations/{id}"), admin())).await.json();
    assert_eq!(body["status"], "AWAITING_SUPPORT_UPGRADE");
    assert_eq!(shown(&body), asked(Status::AwaitingSupportUpgrade));
    assert_eq!(asked_on_reaching(Status::Joined), None, "joining asks nothing until the plan is known");
}

#[tokio::test]
async fn a_migration_waiting_for_the_daily_invitation_quota_says_when_its_invitation_comes() {
    let w = World::new().await;
    let id = w.create().await;
    let mid: migration::MigrationId = id.parse().unwrap();
    let ports = &w.fixture.ports;
    steps::validate(ports, mid).await.unwrap();
    // Twenty invitations went out a moment ago: the partner's daily quota is used up.
    let now = ports.clock.now();
    for i in 0..20 {
        let other = migration::MigrationId::new_at(now - chrono::Duration::seconds(i + 1));
        assert!(matches!(w.store.reserve_invitation(other, now, 20).await.unwrap(), migration::ports::Reservation::Granted { .. }));
    }
    let out = steps::invite(ports, mid).await.unwrap();
    let send_at = out.deferred_until.expect("deferred");

    let res = w.call(get(&format!("/migrations/{id}"), user())).await;
    assert_eq!(res.status, 200);
    let body = res.json();
    assert_eq!(body["status"], "VALIDATED");
    let scheduled: chrono::DateTime<chrono::Utc> = serde_json::from_value(body["invitation_scheduled_at"].clone()).unwrap();
    assert_eq!(scheduled, send_at);
    assert!(body.get("handshake").is_none());
    let action = &body["next_action"];
    assert_eq!(action["code"], "WAIT_FOR_INVITATION");
    let description = action["description"].as_str().unwrap();
    assert!(description.contains(&send_at.to_rfc3339()) && description.contains("daily invitation quota is used up"), "{description}");
    let list = w.call(get("/migrations", user())).await.json();
    assert_eq!(list["items"][0]["next_action"]["code"], "WAIT_FOR_INVITATION");
}

#[tokio::test]
async fn the_usage_snapshot_is_shown_and_only_administrators_get_its_download_links() {
    let w = World::new().await;
    let id = w.create().await;
    let mid = id.parse().unwrap();
    steps::validate(&w.fixture.ports, mid).await.unwrap();
    steps::snapshot_usage(&w.fixture.ports, mid).await.unwrap();

    let admin_view = w.call(get(&format!("/migrations/{id}"), admin())).await.json();
    let snapshot = &admin_view["usage_snapshot"];
    assert_eq!((snapshot["state"].as_str(), snapshot["months"].as_u64()), (Some("taken"), Some(13)), "{snapshot}");
    let links = snapshot["download"]["files"].as_array().expect("links for an administrator");
    assert_eq!(links.len(), 4);
    // Each link downloads the file it names, from the migration's own prefix.
    let bucket = w.fixture.sim.snapshots();
    for link in links {
        let (body, _) = bucket.follow(link["url"].as_str().unwrap()).expect("the link downloads");
        assert!(!body.is_empty());
        assert!(link["url"].as_str().unwrap().contains(&format!("migrations/{id}/usage/{}", link["name"].as_str().unwrap())));
    }
    // Signed afresh on each read; a user of the organization sees the snapshot, not its links.
    let user_view = w.call(get(&format!("/migrations/{id}"), user())).await.json();
    assert_eq!(user_view["usage_snapshot"]["state"], "taken");
    assert!(user_view["usage_snapshot"].get("download").is_none(), "{}", user_view["usage_snapshot"]);
    // Another organization learns nothing of it.
    assert_eq!(w.call(get(&format!("/migrations/{id}"), other_org_admin())).await.status, 404);
}
