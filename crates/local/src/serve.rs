//! `serve`: the API on localhost with the same router and contract as the `api` function,
//! the state machine on the in-process executor (real clock), handshake-watcher and
//! hardening-scan on timers, and `/_local/` routes to act as the customer and the operator.
//!
//! Identity: on AWS the HTTP API's JWT authorizer passes claims; here the caller states
//! them in clearly labelled headers, `X-Local-Identity-Sub`, `X-Local-Identity-Org` and
//! `X-Local-Identity-Role` (`administrator` | `user`). An operator, whom AWS identifies by
//! the IAM principal whose SigV4 signature is in `Authorization`, names that principal in
//! the same header, unsigned: `Authorization: CAM-Local-IAM <principal ARN>`; or calls the
//! `/admin/` routes under `/_local/` as the local operator. As on AWS, each route has one
//! authorizer and reads only its identity: `/admin/` the IAM one, the others the JWT one.
//! Nothing checks them: this is a local tool, never a deployment.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use migration::ports::{Clock, MigrationStore, Ports};
use migration::{AwsAccountId, MigrationId, RoleArn, steps};
use migration_sim::fixtures;
use migration_sim::{MemoryStore, RoleTrust, SimAws, SimSupportPlan};
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::{info, warn};

use crate::stack::{ExecutorClock, LocalExecutions, build_executor};

pub const IDENTITY_SUB: &str = "x-local-identity-sub";
pub const IDENTITY_ORG: &str = "x-local-identity-org";
pub const IDENTITY_ROLE: &str = "x-local-identity-role";
/// The `Authorization` scheme that names an operator's IAM principal locally.
pub const LOCAL_IAM_SCHEME: &str = "CAM-Local-IAM";
/// The operator the `/_local/admin/` routes act as.
pub const LOCAL_OPERATOR: &str = "arn:aws:iam::000000000000:user/local-operator";

#[derive(Debug, Clone, clap::Args)]
pub struct ServeOptions {
    /// Port on 127.0.0.1; 0 picks a free one (printed at start).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Use the AWS adapters against this emulator (e.g. a moto server) for what it
    /// implements: the DynamoDB store. Organizations handshakes and Support stay simulated.
    #[arg(long)]
    pub aws_endpoint: Option<String>,
    /// The DynamoDB table to use (created if missing) with --aws-endpoint.
    #[arg(long, default_value = "cam-migrations-local")]
    pub table: String,
    /// Seconds between runs of the watcher's sweep and the hardening scan.
    #[arg(long, default_value_t = 2)]
    pub sweep_every: u64,
    /// Seconds of the first wait between support checks (AWS: one hour).
    #[arg(long, default_value_t = 5)]
    pub support_first_wait: i64,
    /// Do not seed the demo organization, terms, approval and customer account.
    #[arg(long)]
    pub no_seed: bool,
    /// What the seeded customer account is today: standalone, a member of another
    /// organization (it moves directly), or the management account of its own.
    #[arg(long, value_enum, default_value_t = crate::demo::Account::Standalone)]
    pub account: crate::demo::Account,
}

#[derive(Clone)]
struct Local {
    api: api::Api,
    sim: SimAws,
    ports: Ports,
}

/// Builds the local world and serves it until the process is stopped.
pub async fn run(options: ServeOptions) -> Result<(), Box<dyn std::error::Error>> {
    let (router, ports, sim) = build(&options).await?;
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], options.port))).await?;
    let addr = listener.local_addr()?;
    // The first line a caller (or a test) waits for.
    println!("listening on http://{addr}");
    // The usage snapshot's download links point at this server's route.
    sim.snapshots().serve_links_at(&format!("http://{addr}{SNAPSHOT_ROUTE}/"));
    tokio::spawn(timers(ports, Duration::from_secs(options.sweep_every.max(1))));
    axum::serve(listener, router).with_graceful_shutdown(async { tokio::signal::ctrl_c().await.unwrap_or(()) }).await?;
    Ok(())
}

