//! AWS adapters of the migration ports: the DynamoDB store, AWS Organizations,
//! the customer's role through STS, the Support probe and Step Functions executions.
//!
//! A function builds only the clients of the ports it uses ([`Needs`],
//! [`AwsPorts::from_env`]), all from one `SdkConfig`; the other ports get the
//! [`Unavailable`] adapter, which fails closed. The cargo features `organizations`, `sts`,
//! `support`, `sfn`, `transfers`, `usage` and `snapshots` (all on by default) decide which
//! SDKs a build links at all; DynamoDB is always linked. `AWS_ENDPOINT_URL` points the clients at an emulator.

pub mod clients;
#[cfg(feature = "sts")]
pub mod customer;
pub mod errors;
#[cfg(feature = "sfn")]
pub mod executions;
pub mod keys;
#[cfg(feature = "snapshot-links")]
pub mod links;
#[cfg(feature = "organizations")]
pub mod organizations;
#[cfg(feature = "snapshots")]
pub mod snapshots;
pub mod store;
pub mod stream;
#[cfg(feature = "support")]
pub mod support;
pub mod table;
#[cfg(feature = "transfers")]
pub mod transfers;
pub mod unavailable;
#[cfg(feature = "usage")]
pub mod usage;

use std::sync::Arc;

use aws_config::{BehaviorVersion, SdkConfig};
use migration::ports::{Clock, CustomerAccess, Executions, MigrationStore, Organizations, SupportProbe};
use migration::transfer::BillingTransfers;
use migration::usage::{SnapshotStore, UsageHistory};

pub use clients::{ArnContext, AwsCall, CallLog, ClientHooks, Service, Signer};

#[cfg(feature = "sts")]
pub use customer::{AwsCustomerAccess, role_session_name};
pub use errors::error_code;
#[cfg(feature = "sfn")]
pub use executions::StepFunctionsExecutions;
#[cfg(feature = "snapshot-links")]
pub use links::SignedLinks;
#[cfg(feature = "organizations")]
pub use organizations::AwsOrganizations;
#[cfg(feature = "snapshots")]
pub use snapshots::S3Snapshots;
pub use store::DynamoStore;
pub use stream::status_changed_from_stream_image;
#[cfg(feature = "support")]
pub use support::AwsSupportProbe;
pub use table::{IndexDefinition, TableDefinition, table_definition};
#[cfg(feature = "transfers")]
pub use transfers::AwsBillingTransfers;
pub use unavailable::{NotConfigured, Unavailable};
#[cfg(feature = "usage")]
pub use usage::AwsUsageHistory;

/// An AWS timestamp as chrono's.
#[cfg(any(feature = "organizations", feature = "sts"))]
pub(crate) fn to_chrono(at: &aws_smithy_types::DateTime) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp(at.secs(), at.subsec_nanos())
}

/// Which ports a function calls. Only those get SDK clients; the others get the
/// [`Unavailable`] adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    /// The migration table (DynamoDB).
    pub store: bool,
    /// The partner organization (Organizations, management account credentials).
    pub organizations: bool,
    /// The customer's role (STS; Organizations with the session, to read the customer's
    /// organization, which also needs the `organizations` feature).
    pub customer_access: bool,
    /// The customer's support plan (Support, with the customer's session).
    pub support: bool,
    /// The state machine's executions and task tokens (Step Functions).
    pub executions: bool,
    /// Billing transfers (Organizations and Billing Conductor, management account credentials).
    pub transfers: bool,
    /// The account's usage history (Cost Explorer, with the customer's session).
    pub usage: bool,
    /// The snapshot bucket (S3, the function's own role).
    pub snapshots: bool,
    /// Download links to the snapshot bucket only, signed without an S3 client.
    pub snapshot_links: bool,
}

impl Needs {
    pub const NOTHING: Needs = Needs {
        store: false,
        organizations: false,
        customer_access: false,
        support: false,
        executions: false,
        transfers: false,
        usage: false,
        snapshots: false,
        snapshot_links: false,
    };
    pub const EVERYTHING: Needs = Needs {
        store: true,
        organizations: true,
        customer_access: true,
        support: true,
        executions: true,
        transfers: true,
        usage: true,
        snapshots: true,
        snapshot_links: true,
    };

