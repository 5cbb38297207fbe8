//! Access tokens: short-lived HS256 JWTs signed from a key ring, checked the way RFC 8725
//! asks (the algorithm pinned, every claim required and checked), and refused at once when
//! their session has been revoked on this instance.
//!
//! - Claims: `iss`, `aud`, `sub` (user id), `exp`, `iat`, `nbf`, `jti` (a unique token id),
//!   `sid` (the session, i.e. refresh-token family, it belongs to) and `role`.
//! - The header carries `kid`. Verification looks the key up by `kid` among the ring's keys; a
//!   token without `kid`, with an unknown one, or with one retired from the ring is refused.
//!   Rotation: add the new key, make it `signing_kid`, and remove the old key once the longest
//!   access-token lifetime has passed.
//! - Anything wrong is the same bare 401: the client learns nothing about *what* was wrong.
//!
//! Revocation: an access token is checked without a database round trip, which is why it is
//! short-lived. To make logout take effect before it expires, revoked session ids are kept for
//! one access-token lifetime in a [`SessionRevocations`] list, asked on every authenticated
//! request ([`AccessTokens::check`], behind `TokenVerifier::authenticate`). Step 1's list is
//! in memory ([`RevokedSessions`]): that works for one instance. The list is a trait, and the
//! check async, so that step 3 can keep it in Redis, shared by every instance. Rejected: a
//! local copy fed by Redis pub/sub, which keeps `verify` synchronous but leaves a window in
//! which another instance still accepts a logged-out token, and needs a full reload whenever
//! the subscription drops.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use common::auth::{AuthUser, TokenVerifier};
use common::domain::{Role, UserId};
use common::store::StoreError;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use crate::config::Config;

/// Step 0's bound on a bearer token's length, shared.
pub use common::auth::MAX_TOKEN_LEN;

/// The claims of a step-1 access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    pub sid: String,
    pub role: Role,
}

/// An access token as handed to a client.
#[derive(Debug, Clone)]
pub struct IssuedAccess {
    pub token: String,
    pub expires_in: u64,
}

/// Issues and verifies access tokens. Cheap to clone.
#[derive(Clone)]
pub struct AccessTokens {
    inner: Arc<Inner>,
}

struct Inner {
    signing_kid: String,
    encoding: EncodingKey,
    /// Every key of the ring, by kid: current and not yet retired.
    decoding: HashMap<String, DecodingKey>,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl_secs: u64,
    leeway_secs: u64,
    revocations: Arc<dyn SessionRevocations>,
}

impl AccessTokens {
    /// Tokens signed and checked per `config`, refused once their session is in `revocations`.
    pub fn new(
        config: &Config,
        revocations: impl SessionRevocations + 'static,
    ) -> anyhow::Result<Self> {
        Self::with_revocations(config, Arc::new(revocations))
    }

