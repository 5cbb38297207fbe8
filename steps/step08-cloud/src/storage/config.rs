//! The `storage` section: which object store keeps the product images, how large an image
//! may be and how long a download URL lives. Credentials are not here: each backend reads its
//! cloud's standard variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_SESSION_TOKEN`, `AWS_REGION`; `GOOGLE_APPLICATION_CREDENTIALS`,
//! `GOOGLE_SERVICE_ACCOUNT`; `AZURE_STORAGE_ACCOUNT_NAME`, `AZURE_STORAGE_ACCOUNT_KEY`, ...)
//! through the `object_store` builders' `from_env()`, so a workload identity or a mounted key
//! works as it does for the cloud's own tools. `options` can set any of the builder's keys
//! on top, for a deploy (or a test) that cannot set those variables.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, ensure};
use common::config::Environment;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Where the images are kept ([`StorageConfig::backend`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// A directory on this machine ([`StorageConfig::directory`]); download URLs are signed
    /// and served by the service itself.
    #[default]
    Local,
    /// Amazon S3, or an S3-compatible server at [`StorageConfig::endpoint`] (MinIO, Ceph,
    /// moto).
    S3,
    /// Google Cloud Storage.
    Gcs,
    /// Azure Blob Storage; [`StorageConfig::bucket`] names the container.
    Azure,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Local => "local",
            Backend::S3 => "s3",
            Backend::Gcs => "gcs",
            Backend::Azure => "azure",
        }
    }
}

/// The `storage` section (`APP__STORAGE__*`). No `deny_unknown_fields`: step 8's check of
/// every key set against every key read reports a misspelt one (`storage.buckit`) with where
/// it was set, after showing the rest, which serde's refusal would not.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct StorageConfig {
    /// `local` (default), `s3`, `gcs` or `azure`.
    pub backend: Backend,
    /// The local backend's directory, created at start if missing.
    pub directory: PathBuf,
    /// The bucket (S3, GCS) or container (Azure). Required for those backends.
    pub bucket: String,
    /// The region (S3); unset, `AWS_REGION` / `AWS_DEFAULT_REGION` decide.
    pub region: Option<String>,
    /// Another endpoint than the cloud's own: an S3-compatible server
    /// (`http://127.0.0.1:9000`) or Azure's emulator. Path-style requests are used with it.
    pub endpoint: Option<String>,
    /// Put before every object key (`shop/` keeps the images under `shop/products/...`), for
    /// a bucket shared with other data.
    pub key_prefix: String,
    /// The largest image accepted, in bytes (default 5 MiB): a body declared larger is
    /// refused before any of it is read, one that turns out larger when it is read is
    /// refused once it passes the limit.
    pub max_image_bytes: u64,
    /// How long a download URL is valid (default 15 minutes); a client may ask for less.
    pub url_ttl_secs: u64,
    /// The key the local backend signs its download URLs with (HMAC-SHA256, 32 bytes or
    /// more). Required for the local backend outside `development`, where a random key per
    /// process is used instead (its URLs stop working at a restart).
    #[serde(serialize_with = "common::config::redacted")]
    pub signing_secret: Option<SecretString>,
    /// Where the service is reached from outside (`https://shop.example.com`), to make the
    /// local backend's download URLs absolute; unset, they are relative to the API's origin
    /// (`/api/v1/product-images/...`).
    pub public_url: Option<String>,
    /// Any key of the backend's `object_store` builder (`aws_access_key_id`,
    /// `google_service_account_key`, `azure_storage_account_key`, ...), applied after the
    /// environment's: all treated as secrets.
    #[serde(serialize_with = "common::config::redacted")]
    pub options: BTreeMap<String, SecretString>,
    /// How long one request to the object store may take before it counts as failed.
    pub request_timeout_ms: u64,
    /// How often a failed request to the object store is tried again (with backoff) before
    /// the client gets a 503; few, since an admin is waiting.
    pub max_retries: usize,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            backend: Backend::Local,
            directory: PathBuf::from("data/product-images"),
            bucket: String::new(),
            region: None,
            endpoint: None,
            key_prefix: String::new(),
            max_image_bytes: 5 * 1024 * 1024,
            url_ttl_secs: 900,
            signing_secret: None,
            public_url: None,
            options: BTreeMap::new(),
            request_timeout_ms: 10_000,
            max_retries: 2,
        }
    }
}

/// The shortest signing key the local backend accepts (HMAC-SHA256's block is 64 bytes; its
/// output, 32, is the least that adds nothing to guess).
pub const MIN_SIGNING_SECRET_BYTES: usize = 32;

