//! Step 3's configuration: step 2's [`step02_apis::Config`], flattened, so every earlier key
//! keeps its name and its `APP__*` variable, plus a `redis` section (where the server is and
//! how long any call to it may take, e.g. `APP__REDIS__URL=redis://127.0.0.1:6379`) and a
//! `cache` section (on/off, key prefix, TTLs, stampede and breaker timings, e.g.
//! `APP__CACHE__ENABLED=false` for the uncached benchmark, `APP__CACHE__NEAR__ENABLED=false` for
//! Redis alone), and a `sessions` section (token
//! checks while Redis is away, `APP__SESSIONS__OUTAGE_GRACE_SECS`).

use anyhow::bail;
use common::config::ExtendsConfig;
use derive_more::{Deref, DerefMut};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Everything step 3 reads: step 2's configuration (`base`, reached through `Deref`) and the
/// `redis`, `cache` and `sessions` sections.
#[derive(Debug, Clone, Deserialize, Serialize, Deref, DerefMut)]
pub struct Config {
    #[serde(flatten)]
    #[deref]
    #[deref_mut]
    pub base: step02_apis::Config,
    #[serde(default)]
    pub redis: RedisConfig,
    #[serde(default)]
    pub cache: CacheConfig,
    /// Token checks while Redis is away (defined beside them, in [`crate::revocations`]).
    #[serde(default)]
    pub sessions: crate::revocations::SessionStateConfig,
}

/// Where Redis is and how long we wait for it. The timeouts are short on purpose: Redis
/// answers in well under a millisecond, so a call that takes longer means trouble, and the
/// request is better served from MongoDB than kept waiting (see [`crate::redis_handle`]).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct RedisConfig {
    /// `redis://[user:password@]host:port[/db]`; a secret, since it may carry a password.
    #[serde(serialize_with = "common::config::redacted")]
    pub url: SecretString,
    /// Bound on establishing a connection (and on each reconnection attempt).
    pub connect_timeout_ms: u64,
    /// Bound on every call, end to end, as the caller sees it.
    pub response_timeout_ms: u64,
    /// After a failed call, how long to skip Redis before trying again (a circuit breaker):
    /// while Redis is down, requests do not each pay a timeout.
    pub retry_after_ms: u64,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            url: SecretString::from("redis://127.0.0.1:6379"),
            connect_timeout_ms: 250,
            response_timeout_ms: 250,
            retry_after_ms: 1_000,
        }
    }
}

impl RedisConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        let url = self.url.expose_secret();
        // Never echo the URL: it may hold a password.
        redis::Client::open(url)
            .map_err(|_| anyhow::anyhow!("redis.url is not a valid redis:// or rediss:// URL"))?;
        for (name, value) in [
            ("redis.connect_timeout_ms", self.connect_timeout_ms),
            ("redis.response_timeout_ms", self.response_timeout_ms),
        ] {
            if !(1..=10_000).contains(&value) {
                bail!("{name} must be between 1 and 10000 (ms), got {value}");
            }
        }
        if !(1..=600_000).contains(&self.retry_after_ms) {
            bail!(
                "redis.retry_after_ms must be between 1 and 600000, got {}",
                self.retry_after_ms
            );
        }
        Ok(())
    }
}

/// How the catalog cache behaves (see [`crate::cache`]).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct CacheConfig {
    /// False: every read goes to MongoDB (the "uncached" column of the benchmark).
    pub enabled: bool,
    /// Put before every key, so several apps (or tests) can share one Redis.
    pub key_prefix: String,
    /// How long an entry is fresh.
    pub ttl_secs: u64,
    /// Each entry's freshness is `ttl_secs` shortened by up to this percentage, at random,
    /// so entries written together do not all expire together.
    pub jitter_percent: u8,
    /// How long past freshness an entry may still be served while one request rebuilds it
    /// (stale-while-revalidate); Redis drops it after that.
    pub stale_secs: u64,
    /// How long the rebuild lock of a key lives (it protects MongoDB from a stampede; it
    /// expires by itself if its holder dies).
    pub lock_ttl_ms: u64,
    /// How long a request that did not get the lock waits for the value before it reads
    /// MongoDB itself.
    pub lock_wait_ms: u64,
    /// The near cache: encoded responses in this process, in front of Redis.
    pub near: NearConfig,
}

