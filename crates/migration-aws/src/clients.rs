//! How the adapters build their SDK clients, and the one hook tests have into them.
//!
//! Every client of every adapter is built here, from the one `SdkConfig`, through
//! [`ClientHooks`]; only the clients of the SDKs this build links (the crate's features:
//! `organizations`, `sts`, `support`, `sfn`, `transfers`, `usage`, `snapshots`; DynamoDB always), and of those only the ones
//! a function's [`Needs`](crate::Needs) name. In production the hooks are empty. The IAM check (tests/infra) sets a
//! [`CallLog`]: every request any client sends is then recorded through an SDK interceptor
//! as the IAM authorization requests it makes (action and resource), tagged with who signs
//! it: the function (its own role) or the customer's role. Tests may also give one service
//! its own HTTP client and interceptors (aws-smithy-mocks for what no emulator implements).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use aws_config::SdkConfig;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::{Intercept, SharedInterceptor};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Global services (Organizations, Support, Cost Explorer) answer in us-east-1.
#[cfg(any(feature = "organizations", feature = "support", feature = "transfers", feature = "usage"))]
pub(crate) const GLOBAL_REGION: &str = "us-east-1";

/// The partner's configuration with the customer session's credentials, in us-east-1.
#[cfg(any(all(feature = "sts", feature = "organizations"), feature = "support", feature = "usage"))]
pub(crate) fn session_config(base: &SdkConfig, session: &migration::ports::CustomerSession) -> SdkConfig {
    use std::time::{Duration as StdDuration, UNIX_EPOCH};

    use aws_config::Region;
    use aws_credential_types::Credentials;
    use aws_credential_types::provider::SharedCredentialsProvider;

    let expires = u64::try_from(session.expires_at.timestamp()).ok().map(|s| UNIX_EPOCH + StdDuration::from_secs(s));
    let credentials = Credentials::new(
        session.access_key_id.clone(),
        session.secret_access_key.clone(),
        Some(session.session_token.clone()),
        expires,
        "cam-customer-role",
    );
    base.to_builder().credentials_provider(SharedCredentialsProvider::new(credentials)).region(Region::from_static(GLOBAL_REGION)).build()
}

/// The AWS services the adapters call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    DynamoDb,
    Organizations,
    Sts,
    StepFunctions,
    Support,
    BillingConductor,
    CostExplorer,
    S3,
}

/// Who signs a request: the function's own role, or the customer's role it assumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signer {
    Function,
    CustomerRole,
}

/// The principal name recorded for calls signed with the customer's role.
pub const CUSTOMER_ROLE: &str = "customer-role";

/// The identifiers an IAM resource ARN needs that a request does not carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArnContext {
    pub partition: String,
    pub region: String,
    /// The account the stack runs in (the partner's management account).
    pub account: String,
    /// The partner organization (`o-...`): Organizations ARNs name it.
    pub organization: String,
    /// The key of the snapshot bucket's objects: a GetObject of one needs `kms:Decrypt` on
    /// it, which the request does not name.
    pub snapshot_kms_key: Option<String>,
}

/// One IAM authorization request an SDK call makes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AwsCall {
    /// The function whose handler made the call, or [`CUSTOMER_ROLE`].
    pub principal: String,
    /// `Service.Operation` as the SDK names it, e.g. `DynamoDB.TransactWriteItems`.
    pub operation: String,
    /// The IAM action, e.g. `dynamodb:DeleteItem` for a transaction's Delete.
    pub action: String,
    /// The resource ARN the request names, or `*`.
    pub resource: String,
}

/// The calls recorded so far, shared by every recorder of one test.
#[derive(Clone, Default)]
pub struct CallLog(Arc<Mutex<Vec<AwsCall>>>);

impl fmt::Debug for CallLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CallLog").field(&self.calls().len()).finish()
    }
}

impl CallLog {
    pub fn calls(&self) -> Vec<AwsCall> {
        self.0.lock().expect("call log").clone()
    }

    fn push(&self, calls: impl IntoIterator<Item = AwsCall>) {
        self.0.lock().expect("call log").extend(calls);
    }
}

