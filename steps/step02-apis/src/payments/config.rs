//! The two sides' settings, in the one `apis.payments` section so a shared key (the service
//! token) has one name: the app reads [`PaymentsClientConfig`] (where the service is, how long
//! a call may take), the `step02-payments` binary reads [`ServiceConfig`] (where to listen, and
//! step 0's `payments` section for the provider behind it). Both come from the same layers
//! (`common::Config::layers`), so one `APP__*` environment serves both processes.

use std::net::SocketAddr;

use anyhow::{Context, bail, ensure};
use common::config::{Environment, PaymentsConfig};
use figment::Figment;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Only ever used in `development`: a fixed, public token, so `cargo xtask run 2` works with
/// no setup. Anywhere else both sides must be given the same real one.
const DEVELOPMENT_SERVICE_TOKEN: &str = "development-only-payments-service-token";

/// Shorter tokens are refused: the token is all that keeps other processes on the network
/// from charging cards.
pub const MIN_SERVICE_TOKEN_LEN: usize = 32;

/// How the app reaches the payments service (`APP__APIS__PAYMENTS__*`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct PaymentsClientConfig {
    /// `http://host:port` of the payments service.
    pub url: String,
    /// The deadline of every call, sent as `grpc-timeout` and enforced here too. Above the
    /// provider's own timeout, so that a slow provider is reported by the service (which knows
    /// why) rather than cut off here.
    pub deadline_ms: u64,
    /// How long opening a connection may take; within the deadline anyway, but a down service
    /// should be noticed quickly.
    pub connect_timeout_ms: u64,
    /// `authorization: Bearer <token>` on every call. Required outside development.
    #[serde(serialize_with = "common::config::redacted")]
    pub service_token: Option<SecretString>,
}

impl Default for PaymentsClientConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:50051".to_owned(),
            deadline_ms: 6_000,
            connect_timeout_ms: 1_000,
            service_token: None,
        }
    }
}

impl PaymentsClientConfig {
    /// Refuses settings that cannot work; `environment` decides whether the development
    /// token may stand in for a missing one.
    pub fn validate(&self, environment: Environment) -> anyhow::Result<()> {
        let uri: tonic::transport::Uri = self
            .url
            .parse()
            .with_context(|| format!("APP__APIS__PAYMENTS__URL {:?} is not a URL", self.url))?;
        ensure!(
            matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some(),
            "APP__APIS__PAYMENTS__URL must look like http://host:port, got {:?}",
            self.url
        );
        ensure!(
            (1..=60_000).contains(&self.deadline_ms),
            "APP__APIS__PAYMENTS__DEADLINE_MS must be between 1 and 60000"
        );
        ensure!(
            (1..=60_000).contains(&self.connect_timeout_ms),
            "APP__APIS__PAYMENTS__CONNECT_TIMEOUT_MS must be between 1 and 60000"
        );
        service_token(self.service_token.as_ref(), environment)?;
        Ok(())
    }

    /// The token to send: the configured one, or the development default (logged as such).
    pub fn token(&self, environment: Environment) -> anyhow::Result<SecretString> {
        let token = service_token(self.service_token.as_ref(), environment)?;
        warn_if_default(self.service_token.as_ref());
        Ok(token)
    }
}

/// Everything the `step02-payments` binary reads: `environment`, step 0's `payments` section
/// (`APP__PAYMENTS__BASE_URL`, `..__API_KEY`, `..__TIMEOUT_MS`: the provider) and its own
/// keys in `apis.payments` (`APP__APIS__PAYMENTS__LISTEN`, `..__SERVICE_TOKEN`).
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct ServiceConfig {
    pub environment: Environment,
    pub payments: PaymentsConfig,
    pub apis: ServiceApis,
}

/// The `apis` section as the service sees it: only `payments`.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct ServiceApis {
    pub payments: ServiceSection,
}

/// The service's keys of `apis.payments`; the app's keys there are ignored.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct ServiceSection {
    /// `host:port` to listen on.
    pub listen: String,
    #[serde(serialize_with = "common::config::redacted")]
    pub service_token: Option<SecretString>,
}

impl Default for ServiceSection {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:50051".to_owned(),
            service_token: None,
        }
    }
}

impl ServiceConfig {
    /// The same layers as the app (`common::Config::layers`), then [`ServiceConfig::validate`].
    pub fn load() -> anyhow::Result<Self> {
        Self::from_figment(common::Config::layers()?)
    }

    pub fn from_figment(figment: Figment) -> anyhow::Result<Self> {
        let config: ServiceConfig = figment
            .extract()
            .context("loading the payments service's configuration")?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        self.listen()?;
        ensure!(
            self.payments.timeout_ms > 0,
            "APP__PAYMENTS__TIMEOUT_MS must be greater than zero"
        );
        ensure!(
            self.payments.base_url.starts_with("http://")
                || self.payments.base_url.starts_with("https://"),
            "APP__PAYMENTS__BASE_URL must start with http:// or https://"
        );
        service_token(self.apis.payments.service_token.as_ref(), self.environment)?;
        Ok(())
    }

