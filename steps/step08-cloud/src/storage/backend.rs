//! The object store behind the images and who signs their download URLs. Every backend is
//! an `object_store::ObjectStore`; S3, GCS and Azure also sign URLs with the cloud's own
//! scheme (`object_store::signer::Signer`: SigV4 presigned URLs, V4 signed URLs, SAS
//! tokens), so the client downloads from the cloud directly. A directory has no such
//! scheme, so for the local backend the service signs URLs itself ([`LocalSigner`]:
//! HMAC-SHA256 over the product, the upload and the expiry) and serves them at
//! `GET /api/v1/product-images/{product_id}/{upload}`.
//!
//! Requests to a cloud get a short timeout and few retries ([`StorageConfig`]): an admin
//! waits on an upload, and a store that is down must become a 503 within seconds, not after
//! `object_store`'s default of ten retries over three minutes.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::config::Environment;
use common::domain::ProductId;
use hmac::{Hmac, Mac};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::signer::Signer;
use object_store::{
    Attribute, Attributes, BackoffConfig, ClientOptions, ObjectStore, PutOptions, PutPayload,
    RetryConfig,
};
use secrecy::ExposeSecret;
use sha2::Sha256;

use super::config::{Backend, StorageConfig};

/// Where the local backend's signed URLs are served, under the API's origin.
pub const LOCAL_DOWNLOADS: &str = "/api/v1/product-images";

/// The object store and the URL signer of one backend.
#[derive(Clone)]
pub struct Objects {
    store: Arc<dyn ObjectStore>,
    urls: Urls,
    prefix: String,
    backend: Backend,
}

#[derive(Clone)]
enum Urls {
    /// The cloud signs (S3, GCS, Azure).
    Cloud(Arc<dyn Signer>),
    /// The service signs and serves (a directory).
    Local(LocalSigner),
}

impl std::fmt::Debug for Objects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Objects")
            .field("backend", &self.backend)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// A failure of the object store: the object is not there, or the store did not do what it
/// was asked (unreachable, refused, timed out).
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    #[error("no such object")]
    NotFound,
    #[error("the object store failed")]
    Failed(#[source] object_store::Error),
}

impl From<object_store::Error> for ObjectError {
    fn from(error: object_store::Error) -> Self {
        match error {
            object_store::Error::NotFound { .. } => ObjectError::NotFound,
            other => ObjectError::Failed(other),
        }
    }
}

