//! From request to typed command, without touching the store: route, identity, path
//! parameters, query, headers, body. Everything hostile is refused here, as a 4xx
//! [`Problem`]; the property test and the fuzz target drive this function.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use http::{HeaderMap, StatusCode};
use migration::ids::{AwsAccountId, ExternalId, MigrationId, OrgId, Territory};
use migration::ports::{ListQuery, Listing};
use migration::request::MigrationRequest;
use migration::rules::{Caller, Eligibility, TermsDocument};
use migration::status::Status;
use migration::steps::ProfileUpdate;
use migration::text;
use migration::transfer::BillingMonth;
use serde::Deserialize;

use crate::json::parse_strict;
use crate::problem::{Problem, ViolationView, codes};
use crate::request::{ApiRequest, Identity};
use crate::routes::{Audience, Match, RouteId, RouteSpec, match_route};
use crate::{DEFAULT_PAGE_SIZE, MAX_BODY_BYTES, MAX_PAGE_SIZE};

/// `PUT /admin/organizations/{org}/profile`. The ExternalId is write-only: given, it
/// replaces the organization's; absent, the current one is kept or a new one is issued.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgProfileBody {
    /// Absent is "keep or issue"; `null` is refused like any other non-string.
    #[serde(default, deserialize_with = "present_string")]
    pub external_id: Option<String>,
    pub territory: String,
    #[serde(flatten)]
    pub eligibility: Eligibility,
}

fn present_string<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    String::deserialize(deserializer).map(Some)
}

/// `PUT /admin/approvals/{account}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalBody {
    /// The reference of AWS's transfer agreement.
    pub reference: String,
    pub approved: bool,
}

/// `PUT /admin/terms/{territory}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TermsBody {
    pub documents: Vec<TermsDocument>,
}

/// `POST /migrations/{id}/end-transfer` and its operator twin.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndTransferBody {
    /// The last month the partner pays the bill, `YYYY-MM`.
    pub end_month: String,
}

/// A request the router understood, with every input typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    CreateMigration { caller: Caller, request: MigrationRequest, idempotency_key: Option<String> },
    ListMigrations { caller: Caller, status: Option<Status>, limit: u32, cursor: Option<String> },
    GetMigration { caller: Caller, id: MigrationId },
    CancelMigration { caller: Caller, id: MigrationId },
    EndTransfer { caller: Caller, id: MigrationId, end_month: BillingMonth },
    GetOnboarding { caller: Caller },
    PutOrgProfile { operator: String, org: OrgId, update: ProfileUpdate },
    GetOrgProfile { org: OrgId },
    PutApproval { operator: String, account: AwsAccountId, body: ApprovalBody },
    GetApproval { account: AwsAccountId },
    PutTerms { operator: String, territory: Territory, body: TermsBody },
    GetTerms { territory: Territory },
    AdminListMigrations { query: ListQuery, limit: u32, cursor: Option<String> },
    AdminGetMigration { id: MigrationId },
    AdminCancelMigration { operator: String, id: MigrationId },
    AdminRecordFailure { operator: String, id: MigrationId },
    AdminEndTransfer { operator: String, id: MigrationId, end_month: BillingMonth },
}

impl Command {
    pub fn route(&self) -> RouteId {
        match self {
            Command::CreateMigration { .. } => RouteId::CreateMigration,
            Command::ListMigrations { .. } => RouteId::ListMigrations,
            Command::GetMigration { .. } => RouteId::GetMigration,
            Command::CancelMigration { .. } => RouteId::CancelMigration,
            Command::EndTransfer { .. } => RouteId::EndTransfer,
            Command::GetOnboarding { .. } => RouteId::GetOnboarding,
            Command::PutOrgProfile { .. } => RouteId::PutOrgProfile,
            Command::GetOrgProfile { .. } => RouteId::GetOrgProfile,
            Command::PutApproval { .. } => RouteId::PutApproval,
            Command::GetApproval { .. } => RouteId::GetApproval,
            Command::PutTerms { .. } => RouteId::PutTerms,
            Command::GetTerms { .. } => RouteId::GetTerms,
            Command::AdminListMigrations { .. } => RouteId::AdminListMigrations,
            Command::AdminGetMigration { .. } => RouteId::AdminGetMigration,
            Command::AdminCancelMigration { .. } => RouteId::AdminCancelMigration,
            Command::AdminRecordFailure { .. } => RouteId::AdminRecordFailure,
            Command::AdminEndTransfer { .. } => RouteId::AdminEndTransfer,
        }
    }
}

