//! Shared by the api crate's tests and the api function's event tests (included there by
//! path): the in-memory world, identities, and the contract of `infra/openapi.yaml` that
//! every response of every test is checked against.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use api::http::Method;
use api::routes::{Match, match_route};
use api::{Api, ApiConfig, ApiRequest, ApiResponse, Identity};
use chrono::{DateTime, Utc};
use migration::StoreError;
use migration::ids::MigrationId;
use migration::ports::MigrationStore;
use migration::record::Migration;
use migration::request::AccessLevel;
use migration::rules::{Caller, CamRole};
use migration::status::Status;
use migration_sim::fixtures::{self, Fixture};
use migration_sim::hooks::{HookedStore, StoreCall, StoreHook, Verdict};
use migration_sim::{MemoryStore, RecordingExecutions};
use serde_json::{Value, json};

pub const OPENAPI: &str = include_str!("../../../../infra/openapi.yaml");
pub const TEMPLATE_URL: &str = "https://templates.example.invalid/customer-role.yaml";

pub fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-02T10:00:00Z").expect("valid").with_timezone(&Utc)
}

// ---------------------------------------------------------------------------------------
// Identities

pub fn admin_caller() -> Caller {
    fixtures::admin()
}

pub fn admin() -> Identity {
    Identity::Customer(admin_caller())
}

pub fn user() -> Identity {
    Identity::Customer(Caller { user: "bob@acme.example".parse().unwrap(), org: fixtures::ORG.parse().unwrap(), role: CamRole::User })
}

pub fn other_org_admin() -> Identity {
    Identity::Customer(Caller { user: "eve@globex.example".parse().unwrap(), org: "globex".parse().unwrap(), role: CamRole::Administrator })
}

pub fn operator() -> Identity {
    Identity::operator("arn:aws:sts::999999999999:assumed-role/CamOperator/ops-session")
}

pub fn malformed() -> Identity {
    Identity::Malformed("claim `cam:org` is missing".into())
}

// ---------------------------------------------------------------------------------------
// A store that can be made to fail, to prove 503 and 500.

/// Fails every store call while set: 0 works, 1 unavailable (throttled), 2 broken.
#[derive(Default)]
pub struct Flaky(AtomicU8);

impl Flaky {
    pub fn set_unavailable(&self) {
        self.0.store(1, Ordering::SeqCst);
    }
    pub fn set_broken(&self) {
        self.0.store(2, Ordering::SeqCst);
    }
    pub fn heal(&self) {
        self.0.store(0, Ordering::SeqCst);
    }
}

