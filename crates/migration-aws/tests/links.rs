//! The API's download links, signed with aws-sigv4 alone, are the SDK's own presigned
//! `GetObject` URLs, byte for byte: on AWS (virtual-hosted) and off it (path style), in
//! us-east-1 and elsewhere, with a session token (a Lambda role's credentials).

use std::time::{Duration, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_s3::presigning::PresigningConfig;
use migration::usage::SnapshotStore;
use migration_aws::SignedLinks;

const BUCKET: &str = "cam-migration-snapshots-999999999999";
const KEY: &str = "migrations/01KJQ0Z8W7M3V9X2B5N4C6D8EF/usage/monthly-by-service.csv";

fn config(region: &'static str, endpoint: Option<&str>) -> aws_config::SdkConfig {
    let credentials = Credentials::new("ASIAEXAMPLEEXAMPLE01", "secret/example+key", Some("session//token+=".into()), None, "test");
    let mut builder = aws_config::SdkConfig::builder()
        .region(aws_config::Region::from_static(region))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .behavior_version(aws_config::BehaviorVersion::latest());
    if let Some(endpoint) = endpoint {
        builder = builder.endpoint_url(endpoint);
    }
    builder.build()
}

#[tokio::test]
async fn a_link_is_the_sdk_s_presigned_get_object() {
    let at = UNIX_EPOCH + Duration::from_secs(1_780_000_000);
    for (region, endpoint) in [("us-east-1", None), ("eu-west-1", None), ("us-east-1", Some("http://127.0.0.1:5055"))] {
        let config = config(region, endpoint);
        let ours = SignedLinks::from_config(&config, BUCKET).unwrap().link_at(KEY, Duration::from_secs(900), at).await.unwrap();
        let client = migration_aws::snapshots::path_style_off_aws(&config, aws_sdk_s3::Client::new(&config));
        let presigning = PresigningConfig::builder().start_time(at).expires_in(Duration::from_secs(900)).build().unwrap();
        let sdk = client.get_object().bucket(BUCKET).key(KEY).presigned(presigning).await.unwrap();
        assert_eq!(ours, sdk.uri(), "{region} {endpoint:?}");
    }
}

#[tokio::test]
async fn keys_and_expiries_a_link_cannot_have_are_refused_and_nothing_is_written() {
    let links = SignedLinks::from_config(&config("us-east-1", None), BUCKET).unwrap();
    let at = UNIX_EPOCH + Duration::from_secs(1_780_000_000);
    for key in ["", "a b.csv", "migrations/x?y", "migrations/%2e"] {
        assert!(links.link_at(key, Duration::from_secs(900), at).await.is_err(), "{key:?}");
    }
    assert!(links.link_at(KEY, Duration::ZERO, at).await.is_err());
    assert!(links.link_at(KEY, Duration::from_secs(7 * 86_400 + 1), at).await.is_err());
    assert!(links.put(KEY, b"x".to_vec(), "text/csv").await.is_err(), "the signer writes nothing");
}