/// Who is calling, once the route's audience is satisfied.
enum Who {
    Customer(Caller),
    Operator(String),
}

/// Parses a request. Order: route (404/405), credentials (401/403), path
/// parameters, query, headers (400), body size (413), content type (415), body (400).
pub fn parse(req: &ApiRequest) -> Result<Command, Problem> {
    let (spec, raw_params) = match match_route(req.method.as_str(), &req.path) {
        Match::Found(spec, params) => (spec, params),
        Match::MethodNotAllowed(allowed) => {
            let mut p = Problem::new(StatusCode::METHOD_NOT_ALLOWED, codes::METHOD_NOT_ALLOWED, "this path does not accept this method");
            p.allow = Some(allowed.join(", "));
            return Err(p);
        }
        Match::NotFound => return Err(Problem::not_found("no such route")),
    };
    let who = authorize(spec, &req.identity)?;
    let params = raw_params.iter().map(|p| decode_segment(p)).collect::<Result<Vec<_>, _>>()?;
    let query = parse_query(&req.query, allowed_query(spec.id))?;
    let reject_query =
        || if query.is_empty() { Ok(()) } else { Err(Problem::bad_request(codes::INVALID_QUERY, "this route takes no query parameters")) };

    let command = match (spec.id, who) {
        (RouteId::CreateMigration, Who::Customer(caller)) => {
            reject_query()?;
            let idempotency_key = idempotency_key(&req.headers)?;
            let request = json_body(req)?.ok_or_else(|| Problem::bad_request(codes::INVALID_BODY, "a JSON body is required"))?;
            Command::CreateMigration { caller, request, idempotency_key }
        }
        (RouteId::ListMigrations, Who::Customer(caller)) => {
            let status = status_query(&query)?;
            Command::ListMigrations { caller, status, limit: limit_query(&query)?, cursor: cursor_query(&query)? }
        }
        (RouteId::GetMigration, Who::Customer(caller)) => {
            reject_query()?;
            Command::GetMigration { caller, id: path_param(&params[0], "id")? }
        }
        (RouteId::CancelMigration, Who::Customer(caller)) => {
            reject_query()?;
            let id = path_param(&params[0], "id")?;
            no_body(req, "cancel")?;
            Command::CancelMigration { caller, id }
        }
        (RouteId::EndTransfer, Who::Customer(caller)) => {
            reject_query()?;
            let id = path_param(&params[0], "id")?;
            Command::EndTransfer { caller, id, end_month: end_month(required_body(req)?)? }
        }
        (RouteId::GetOnboarding, Who::Customer(caller)) => {
            reject_query()?;
            Command::GetOnboarding { caller }
        }
        (RouteId::PutOrgProfile, Who::Operator(operator)) => {
            reject_query()?;
            let org = path_param(&params[0], "org")?;
            let body: OrgProfileBody = required_body(req)?;
            Command::PutOrgProfile { operator, org, update: profile_update(body)? }
        }
        (RouteId::GetOrgProfile, Who::Operator(_)) => {
            reject_query()?;
            Command::GetOrgProfile { org: path_param(&params[0], "org")? }
        }
        (RouteId::PutApproval, Who::Operator(operator)) => {
            reject_query()?;
            let account = path_param(&params[0], "account")?;
            let body: ApprovalBody = required_body(req)?;
            check_fields(vec![short_text("reference", &body.reference, 256)])?;
            Command::PutApproval { operator, account, body }
        }
        (RouteId::GetApproval, Who::Operator(_)) => {
            reject_query()?;
            Command::GetApproval { account: path_param(&params[0], "account")? }
        }
        (RouteId::PutTerms, Who::Operator(operator)) => {
            reject_query()?;
            let territory = path_param(&params[0], "territory")?;
            let body: TermsBody = required_body(req)?;
            check_terms_body(&body)?;
            Command::PutTerms { operator, territory, body }
        }
        (RouteId::GetTerms, Who::Operator(_)) => {
            reject_query()?;
            Command::GetTerms { territory: path_param(&params[0], "territory")? }
        }
        (RouteId::AdminListMigrations, Who::Operator(_)) => {
            let org = query
                .iter()
                .find(|(k, _)| k == "org")
                .map(|(_, v)| v.parse::<OrgId>())
                .transpose()
                .map_err(|e| query_problem("org", &format!("is not a CAM organization id: {}", e.reason)))?;
            let listing = match (org, status_query(&query)?) {
                (Some(org), status) => Listing::Org { org, status },
                (None, Some(status)) => Listing::Status(status),
                // Each listing reads an index; without either, only a table scan could answer.
                (None, None) => return Err(query_problem("status", "or `org` is required: a listing reads the index of one of them")),
            };
            let created_after = time_query(&query, "created_after")?;
            let created_before = time_query(&query, "created_before")?;
            let list = ListQuery { listing, created_after, created_before };
            Command::AdminListMigrations { query: list, limit: limit_query(&query)?, cursor: cursor_query(&query)? }
        }
        (RouteId::AdminGetMigration, Who::Operator(_)) => {
            reject_query()?;
            Command::AdminGetMigration { id: path_param(&params[0], "id")? }
        }
        (RouteId::AdminCancelMigration, Who::Operator(operator)) => {
            reject_query()?;
            let id = path_param(&params[0], "id")?;
            no_body(req, "cancel")?;
            Command::AdminCancelMigration { operator, id }
        }
        (RouteId::AdminRecordFailure, Who::Operator(operator)) => {
            reject_query()?;
            let id = path_param(&params[0], "id")?;
            no_body(req, "record-failure")?;
            Command::AdminRecordFailure { operator, id }
        }
        (RouteId::AdminEndTransfer, Who::Operator(operator)) => {
            reject_query()?;
            let id = path_param(&params[0], "id")?;
            Command::AdminEndTransfer { operator, id, end_month: end_month(required_body(req)?)? }
        }
        // `authorize` already matched the audience to the route.
        _ => return Err(Problem::internal()),
    };
    Ok(command)
}

