//! Errors as `application/problem+json` (RFC 9457) with a stable `code`, the request id and,
//! for rule failures, the violations with their remediation. Never a debug dump.

use http::StatusCode;
use migration::StoreError;
use migration::rules::{Violation, ViolationClass};
use serde::Serialize;

/// The stable codes of the API's own problems. Rule failures use the domain's
/// [`ViolationCode`](migration::rules::ViolationCode) strings.
pub mod codes {
    pub const NOT_FOUND: &str = "NOT_FOUND";
    pub const METHOD_NOT_ALLOWED: &str = "METHOD_NOT_ALLOWED";
    pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
    pub const INVALID_CLAIMS: &str = "INVALID_CLAIMS";
    pub const OPERATOR_ONLY: &str = "OPERATOR_ONLY";
    pub const NOT_AN_OPERATOR: &str = "NOT_AN_OPERATOR";
    pub const CUSTOMER_ONLY: &str = "CUSTOMER_ONLY";
    pub const INVALID_PATH_PARAMETER: &str = "INVALID_PATH_PARAMETER";
    pub const INVALID_QUERY: &str = "INVALID_QUERY";
    pub const INVALID_CURSOR: &str = "INVALID_CURSOR";
    pub const INVALID_IDEMPOTENCY_KEY: &str = "INVALID_IDEMPOTENCY_KEY";
    pub const IDEMPOTENCY_KEY_REUSED: &str = "IDEMPOTENCY_KEY_REUSED";
    pub const PAYLOAD_TOO_LARGE: &str = "PAYLOAD_TOO_LARGE";
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "UNSUPPORTED_MEDIA_TYPE";
    pub const MALFORMED_JSON: &str = "MALFORMED_JSON";
    pub const DUPLICATE_JSON_KEY: &str = "DUPLICATE_JSON_KEY";
    pub const INVALID_BODY: &str = "INVALID_BODY";
    pub const INVALID_FIELD: &str = "INVALID_FIELD";
    pub const MIGRATION_NOT_FOUND: &str = "MIGRATION_NOT_FOUND";
    pub const NOT_CANCELLABLE: &str = "NOT_CANCELLABLE";
    /// End-transfer: not an accepted billing transfer (before acceptance, cancel withdraws it).
    pub const NOT_TERMINABLE: &str = "NOT_TERMINABLE";
    /// End-transfer: the month is over, or before the transfer's first month.
    pub const END_MONTH_TOO_EARLY: &str = "END_MONTH_TOO_EARLY";
    /// End-transfer: further ahead than a transfer can be ended.
    pub const END_MONTH_TOO_LATE: &str = "END_MONTH_TOO_LATE";
    /// End-transfer: AWS refused the end; `detail` gives its reason.
    pub const TRANSFER_REFUSED: &str = "TRANSFER_REFUSED";
    /// Record-failure: the execution still runs (or will run again) and records its own outcome.
    pub const EXECUTION_RUNNING: &str = "EXECUTION_RUNNING";
    /// Record-failure: no execution was started for the migration.
    pub const EXECUTION_NOT_STARTED: &str = "EXECUTION_NOT_STARTED";
    /// Record-failure: the execution succeeded; there is no failure to record.
    pub const EXECUTION_SUCCEEDED: &str = "EXECUTION_SUCCEEDED";
    pub const SERVICE_UNAVAILABLE: &str = "SERVICE_UNAVAILABLE";
    pub const INTERNAL_ERROR: &str = "INTERNAL_ERROR";
}

/// One failed rule as clients see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ViolationView {
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
    pub remediation: String,
}

impl From<&Violation> for ViolationView {
    fn from(v: &Violation) -> Self {
        Self {
            code: v.code.as_str().to_owned(),
            field: v.field.clone(),
            message: v.message.clone(),
            remediation: v.remediation().to_owned(),
        }
    }
}

