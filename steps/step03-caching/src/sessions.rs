//! Token and session state in Redis: step 1's list of revoked sessions
//! ([`step01_security::tokens::SessionRevocations`]) kept where every instance sees it, so a
//! logout on one instance refuses the logged-out access token on all of them at once.
//!
//! Two keys per revoked session, each living exactly as long as the tokens it refuses:
//! - `<prefix>revoked:access:<sid>`, the access-token deny list, for one access-token lifetime
//!   plus the clock leeway (the longest an access token of that session can still be
//!   accepted). Asked on every authenticated request: one `EXISTS`, within the Redis timeout.
//! - `<prefix>revoked:family:<sid>`, the revoked refresh family, for one refresh-token lifetime.
//!   Asked on refresh before MongoDB's session record, which stays the durable authority: an
//!   evicted or flushed key never revives a family.
//!
//! Both are written in one `MULTI` transaction, so a session is never half revoked.
//!
//! Why a Redis read per authenticated request rather than a local copy fed by pub/sub: the
//! read costs one round trip on an open connection (well under a millisecond next to the app),
//! and a revocation is visible to every instance the moment the logout returns; a copy lags by
//! the pub/sub delivery and must be reloaded whole whenever its subscription drops.
//!
//! Failing safe, chosen and documented in the chapter: when Redis is down or slower than its
//! timeout, an authenticated request is refused with 503 `SERVICE_UNAVAILABLE` (the session
//! cannot be vouched for, and accepting it would let a stolen, logged-out token through for
//! as long as Redis is away), while anonymous catalog reads go on. A logout whose revocation
//! cannot be listed also answers 503 and may be repeated. A refresh goes on without Redis:
//! MongoDB decides it. Once Redis answers again, so does everything else, with no restart.

use async_trait::async_trait;
use step01_security::tokens::SessionRevocations;

use crate::redis::RedisHandle;

/// Revoked sessions in Redis. Cheap to clone.
#[derive(Clone)]
pub struct RedisRevocations {
    redis: RedisHandle,
    /// `cache.key_prefix`: every key of the app starts with it.
    prefix: String,
    /// One access-token lifetime plus the leeway: how long a revocation must refuse tokens.
    access_secs: u64,
    /// One refresh-token lifetime.
    refresh_secs: u64,
}

impl RedisRevocations {
    pub fn new(redis: RedisHandle, prefix: &str, access_secs: u64, refresh_secs: u64) -> Self {
        Self {
            redis,
            prefix: prefix.to_owned(),
            access_secs: access_secs.max(1),
            refresh_secs: refresh_secs.max(1),
        }
    }

    /// The deny-list key of session `sid`.
    pub fn access_key(&self, sid: &str) -> String {
        format!("{}revoked:access:{sid}", self.prefix)
    }

    /// The revoked-family key of session `sid`.
    pub fn family_key(&self, sid: &str) -> String {
        format!("{}revoked:family:{sid}", self.prefix)
    }

    async fn exists(&self, what: &'static str, key: String) -> anyhow::Result<bool> {
        let found: bool = self
            .redis
            .query(what, redis::cmd("EXISTS").arg(key))
            .await?;
        Ok(found)
    }
}

#[async_trait]
impl SessionRevocations for RedisRevocations {
    async fn revoke(&self, sid: &str) -> anyhow::Result<()> {
        let mut pipe = redis::pipe();
        pipe.atomic()
            .set_ex(self.access_key(sid), 1, self.access_secs)
            .ignore()
            .set_ex(self.family_key(sid), 1, self.refresh_secs)
            .ignore();
        let () = self.redis.pipeline("revoke session", &pipe).await?;
        Ok(())
    }

    async fn is_revoked(&self, sid: &str) -> anyhow::Result<bool> {
        self.exists("access-token deny list", self.access_key(sid))
            .await
    }

    async fn is_family_revoked(&self, sid: &str) -> anyhow::Result<bool> {
        self.exists("revoked refresh families", self.family_key(sid))
            .await
    }
}
