//! "Sign in with Google": OpenID Connect's authorization code flow through the `oauth2` crate,
//! done the way RFC 9700 (OAuth 2.0 security BCP) asks:
//!
//! - **PKCE (S256)**: the code is useless without the verifier that only this server holds, so
//!   an intercepted code cannot be redeemed.
//! - **One-time `state`**, stored server-side (as a hash) with an expiry and taken atomically
//!   at the callback: a forged, replayed or stale callback is refused. The attempt is also
//!   bound to the browser that started it through an HttpOnly cookie, so an attacker cannot
//!   make a victim's browser complete the attacker's sign-in (login CSRF).
//! - **`nonce`** in the ID token must be the one this attempt sent: a token minted for another
//!   sign-in cannot be injected.
//! - **Exact redirect URI** from configuration, never from the request.
//! - **ID token checks**: RS256 only, signature against the provider's JWKS by `kid`, `iss`,
//!   `aud` = our client id (and `azp` when present), `exp` and `iat` with a small leeway.
//! - **Linking**: a Google identity (`sub`) attaches to the account with the same email only
//!   when Google says the email is verified; an unverified email is refused outright, so
//!   nobody can claim or pre-create an account for an address they do not own.
//! - **`next`**: only a path on this site; an absolute or protocol-relative URL is refused
//!   (open redirect).
//!
//! Provider URLs are configuration with Google's as defaults; the tests point them at a local
//! OpenID provider that signs real RS256 tokens.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::auth::PasswordScheme;
use common::domain::{Email, NewUser, Role, User};
use common::store::mongo::now;
use common::store::{StoreError, UserStore};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    ExtraTokenFields, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    StandardRevocableToken, StandardTokenResponse, TokenUrl,
};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::config::GoogleConfig;
use crate::error::{Error, Result};
use crate::sessions::sha256_hex;
use crate::store::{OAuthAttempt, OAuthStore};

/// The token endpoint's answer: the standard fields plus OpenID Connect's `id_token`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdTokenField {
    pub id_token: Option<String>,
}

impl ExtraTokenFields for IdTokenField {}

type TokenResponse = StandardTokenResponse<IdTokenField, BasicTokenType>;

type OidcClient<HasAuth = EndpointSet, HasToken = EndpointSet> = oauth2::Client<
    BasicErrorResponse,
    TokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    HasAuth,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    HasToken,
>;

/// The claims of an ID token this module reads (the registered ones are checked by
/// `jsonwebtoken`).
#[derive(Debug, Deserialize)]
struct IdClaims {
    sub: String,
    iat: i64,
    email: Option<String>,
    /// Google sends a boolean; some providers a string.
    #[serde(default)]
    email_verified: Option<serde_json::Value>,
    nonce: Option<String>,
    azp: Option<String>,
    name: Option<String>,
}

/// Where the start of a sign-in sends the browser, and the cookie that binds the attempt.
#[derive(Debug)]
pub struct Started {
    pub authorize_url: String,
    pub binding: String,
}

/// How the callback found its user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The Google identity was linked already.
    Known,
    /// Linked now to the account with the same, verified, email.
    Linked,
    /// A new customer account.
    Created,
}

/// Sign in with Google, or `None` inside when no client id is configured. Cheap to clone.
#[derive(Clone)]
pub struct GoogleLogin {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    client: OidcClient,
    /// No redirects (a token endpoint that redirects is misbehaving, and following it would be
    /// server-side request forgery), bounded by `timeout_ms`.
    http: reqwest::Client,
    client_id: String,
    issuers: Vec<String>,
    jwks_url: String,
    /// The provider's keys and when they were fetched.
    jwks: Mutex<Option<(Instant, JwkSet)>>,
    attempt_ttl: time::Duration,
    leeway_secs: u64,
    store: Arc<dyn OAuthStore>,
    users: Arc<dyn UserStore>,
    passwords: Arc<dyn PasswordScheme>,
}

/// Keys are cached this long; an unknown `kid` refetches sooner, at most once per
/// [`JWKS_MIN_REFETCH`], so forged `kid`s cannot make us hammer the provider.
const JWKS_MAX_AGE: Duration = Duration::from_secs(3600);
const JWKS_MIN_REFETCH: Duration = Duration::from_secs(10);
/// Longest accepted `next`.
const MAX_NEXT_LEN: usize = 512;

impl GoogleLogin {
    pub fn disabled() -> Self {
        Self { inner: None }
    }

