//! Where step 8's configuration comes from, lowest first: the defaults (each section's
//! `Default`), the file steps 0-7 read (`APP_CONFIG`, else `./shop.toml`), a file per
//! environment (`config/<environment>.toml`), the cloud profile, `APP__*` variables, then the
//! secrets: AWS Secrets Manager (when `secrets.aws_secret_id` is set) and mounted secret files,
//! the last word; over them all, the `managed` section's TLS settings are written into the
//! connection URLs ([`crate::managed::layer`]). Each layer's values keep their source, so
//! `cargo xtask config 8` can say where every value came from, and an unknown key can be
//! reported with the file or variable that set it.
//!
//! Secret files, the way orchestrators hand secrets over (Kubernetes secret volumes, Docker
//! and compose secrets, the Secrets Store CSI driver for AWS, GCP and Azure):
//! - `APP__AUTH__JWT_SECRET_FILE=/run/secrets/jwt` sets `auth.jwt_secret` to the file's
//!   contents (one trailing newline dropped). So that this reads one way only, no key of the
//!   configuration ends in `_file` (a test checks it);
//! - `APP_SECRETS_DIR=/var/run/secrets/shop`: every file in it sets the key it is named after
//!   (`auth.jwt_secret`, or `AUTH__JWT_SECRET`); hidden entries (a secret volume's `..data`)
//!   are skipped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use figment::providers::{Format, Serialized, Toml};
use figment::value::{Dict, Map};
use figment::{Figment, Metadata, Provider, Source};

use crate::config::{Profile, SecretsConfig};

/// The profiles, compiled in: an image carries them, whatever its working directory.
const PROFILES: [(Profile, &str); 4] = [
    (Profile::Local, include_str!("../profiles/local.toml")),
    (Profile::Aws, include_str!("../profiles/aws.toml")),
    (Profile::Gcp, include_str!("../profiles/gcp.toml")),
    (Profile::Azure, include_str!("../profiles/azure.toml")),
];

/// The settings of `profile`, as TOML.
pub fn profile_toml(profile: Profile) -> &'static str {
    PROFILES
        .iter()
        .find(|(p, _)| *p == profile)
        .map(|(_, toml)| *toml)
        .expect("every profile has a file")
}

/// The folder of the per-environment files when `APP_CONFIG_DIR` is not set.
pub const DEFAULT_CONFIG_DIR: &str = "config";

/// Every layer, merged; extracting it gives step 8's configuration.
pub fn figment() -> anyhow::Result<Figment> {
    figment_with(read_secrets_manager)
}

/// [`figment`], with the Secrets Manager read by `fetch_secret` (tests pass their own reader
/// to see that the layer sits where it should).
pub fn figment_with(
    fetch_secret: impl FnOnce(&SecretsConfig) -> anyhow::Result<BTreeMap<String, String>>,
) -> anyhow::Result<Figment> {
    let environment_variables = || {
        // `*_FILE` variables name secret files, read by their own layer below.
        common::Config::environment_layer()
            .filter(|key| !key.as_str().to_ascii_lowercase().ends_with("_file"))
    };
    // Which environment and which profile: read from the layers that can set them, before
    // the layers they select.
    let early = Figment::new()
        .merge(common::Config::file_layer()?)
        .merge(environment_variables());
    let environment: common::config::Environment = early
        .extract_inner("environment")
        .or_else(missing_is_default)?;
    let profile: Profile = early
        .extract_inner("cloud.profile")
        .or_else(missing_is_default)?;

    let mut figment = Figment::new()
        .merge(common::Config::file_layer()?)
        .merge(environment_file(environment)?)
        .merge(Named::new(
            Toml::string(profile_toml(profile)),
            Metadata::named(format!("cloud profile {}", profile.name())),
        ))
        .merge(environment_variables());

    let secrets: SecretsConfig = figment
        .extract_inner("secrets")
        .or_else(missing_is_default)?;
    if let Some(id) = &secrets.aws_secret_id {
        let values = fetch_secret(&secrets)
            .with_context(|| format!("reading the AWS Secrets Manager secret {id}"))?;
        for (key, value) in values {
            figment = figment.merge(Named::new(
                Serialized::default(&key, value),
                Metadata::named(format!("AWS Secrets Manager secret {id}")),
            ));
        }
    }
    for (key, path) in secret_files()? {
        let value = read_secret(&path)?;
        figment = figment.merge(Named::new(
            Serialized::default(&key, value),
            Metadata::from("secret file", Source::File(path)),
        ));
    }
    // Last, over every layer that may hold a URL (the secrets often do): the `managed`
    // section's TLS settings written into the URLs the earlier steps connect with.
    crate::managed::layer(figment)
}

