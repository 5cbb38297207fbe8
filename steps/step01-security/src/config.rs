//! Step 1's configuration: step 0's [`common::Config`], flattened, so every step-0 key keeps its
//! name and its `APP__*` variable, plus a `security` section with defaults. Loaded the same
//! layered way: defaults, the TOML file in `APP_CONFIG` (else `shop.toml`), then `APP__*`
//! variables, e.g. `APP__SECURITY__TOKENS__ACCESS_TTL_SECS=600` or
//! `APP__SECURITY__ENCRYPTION__KEYS__K2026=<base64 of 32 random bytes>`.
//!
//! Key rings are maps from key id to secret, so a key is added or retired by adding or removing
//! one variable. Environment keys are lower-cased by figment, so key ids are lower-case.

use std::collections::BTreeMap;

use anyhow::{Context, bail, ensure};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::config::{Environment, ExtendsConfig};
use derive_more::{Deref, DerefMut};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Everything step 1 reads. `base` is step 0's configuration, unchanged; `Deref` reaches it
/// (`config.mongodb`), at this step and every later one.
#[derive(Debug, Clone, Deserialize, Serialize, Default, Deref, DerefMut)]
pub struct Config {
    #[serde(flatten)]
    #[deref]
    #[deref_mut]
    pub base: common::Config,
    #[serde(default)]
    pub security: SecurityConfig,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct SecurityConfig {
    pub tokens: TokenConfig,
    pub passwords: PasswordConfig,
    pub encryption: EncryptionConfig,
    pub google: GoogleConfig,
    pub throttle: ThrottleConfig,
    pub cors: CorsConfig,
    pub headers: HeadersConfig,
}

impl SecurityConfig {
    /// The defaults with one fresh random field-encryption key (`k1`): what a test server
    /// needs, since no key is configured by default and step 1 refuses to start without one.
    pub fn with_random_key() -> Self {
        let mut security = Self::default();
        let key = STANDARD.encode(rand::random::<[u8; 32]>());
        security
            .encryption
            .keys
            .insert("k1".to_owned(), SecretString::from(key));
        security
    }
}

/// Access and refresh tokens (ASVS V3, RFC 8725).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct TokenConfig {
    /// Access-token lifetime. Short, because an access token is checked without a database
    /// round trip and so cannot be recalled everywhere at once.
    pub access_ttl_secs: u64,
    /// How long an unused refresh token stays valid (sliding: each refresh starts a new one).
    pub refresh_ttl_secs: u64,
    /// A session (a refresh-token family) ends this long after sign-in, however active.
    pub session_max_age_secs: u64,
    /// The `aud` claim written and required: which API the token is for.
    pub audience: String,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`.
    pub leeway_secs: u64,
    /// The key that signs new tokens. Defaults to the only key when there is one.
    pub signing_kid: Option<String>,
    /// HS256 keys by key id (`kid`), each at least 32 bytes. Every key here verifies; a key
    /// removed from the ring is retired and its tokens are refused. Empty: one key, `primary`,
    /// holding step 0's `auth.jwt_secret`.
    #[serde(serialize_with = "common::config::redacted")]
    pub keys: BTreeMap<String, SecretString>,
}

impl Default for TokenConfig {
    fn default() -> Self {
        Self {
            access_ttl_secs: 15 * 60,
            refresh_ttl_secs: 14 * 24 * 3600,
            session_max_age_secs: 30 * 24 * 3600,
            audience: "stepwise-shop-api".to_owned(),
            leeway_secs: 5,
            signing_kid: None,
            keys: BTreeMap::new(),
        }
    }
}

/// argon2id parameters; the defaults are OWASP's first recommendation.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct PasswordConfig {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for PasswordConfig {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// AES-256-GCM keys for field encryption.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct EncryptionConfig {
    /// The key new values are encrypted with. Defaults to the only key when there is one.
    pub active_key: Option<String>,
    /// Base64 of 32 random bytes each, by key id. Keep a rotated-out key here until
    /// `rotate-keys` has re-encrypted everything under it.
    #[serde(serialize_with = "common::config::redacted")]
    pub keys: BTreeMap<String, SecretString>,
}

/// Sign in with Google (OpenID Connect, authorization code + PKCE).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct GoogleConfig {
    /// Without a client id, the Google routes answer 404.
    pub client_id: Option<String>,
    #[serde(serialize_with = "common::config::redacted")]
    pub client_secret: Option<SecretString>,
    /// Sent to Google and compared there, character for character, with the registered one.
    pub redirect_url: String,
    pub auth_url: String,
    pub token_url: String,
    pub jwks_url: String,
    /// Accepted `iss` values of ID tokens.
    pub issuers: Vec<String>,
    /// How long a started sign-in may take before its `state` is refused.
    pub attempt_ttl_secs: u64,
    /// Per call to the token and JWKS endpoints.
    pub timeout_ms: u64,
    /// The browser-binding cookie is `Secure` (sent over HTTPS only; browsers exempt
    /// localhost).
    pub cookie_secure: bool,
}

impl Default for GoogleConfig {
    fn default() -> Self {
        Self {
            client_id: None,
            client_secret: None,
            redirect_url: "http://127.0.0.1:8080/api/v1/auth/google/callback".to_owned(),
            auth_url: "https://accounts.google.com/o/oauth2/v2/auth".to_owned(),
            token_url: "https://oauth2.googleapis.com/token".to_owned(),
            jwks_url: "https://www.googleapis.com/oauth2/v3/certs".to_owned(),
            issuers: vec![
                "https://accounts.google.com".to_owned(),
                "accounts.google.com".to_owned(),
            ],
            attempt_ttl_secs: 600,
            timeout_ms: 5_000,
            cookie_secure: true,
        }
    }
}

/// Login throttling: failed attempts counted per account and per client address.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct ThrottleConfig {
    /// Failures are counted in windows of this length; a locked key unlocks when it ends.
    pub window_secs: u64,
    pub max_failures_per_account: u32,
    pub max_failures_per_ip: u32,
    /// Take the client address from the first `X-Forwarded-For` entry. Only behind a proxy
    /// that sets it (step 4's nginx); anywhere else a client would choose its own address.
    pub trust_forwarded_for: bool,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            window_secs: 15 * 60,
            max_failures_per_account: 5,
            max_failures_per_ip: 50,
            trust_forwarded_for: false,
        }
    }
}

/// Cross-origin access for browser front ends on other origins.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct CorsConfig {
    /// Exact origins (`https://shop.example.com`). Empty: no cross-origin access at all.
    pub allowed_origins: Vec<String>,
    /// How long a browser may cache a preflight answer.
    pub max_age_secs: u64,
}