    /// The ports this build can serve: the store always, the others by cargo feature.
    pub const fn built() -> Needs {
        Needs {
            store: true,
            organizations: cfg!(feature = "organizations"),
            customer_access: cfg!(feature = "sts"),
            support: cfg!(feature = "support"),
            executions: cfg!(feature = "sfn"),
            transfers: cfg!(feature = "transfers"),
            usage: cfg!(feature = "usage"),
            snapshots: cfg!(feature = "snapshots"),
            snapshot_links: cfg!(feature = "snapshot-links"),
        }
    }

    /// The ports needed whose SDK this build does not link, each with its feature.
    pub fn not_built(self) -> Vec<NotConfigured> {
        let built = Needs::built();
        [
            (self.organizations && !built.organizations, NotConfigured::feature("the Organizations port", "organizations")),
            (self.customer_access && !built.customer_access, NotConfigured::feature("the customer-access port", "sts")),
            (self.support && !built.support, NotConfigured::feature("the support probe", "support")),
            (self.executions && !built.executions, NotConfigured::feature("the executions port", "sfn")),
            (self.transfers && !built.transfers, NotConfigured::feature("the billing-transfer port", "transfers")),
            (self.usage && !built.usage, NotConfigured::feature("the usage-history port", "usage")),
            (self.snapshots && !built.snapshots, NotConfigured::feature("the snapshot bucket", "snapshots")),
            (self.snapshot_links && !built.snapshot_links, NotConfigured::feature("the snapshot links", "snapshot-links")),
        ]
        .into_iter()
        .filter_map(|(missing, why)| missing.then_some(why))
        .collect()
    }
}

/// A function needs a port this build does not link (its cargo features miss one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotBuilt(pub Vec<NotConfigured>);

impl std::fmt::Display for NotBuilt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        write!(f, "{}", parts.join("; "))
    }
}

impl std::error::Error for NotBuilt {}

/// The AWS adapters of the ports a function needs; `None` for the others (no client).
#[derive(Clone, Debug, Default)]
pub struct AwsPorts {
    pub store: Option<DynamoStore>,
    #[cfg(feature = "organizations")]
    pub organizations: Option<AwsOrganizations>,
    #[cfg(feature = "sts")]
    pub customer: Option<AwsCustomerAccess>,
    #[cfg(feature = "support")]
    pub support: Option<AwsSupportProbe>,
    #[cfg(feature = "sfn")]
    pub executions: Option<StepFunctionsExecutions>,
    #[cfg(feature = "transfers")]
    pub transfers: Option<AwsBillingTransfers>,
    #[cfg(feature = "usage")]
    pub usage: Option<AwsUsageHistory>,
    #[cfg(feature = "snapshots")]
    pub snapshots: Option<S3Snapshots>,
    #[cfg(feature = "snapshot-links")]
    pub links: Option<SignedLinks>,
}

/// The stack's resources the adapters address: the table, the state machine, and the
/// snapshot bucket with its KMS key (`SNAPSHOT_BUCKET`, `SNAPSHOT_KMS_KEY_ARN`; only the
/// functions that need the bucket are given it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    pub table_name: String,
    pub state_machine_arn: String,
    pub snapshot_bucket: Option<String>,
    pub snapshot_kms_key: Option<String>,
}

impl Resources {
    pub fn new(table_name: &str, state_machine_arn: &str) -> Self {
        Self { table_name: table_name.to_owned(), state_machine_arn: state_machine_arn.to_owned(), ..Self::default() }
    }

    /// With the snapshot bucket and the key its objects are encrypted with.
    pub fn with_snapshot_bucket(self, bucket: &str, kms_key: Option<&str>) -> Self {
        Self { snapshot_bucket: Some(bucket.to_owned()), snapshot_kms_key: kms_key.map(str::to_owned), ..self }
    }
}