impl StorageConfig {
    /// The section's rules, each error naming its key.
    pub fn validate(&self, environment: Environment) -> anyhow::Result<()> {
        ensure!(
            (1..=1024 * 1024 * 1024).contains(&self.max_image_bytes),
            "storage.max_image_bytes must be between 1 and 1073741824 (1 GiB), got {}",
            self.max_image_bytes
        );
        ensure!(
            (1..=7 * 24 * 3600).contains(&self.url_ttl_secs),
            "storage.url_ttl_secs must be between 1 and 604800 (7 days, S3's longest \
             presigned URL), got {}",
            self.url_ttl_secs
        );
        ensure!(
            (100..=600_000).contains(&self.request_timeout_ms),
            "storage.request_timeout_ms must be between 100 and 600000, got {}",
            self.request_timeout_ms
        );
        ensure!(
            self.max_retries <= 10,
            "storage.max_retries must be 10 or fewer, got {}",
            self.max_retries
        );
        ensure!(
            !self.key_prefix.starts_with('/') && !self.key_prefix.contains(".."),
            "storage.key_prefix must be relative and without `..`, got {:?}",
            self.key_prefix
        );
        if let Some(url) = &self.public_url {
            ensure!(
                url.starts_with("https://") || url.starts_with("http://"),
                "storage.public_url must be an http(s) URL, got {url:?}"
            );
        }
        if let Some(endpoint) = &self.endpoint {
            ensure!(
                endpoint.starts_with("https://") || endpoint.starts_with("http://"),
                "storage.endpoint must be an http(s) URL, got {endpoint:?}"
            );
        }
        match self.backend {
            Backend::Local => {
                ensure!(
                    !self.directory.as_os_str().is_empty(),
                    "storage.directory must name a directory for the local backend"
                );
                match &self.signing_secret {
                    Some(secret) => ensure!(
                        secret.expose_secret().len() >= MIN_SIGNING_SECRET_BYTES,
                        "storage.signing_secret must be at least {MIN_SIGNING_SECRET_BYTES} \
                         bytes"
                    ),
                    None if environment != Environment::Development => bail!(
                        "storage.signing_secret is required for the local backend outside \
                         development (set APP__STORAGE__SIGNING_SECRET, 32 bytes or more): \
                         it signs the image download URLs"
                    ),
                    None => {}
                }
            }
            Backend::S3 | Backend::Gcs | Backend::Azure => ensure!(
                !self.bucket.trim().is_empty(),
                "storage.bucket is required for the {} backend (the {})",
                self.backend.name(),
                if self.backend == Backend::Azure {
                    "container"
                } else {
                    "bucket"
                }
            ),
        }
        if self.backend == Backend::Gcs && self.endpoint.is_some() {
            bail!("storage.endpoint is for S3-compatible servers and Azure's emulator, not gcs");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(config: &StorageConfig, environment: Environment) -> String {
        config
            .validate(environment)
            .expect_err("refused")
            .to_string()
    }

    #[test]
    fn the_local_backend_needs_a_long_signing_secret_outside_development() {
        let local = StorageConfig::default();
        assert!(local.validate(Environment::Development).is_ok());
        let said = error(&local, Environment::Production);
        assert!(said.contains("storage.signing_secret"), "{said}");
        let short = StorageConfig {
            signing_secret: Some(SecretString::from("short")),
            ..StorageConfig::default()
        };
        assert!(error(&short, Environment::Production).contains("at least 32 bytes"));
        let long = StorageConfig {
            signing_secret: Some(SecretString::from("x".repeat(32))),
            ..StorageConfig::default()
        };
        assert!(long.validate(Environment::Production).is_ok());
    }

    #[test]
    fn a_cloud_backend_needs_its_bucket_and_limits_are_bounded_each_error_naming_its_key() {
        let s3 = StorageConfig {
            backend: Backend::S3,
            ..StorageConfig::default()
        };
        assert!(error(&s3, Environment::Production).contains("storage.bucket"));
        let azure = StorageConfig {
            backend: Backend::Azure,
            ..StorageConfig::default()
        };
        assert!(error(&azure, Environment::Production).contains("container"));
        let with_bucket = |change: fn(&mut StorageConfig)| {
            let mut config = StorageConfig {
                backend: Backend::S3,
                bucket: "images".to_owned(),
                ..StorageConfig::default()
            };
            change(&mut config);
            config
        };
        assert!(
            with_bucket(|_| {})
                .validate(Environment::Production)
                .is_ok()
        );
        for (change, key) in [
            (
                (|c: &mut StorageConfig| c.max_image_bytes = 0) as fn(&mut StorageConfig),
                "storage.max_image_bytes",
            ),
            (|c| c.url_ttl_secs = 8 * 24 * 3600, "storage.url_ttl_secs"),
            (
                |c| c.key_prefix = "../other".to_owned(),
                "storage.key_prefix",
            ),
            (
                |c| c.endpoint = Some("localhost:9000".to_owned()),
                "storage.endpoint",
            ),
            (|c| c.max_retries = 11, "storage.max_retries"),
        ] {
            let said = error(&with_bucket(change), Environment::Production);
            assert!(said.contains(key), "{key}: {said}");
        }
    }
}