async fn build(options: &ServeOptions) -> Result<(Router, Ports, SimAws), Box<dyn std::error::Error>> {
    let clock = asl::Clock::System(asl::SystemClock);
    let domain_clock: Arc<dyn Clock> = Arc::new(ExecutorClock(clock.clone()));
    let store: Arc<dyn MigrationStore> = match &options.aws_endpoint {
        None => Arc::new(MemoryStore::new()),
        Some(endpoint) => Arc::new(dynamo_store(endpoint, &options.table).await?),
    };
    let mut settings = fixtures::settings();
    settings.support_first_wait = chrono::Duration::seconds(options.support_first_wait.max(1));
    settings.support_max_wait = settings.support_first_wait * 8;
    settings.support_join_recheck = settings.support_first_wait;
    settings.handshake_poll_interval = chrono::Duration::seconds(i64::try_from(options.sweep_every).unwrap_or(2).max(1));
    settings.hardening_retry = settings.handshake_poll_interval;
    let sim = SimAws::new(settings.partner_account_id.clone(), domain_clock.clone());
    let executions = Arc::new(LocalExecutions::default());
    let ports = sim.ports(store.clone(), executions.clone(), domain_clock.clone(), settings);
    build_executor(&ports, &executions, clock)?;
    if !options.no_seed {
        fixtures::seed_store(store.as_ref(), domain_clock.now()).await?;
        fixtures::seed_customer(&sim, SimSupportPlan::Basic);
        sim.update_customer(&fixtures::account(), |c| c.own_organization = options.account.organization())?;
    }
    let local = Local { api: api::Api::new(ports.clone(), api::ApiConfig::default()), sim: sim.clone(), ports: ports.clone() };
    let router = Router::new()
        .route("/_local/customer/accept", post(accept))
        .route("/_local/customer/decline", post(decline))
        .route("/_local/customer/withdraw-transfer", post(withdraw_transfer))
        .route("/_local/customer/support", post(support))
        .route("/_local/customers", post(add_customer))
        .route("/_local/events", get(events))
        .route(&format!("{SNAPSHOT_ROUTE}/{{*key}}"), get(snapshot_file))
        .fallback(forward)
        .with_state(local);
    Ok((router, ports, sim))
}

/// Where `serve` answers the usage snapshot's download links, as S3 answers presigned ones.
pub const SNAPSHOT_ROUTE: &str = "/_local/snapshots";

/// A file of a usage snapshot, by its key. As with a presigned link, the link is the
/// authorization: the status API gives it to the organization's administrators only. Its
/// expiry is not enforced here (a presigned S3 link's is; `crates/migration-aws/tests/usage_moto.rs`
/// follows real ones).
async fn snapshot_file(State(local): State<Local>, axum::extract::Path(key): axum::extract::Path<String>) -> Response {
    match local.sim.snapshots().get(&key) {
        Some((body, content_type)) => ([(axum::http::header::CONTENT_TYPE, content_type)], body).into_response(),
        None => (StatusCode::NOT_FOUND, "no such snapshot file").into_response(),
    }
}

async fn dynamo_store(endpoint: &str, table: &str) -> Result<migration_aws::DynamoStore, Box<dyn std::error::Error>> {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_config::meta::credentials::CredentialsProviderChain::first_try(
            "local",
            aws_credential_types::Credentials::new("local", "local", None, None, "cam-local"),
        ))
        .load()
        .await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let exists = client.describe_table().table_name(table).send().await.is_ok();
    if !exists {
        migration_aws::table_definition().create(&client, table).await?;
        info!(table, "created the table on the emulator");
    }
    Ok(migration_aws::DynamoStore::new(client, table))
}

/// The watcher's schedule and the hardening scan, every `every`.
async fn timers(ports: Ports, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let run = steps::watcher_run(&ports, 100).await;
        if let Err(e) = run.unstarted {
            warn!(error = %e, "sweep of unstarted migrations failed");
        }
        if let Err(e) = run.handshakes {
            warn!(error = %e, "handshake sweep failed");
        }
        if let Err(e) = steps::hardening_scan(&ports, 100, || true).await {
            warn!(error = %e, "hardening scan failed");
        }
    }
}

/// The caller as the route's one authorizer sees it: `/admin/` routes are IAM-authorized
/// and read only `Authorization`; the others are JWT-authorized and read only the claims.
fn identity(path: &str, headers: &HeaderMap) -> api::Identity {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    if path.starts_with("/admin/") {
        return match header(AUTHORIZATION.as_str()) {
            None => api::Identity::Anonymous,
            Some(value) => match value.strip_prefix(LOCAL_IAM_SCHEME).and_then(|v| v.strip_prefix(' ')) {
                Some(principal) => api::Identity::operator(principal),
                None => api::Identity::Malformed(format!("Authorization must be `{LOCAL_IAM_SCHEME} <principal ARN>`")),
            },
        };
    }
    if [IDENTITY_SUB, IDENTITY_ORG, IDENTITY_ROLE].iter().all(|h| header(h).is_none()) {
        return api::Identity::Anonymous;
    }
    api::Identity::from_claims(|claim| match claim {
        "sub" => header(IDENTITY_SUB),
        "cam:org" => header(IDENTITY_ORG),
        "cam:role" => header(IDENTITY_ROLE),
        _ => None,
    })
}