fn authorize(spec: &RouteSpec, identity: &Identity) -> Result<Who, Problem> {
    let unauthenticated = || Problem::new(StatusCode::UNAUTHORIZED, codes::UNAUTHENTICATED, "this route needs credentials");
    match (spec.audience, identity) {
        // Whether the caller's role may do what it asks is the use case's rule (create and
        // cancel need an administrator), checked there and only there.
        (Audience::Customer, Identity::Customer(caller)) => Ok(Who::Customer(caller.clone())),
        (Audience::Customer, Identity::Operator { .. }) => Err(Problem::new(
            StatusCode::FORBIDDEN,
            codes::CUSTOMER_ONLY,
            "this route serves CAM users; operator credentials cannot act for an organization",
        )),
        (Audience::Customer, Identity::Malformed(reason)) => {
            Err(Problem::new(StatusCode::UNAUTHORIZED, codes::INVALID_CLAIMS, reason.clone()))
        }
        (Audience::Operator, Identity::Operator { principal_arn }) => Ok(Who::Operator(principal_arn.clone())),
        (Audience::Operator, Identity::Customer(_)) => {
            Err(Problem::new(StatusCode::FORBIDDEN, codes::OPERATOR_ONLY, "operator routes need IAM credentials, never a customer token"))
        }
        (_, Identity::Anonymous) | (Audience::Operator, Identity::Malformed(_)) => Err(unauthenticated()),
    }
}

/// Percent-decodes one path segment; it must be UTF-8 without control characters.
fn decode_segment(raw: &str) -> Result<String, Problem> {
    let invalid = || Problem::bad_request(codes::INVALID_PATH_PARAMETER, "a path parameter is not valid");
    let decoded = percent_encoding::percent_decode_str(raw).decode_utf8().map_err(|_| invalid())?;
    if decoded.is_empty() || decoded.chars().any(char::is_control) {
        return Err(invalid());
    }
    Ok(decoded.into_owned())
}

fn path_param<T: std::str::FromStr<Err = migration::ids::InvalidId>>(value: &str, name: &str) -> Result<T, Problem> {
    value.parse().map_err(|e: migration::ids::InvalidId| {
        Problem::bad_request(codes::INVALID_PATH_PARAMETER, format!("path parameter `{name}` is not valid: {}", e.reason)).with_violations(
            vec![ViolationView {
                code: codes::INVALID_PATH_PARAMETER.to_owned(),
                field: Some(name.to_owned()),
                message: e.reason.clone(),
                remediation: "Use the identifier exactly as the API returned it.".to_owned(),
            }],
        )
    })
}

fn allowed_query(route: RouteId) -> &'static [&'static str] {
    match route {
        RouteId::ListMigrations => &["status", "limit", "cursor"],
        RouteId::AdminListMigrations => &["status", "org", "created_after", "created_before", "limit", "cursor"],
        _ => &[],
    }
}

fn query_value<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn status_query(query: &[(String, String)]) -> Result<Option<Status>, Problem> {
    query_value(query, "status")
        .map(|v| v.parse::<Status>().map_err(|_| query_problem("status", "must be one of the documented statuses, e.g. INVITED")))
        .transpose()
}

