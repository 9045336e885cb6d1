//! Presigned download links to the snapshot bucket without an S3 client: a `GetObject` URL
//! signed with SigV4 in its query string by `aws-sigv4` (the SDK's own signer, which every
//! SDK crate links already), with the function's role credentials. The API only signs links,
//! which is local arithmetic; linking `aws-sdk-s3` for it took the API's zipped bootstrap
//! past the 4 MiB budget (benches/README.md). A test holds these links equal, byte for byte,
//! to the SDK's own presigned `GetObject`.

use std::time::{Duration as StdDuration, SystemTime};

use async_trait::async_trait;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings, UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use chrono::Duration;
use migration::usage::SnapshotStore;
use tracing::instrument;

/// The longest a SigV4 presigned URL may be valid (seven days).
const MAX_EXPIRY: StdDuration = StdDuration::from_secs(7 * 24 * 3600);

/// The snapshot bucket as the API sees it: download links only.
#[derive(Clone, Debug)]
pub struct SignedLinks {
    credentials: SharedCredentialsProvider,
    region: String,
    /// `https://{bucket}.s3.{region}.amazonaws.com` on AWS; `{endpoint}/{bucket}` (path
    /// style) for an endpoint of its own (an emulator on loopback has no bucket subdomains).
    base: String,
}

impl SignedLinks {
    /// Links to `bucket`, signed with `config`'s credentials in its region; `None` when the
    /// configuration has no credentials or no region.
    pub fn from_config(config: &aws_config::SdkConfig, bucket: &str) -> Option<Self> {
        let credentials = config.credentials_provider()?;
        let region = config.region()?.to_string();
        // FIPS and dual-stack endpoints have hosts of their own: not built here, so such a
        // configuration gets no signer (the function then fails at cold start, see
        // `AwsPorts::for_needs`) rather than links that would not work.
        if config.use_fips() == Some(true) || config.use_dual_stack() == Some(true) {
            return None;
        }
        let domain = if region.starts_with("cn-") { "amazonaws.com.cn" } else { "amazonaws.com" };
        let base = match config.endpoint_url() {
            Some(endpoint) => format!("{}/{bucket}", endpoint.trim_end_matches('/')),
            None => format!("https://{bucket}.s3.{region}.{domain}"),
        };
        Some(Self { credentials, region, base })
    }

    /// The link to `key`, signed at `now`, valid for `expires_in`.
    pub async fn link_at(&self, key: &str, expires_in: StdDuration, now: SystemTime) -> Result<String, String> {
        // The bucket's keys are the snapshot's own (`migrations/<id>/usage/<file>`): nothing
        // in them needs percent-encoding, and anything else is refused rather than guessed.
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b"/-._".contains(&b)) {
            return Err(format!("not a snapshot key: {key:?}"));
        }
        if expires_in.is_zero() || expires_in > MAX_EXPIRY {
            return Err(format!("a presigned link lasts 1 s to 7 days, not {expires_in:?}"));
        }
        let credentials = self.credentials.provide_credentials().await.map_err(|e| format!("no credentials to sign with: {e}"))?;
        let identity: Identity = credentials.into();
        let mut settings = SigningSettings::default();
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(expires_in);
        // S3's rules: the path is encoded once and never normalized.
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("s3")
            .time(now)
            .settings(settings)
            .build()
            .map_err(|e| e.to_string())?
            .into();
        // The SDK names the operation in the query too; the signature covers it.
        let url = format!("{}/{key}?x-id=GetObject", self.base);
        let mut request = http::Request::get(&url).body(()).map_err(|e| e.to_string())?;
        let signable = SignableRequest::new("GET", &url, std::iter::empty(), SignableBody::UnsignedPayload).map_err(|e| e.to_string())?;
        let (instructions, _signature) = sign(signable, &params).map_err(|e| e.to_string())?.into_parts();
        instructions.apply_to_request_http1x(&mut request);
        Ok(request.uri().to_string())
    }
}

#[async_trait]
impl SnapshotStore for SignedLinks {
    async fn put(&self, key: &str, _body: Vec<u8>, _content_type: &str) -> Result<(), String> {
        Err(format!("this function signs download links and writes no snapshot ({key})"))
    }

    #[instrument(skip(self))]
    async fn download_link(&self, key: &str, expires_in: Duration) -> Result<String, String> {
        let seconds = u64::try_from(expires_in.num_seconds()).map_err(|_| "a negative expiry".to_owned())?;
        self.link_at(key, StdDuration::from_secs(seconds), SystemTime::now()).await
    }
}
