//! Sessions: every sign-in starts a *family* of refresh tokens; each refresh retires the token
//! it was given and hands out the next one of the same family (RFC 9700 §4.14.2, refresh token
//! rotation). A retired token presented again means two parties hold the family, the user and
//! a thief, and the server cannot tell which is which: it revokes the whole family, so both
//! must sign in again, and records an audit event.
//!
//! Rotation is one atomic `find_one_and_update` from `active` to `rotated`, so of two
//! concurrent refreshes with one token exactly one wins; the loser looks like a reuse and
//! revokes the family, the winner's new token included. Never two live branches; a client
//! must not refresh the same token twice in parallel.
//!
//! Refresh tokens are 256 random bits, stored only as their SHA-256. Access tokens name their
//! session (`sid`), so logging out revokes exactly this device's family, and a revoked
//! family's access tokens are refused at once wherever the revocation list reaches
//! ([`SessionRevocations`]: this instance in step 1, every instance in step 3).
//!
//! Revoking writes MongoDB first (the durable record, and the proof that the session is the
//! caller's: anyone may *name* any session id), then the revocation list. If the list cannot
//! be written the revocation answers 503 and may simply be repeated: a session that is
//! already revoked in MongoDB is written to the list again.
//!
//! [`SessionRevocations`]: crate::tokens::SessionRevocations

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::domain::{User, UserId};
use common::store::mongo::now;
use common::store::{StoreError, UserStore};
use mongodb::bson::oid::ObjectId;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::error::{Error, Result};
use crate::store::{
    AuditEvent, AuditLog, RefreshRecord, RefreshStatus, SessionRecord, SessionStore,
};
use crate::tokens::{AccessTokens, IssuedAccess};

/// Who is on the other end of a request, for session records, audit events and throttling.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: String,
    pub user_agent: Option<String>,
}

/// What a sign-in or a refresh hands out.
#[derive(Debug, Clone)]
pub struct TokenPair {
    pub access: IssuedAccess,
    pub refresh_token: String,
    pub refresh_expires_in: u64,
    pub session_id: String,
}

#[derive(Clone)]
pub struct Sessions {
    store: Arc<dyn SessionStore>,
    audit: Arc<dyn AuditLog>,
    users: Arc<dyn UserStore>,
    tokens: AccessTokens,
    refresh_ttl: Duration,
    max_age: Duration,
}

/// A refresh token is 32 random bytes in unpadded base64url: 43 characters.
const REFRESH_TOKEN_LEN: usize = 43;

