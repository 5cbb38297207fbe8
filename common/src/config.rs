//! Configuration: defaults, then an optional TOML file (`APP_CONFIG`, default `shop.toml` if it
//! exists), then the environment (`APP__SECTION__KEY`, e.g. `APP__MONGODB__URI`). No global
//! singleton: tests build a `Config` value with random ports and database names.
//!
//! Secrets are `SecretString` (never printed by `Debug`). The JWT secret has a development
//! default only in the `development` environment; anywhere else it must be set.

use std::net::SocketAddr;
use std::ops::Deref;

use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::{Env, Format, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Where the app runs. Controls the safety checks at load time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    #[default]
    Development,
    Test,
    Production,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct Config {
    pub environment: Environment,
    pub server: ServerConfig,
    pub mongodb: MongoConfig,
    pub auth: AuthConfig,
    pub payments: PaymentsConfig,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct ServerConfig {
    pub host: String,
    /// 0 picks a free port (tests).
    pub port: u16,
    /// Larger bodies are refused with 413 before they are read whole.
    pub body_limit_bytes: usize,
    /// A request still running after this is answered 503 (handler timeouts).
    pub request_timeout_ms: u64,
    /// How long a client has to send a request's whole head (request line and headers): from
    /// the connection's start for its first request, from the first byte for a later one. A
    /// connection that has not finished by then is closed. 10 s: a real client sends its head
    /// in one write, so even a lossy mobile link with a few retransmissions finishes in well
    /// under a second, while a client that trickles its headers to hold the connection
    /// (slowloris) holds it for 10 s at most, not forever.
    pub header_read_timeout_ms: u64,
    /// How long a kept-alive connection may wait for its next request (HTTP/1.1) or stream
    /// (HTTP/2) before it is closed. 75 s: longer than the upstream keep-alive of the proxy in
    /// front (`keepalive_timeout 60s` in `docker/nginx/nginx.conf`, 60 s at common cloud load
    /// balancers), so the proxy always closes an idle connection first. The other way round,
    /// the proxy would now and then send a request on a connection this server is closing,
    /// and a POST that nginx does not retry becomes a 502.
    pub idle_timeout_ms: u64,
    /// At most this many connections are served at once; at the cap the server stops
    /// accepting, and new connections wait in the kernel's listen backlog until one closes.
    /// 60,000: a few thousand below the usual open-file limit of 65,536, so connections alone
    /// never exhaust the descriptors that the MongoDB and Redis pools, the listener and the
    /// log files also need ("Too many open files"). Lower it to fit a lower `ulimit -n`.
    pub max_connections: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".to_owned(),
            port: 8080,
            body_limit_bytes: 64 * 1024,
            request_timeout_ms: 30_000,
            header_read_timeout_ms: 10_000,
            idle_timeout_ms: 75_000,
            max_connections: 60_000,
        }
    }
}

impl ServerConfig {
    pub fn addr(&self) -> anyhow::Result<SocketAddr> {
        format!("{}:{}", self.host, self.port)
            .parse()
            .with_context(|| format!("invalid server address {}:{}", self.host, self.port))
    }