fn limit_query(query: &[(String, String)]) -> Result<u32, Problem> {
    match query_value(query, "limit") {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(v) => match v.parse::<u32>() {
            Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) && v.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
            _ => Err(query_problem("limit", &format!("must be a whole number from 1 to {MAX_PAGE_SIZE}"))),
        },
    }
}

fn cursor_query(query: &[(String, String)]) -> Result<Option<String>, Problem> {
    match query_value(query, "cursor") {
        None => Ok(None),
        Some(v) if (1..=1024).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_graphic()) => Ok(Some(v.to_owned())),
        Some(_) => Err(Problem::bad_request(codes::INVALID_CURSOR, "the cursor is not one this API issued for this listing")),
    }
}

/// An RFC 3339 time with an offset (`2026-11-30T00:00:00Z`).
fn time_query(query: &[(String, String)], name: &str) -> Result<Option<DateTime<Utc>>, Problem> {
    query_value(query, name)
        .map(|v| {
            DateTime::parse_from_rfc3339(v)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| query_problem(name, "must be an RFC 3339 time with an offset, e.g. 2026-11-30T00:00:00Z"))
        })
        .transpose()
}

/// An empty body or `{}`; anything else is a mistake worth telling.
fn no_body(req: &ApiRequest, action: &str) -> Result<(), Problem> {
    match json_body::<serde_json::Value>(req)? {
        None => Ok(()),
        Some(serde_json::Value::Object(map)) if map.is_empty() => Ok(()),
        Some(_) => Err(Problem::bad_request(codes::INVALID_BODY, format!("{action} takes no body (or an empty JSON object)"))),
    }
}

fn query_problem(name: &str, message: &str) -> Problem {
    Problem::bad_request(codes::INVALID_QUERY, format!("query parameter `{name}` {message}")).with_violations(vec![ViolationView {
        code: codes::INVALID_QUERY.to_owned(),
        field: Some(name.to_owned()),
        message: message.to_owned(),
        remediation: "Fix the query parameter as the API documentation describes it.".to_owned(),
    }])
}

/// Longest query string looked at.
const MAX_QUERY: usize = 2048;

/// The query's parameters: only known names, each at most once.
fn parse_query(raw: &str, allowed: &[&str]) -> Result<Vec<(String, String)>, Problem> {
    if raw.is_empty() {
        return Ok(Vec::new());
    }
    if raw.len() > MAX_QUERY {
        return Err(Problem::bad_request(codes::INVALID_QUERY, "the query string is too long"));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        if !allowed.contains(&k.as_ref()) {
            let shown: String = k.chars().filter(|c| !c.is_control()).take(40).collect();
            return Err(query_problem(&shown, "is not a parameter of this route"));
        }
        if !seen.insert(k.clone()) {
            return Err(query_problem(&k, "is given more than once"));
        }
        out.push((k.into_owned(), v.into_owned()));
    }
    Ok(out)
}

/// The `Idempotency-Key`: at most one, 1 to 128 printable ASCII characters.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let mut values = headers.get_all("idempotency-key").iter();
    let Some(value) = values.next() else { return Ok(None) };
    let invalid = || {
        Problem::bad_request(codes::INVALID_IDEMPOTENCY_KEY, "Idempotency-Key must be one header of 1 to 128 printable ASCII characters")
    };
    if values.next().is_some() {
        return Err(invalid());
    }
    let bytes = value.as_bytes();
    if bytes.is_empty() || bytes.len() > 128 || !bytes.iter().all(|b| (0x20..=0x7e).contains(b)) {
        return Err(invalid());
    }
    Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
}

/// Whether the content type is JSON: `application/json`, optionally `; charset=utf-8`.
fn is_json_content_type(headers: &HeaderMap) -> bool {
    let mut values = headers.get_all("content-type").iter();
    let (Some(value), None) = (values.next(), values.next()) else { return false };
    let Ok(value) = value.to_str() else { return false };
    let mut parts = value.split(';').map(str::trim);
    if !parts.next().is_some_and(|mime| mime.eq_ignore_ascii_case("application/json")) {
        return false;
    }
    parts.all(|p| {
        p.split_once('=')
            .is_some_and(|(k, v)| k.trim().eq_ignore_ascii_case("charset") && v.trim().trim_matches('"').eq_ignore_ascii_case("utf-8"))
    })
}

