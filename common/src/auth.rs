//! Authentication: bcrypt password hashes, HS256 JWT access tokens, and the extractors that
//! turn an `Authorization: Bearer` header into a signed-in user ([`AuthUser`], [`AdminUser`]).
//!
//! This is the roadmap's starting point on purpose: one long-lived token and bcrypt. Step 1
//! replaces both (short-lived access + rotating refresh tokens, argon2id) through the seams
//! here: the [`TokenVerifier`] trait the extractors use and the [`PasswordScheme`] trait.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::AuthConfig;
use crate::domain::{Role, UserId};
use crate::error::Error;

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    pub role: Role,
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
}

/// Checks a bearer token and says who it belongs to. Extractors depend on this trait, not on a
/// key type, so a later step can plug in its own token scheme.
///
/// Two levels, because a token can be valid in itself and still be refused: [`verify`] looks
/// at the token alone (signature, claims; no I/O, so it may be called anywhere, e.g. to pick a
/// rate-limit key), while [`authenticate`], what the extractors call on every authenticated
/// request, may also ask state kept outside the token, such as a list of revoked sessions (step
/// 1 keeps it in memory, step 3 in Redis). It is async so that such a list can live in another
/// process; its error is then the answer (401, or 503 when the list cannot be read).
///
/// [`verify`]: TokenVerifier::verify
/// [`authenticate`]: TokenVerifier::authenticate
#[async_trait::async_trait]
pub trait TokenVerifier: Send + Sync {
    /// The token alone: signature and claims.
    fn verify(&self, token: &str) -> Result<AuthUser, Error>;

    /// The full check of an authenticated request. By default the token alone.
    async fn authenticate(&self, token: &str) -> Result<AuthUser, Error> {
        self.verify(token)
    }
}

/// Issues and verifies HS256 tokens with one shared secret.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    issuer: String,
    ttl_secs: u64,
}

impl JwtKeys {
    pub fn new(config: &AuthConfig) -> Self {
        let secret = config.secret().as_bytes();
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            issuer: config.issuer.clone(),
            ttl_secs: config.token_ttl_secs,
        }
    }

    pub fn ttl_secs(&self) -> u64 {
        self.ttl_secs
    }

    pub fn issue(&self, user: UserId, role: Role) -> anyhow::Result<String> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let claims = Claims {
            sub: user.to_string(),
            role,
            iss: self.issuer.clone(),
            iat: now,
            exp: now + i64::try_from(self.ttl_secs).unwrap_or(i64::MAX / 2),
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.encoding,
        )?)
    }
}

impl TokenVerifier for JwtKeys {
    fn verify(&self, token: &str) -> Result<AuthUser, Error> {
        // The algorithm is pinned: a token whose header says `none` or RS256 is refused
        // before its signature is even looked at.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = 5;
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map_err(|_| Error::Unauthorized)?;
        let id = data
            .claims
            .sub
            .parse::<UserId>()
            .map_err(|_| Error::Unauthorized)?;
        Ok(AuthUser {
            id,
            role: data.claims.role,
        })
    }
}

/// The shared verifier in application state.
pub type Verifier = Arc<dyn TokenVerifier>;

/// A signed-in user, from a valid bearer token. Rejects with 401.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthUser {
    pub id: UserId,
    pub role: Role,
}

impl AuthUser {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// Tokens longer than this are refused unread (nothing legitimate comes close).
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

impl<S> FromRequestParts<S> for AuthUser
where
    Verifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts).ok_or(Error::Unauthorized)?;
        let verifier = Verifier::from_ref(state);
        verifier.authenticate(token).await
    }
}

/// The token of an `Authorization: Bearer <token>` header: `None` for a missing header,
/// another scheme, an empty token or one over [`MAX_TOKEN_LEN`] (refused unread). Every
/// step's authentication extractor starts here.
pub fn bearer_token(parts: &Parts) -> Option<&str> {
    let header = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = header.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && token.len() <= MAX_TOKEN_LEN)
        .then_some(token)
}

/// A signed-in admin. Rejects with 401 when not signed in, 403 when not an admin.
#[derive(Debug, Clone, Copy)]
pub struct AdminUser(pub AuthUser);

impl<S> FromRequestParts<S> for AdminUser
where
    Verifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        if !user.is_admin() {
            return Err(Error::Forbidden);
        }
        Ok(AdminUser(user))
    }
}

