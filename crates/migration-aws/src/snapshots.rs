//! The stack's snapshot bucket (S3, SSE-KMS, presigned downloads), with the function's own
//! role: the snapshot-usage function writes, the API signs download links.

use std::time::Duration as StdDuration;

use async_trait::async_trait;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use chrono::Duration;
use migration::usage::SnapshotStore;
use tracing::instrument;

use crate::errors::error_message;

/// `client` with path-style addressing when `config` points at an endpoint of its own (an
/// emulator on loopback has no bucket subdomains); AWS keeps virtual-hosted addressing.
pub fn path_style_off_aws(config: &aws_config::SdkConfig, client: aws_sdk_s3::Client) -> aws_sdk_s3::Client {
    if config.endpoint_url().is_none() {
        return client;
    }
    aws_sdk_s3::Client::from_conf(client.config().to_builder().force_path_style(true).build())
}

/// The AWS adapter of [`SnapshotStore`]: the stack's bucket, encrypted with its KMS key.
#[derive(Clone, Debug)]
pub struct S3Snapshots {
    client: aws_sdk_s3::Client,
    bucket: String,
    kms_key: Option<String>,
}

impl S3Snapshots {
    /// `kms_key`: the key objects are encrypted with (SSE-KMS); `None` leaves the bucket's
    /// default encryption to apply (the template sets the same key as the default).
    pub fn new(client: aws_sdk_s3::Client, bucket: &str, kms_key: Option<String>) -> Self {
        Self { client, bucket: bucket.to_owned(), kms_key }
    }
}

#[async_trait]
impl SnapshotStore for S3Snapshots {
    #[instrument(skip(self, body))]
    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), String> {
        let mut put = self.client.put_object().bucket(&self.bucket).key(key).content_type(content_type).body(ByteStream::from(body));
        if let Some(kms) = &self.kms_key {
            put = put.server_side_encryption(ServerSideEncryption::AwsKms).ssekms_key_id(kms);
        }
        put.send().await.map(|_| ()).map_err(|e| error_message(&e))
    }

    #[instrument(skip(self))]
    async fn download_link(&self, key: &str, expires_in: Duration) -> Result<String, String> {
        let seconds = u64::try_from(expires_in.num_seconds()).map_err(|_| "a negative expiry".to_owned())?;
        let config = PresigningConfig::expires_in(StdDuration::from_secs(seconds)).map_err(|e| e.to_string())?;
        let request = self.client.get_object().bucket(&self.bucket).key(key).presigned(config).await.map_err(|e| error_message(&e))?;
        Ok(request.uri().to_owned())
    }
}
