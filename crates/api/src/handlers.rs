//! Executing commands over the domain's ports and rendering the answers.

use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, StatusCode};
use migration::Ports;
use migration::ports::ListQuery;
use migration::ports::MigrationStore;
use migration::rules::Caller;
use migration::steps::{
    self, CancelError, CreateError, OnboardingError, RecordEndedError, TerminateError, cancel_as_operator, cancel_migration,
    create_migration,
};
use migration::transfer::{MonthErrorCode, TransferError};
use migration::{Migration, MigrationId, StepError, StoreError};
use serde::Serialize;
use tracing::{Instrument, Span, error, field, info, info_span, warn};

use crate::parse::{Command, parse};
use crate::problem::{Problem, codes};
use crate::request::{ApiRequest, ApiResponse, Identity};
use crate::views;

/// Settings of the API beyond the domain's.
#[derive(Debug, Clone, Default)]
pub struct ApiConfig {
    /// Where the customer role template (`infra/customer-role.yaml`) is published. When set,
    /// `GET /onboarding` adds the template URL and a CloudFormation quick-create link.
    pub role_template_url: Option<String>,
    /// The IAM roles whose sessions are operators (`OPERATOR_PRINCIPAL_ARNS`). API Gateway's
    /// IAM authorization proves who signed a request; this says who may use `/admin/`.
    /// `None` admits every signed principal (the local runner and tests).
    pub operator_roles: Option<Vec<String>>,
}

impl ApiConfig {
    /// Whether `principal` (API Gateway's `userArn`: an assumed-role session
    /// `arn:aws:sts::<account>:assumed-role/<role>/<session>`, or a role or user ARN) is one of
    /// the operator roles (`arn:aws:iam::<account>:role/<path>/<role>`). A session matches its
    /// role by account and role name, the parts a session ARN keeps.
    pub fn admits_operator(&self, principal: &str) -> bool {
        let Some(roles) = &self.operator_roles else { return true };
        let session = principal.split(':').collect::<Vec<_>>();
        let (account, role) = match session.as_slice() {
            ["arn", _, "sts", "", account, rest] => match rest.split('/').collect::<Vec<_>>().as_slice() {
                ["assumed-role", role, _session] => (*account, *role),
                _ => return false,
            },
            ["arn", _, "iam", "", account, rest] if rest.starts_with("role/") => (*account, rest.rsplit('/').next().unwrap_or_default()),
            _ => return false,
        };
        roles.iter().any(|allowed| {
            let parts = allowed.split(':').collect::<Vec<_>>();
            matches!(parts.as_slice(), ["arn", _, "iam", "", a, rest] if *a == account && rest.starts_with("role/") && rest.rsplit('/').next() == Some(role))
        })
    }

    /// `OPERATOR_PRINCIPAL_ARNS`, comma-separated role ARNs; unset or empty admits any signer.
    pub fn operator_roles_from(value: Option<&str>) -> Option<Vec<String>> {
        let roles: Vec<String> = value?.split(',').map(str::trim).filter(|r| !r.is_empty()).map(str::to_owned).collect();
        (!roles.is_empty()).then_some(roles)
    }

    /// The same configuration with `roles` (comma-separated) as the operator roles.
    pub fn with_operator_roles(mut self, roles: &str) -> Self {
        self.operator_roles = Self::operator_roles_from(Some(roles));
        self
    }
}

/// The router: one per process, shared by every request.
#[derive(Clone)]
pub struct Api {
    ports: Ports,
    config: ApiConfig,
}

/// A successful answer before rendering.
struct Reply {
    status: StatusCode,
    body: serde_json::Value,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Reply {
    fn ok(body: impl Serialize) -> Self {
        Self::with_status(StatusCode::OK, body)
    }

    fn with_status(status: StatusCode, body: impl Serialize) -> Self {
        Self { status, body: serde_json::to_value(body).expect("views serialize"), headers: Vec::new() }
    }
}

impl Api {
    pub fn new(ports: Ports, config: ApiConfig) -> Self {
        Self { ports, config }
    }

    pub fn ports(&self) -> &Ports {
        &self.ports
    }

    /// Answers one request. Never panics on input and never fails: every refusal is a
    /// problem document.
    pub async fn handle(&self, req: ApiRequest) -> ApiResponse {
        let span = info_span!(
            "api",
            request_id = %req.request_id,
            method = %req.method,
            route = field::Empty,
            migration_id = field::Empty,
            status = field::Empty,
        );
        async {
            let outcome = match parse(&req) {
                Ok(command) => {
                    Span::current().record("route", command.route().spec().operation_id);
                    match &req.identity {
                        // Only operator routes accept an operator identity, so this is /admin/.
                        Identity::Operator { principal_arn } if !self.config.admits_operator(principal_arn) => Err(Problem::new(
                            StatusCode::FORBIDDEN,
                            codes::NOT_AN_OPERATOR,
                            "the signing principal is not one of the stack's operator roles (OperatorPrincipalArns)",
                        )),
                        _ => self.execute(command).await,
                    }
                }
                Err(problem) => Err(problem),
            };
            let response = render(outcome, &req.request_id);
            Span::current().record("status", response.status.as_u16());
            if response.status.is_server_error() {
                warn!("request failed");
            } else {
                info!("request handled");
            }
            response
        }
        .instrument(span)
        .await
    }