/// SHA-256, hex. Enough for a 256-bit random token: nothing to brute-force, unlike a password.
pub fn sha256_hex(value: &str) -> String {
    Sha256::digest(value.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn secs(d: Duration) -> u64 {
    u64::try_from(d.whole_seconds()).unwrap_or(0)
}

impl Sessions {
    pub fn new(
        store: Arc<dyn SessionStore>,
        audit: Arc<dyn AuditLog>,
        users: Arc<dyn UserStore>,
        tokens: AccessTokens,
        refresh_ttl_secs: u64,
        max_age_secs: u64,
    ) -> Self {
        let duration = |s: u64| Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 4));
        Self {
            store,
            audit,
            users,
            tokens,
            refresh_ttl: duration(refresh_ttl_secs),
            max_age: duration(max_age_secs),
        }
    }

    pub fn audit(&self) -> &Arc<dyn AuditLog> {
        &self.audit
    }

    pub fn access_tokens(&self) -> &AccessTokens {
        &self.tokens
    }

    /// Starts a new session (a new family) for a user who just proved who they are.
    #[tracing::instrument(skip_all, fields(user = %user.id, method))]
    pub async fn start(&self, user: &User, method: &str, client: &ClientInfo) -> Result<TokenPair> {
        let now = now();
        let session = SessionRecord {
            id: ObjectId::new().to_hex(),
            user_id: user.id,
            created_at: now,
            last_used_at: now,
            expires_at: now + self.max_age,
            revoked: false,
            method: method.to_owned(),
            user_agent: client.user_agent.clone(),
            ip: Some(client.ip.clone()),
        };
        self.store.create_session(&session).await?;
        self.next_pair(user, &session, now).await
    }

    /// The next token of `session`'s family and a fresh access token.
    async fn next_pair(
        &self,
        user: &User,
        session: &SessionRecord,
        now: OffsetDateTime,
    ) -> Result<TokenPair> {
        let token = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
        let expires_at = (now + self.refresh_ttl).min(session.expires_at);
        self.store
            .insert_refresh(&RefreshRecord {
                hash: sha256_hex(&token),
                session_id: session.id.clone(),
                user_id: user.id,
                status: RefreshStatus::Active,
                issued_at: now,
                expires_at,
            })
            .await?;
        Ok(TokenPair {
            access: self.tokens.issue(user.id, user.role, &session.id)?,
            refresh_token: token,
            refresh_expires_in: secs(expires_at - now),
            session_id: session.id.clone(),
        })
    }

    /// `POST /auth/refresh`: exchanges a refresh token for a new pair, once. Any problem is a
    /// bare 401; a reused token also revokes its family.
    #[tracing::instrument(skip_all)]
    pub async fn refresh(&self, token: &str, client: &ClientInfo) -> Result<(User, TokenPair)> {
        if token.len() != REFRESH_TOKEN_LEN
            || !token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(Error::unauthorized());
        }
        let hash = sha256_hex(token);
        let Some(record) = self.store.take_refresh(&hash).await? else {
            return Err(self.refused(&hash, client).await);
        };
        let now = now();
        if record.expires_at <= now {
            return Err(Error::unauthorized());
        }
        // The revocation list may know first; if it cannot answer, the session record below
        // still decides, so a refresh never depends on the list being up.
        match self
            .tokens
            .revocations()
            .is_family_revoked(&record.session_id)
            .await
        {
            Ok(true) => return Err(Error::unauthorized()),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "revocation list unavailable; the session record decides")
            }
        }
        let session = match self.store.get_session(&record.session_id).await? {
            Some(s) if !s.revoked && s.expires_at > now && s.user_id == record.user_id => s,
            _ => return Err(Error::unauthorized()),
        };
        let Some(user) = self.users.find_by_id(record.user_id).await? else {
            self.revoke(record.user_id, &session.id).await?;
            return Err(Error::unauthorized());
        };
        let pair = self.next_pair(&user, &session, now).await?;
        if let Err(e) = self.store.touch_session(&session.id, now).await {
            tracing::warn!(error = %e, "could not record session use");
        }
        Ok((user, pair))
    }

    /// Why a token that could not be taken is refused; detects reuse on the way.
    async fn refused(&self, hash: &str, client: &ClientInfo) -> Error {
        match self.store.find_refresh(hash).await {
            Ok(Some(record)) if record.status == RefreshStatus::Rotated => {
                tracing::warn!(
                    session = %record.session_id,
                    user = %record.user_id,
                    "refresh token reuse: revoking the whole family"
                );
                if let Err(e) = self.revoke(record.user_id, &record.session_id).await {
                    return e;
                }
                let event = AuditEvent {
                    kind: "refresh_token_reuse".to_owned(),
                    user_id: Some(record.user_id),
                    session_id: Some(record.session_id.clone()),
                    ip: Some(client.ip.clone()),
                    at: now(),
                    detail: "a rotated refresh token was presented again; session revoked"
                        .to_owned(),
                };
                if let Err(e) = self.audit.record(event).await {
                    tracing::error!(error = %e, "could not record the reuse audit event");
                }
                Error::unauthorized()
            }
            Ok(_) => Error::unauthorized(),
            Err(e) => e.into(),
        }
    }

    /// Revokes one session and its tokens; true when it was active and the user's.
    pub async fn revoke(&self, user: UserId, session_id: &str) -> Result<bool> {
        let revoked = self.store.revoke_session(user, session_id).await?;
        // Only a session that really is this user's: anyone may *name* any session id. One
        // revoked earlier is listed again, in case that earlier listing failed.
        let owned = revoked
            || matches!(
                self.store.get_session(session_id).await?,
                Some(s) if s.user_id == user && s.revoked
            );
        if owned {
            self.tokens
                .revocations()
                .revoke(session_id)
                .await
                .map_err(|e| {
                    common::Error::from(StoreError::Unavailable(
                        e.context("listing a revoked session"),
                    ))
                })?;
        }
        Ok(revoked)
    }

    /// Revokes every active session of the user but `keep`; returns how many.
    pub async fn revoke_all(&self, user: UserId, keep: Option<&str>) -> Result<usize> {
        let mut count = 0;
        for session in self.store.active_sessions(user).await? {
            if Some(session.id.as_str()) != keep && self.revoke(user, &session.id).await? {
                count += 1;
            }
        }
        Ok(count)
    }

    /// The user's live sessions, newest first.
    pub async fn list(&self, user: UserId) -> Result<Vec<SessionRecord>> {
        Ok(self.store.active_sessions(user).await?)
    }

    /// Best effort: an audit event that cannot be written is logged, not fatal.
    pub async fn record(
        &self,
        kind: &str,
        user: UserId,
        session: Option<&str>,
        client: &ClientInfo,
        detail: &str,
    ) {
        let event = AuditEvent {
            kind: kind.to_owned(),
            user_id: Some(user),
            session_id: session.map(str::to_owned),
            ip: Some(client.ip.clone()),
            at: now(),
            detail: detail.to_owned(),
        };
        if let Err(e) = self.audit.record(event).await {
            tracing::error!(error = %e, kind, "could not record an audit event");
        }
    }
}