/// API Gateway HTTP APIs refuse payloads over 10 MB before the function sees them; locally
/// the body is read up to that, and the API's own limit answers the rest.
pub const GATEWAY_PAYLOAD_LIMIT: usize = 10 * 1024 * 1024;

/// How much of an oversized body is still read (and dropped) before the refusal. Answering
/// while the client is still sending makes the server close a socket with unread data, which
/// resets the connection: the client then sees a broken pipe instead of the 413 (the serve
/// test saw it now and then on a busy machine). Past this, the connection is let go.
pub const DRAIN_LIMIT: usize = 64 * 1024 * 1024;

/// The body as API Gateway passes it, or the problem document that refuses it. A `Bytes`
/// extractor would answer axum's own plain-text 413 past its 2 MiB default.
async fn gateway_body(body: axum::body::Body) -> Result<Bytes, Response> {
    let refuse = |why: String| {
        let problem = api::Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            api::problem::codes::PAYLOAD_TOO_LARGE,
            format!("the body could not be read within {GATEWAY_PAYLOAD_LIMIT} bytes: {why}"),
        );
        let answer = api::problem_response(problem, &ulid::Ulid::new().to_string());
        (answer.status, answer.headers, answer.body).into_response()
    };
    match axum::body::to_bytes(body, DRAIN_LIMIT).await {
        Ok(bytes) if bytes.len() <= GATEWAY_PAYLOAD_LIMIT => Ok(bytes),
        Ok(bytes) => Err(refuse(format!("{} bytes", bytes.len()))),
        Err(e) => Err(refuse(e.to_string())),
    }
}

async fn forward(State(local): State<Local>, method: Method, uri: Uri, headers: HeaderMap, body: axum::body::Body) -> Response {
    let body = match gateway_body(body).await {
        Ok(body) => body,
        Err(refusal) => return refusal,
    };
    let (path, identity) = match uri.path().strip_prefix("/_local") {
        Some(admin) if admin.starts_with("/admin/") => (admin.to_owned(), api::Identity::operator(LOCAL_OPERATOR)),
        _ => (uri.path().to_owned(), identity(uri.path(), &headers)),
    };
    let request = api::ApiRequest {
        method,
        path,
        query: uri.query().unwrap_or_default().to_owned(),
        headers,
        body: body.to_vec(),
        identity,
        request_id: ulid::Ulid::new().to_string(),
    };
    let answer = local.api.handle(request).await;
    (answer.status, answer.headers, answer.body).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountBody {
    aws_account_id: AwsAccountId,
}

fn bad_request(message: impl std::fmt::Display) -> Response {
    (StatusCode::BAD_REQUEST, axum::Json(json!({ "error": message.to_string() }))).into_response()
}

/// The open billing-transfer invitation of an account, if it has one.
fn open_transfer(local: &Local, account: &AwsAccountId) -> Option<migration::record::Handshake> {
    local.sim.transfer_invitations_to(account).into_iter().find(|h| !h.state.is_decided())
}

fn answered(result: Result<(), migration_sim::SimError>, key: &str, id: &migration::HandshakeId) -> Response {
    match result {
        Ok(()) => axum::Json(json!({ key: id, "kind": "billing_transfer" })).into_response(),
        Err(e) => (StatusCode::CONFLICT, axum::Json(json!({ "error": e.to_string() }))).into_response(),
    }
}

/// The customer's root user accepts the open invitation; AWS then emits
/// AccountJoinedOrganization, which the watcher handles. A management account's
/// administrator accepts a billing transfer in the Billing console instead: no event follows,
/// the watcher's sweep polls the transfer.
async fn accept(State(local): State<Local>, body: Bytes) -> Response {
    let body: AccountBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return bad_request(e),
    };
    if let Some(open) = open_transfer(&local, &body.aws_account_id) {
        return answered(local.sim.accept_transfer(&open.id), "accepted", &open.id);
    }
    let Some(open) = local.sim.invitations_to(&body.aws_account_id).into_iter().find(|h| !h.state.is_decided()) else {
        return (StatusCode::NOT_FOUND, axum::Json(json!({ "error": "no open invitation for the account" }))).into_response();
    };
    if let Err(e) = local.sim.accept(&open.id) {
        return (StatusCode::CONFLICT, axum::Json(json!({ "error": e.to_string() }))).into_response();
    }
    let resolved = steps::account_joined(&local.ports, &body.aws_account_id).await;
    match resolved {
        Ok(m) => axum::Json(json!({ "accepted": open.id, "migration_id": m.map(|m| m.id) })).into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({ "accepted": open.id, "watcher_error": e.name() }))).into_response(),
    }
}