    async fn execute(&self, command: Command) -> Result<Reply, Problem> {
        let store = self.ports.store.as_ref();
        match command {
            Command::CreateMigration { caller, request, idempotency_key } => {
                match create_migration(&self.ports, &caller, &request, idempotency_key.as_deref()).await {
                    Ok(created) => {
                        record_migration(created.record.id);
                        let mut reply = Reply::with_status(StatusCode::ACCEPTED, self.view(&created.record).await?);
                        let location = format!("/migrations/{}", created.record.id);
                        reply.headers.push((header::LOCATION, HeaderValue::try_from(location).expect("ids are header-safe")));
                        if created.replayed {
                            reply.headers.push((HeaderName::from_static("idempotent-replayed"), HeaderValue::from_static("true")));
                        }
                        Ok(reply)
                    }
                    Err(CreateError::Refused(violations)) => Err(Problem::from_violations(&violations)),
                    Err(CreateError::IdempotencyMismatch { migration_id }) => {
                        record_migration(migration_id);
                        Err(Problem::new(
                            StatusCode::UNPROCESSABLE_ENTITY,
                            codes::IDEMPOTENCY_KEY_REUSED,
                            "this Idempotency-Key was used with a different request body; use a new key for a new request",
                        ))
                    }
                    Err(CreateError::Store(e)) => Err(store_problem(&e)),
                }
            }
            Command::GetMigration { caller, id } => {
                record_migration(id);
                let record = self.own_migration(&caller, id).await?;
                let mut view = self.view(&record).await?;
                if migration::rules::check_administrator(&caller).is_ok() {
                    self.sign_snapshot_links(&mut view, id).await;
                }
                Ok(Reply::ok(view))
            }
            Command::ListMigrations { caller, status, limit, cursor } => {
                let query = ListQuery::org(caller.org, status);
                let page = store.list(&query, limit, cursor.as_deref()).await.map_err(|e| store_problem(&e))?;
                Ok(Reply::ok(views::MigrationPage {
                    items: page.items.iter().map(views::migration_summary).collect(),
                    next_cursor: page.next_cursor,
                }))
            }
            Command::CancelMigration { caller, id } => {
                record_migration(id);
                let record = cancel_migration(&self.ports, &caller, id).await.map_err(|e| cancel_problem(&e))?;
                Ok(Reply::ok(self.view(&record).await?))
            }
            Command::EndTransfer { caller, id, end_month } => {
                record_migration(id);
                let record = steps::end_transfer(&self.ports, &caller, id, end_month).await.map_err(|e| terminate_problem(&e, false))?;
                Ok(Reply::ok(self.view(&record).await?))
            }
            Command::GetOnboarding { caller } => match steps::onboarding(&self.ports, &caller).await {
                Ok(onboarding) => {
                    let partner = self.ports.settings.partner_account_id.to_string();
                    Ok(Reply::ok(views::onboarding_view(&onboarding, &partner, self.config.role_template_url.as_deref())))
                }
                Err(OnboardingError::NoProfile(violations)) => Err(Problem::from_violations(&violations)),
                Err(OnboardingError::Store(e)) => Err(store_problem(&e)),
            },
            Command::PutOrgProfile { operator, org, update } => {
                let profile = steps::put_org_profile(&self.ports, &operator, org, update).await.map_err(|e| store_problem(&e))?;
                Ok(Reply::ok(views::org_profile_view(&profile)))
            }
            Command::GetOrgProfile { org } => {
                let profile = store.org_profile(&org).await.map_err(|e| store_problem(&e))?;
                profile
                    .map(|p| Reply::ok(views::org_profile_view(&p)))
                    .ok_or_else(|| Problem::not_found("no profile for this organization"))
            }
            Command::PutApproval { operator, account, body } => {
                let approval = steps::put_approval(&self.ports, &operator, account, body.reference, body.approved)
                    .await
                    .map_err(|e| store_problem(&e))?;
                Ok(Reply::ok(views::approval_view(&approval)))
            }
            Command::GetApproval { account } => {
                let approval = store.approval(&account).await.map_err(|e| store_problem(&e))?;
                approval
                    .map(|a| Reply::ok(views::approval_view(&a)))
                    .ok_or_else(|| Problem::not_found("no approval recorded for this account"))
            }
            Command::PutTerms { operator, territory, body } => {
                let terms = steps::put_terms(&self.ports, &operator, territory, body.documents).await.map_err(|e| store_problem(&e))?;
                Ok(Reply::ok(views::terms_view(&terms)))
            }
            Command::GetTerms { territory } => {
                let terms = store.terms(&territory).await.map_err(|e| store_problem(&e))?;
                terms.map(|t| Reply::ok(views::terms_view(&t))).ok_or_else(|| Problem::not_found("no terms published for this territory"))
            }
            Command::AdminListMigrations { query, limit, cursor } => {
                let page = store.list(&query, limit, cursor.as_deref()).await.map_err(|e| store_problem(&e))?;
                Ok(Reply::ok(views::AdminMigrationPage {
                    items: page.items.iter().map(views::admin_migration_summary).collect(),
                    next_cursor: page.next_cursor,
                }))
            }
            Command::AdminGetMigration { id } => {
                record_migration(id);
                self.admin_view(id).await
            }
            Command::AdminCancelMigration { operator, id } => {
                record_migration(id);
                cancel_as_operator(&self.ports, &operator, id).await.map_err(|e| cancel_problem(&e))?;
                self.admin_view(id).await
            }
            Command::AdminEndTransfer { operator, id, end_month } => {
                record_migration(id);
                steps::end_transfer_as_operator(&self.ports, &operator, id, end_month).await.map_err(|e| terminate_problem(&e, true))?;
                self.admin_view(id).await
            }
            Command::AdminRecordFailure { operator, id } => {
                record_migration(id);
                match steps::record_ended_execution(&self.ports, &operator, id).await {
                    Ok(_) => self.admin_view(id).await,
                    Err(RecordEndedError::NotFound) => Err(admin_not_found()),
                    Err(RecordEndedError::StillRunning(status)) => Err(Problem::new(
                        StatusCode::CONFLICT,
                        codes::EXECUTION_RUNNING,
                        format!("the execution is {}; it records the migration's outcome itself", status.as_str()),
                    )),
                    Err(RecordEndedError::NoExecution) => Err(Problem::new(
                        StatusCode::CONFLICT,
                        codes::EXECUTION_NOT_STARTED,
                        "no execution was started for this migration; the watcher starts a REQUESTED one, or cancel it",
                    )),
                    Err(RecordEndedError::Succeeded) => Err(Problem::new(
                        StatusCode::CONFLICT,
                        codes::EXECUTION_SUCCEEDED,
                        "the execution succeeded; the migration goes on without it (the hardening scan finishes it)",
                    )),
                    Err(RecordEndedError::Step(e)) => Err(step_problem(&e)),
                }
            }
        }
    }