impl Default for CorsConfig {
    fn default() -> Self {
        Self {
            allowed_origins: Vec::new(),
            max_age_secs: 600,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct HeadersConfig {
    /// Send `Strict-Transport-Security`. Browsers ignore it over plain HTTP, so it is on by
    /// default; turn it off only when a proxy in front sets its own.
    pub hsts: bool,
}

impl Default for HeadersConfig {
    fn default() -> Self {
        Self { hsts: true }
    }
}

/// The key id of the one token key made from `auth.jwt_secret` when no ring is configured.
pub const DEFAULT_TOKEN_KID: &str = "primary";

/// Only ever used in `development`: a fixed, public field-encryption key, so `cargo xtask run 1`
/// works without setup. Anything encrypted with it is as good as plain text.
const DEVELOPMENT_ENCRYPTION_KEY: &str = "ZGV2ZWxvcG1lbnQtb25seS1rZXktMzItYnl0ZXMhISE=";
const DEVELOPMENT_ENCRYPTION_KID: &str = "dev";

impl ExtendsConfig for Config {
    /// Step 1's own checks (step 0's run first): refuses configurations that would be unsafe to run.
    fn check(&self) -> anyhow::Result<()> {
        let production = self.base.environment == Environment::Production;
        let tokens = &self.security.tokens;
        ensure!(
            (60..=3600).contains(&tokens.access_ttl_secs),
            "APP__SECURITY__TOKENS__ACCESS_TTL_SECS must be between 60 and 3600"
        );
        ensure!(
            tokens.refresh_ttl_secs >= tokens.access_ttl_secs
                && tokens.session_max_age_secs >= tokens.refresh_ttl_secs,
            "token lifetimes must grow: access <= refresh <= session max age"
        );
        ensure!(
            tokens.leeway_secs <= 60,
            "APP__SECURITY__TOKENS__LEEWAY_SECS must be at most 60"
        );
        ensure!(
            !tokens.audience.trim().is_empty(),
            "the token audience must not be empty"
        );
        let ring = self.token_keys();
        for (kid, secret) in &ring {
            check_kid("token key", kid)?;
            ensure!(
                secret.expose_secret().len() >= common::config::AuthConfig::MIN_SECRET_LEN,
                "token key {kid:?} must be at least {} bytes",
                common::config::AuthConfig::MIN_SECRET_LEN
            );
        }
        self.signing_kid()?;

        let passwords = &self.security.passwords;
        argon2::Params::new(
            passwords.memory_kib,
            passwords.iterations,
            passwords.parallelism,
            None,
        )
        .map_err(|e| anyhow::anyhow!("invalid argon2 parameters: {e}"))?;
        if production && (passwords.memory_kib < 19_456 || passwords.iterations < 2) {
            bail!("argon2 parameters below OWASP's m=19456 KiB, t=2 are refused in production");
        }

        let encryption = &self.security.encryption;
        if encryption.keys.is_empty() && self.base.environment != Environment::Development {
            bail!(
                "APP__SECURITY__ENCRYPTION__KEYS__<KID> is required when environment is {:?} \
                 (base64 of 32 random bytes, e.g. `openssl rand -base64 32`)",
                self.base.environment
            );
        }
        for kid in self.encryption_keys()?.keys() {
            check_kid("encryption key", kid)?;
        }
        self.active_encryption_kid()?;

        let google = &self.security.google;
        if google.client_id.is_some() && google.client_secret.is_none() {
            bail!("APP__SECURITY__GOOGLE__CLIENT_SECRET is required with a client id");
        }
        for (name, url) in [
            ("redirect_url", &google.redirect_url),
            ("auth_url", &google.auth_url),
            ("token_url", &google.token_url),
            ("jwks_url", &google.jwks_url),
        ] {
            let parsed = oauth2::url::Url::parse(url)
                .with_context(|| format!("APP__SECURITY__GOOGLE__{} is not a URL", name))?;
            ensure!(
                matches!(parsed.scheme(), "http" | "https"),
                "APP__SECURITY__GOOGLE__{name} must be http(s)"
            );
            if production && google.client_id.is_some() {
                ensure!(
                    parsed.scheme() == "https",
                    "APP__SECURITY__GOOGLE__{name} must be https in production"
                );
            }
        }
        ensure!(
            !google.issuers.is_empty(),
            "at least one accepted ID-token issuer is required"
        );

        let throttle = &self.security.throttle;
        ensure!(
            throttle.window_secs > 0
                && throttle.max_failures_per_account > 0
                && throttle.max_failures_per_ip > 0,
            "throttle window and limits must be positive"
        );
        for origin in &self.security.cors.allowed_origins {
            let url = oauth2::url::Url::parse(origin)
                .with_context(|| format!("CORS origin {origin:?} is not a URL"))?;
            ensure!(
                url.origin().ascii_serialization() == *origin,
                "CORS origin {origin:?} must be exactly scheme://host[:port], no path or slash"
            );
        }
        Ok(())
    }
}

impl Config {
    /// The token key ring: the configured one, or step 0's secret under [`DEFAULT_TOKEN_KID`].
    pub fn token_keys(&self) -> BTreeMap<String, SecretString> {
        if self.security.tokens.keys.is_empty() {
            BTreeMap::from([(
                DEFAULT_TOKEN_KID.to_owned(),
                SecretString::from(self.base.auth.secret().to_owned()),
            )])
        } else {
            self.security.tokens.keys.clone()
        }
    }

    /// The key id that signs new access tokens.
    pub fn signing_kid(&self) -> anyhow::Result<String> {
        let ring = self.token_keys();
        pick_active(
            "APP__SECURITY__TOKENS__SIGNING_KID",
            &self.security.tokens.signing_kid,
            &ring,
        )
    }

    /// The field-encryption keys, decoded: exactly 32 bytes each.
    pub fn encryption_keys(&self) -> anyhow::Result<BTreeMap<String, [u8; 32]>> {
        let configured = &self.security.encryption.keys;
        let development = self.base.environment == Environment::Development;
        let source: BTreeMap<String, SecretString> = if configured.is_empty() && development {
            BTreeMap::from([(
                DEVELOPMENT_ENCRYPTION_KID.to_owned(),
                SecretString::from(DEVELOPMENT_ENCRYPTION_KEY),
            )])
        } else {
            configured.clone()
        };
        source
            .into_iter()
            .map(|(kid, secret)| {
                let bytes = STANDARD
                    .decode(secret.expose_secret().trim())
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .with_context(|| {
                        format!("encryption key {kid:?} must be base64 of exactly 32 bytes")
                    })?;
                Ok((kid, bytes))
            })
            .collect()
    }

    /// The key id new values are encrypted with.
    pub fn active_encryption_kid(&self) -> anyhow::Result<String> {
        let keys = self.encryption_keys()?;
        pick_active(
            "APP__SECURITY__ENCRYPTION__ACTIVE_KEY",
            &self.security.encryption.active_key,
            &keys,
        )
    }
}

/// The chosen key id, which must be in the ring; without a choice, the ring's only key.
fn pick_active<V>(
    variable: &str,
    chosen: &Option<String>,
    ring: &BTreeMap<String, V>,
) -> anyhow::Result<String> {
    match chosen {
        Some(kid) if ring.contains_key(kid) => Ok(kid.clone()),
        Some(kid) => bail!("{variable} names {kid:?}, which is not in the key ring"),
        None if ring.len() == 1 => Ok(ring.keys().next().cloned().unwrap_or_default()),
        None if ring.is_empty() => bail!("{variable}: the key ring is empty"),
        None => bail!("{variable} is required when the key ring holds several keys"),
    }
}

/// Key ids travel in token headers and stored documents: keep them short and plain.
fn check_kid(what: &str, kid: &str) -> anyhow::Result<()> {
    ensure!(
        !kid.is_empty()
            && kid.len() <= 64
            && kid
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')),
        "{what} id {kid:?} must be 1 to 64 of A-Z a-z 0-9 - _ ."
    );
    Ok(())
}

#[cfg(test)]
mod tests;