/// Where a function's configuration takes its credentials and region from.
///
/// The standard chains look in the environment first and would return what it holds, but
/// building them costs start-up work whether or not they get that far: the credentials
/// chain builds a web-identity provider with its own STS client (about 1.2 million
/// instructions, as much as any SDK client) and the IMDS providers their client. Lambda
/// always puts the execution role's keys in `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`
/// and `AWS_SESSION_TOKEN`, and its region in `AWS_REGION`, so when the environment holds
/// them they are read from there alone (the SDK's own environment providers, the same
/// values the chains would return); anywhere else the standard chains run as always.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvironmentSources {
    /// An access key id and a secret key are set (and not blank).
    pub credentials: bool,
    /// `AWS_REGION` or `AWS_DEFAULT_REGION` is set and not blank (a blank one is left to
    /// the region chain, whose first provider reads the same two variables).
    pub region: bool,
}

impl EnvironmentSources {
    /// What `lookup` (the process environment) holds. Keys are judged as the SDK's
    /// credentials provider judges them: a blank key is no key, and the secret key may be
    /// `SECRET_ACCESS_KEY`.
    pub fn of(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let set = |name: &str| lookup(name).is_some_and(|v| !v.trim().is_empty());
        Self {
            credentials: set("AWS_ACCESS_KEY_ID") && (set("AWS_SECRET_ACCESS_KEY") || set("SECRET_ACCESS_KEY")),
            region: set("AWS_REGION") || set("AWS_DEFAULT_REGION"),
        }
    }

    /// The standard loader, with the environment's providers where it holds the values.
    pub fn loader(self) -> aws_config::ConfigLoader {
        use aws_config::environment::{EnvironmentVariableCredentialsProvider, EnvironmentVariableRegionProvider};
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if self.credentials {
            loader = loader.credentials_provider(EnvironmentVariableCredentialsProvider::new());
        }
        if self.region {
            loader = loader.region(EnvironmentVariableRegionProvider::new());
        }
        loader
    }
}

impl AwsPorts {
    /// Loads the standard AWS configuration (environment, `AWS_ENDPOINT_URL`, the Lambda
    /// role; credentials and region as [`EnvironmentSources`] says) once and builds the
    /// clients of the ports in `needs` from it. Fails, before any configuration is loaded,
    /// when this build does not link a port `needs` names.
    pub async fn from_env(needs: Needs, resources: &Resources) -> Result<Self, NotBuilt> {
        let missing = needs.not_built();
        if !missing.is_empty() {
            return Err(NotBuilt(missing));
        }
        let config = EnvironmentSources::of(|name| std::env::var(name).ok()).loader().load().await;
        Self::for_needs(&config, needs, resources, &ClientHooks::default())
    }

    /// Every port this build links, without hooks.
    pub fn from_config(config: &SdkConfig, resources: &Resources) -> Self {
        Self::from_config_with(config, resources, &ClientHooks::default())
    }

    /// Every port this build links, every client built through `hooks` (tests: the IAM
    /// check's call recorder, doubles). The snapshot bucket only when `resources` names one.
    pub fn from_config_with(config: &SdkConfig, resources: &Resources, hooks: &ClientHooks) -> Self {
        let bucket = resources.snapshot_bucket.is_some();
        let built = Needs::built();
        let needs = Needs { snapshots: built.snapshots && bucket, snapshot_links: built.snapshot_links && bucket, ..built };
        Self::for_needs(config, needs, resources, hooks).expect("the built ports are built")
    }