    pub fn new(
        config: &GoogleConfig,
        leeway_secs: u64,
        store: Arc<dyn OAuthStore>,
        users: Arc<dyn UserStore>,
        passwords: Arc<dyn PasswordScheme>,
    ) -> anyhow::Result<Self> {
        let (Some(client_id), Some(secret)) = (&config.client_id, &config.client_secret) else {
            return Ok(Self::disabled());
        };
        let client =
            OidcClient::<EndpointNotSet, EndpointNotSet>::new(ClientId::new(client_id.clone()))
                .set_client_secret(ClientSecret::new(secret.expose_secret().to_owned()))
                .set_auth_uri(AuthUrl::new(config.auth_url.clone()).context("google.auth_url")?)
                .set_token_uri(TokenUrl::new(config.token_url.clone()).context("google.token_url")?)
                .set_redirect_uri(
                    RedirectUrl::new(config.redirect_url.clone()).context("google.redirect_url")?,
                );
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_millis(config.timeout_ms))
            .build()
            .context("building the identity provider HTTP client")?;
        Ok(Self {
            inner: Some(Arc::new(Inner {
                client,
                http,
                client_id: client_id.clone(),
                issuers: config.issuers.clone(),
                jwks_url: config.jwks_url.clone(),
                jwks: Mutex::new(None),
                attempt_ttl: time::Duration::seconds(
                    i64::try_from(config.attempt_ttl_secs).unwrap_or(600),
                ),
                leeway_secs,
                store,
                users,
                passwords,
            })),
        })
    }

    fn inner(&self) -> Result<&Inner> {
        self.inner
            .as_deref()
            .ok_or(Error::Base(common::Error::NotFound("Google sign-in")))
    }

    /// Starts a sign-in: stores the attempt and says where to send the browser.
    pub async fn start(&self, next: Option<String>) -> Result<Started> {
        let inner = self.inner()?;
        if let Some(next) = &next {
            check_next(next)?;
        }
        let state = random_token();
        let binding = random_token();
        let nonce = random_token();
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, _) = inner
            .client
            .authorize_url(|| CsrfToken::new(state.clone()))
            .add_scope(Scope::new("openid".to_owned()))
            .add_scope(Scope::new("email".to_owned()))
            .add_scope(Scope::new("profile".to_owned()))
            .set_pkce_challenge(challenge)
            .add_extra_param("nonce", &nonce)
            .url();
        inner
            .store
            .insert_attempt(&OAuthAttempt {
                state_hash: sha256_hex(&state),
                binding_hash: sha256_hex(&binding),
                pkce_verifier: verifier.secret().clone(),
                nonce,
                next,
                expires_at: now() + inner.attempt_ttl,
            })
            .await?;
        Ok(Started {
            authorize_url: url.to_string(),
            binding,
        })
    }

    /// Finishes a sign-in: checks the attempt, redeems the code, checks the ID token, and finds,
    /// links or creates the user. Returns the user, how it was found, and the `next` path.
    pub async fn finish(
        &self,
        code: &str,
        state: &str,
        binding: Option<&str>,
    ) -> Result<(User, Outcome, Option<String>)> {
        let inner = self.inner()?;
        let bad_state =
            || Error::invalid_parameter("state", "unknown, already used, or expired sign-in");
        let attempt = inner
            .store
            .take_attempt(&sha256_hex(state))
            .await?
            .ok_or_else(bad_state)?;
        if attempt.expires_at <= now() {
            return Err(bad_state());
        }
        if binding.map(sha256_hex).as_deref() != Some(attempt.binding_hash.as_str()) {
            return Err(Error::invalid_parameter(
                "state",
                "this sign-in was started in another browser",
            ));
        }
        let response = inner
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(attempt.pkce_verifier.clone()))
            .request_async(&inner.http)
            .await
            .map_err(|e| match e {
                // The provider refused the code: unknown, replayed, or PKCE mismatch.
                RequestTokenError::ServerResponse(refusal) => {
                    tracing::debug!(error = ?refusal.error(), "the provider refused the code");
                    Error::unauthorized()
                }
                other => Error::ProviderUnavailable(anyhow::anyhow!("token endpoint: {other}")),
            })?;
        let id_token = response.extra_fields().id_token.clone().ok_or_else(|| {
            Error::ProviderUnavailable(anyhow::anyhow!("the token answer has no id_token"))
        })?;
        let claims = inner.check_id_token(&id_token, &attempt.nonce).await?;
        let (user, outcome) = inner.resolve_user(claims).await?;
        Ok((user, outcome, attempt.next))
    }
}