    /// Refuses limits that would stop the server from serving: a zero timeout would close
    /// every connection before its first request, a zero cap would accept none. There is no
    /// "0 means off": a server without these limits is the one slow clients could hold.
    fn check_connection_limits(&self) -> anyhow::Result<()> {
        for (key, value) in [
            (
                "APP__SERVER__HEADER_READ_TIMEOUT_MS",
                self.header_read_timeout_ms,
            ),
            ("APP__SERVER__IDLE_TIMEOUT_MS", self.idle_timeout_ms),
            (
                "APP__SERVER__MAX_CONNECTIONS",
                u64::from(self.max_connections),
            ),
        ] {
            if value == 0 {
                bail!("{key} must be at least 1 (0 would serve no request)");
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct MongoConfig {
    /// May hold credentials, hence secret.
    #[serde(serialize_with = "crate::config::redacted")]
    pub uri: SecretString,
    pub database: String,
    /// Server selection and connect timeout: how long a request waits for an unreachable
    /// database before it is answered 503.
    pub timeout_ms: u64,
}

impl Default for MongoConfig {
    fn default() -> Self {
        Self {
            uri: SecretString::from("mongodb://127.0.0.1:27017"),
            database: "shop".to_owned(),
            timeout_ms: 5_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct AuthConfig {
    /// HS256 signing secret, at least 32 bytes. Required outside development.
    #[serde(serialize_with = "crate::config::redacted")]
    pub jwt_secret: Option<SecretString>,
    pub issuer: String,
    pub token_ttl_secs: u64,
    /// bcrypt work factor. 12 in production; tests lower it to keep the suite fast.
    pub bcrypt_cost: u32,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            jwt_secret: None,
            issuer: "stepwise-shop".to_owned(),
            token_ttl_secs: 3600,
            bcrypt_cost: 12,
        }
    }
}

/// Only ever used in `development`, and logged as such at startup.
const DEVELOPMENT_JWT_SECRET: &str = "development-only-secret-never-use-in-production!";

impl AuthConfig {
    pub const MIN_SECRET_LEN: usize = 32;

    pub fn secret(&self) -> &str {
        self.jwt_secret
            .as_ref()
            .map(|s| s.expose_secret())
            .unwrap_or(DEVELOPMENT_JWT_SECRET)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct PaymentsConfig {
    /// The card payment provider's API. Locally, the `payment-sim` simulator.
    pub base_url: String,
    #[serde(serialize_with = "crate::config::redacted")]
    pub api_key: SecretString,
    /// A provider call slower than this is abandoned and answered 503; the order stays
    /// pending and can be paid again (the idempotency key makes the retry safe).
    pub timeout_ms: u64,
}

impl Default for PaymentsConfig {
    fn default() -> Self {
        Self {
            base_url: "http://127.0.0.1:4242".to_owned(),
            api_key: SecretString::from("sk_test_simulator"),
            timeout_ms: 5_000,
        }
    }
}

impl Config {
    /// The file and environment layers every step's configuration is read from, unextracted:
    /// the file named by `APP_CONFIG` (or `shop.toml` when present), then `APP__*` variables.
    /// A later step's larger config (which flattens this one) loads from exactly these, unless
    /// it adds layers of its own ([`StepConfig::layers`]).
    pub fn layers() -> anyhow::Result<Figment> {
        Ok(Figment::new()
            .merge(Self::file_layer()?)
            .merge(Self::environment_layer()))
    }

    /// The file layer: the file `APP_CONFIG` names, which must exist (a typo must not silently
    /// mean defaults), else `./shop.toml`, skipped when missing.
    pub fn file_layer() -> anyhow::Result<figment::providers::Data<Toml>> {
        let file = match std::env::var("APP_CONFIG") {
            Ok(file) if !std::path::Path::new(&file).exists() => {
                bail!("APP_CONFIG names {file}, which does not exist")
            }
            Ok(file) => file,
            Err(_) => "shop.toml".to_owned(),
        };
        Ok(Toml::file(file))
    }

    /// The environment layer: `APP__SECTION__KEY` variables, lowercased into `section.key`.
    pub fn environment_layer() -> Env {
        Env::prefixed("APP__").split("__")
    }
}

/// A step's configuration: step N's holds step N-1's (`#[serde(flatten)]`, reached through
/// `Deref`, so `config.mongodb` or `config.security` read the same at every step) plus its own
/// sections with defaults. Loading is the same for every step; each step says only what it
/// checks.
pub trait StepConfig:
    DeserializeOwned + Serialize + Clone + std::fmt::Debug + Send + Sync + 'static
{
    /// Refuses configurations that would be unsafe to run: the previous step's checks, then
    /// this step's own.
    fn validate(&self) -> anyhow::Result<()>;

    /// Step 0's settings (server, MongoDB, payment provider), however deep they sit.
    fn common(&self) -> &Config;

    /// The layers the configuration is read from, over the defaults: [`Config::layers`] (the
    /// file, then `APP__*` variables) up to step 7; step 8 adds a file per environment, a
    /// cloud profile and secrets.
    fn layers() -> anyhow::Result<Figment> {
        Config::layers()
    }

    /// Whether a key no config struct reads is an error ([`unknown_keys`]) rather than
    /// ignored: from step 8 on, where a deploy is configured by several hands and a misspelt
    /// variable would silently be a default.
    const REFUSES_UNKNOWN_KEYS: bool = false;

    /// Defaults, then [`StepConfig::layers`]; then the checks.
    fn load() -> anyhow::Result<Self> {
        Self::from_figment(Self::layers()?)
    }

    /// Extracts the configuration from `figment`, refuses unknown keys where the step does,
    /// and checks it.
    fn from_figment(figment: Figment) -> anyhow::Result<Self> {
        let config: Self = extract(&figment)?;
        if Self::REFUSES_UNKNOWN_KEYS {
            refuse_unknown_keys(&figment, &config)?;
        }
        config.validate()?;
        Ok(config)
    }
}

/// The configuration of a step built on another (steps 1 to 10): the base step's, flattened
/// and reached through `Deref`, plus this step's sections. [`StepConfig`] comes with it: its
/// checks are the base step's, then [`ExtendsConfig::check`].
pub trait ExtendsConfig:
    DeserializeOwned
    + Serialize
    + Clone
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
    + Deref<Target: StepConfig>
{
    /// This step's own checks (its sections), run after the base step's.
    fn check(&self) -> anyhow::Result<()> {
        Ok(())
    }

    /// This step's layers: the base step's, unless the step adds its own (step 8).
    fn own_layers() -> anyhow::Result<Figment> {
        <Self::Target as StepConfig>::layers()
    }

    /// Whether this step refuses unknown keys: as the base step does, unless it says.
    const STRICT_KEYS: bool = <Self::Target as StepConfig>::REFUSES_UNKNOWN_KEYS;
}

impl<T: ExtendsConfig> StepConfig for T {
    const REFUSES_UNKNOWN_KEYS: bool = T::STRICT_KEYS;

    fn layers() -> anyhow::Result<Figment> {
        T::own_layers()
    }

    fn validate(&self) -> anyhow::Result<()> {
        (**self).validate()?;
        self.check()
    }

    fn common(&self) -> &Config {
        (**self).common()
    }
}

impl StepConfig for Config {
    fn validate(&self) -> anyhow::Result<()> {
        match &self.auth.jwt_secret {
            None if self.environment != Environment::Development => bail!(
                "APP__AUTH__JWT_SECRET is required when environment is {:?} \
                 (at least {} bytes, e.g. `openssl rand -hex 32`)",
                self.environment,
                AuthConfig::MIN_SECRET_LEN
            ),
            Some(secret) if secret.expose_secret().len() < AuthConfig::MIN_SECRET_LEN => bail!(
                "APP__AUTH__JWT_SECRET must be at least {} bytes",
                AuthConfig::MIN_SECRET_LEN
            ),
            _ => {}
        }
        if !(4..=31).contains(&self.auth.bcrypt_cost) {
            bail!("APP__AUTH__BCRYPT_COST must be between 4 and 31");
        }
        if self.environment == Environment::Production && self.auth.bcrypt_cost < 10 {
            bail!("APP__AUTH__BCRYPT_COST below 10 is refused in production");
        }
        self.server.addr()?;
        self.server.check_connection_limits()?;
        Ok(())
    }

    fn common(&self) -> &Config {
        self
    }
}

/// What a secret reads as wherever a configuration is shown (`cargo xtask config N`).
pub const REDACTED: &str = "[redacted]";

/// A configuration value that holds secrets: shown as [`REDACTED`], keeping its shape (a map
/// of key ids keeps its ids, an unset secret stays unset), so that what is shown says which
/// secrets are set without saying what they are.
pub trait Redact {
    fn serialize_redacted<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error>;
}

impl Redact for SecretString {
    fn serialize_redacted<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

impl<T: Redact> Redact for Option<T> {
    fn serialize_redacted<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Some(secret) => secret.serialize_redacted(serializer),
            None => serializer.serialize_none(),
        }
    }
}

impl<K: Serialize, T: Redact> Redact for std::collections::BTreeMap<K, T> {
    fn serialize_redacted<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (key, secret) in self {
            map.serialize_entry(key, &AsRedacted(secret))?;
        }
        map.end()
    }
}

/// A secret inside a container, serialized through [`Redact`].
struct AsRedacted<'a, T>(&'a T);

impl<T: Redact> Serialize for AsRedacted<'_, T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize_redacted(serializer)
    }
}

/// `#[serde(serialize_with = "common::config::redacted")]` on every secret of a config
/// struct: configurations serialize (to be shown, and to check which keys they read) and
/// their secrets never do.
pub fn redacted<T: Redact, S: serde::Serializer>(
    secret: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    secret.serialize_redacted(serializer)
}

/// Every configuration is loaded the same way: extracted from the layers, then checked by its
/// own `validate` (a step's calls the previous step's first). [`StepConfig::from_figment`]
/// is this; step 2's payments service, which is no step, loads its own through it too.
pub fn extract_checked<T: DeserializeOwned>(
    figment: Figment,
    validate: impl FnOnce(&T) -> anyhow::Result<()>,
) -> anyhow::Result<T> {
    let config: T = extract(&figment)?;
    validate(&config)?;
    Ok(config)
}

/// The configuration in `figment`, unchecked. A required key that no layer sets is an error
/// naming the key and the variable that sets it.
pub fn extract<T: DeserializeOwned>(figment: &Figment) -> anyhow::Result<T> {
    figment.extract().map_err(|errors| {
        let lines: Vec<String> = errors
            .into_iter()
            .map(|error| match &error.kind {
                figment::error::Kind::MissingField(field) => {
                    let key = missing_key(figment, &error.path, field);
                    format!(
                        "the required key {key} is not set (set it in the file, as {} or in a \
                         secret)",
                        env_name(&key)
                    )
                }
                _ => error.to_string(),
            })
            .collect();
        anyhow::anyhow!("loading configuration: {}", lines.join("; "))
    })
}

/// The whole key of a missing `field`. Through `#[serde(flatten)]` (every step's
/// configuration) serde reports the field without its section, so the section is found in
/// the layers: a struct only misses a field when some of its keys were set (else its
/// `Default` serves), so it is the one given section that holds values but not `field`.
fn missing_key(figment: &Figment, path: &[String], field: &str) -> String {
    if !path.is_empty() {
        return format!("{}.{field}", path.join("."));
    }
    fn sections(dict: &figment::value::Dict, prefix: &str, field: &str, found: &mut Vec<String>) {
        let holds_values = dict
            .values()
            .any(|v| !matches!(v, figment::value::Value::Dict(..)));
        if holds_values && !prefix.is_empty() && !dict.contains_key(field) {
            found.push(prefix.to_owned());
        }
        for (name, value) in dict {
            if let figment::value::Value::Dict(_, inner) = value {
                let key = if prefix.is_empty() {
                    name.clone()
                } else {
                    format!("{prefix}.{name}")
                };
                sections(inner, &key, field, found);
            }
        }
    }
    let mut found = Vec::new();
    if let Ok(given) = figment.extract::<figment::value::Dict>() {
        sections(&given, "", field, &mut found);
    }
    match found.as_slice() {
        [section] => format!("{section}.{field}"),
        _ => field.to_owned(),
    }
}

/// The variable that sets `key`: `server.port` is `APP__SERVER__PORT`.
pub fn env_name(key: &str) -> String {
    format!("APP__{}", key.replace('.', "__").to_uppercase())
}

/// A key a layer sets that no part of the configuration reads: a typo, or a key of another
/// step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownKey {
    /// The key as the configuration would spell it (`server.port`).
    pub key: String,
    /// Where it was set (`APP__SERVER__PROT (environment)`, `shop.toml`).
    pub source: String,
}

/// Every key `figment` sets that `config`, the configuration read from it, does not have. A
/// config serializes every field it reads (secrets as [`REDACTED`]), flattened sections
/// included, so a key given but absent from the serialized config was read by nothing.
/// Checking the serialized config rather than the input lets serde's `flatten`, which rules
/// out `deny_unknown_fields`, stay.
pub fn unknown_keys<T: Serialize>(
    figment: &Figment,
    config: &T,
) -> anyhow::Result<Vec<UnknownKey>> {
    let given: figment::value::Dict = figment
        .extract()
        .context("reading the configuration's layers")?;
    let read = serde_json::to_value(config).context("serializing the configuration")?;
    let mut unknown = Vec::new();
    collect_unknown(figment, &given, &read, "", &mut unknown);
    Ok(unknown)
}

fn collect_unknown(
    figment: &Figment,
    given: &figment::value::Dict,
    read: &serde_json::Value,
    prefix: &str,
    unknown: &mut Vec<UnknownKey>,
) {
    for (name, value) in given {
        let key = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        match (read.get(name), value) {
            (None, _) if read.is_object() => unknown.push(UnknownKey {
                source: source_of(figment, &key),
                key,
            }),
            (Some(inner), figment::value::Value::Dict(_, dict)) => {
                collect_unknown(figment, dict, inner, &key, unknown)
            }
            // A value where the config holds a value: read (its type checked on extraction).
            _ => {}
        }
    }
}

/// Refuses `config` when `figment` sets keys it does not read, listing each with its source
/// and, where one is close, the key that was probably meant.
pub fn refuse_unknown_keys<T: Serialize>(figment: &Figment, config: &T) -> anyhow::Result<()> {
    let unknown = unknown_keys(figment, config)?;
    if unknown.is_empty() {
        return Ok(());
    }
    let known: Vec<String> = shown(figment, config)
        .into_iter()
        .map(|line| line.key)
        .collect();
    let lines: Vec<String> = unknown
        .iter()
        .map(|u| {
            let close = known
                .iter()
                .filter(|k| strsim::damerau_levenshtein(k, &u.key) <= 2)
                .min_by_key(|k| strsim::damerau_levenshtein(k, &u.key));
            if let Some(meant) = close {
                return format!("{} (from {}; did you mean {meant}?)", u.key, u.source);
            }
            // Nothing close: the keys its section does have, if it is a known one.
            let section = u
                .key
                .rsplit_once('.')
                .map(|(section, _)| format!("{section}."));
            let siblings: Vec<&str> = section
                .iter()
                .flat_map(|section| {
                    known.iter().filter_map(move |k| {
                        k.strip_prefix(section.as_str())
                            .filter(|rest| !rest.contains('.'))
                    })
                })
                .collect();
            match (section, siblings.is_empty()) {
                (Some(section), false) => format!(
                    "{} (from {}; {} has {})",
                    u.key,
                    u.source,
                    section.trim_end_matches('.'),
                    siblings.join(", ")
                ),
                _ => format!("{} (from {})", u.key, u.source),
            }
        })
        .collect();
    bail!(
        "unknown configuration keys, read by nothing: {}. `cargo xtask config N` lists every \
         key this step reads",
        lines.join(", ")
    )
}

/// One key of a resolved configuration, as `cargo xtask config N` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    pub key: String,
    /// JSON: strings quoted, secrets [`REDACTED`], `null` for an unset optional key.
    pub value: String,
    /// The layer that set it, or `default`.
    pub source: String,
}

