//! The moto server fixture. Its endpoint comes from `MOTO_ENDPOINT`; without it the tests
//! skip with a notice, unless `CI` or `REQUIRE_MOTO` is set, where they fail.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_sdk_organizations::types::{PolicyType, Tag};
use migration::AwsAccountId;
use migration::ports::MigrationStore;
use migration_aws::{AwsOrganizations, DynamoStore, table_definition};
use migration_sim::contract::{OrgFixture, OrgObserver};
use tokio::sync::OnceCell;

/// The moto endpoint, or `None` (after a notice) when the moto tests should be skipped.
pub fn moto_endpoint() -> Option<String> {
    if let Ok(endpoint) = std::env::var("MOTO_ENDPOINT")
        && !endpoint.trim().is_empty()
    {
        return Some(endpoint);
    }
    let required = ["CI", "REQUIRE_MOTO"].iter().any(|v| std::env::var(v).is_ok_and(|x| !x.is_empty() && x != "0" && x != "false"));
    assert!(
        !required,
        "MOTO_ENDPOINT is not set, but CI/REQUIRE_MOTO requires the moto tests: start `python3 scripts/moto_serial.py 127.0.0.1 <port>` (or moto_server) and export MOTO_ENDPOINT=http://127.0.0.1:<port>"
    );
    eprintln!("SKIPPED: MOTO_ENDPOINT is not set; start moto_server and export MOTO_ENDPOINT to run the emulator-backed tests");
    None
}

/// The SDK configuration against moto: dummy credentials, us-east-1, no retries.
pub async fn moto_config() -> Option<SdkConfig> {
    let endpoint = moto_endpoint()?;
    Some(
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(Region::from_static("us-east-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
            .retry_config(RetryConfig::standard().with_max_attempts(1))
            .load()
            .await,
    )
}

/// A name no other test uses, so tests can share one moto server.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", ulid::Ulid::new().to_string().to_lowercase())
}

/// A new table made from the one definition, and a store on it.
pub async fn fresh_table(config: &SdkConfig) -> (DynamoStore, aws_sdk_dynamodb::Client, String) {
    let client = aws_sdk_dynamodb::Client::new(config);
    let table = unique("migrations");
    table_definition().create(&client, &table).await.expect("table created in moto");
    (DynamoStore::new(client.clone(), &table), client, table)
}

pub async fn fresh_store() -> Option<Arc<dyn MigrationStore>> {
    let config = moto_config().await?;
    Some(Arc::new(fresh_table(&config).await.0))
}

/// moto keeps one organization per process: create it once, or find it.
pub async fn partner_root(orgs: &aws_sdk_organizations::Client) -> String {
    static ROOT: OnceCell<String> = OnceCell::const_new();
    ROOT.get_or_init(|| async {
        match orgs.create_organization().feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All).send().await {
            Ok(_) => {}
            Err(e) if migration_aws::error_code(&e) == Some("AlreadyInOrganizationException") => {}
            Err(e) => panic!("creating the organization in moto: {e:?}"),
        }
        let roots = orgs.list_roots().send().await.expect("roots");
        roots.roots()[0].id().expect("root id").to_owned()
    })
    .await
    .clone()
}

/// A fresh member account (CreateAccount), an OU and an SCP of its own.
pub async fn fresh_org_fixture() -> Option<OrgFixture> {
    let config = moto_config().await?;
    let client = aws_sdk_organizations::Client::new(&config);
    let root = partner_root(&client).await;
    let name = unique("member");
    let created =
        client.create_account().email(format!("{name}@example.invalid")).account_name(&name).send().await.expect("account created");
    let member: AwsAccountId = created.create_account_status().and_then(|s| s.account_id()).expect("account id").parse().unwrap();
    let ou = client.create_organizational_unit().parent_id(&root).name(unique("hardened")).send().await.expect("OU created");
    let policy = client
        .create_policy()
        .name(unique("guardrail"))
        .description("contract test")
        .r#type(PolicyType::ServiceControlPolicy)
        .content(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"organizations:LeaveOrganization","Resource":"*"}]}"#)
        .send()
        .await
        .expect("policy created");
    Some(OrgFixture {
        orgs: Arc::new(AwsOrganizations::new(client.clone())),
        member,
        stranger: "000999888777".parse().unwrap(),
        other_parent: ou.organizational_unit().and_then(|o| o.id()).expect("OU id").to_owned(),
        policy_id: policy.policy().and_then(|p| p.policy_summary()).and_then(|s| s.id()).expect("policy id").to_owned(),
        observer: Arc::new(MotoObserver(client)),
    })
}

/// Reads what the adapter did straight from moto.
pub struct MotoObserver(pub aws_sdk_organizations::Client);

#[async_trait]
impl OrgObserver for MotoObserver {
    async fn policies_of(&self, target: &str) -> Vec<String> {
        let out = self
            .0
            .list_policies_for_target()
            .target_id(target)
            .filter(aws_sdk_organizations::types::PolicyType::ServiceControlPolicy)
            .send()
            .await
            .expect("policies listed");
        out.policies().iter().filter_map(|p| p.id()).map(str::to_owned).collect()
    }

    async fn tags_of(&self, account: &AwsAccountId) -> BTreeMap<String, String> {
        let out = self.0.list_tags_for_resource().resource_id(account.as_str()).send().await.expect("tags listed");
        out.tags().iter().map(|t: &Tag| (t.key().to_owned(), t.value().to_owned())).collect()
    }
}