impl Objects {
    /// The backend `config` names, with its credentials from the environment (and
    /// `storage.options`). Makes no request: a store that is down shows at the first upload.
    pub fn from_config(config: &StorageConfig, environment: Environment) -> anyhow::Result<Self> {
        let prefix = config.key_prefix.trim_matches('/').to_owned();
        let (store, urls): (Arc<dyn ObjectStore>, Urls) = match config.backend {
            Backend::Local => {
                std::fs::create_dir_all(&config.directory).with_context(|| {
                    format!("creating storage.directory {}", config.directory.display())
                })?;
                let store = LocalFileSystem::new_with_prefix(&config.directory)
                    .with_context(|| {
                        format!("opening storage.directory {}", config.directory.display())
                    })?
                    .with_automatic_cleanup(true);
                let signer = LocalSigner::from_config(config, environment)?;
                (Arc::new(store), Urls::Local(signer))
            }
            Backend::S3 => {
                let mut builder = AmazonS3Builder::from_env()
                    .with_bucket_name(&config.bucket)
                    .with_retry(retry(config))
                    .with_client_options(client_options(config));
                if let Some(region) = &config.region {
                    builder = builder.with_region(region);
                }
                if let Some(endpoint) = &config.endpoint {
                    builder = builder
                        .with_endpoint(endpoint)
                        .with_virtual_hosted_style_request(false)
                        .with_allow_http(endpoint.starts_with("http://"));
                }
                for (key, value) in &config.options {
                    let key: AmazonS3ConfigKey = key.parse().map_err(|_| unknown(key, "S3"))?;
                    builder = builder.with_config(key, value.expose_secret());
                }
                let s3 = Arc::new(builder.build().context("configuring the S3 backend")?);
                (s3.clone(), Urls::Cloud(s3))
            }
            Backend::Gcs => {
                let mut builder = GoogleCloudStorageBuilder::from_env()
                    .with_bucket_name(&config.bucket)
                    .with_retry(retry(config))
                    .with_client_options(client_options(config));
                for (key, value) in &config.options {
                    let key: GoogleConfigKey = key.parse().map_err(|_| unknown(key, "GCS"))?;
                    builder = builder.with_config(key, value.expose_secret());
                }
                let gcs = Arc::new(builder.build().context("configuring the GCS backend")?);
                (gcs.clone(), Urls::Cloud(gcs))
            }
            Backend::Azure => {
                let mut builder = MicrosoftAzureBuilder::from_env()
                    .with_container_name(&config.bucket)
                    .with_retry(retry(config))
                    .with_client_options(client_options(config));
                if let Some(endpoint) = &config.endpoint {
                    builder = builder
                        .with_endpoint(endpoint.clone())
                        .with_allow_http(endpoint.starts_with("http://"));
                }
                for (key, value) in &config.options {
                    let key: AzureConfigKey = key.parse().map_err(|_| unknown(key, "Azure"))?;
                    builder = builder.with_config(key, value.expose_secret());
                }
                let azure = Arc::new(builder.build().context("configuring the Azure backend")?);
                (azure.clone(), Urls::Cloud(azure))
            }
        };
        Ok(Self {
            store,
            urls,
            prefix,
            backend: config.backend,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The key of one upload of a product's image: `[prefix/]products/{id}/{upload}`. Every
    /// upload has a key of its own, so a new image never overwrites the one that metadata
    /// still names.
    pub fn key(&self, product: ProductId, upload: &str) -> String {
        let key = format!("products/{product}/{upload}");
        if self.prefix.is_empty() {
            key
        } else {
            format!("{}/{key}", self.prefix)
        }
    }

    /// Stores `bytes` at `key`, with their type where the backend keeps one (a cloud then
    /// serves the signed URL with it).
    pub async fn put(
        &self,
        key: &str,
        bytes: axum::body::Bytes,
        content_type: &str,
    ) -> Result<(), ObjectError> {
        let mut attributes = Attributes::new();
        if self.backend != Backend::Local {
            attributes.insert(Attribute::ContentType, content_type.to_owned().into());
        }
        let options = PutOptions {
            attributes,
            ..PutOptions::default()
        };
        self.store
            .put_opts(&path(key)?, PutPayload::from_bytes(bytes), options)
            .await?;
        Ok(())
    }

    /// Whether `key` exists; a store that cannot say is an error.
    pub async fn exists(&self, key: &str) -> Result<bool, ObjectError> {
        match self.store.head(&path(key)?).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(other) => Err(ObjectError::Failed(other)),
        }
    }

    /// The object's bytes (the local backend's downloads).
    pub async fn get(&self, key: &str) -> Result<axum::body::Bytes, ObjectError> {
        Ok(self.store.get(&path(key)?).await?.bytes().await?)
    }

    /// Deletes `key`; one that is not there is deleted already.
    pub async fn delete(&self, key: &str) -> Result<(), ObjectError> {
        match self.store.delete(&path(key)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(other) => Err(ObjectError::Failed(other)),
        }
    }

    /// A URL that downloads `key` (upload `upload` of `product`'s image) until `expires`
    /// (Unix seconds), `ttl` from now.
    pub async fn signed_url(
        &self,
        product: ProductId,
        upload: &str,
        key: &str,
        ttl: Duration,
        expires: i64,
    ) -> Result<String, ObjectError> {
        match &self.urls {
            Urls::Cloud(signer) => Ok(signer
                .signed_url(reqwest::Method::GET, &path(key)?, ttl)
                .await?
                .to_string()),
            Urls::Local(signer) => Ok(signer.url(product, upload, expires)),
        }
    }

    /// The local backend's signer; `None` on a cloud backend, whose URLs the cloud serves.
    pub fn local_signer(&self) -> Option<&LocalSigner> {
        match &self.urls {
            Urls::Local(signer) => Some(signer),
            Urls::Cloud(_) => None,
        }
    }
}

fn path(key: &str) -> Result<Path, ObjectError> {
    Path::parse(key).map_err(|e| ObjectError::Failed(e.into()))
}

fn unknown(key: &str, backend: &str) -> anyhow::Error {
    anyhow!(
        "storage.options.{key} is not an option of the {backend} backend (see the \
         object_store builder's configuration keys, e.g. aws_access_key_id)"
    )
}

/// Few retries, each bounded, within a few seconds in all.
fn retry(config: &StorageConfig) -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            base: 2.0,
        },
        max_retries: config.max_retries,
        retry_timeout: Duration::from_millis(config.request_timeout_ms),
    }
}

fn client_options(config: &StorageConfig) -> ClientOptions {
    let timeout = Duration::from_millis(config.request_timeout_ms);
    ClientOptions::new()
        .with_timeout(timeout)
        .with_connect_timeout(timeout.min(Duration::from_secs(3)))
}

/// Why a local download URL is refused (403 either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlRefusal {
    /// No signature, no expiry, or a signature that does not match them: forged or changed.
    BadSignature,
    /// Genuine, but past its expiry.
    Expired { at: i64 },
}

/// Signs and checks the local backend's download URLs: HMAC-SHA256 over
/// `v1\n{product}\n{upload}\n{expires}`, base64url in the `signature` parameter.
#[derive(Clone)]
pub struct LocalSigner {
    key: Arc<[u8]>,
    /// `storage.public_url` without its trailing slash, or empty (relative URLs).
    base: String,
}

