//! Step 1's persistence, behind traits like step 0's: sessions and refresh tokens, the audit
//! log, Google sign-in attempts and linked identities, and encrypted profiles. The MongoDB
//! implementations are in [`mongo`]; step 3 can move sessions to Redis behind the same trait.
//!
//! What is stored, and why in that form:
//! - refresh tokens only as their SHA-256 (a database dump yields nothing usable; the token is
//!   256 random bits, so a fast hash is enough, unlike a password);
//! - sign-in attempts by the SHA-256 of their `state`, with PKCE verifier and nonce, and an
//!   expiry (a TTL index cleans them up; reads check the expiry too, as TTL runs lazily);
//! - profile fields only as AES-256-GCM ciphertexts, base64 strings with their key id.

pub mod mongo;

use async_trait::async_trait;
use common::domain::UserId;
use common::store::StoreResult;
use time::OffsetDateTime;

/// One session: a refresh-token family, started by one sign-in.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    /// 24 hex characters; the `sid` claim of its access tokens.
    pub id: String,
    pub user_id: UserId,
    pub created_at: OffsetDateTime,
    pub last_used_at: OffsetDateTime,
    /// The family ends here, however often it is refreshed.
    pub expires_at: OffsetDateTime,
    pub revoked: bool,
    /// How the session started (`password`, `google`) and what client it was.
    pub method: String,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshStatus {
    /// May be exchanged, once.
    Active,
    /// Exchanged already: presenting it again is reuse.
    Rotated,
    /// Its family was revoked.
    Revoked,
}

impl RefreshStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Rotated => "rotated",
            Self::Revoked => "revoked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "active" => Self::Active,
            "rotated" => Self::Rotated,
            "revoked" => Self::Revoked,
            _ => return None,
        })
    }
}

/// A refresh token, as stored: its hash, never the token.
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshRecord {
    /// SHA-256 of the token, hex.
    pub hash: String,
    pub session_id: String,
    pub user_id: UserId,
    pub status: RefreshStatus,
    pub issued_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn create_session(&self, session: &SessionRecord) -> StoreResult<()>;
    async fn get_session(&self, id: &str) -> StoreResult<Option<SessionRecord>>;
    /// Records use at a refresh.
    async fn touch_session(&self, id: &str, at: OffsetDateTime) -> StoreResult<()>;
    /// The user's sessions that are neither revoked nor expired, newest first.
    async fn active_sessions(&self, user: UserId) -> StoreResult<Vec<SessionRecord>>;
    /// Revokes the session and every refresh token of it. False when it was not active (or
    /// does not belong to `user`).
    async fn revoke_session(&self, user: UserId, id: &str) -> StoreResult<bool>;
    async fn insert_refresh(&self, token: &RefreshRecord) -> StoreResult<()>;
    /// The one atomic step of rotation: moves the token from active to rotated and returns
    /// it, or `None` when it was not active (unknown, already rotated, revoked). Two
    /// concurrent calls with one hash: exactly one gets `Some`.
    async fn take_refresh(&self, hash: &str) -> StoreResult<Option<RefreshRecord>>;
    async fn find_refresh(&self, hash: &str) -> StoreResult<Option<RefreshRecord>>;
}

/// A security-relevant event, for people investigating an incident.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// `refresh_token_reuse`, `password_changed`, `google_linked`, `sessions_revoked`, ...
    pub kind: String,
    pub user_id: Option<UserId>,
    pub session_id: Option<String>,
    pub ip: Option<String>,
    pub at: OffsetDateTime,
    /// Free text; never secrets.
    pub detail: String,
}

#[async_trait]
pub trait AuditLog: Send + Sync {
    async fn record(&self, event: AuditEvent) -> StoreResult<()>;
    async fn for_user(&self, user: UserId) -> StoreResult<Vec<AuditEvent>>;
}

/// A started Google sign-in, waiting for its callback.
#[derive(Debug, Clone, PartialEq)]
pub struct OAuthAttempt {
    /// SHA-256 of `state`, hex: the state itself is a bearer secret for the callback.
    pub state_hash: String,
    /// SHA-256 of the browser-binding cookie value, hex.
    pub binding_hash: String,
    pub pkce_verifier: String,
    pub nonce: String,
    /// Where to send the user afterwards: a path on this site, never another origin.
    pub next: Option<String>,
    pub expires_at: OffsetDateTime,
}

#[async_trait]
pub trait OAuthStore: Send + Sync {
    async fn insert_attempt(&self, attempt: &OAuthAttempt) -> StoreResult<()>;
    /// Removes and returns the attempt: a state works once, even when two callbacks race.
    async fn take_attempt(&self, state_hash: &str) -> StoreResult<Option<OAuthAttempt>>;
    /// The user an external identity (`google`, `sub`) is linked to.
    async fn find_identity(&self, provider: &str, subject: &str) -> StoreResult<Option<UserId>>;
    /// Fails with `Duplicate` when the identity is linked already.
    async fn link_identity(
        &self,
        provider: &str,
        subject: &str,
        user: UserId,
        email: &str,
    ) -> StoreResult<()>;
}

/// One value encrypted with AES-256-GCM: key id, nonce and ciphertext (with its tag), the last
/// two base64 (BSON binary would do, but the local stand-in server loses binary subtypes).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Sealed {
    pub kid: String,
    pub nonce: String,
    pub ct: String,
}

/// A profile as stored: every sensitive field sealed.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredProfile {
    pub user_id: UserId,
    /// The key every field of this document is sealed with (each [`Sealed`] names it too):
    /// what key rotation queries on.
    pub kid: String,
    /// Bumped on every write: rotation writes only if nobody wrote in between.
    pub version: i64,
    pub phone: Option<Sealed>,
    pub shipping_addresses: Option<Sealed>,
    pub payment_method: Option<Sealed>,
    pub updated_at: OffsetDateTime,
}

#[async_trait]
pub trait ProfileStore: Send + Sync {
    async fn get(&self, user: UserId) -> StoreResult<Option<StoredProfile>>;
    /// Writes `profile` if the stored version is still `expected` (`None`: no document yet).
    /// False when someone else wrote first.
    async fn put(&self, profile: &StoredProfile, expected: Option<i64>) -> StoreResult<bool>;
    /// Up to `limit` profiles not sealed with `kid`, with ids after `after`, in id order.
    async fn not_sealed_with(
        &self,
        kid: &str,
        after: Option<UserId>,
        limit: u32,
    ) -> StoreResult<Vec<StoredProfile>>;
}