    /// Fresh download links of a taken usage snapshot. A link that cannot be signed leaves the
    /// view without links (logged), never the read failed.
    async fn sign_snapshot_links(&self, view: &mut views::MigrationView, id: MigrationId) {
        let Some(snapshot) = view.usage_snapshot.as_mut() else { return };
        let migration::usage::SnapshotState::Taken { files, .. } = &snapshot.state else { return };
        let expires_in = chrono::Duration::minutes(views::SNAPSHOT_LINK_MINUTES);
        let mut links = Vec::new();
        for name in files {
            match self.ports.snapshots.download_link(&format!("{}{name}", migration::usage::prefix(id)), expires_in).await {
                Ok(url) => links.push(views::SnapshotFileLink { name: name.clone(), url }),
                Err(e) => {
                    warn!(error = %e, "a usage snapshot link could not be signed");
                    return;
                }
            }
        }
        snapshot.download = Some(views::SnapshotDownloadView { expires_at: self.ports.clock.now() + expires_in, files: links });
    }

    /// `GET /admin/migrations/{id}`'s answer, which the operator's actions answer too.
    async fn admin_view(&self, id: MigrationId) -> Result<Reply, Problem> {
        match steps::inspect(&self.ports, id).await {
            Ok(inspection) => Ok(Reply::ok(views::admin_migration_view(&inspection))),
            Err(StepError::NotFound(_)) => Err(admin_not_found()),
            Err(e) => Err(step_problem(&e)),
        }
    }

    /// The caller's organization's migration; anything else is indistinguishable from missing.
    async fn own_migration(&self, caller: &Caller, id: MigrationId) -> Result<Migration, Problem> {
        match self.ports.store.get(id).await {
            Ok(Some(m)) if m.org_id == caller.org => Ok(m),
            Ok(_) => Err(migration_not_found()),
            Err(e) => Err(store_problem(&e)),
        }
    }

