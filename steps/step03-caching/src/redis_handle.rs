//! The one Redis handle of the app: a `redis::aio::ConnectionManager` (one multiplexed
//! connection, reconnected in the background after a failure), wrapped so that every call is
//! bounded by `redis.response_timeout_ms`, every failure is counted and logged, and none
//! propagates as an HTTP error: callers get a [`RedisUnavailable`] and fall back (the cache
//! reads MongoDB; the token state decides by its own fail-safe rule).
//!
//! A small circuit breaker sits in front: after a failed call, Redis is skipped for
//! `redis.retry_after_ms`, then the next call probes it again. Without it, a hung Redis
//! (SIGSTOP, a full network buffer) would cost every request a whole timeout per call; with it,
//! it costs one request per interval. Recovery needs nobody: the manager reconnects, the
//! breaker closes on the first call that succeeds.
//!
//! The handle is `Clone` (an `Arc` inside): the cache, the token state and the rate limiter
//! share one connection.
//!
//! Every connection the app makes to Redis (this handle, the near cache's tracking
//! connection, step 6's streams) comes from one client constructor, [`client`]: `redis://` in
//! the clear, `rediss://` over TLS, verified against the system's roots or against the CA
//! bundle the URL's `ca_bundle` parameter names (a managed Redis whose certificate its
//! provider's own CA signed).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{FromRedisValue, RedisResult};
use secrecy::ExposeSecret;
use serde::Serialize;

use crate::config::RedisConfig;

/// Redis did not answer usefully in time; the reason was counted and logged.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("Redis is unavailable")]
pub struct RedisUnavailable;

/// What [`RedisHandle::observe`] calls after each call: the call's name, its duration, and
/// whether it succeeded.
pub type CallObserver = Arc<dyn Fn(&'static str, Duration, bool) + Send + Sync>;

/// Shareable Redis access with timeouts, counters and a breaker.
#[derive(Clone)]
pub struct RedisHandle {
    inner: Arc<Inner>,
}

struct Inner {
    conn: ConnectionManager,
    /// Bound on one call, enforced here as well as in the manager: the manager's own timeout
    /// does not cover waiting for a reconnection.
    timeout: Duration,
    retry_after: Duration,
    /// When the handle was made: the breaker keeps its deadline as milliseconds since then,
    /// in an atomic, so the hot path takes no lock.
    epoch: Instant,
    /// Redis is skipped until this many ms after `epoch` (0: closed).
    skip_until_ms: AtomicU64,
    stats: RedisStats,
    /// Told of every call that reached Redis ([`RedisHandle::observe`]): step 9's metrics.
    observer: std::sync::OnceLock<CallObserver>,
}

/// What happened to calls to Redis. Monotonic counters, so step 9 exports them as they are.
#[derive(Default)]
struct RedisStats {
    calls: AtomicU64,
    errors: AtomicU64,
    timeouts: AtomicU64,
    skipped: AtomicU64,
}

/// A snapshot of [`RedisHandle`]'s counters.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct RedisCounters {
    /// Calls sent to Redis.
    pub calls: u64,
    /// Calls that failed with an error (connection refused, reset, a script error).
    pub errors: u64,
    /// Calls that got no answer within the timeout.
    pub timeouts: u64,
    /// Calls not sent because the breaker was open.
    pub skipped: u64,
}

/// The query parameter of a `rediss://` URL that names the CA bundle to verify the server
/// with, in place of the system's roots:
/// `rediss://host:6380/0?ca_bundle=/etc/ssl/redis-ca.pem`. The redis crate reads no such
/// parameter; [`client`] takes it out of the URL it passes on.
pub const CA_BUNDLE_PARAM: &str = "ca_bundle";

/// The Redis client for `config.url`. With a `ca_bundle` parameter ([`CA_BUNDLE_PARAM`]),
/// the URL must be `rediss://`, and the file must exist and hold at least one PEM
/// certificate: each is an error now, when the app starts, rather than a handshake failing
/// on every call later. Errors never echo the URL (it may hold a password); they name the
/// file.
pub fn client(config: &RedisConfig) -> anyhow::Result<redis::Client> {
    use anyhow::{Context, bail};
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;

    let raw = config.url.expose_secret();
    let invalid = || anyhow::anyhow!("redis.url is not a valid redis:// or rediss:// URL");
    let mut url = url::Url::parse(raw).map_err(|_| invalid())?;
    let bundle = url
        .query_pairs()
        .find(|(key, _)| key == CA_BUNDLE_PARAM)
        .map(|(_, value)| std::path::PathBuf::from(value.as_ref()));
    let Some(bundle) = bundle else {
        return redis::Client::open(raw).map_err(|_| invalid());
    };
    if url.scheme() != "rediss" {
        bail!(
            "redis.url names a {CA_BUNDLE_PARAM} ({}) but is not a rediss:// URL: the CA \
             verifies a TLS connection, and redis:// is in the clear",
            bundle.display()
        );
    }
    let rest: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(key, _)| key != CA_BUNDLE_PARAM)
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect();
    if rest.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(rest);
    }
    let pem = std::fs::read(&bundle)
        .with_context(|| format!("reading the Redis CA bundle {}", bundle.display()))?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{} is not a PEM CA bundle", bundle.display()))?;
    if certificates.is_empty() {
        bail!(
            "the Redis CA bundle {} holds no certificate (PEM, -----BEGIN CERTIFICATE-----)",
            bundle.display()
        );
    }
    redis::Client::build_with_tls(
        url.as_str(),
        redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(pem),
        },
    )
    .map_err(|_| invalid())
}

