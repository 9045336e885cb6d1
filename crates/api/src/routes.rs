//! The route table: the router's side of `infra/openapi.yaml`. A test checks that the two
//! name the same operations and status codes.

/// Every operation of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RouteId {
    CreateMigration,
    ListMigrations,
    GetMigration,
    CancelMigration,
    EndTransfer,
    GetOnboarding,
    PutOrgProfile,
    GetOrgProfile,
    PutApproval,
    GetApproval,
    PutTerms,
    GetTerms,
    AdminListMigrations,
    AdminGetMigration,
    AdminCancelMigration,
    AdminRecordFailure,
    AdminEndTransfer,
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// CAM users with a JWT. Which roles may use a route is the use case's rule (creating
    /// and canceling need an administrator: `rules::check_administrator`, called by the step).
    Customer,
    /// Operators with IAM credentials.
    Operator,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteSpec {
    pub id: RouteId,
    pub method: &'static str,
    /// OpenAPI path template.
    pub template: &'static str,
    /// The `operationId` in openapi.yaml.
    pub operation_id: &'static str,
    pub audience: Audience,
    /// Every status the handler can answer, besides the `default` (500) response.
    pub statuses: &'static [u16],
}

const CUSTOMER: Audience = Audience::Customer;
const OPERATOR_PUT: &[u16] = &[200, 400, 401, 403, 413, 415, 503];
const OPERATOR_GET: &[u16] = &[200, 400, 401, 403, 404, 503];
const OPERATOR_ACT: &[u16] = &[200, 400, 401, 403, 404, 409, 413, 415, 503];

pub const ROUTES: &[RouteSpec] = &[
    RouteSpec {
        id: RouteId::CreateMigration,
        method: "POST",
        template: "/migrations",
        operation_id: "createMigration",
        audience: CUSTOMER,
        statuses: &[202, 400, 401, 403, 409, 413, 415, 422, 503],
    },
    RouteSpec {
        id: RouteId::ListMigrations,
        method: "GET",
        template: "/migrations",
        operation_id: "listMigrations",
        audience: CUSTOMER,
        statuses: &[200, 400, 401, 403, 503],
    },
    RouteSpec {
        id: RouteId::GetMigration,
        method: "GET",
        template: "/migrations/{id}",
        operation_id: "getMigration",
        audience: CUSTOMER,
        statuses: &[200, 400, 401, 403, 404, 503],
    },
    RouteSpec {
        id: RouteId::CancelMigration,
        method: "POST",
        template: "/migrations/{id}/cancel",
        operation_id: "cancelMigration",
        audience: CUSTOMER,
        statuses: &[200, 400, 401, 403, 404, 409, 413, 415, 503],
    },
    RouteSpec {
        id: RouteId::EndTransfer,
        method: "POST",
        template: "/migrations/{id}/end-transfer",
        operation_id: "endTransfer",
        audience: CUSTOMER,
        statuses: &[200, 400, 401, 403, 404, 409, 413, 415, 422, 503],
    },
    RouteSpec {
        id: RouteId::GetOnboarding,
        method: "GET",
        template: "/onboarding",
        operation_id: "getOnboarding",
        audience: CUSTOMER,
        statuses: &[200, 400, 401, 403, 422, 503],
    },
    RouteSpec {
        id: RouteId::PutOrgProfile,
        method: "PUT",
        template: "/admin/organizations/{org}/profile",
        operation_id: "putOrganizationProfile",
        audience: Audience::Operator,
        statuses: OPERATOR_PUT,
    },
    RouteSpec {
        id: RouteId::GetOrgProfile,
        method: "GET",
        template: "/admin/organizations/{org}/profile",
        operation_id: "getOrganizationProfile",
        audience: Audience::Operator,
        statuses: OPERATOR_GET,
    },
    RouteSpec {
        id: RouteId::PutApproval,
        method: "PUT",
        template: "/admin/approvals/{account}",
        operation_id: "putApproval",
        audience: Audience::Operator,
        statuses: OPERATOR_PUT,
    },
    RouteSpec {
        id: RouteId::GetApproval,
        method: "GET",
        template: "/admin/approvals/{account}",
        operation_id: "getApproval",
        audience: Audience::Operator,
        statuses: OPERATOR_GET,
    },
    RouteSpec {
        id: RouteId::PutTerms,
        method: "PUT",
        template: "/admin/terms/{territory}",
        operation_id: "putTerms",
        audience: Audience::Operator,
        statuses: OPERATOR_PUT,
    },
    RouteSpec {
        id: RouteId::GetTerms,
        method: "GET",
        template: "/admin/terms/{territory}",
        operation_id: "getTerms",
        audience: Audience::Operator,
        statuses: OPERATOR_GET,
    },
    RouteSpec {
        id: RouteId::AdminListMigrations,
        method: "GET",
        template: "/admin/migrations",
        operation_id: "adminListMigrations",
        audience: Audience::Operator,
        statuses: &[200, 400, 401, 403, 503],
    },
    RouteSpec {
        id: RouteId::AdminGetMigration,
        method: "GET",
        template: "/admin/migrations/{id}",
        operation_id: "adminGetMigration",
        audience: Audience::Operator,
        statuses: OPERATOR_GET,
    },
    RouteSpec {
        id: RouteId::AdminCancelMigration,
        method: "POST",
        template: "/admin/migrations/{id}/cancel",
        operation_id: "adminCancelMigration",
        audience: Audience::Operator,
        statuses: OPERATOR_ACT,
    },
    RouteSpec {
        id: RouteId::AdminRecordFailure,
        method: "POST",
        template: "/admin/migrations/{id}/record-failure",
        operation_id: "adminRecordFailure",
        audience: Audience::Operator,
        statuses: OPERATOR_ACT,
    },
    RouteSpec {
        id: RouteId::AdminEndTransfer,
        method: "POST",
        template: "/admin/migrations/{id}/end-transfer",
        operation_id: "adminEndTransfer",
        audience: Audience::Operator,
        statuses: &[200, 400, 401, 403, 404, 409, 413, 415, 422, 503],
    },
];

