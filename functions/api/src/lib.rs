//! The Lambda side of the API: an API Gateway HTTP API (payload 2.0) request becomes an
//! [`api::ApiRequest`], the router answers, the answer becomes a Lambda HTTP response.
//! Only the identity and the request id need Lambda's types; everything else is the
//! router's.

use api::{Api, ApiRequest, ApiResponse, Identity};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};

/// Who is calling: the JWT authorizer's claims, or the IAM principal, or nobody.
pub fn identity(req: &Request) -> Identity {
    let Some(RequestContext::ApiGatewayV2(ctx)) = req.request_context_ref() else {
        return Identity::Anonymous;
    };
    let Some(authorizer) = ctx.authorizer.as_ref() else {
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
pub fn request_id(req: &Request) -> String {
    let from_gateway = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone(),
        _ => None,
    };
    from_gateway
        .or_else(|| req.lambda_context_ref().map(|c| c.request_id.clone()).filter(|id| !id.is_empty()))
        .unwrap_or_else(|| ulid::Ulid::new().to_string())
}

/// The router's request. The path is the raw path API Gateway received (not the URL
/// lambda_http normalized, which would resolve `..`), without a named stage's prefix.
pub fn to_api_request(req: Request) -> ApiRequest {
    let identity = identity(&req);
    let request_id = request_id(&req);
    let stage = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.stage.clone().filter(|s| s != "$default"),
        _ => None,
    };
    let raw_path = req.raw_http_path().to_owned();
    let raw_path = if raw_path.is_empty() { req.uri().path().to_owned() } else { raw_path };
    let path = match stage {
        Some(stage) => raw_path.strip_prefix(&format!("/{stage}")).filter(|p| p.starts_with('/')).map(str::to_owned).unwrap_or(raw_path),
        None => raw_path,
    };
    let query = req.uri().query().unwrap_or_default().to_owned();
    let (parts, body) = req.into_parts();
    let body = match body {
        Body::Empty => Vec::new(),
        Body::Text(text) => text.into_bytes(),
        Body::Binary(bytes) => bytes,
        _ => Vec::new(),
    };
    ApiRequest { method: parts.method, path, query, headers: parts.headers, body, identity, request_id }
}

pub fn to_lambda_response(res: ApiResponse) -> Response<Body> {
    let mut response = Response::new(Body::Text(String::from_utf8(res.body).unwrap_or_default()));
    *response.status_mut() = res.status;
    *response.headers_mut() = res.headers;
    response
}

/// The function's handler: adapter, router, adapter.
pub async fn handle(api: &Api, req: Request) -> Result<Response<Body>, std::convert::Infallible> {
    Ok(to_lambda_response(api.handle(to_api_request(req)).await))
}