/// A refusal, before it is rendered with the request id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub status: StatusCode,
    pub code: String,
    pub detail: String,
    pub violations: Vec<ViolationView>,
    /// `Retry-After` seconds, for 503.
    pub retry_after: Option<u32>,
    /// `Allow`, for 405.
    pub allow: Option<String>,
}

/// Longest `detail` sent: messages that quote input stay short.
const MAX_DETAIL: usize = 300;

impl Problem {
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        let mut detail: String = detail.into();
        if detail.chars().count() > MAX_DETAIL {
            detail = detail.chars().take(MAX_DETAIL).collect::<String>() + "…";
        }
        Self { status, code: code.to_owned(), detail, violations: Vec::new(), retry_after: None, allow: None }
    }

    pub fn with_violations(mut self, violations: Vec<ViolationView>) -> Self {
        self.violations = violations;
        self
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, detail)
    }

    pub fn bad_request(code: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    pub fn unavailable() -> Self {
        let mut p =
            Self::new(StatusCode::SERVICE_UNAVAILABLE, codes::SERVICE_UNAVAILABLE, "a backing service is unavailable; retry shortly");
        p.retry_after = Some(crate::RETRY_AFTER_SECONDS);
        p
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            codes::INTERNAL_ERROR,
            "the request could not be completed; quote the request id to support",
        )
    }

    /// Rule failures: the status of the most serious class (Forbidden, then InvalidInput,
    /// then Conflict, then NotAllowed), the code of its first violation, every violation.
    pub fn from_violations(violations: &[Violation]) -> Self {
        let rank = |c: ViolationClass| match c {
            ViolationClass::Forbidden => 0,
            ViolationClass::InvalidInput => 1,
            ViolationClass::Conflict => 2,
            ViolationClass::NotAllowed => 3,
        };
        let Some(lead) = violations.iter().min_by_key(|v| rank(v.code.class())) else {
            return Self::internal();
        };
        let status = class_status(lead.code.class());
        let detail = if violations.len() == 1 {
            lead.message.clone()
        } else {
            format!("the request breaks {} rules; see `violations`", violations.len())
        };
        Self::new(status, lead.code.as_str(), detail).with_violations(violations.iter().map(ViolationView::from).collect())
    }

    /// Store failures: retryable ones are 503 with Retry-After, a bad cursor is the
    /// caller's, everything else is ours (500, details only in the log).
    pub fn from_store(e: &StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) | StoreError::VersionConflict(_) => Self::unavailable(),
            StoreError::InvalidCursor => Self::bad_request(codes::INVALID_CURSOR, "the cursor is not one this API issued for this listing"),
            _ => Self::internal(),
        }
    }

    /// The RFC 9457 `title`: one per problem type, so it depends on the code only.
    pub fn title(&self) -> String {
        let known = match self.code.as_str() {
            codes::NOT_FOUND => "Not found",
            codes::METHOD_NOT_ALLOWED => "Method not allowed",
            codes::UNAUTHENTICATED => "Authentication required",
            codes::INVALID_CLAIMS => "Invalid token claims",
            codes::OPERATOR_ONLY => "Operator credentials required",
            codes::NOT_AN_OPERATOR => "Not an operator",
            codes::CUSTOMER_ONLY => "Customer credentials required",
            codes::INVALID_PATH_PARAMETER => "Invalid path parameter",
            codes::INVALID_QUERY => "Invalid query parameter",
            codes::INVALID_CURSOR => "Invalid pagination cursor",
            codes::INVALID_IDEMPOTENCY_KEY => "Invalid Idempotency-Key",
            codes::IDEMPOTENCY_KEY_REUSED => "Idempotency-Key reused with a different request",
            codes::PAYLOAD_TOO_LARGE => "Request body too large",
            codes::UNSUPPORTED_MEDIA_TYPE => "Unsupported media type",
            codes::MALFORMED_JSON => "Malformed JSON",
            codes::DUPLICATE_JSON_KEY => "Duplicate JSON key",
            codes::INVALID_BODY => "Invalid request body",
            codes::MIGRATION_NOT_FOUND => "Migration not found",
            codes::NOT_CANCELLABLE => "Migration cannot be canceled",
            codes::EXECUTION_RUNNING => "Execution still running",
            codes::EXECUTION_NOT_STARTED => "Execution not started",
            codes::EXECUTION_SUCCEEDED => "Execution succeeded",
            codes::SERVICE_UNAVAILABLE => "Service unavailable",
            codes::INTERNAL_ERROR => "Internal error",
            _ => "",
        };
        if !known.is_empty() {
            return known.to_owned();
        }
        // A domain rule: its code, readable.
        let mut words = self.code.to_lowercase().replace('_', " ");
        if let Some(first) = words.get_mut(0..1) {
            first.make_ascii_uppercase();
        }
        words
    }

    /// The RFC 9457 `type`: a stable URN per code.
    pub fn type_uri(&self) -> String {
        format!("urn:cam:migrations:problem:{}", self.code.to_lowercase().replace('_', "-"))
    }

    pub fn to_json(&self, request_id: &str) -> serde_json::Value {
        let mut body = serde_json::json!({
            "type": self.type_uri(),
            "title": self.title(),
            "status": self.status.as_u16(),
            "detail": self.detail,
            "code": self.code,
            "request_id": request_id,
        });
        if !self.violations.is_empty() {
            body["violations"] = serde_json::to_value(&self.violations).expect("serializes");
        }
        body
    }
}