impl Inner {
    async fn check_id_token(&self, token: &str, nonce: &str) -> Result<IdClaims> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| Error::unauthorized())?;
        if header.alg != Algorithm::RS256 {
            return Err(Error::unauthorized());
        }
        let kid = header.kid.ok_or_else(Error::unauthorized)?;
        let key = self.key(&kid).await?.ok_or_else(Error::unauthorized)?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&self.issuers);
        validation.set_audience(&[&self.client_id]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = self.leeway_secs;
        let claims = jsonwebtoken::decode::<IdClaims>(token, &key, &validation)
            .map_err(|e| {
                tracing::debug!(error = %e, "ID token refused");
                Error::unauthorized()
            })?
            .claims;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let leeway = i64::try_from(self.leeway_secs).unwrap_or(0);
        if claims.iat > now + leeway
            || claims.nonce.as_deref() != Some(nonce)
            || claims
                .azp
                .as_ref()
                .is_some_and(|azp| *azp != self.client_id)
            || claims.sub.is_empty()
        {
            return Err(Error::unauthorized());
        }
        Ok(claims)
    }

    /// The provider's key `kid`, from the cache or a fresh JWKS fetch.
    async fn key(&self, kid: &str) -> Result<Option<DecodingKey>> {
        let mut cache = self.jwks.lock().await;
        let fresh_enough = |fetched: &Instant, max: Duration| fetched.elapsed() < max;
        if let Some((fetched, set)) = cache.as_ref() {
            if let Some(jwk) = set.find(kid) {
                if fresh_enough(fetched, JWKS_MAX_AGE) {
                    return Ok(DecodingKey::from_jwk(jwk).ok());
                }
            } else if fresh_enough(fetched, JWKS_MIN_REFETCH) {
                return Ok(None);
            }
        }
        let set: JwkSet = async {
            self.http
                .get(&self.jwks_url)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await
        }
        .await
        .map_err(|e| Error::ProviderUnavailable(anyhow::anyhow!("fetching the JWKS: {e}")))?;
        let key = set
            .find(kid)
            .and_then(|jwk| DecodingKey::from_jwk(jwk).ok());
        *cache = Some((Instant::now(), set));
        Ok(key)
    }

    async fn resolve_user(&self, claims: IdClaims) -> Result<(User, Outcome)> {
        if let Some(id) = self.store.find_identity("google", &claims.sub).await?
            && let Some(user) = self.users.find_by_id(id).await?
        {
            return Ok((user, Outcome::Known));
        }
        let verified = matches!(claims.email_verified, Some(serde_json::Value::Bool(true)))
            || matches!(&claims.email_verified, Some(serde_json::Value::String(s)) if s == "true");
        if !verified {
            return Err(Error::EmailNotVerified);
        }
        let email = claims
            .email
            .as_deref()
            .and_then(|e| Email::parse(e).ok())
            .ok_or_else(Error::unauthorized)?;
        let (user, outcome) = match self.users.credentials(&email).await? {
            Some(existing) => (existing.user, Outcome::Linked),
            None => {
                let name = claims
                    .name
                    .as_deref()
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(|n| n.chars().take(100).collect())
                    .unwrap_or_else(|| {
                        email
                            .as_str()
                            .split('@')
                            .next()
                            .unwrap_or("Customer")
                            .to_owned()
                    });
                // A hash of a password nobody knows: the account signs in with Google only,
                // and a password login costs the same time as for any other account.
                let password_hash = self.passwords.hash(random_token()).await?;
                let user = self
                    .users
                    .insert(NewUser {
                        email: email.clone(),
                        name,
                        role: Role::Customer,
                        password_hash,
                    })
                    .await
                    .map_err(|e| match e {
                        StoreError::Duplicate(_) => common::Error::conflict(
                            "EMAIL_TAKEN",
                            "an account with this email was created meanwhile; try again",
                        ),
                        other => other.into(),
                    })?;
                (user, Outcome::Created)
            }
        };
        match self
            .store
            .link_identity("google", &claims.sub, user.id, email.as_str())
            .await
        {
            // Two callbacks of one Google account raced; the other one linked it.
            Ok(()) | Err(StoreError::Duplicate(_)) => Ok((user, outcome)),
            Err(e) => Err(e.into()),
        }
    }
}

/// 256 random bits, unpadded base64url.
fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// `next` must be a path on this site: `/orders`, not `https://evil.example`, `//evil.example`
/// (protocol-relative) or `/\evil.example` (which some browsers read as `//`).
pub fn check_next(next: &str) -> Result<()> {
    let ok = next.len() <= MAX_NEXT_LEN
        && next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(|c| c.is_control() || c.is_whitespace());
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_parameter(
            "next",
            "must be a path on this site, starting with a single /",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_accepts_local_paths_only() {
        for good in ["/", "/orders", "/orders?page=2#top"] {
            assert!(check_next(good).is_ok(), "{good}");
        }
        for bad in [
            "https://evil.example/",
            "//evil.example",
            "/\\evil.example",
            "evil.example",
            "javascript:alert(1)",
            "/ok\r\nLocation: https://evil.example",
            "",
        ] {
            assert!(check_next(bad).is_err(), "{bad:?}");
        }
    }
}