/// The JSON body, if there is one: 413 over the limit, 415 when not JSON, 400 when broken.
fn json_body<T: serde::de::DeserializeOwned>(req: &ApiRequest) -> Result<Option<T>, Problem> {
    if req.body.len() > MAX_BODY_BYTES {
        return Err(Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            codes::PAYLOAD_TOO_LARGE,
            format!("the body is {} bytes; the limit is {MAX_BODY_BYTES}", req.body.len()),
        ));
    }
    if req.body.is_empty() {
        return Ok(None);
    }
    if !is_json_content_type(&req.headers) {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            codes::UNSUPPORTED_MEDIA_TYPE,
            "send the body as application/json (UTF-8)",
        ));
    }
    parse_strict(&req.body).map(Some)
}

fn required_body<T: serde::de::DeserializeOwned>(req: &ApiRequest) -> Result<T, Problem> {
    json_body(req)?.ok_or_else(|| Problem::bad_request(codes::INVALID_BODY, "a JSON body is required"))
}

fn field_violation(field: &str, message: &str) -> ViolationView {
    ViolationView {
        code: codes::INVALID_FIELD.to_owned(),
        field: Some(field.to_owned()),
        message: message.to_owned(),
        remediation: "Correct the field and send the request again.".to_owned(),
    }
}

/// A free-text field the frontend shows: visible text (`migration::text`, the one place of
/// that rule) of 1 to `max` characters, without surrounding spaces.
fn short_text(field: &str, value: &str, max: usize) -> Option<ViolationView> {
    (!text::is_visible_line(value, max)).then(|| field_violation(field, &format!("{}, without surrounding spaces", text::requirement(max))))
}

fn check_fields(violations: Vec<Option<ViolationView>>) -> Result<(), Problem> {
    let violations: Vec<ViolationView> = violations.into_iter().flatten().collect();
    if violations.is_empty() {
        Ok(())
    } else {
        Err(Problem::bad_request(codes::INVALID_BODY, format!("{} field(s) are not valid; see `violations`", violations.len()))
            .with_violations(violations))
    }
}

/// The end month's form (`YYYY-MM`); whether the transfer can end then is the use case's rule.
fn end_month(body: EndTransferBody) -> Result<BillingMonth, Problem> {
    body.end_month.parse::<BillingMonth>().map_err(|e| {
        Problem::bad_request(codes::INVALID_BODY, "end_month is not a month")
            .with_violations(vec![field_violation("end_month", &e.message)])
    })
}

/// The body's strings as the domain's types, every invalid field reported at once.
fn profile_update(body: OrgProfileBody) -> Result<ProfileUpdate, Problem> {
    let territory = body.territory.parse::<Territory>();
    let external_id = body.external_id.as_deref().map(str::parse::<ExternalId>).transpose();
    match (territory, external_id) {
        (Ok(territory), Ok(external_id)) => Ok(ProfileUpdate { external_id, territory, eligibility: body.eligibility }),
        (territory, external_id) => Err(check_fields(vec![
            territory.err().map(|e| field_violation("territory", &e.reason)),
            external_id.err().map(|e| field_violation("external_id", &e.reason)),
        ])
        .expect_err("at least one field is invalid")),
    }
}

const MAX_TERMS_DOCUMENTS: usize = 32;

/// An https URL with a host and no credentials, written as sent (printable ASCII, so what
/// the customer sees is what was recorded).
fn is_terms_url(text: &str) -> bool {
    text.starts_with("https://")
        && text.len() <= 2048
        && text.bytes().all(|b| b.is_ascii_graphic())
        && url::Url::parse(text)
            .is_ok_and(|u| u.scheme() == "https" && u.host().is_some() && u.username().is_empty() && u.password().is_none())
}

fn check_terms_body(body: &TermsBody) -> Result<(), Problem> {
    let mut checks = Vec::new();
    if body.documents.is_empty() || body.documents.len() > MAX_TERMS_DOCUMENTS {
        checks.push(Some(field_violation("documents", &format!("give 1 to {MAX_TERMS_DOCUMENTS} documents"))));
    }
    let mut ids = HashSet::new();
    for (i, d) in body.documents.iter().take(MAX_TERMS_DOCUMENTS).enumerate() {
        checks.push(short_text(&format!("documents[{i}].document_id"), &d.document_id, 128));
        checks.push(short_text(&format!("documents[{i}].version"), &d.version, 128));
        checks.push(short_text(&format!("documents[{i}].title"), &d.title, 512));
        checks.push(
            (!is_terms_url(&d.url))
                .then(|| field_violation(&format!("documents[{i}].url"), "must be an https URL of at most 2048 characters")),
        );
        if !ids.insert(d.document_id.as_str()) {
            checks.push(Some(field_violation(&format!("documents[{i}].document_id"), "is listed twice")));
        }
    }
    check_fields(checks)
}