pub fn class_status(class: ViolationClass) -> StatusCode {
    match class {
        ViolationClass::Forbidden => StatusCode::FORBIDDEN,
        ViolationClass::InvalidInput => StatusCode::BAD_REQUEST,
        ViolationClass::NotAllowed => StatusCode::UNPROCESSABLE_ENTITY,
        ViolationClass::Conflict => StatusCode::CONFLICT,
    }
}

#[cfg(test)]
mod tests {
    use migration::rules::ViolationCode;

    use super::*;

    #[test]
    fn each_violation_class_has_its_status() {
        use ViolationCode::*;
        let cases = [
            (CallerNotAdministrator, 403),
            (InvalidAccountId, 400),
            (TermsNotAccepted, 422),
            (OrgNotBillable, 422),
            (AccountAlreadyMigrating, 409),
        ];
        for (code, status) in cases {
            let p = Problem::from_violations(&[Violation::new(code, "m")]);
            assert_eq!(p.status.as_u16(), status, "{code:?}");
            assert_eq!(p.code, code.as_str());
            assert_eq!(p.violations[0].remediation, code.remediation());
        }
    }

    #[test]
    fn the_most_serious_class_decides_and_every_violation_is_listed() {
        use ViolationCode::*;
        let p = Problem::from_violations(&[
            Violation::new(TermsNotAccepted, "a"),
            Violation::new(AccountAlreadyMigrating, "b"),
            Violation::on_field(InvalidRoleArn, "role_arn", "c"),
        ]);
        assert_eq!(p.status, StatusCode::BAD_REQUEST);
        assert_eq!(p.code, "INVALID_ROLE_ARN");
        assert_eq!(p.violations.len(), 3);
    }

    #[test]
    fn store_failures_never_leak_their_message() {
        let p = Problem::from_store(&StoreError::Other("ddb said: secret table arn".into()));
        assert_eq!(p.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!p.detail.contains("secret"));
        let p = Problem::from_store(&StoreError::Unavailable("throttled".into()));
        assert_eq!((p.status.as_u16(), p.retry_after), (503, Some(crate::RETRY_AFTER_SECONDS)));
    }

    #[test]
    fn titles_and_types_are_stable_per_code() {
        let p = Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "ORG_NOT_BILLABLE", "x");
        assert_eq!(p.title(), "Org not billable");
        assert_eq!(p.type_uri(), "urn:cam:migrations:problem:org-not-billable");
    }
}