    /// The clients of the ports in `needs` only, through `hooks`. A function that needs the
    /// snapshot bucket fails here when `resources` names none.
    pub fn for_needs(config: &SdkConfig, needs: Needs, resources: &Resources, hooks: &ClientHooks) -> Result<Self, NotBuilt> {
        let mut missing = needs.not_built();
        if (needs.snapshots || needs.snapshot_links) && resources.snapshot_bucket.is_none() {
            missing.push(NotConfigured::port("the snapshot bucket (SNAPSHOT_BUCKET)"));
        }
        if !missing.is_empty() {
            return Err(NotBuilt(missing));
        }
        #[cfg(feature = "snapshot-links")]
        let links = match (needs.snapshot_links, &resources.snapshot_bucket) {
            (true, Some(bucket)) => {
                let links = SignedLinks::from_config(config, bucket);
                if links.is_none() {
                    return Err(NotBuilt(vec![NotConfigured::port(
                        "the snapshot links (no credentials or region, or a FIPS or dual-stack S3 endpoint)",
                    )]));
                }
                links
            }
            _ => None,
        };
        let own = Signer::Function;
        let (table_name, state_machine_arn) = (resources.table_name.as_str(), resources.state_machine_arn.as_str());
        #[cfg(not(feature = "sfn"))]
        let _ = state_machine_arn;
        // One Organizations client for both ports that call it: a clone shares the client,
        // while building one costs about 1.2 million instructions at cold start (more than a
        // function's own code before its first call). In us-east-1, where the global service
        // answers; Billing Conductor answers there too.
        #[cfg(feature = "organizations")]
        let global = (needs.organizations || needs.transfers)
            .then(|| config.to_builder().region(aws_config::Region::from_static(clients::GLOBAL_REGION)).build());
        #[cfg(feature = "organizations")]
        let organizations = global.as_ref().map(|global| hooks.organizations(global, own));
        Ok(Self {
            store: needs.store.then(|| DynamoStore::new(hooks.dynamodb(config, own), table_name)),
            #[cfg(feature = "organizations")]
            organizations: organizations.clone().filter(|_| needs.organizations).map(AwsOrganizations::new),
            #[cfg(feature = "sts")]
            customer: needs.customer_access.then(|| AwsCustomerAccess::with_hooks(hooks.sts(config, own), config.clone(), hooks.clone())),
            #[cfg(feature = "support")]
            support: needs.support.then(|| AwsSupportProbe::with_hooks(config.clone(), hooks.clone())),
            #[cfg(feature = "sfn")]
            executions: needs.executions.then(|| StepFunctionsExecutions::new(hooks.sfn(config, own), state_machine_arn)),
            #[cfg(feature = "transfers")]
            transfers: match (organizations, &global) {
                (Some(organizations), Some(global)) if needs.transfers => {
                    Some(AwsBillingTransfers::new(organizations, hooks.billingconductor(global, own)))
                }
                _ => None,
            },
            #[cfg(feature = "usage")]
            usage: needs.usage.then(|| AwsUsageHistory::with_hooks(config.clone(), hooks.clone())),
            #[cfg(feature = "snapshots")]
            snapshots: match (needs.snapshots, &resources.snapshot_bucket) {
                (true, Some(bucket)) => Some(S3Snapshots::new(
                    snapshots::path_style_off_aws(config, hooks.s3(config, own)),
                    bucket,
                    resources.snapshot_kms_key.clone(),
                )),
                _ => None,
            },
            #[cfg(feature = "snapshot-links")]
            links,
        })
    }

