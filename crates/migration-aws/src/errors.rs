//! The one place AWS error codes are read and classified. Unmodeled errors (`AccessDenied`,
//! `SubscriptionRequiredException`, throttling) arrive as unhandled errors whose only handle
//! is their code: every adapter asks [`error_code`] and the classifiers below, never
//! `Debug` output.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use migration::error::{OrgError, Refusal};
use migration::transfer::{TransferError, TransferRefusal};

/// The AWS error code (`ThrottlingException`, `AccessDenied`, ...) of an error, modeled or not.
pub fn error_code(err: &impl ProvideErrorMetadata) -> Option<&str> {
    err.code()
}

/// The message AWS sent with the error, or the code, or a generic description. Safe to log
/// and to store: AWS messages carry no credentials.
pub fn error_message<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> String {
    match (err.code(), err.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        (None, _) => match err {
            SdkError::TimeoutError(_) => "request timed out".to_owned(),
            SdkError::DispatchFailure(_) => "request could not be sent".to_owned(),
            SdkError::ResponseError(_) => "response could not be read".to_owned(),
            SdkError::ConstructionFailure(_) => "request could not be built".to_owned(),
            SdkError::ServiceError(e) => format!("HTTP {} without an error code", e.raw().status()),
            _ => "unknown error".to_owned(),
        },
    }
}

/// Codes AWS services use for "slow down", across protocols and services.
pub fn is_throttling_code(code: &str) -> bool {
    matches!(
        code,
        "Throttling"
            | "ThrottlingException"
            | "ThrottledException"
            | "TooManyRequestsException"
            | "RequestLimitExceeded"
            | "RequestThrottled"
            | "RequestThrottledException"
            | "ProvisionedThroughputExceededException"
            | "TransactionInProgressException"
            | "SlowDown"
            | "PriorRequestNotComplete"
            | "EC2ThrottledException"
            | "BandwidthLimitExceeded"
            | "LimitExceededException"
    )
}

/// Codes of a server-side fault worth retrying.
pub fn is_server_fault_code(code: &str) -> bool {
    matches!(
        code,
        "InternalServerError"
            | "InternalFailure"
            | "InternalError"
            | "ServiceUnavailable"
            | "ServiceUnavailableException"
            | "ServiceException"
    )
}

/// `AccessDenied` (STS, query protocol) and `AccessDeniedException` (JSON protocols).
pub fn is_access_denied_code(code: &str) -> bool {
    matches!(code, "AccessDenied" | "AccessDeniedException")
}

/// Throttled, a 5xx, a timeout or a connection failure: the same request may succeed later.
pub fn is_transient<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(service) => {
            service.raw().status().is_server_error() || err.code().is_some_and(|c| is_throttling_code(c) || is_server_fault_code(c))
        }
        _ => false,
    }
}

/// Organizations: what a failure means for the domain. `reason` is the `Reason` of a
/// `HandshakeConstraintViolationException` or `ConstraintViolationException`.
pub fn classify_org_error(code: &str, reason: Option<&str>, message: &str) -> OrgError {
    let retryable = || OrgError::Retryable { code: reason.unwrap_or(code).to_owned(), message: message.to_owned() };
    let refused = |refusal| OrgError::Refused { refusal, message: message.to_owned() };
    match code {
        // PolicyChangesInProgressException (AttachPolicy, DetachPolicy): "try again later".
        "ConcurrentModificationException"
        | "TooManyRequestsException"
        | "FinalizingOrganizationException"
        | "ServiceException"
        | "PolicyChangesInProgressException" => retryable(),
        c if is_throttling_code(c) || is_server_fault_code(c) => retryable(),
        "AccountOwnerNotVerifiedException" => refused(Refusal::AccountOwnerNotVerified),
        "HandshakeConstraintViolationException" | "ConstraintViolationException" => match reason.unwrap_or("") {
            // The daily invitation quota: the invite step defers the invitation instead of
            // retrying it into a failure (a refusal that lasts up to a day).
            "HANDSHAKE_RATE_LIMIT_EXCEEDED" => OrgError::HandshakeRateLimited(message.to_owned()),
            "ORGANIZATION_MEMBERSHIP_CHANGE_RATE_LIMIT_EXCEEDED" | "ACCOUNT_CREATION_RATE_LIMIT_EXCEEDED" => retryable(),
            "ACCOUNT_NUMBER_LIMIT_EXCEEDED" => refused(Refusal::AccountNumberLimitExceeded),
            "PAYMENT_INSTRUMENT_REQUIRED" | "MEMBER_ACCOUNT_PAYMENT_INSTRUMENT_REQUIRED" => refused(Refusal::PaymentInstrumentRequired),
            "ORGANIZATION_FROM_DIFFERENT_SELLER_OF_RECORD" => refused(Refusal::DifferentSellerOfRecord),
            "ALREADY_IN_AN_ORGANIZATION" => refused(Refusal::AlreadyInAnOrganization),
            "MANAGEMENT_ACCOUNT_EMAIL_NOT_VERIFIED" => refused(Refusal::AccountOwnerNotVerified),
            "" => refused(Refusal::Other(code.to_owned())),
            other => refused(Refusal::Other(other.to_owned())),
        },
        "AccessDeniedException" | "AccessDenied" => OrgError::AccessDenied(message.to_owned()),
        "HandshakeNotFoundException" => OrgError::HandshakeNotFound,
        "AccountNotFoundException" | "ChildNotFoundException" | "TargetNotFoundException" => OrgError::AccountNotFound,
        other => OrgError::Other(format!("{other}: {message}")),
    }
}