/// Every key of `config`, resolved from `figment`, with its value and the layer it came from.
pub fn shown<T: Serialize>(figment: &Figment, config: &T) -> Vec<Shown> {
    let mut lines = Vec::new();
    if let Ok(value) = serde_json::to_value(config) {
        collect_shown(figment, &value, "", &mut lines);
    }
    lines
}

fn collect_shown(
    figment: &Figment,
    value: &serde_json::Value,
    prefix: &str,
    lines: &mut Vec<Shown>,
) {
    match value {
        serde_json::Value::Object(map) if !map.is_empty() => {
            for (name, inner) in map {
                let key = if prefix.is_empty() {
                    name.clone()
                } else {
                    format!("{prefix}.{name}")
                };
                collect_shown(figment, inner, &key, lines);
            }
        }
        leaf => lines.push(Shown {
            key: prefix.to_owned(),
            value: leaf.to_string(),
            source: if figment.contains(prefix) {
                source_of(figment, prefix)
            } else {
                "default".to_owned()
            },
        }),
    }
}

/// Where `key`'s value in `figment` came from, in words: the variable for the environment,
/// the path for a file, the provider's name otherwise.
pub fn source_of(figment: &Figment, key: &str) -> String {
    let Some(metadata) = figment.find_metadata(key) else {
        return "default".to_owned();
    };
    if metadata.name.contains("environment") {
        return format!("{} (environment)", env_name(key));
    }
    match &metadata.source {
        Some(figment::Source::File(path)) => format!("{} ({})", path.display(), metadata.name),
        _ => metadata.name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(pairs: &[(&str, &str)]) -> anyhow::Result<Config> {
        Config::from_figment(crate::testing::figment(pairs))
    }

    #[test]
    fn development_runs_with_defaults() {
        let config = load(&[]).unwrap();
        assert_eq!(config.environment, Environment::Development);
        assert_eq!(config.server.port, 8080);
        assert_eq!(config.auth.secret(), DEVELOPMENT_JWT_SECRET);
    }

    #[test]
    fn production_without_a_jwt_secret_is_refused() {
        let error = load(&[("environment", "production")]).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("APP__AUTH__JWT_SECRET is required")
        );
    }

    #[test]
    fn a_short_jwt_secret_is_refused() {
        let error = load(&[("auth.jwt_secret", "short")]).unwrap_err();
        assert!(error.to_string().contains("at least 32 bytes"));
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API fixes the error type
    fn environment_variables_override_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("APP__SERVER__PORT", "9090");
            jail.set_env("APP__MONGODB__DATABASE", "elsewhere");
            let config = Config::load().map_err(|e| e.to_string())?;
            assert_eq!(config.server.port, 9090);
            assert_eq!(config.mongodb.database, "elsewhere");
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API fixes the error type
    fn a_missing_file_named_by_app_config_is_an_error() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("APP_CONFIG", "/nonexistent/shop.toml");
            let error = Config::load().unwrap_err().to_string();
            assert!(error.contains("/nonexistent/shop.toml"), "{error}");
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API fixes the error type
    fn a_config_file_is_read_and_the_environment_overrides_it() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("custom.toml", "[server]\nport = 7000\nhost = \"0.0.0.0\"\n")?;
            jail.set_env("APP_CONFIG", "custom.toml");
            jail.set_env("APP__SERVER__PORT", "7001");
            let config = Config::load().map_err(|e| e.to_string())?;
            assert_eq!(config.server.host, "0.0.0.0");
            assert_eq!(config.server.port, 7001);
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API fixes the error type
    fn zero_connection_limits_are_refused_naming_the_key() {
        for key in [
            "APP__SERVER__HEADER_READ_TIMEOUT_MS",
            "APP__SERVER__IDLE_TIMEOUT_MS",
            "APP__SERVER__MAX_CONNECTIONS",
        ] {
            figment::Jail::expect_with(|jail| {
                jail.set_env(key, "0");
                let error = Config::load().unwrap_err().to_string();
                assert!(error.contains(key), "{key}=0: {error}");
                Ok(())
            });
        }
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API fixes the error type
    fn connection_limits_are_read_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("APP__SERVER__HEADER_READ_TIMEOUT_MS", "2500");
            jail.set_env("APP__SERVER__IDLE_TIMEOUT_MS", "90000");
            jail.set_env("APP__SERVER__MAX_CONNECTIONS", "512");
            let config = Config::load().map_err(|e| e.to_string())?;
            assert_eq!(config.server.header_read_timeout_ms, 2500);
            assert_eq!(config.server.idle_timeout_ms, 90_000);
            assert_eq!(config.server.max_connections, 512);
            Ok(())
        });
    }

    #[test]
    fn secrets_do_not_appear_in_debug_output() {
        let config =
            load(&[("auth.jwt_secret", "a-very-long-secret-value-of-40-bytes-xx")]).unwrap();
        assert!(!format!("{config:?}").contains("a-very-long-secret"));
    }
}