/// How passwords are hashed and checked. Step 0 uses bcrypt; step 1 plugs in argon2id and
/// upgrades old bcrypt hashes on login through [`PasswordScheme::needs_rehash`].
#[async_trait::async_trait]
pub trait PasswordScheme: Send + Sync {
    async fn hash(&self, password: String) -> anyhow::Result<String>;
    /// False for a wrong password and for a hash this scheme cannot read.
    async fn verify(&self, password: String, hash: String) -> anyhow::Result<bool>;
    /// Whether a hash that just verified should be replaced by a fresh [`PasswordScheme::hash`]
    /// (an older algorithm or weaker parameters).
    fn needs_rehash(&self, _hash: &str) -> bool {
        false
    }
}

/// bcrypt, run on the blocking pool: a hash takes ~0.25 s at cost 12 and must not stall the
/// async workers that serve other requests.
#[derive(Clone, Copy, Debug)]
pub struct Bcrypt {
    cost: u32,
}

impl Bcrypt {
    pub fn new(cost: u32) -> Self {
        Self { cost }
    }
}

#[async_trait::async_trait]
impl PasswordScheme for Bcrypt {
    async fn hash(&self, password: String) -> anyhow::Result<String> {
        let cost = self.cost;
        Ok(tokio::task::spawn_blocking(move || bcrypt::hash(password, cost)).await??)
    }

    async fn verify(&self, password: String, hash: String) -> anyhow::Result<bool> {
        Ok(
            tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
                .await?,
        )
    }

    /// A hash made with a lower work factor than configured: raising `APP__AUTH__BCRYPT_COST`
    /// upgrades every account at its next login.
    fn needs_rehash(&self, hash: &str) -> bool {
        bcrypt_cost(hash).is_some_and(|cost| cost < self.cost)
    }
}

/// The cost field of a `$2b$12$...` hash.
fn bcrypt_cost(hash: &str) -> Option<u32> {
    hash.split('$').nth(2)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> JwtKeys {
        JwtKeys::new(&AuthConfig {
            jwt_secret: Some("0123456789abcdef0123456789abcdef".to_owned().into()),
            ..AuthConfig::default()
        })
    }

    #[test]
    fn an_issued_token_verifies_to_its_user() {
        let keys = keys();
        let id = UserId::new();
        let token = keys.issue(id, Role::Admin).unwrap();
        assert_eq!(
            keys.verify(&token).unwrap(),
            AuthUser {
                id,
                role: Role::Admin
            }
        );
    }

    #[test]
    fn a_token_from_another_secret_or_issuer_is_refused() {
        let other = JwtKeys::new(&AuthConfig {
            jwt_secret: Some("ffffffffffffffffffffffffffffffff".to_owned().into()),
            ..AuthConfig::default()
        });
        let token = other.issue(UserId::new(), Role::Customer).unwrap();
        assert!(keys().verify(&token).is_err());

        let foreign = JwtKeys {
            issuer: "someone-else".to_owned(),
            ..keys()
        };
        let token = foreign.issue(UserId::new(), Role::Customer).unwrap();
        assert!(keys().verify(&token).is_err());
    }

    #[test]
    fn an_expired_token_is_refused() {
        let keys = JwtKeys {
            ttl_secs: 0,
            ..keys()
        };
        let claims = Claims {
            sub: UserId::new().to_string(),
            role: Role::Customer,
            iss: "stepwise-shop".to_owned(),
            iat: 0,
            exp: time::OffsetDateTime::now_utc().unix_timestamp() - 60,
        };
        let token =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &keys.encoding).unwrap();
        assert!(keys.verify(&token).is_err());
    }

    #[test]
    fn an_unsigned_alg_none_token_is_refused() {
        let keys = keys();
        let token = keys.issue(UserId::new(), Role::Admin).unwrap();
        let mut parts = token.split('.');
        let (_, payload) = (parts.next(), parts.next().unwrap());
        // {"alg":"none","typ":"JWT"}
        let forged = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
        assert!(keys.verify(&forged).is_err());
    }

    #[test]
    fn bcrypt_hashes_below_the_configured_cost_need_a_rehash() {
        let hash = "$2b$04$abcdefghijklmnopqrstuu5bQfpd8FXh4bdnp2qsDxKC2m4kP4f7O";
        assert!(Bcrypt::new(5).needs_rehash(hash));
        assert!(!Bcrypt::new(4).needs_rehash(hash));
        assert!(!Bcrypt::new(12).needs_rehash("not-a-bcrypt-hash"));
    }

    #[tokio::test]
    async fn passwords_verify_only_against_their_own_hash() {
        let hasher = Bcrypt::new(4);
        let hash = hasher.hash("correct horse".to_owned()).await.unwrap();
        assert!(
            hasher
                .verify("correct horse".to_owned(), hash.clone())
                .await
                .unwrap()
        );
        assert!(!hasher.verify("wrong horse".to_owned(), hash).await.unwrap());
        assert!(
            !hasher
                .verify("x".to_owned(), "not-a-hash".to_owned())
                .await
                .unwrap()
        );
    }
}
