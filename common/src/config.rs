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
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// Where the app runs. Controls the safety checks at load time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    #[default]
    Development,
    Test,
    Production,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct Config {
    pub environment: Environment,
    pub server: ServerConfig,
    pub mongodb: MongoConfig,
    pub auth: AuthConfig,
    pub payments: PaymentsConfig,
}

#[derive(Debug, Clone, Deserialize)]
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

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct MongoConfig {
    /// May hold credentials, hence secret.
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

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    /// HS256 signing secret, at least 32 bytes. Required outside development.
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

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct PaymentsConfig {
    /// The card payment provider's API. Locally, the `payment-sim` simulator.
    pub base_url: String,
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
    /// A later step's larger config (which flattens this one) loads from exactly these.
    pub fn layers() -> anyhow::Result<Figment> {
        let file = match std::env::var("APP_CONFIG") {
            // Named explicitly, the file must exist: a typo must not silently mean defaults.
            Ok(file) if !std::path::Path::new(&file).exists() => {
                bail!("APP_CONFIG names {file}, which does not exist")
            }
            Ok(file) => file,
            Err(_) => "shop.toml".to_owned(),
        };
        Ok(Figment::new()
            .merge(Toml::file(file))
            .merge(Env::prefixed("APP__").split("__")))
    }
}

/// A step's configuration: step N's holds step N-1's (`#[serde(flatten)]`, reached through
/// `Deref`, so `config.mongodb` or `config.security` read the same at every step) plus its own
/// sections with defaults. Loading is the same for every step; each step says only what it
/// checks.
pub trait StepConfig: DeserializeOwned + Clone + std::fmt::Debug + Send + Sync + 'static {
    /// Refuses configurations that would be unsafe to run: the previous step's checks, then
    /// this step's own.
    fn validate(&self) -> anyhow::Result<()>;

    /// Step 0's settings (server, MongoDB, payment provider), however deep they sit.
    fn common(&self) -> &Config;

    /// Defaults, then [`Config::layers`] (the file, then `APP__*` variables); then the checks.
    fn load() -> anyhow::Result<Self> {
        Self::from_figment(Config::layers()?)
    }

    /// Extracts the configuration from `figment` and checks it.
    fn from_figment(figment: Figment) -> anyhow::Result<Self> {
        extract_checked(figment, Self::validate)
    }
}

/// The configuration of a step built on another (steps 1 to 10): the base step's, flattened
/// and reached through `Deref`, plus this step's sections. [`StepConfig`] comes with it: its
/// checks are the base step's, then [`ExtendsConfig::check`].
pub trait ExtendsConfig:
    DeserializeOwned + Clone + std::fmt::Debug + Send + Sync + 'static + Deref<Target: StepConfig>
{
    /// This step's own checks (its sections), run after the base step's.
    fn check(&self) -> anyhow::Result<()> {
        Ok(())
    }
}

impl<T: ExtendsConfig> StepConfig for T {
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

/// Every configuration is loaded the same way: extracted from the layers, then checked by its
/// own `validate` (a step's calls the previous step's first). [`StepConfig::from_figment`]
/// is this; step 2's payments service, which is no step, loads its own through it too.
pub fn extract_checked<T: DeserializeOwned>(
    figment: Figment,
    validate: impl FnOnce(&T) -> anyhow::Result<()>,
) -> anyhow::Result<T> {
    let config: T = figment.extract().context("loading configuration")?;
    validate(&config)?;
    Ok(config)
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