    pub fn listen(&self) -> anyhow::Result<SocketAddr> {
        let listen = &self.apis.payments.listen;
        listen.parse().with_context(|| {
            format!("APP__APIS__PAYMENTS__LISTEN must be host:port (e.g. 127.0.0.1:50051), got {listen:?}")
        })
    }

    /// The token callers must present: the configured one, or the development default
    /// (logged as such).
    pub fn token(&self) -> anyhow::Result<SecretString> {
        let configured = self.apis.payments.service_token.as_ref();
        let token = service_token(configured, self.environment)?;
        warn_if_default(configured);
        Ok(token)
    }
}

fn warn_if_default(configured: Option<&SecretString>) {
    if configured.is_none() {
        tracing::warn!("using the public development payments service token");
    }
}

/// One rule for both sides: a configured token must be long enough; none at all is allowed
/// only in development, where the public development token is used (and logged as such).
fn service_token(
    configured: Option<&SecretString>,
    environment: Environment,
) -> anyhow::Result<SecretString> {
    match configured {
        Some(token) if token.expose_secret().len() < MIN_SERVICE_TOKEN_LEN => bail!(
            "APP__APIS__PAYMENTS__SERVICE_TOKEN must be at least {MIN_SERVICE_TOKEN_LEN} bytes"
        ),
        Some(token) if !token.expose_secret().bytes().all(|b| b.is_ascii_graphic()) => bail!(
            "APP__APIS__PAYMENTS__SERVICE_TOKEN must be visible ASCII (it travels in a header)"
        ),
        Some(token) => Ok(token.clone()),
        None if environment == Environment::Development => {
            Ok(SecretString::from(DEVELOPMENT_SERVICE_TOKEN))
        }
        None => bail!(
            "APP__APIS__PAYMENTS__SERVICE_TOKEN is required when environment is {environment:?} \
             (at least {MIN_SERVICE_TOKEN_LEN} bytes, the same for the app and the payments \
             service, e.g. `openssl rand -hex 32`)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn development_defaults_work_for_both_sides() {
        let client = PaymentsClientConfig::default();
        client.validate(Environment::Development).unwrap();
        let service = ServiceConfig::from_figment(common::testing::figment(&[])).unwrap();
        assert_eq!(service.listen().unwrap().port(), 50051);
        assert_eq!(
            client
                .token(Environment::Development)
                .unwrap()
                .expose_secret(),
            service.token().unwrap().expose_secret()
        );
    }

    #[test]
    fn a_missing_token_is_refused_outside_development() {
        let error = PaymentsClientConfig::default()
            .validate(Environment::Production)
            .unwrap_err()
            .to_string();
        assert!(error.contains("SERVICE_TOKEN is required"), "{error}");
        let error =
            ServiceConfig::from_figment(common::testing::figment(&[("environment", "test")]))
                .unwrap_err()
                .to_string();
        assert!(error.contains("SERVICE_TOKEN is required"), "{error}");
    }

    #[test]
    fn a_short_token_is_refused_even_in_development() {
        let client = PaymentsClientConfig {
            service_token: Some(SecretString::from("short")),
            ..Default::default()
        };
        let error = client
            .validate(Environment::Development)
            .unwrap_err()
            .to_string();
        assert!(error.contains("at least 32 bytes"), "{error}");
    }

    #[test]
    fn bad_urls_deadlines_and_listen_addresses_are_refused_with_their_variable() {
        let bad_url = PaymentsClientConfig {
            url: "not a url".to_owned(),
            ..Default::default()
        };
        let error = bad_url.validate(Environment::Development).unwrap_err();
        assert!(format!("{error:#}").contains("APP__APIS__PAYMENTS__URL"));
        let no_deadline = PaymentsClientConfig {
            deadline_ms: 0,
            ..Default::default()
        };
        let error = no_deadline.validate(Environment::Development).unwrap_err();
        assert!(error.to_string().contains("DEADLINE_MS"));
        let error = ServiceConfig::from_figment(common::testing::figment(&[(
            "apis.payments.listen",
            "nowhere",
        )]))
        .unwrap_err();
        assert!(format!("{error:#}").contains("APP__APIS__PAYMENTS__LISTEN"));
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API fixes the error type
    fn the_service_reads_step_0_provider_variables_and_its_own() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("APP__PAYMENTS__BASE_URL", "http://127.0.0.1:4343");
            jail.set_env("APP__PAYMENTS__TIMEOUT_MS", "750");
            jail.set_env("APP__APIS__PAYMENTS__LISTEN", "127.0.0.1:6000");
            jail.set_env("APP__APIS__PAYMENTS__URL", "http://127.0.0.1:6000");
            let service = ServiceConfig::load().map_err(|e| e.to_string())?;
            assert_eq!(service.payments.base_url, "http://127.0.0.1:4343");
            assert_eq!(service.payments.timeout_ms, 750);
            assert_eq!(service.listen().unwrap().port(), 6000);
            Ok(())
        });
    }

    #[test]
    fn tokens_do_not_appear_in_debug_output() {
        let service = ServiceConfig::from_figment(common::testing::figment(&[(
            "apis.payments.service_token",
            "a-very-secret-token-that-is-long-enough",
        )]))
        .unwrap();
        assert!(!format!("{service:?}").contains("a-very-secret"));
    }
}