/// Organizations: an SDK error, with the constraint reason when the caller extracted one.
pub fn org_error<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>, reason: Option<&str>) -> OrgError {
    let message = error_message(err);
    match err.code() {
        Some(code) => classify_org_error(code, reason, &message),
        None if is_transient(err) => OrgError::Retryable { code: "Transport".into(), message },
        None => OrgError::Other(message),
    }
}

/// Billing transfers (Organizations' responsibility transfers, Billing Conductor's billing
/// groups): what a failure means for the domain. `reason` is the `Reason` AWS gives with
/// `InvalidInputException`, `ConstraintViolationException`,
/// `HandshakeConstraintViolationException` (Organizations) or `ValidationException`
/// (Billing Conductor).
///
/// A reason [`TransferRefusal`] names is a refusal the customer or the operators act on,
/// whichever exception carried it. Any other `InvalidInputException` or
/// `ValidationException` is a request this system built wrong (a defect, never retried); any
/// other constraint is a refusal under AWS's own reason.
pub fn classify_transfer_error(code: &str, reason: Option<&str>, message: &str) -> TransferError {
    let retryable = || TransferError::Retryable { code: reason.unwrap_or(code).to_owned(), message: message.to_owned() };
    let named = reason.map(TransferRefusal::from_reason).filter(|r| !matches!(r, TransferRefusal::Other(_)));
    match code {
        "ConcurrentModificationException" | "TooManyRequestsException" | "ServiceException" | "InternalServerException" => retryable(),
        c if is_throttling_code(c) || is_server_fault_code(c) => retryable(),
        "InvalidInputException" | "ConstraintViolationException" | "HandshakeConstraintViolationException" | "ValidationException"
            if named.is_some() =>
        {
            TransferError::Refused { refusal: named.expect("checked"), message: message.to_owned() }
        }
        "ConstraintViolationException" | "HandshakeConstraintViolationException" => match reason {
            // The daily handshake quota and its kin: a later attempt can succeed.
            Some("HANDSHAKE_RATE_LIMIT_EXCEEDED" | "ORGANIZATION_MEMBERSHIP_CHANGE_RATE_LIMIT_EXCEEDED") => retryable(),
            Some(other) => TransferError::Refused { refusal: TransferRefusal::Other(other.to_owned()), message: message.to_owned() },
            None => TransferError::Refused { refusal: TransferRefusal::Other(code.to_owned()), message: message.to_owned() },
        },
        "AccessDeniedException" | "AccessDenied" => TransferError::AccessDenied(message.to_owned()),
        "ResponsibilityTransferNotFoundException" | "HandshakeNotFoundException" => TransferError::NotFound,
        "ResponsibilityTransferAlreadyInStatusException" | "HandshakeAlreadyInStateException" => {
            TransferError::AlreadyInStatus(message.to_owned())
        }
        "InvalidResponsibilityTransferTransitionException" | "InvalidHandshakeTransitionException" => {
            TransferError::InvalidTransition(message.to_owned())
        }
        "UnsupportedAPIEndpointException" => TransferError::UnsupportedEndpoint(message.to_owned()),
        other => match reason {
            Some(reason) => TransferError::Other(format!("{other} ({reason}): {message}")),
            None => TransferError::Other(format!("{other}: {message}")),
        },
    }
}

/// Billing transfers: an SDK error, with the reason when the caller extracted one.
pub fn transfer_error<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>, reason: Option<&str>) -> TransferError {
    let message = error_message(err);
    match err.code() {
        Some(code) => classify_transfer_error(code, reason, &message),
        None if is_transient(err) => TransferError::Retryable { code: "Transport".into(), message },
        None => TransferError::Other(message),
    }
}

