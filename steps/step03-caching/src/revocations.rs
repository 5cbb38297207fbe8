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
//! timeout, a token is accepted only if this instance saw its session checked in Redis within
//! the last `sessions.outage_grace_secs` (30 s by default), with that answer; any other token
//! is refused with 503 `SERVICE_UNAVAILABLE`. So a short blip does not sign everybody out of
//! their cart, while the most a revocation can be missed is a logout on another instance in
//! the grace before the outage began; a long outage refuses every token it cannot vouch for
//! (accepting them would let a stolen, logged-out token through for as long as Redis is away).
//! Anonymous catalog reads are unaffected. A logout whose revocation cannot be listed answers
//! 503, is refused from then on by this instance, and is written to Redis in the background
//! as soon as Redis takes it (or repeated by the client). A refresh goes on without Redis:
//! MongoDB decides it. Once Redis answers again, so does everything else, with no restart.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use step01_security::tokens::{RevokedSessions, SessionRevocations};

use crate::redis_handle::RedisHandle;

/// `sessions` (`APP__SESSIONS__*`): how token checks behave while Redis cannot answer.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct SessionStateConfig {
    /// While Redis is unavailable, a token whose session this instance checked at most this
    /// long ago is judged by that check; others are refused with 503. 0: refuse them all.
    pub outage_grace_secs: u64,
}

impl Default for SessionStateConfig {
    fn default() -> Self {
        Self {
            outage_grace_secs: 30,
        }
    }
}

impl SessionStateConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.outage_grace_secs <= 300,
            "sessions.outage_grace_secs must be at most 300, got {}",
            self.outage_grace_secs
        );
        Ok(())
    }
}

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
    /// Revocations made on this instance, also kept in memory (step 1's list): asked first,
    /// so this instance refuses them even when Redis could not be written.
    local: RevokedSessions,
    /// The last answer Redis gave per session, and when: what a token is judged by during
    /// an outage, for at most `grace`. A mutex: short lookups and inserts only.
    last_seen: Arc<Mutex<HashMap<String, (bool, Instant)>>>,
    grace: Duration,
}

/// How many remembered answers trigger a sweep of those older than the grace.
const SWEEP_AT: usize = 10_000;

impl RedisRevocations {
    pub fn new(
        redis: RedisHandle,
        prefix: &str,
        access_secs: u64,
        refresh_secs: u64,
        config: &SessionStateConfig,
    ) -> Self {
        Self {
            redis,
            prefix: prefix.to_owned(),
            access_secs: access_secs.max(1),
            refresh_secs: refresh_secs.max(1),
            local: RevokedSessions::new(access_secs, 0),
            last_seen: Arc::default(),
            grace: Duration::from_secs(config.outage_grace_secs),
        }
    }

    fn remember(&self, sid: &str, revoked: bool) {
        if self.grace.is_zero() {
            return;
        }
        let now = Instant::now();
        let mut seen = self.last_seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= SWEEP_AT {
            seen.retain(|_, (_, at)| now.duration_since(*at) <= self.grace);
        }
        seen.insert(sid.to_owned(), (revoked, now));
    }

    /// Redis's last answer for `sid`, if it is recent enough to stand in for it.
    fn recalled(&self, sid: &str) -> Option<bool> {
        let seen = self.last_seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.get(sid)
            .filter(|(_, at)| at.elapsed() <= self.grace)
            .map(|(revoked, _)| *revoked)
    }

    /// The deny-list key of session `sid`.
    pub fn access_key(&self, sid: &str) -> String {
        format!("{}revoked:access:{sid}", self.prefix)
    }

    /// The revoked-family key of session `sid`.
    pub fn family_key(&self, sid: &str) -> String {
        format!("{}revoked:family:{sid}", self.prefix)
    }

    /// Writes both keys of a revoked session, in one `MULTI`.
    async fn list(&self, sid: &str) -> anyhow::Result<()> {
        let mut pipe = redis::pipe();
        pipe.atomic()
            .set_ex(self.access_key(sid), 1, self.access_secs)
            .ignore()
            .set_ex(self.family_key(sid), 1, self.refresh_secs)
            .ignore();
        let () = self.redis.pipeline("revoke session", &pipe).await?;
        Ok(())
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
        self.local.revoke(sid);
        self.remember(sid, true);
        if let Err(error) = self.list(sid).await {
            // The caller answers 503, but this instance may already refuse the session (it
            // is in `local`), so a repeated logout may never reach here: keep trying in the
            // background until Redis takes it or the access tokens it refuses have expired.
            let (this, sid) = (self.clone(), sid.to_owned());
            tokio::spawn(async move {
                let give_up = Instant::now() + Duration::from_secs(this.access_secs);
                while Instant::now() < give_up {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    if this.list(&sid).await.is_ok() {
                        tracing::info!("a revocation that had failed is now listed in Redis");
                        break;
                    }
                }
            });
            return Err(error);
        }
        Ok(())
    }

    async fn is_revoked(&self, sid: &str) -> anyhow::Result<bool> {
        if self.local.is_revoked(sid) {
            return Ok(true);
        }
        match self
            .exists("access-token deny list", self.access_key(sid))
            .await
        {
            Ok(revoked) => {
                self.remember(sid, revoked);
                Ok(revoked)
            }
            Err(error) => self.recalled(sid).ok_or(error),
        }
    }

    async fn is_family_revoked(&self, sid: &str) -> anyhow::Result<bool> {
        self.exists("revoked refresh families", self.family_key(sid))
            .await
    }
}