impl StoreHook for Flaky {
    async fn before(&self, _call: &StoreCall<'_>) -> Verdict<StoreError> {
        match self.0.load(Ordering::SeqCst) {
            0 => Verdict::Proceed,
            1 => Verdict::Fail(StoreError::Unavailable("ProvisionedThroughputExceededException".into())),
            _ => Verdict::Fail(StoreError::Other("ValidationException: internal table detail".into())),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The world: the domain's seeded in-memory fixture behind the router.

pub struct World {
    pub fixture: Fixture,
    pub recorder: Arc<RecordingExecutions>,
    /// What the API stores, observed directly (never through `flaky`).
    pub store: Arc<MemoryStore>,
    /// Makes the API's store fail.
    pub flaky: Arc<Flaky>,
    pub api: Api,
}

impl World {
    pub async fn new() -> Self {
        let (mut fixture, recorder) = Fixture::with_recorder(t0()).await;
        // The same seeded facts, in a store that can be made to fail.
        let store = Arc::new(MemoryStore::new());
        fixtures::seed_store(store.as_ref(), t0()).await.unwrap();
        let flaky = Arc::new(Flaky::default());
        fixture.ports.store = Arc::new(HookedStore::new(store.clone(), flaky.clone()));
        let api = Api::new(fixture.ports.clone(), ApiConfig { role_template_url: Some(TEMPLATE_URL.into()), ..ApiConfig::default() });
        Self { fixture, recorder, store, flaky, api }
    }

    /// Sends a request through the router and checks the answer against the contract.
    pub async fn call(&self, req: ApiRequest) -> ApiResponse {
        let (method, path, request_id) = (req.method.clone(), req.path.clone(), req.request_id.clone());
        let res = self.api.handle(req).await;
        contract().check(&method, &path, &request_id, &res);
        res
    }

    /// Every migration record in the store.
    pub fn records(&self) -> Vec<Migration> {
        self.store.all()
    }

    pub fn record(&self, id: MigrationId) -> Migration {
        self.records().into_iter().find(|m| m.id == id).expect("the record exists")
    }

    pub fn locks(&self) -> usize {
        self.store.locks().len()
    }

    /// Creates a migration through the API and returns its id.
    pub async fn create(&self) -> String {
        let res = self.call(post("/migrations", admin()).with_json(&valid_body())).await;
        assert_eq!(res.status, 202, "{}", res.json());
        res.json()["id"].as_str().unwrap().to_owned()
    }

    /// Stores a record directly (bypassing the rules), for statuses the API cannot reach.
    pub async fn insert(&self, account: &str, org: &str, status: Status) -> MigrationId {
        let mut request = fixtures::request(AccessLevel::FullHardening);
        request.aws_account_id = account.into();
        request.role_arn = format!("arn:aws:iam::{account}:role/CenturyLinkFullHardening");
        let valid = request.validate().unwrap();
        let now = self.fixture.ports.clock.now();
        let mut record =
            Migration::new(MigrationId::new_at(now), org.parse().unwrap(), "US".parse().unwrap(), "seed".parse().unwrap(), valid, now);
        record.status = status;
        self.store.create(&record, &migration::record::created_event(&record), None).await.unwrap();
        record.id
    }
}

pub fn valid_body() -> Value {
    serde_json::to_value(fixtures::request(AccessLevel::FullHardening)).unwrap()
}

pub fn get(path: &str, identity: Identity) -> ApiRequest {
    ApiRequest::new(Method::GET, path, identity, "req-test-0001")
}

pub fn post(path: &str, identity: Identity) -> ApiRequest {
    ApiRequest::new(Method::POST, path, identity, "req-test-0001")
}

pub fn put(path: &str, identity: Identity) -> ApiRequest {
    ApiRequest::new(Method::PUT, path, identity, "req-test-0001")
}

// ---------------------------------------------------------------------------------------
// The contract: infra/openapi.yaml.

pub struct Contract {
    pub doc: Value,
    observed: Mutex<BTreeSet<(String, u16)>>,
}

pub fn contract() -> &'static Contract {
    static CONTRACT: OnceLock<Contract> = OnceLock::new();
    CONTRACT.get_or_init(|| {
        let doc: Value = serde_norway::from_str(OPENAPI).expect("openapi.yaml parses");
        Contract { doc, observed: Mutex::new(BTreeSet::new()) }
    })
}

pub const METHODS: &[&str] = &["get", "put", "post", "delete", "patch", "head", "options", "trace"];

impl Contract {
    /// Every documented operation: (METHOD, template, operationId, operation).
    pub fn operations(&self) -> Vec<(String, String, String, &Value)> {
        let mut out = Vec::new();
        for (template, item) in self.doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("path item") {
                if METHODS.contains(&method.as_str()) {
                    let id = op["operationId"].as_str().expect("every operation has an operationId").to_owned();
                    out.push((method.to_uppercase(), template.clone(), id, op));
                }
            }
        }
        out
    }

    /// Follows a `$ref` to `#/components/...` (one level: that is all the document uses).
    pub fn resolve<'a>(&'a self, v: &'a Value) -> &'a Value {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => self.doc.pointer(r.trim_start_matches('#')).unwrap_or_else(|| panic!("unresolved {r}")),
            None => v,
        }
    }

    /// Validates `instance` against `schema`, resolving refs into the document's components.
    pub fn validate(&self, schema: &Value, instance: &Value) -> Result<(), String> {
        let root = json!({ "allOf": [schema], "components": self.doc["components"] });
        let validator = jsonschema::draft7::options().should_validate_formats(true).build(&root).map_err(|e| format!("schema: {e}"))?;
        let errors: Vec<String> = validator.iter_errors(instance).map(|e| format!("{} at {}", e, e.instance_path())).collect();
        if errors.is_empty() { Ok(()) } else { Err(errors.join("; ")) }
    }