async fn decline(State(local): State<Local>, body: Bytes) -> Response {
    let body: AccountBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return bad_request(e),
    };
    if let Some(open) = open_transfer(&local, &body.aws_account_id) {
        return answered(local.sim.decline_transfer(&open.id), "declined", &open.id);
    }
    let Some(open) = local.sim.invitations_to(&body.aws_account_id).into_iter().find(|h| !h.state.is_decided()) else {
        return (StatusCode::NOT_FOUND, axum::Json(json!({ "error": "no open invitation for the account" }))).into_response();
    };
    match local.sim.decline(&open.id) {
        Ok(()) => axum::Json(json!({ "declined": open.id })).into_response(),
        Err(e) => (StatusCode::CONFLICT, axum::Json(json!({ "error": e.to_string() }))).into_response(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WithdrawBody {
    aws_account_id: AwsAccountId,
    /// The last month the partner pays, `YYYY-MM`.
    end_month: migration::transfer::BillingMonth,
}

/// The customer's management account withdraws its accepted billing transfer (the Billing
/// console's side of TerminateResponsibilityTransfer): it ends at the end of `end_month`.
async fn withdraw_transfer(State(local): State<Local>, body: Bytes) -> Response {
    let body: WithdrawBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return bad_request(e),
    };
    let accepted = local
        .sim
        .transfers()
        .into_iter()
        .find(|t| t.customer_account == body.aws_account_id && t.status == migration::transfer::TransferStatus::Accepted);
    let Some(transfer) = accepted else {
        return (StatusCode::NOT_FOUND, axum::Json(json!({ "error": "no accepted billing transfer for the account" }))).into_response();
    };
    match local.sim.withdraw_transfer(&transfer.id, body.end_month.end()) {
        Ok(()) => axum::Json(json!({ "withdrawn": transfer.id, "ends_at": body.end_month.end() })).into_response(),
        Err(e) => (StatusCode::CONFLICT, axum::Json(json!({ "error": e.to_string() }))).into_response(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SupportBody {
    aws_account_id: AwsAccountId,
    plan: String,
}

fn plan(name: &str) -> Option<SimSupportPlan> {
    Some(match name {
        "basic" => SimSupportPlan::Basic,
        "developer" => SimSupportPlan::Developer,
        "business" => SimSupportPlan::Business,
        "business_support_plus" => SimSupportPlan::BusinessSupportPlus,
        "enterprise_on_ramp" => SimSupportPlan::EnterpriseOnRamp,
        "enterprise" => SimSupportPlan::Enterprise,
        "unified_operations" => SimSupportPlan::UnifiedOperations,
        _ => return None,
    })
}

/// The customer's root user changes the support plan.
async fn support(State(local): State<Local>, body: Bytes) -> Response {
    let body: SupportBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return bad_request(e),
    };
    let Some(p) = plan(&body.plan) else { return bad_request("unknown plan") };
    match local.sim.set_support_plan(&body.aws_account_id, p) {
        Ok(()) => axum::Json(json!({ "aws_account_id": body.aws_account_id, "plan": body.plan })).into_response(),
        Err(e) => (StatusCode::NOT_FOUND, axum::Json(json!({ "error": e.to_string() }))).into_response(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomerBody {
    role_arn: RoleArn,
    /// The ExternalId the role trusts; absent: a role that does not enforce one.
    external_id: Option<migration::ExternalId>,
    plan: String,
}

/// A customer account with a role trusting the partner, standalone.
async fn add_customer(State(local): State<Local>, body: Bytes) -> Response {
    let body: CustomerBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return bad_request(e),
    };
    let Some(p) = plan(&body.plan) else { return bad_request("unknown plan") };
    let trust = body.external_id.map_or(RoleTrust::NoExternalId, RoleTrust::ExternalId);
    local.sim.add_standalone_customer(&body.role_arn, trust, p);
    (StatusCode::CREATED, axum::Json(json!({ "aws_account_id": body.role_arn.account_id() }))).into_response()
}

#[derive(Deserialize)]
struct EventsQuery {
    migration_id: MigrationId,
}

/// The `Migration Status Changed` events of a migration, as the Pipe publishes them: built
/// from the history items, the outbox.
async fn events(State(local): State<Local>, query: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>) -> Response {
    let Ok(Query(query)) = query else { return bad_request("migration_id must be a migration id") };
    match local.ports.store.history(query.migration_id).await {
        Ok(history) => {
            let detail: Vec<Value> = history
                .iter()
                .filter_map(|e| e.status_changed())
                .map(|d| {
                    json!({
                        "source": migration::record::EVENT_SOURCE,
                        "detail-type": migration::record::EVENT_DETAIL_TYPE,
                        "detail": d,
                    })
                })
                .collect();
            axum::Json(detail).into_response()
        }
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({ "error": e.to_string() }))).into_response(),
    }
}