/// Whether a Support API error tells that the account has no paid support plan. Only this
/// code does: AccessDenied or throttling never mean Basic.
pub fn is_subscription_required(code: Option<&str>) -> bool {
    code == Some("SubscriptionRequiredException")
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::error::ErrorMetadata;
    use aws_sdk_dynamodb::operation::get_item::GetItemError;

    fn service_error(code: &str, status: u16) -> SdkError<GetItemError, HttpResponse> {
        let meta = ErrorMetadata::builder().code(code).message("m").build();
        let raw = HttpResponse::new(status.try_into().unwrap(), aws_smithy_types::body::SdkBody::empty());
        SdkError::service_error(GetItemError::generic(meta), raw)
    }

    #[test]
    fn error_code_reads_unmodeled_codes() {
        let meta = ErrorMetadata::builder().code("SubscriptionRequiredException").build();
        assert_eq!(error_code(&meta), Some("SubscriptionRequiredException"));
        assert_eq!(error_code(&ErrorMetadata::builder().build()), None);
        let err = service_error("AccessDenied", 403);
        assert_eq!(error_code(&err), Some("AccessDenied"));
        assert_eq!(error_message(&err), "AccessDenied: m");
    }

    #[test]
    fn transient_errors_are_throttling_5xx_and_transport() {
        let cases = [
            ("ThrottlingException", 400, true),
            ("ProvisionedThroughputExceededException", 400, true),
            ("RequestLimitExceeded", 400, true),
            ("TooManyRequestsException", 400, true),
            ("InternalServerError", 500, true),
            ("AnythingAtAll", 503, true),
            ("ConditionalCheckFailedException", 400, false),
            ("AccessDeniedException", 400, false),
            ("ValidationException", 400, false),
        ];
        for (code, status, transient) in cases {
            assert_eq!(is_transient(&service_error(code, status)), transient, "{code} {status}");
        }
        let timeout: SdkError<GetItemError, HttpResponse> = SdkError::timeout_error("slow");
        assert!(is_transient(&timeout));
    }

    #[test]
    fn organizations_codes_and_reasons_split_retryable_from_refused() {
        use OrgError::*;
        let retry = |c: &str| Retryable { code: c.into(), message: "m".into() };
        let refuse = |r| Refused { refusal: r, message: "m".into() };
        let hcv = "HandshakeConstraintViolationException";
        let cv = "ConstraintViolationException";
        let cases: Vec<(&str, Option<&str>, OrgError)> = vec![
            (hcv, Some("HANDSHAKE_RATE_LIMIT_EXCEEDED"), HandshakeRateLimited("m".into())),
            (hcv, Some("ORGANIZATION_MEMBERSHIP_CHANGE_RATE_LIMIT_EXCEEDED"), retry("ORGANIZATION_MEMBERSHIP_CHANGE_RATE_LIMIT_EXCEEDED")),
            (cv, Some("ORGANIZATION_MEMBERSHIP_CHANGE_RATE_LIMIT_EXCEEDED"), retry("ORGANIZATION_MEMBERSHIP_CHANGE_RATE_LIMIT_EXCEEDED")),
            ("ConcurrentModificationException", None, retry("ConcurrentModificationException")),
            ("TooManyRequestsException", None, retry("TooManyRequestsException")),
            ("FinalizingOrganizationException", None, retry("FinalizingOrganizationException")),
            ("ServiceException", None, retry("ServiceException")),
            ("PolicyChangesInProgressException", None, retry("PolicyChangesInProgressException")),
            (hcv, Some("ACCOUNT_NUMBER_LIMIT_EXCEEDED"), refuse(Refusal::AccountNumberLimitExceeded)),
            (cv, Some("ACCOUNT_NUMBER_LIMIT_EXCEEDED"), refuse(Refusal::AccountNumberLimitExceeded)),
            (hcv, Some("PAYMENT_INSTRUMENT_REQUIRED"), refuse(Refusal::PaymentInstrumentRequired)),
            (hcv, Some("ORGANIZATION_FROM_DIFFERENT_SELLER_OF_RECORD"), refuse(Refusal::DifferentSellerOfRecord)),
            (hcv, Some("ALREADY_IN_AN_ORGANIZATION"), refuse(Refusal::AlreadyInAnOrganization)),
            (hcv, Some("MANAGEMENT_ACCOUNT_EMAIL_NOT_VERIFIED"), refuse(Refusal::AccountOwnerNotVerified)),
            ("AccountOwnerNotVerifiedException", None, refuse(Refusal::AccountOwnerNotVerified)),
            (
                hcv,
                Some("INVITE_DISABLED_DURING_ENABLE_ALL_FEATURES"),
                refuse(Refusal::Other("INVITE_DISABLED_DURING_ENABLE_ALL_FEATURES".into())),
            ),
            (
                cv,
                Some("MAX_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED"),
                refuse(Refusal::Other("MAX_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED".into())),
            ),
            (hcv, None, refuse(Refusal::Other(hcv.into()))),
            ("AccessDeniedException", None, AccessDenied("m".into())),
            ("HandshakeNotFoundException", None, HandshakeNotFound),
            ("AccountNotFoundException", None, AccountNotFound),
            ("TargetNotFoundException", None, AccountNotFound),
            ("ChildNotFoundException", None, AccountNotFound),
            ("InvalidInputException", None, Other("InvalidInputException: m".into())),
        ];
        for (code, reason, expected) in cases {
            assert_eq!(classify_org_error(code, reason, "m"), expected, "{code} {reason:?}");
        }
    }

    #[test]
    fn every_named_transfer_refusal_is_a_refusal_whichever_exception_carries_it() {
        // Where AWS puts each reason (botocore's model): the date reasons in
        // InvalidInputException, the quotas and pricing in ConstraintViolationException,
        // the rest in HandshakeConstraintViolationException.
        for refusal in TransferRefusal::NAMED {
            for code in ["InvalidInputException", "ConstraintViolationException", "HandshakeConstraintViolationException"] {
                assert_eq!(
                    classify_transfer_error(code, Some(refusal.reason()), "m"),
                    TransferError::Refused { refusal: refusal.clone(), message: "m".into() },
                    "{code} {}",
                    refusal.reason()
                );
            }
        }
    }

    #[test]
    fn transfer_errors_split_defects_retries_and_states() {
        use TransferError::*;
        let retry = |c: &str| Retryable { code: c.into(), message: "m".into() };
        let cases: Vec<(&str, Option<&str>, TransferError)> = vec![
            ("TooManyRequestsException", None, retry("TooManyRequestsException")),
            ("ConcurrentModificationException", None, retry("ConcurrentModificationException")),
            ("ServiceException", None, retry("ServiceException")),
            ("ThrottlingException", None, retry("ThrottlingException")),
            ("InternalServerException", None, retry("InternalServerException")),
            ("HandshakeConstraintViolationException", Some("HANDSHAKE_RATE_LIMIT_EXCEEDED"), retry("HANDSHAKE_RATE_LIMIT_EXCEEDED")),
            (
                "ConstraintViolationException",
                Some("ACCOUNT_NUMBER_LIMIT_EXCEEDED"),
                Refused { refusal: TransferRefusal::Other("ACCOUNT_NUMBER_LIMIT_EXCEEDED".into()), message: "m".into() },
            ),
            // A request built wrong is a defect, not the customer's to fix.
            ("InvalidInputException", Some("INVALID_PATTERN"), Other("InvalidInputException (INVALID_PATTERN): m".into())),
            ("ValidationException", Some("ILLEGAL_BILLING_ENTITY"), Other("ValidationException (ILLEGAL_BILLING_ENTITY): m".into())),
            ("AccessDeniedException", None, AccessDenied("m".into())),
            ("ResponsibilityTransferNotFoundException", None, NotFound),
            ("HandshakeNotFoundException", None, NotFound),
            ("ResponsibilityTransferAlreadyInStatusException", None, AlreadyInStatus("m".into())),
            ("HandshakeAlreadyInStateException", None, AlreadyInStatus("m".into())),
            ("InvalidResponsibilityTransferTransitionException", None, InvalidTransition("m".into())),
            ("InvalidHandshakeTransitionException", None, InvalidTransition("m".into())),
            ("UnsupportedAPIEndpointException", None, UnsupportedEndpoint("m".into())),
            ("AWSOrganizationsNotInUseException", None, Other("AWSOrganizationsNotInUseException: m".into())),
        ];
        for (code, reason, expected) in cases {
            assert_eq!(classify_transfer_error(code, reason, "m"), expected, "{code} {reason:?}");
        }
    }

    #[test]
    fn only_subscription_required_means_basic_support() {
        assert!(is_subscription_required(Some("SubscriptionRequiredException")));
        for code in [Some("AccessDeniedException"), Some("ThrottlingException"), Some("AccessDenied"), None] {
            assert!(!is_subscription_required(code), "{code:?}");
        }
    }

    #[test]
    fn access_denied_has_two_spellings() {
        assert!(is_access_denied_code("AccessDenied"));
        assert!(is_access_denied_code("AccessDeniedException"));
        assert!(!is_access_denied_code("ThrottlingException"));
    }
}