    /// The domain's ports over these adapters; a port without one refuses every call.
    pub fn into_ports(self, clock: Arc<dyn Clock>, settings: migration::Settings) -> migration::Ports {
        // Not `Option::unwrap_or_else`: without a feature the option is a literal `None`.
        fn or_unavailable<T: ?Sized>(adapter: Option<Arc<T>>, unavailable: impl FnOnce() -> Arc<T>) -> Arc<T> {
            adapter.unwrap_or_else(unavailable)
        }
        let unavailable = |port| Arc::new(Unavailable(NotConfigured::port(port)));
        let store: Option<Arc<dyn MigrationStore>> = self.store.map(|a| Arc::new(a) as _);
        #[cfg(feature = "organizations")]
        let orgs: Option<Arc<dyn Organizations>> = self.organizations.map(|a| Arc::new(a) as _);
        #[cfg(not(feature = "organizations"))]
        let orgs: Option<Arc<dyn Organizations>> = None;
        #[cfg(feature = "sts")]
        let customer: Option<Arc<dyn CustomerAccess>> = self.customer.map(|a| Arc::new(a) as _);
        #[cfg(not(feature = "sts"))]
        let customer: Option<Arc<dyn CustomerAccess>> = None;
        #[cfg(feature = "support")]
        let support: Option<Arc<dyn SupportProbe>> = self.support.map(|a| Arc::new(a) as _);
        #[cfg(not(feature = "support"))]
        let support: Option<Arc<dyn SupportProbe>> = None;
        #[cfg(feature = "sfn")]
        let executions: Option<Arc<dyn Executions>> = self.executions.map(|a| Arc::new(a) as _);
        #[cfg(not(feature = "sfn"))]
        let executions: Option<Arc<dyn Executions>> = None;
        #[cfg(feature = "transfers")]
        let transfers: Option<Arc<dyn BillingTransfers>> = self.transfers.map(|a| Arc::new(a) as _);
        #[cfg(not(feature = "transfers"))]
        let transfers: Option<Arc<dyn BillingTransfers>> = None;
        #[cfg(feature = "usage")]
        let usage: Option<Arc<dyn UsageHistory>> = self.usage.map(|a| Arc::new(a) as _);
        #[cfg(not(feature = "usage"))]
        let usage: Option<Arc<dyn UsageHistory>> = None;
        #[cfg(feature = "snapshots")]
        let snapshots: Option<Arc<dyn SnapshotStore>> = self.snapshots.map(|a| Arc::new(a) as _);
        #[cfg(not(feature = "snapshots"))]
        let snapshots: Option<Arc<dyn SnapshotStore>> = None;
        // A function that only signs links gets the signer; one that writes, the S3 adapter
        // (which signs too).
        #[cfg(feature = "snapshot-links")]
        let snapshots = snapshots.or_else(|| self.links.map(|a| Arc::new(a) as _));
        migration::Ports {
            store: or_unavailable(store, || unavailable("the store")),
            orgs: or_unavailable(orgs, || unavailable("the Organizations port")),
            customer: or_unavailable(customer, || unavailable("the customer-access port")),
            support: or_unavailable(support, || unavailable("the support probe")),
            executions: or_unavailable(executions, || unavailable("the executions port")),
            transfers: or_unavailable(transfers, || unavailable("the billing-transfer port")),
            usage: or_unavailable(usage, || unavailable("the usage-history port")),
            snapshots: or_unavailable(snapshots, || unavailable("the snapshot bucket")),
            clock,
            settings: Arc::new(settings),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::EnvironmentSources;

    fn sources(vars: &[(&str, &str)]) -> EnvironmentSources {
        EnvironmentSources::of(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned()))
    }

    #[test]
    fn lambda_s_environment_gives_the_credentials_and_the_region() {
        let lambda = [
            ("AWS_ACCESS_KEY_ID", "ASIAEXAMPLEEXAMPLE01"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "token"),
            ("AWS_REGION", "eu-west-1"),
        ];
        assert_eq!(sources(&lambda), EnvironmentSources { credentials: true, region: true });
    }

    #[test]
    fn anything_less_leaves_it_to_the_standard_chains() {
        assert_eq!(sources(&[]), EnvironmentSources { credentials: false, region: false });
        // A blank value is no value, as for the SDK's environment providers.
        let blank = [("AWS_ACCESS_KEY_ID", "ASIAEXAMPLEEXAMPLE01"), ("AWS_SECRET_ACCESS_KEY", "  "), ("AWS_REGION", "")];
        assert_eq!(sources(&blank), EnvironmentSources { credentials: false, region: false });
        assert!(!sources(&[("AWS_SECRET_ACCESS_KEY", "secret")]).credentials);
        // The secret's older name, and the older region variable, count as the SDK counts them.
        assert!(sources(&[("AWS_ACCESS_KEY_ID", "ASIAEXAMPLEEXAMPLE01"), ("SECRET_ACCESS_KEY", "secret")]).credentials);
        assert!(sources(&[("AWS_DEFAULT_REGION", "eu-west-1")]).region);
    }
}