    /// [`AccessTokens::new`] with a shared list (step 3: the one in Redis).
    pub fn with_revocations(
        config: &Config,
        revocations: Arc<dyn SessionRevocations>,
    ) -> anyhow::Result<Self> {
        let tokens = &config.security.tokens;
        let ring = config.token_keys();
        let signing_kid = config.signing_kid()?;
        let encoding = ring
            .get(&signing_kid)
            .map(|secret| EncodingKey::from_secret(secret.expose_secret().as_bytes()))
            .ok_or_else(|| anyhow::anyhow!("the signing key is not in the ring"))?;
        let decoding = ring
            .iter()
            .map(|(kid, secret)| {
                (
                    kid.clone(),
                    DecodingKey::from_secret(secret.expose_secret().as_bytes()),
                )
            })
            .collect();
        // The algorithm is pinned: whatever the header says, only HS256 is tried.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&config.base.auth.issuer]);
        validation.set_audience(&[&tokens.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = tokens.leeway_secs;
        Ok(Self {
            inner: Arc::new(Inner {
                signing_kid,
                encoding,
                decoding,
                validation,
                issuer: config.base.auth.issuer.clone(),
                audience: tokens.audience.clone(),
                ttl_secs: tokens.access_ttl_secs,
                leeway_secs: tokens.leeway_secs,
                revocations,
            }),
        })
    }

    pub fn ttl_secs(&self) -> u64 {
        self.inner.ttl_secs
    }

    /// How long an access token is accepted at most: its lifetime plus the clock leeway.
    /// A revocation must be remembered this long.
    pub fn accepted_for_secs(&self) -> u64 {
        self.inner.ttl_secs + self.inner.leeway_secs
    }

    pub fn revocations(&self) -> &Arc<dyn SessionRevocations> {
        &self.inner.revocations
    }

    /// A fresh access token for `user` in session `sid`.
    pub fn issue(&self, user: UserId, role: Role, sid: &str) -> anyhow::Result<IssuedAccess> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let claims = AccessClaims {
            iss: self.inner.issuer.clone(),
            aud: self.inner.audience.clone(),
            sub: user.to_string(),
            exp: now + secs(self.inner.ttl_secs),
            iat: now,
            nbf: now,
            jti: uuid::Uuid::new_v4().to_string(),
            sid: sid.to_owned(),
            role,
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.inner.signing_kid.clone());
        Ok(IssuedAccess {
            token: jsonwebtoken::encode(&header, &claims, &self.inner.encoding)?,
            expires_in: self.inner.ttl_secs,
        })
    }

    /// The checked claims of `token`, or `None` for anything wrong with the token itself.
    /// Whether its session has been revoked is not asked here: see [`AccessTokens::check`].
    pub fn claims(&self, token: &str) -> Option<AccessClaims> {
        if token.len() > MAX_TOKEN_LEN {
            return None;
        }
        let header = jsonwebtoken::decode_header(token).ok()?;
        if header.alg != Algorithm::HS256 {
            return None;
        }
        let key = self.inner.decoding.get(header.kid.as_deref()?)?;
        let claims = jsonwebtoken::decode::<AccessClaims>(token, key, &self.inner.validation)
            .ok()?
            .claims;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let leeway = secs(self.inner.leeway_secs);
        if claims.iat > now + leeway || claims.jti.is_empty() || claims.sid.is_empty() {
            return None;
        }
        Some(claims)
    }

    /// What every authenticated request runs: the token's claims, then its session against
    /// the revocation list. A bad or revoked token is a bare 401. A list that cannot answer
    /// is a 503: the check fails safe, refusing a token it cannot vouch for rather than
    /// accepting one that may have been logged out.
    pub async fn check(&self, token: &str) -> Result<AccessClaims, common::Error> {
        let claims = self.claims(token).ok_or(common::Error::Unauthorized)?;
        match self.inner.revocations.is_revoked(&claims.sid).await {
            Ok(false) => Ok(claims),
            Ok(true) => Err(common::Error::Unauthorized),
            Err(error) => Err(StoreError::Unavailable(
                error.context("checking the session of a token"),
            )
            .into()),
        }
    }
}

fn auth_user(claims: &AccessClaims) -> Result<AuthUser, common::Error> {
    let id = claims
        .sub
        .parse::<UserId>()
        .map_err(|_| common::Error::Unauthorized)?;
    Ok(AuthUser {
        id,
        role: claims.role,
    })
}

#[async_trait]
impl TokenVerifier for AccessTokens {
    fn verify(&self, token: &str) -> Result<AuthUser, common::Error> {
        auth_user(&self.claims(token).ok_or(common::Error::Unauthorized)?)
    }

    async fn authenticate(&self, token: &str) -> Result<AuthUser, common::Error> {
        auth_user(&self.check(token).await?)
    }
}

fn secs(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX / 4)
}

/// Where revoked sessions are remembered, for as long as a token of theirs could still be
/// accepted. Errors mean the list could not be read or written (step 3: Redis down or slow);
/// callers fail safe on them.
#[async_trait]
pub trait SessionRevocations: Send + Sync {
    /// Records that session `sid` is revoked: its access tokens are refused from now on, and
    /// (where the list keeps families) its refresh tokens too.
    async fn revoke(&self, sid: &str) -> anyhow::Result<()>;

    /// Whether the access tokens of session `sid` must be refused.
    async fn is_revoked(&self, sid: &str) -> anyhow::Result<bool>;

    /// Whether the refresh-token family `sid` is known to be revoked. The session store stays
    /// the durable authority on refresh, so a list may keep no families (the default): it
    /// answers "not known here", never "not revoked".
    async fn is_family_revoked(&self, _sid: &str) -> anyhow::Result<bool> {
        Ok(false)
    }
}

/// Session ids revoked on this instance, kept for as long as an access token of theirs could
/// still be unexpired. A teaching shortcut: a production system with several instances shares
/// this list (step 3 puts it in Redis) or accepts up to one access-token lifetime of delay.
#[derive(Clone)]
pub struct RevokedSessions {
    /// sid -> when it may be forgotten. A mutex, not a concurrent map: entries are few and
    /// every operation is a short lookup or insert.
    entries: Arc<Mutex<HashMap<String, Instant>>>,
    keep_for: Duration,
}

impl RevokedSessions {
    /// How many entries trigger a sweep of the expired ones on insert.
    const SWEEP_AT: usize = 10_000;

    pub fn new(access_ttl_secs: u64, leeway_secs: u64) -> Self {
        Self {
            entries: Arc::default(),
            keep_for: Duration::from_secs(access_ttl_secs + leeway_secs + 1),
        }
    }

    pub fn revoke(&self, sid: &str) {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= Self::SWEEP_AT {
            entries.retain(|_, until| *until > now);
        }
        entries.insert(sid.to_owned(), now + self.keep_for);
    }

    pub fn is_revoked(&self, sid: &str) -> bool {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(sid)
            .is_some_and(|until| *until > Instant::now())
    }
}

/// In memory, it cannot fail.
#[async_trait]
impl SessionRevocations for RevokedSessions {
    async fn revoke(&self, sid: &str) -> anyhow::Result<()> {
        RevokedSessions::revoke(self, sid);
        Ok(())
    }

    async fn is_revoked(&self, sid: &str) -> anyhow::Result<bool> {
        Ok(RevokedSessions::is_revoked(self, sid))
    }
}