    async fn view(&self, record: &Migration) -> Result<views::MigrationView, Problem> {
        let history = MigrationStore::history(self.ports.store.as_ref(), record.id).await.map_err(|e| store_problem(&e))?;
        Ok(views::migration_view(record, &history))
    }
}

fn record_migration(id: MigrationId) {
    Span::current().record("migration_id", field::display(id));
}

fn terminate_problem(e: &TerminateError, operator: bool) -> Problem {
    match e {
        TerminateError::Forbidden(v) => Problem::from_violations(std::slice::from_ref(v)),
        TerminateError::NotFound if operator => admin_not_found(),
        TerminateError::NotFound => migration_not_found(),
        TerminateError::NotTerminable(status) => Problem::new(
            StatusCode::CONFLICT,
            codes::NOT_TERMINABLE,
            format!("the migration is {status}; only an accepted billing transfer can be ended (cancel one not accepted yet)"),
        ),
        TerminateError::Month(m) => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            match m.code {
                MonthErrorCode::MonthTooLate => codes::END_MONTH_TOO_LATE,
                MonthErrorCode::MonthTooEarly | MonthErrorCode::InvalidMonth => codes::END_MONTH_TOO_EARLY,
            },
            m.message.clone(),
        ),
        // A transition AWS does not allow (e.g. the customer withdrew it meanwhile) is the
        // record's state, not the request's form.
        TerminateError::Refused(TransferError::InvalidTransition(m)) => {
            Problem::new(StatusCode::CONFLICT, codes::NOT_TERMINABLE, format!("AWS does not allow ending the transfer now: {m}"))
        }
        TerminateError::Refused(TransferError::Refused { refusal, .. }) => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            codes::TRANSFER_REFUSED,
            format!("AWS refused to end the transfer ({}): {}", refusal.reason(), refusal.remediation()),
        ),
        TerminateError::EndsAlready(end) => Problem::new(
            StatusCode::CONFLICT,
            codes::NOT_TERMINABLE,
            format!(
                "the billing transfer already ends at {}; it cannot be given another end",
                end.map_or_else(|| "an end AWS does not give".to_owned(), |e| e.to_rfc3339())
            ),
        ),
        TerminateError::Refused(other) => step_problem(&StepError::from(other.clone())),
        TerminateError::Step(e) => step_problem(e),
    }
}

fn cancel_problem(e: &CancelError) -> Problem {
    match e {
        CancelError::Forbidden(v) => Problem::from_violations(std::slice::from_ref(v)),
        CancelError::NotFound => migration_not_found(),
        CancelError::NotCancellable(status) => Problem::new(
            StatusCode::CONFLICT,
            codes::NOT_CANCELLABLE,
            format!("the migration is {status}; only a migration that has not joined yet can be canceled"),
        ),
        CancelError::Step(e) => step_problem(e),
    }
}

/// Operators see every organization: a missing migration is simply missing.
fn admin_not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, codes::MIGRATION_NOT_FOUND, "no migration with this id")
}

fn migration_not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, codes::MIGRATION_NOT_FOUND, "no migration with this id in your organization")
}

/// Store failures, logged here (the client sees no detail).
fn store_problem(e: &StoreError) -> Problem {
    let problem = Problem::from_store(e);
    if problem.status.is_server_error() {
        error!(error = %e, "store failure");
    }
    problem
}

fn step_problem(e: &StepError) -> Problem {
    match e {
        StepError::Transient(_) => {
            warn!(error = %e, "transient failure");
            Problem::unavailable()
        }
        StepError::NotFound(_) => migration_not_found(),
        StepError::WrongStatus { actual } => {
            Problem::new(StatusCode::CONFLICT, codes::NOT_CANCELLABLE, format!("the migration is {actual} and can no longer be canceled"))
        }
        other => {
            error!(error = %other, error_name = other.name(), "step failure");
            Problem::internal()
        }
    }
}

/// A refusal decided before the router (the Lambda adapter's), rendered as the router
/// renders its own.
pub fn problem_response(problem: Problem, request_id: &str) -> ApiResponse {
    render(Err(problem), request_id)
}

fn render(outcome: Result<Reply, Problem>, request_id: &str) -> ApiResponse {
    let mut headers = HeaderMap::new();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(id) = HeaderValue::try_from(request_id) {
        headers.insert(HeaderName::from_static("x-request-id"), id);
    }
    let (status, body) = match outcome {
        Ok(reply) => {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            for (name, value) in reply.headers {
                headers.insert(name, value);
            }
            (reply.status, reply.body)
        }
        Err(problem) => {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
            if let Some(seconds) = problem.retry_after {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            if let Some(allow) = problem.allow.as_deref().and_then(|a| HeaderValue::try_from(a).ok()) {
                headers.insert(header::ALLOW, allow);
            }
            if problem.status == StatusCode::UNAUTHORIZED {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            (problem.status, problem.to_json(request_id))
        }
    };
    ApiResponse { status, headers, body: serde_json::to_vec(&body).expect("JSON values serialize") }
}