impl RedisHandle {
    /// A handle on `config.url`. Connects lazily: the app starts (and serves uncached) even
    /// when Redis is down at startup.
    pub fn new(config: &RedisConfig) -> anyhow::Result<Self> {
        let client = client(config)?;
        let timeout = Duration::from_millis(config.response_timeout_ms);
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(config.connect_timeout_ms)))
            .set_response_timeout(Some(timeout))
            // Reconnection attempts stay short; the breaker paces retries beyond them.
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(config.retry_after_ms));
        let conn = ConnectionManager::new_lazy_with_config(client, manager_config)?;
        Ok(Self {
            inner: Arc::new(Inner {
                conn,
                timeout,
                retry_after: Duration::from_millis(config.retry_after_ms),
                epoch: Instant::now(),
                skip_until_ms: AtomicU64::new(0),
                stats: RedisStats::default(),
                observer: std::sync::OnceLock::new(),
            }),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.inner.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether the breaker lets calls through now.
    pub fn is_open(&self) -> bool {
        self.inner.skip_until_ms.load(Ordering::Relaxed) <= self.now_ms()
    }

    fn trip(&self) {
        let until = self.now_ms()
            + u64::try_from(self.inner.retry_after.as_millis()).unwrap_or(u64::MAX / 2);
        self.inner.skip_until_ms.store(until, Ordering::Relaxed);
    }

    /// Runs `call` on the shared connection, bounded by the timeout. `what` names the
    /// operation in logs.
    pub async fn call<T, F, Fut>(&self, what: &'static str, call: F) -> Result<T, RedisUnavailable>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let stats = &self.inner.stats;
        if !self.is_open() {
            stats.skipped.fetch_add(1, Ordering::Relaxed);
            return Err(RedisUnavailable);
        }
        stats.calls.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let outcome = tokio::time::timeout(self.inner.timeout, call(self.inner.conn.clone())).await;
        if let Some(observe) = self.inner.observer.get() {
            observe(what, started.elapsed(), matches!(outcome, Ok(Ok(_))));
        }
        match outcome {
            Ok(Ok(value)) => {
                self.inner.skip_until_ms.store(0, Ordering::Relaxed);
                Ok(value)
            }
            Ok(Err(error)) => {
                stats.errors.fetch_add(1, Ordering::Relaxed);
                self.trip();
                tracing::warn!(operation = what, %error, "Redis call failed; serving without it");
                Err(RedisUnavailable)
            }
            Err(_) => {
                stats.timeouts.fetch_add(1, Ordering::Relaxed);
                self.trip();
                tracing::warn!(
                    operation = what,
                    timeout_ms = self.inner.timeout.as_millis() as u64,
                    "Redis did not answer in time; serving without it"
                );
                Err(RedisUnavailable)
            }
        }
    }

    /// One command.
    pub async fn query<T: FromRedisValue>(
        &self,
        what: &'static str,
        cmd: &redis::Cmd,
    ) -> Result<T, RedisUnavailable> {
        self.call(
            what,
            |mut conn| async move { cmd.query_async(&mut conn).await },
        )
        .await
    }

    /// Several commands in one round trip.
    pub async fn pipeline<T: FromRedisValue>(
        &self,
        what: &'static str,
        pipe: &redis::Pipeline,
    ) -> Result<T, RedisUnavailable> {
        self.call(
            what,
            |mut conn| async move { pipe.query_async(&mut conn).await },
        )
        .await
    }

    /// A Lua script (EVALSHA, loading it on first use).
    pub async fn script<T: FromRedisValue>(
        &self,
        what: &'static str,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, RedisUnavailable> {
        self.call(what, |mut conn| async move {
            invocation.invoke_async(&mut conn).await
        })
        .await
    }

    /// `PING`, through the breaker like any call.
    pub async fn ping(&self) -> Result<(), RedisUnavailable> {
        let pong: String = self.query("ping", &redis::cmd("PING")).await?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(RedisUnavailable)
        }
    }

    /// Has `observer` told of every call that reaches Redis from now on: its name (`what`),
    /// how long it took, and whether it succeeded (a call the breaker skips is not one). One
    /// observer per handle; a second is refused (`false`). What step 9's metrics time Redis
    /// with, without step 3 knowing of metrics.
    pub fn observe(&self, observer: CallObserver) -> bool {
        self.inner.observer.set(observer).is_ok()
    }

    pub fn counters(&self) -> RedisCounters {
        let stats = &self.inner.stats;
        RedisCounters {
            calls: stats.calls.load(Ordering::Relaxed),
            errors: stats.errors.load(Ordering::Relaxed),
            timeouts: stats.timeouts.load(Ordering::Relaxed),
            skipped: stats.skipped.load(Ordering::Relaxed),
        }
    }
}
