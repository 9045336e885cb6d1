//! What the router takes and gives: no Lambda or server types, only `http`'s vocabulary.

use http::{HeaderMap, Method, StatusCode};
use migration::rules::{Caller, CamRole};

/// The JWT claim holding the CAM user (the subject).
pub const CLAIM_SUBJECT: &str = "sub";
/// The JWT claim holding the caller's CAM organization id.
pub const CLAIM_ORG: &str = "cam:org";
/// The JWT claim holding the caller's role in the organization: `administrator` or `user`.
pub const CLAIM_ROLE: &str = "cam:role";

/// Who is asking, as the entry point established it. The router decides what each may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// A CAM user, from the claims of a JWT the HTTP API's authorizer verified.
    Customer(Caller),
    /// An operator, from API Gateway's IAM (SigV4) authorization.
    Operator { principal_arn: String },
    /// No credentials reached the function.
    Anonymous,
    /// Credentials arrived but their claims are missing or invalid. The reason names the
    /// claim, never its value.
    Malformed(String),
}

impl Identity {
    /// The identity of a verified JWT, from a claim lookup (`sub`, `cam:org`, `cam:role`).
    pub fn from_claims(claim: impl Fn(&str) -> Option<String>) -> Identity {
        let mut problems = Vec::new();
        let user = match claim(CLAIM_SUBJECT) {
            None => {
                problems.push(format!("claim `{CLAIM_SUBJECT}` is missing"));
                None
            }
            Some(v) => v.parse().map_err(|_| problems.push(format!("claim `{CLAIM_SUBJECT}` is not a valid user id"))).ok(),
        };
        let org = match claim(CLAIM_ORG) {
            None => {
                problems.push(format!("claim `{CLAIM_ORG}` is missing"));
                None
            }
            Some(v) => v.parse().map_err(|_| problems.push(format!("claim `{CLAIM_ORG}` is not a valid organization id"))).ok(),
        };
        let role = match claim(CLAIM_ROLE).as_deref() {
            None => {
                problems.push(format!("claim `{CLAIM_ROLE}` is missing"));
                None
            }
            Some("administrator") => Some(CamRole::Administrator),
            Some("user") => Some(CamRole::User),
            Some(_) => {
                problems.push(format!("claim `{CLAIM_ROLE}` must be `administrator` or `user`"));
                None
            }
        };
        match (user, org, role) {
            (Some(user), Some(org), Some(role)) => Identity::Customer(Caller { user, org, role }),
            _ => Identity::Malformed(problems.join("; ")),
        }
    }

    /// The identity of an IAM-authorized caller, from the principal's ARN.
    pub fn operator(principal_arn: &str) -> Identity {
        let ok = principal_arn.starts_with("arn:") && principal_arn.len() <= 2048 && principal_arn.bytes().all(|b| b.is_ascii_graphic());
        if ok {
            Identity::Operator { principal_arn: principal_arn.to_owned() }
        } else {
            Identity::Malformed("the IAM principal is not a valid ARN".to_owned())
        }
    }
}

/// One HTTP request, as the router sees it.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub method: Method,
    /// The path as received, percent-encoded, without the stage prefix and without the query.
    pub path: String,
    /// The raw query string, without `?`; empty when there is none.
    pub query: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub identity: Identity,
    /// API Gateway's request id on AWS, the runner's own locally. Echoed in every problem.
    pub request_id: String,
}

impl ApiRequest {
    /// A request with no query, headers or body; the builders below add them.
    pub fn new(method: Method, path: &str, identity: Identity, request_id: &str) -> Self {
        Self {
            method,
            path: path.to_owned(),
            query: String::new(),
            headers: HeaderMap::new(),
            body: Vec::new(),
            identity,
            request_id: request_id.to_owned(),
        }
    }

    pub fn with_query(mut self, query: &str) -> Self {
        query.clone_into(&mut self.query);
        self
    }

    /// Adds a header; a name or value that HTTP cannot carry is ignored.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        if let (Ok(n), Ok(v)) = (http::HeaderName::try_from(name), http::HeaderValue::try_from(value)) {
            self.headers.append(n, v);
        }
        self
    }

    /// Sets a JSON body and its content type.
    pub fn with_json(self, body: &serde_json::Value) -> Self {
        let mut req = self.with_header("content-type", "application/json");
        req.body = serde_json::to_vec(body).expect("a Value always serializes");
        req
    }

    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
}

/// The router's answer.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl ApiResponse {
    /// The body as JSON (every response of this API is JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn content_type(&self) -> Option<&str> {
        self.header("content-type")
    }
}