/// What the adapters add to the clients they build. `Default` adds nothing (production).
#[derive(Clone, Default)]
pub struct ClientHooks {
    recording: Option<(CallLog, String, ArnContext)>,
    services: HashMap<Service, (Option<SharedHttpClient>, Vec<SharedInterceptor>)>,
}

impl fmt::Debug for ClientHooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientHooks")
            .field("recording_as", &self.recording.as_ref().map(|(_, p, _)| p))
            .field("services", &self.services.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl ClientHooks {
    /// Records every request as `function`'s (or the customer role's, for clients built
    /// with the customer's credentials) into `log`.
    pub fn recording(mut self, log: &CallLog, function: &str, arns: ArnContext) -> Self {
        self.recording = Some((log.clone(), function.to_owned(), arns));
        self
    }

    /// Sends `service`'s requests through `http` with `interceptors` (test doubles).
    pub fn service(mut self, service: Service, http: Option<SharedHttpClient>, interceptors: Vec<SharedInterceptor>) -> Self {
        self.services.insert(service, (http, interceptors));
        self
    }

    fn recorder(&self, signer: Signer) -> Option<SharedInterceptor> {
        let (log, function, arns) = self.recording.as_ref()?;
        let principal = match signer {
            Signer::Function => function.clone(),
            Signer::CustomerRole => CUSTOMER_ROLE.to_owned(),
        };
        Some(SharedInterceptor::new(CallRecorder { log: log.clone(), principal, arns: arns.clone() }))
    }
}

macro_rules! client_builders {
    ($($(#[$cfg:meta])* $fn_name:ident => $krate:ident, $service:expr;)*) => {
        impl ClientHooks {
            $(
                $(#[$cfg])*
                pub fn $fn_name(&self, config: &SdkConfig, signer: Signer) -> $krate::Client {
                    let mut builder = $krate::config::Builder::from(config);
                    if let Some((http, interceptors)) = self.services.get(&$service) {
                        if let Some(http) = http {
                            builder = builder.http_client(http.clone());
                        }
                        for interceptor in interceptors {
                            builder.push_interceptor(interceptor.clone());
                        }
                    }
                    if let Some(recorder) = self.recorder(signer) {
                        builder.push_interceptor(recorder);
                    }
                    $krate::Client::from_conf(builder.build())
                }
            )*
        }
    };
}

// Only the clients of the SDKs this build links (migration-aws's features).
client_builders! {
    dynamodb => aws_sdk_dynamodb, Service::DynamoDb;
    #[cfg(feature = "organizations")]
    organizations => aws_sdk_organizations, Service::Organizations;
    #[cfg(feature = "sts")]
    sts => aws_sdk_sts, Service::Sts;
    #[cfg(feature = "sfn")]
    sfn => aws_sdk_sfn, Service::StepFunctions;
    #[cfg(feature = "support")]
    support => aws_sdk_support, Service::Support;
    #[cfg(feature = "transfers")]
    billingconductor => aws_sdk_billingconductor, Service::BillingConductor;
    #[cfg(feature = "usage")]
    costexplorer => aws_sdk_costexplorer, Service::CostExplorer;
    #[cfg(feature = "snapshots")]
    s3 => aws_sdk_s3, Service::S3;
}

/// The interceptor: reads each request as it is about to be transmitted (serialized and
/// signed; once per attempt, so a retried attempt records again, as IAM evaluates every
/// attempt) and records the IAM requests it makes.
#[derive(Debug)]
struct CallRecorder {
    log: CallLog,
    principal: String,
    arns: ArnContext,
}

impl Intercept for CallRecorder {
    fn name(&self) -> &'static str {
        "CallRecorder"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let metadata = cfg.load::<Metadata>().ok_or("the operation's metadata is missing")?;
        let request = context.request();
        let requests = if metadata.service() == "S3" {
            // S3 names its resource in the URL and the KMS key in a header, not in the body
            // (the object itself).
            let kms_key = request.headers().get("x-amz-server-side-encryption-aws-kms-key-id");
            s3_iam_requests(metadata.name(), request.uri(), kms_key, &self.arns)?
        } else {
            iam_requests(metadata.service(), metadata.name(), request.body().bytes().unwrap_or_default(), &self.arns)?
        };
        let operation = format!("{}.{}", metadata.service(), metadata.name());
        self.log.push(requests.into_iter().map(|(action, resource)| AwsCall {
            principal: self.principal.clone(),
            operation: operation.clone(),
            action,
            resource,
        }));
        Ok(())
    }
}

/// The IAM requests (action, resource) one SDK request makes, from its serialized body, as
/// the Service Authorization Reference lists each action's resource types. Operations whose
/// actions support no resource-level permission are `*`.
pub fn iam_requests(service: &str, operation: &str, body: &[u8], arns: &ArnContext) -> Result<Vec<(String, String)>, BoxError> {
    let ArnContext { partition, region, account, organization, .. } = arns;
    let json = || -> Result<Value, BoxError> { Ok(serde_json::from_slice(body)?) };
    let field = |v: &Value, name: &str| -> Result<String, BoxError> {
        v.get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("{service}.{operation}: no {name} in the request").into())
    };
    Ok(match service {
        "DynamoDB" => {
            let table = |name: &str| format!("arn:{partition}:dynamodb:{region}:{account}:table/{name}");
            let v = json()?;
            match operation {
                // Not an IAM action: DynamoDB authorizes each item's own action ("Using IAM
                // with DynamoDB transactions", DynamoDB developer guide).
                "TransactWriteItems" | "TransactGetItems" => {
                    let items = v.get("TransactItems").and_then(Value::as_array).ok_or("TransactItems")?;
                    let mut out = Vec::new();
                    for item in items {
                        let (kind, op) = item.as_object().and_then(|o| o.iter().next()).ok_or("an empty transaction item")?;
                        let action = match kind.as_str() {
                            "Put" => "PutItem",
                            "Update" => "UpdateItem",
                            "Delete" => "DeleteItem",
                            "ConditionCheck" => "ConditionCheckItem",
                            "Get" => "GetItem",
                            other => return Err(format!("unknown transaction item {other}").into()),
                        };
                        out.push((format!("dynamodb:{action}"), table(&field(op, "TableName")?)));
                    }
                    out
                }
                "BatchGetItem" | "BatchWriteItem" => {
                    let tables = v.get("RequestItems").and_then(Value::as_object).ok_or("RequestItems")?;
                    tables.keys().map(|t| (format!("dynamodb:{operation}"), table(t))).collect()
                }
                _ => {
                    let mut arn = table(&field(&v, "TableName")?);
                    if let Some(index) = v.get("IndexName").and_then(Value::as_str) {
                        arn = format!("{arn}/index/{index}");
                    }
                    vec![(format!("dynamodb:{operation}"), arn)]
                }
            }
        }
        "Organizations" => {
            let v = json()?;
            let base = format!("arn:{partition}:organizations::{account}");
            // An id of a target: an account (12 digits), an OU (ou-), a root (r-).
            let target = |id: &str| -> String {
                if id.starts_with("ou-") {
                    format!("{base}:ou/{organization}/{id}")
                } else if id.starts_with("r-") {
                    format!("{base}:root/{organization}/{id}")
                } else {
                    format!("{base}:account/{organization}/{id}")
                }
            };
            let action = format!("organizations:{operation}");
            let resources: Vec<String> = match operation {
                "DescribeAccount" => vec![target(&field(&v, "AccountId")?)],
                // A request names the handshake by id only, not its type: recorded as an
                // invitation (`invite`). A billing transfer's handshake
                // (`TRANSFER_RESPONSIBILITY`) has another type segment, which AWS does not
                // document; the template grants those calls on every handshake type of the
                // partner organization (`handshake/o-.../*`), which covers either.
                "DescribeHandshake" | "CancelHandshake" => {
                    vec![format!("{base}:handshake/{organization}/invite/{}", field(&v, "HandshakeId")?)]
                }
                // The transfer (resource type `responsibilitytransfer`), an inbound one of
                // type BILLING as the partner sees it.
                "DescribeResponsibilityTransfer" | "TerminateResponsibilityTransfer" => {
                    vec![format!("{base}:transfer/{organization}/billing/inbound/{}", field(&v, "Id")?)]
                }
                "MoveAccount" => vec![
                    target(&field(&v, "AccountId")?),
                    target(&field(&v, "SourceParentId")?),
                    target(&field(&v, "DestinationParentId")?),
                ],
                "AttachPolicy" | "DetachPolicy" => vec![
                    format!("{base}:policy/{organization}/service_control_policy/{}", field(&v, "PolicyId")?),
                    target(&field(&v, "TargetId")?),
                ],
                "TagResource" | "UntagResource" | "ListTagsForResource" => vec![target(&field(&v, "ResourceId")?)],
                "ListPoliciesForTarget" => vec![target(&field(&v, "TargetId")?)],
                "ListParents" => vec![target(&field(&v, "ChildId")?)],
                // InviteAccountToOrganization, ListHandshakesForOrganization,
                // DescribeOrganization, ListAccounts: no resource-level permission.
                _ => vec!["*".to_owned()],
            };
            resources.into_iter().map(|r| (action.clone(), r)).collect()
        }
        "STS" => {
            // awsQuery: a form body.
            let form: HashMap<String, String> = form_urlencoded::parse(body).into_owned().collect();
            let resource = match operation {
                "AssumeRole" => form.get("RoleArn").cloned().ok_or("AssumeRole without RoleArn")?,
                _ => "*".to_owned(),
            };
            vec![(format!("sts:{operation}"), resource)]
        }
        "SFN" => {
            let v = json()?;
            let resource = match operation {
                "StartExecution" => field(&v, "stateMachineArn")?,
                "DescribeExecution" | "StopExecution" => field(&v, "executionArn")?,
                // Task tokens carry no resource.
                _ => "*".to_owned(),
            };
            vec![(format!("states:{operation}"), resource)]
        }
        "Support" => vec![(format!("support:{operation}"), "*".to_owned())],
        // GetCostAndUsage and ListCostAllocationTags support no resource-level permission.
        "Cost Explorer" => vec![(format!("ce:{operation}"), "*".to_owned())],
        "billingconductor" => {
            let v = json()?;
            let resource = match operation {
                // CreateBillingGroup authorizes on the pricing plan it names.
                "CreateBillingGroup" => v
                    .pointer("/ComputationPreference/PricingPlanArn")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or("CreateBillingGroup without ComputationPreference.PricingPlanArn")?,
                // ListBillingGroups: no resource-level permission.
                _ => "*".to_owned(),
            };
            vec![(format!("billingconductor:{operation}"), resource)]
        }
        other => return Err(format!("no IAM mapping for the service {other}").into()),
    })
}

/// The IAM requests of an S3 request: the object its URL names (path-style, as an emulator
/// is addressed, or virtual-hosted, as AWS is), and the KMS key SSE-KMS uses on the caller's
/// behalf: `kms:GenerateDataKey` on the key a PutObject names, `kms:Decrypt` on the
/// snapshot key ([`ArnContext::snapshot_kms_key`]) for a GetObject (a presigned link is
/// authorized as its signer's GetObject when it is followed).
pub fn s3_iam_requests(operation: &str, uri: &str, kms_key: Option<&str>, arns: &ArnContext) -> Result<Vec<(String, String)>, BoxError> {
    let after_scheme = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    let (host, path) = after_scheme.split_once('/').unwrap_or((after_scheme, ""));
    let path = path.split('?').next().unwrap_or_default();
    let host = host.split(':').next().unwrap_or_default();
    let object = match host.split_once(".s3.") {
        Some((bucket, _)) => format!("{bucket}/{path}"),
        None => path.to_owned(),
    };
    let object = percent_decode(&object);
    if !object.contains('/') {
        return Err(format!("S3.{operation}: no bucket and key in {uri}").into());
    }
    let partition = &arns.partition;
    let mut out = vec![(format!("s3:{operation}"), format!("arn:{partition}:s3:::{object}"))];
    match (operation, kms_key, &arns.snapshot_kms_key) {
        ("PutObject", Some(key), _) => out.push(("kms:GenerateDataKey".to_owned(), key.to_owned())),
        ("GetObject", _, Some(key)) => out.push(("kms:Decrypt".to_owned(), key.clone())),
        _ => {}
    }
    Ok(out)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_s3_request_names_its_object_and_the_key_sse_kms_uses() {
        let arns = ArnContext { snapshot_kms_key: Some("arn:aws:kms:us-east-1:111122223333:key/k1".into()), ..arns() };
        let put = s3_iam_requests(
            "PutObject",
            "http://127.0.0.1:5055/snaps/migrations/01J/usage/manifest.json?x-id=PutObject",
            Some("arn:aws:kms:us-east-1:111122223333:key/k1"),
            &arns,
        )
        .unwrap();
        assert_eq!(
            put,
            vec![
                ("s3:PutObject".into(), "arn:aws:s3:::snaps/migrations/01J/usage/manifest.json".into()),
                ("kms:GenerateDataKey".into(), "arn:aws:kms:us-east-1:111122223333:key/k1".into()),
            ]
        );
        let get = s3_iam_requests(
            "GetObject",
            "https://snaps.s3.us-east-1.amazonaws.com/migrations/01J/usage/a%20b.csv?X-Amz-Expires=900",
            None,
            &arns,
        )
        .unwrap();
        assert_eq!(get[0], ("s3:GetObject".into(), "arn:aws:s3:::snaps/migrations/01J/usage/a b.csv".into()));
        assert_eq!(get[1].0, "kms:Decrypt");
        assert!(s3_iam_requests("GetObject", "http://127.0.0.1:5055/", None, &arns).is_err());
    }

    fn arns() -> ArnContext {
        ArnContext {
            partition: "aws".into(),
            region: "us-east-1".into(),
            account: "111122223333".into(),
            organization: "o-partner0001".into(),
            snapshot_kms_key: None,
        }
    }

    #[test]
    fn a_transaction_is_each_items_own_action() {
        let body = br#"{"TransactItems":[{"Put":{"TableName":"t","Item":{}}},{"Delete":{"TableName":"t","Key":{}}}]}"#;
        let got = iam_requests("DynamoDB", "TransactWriteItems", body, &arns()).unwrap();
        let table = "arn:aws:dynamodb:us-east-1:111122223333:table/t".to_owned();
        assert_eq!(got, vec![("dynamodb:PutItem".into(), table.clone()), ("dynamodb:DeleteItem".into(), table)]);
    }

    #[test]
    fn a_query_of_an_index_names_the_index() {
        let got = iam_requests("DynamoDB", "Query", br#"{"TableName":"t","IndexName":"GSI2"}"#, &arns()).unwrap();
        assert_eq!(got, vec![("dynamodb:Query".into(), "arn:aws:dynamodb:us-east-1:111122223333:table/t/index/GSI2".into())]);
    }

    #[test]
    fn organizations_requests_name_every_resource_type_iam_checks() {
        let got =
            iam_requests("Organizations", "AttachPolicy", br#"{"PolicyId":"p-abcdefgh","TargetId":"000123456789"}"#, &arns()).unwrap();
        assert_eq!(
            got,
            vec![
                (
                    "organizations:AttachPolicy".into(),
                    "arn:aws:organizations::111122223333:policy/o-partner0001/service_control_policy/p-abcdefgh".into()
                ),
                ("organizations:AttachPolicy".into(), "arn:aws:organizations::111122223333:account/o-partner0001/000123456789".into()),
            ]
        );
        let moved = iam_requests(
            "Organizations",
            "MoveAccount",
            br#"{"AccountId":"000123456789","SourceParentId":"r-ab12","DestinationParentId":"ou-ab12-cdefghij"}"#,
            &arns(),
        )
        .unwrap();
        assert_eq!(moved[1].1, "arn:aws:organizations::111122223333:root/o-partner0001/r-ab12");
        assert_eq!(moved[2].1, "arn:aws:organizations::111122223333:ou/o-partner0001/ou-ab12-cdefghij");
    }

    #[test]
    fn assume_role_names_the_role_from_the_form_body() {
        let body = b"Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A000123456789%3Arole%2FCenturyLinkOptimized&RoleSessionName=x";
        let got = iam_requests("STS", "AssumeRole", body, &arns()).unwrap();
        assert_eq!(got, vec![("sts:AssumeRole".into(), "arn:aws:iam::000123456789:role/CenturyLinkOptimized".into())]);
    }
}
