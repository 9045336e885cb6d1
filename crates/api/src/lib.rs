//! The HTTP API of the account migration, as a plain router.
//!
//! A request is an [`ApiRequest`]: who is asking ([`Identity`]), method, raw path, raw query,
//! headers, body bytes and a request id. [`Api::handle`] answers an [`ApiResponse`]: status,
//! headers, body. Nothing here knows Lambda or API Gateway: the `api` Lambda function turns
//! an HTTP API (payload 2.0) event into an `ApiRequest` and the local runner does the same
//! from a localhost socket, so both serve exactly these routes.
//!
//! The work is split in two so that hostile input never reaches the store:
//! [`parse`] is pure (route, identity, path parameters, query, headers, body) and turns a
//! request into a typed [`Command`] or a [`Problem`]; [`Api::handle`] executes the command
//! over the domain's [`Ports`](migration::Ports) and renders views. The contract is
//! `infra/openapi.yaml`; [`routes::ROUTES`] is the router's side of it, and a test holds the
//! two together.

mod handlers;
mod json;
pub mod parse;
pub mod problem;
pub mod request;
pub mod routes;
pub mod views;

pub use handlers::{Api, ApiConfig, problem_response};
/// The `http` vocabulary of [`ApiRequest`] and [`ApiResponse`], for adapters.
pub use http;
pub use parse::{ApprovalBody, Command, OrgProfileBody, TermsBody, parse};
pub use problem::Problem;
pub use request::{ApiRequest, ApiResponse, CLAIM_ORG, CLAIM_ROLE, CLAIM_SUBJECT, Identity};
pub use routes::{ROUTES, RouteId, RouteSpec};

/// Bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// The default and the bounds of `GET /migrations?limit=`.
pub const DEFAULT_PAGE_SIZE: u32 = 20;
pub const MAX_PAGE_SIZE: u32 = 100;
/// Seconds a client should wait after a 503.
pub const RETRY_AFTER_SECONDS: u32 = 2;