impl LocalSigner {
    fn from_config(config: &StorageConfig, environment: Environment) -> anyhow::Result<Self> {
        let key: Arc<[u8]> = match &config.signing_secret {
            Some(secret) => secret.expose_secret().as_bytes().into(),
            None if environment == Environment::Development => {
                tracing::warn!(
                    "storage.signing_secret is not set: image download URLs are signed with a \
                     random key and stop working when the process restarts"
                );
                let random: [u8; 32] = rand_key();
                random.as_slice().into()
            }
            None => anyhow::bail!(
                "storage.signing_secret is required for the local backend outside development"
            ),
        };
        Ok(Self {
            key,
            base: config
                .public_url
                .as_deref()
                .unwrap_or_default()
                .trim_end_matches('/')
                .to_owned(),
        })
    }

    /// A signer with `key`, for URLs relative to the API's origin.
    pub fn new(key: &[u8]) -> Self {
        Self {
            key: key.into(),
            base: String::new(),
        }
    }

    fn mac(&self, product: ProductId, upload: &str, expires: i64) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes a key of any length");
        mac.update(format!("v1\n{product}\n{upload}\n{expires}").as_bytes());
        mac
    }

    /// The signature of a download of `upload` of `product`'s image until `expires`.
    pub fn signature(&self, product: ProductId, upload: &str, expires: i64) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(product, upload, expires).finalize().into_bytes())
    }

    /// The download URL: `[public_url]/api/v1/product-images/{product}/{upload}?expires=&signature=`.
    pub fn url(&self, product: ProductId, upload: &str, expires: i64) -> String {
        format!(
            "{}{LOCAL_DOWNLOADS}/{product}/{upload}?expires={expires}&signature={}",
            self.base,
            self.signature(product, upload, expires)
        )
    }

    /// Checks a download's `expires` and `signature` parameters at `now` (Unix seconds): the
    /// signature first (in constant time), so a changed expiry reads as a forgery, not as
    /// an expired URL.
    pub fn check(
        &self,
        product: ProductId,
        upload: &str,
        expires: Option<&str>,
        signature: Option<&str>,
        now: i64,
    ) -> Result<(), UrlRefusal> {
        let (Some(expires_text), Some(signature)) = (expires, signature) else {
            return Err(UrlRefusal::BadSignature);
        };
        let expires: i64 = expires_text.parse().map_err(|_| UrlRefusal::BadSignature)?;
        // The canonical form only: `+5` or `05` would sign the same number differently.
        if expires.to_string() != expires_text {
            return Err(UrlRefusal::BadSignature);
        }
        let given = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| UrlRefusal::BadSignature)?;
        self.mac(product, upload, expires)
            .verify_slice(&given)
            .map_err(|_| UrlRefusal::BadSignature)?;
        if now >= expires {
            return Err(UrlRefusal::Expired { at: expires });
        }
        Ok(())
    }
}

/// 32 random bytes, from two v4 UUIDs (the OS's generator), for a development signing key.
fn rand_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_option_the_backend_does_not_know_is_refused_at_start_naming_it() {
        let config = StorageConfig {
            backend: Backend::S3,
            bucket: "images".to_owned(),
            options: [("aws_acces_key_id".to_owned(), "x".to_owned().into())].into(),
            ..StorageConfig::default()
        };
        let error = Objects::from_config(&config, Environment::Production)
            .expect_err("refused")
            .to_string();
        assert!(
            error.contains("storage.options.aws_acces_key_id"),
            "{error}"
        );
    }

    #[test]
    fn a_genuine_url_passes_until_it_expires_and_any_change_reads_as_a_forgery() {
        let signer = LocalSigner::new(b"0123456789abcdef0123456789abcdef");
        let product = ProductId::new();
        let upload = "0f0e0d0c0b0a09080706050403020100";
        let signature = signer.signature(product, upload, 1_000);
        let check = |p, u: &str, e: &str, s: &str, now| signer.check(p, u, Some(e), Some(s), now);
        assert_eq!(check(product, upload, "1000", &signature, 999), Ok(()));
        assert_eq!(
            check(product, upload, "1000", &signature, 1_000),
            Err(UrlRefusal::Expired { at: 1_000 })
        );
        assert_eq!(
            check(product, upload, "2000", &signature, 999),
            Err(UrlRefusal::BadSignature),
            "a later expiry"
        );
        assert_eq!(
            check(product, upload, "01000", &signature, 999),
            Err(UrlRefusal::BadSignature),
            "the same expiry spelt differently"
        );
        assert_eq!(
            check(ProductId::new(), upload, "1000", &signature, 999),
            Err(UrlRefusal::BadSignature),
            "another product"
        );
        assert_eq!(
            check(
                product,
                "ffffffffffffffffffffffffffffffff",
                "1000",
                &signature,
                999
            ),
            Err(UrlRefusal::BadSignature),
            "another upload"
        );
        let other = LocalSigner::new(b"another key that is long enough!!");
        assert_eq!(
            other.check(product, upload, Some("1000"), Some(&signature), 999),
            Err(UrlRefusal::BadSignature),
            "another key"
        );
        assert_eq!(
            signer.check(product, upload, None, Some(&signature), 999),
            Err(UrlRefusal::BadSignature)
        );
        assert_eq!(
            signer.check(product, upload, Some("1000"), None, 999),
            Err(UrlRefusal::BadSignature)
        );
    }
}