    /// Checks one response against the document: the status is documented for the
    /// operation, the content type is the documented one, the body matches the schema.
    pub fn check(&self, method: &Method, path: &str, request_id: &str, res: &ApiResponse) {
        let status = res.status.as_u16();
        let body: Value = serde_json::from_slice(&res.body).unwrap_or_else(|e| panic!("{method} {path}: body is not JSON: {e}"));
        let content_type = res.content_type().unwrap_or_default().to_owned();
        if status >= 400 {
            assert_eq!(content_type, "application/problem+json", "{method} {path} {status}");
            assert_eq!(body["status"], status, "{method} {path}: problem status");
            assert_eq!(body["request_id"], request_id, "{method} {path}: problem request id");
        } else {
            assert_eq!(content_type, "application/json", "{method} {path} {status}");
        }
        if status == 503 {
            assert!(res.header("retry-after").is_some_and(|v| v.parse::<u32>().is_ok_and(|n| n >= 1)), "503 without Retry-After");
        }
        if status == 202 {
            assert!(res.header("location").is_some(), "202 without Location");
        }
        if status == 405 {
            assert!(res.header("allow").is_some(), "405 without Allow");
        }
        let schema = match match_route(method.as_str(), path) {
            Match::Found(spec, _) => {
                let op = &self.doc["paths"][spec.template][method.as_str().to_lowercase()];
                assert!(op.is_object(), "{method} {} has a handler but is not documented", spec.template);
                let responses = &op["responses"];
                let documented = responses.get(status.to_string()).or_else(|| (status == 500).then(|| &responses["default"]));
                let documented = documented
                    .filter(|d| !d.is_null())
                    .unwrap_or_else(|| panic!("{} answered {status}, which openapi.yaml does not document: {body}", spec.operation_id));
                self.observed.lock().unwrap().insert((spec.operation_id.to_owned(), status));
                let documented = self.resolve(documented);
                documented["content"][&content_type]["schema"].clone()
            }
            Match::MethodNotAllowed(_) | Match::NotFound => {
                assert!(status == 404 || status == 405, "{method} {path}: unrouted request answered {status}");
                json!({ "$ref": "#/components/schemas/Problem" })
            }
        };
        assert!(!schema.is_null(), "{method} {path} {status}: no schema documented for {content_type}");
        if let Err(e) = self.validate(&schema, &body) {
            panic!("{method} {path} {status}: response does not match openapi.yaml: {e}\n{body:#}");
        }
    }

    /// (operationId, status) pairs seen so far in this test binary.
    pub fn observed(&self) -> BTreeSet<(String, u16)> {
        self.observed.lock().unwrap().clone()
    }
}

/// A task token that says it is secret, to search logs and responses for.
pub const TOKEN: &str = "AQCEAAAAKgAAAAMAAAAAAAAAAsecret-task-token-value";

/// A created migration taken through validate and invite to the wait for the handshake,
/// which stored `TOKEN`: its id as the API shows it, and parsed.
pub async fn invited(w: &World) -> (String, MigrationId) {
    let id = w.create().await;
    let mid: MigrationId = id.parse().unwrap();
    let ports = &w.fixture.ports;
    migration::steps::validate(ports, mid).await.unwrap();
    migration::steps::invite(ports, mid).await.unwrap();
    migration::steps::wait_for_handshake(ports, mid, migration::ids::TaskToken::new(TOKEN)).await.unwrap();
    (id, mid)
}

/// A billing transfer the customer accepted (TRANSFER_ACCEPTED), of the seeded account made
/// the management account of its own organization: its id, and its start month.
pub async fn transfer_accepted(w: &World) -> (MigrationId, String) {
    fixtures::make_management_account(&w.fixture.sim, true);
    let body = serde_json::to_value(fixtures::transfer_request(None)).unwrap();
    let res = w.call(post("/migrations", admin()).with_json(&body)).await;
    assert_eq!(res.status, 202, "{}", res.json());
    let id: MigrationId = res.json()["id"].as_str().unwrap().parse().unwrap();
    let ports = &w.fixture.ports;
    // Boxed: the steps' futures are deep, and the contract test's own is large.
    Box::pin(migration::steps::validate(ports, id)).await.unwrap();
    Box::pin(migration::steps::invite(ports, id)).await.unwrap();
    let bt = w.record(id).billing_transfer.expect("a billing transfer");
    w.fixture.sim.accept_transfer(&bt.handshake.expect("invited").id).unwrap();
    Box::pin(migration::steps::wait_for_handshake(ports, id, migration::ids::TaskToken::new(TOKEN))).await.unwrap();
    assert_eq!(w.record(id).status, Status::TransferAccepted);
    (id, bt.start_month.to_string())
}
