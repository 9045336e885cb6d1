//! The Lambda side of the API: an API Gateway HTTP API (payload 2.0) event becomes an
//! [`api::ApiRequest`], the router answers, the answer becomes the HTTP API's response.
//!
//! The event is read with `aws_lambda_events`' types and converted here, not by
//! lambda_http: lambda_http's conversion panics on a body flagged base64 that is not, and
//! on a `Host` or path it cannot make a URI of (found by fuzzing; the inputs are in
//! `fuzz/regressions/api_gateway_event/`), and the router needs none of what it builds.
//! Every event converts: what cannot be read is refused with a 400 problem.

use api::problem::codes;
use api::{Api, ApiRequest, ApiResponse, Identity, Problem};
use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use base64::Engine;
use lambda_runtime::LambdaEvent;

/// Who is calling: the JWT authorizer's claims, or the IAM principal, or nobody.
pub fn identity(event: &ApiGatewayV2httpRequest) -> Identity {
    let Some(authorizer) = event.request_context.authorizer.as_ref() else {
        return Identity::Anonymous;
    };
    if let Some(jwt) = authorizer.jwt.as_ref() {
        return Identity::from_claims(|name| jwt.claims.get(name).cloned());
    }
    if let Some(iam) = authorizer.iam.as_ref() {
        return match iam.user_arn.as_deref() {
            Some(arn) => Identity::operator(arn),
            None => Identity::Malformed("the IAM authorizer gave no principal".to_owned()),
        };
    }
    Identity::Anonymous
}

/// API Gateway's request id (what the client sees in `apigw-requestid`), else the Lambda
/// invocation's, else a fresh one.
pub fn request_id(event: &ApiGatewayV2httpRequest, invocation_id: &str) -> String {
    event
        .request_context
        .request_id
        .clone()
        .filter(|id| !id.is_empty())
        .or_else(|| Some(invocation_id.to_owned()).filter(|id| !id.is_empty()))
        .unwrap_or_else(|| ulid::Ulid::new().to_string())
}

/// The router's request, or the refusal of an event whose body cannot be read. The path
/// is the raw path API Gateway received (never normalized, so `..` stays visible to the
/// router), without a named stage's prefix.
pub fn to_api_request(event: ApiGatewayV2httpRequest, invocation_id: &str) -> Result<ApiRequest, Box<ApiResponse>> {
    let identity = identity(&event);
    let request_id = request_id(&event, invocation_id);
    let context = event.request_context;
    let raw_path = event.raw_path.filter(|p| !p.is_empty()).or(context.http.path).unwrap_or_else(|| "/".to_owned());
    let path = match context.stage.filter(|s| s != "$default") {
        Some(stage) => raw_path.strip_prefix(&format!("/{stage}")).filter(|p| p.starts_with('/')).map(str::to_owned).unwrap_or(raw_path),
        None => raw_path,
    };
    let body = match (event.body, event.is_base64_encoded) {
        (None, _) => Vec::new(),
        (Some(text), false) => text.into_bytes(),
        (Some(encoded), true) => match base64::engine::general_purpose::STANDARD.decode(encoded) {
            Ok(bytes) => bytes,
            Err(_) => {
                let problem = Problem::bad_request(codes::MALFORMED_JSON, "the body is marked base64-encoded but is not valid base64");
                return Err(Box::new(api::problem_response(problem, &request_id)));
            }
        },
    };
    Ok(ApiRequest {
        method: context.http.method,
        path,
        query: event.raw_query_string.unwrap_or_default(),
        headers: event.headers,
        body,
        identity,
        request_id,
    })
}

/// The HTTP API's response: status, headers, the body as text (the router answers JSON).
pub fn to_lambda_response(res: ApiResponse) -> ApiGatewayV2httpResponse {
    let mut response = ApiGatewayV2httpResponse::default();
    response.status_code = i64::from(res.status.as_u16());
    response.headers = res.headers;
    response.body = Some(match String::from_utf8(res.body) {
        Ok(text) => Body::Text(text),
        Err(e) => Body::Binary(e.into_bytes()),
    });
    response.is_base64_encoded = matches!(response.body, Some(Body::Binary(_)));
    response
}

/// The function's handler: adapter, router, adapter.
pub async fn handle(api: &Api, event: LambdaEvent<ApiGatewayV2httpRequest>) -> Result<ApiGatewayV2httpResponse, std::convert::Infallible> {
    let answer = match to_api_request(event.payload, &event.context.request_id) {
        Ok(request) => api.handle(request).await,
        Err(refusal) => *refusal,
    };
    functions_runtime::metrics::flush();
    Ok(to_lambda_response(answer))
}