/// The Secrets Manager secret `secrets` names, read from a thread of its own: configuration
/// is loaded before the server's runtime serves anything, and may be loaded inside it.
fn read_secrets_manager(secrets: &SecretsConfig) -> anyhow::Result<BTreeMap<String, String>> {
    let settings = crate::secrets_manager::SecretsManagerSettings {
        secret_id: secrets.aws_secret_id.clone().unwrap_or_default(),
        region: secrets.aws_region.clone(),
        endpoint: secrets.aws_endpoint.clone(),
    };
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("starting a runtime to read the secret")?
                    .block_on(crate::secrets_manager::fetch(&settings))
            })
            .join()
            .map_err(|_| anyhow::anyhow!("the thread reading the secret panicked"))?
    })
}

/// A key no layer sets reads as its default; any other error (a bad value) stands.
fn missing_is_default<T: Default>(error: figment::Error) -> anyhow::Result<T> {
    match error.kind {
        figment::error::Kind::MissingField(_) => Ok(T::default()),
        _ => Err(anyhow::anyhow!("loading configuration: {error}")),
    }
}

/// `<APP_CONFIG_DIR>/<environment>.toml`, skipped when missing; a folder named by
/// `APP_CONFIG_DIR` must exist.
fn environment_file(
    environment: common::config::Environment,
) -> anyhow::Result<figment::providers::Data<Toml>> {
    let dir = match std::env::var("APP_CONFIG_DIR") {
        Ok(dir) if !Path::new(&dir).is_dir() => {
            bail!("APP_CONFIG_DIR names {dir}, which is not a folder")
        }
        Ok(dir) => PathBuf::from(dir),
        Err(_) => PathBuf::from(DEFAULT_CONFIG_DIR),
    };
    let name = serde_json::to_value(environment)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "development".to_owned());
    Ok(Toml::file(dir.join(format!("{name}.toml"))))
}

/// Every secret file: `(key, path)`, from `APP__*_FILE` variables and `APP_SECRETS_DIR`.
fn secret_files() -> anyhow::Result<Vec<(String, PathBuf)>> {
    let mut files = Vec::new();
    if let Ok(dir) = std::env::var("APP_SECRETS_DIR") {
        let entries = std::fs::read_dir(&dir)
            .with_context(|| format!("APP_SECRETS_DIR names {dir}, which cannot be read"))?;
        let mut found = Vec::new();
        for entry in entries {
            let entry = entry.with_context(|| format!("listing {dir}"))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            // A Kubernetes secret volume holds `..data` and a timestamped folder beside the
            // links named after the keys.
            if name.starts_with('.') || !entry.path().is_file() {
                continue;
            }
            found.push((name.replace("__", ".").to_lowercase(), entry.path()));
        }
        found.sort();
        files.extend(found);
    }
    let mut variables: Vec<(String, PathBuf)> = std::env::vars_os()
        .filter_map(|(name, value)| {
            let name = name.into_string().ok()?;
            let key = name.strip_prefix("APP__")?.strip_suffix("_FILE")?;
            Some((key.replace("__", ".").to_lowercase(), PathBuf::from(value)))
        })
        .collect();
    variables.sort();
    files.extend(variables);
    Ok(files)
}

/// A secret file's contents, without the one trailing newline editors and `echo` add.
fn read_secret(path: &Path) -> anyhow::Result<String> {
    let mut value = std::fs::read_to_string(path)
        .with_context(|| format!("reading the secret file {}", path.display()))?;
    if value.ends_with('\n') {
        value.pop();
        if value.ends_with('\r') {
            value.pop();
        }
    }
    Ok(value)
}

/// A provider under another name: the profile says "cloud profile aws" rather than "TOML
/// source string", a secret file its path.
struct Named<P> {
    inner: P,
    metadata: Metadata,
}

impl<P> Named<P> {
    fn new(inner: P, metadata: Metadata) -> Self {
        Self { inner, metadata }
    }
}

impl<P: Provider> Provider for Named<P> {
    fn metadata(&self) -> Metadata {
        self.metadata.clone()
    }

    fn data(&self) -> Result<Map<figment::Profile, Dict>, figment::Error> {
        self.inner.data()
    }
}