/// The near cache in front of Redis (see [`crate::cache::near`]): its bounds, and the
/// heartbeat that proves the invalidations from Redis still arrive.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct NearConfig {
    /// False: every cached read asks Redis (step 3's cache without its first tier).
    pub enabled: bool,
    /// At most this many responses are kept.
    pub max_entries: u64,
    /// At most this many bytes of response bodies and headers are kept.
    pub max_bytes: u64,
    /// An entry is dropped this long after it was filled, invalidated or not: the bound for
    /// writes that never reach Redis (an edit straight into MongoDB), like `ttl_secs`.
    pub ttl_ms: u64,
    /// How often the tracking connection is pinged to prove it still delivers invalidations.
    pub heartbeat_ms: u64,
    /// The staleness bound: entries are served only while a heartbeat sent less than this
    /// long ago has come back, so another instance's write is seen within it.
    pub max_staleness_ms: u64,
}

impl Default for NearConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_entries: 10_000,
            max_bytes: 64 * 1024 * 1024,
            ttl_ms: 30_000,
            heartbeat_ms: 50,
            max_staleness_ms: 250,
        }
    }
}

impl NearConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        if !(1..=10_000_000).contains(&self.max_entries) {
            bail!(
                "cache.near.max_entries must be between 1 and 10000000, got {}",
                self.max_entries
            );
        }
        if !(1024..=16 * 1024 * 1024 * 1024).contains(&self.max_bytes) {
            bail!(
                "cache.near.max_bytes must be between 1024 and 17179869184, got {}",
                self.max_bytes
            );
        }
        if !(1..=86_400_000).contains(&self.ttl_ms) {
            bail!(
                "cache.near.ttl_ms must be between 1 and 86400000, got {}",
                self.ttl_ms
            );
        }
        if !(1..=10_000).contains(&self.heartbeat_ms) {
            bail!(
                "cache.near.heartbeat_ms must be between 1 and 10000, got {}",
                self.heartbeat_ms
            );
        }
        // A bound shorter than two heartbeats would stop serving between any two of them.
        if self.max_staleness_ms < 2 * self.heartbeat_ms || self.max_staleness_ms > 60_000 {
            bail!(
                "cache.near.max_staleness_ms must be at least twice cache.near.heartbeat_ms and \
                 at most 60000, got {}",
                self.max_staleness_ms
            );
        }
        Ok(())
    }
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            key_prefix: "shop:".to_owned(),
            ttl_secs: 60,
            jitter_percent: 10,
            stale_secs: 30,
            lock_ttl_ms: 2_000,
            lock_wait_ms: 300,
            near: NearConfig::default(),
        }
    }
}

impl CacheConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.key_prefix.is_empty()
            || self.key_prefix.len() > 64
            || !self.key_prefix.chars().all(|c| c.is_ascii_graphic())
        {
            bail!("cache.key_prefix must be 1 to 64 printable characters without spaces");
        }
        if !(1..=86_400).contains(&self.ttl_secs) {
            bail!(
                "cache.ttl_secs must be between 1 and 86400, got {}",
                self.ttl_secs
            );
        }
        if self.jitter_percent > 50 {
            bail!(
                "cache.jitter_percent must be at most 50, got {}",
                self.jitter_percent
            );
        }
        if self.stale_secs > 86_400 {
            bail!(
                "cache.stale_secs must be at most 86400, got {}",
                self.stale_secs
            );
        }
        if !(1..=60_000).contains(&self.lock_ttl_ms) {
            bail!(
                "cache.lock_ttl_ms must be between 1 and 60000, got {}",
                self.lock_ttl_ms
            );
        }
        if self.lock_wait_ms > self.lock_ttl_ms {
            bail!("cache.lock_wait_ms must not exceed cache.lock_ttl_ms");
        }
        self.near.validate()
    }
}

impl ExtendsConfig for Config {
    /// Step 3's sections (step 2's checks run first).
    fn check(&self) -> anyhow::Result<()> {
        self.redis.validate()?;
        self.cache.validate()?;
        self.sessions.validate()?;
        Ok(())
    }
}