impl RouteId {
    pub fn spec(self) -> &'static RouteSpec {
        ROUTES.iter().find(|r| r.id == self).expect("every route id has a spec")
    }
}

/// The outcome of matching a path and method against the table.
#[derive(Debug, PartialEq, Eq)]
pub enum Match<'a> {
    /// The route and its raw (still percent-encoded) path parameters, in template order.
    Found(&'static RouteSpec, Vec<&'a str>),
    /// The path exists but not with this method: the methods it has.
    MethodNotAllowed(Vec<&'static str>),
    NotFound,
}

/// Longest path the router looks at; longer ones are unknown routes.
const MAX_PATH: usize = 1024;

pub fn match_route<'a>(method: &str, path: &'a str) -> Match<'a> {
    if path.len() > MAX_PATH || !path.starts_with('/') {
        return Match::NotFound;
    }
    let segments: Vec<&str> = path[1..].split('/').collect();
    let mut allowed = Vec::new();
    for spec in ROUTES {
        let Some(params) = match_template(spec.template, &segments) else { continue };
        if spec.method == method {
            return Match::Found(spec, params);
        }
        allowed.push(spec.method);
    }
    if allowed.is_empty() { Match::NotFound } else { Match::MethodNotAllowed(allowed) }
}

fn match_template<'a>(template: &str, segments: &[&'a str]) -> Option<Vec<&'a str>> {
    let parts: Vec<&str> = template[1..].split('/').collect();
    if parts.len() != segments.len() {
        return None;
    }
    let mut params = Vec::new();
    for (part, segment) in parts.iter().zip(segments) {
        if part.starts_with('{') {
            if segment.is_empty() {
                return None;
            }
            params.push(*segment);
        } else if part != segment {
            return None;
        }
    }
    Some(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_templates_and_reports_allowed_methods() {
        assert!(matches!(match_route("GET", "/migrations"), Match::Found(s, p) if s.id == RouteId::ListMigrations && p.is_empty()));
        assert!(
            matches!(match_route("POST", "/migrations/01ARZ3NDEKTSV4RRFFQ69G5FAV/cancel"), Match::Found(s, p) if s.id == RouteId::CancelMigration && p == vec!["01ARZ3NDEKTSV4RRFFQ69G5FAV"])
        );
        assert_eq!(match_route("DELETE", "/migrations"), Match::MethodNotAllowed(vec!["POST", "GET"]));
        assert_eq!(match_route("GET", "/migrations/"), Match::NotFound);
        assert_eq!(match_route("GET", "/migrations/x/y"), Match::NotFound);
        assert_eq!(match_route("GET", "migrations"), Match::NotFound);
        assert_eq!(match_route("GET", "/admin/terms//"), Match::NotFound);
    }

    #[test]
    fn every_route_is_unique() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(!(a.method == b.method && a.template == b.template), "{} {}", a.method, a.template);
                assert_ne!(a.operation_id, b.operation_id);
            }
        }
    }
}
