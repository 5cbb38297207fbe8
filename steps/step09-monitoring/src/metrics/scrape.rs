//! What is read at each scrape rather than recorded as it happens: the caches' counters
//! (step 3 keeps them), the pools' connections, the dependencies' checks (step 7's readiness
//! checks), the sagas and the outbox (rows in PostgreSQL, the dead-letter stream's length in
//! Redis) and the replica's lag (step 6's measurement).
//!
//! The saga and outbox figures are the deployment's, not the instance's: every instance
//! reports the same numbers, so rules and dashboards take their `max`. Each source is asked
//! within [`Sources::TIMEOUT`]; one that fails keeps its last value and counts in
//! `shop_metrics_scrape_errors_total{source}`, so a scrape always answers, and quickly.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use prometheus::{Gauge, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};
use sqlx::PgPool;

use super::Metrics;
use super::clients::MongoEvents;

/// The families [`Sources::refresh`] sets.
#[derive(Clone)]
pub(crate) struct Gauges {
    cache_requests: IntCounterVec,
    cache_evictions: IntCounterVec,
    cache_errors: prometheus::IntCounter,
    pool_connections: IntGaugeVec,
    pool_max: IntGaugeVec,
    dependency_up: IntGaugeVec,
    sagas: IntGaugeVec,
    sagas_stuck: IntGauge,
    saga_oldest: Gauge,
    outbox_pending: IntGauge,
    outbox_oldest: Gauge,
    dead_letters: IntGauge,
    replica_lag: Gauge,
    scrape_errors: IntCounterVec,
    /// Set once the state exists ([`Metrics::attach_mongo`]).
    pub(crate) mongo: Arc<OnceLock<Arc<MongoEvents>>>,
}

impl Gauges {
    pub(crate) fn register(registry: &Registry) -> anyhow::Result<Self> {
        fn reg<C: prometheus::core::Collector + Clone + 'static>(
            registry: &Registry,
            c: C,
        ) -> anyhow::Result<C> {
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        }
        let opts = Opts::new;
        let gauges = Self {
            cache_requests: reg(
                registry,
                IntCounterVec::new(
                    opts(
                        "shop_cache_requests_total",
                        "Cache lookups by tier (near: in the process; redis) and result.",
                    ),
                    &["tier", "result"],
                )?,
            )?,
            cache_evictions: reg(
                registry,
                IntCounterVec::new(
                    opts(
                        "shop_cache_evictions_total",
                        "Entries dropped to stay within bounds: the near cache's (per instance), and \
                         Redis's evicted keys (tier redis; the server's count, the same on every instance).",
                    ),
                    &["tier"],
                )?,
            )?,
            cache_errors: reg(
                registry,
                prometheus::IntCounter::new(
                    "shop_cache_errors_total",
                    "Cache reads that could not ask Redis and went to MongoDB.",
                )?,
            )?,
            pool_connections: reg(
                registry,
                IntGaugeVec::new(
                    opts(
                        "shop_pool_connections",
                        "Connections of each pool, busy (checked out) or idle.",
                    ),
                    &["pool", "state"],
                )?,
            )?,
            pool_max: reg(
                registry,
                IntGaugeVec::new(
                    opts("shop_pool_max_connections", "Each pool's bound."),
                    &["pool"],
                )?,
            )?,
            dependency_up: reg(
                registry,
                IntGaugeVec::new(
                    opts(
                        "shop_dependency_up",
                        "1 when the dependency's readiness check passed at this scrape, else 0.",
                    ),
                    &["dependency"],
                )?,
            )?,
            sagas: reg(
                registry,
                IntGaugeVec::new(
                    opts("shop_sagas", "Sagas of the deployment by kind and state."),
                    &["kind", "state"],
                )?,
            )?,
            sagas_stuck: reg(
                registry,
                IntGauge::new(
                    "shop_sagas_stuck",
                    "Running sagas not moved for metrics.saga_stuck_after_secs.",
                )?,
            )?,
            saga_oldest: reg(
                registry,
                Gauge::new(
                    "shop_saga_oldest_running_age_seconds",
                    "Age of the oldest running saga (0 when none runs).",
                )?,
            )?,
            outbox_pending: reg(
                registry,
                IntGauge::new(
                    "shop_outbox_pending_events",
                    "Outbox events not yet published to the stream.",
                )?,
            )?,
            outbox_oldest: reg(
                registry,
                Gauge::new(
                    "shop_outbox_oldest_pending_age_seconds",
                    "Age of the oldest unpublished outbox event (0 when none waits).",
                )?,
            )?,
            dead_letters: reg(
                registry,
                IntGauge::new(
                    "shop_outbox_dead_letters",
                    "Entries in the dead-letter stream: events no consumer could apply.",
                )?,
            )?,
            replica_lag: reg(
                registry,
                Gauge::new(
                    "shop_replica_lag_seconds",
                    "How far the PostgreSQL read replica is behind the primary.",
                )?,
            )?,
            scrape_errors: reg(
                registry,
                IntCounterVec::new(
                    opts(
                        "shop_metrics_scrape_errors_total",
                        "Sources a scrape could not read (their figures kept their last value).",
                    ),
                    &["source"],
                )?,
            )?,
            mongo: Arc::default(),
        };
        for source in SOURCES {
            gauges.scrape_errors.with_label_values(&[source]);
        }
        for tier in ["near", "redis"] {
            gauges.cache_evictions.with_label_values(&[tier]);
        }
        Ok(gauges)
    }
}

/// Brings a counter up to `value`, a total kept elsewhere (step 3's atomics) that only grows.
fn catch_up(counter: &prometheus::IntCounter, value: u64) {
    let now = counter.get();
    if value > now {
        counter.inc_by(value - now);
    }
}

/// The sources a scrape asks over the network, as `shop_metrics_scrape_errors_total` labels
/// them (each has its series from the start, at 0: a rate over a series that does not exist
/// yet shows nothing rather than no failures).
pub const SOURCES: [&str; 4] = ["sagas", "outbox", "dead_letters", "redis_info"];

/// What a scrape reads.
#[derive(Clone)]
pub struct Sources {
    pub cache: step03_caching::cache::CacheStats,
    pub redis: step03_caching::redis_handle::RedisHandle,
    pub postgres: PgPool,
    pub postgres_max: u32,
    /// Step 7's readiness checks, required and degraded-only.
    pub checks: Vec<common::services::HealthChecks>,
    /// The dead-letter stream's full key.
    pub dead_letters: String,
    pub stuck_after: Duration,
}

impl Sources {
    /// The bound on each source.
    pub const TIMEOUT: Duration = Duration::from_secs(2);

    /// Sets every scraped family from its source.
    pub async fn refresh(&self, metrics: &Metrics) {
        let g = &metrics.gauges;
        self.caches(g);
        self.pools(g);
        let (checks, sagas, outbox, dead, redis) = tokio::join!(
            futures::future::join_all(self.checks.iter().map(|c| c.run())),
            within(self.sagas(g)),
            within(self.outbox(g)),
            within(self.dead_letters(g)),
            within(self.redis_evictions(g)),
        );
        for (name, outcome) in checks.into_iter().flatten() {
            g.dependency_up
                .with_label_values(&[name])
                .set(i64::from(outcome.is_ok()));
        }
        if let Some(lag_ms) = self
            .checks
            .iter()
            .find_map(|c| c.details().get("postgresql-replica").cloned())
            .and_then(|d| d.get("lag_ms").and_then(serde_json::Value::as_u64))
        {
            g.replica_lag.set(lag_ms as f64 / 1000.0);
        }
        for (source, outcome) in SOURCES.into_iter().zip([sagas, outbox, dead, redis]) {
            if let Err(error) = outcome {
                tracing::warn!(source, %error, "a metrics source did not answer");
                g.scrape_errors.with_label_values(&[source]).inc();
            }
        }
    }

    fn caches(&self, g: &Gauges) {
        let c = self.cache.snapshot();
        let pairs = [
            ("near", "hit", c.near_hits),
            ("near", "miss", c.near_misses),
            ("redis", "hit", c.hits + c.stale_hits),
            ("redis", "miss", c.misses),
        ];
        for (tier, result, value) in pairs {
            catch_up(&g.cache_requests.with_label_values(&[tier, result]), value);
        }
        catch_up(
            &g.cache_evictions.with_label_values(&["near"]),
            c.near_evictions,
        );
        catch_up(&g.cache_errors, c.errors);
    }

    fn pools(&self, g: &Gauges) {
        let size = i64::from(self.postgres.size());
        let idle = i64::try_from(self.postgres.num_idle()).unwrap_or(i64::MAX);
        g.pool_connections
            .with_label_values(&["postgres", "busy"])
            .set((size - idle).max(0));
        g.pool_connections
            .with_label_values(&["postgres", "idle"])
            .set(idle);
        g.pool_max
            .with_label_values(&["postgres"])
            .set(i64::from(self.postgres_max));
        if let Some(mongo) = g.mongo.get() {
            let (busy, idle, max) = mongo.pool();
            g.pool_connections
                .with_label_values(&["mongodb", "busy"])
                .set(busy);
            g.pool_connections
                .with_label_values(&["mongodb", "idle"])
                .set(idle);
            g.pool_max.with_label_values(&["mongodb"]).set(max);
        }
    }

    async fn sagas(&self, g: &Gauges) -> anyhow::Result<()> {
        let rows: Vec<(String, String, i64)> =
            sqlx::query_as("SELECT kind, state, count(*) FROM sagas GROUP BY kind, state")
                .fetch_all(&self.postgres)
                .await?;
        // Every kind and state gets a series, 0 when no row has it: a rule on a series that
        // does not exist yet would not see it start.
        for kind in ["place", "pay", "cancel"] {
            for state in ["running", "done", "compensated", "failed"] {
                let n = rows
                    .iter()
                    .find(|(k, s, _)| k == kind && s == state)
                    .map_or(0, |r| r.2);
                g.sagas.with_label_values(&[kind, state]).set(n);
            }
        }
        let (stuck, oldest): (i64, Option<f64>) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE updated_at < now() - make_interval(secs => $1)), \
                    extract(epoch FROM now() - min(created_at))::float8 \
             FROM sagas WHERE state = 'running'",
        )
        .bind(self.stuck_after.as_secs_f64())
        .fetch_one(&self.postgres)
        .await?;
        g.sagas_stuck.set(stuck);
        g.saga_oldest.set(oldest.unwrap_or(0.0));
        Ok(())
    }

    async fn outbox(&self, g: &Gauges) -> anyhow::Result<()> {
        let (pending, oldest): (i64, Option<f64>) = sqlx::query_as(
            "SELECT count(*), extract(epoch FROM now() - min(created_at))::float8 \
             FROM outbox WHERE published_at IS NULL",
        )
        .fetch_one(&self.postgres)
        .await?;
        g.outbox_pending.set(pending);
        g.outbox_oldest.set(oldest.unwrap_or(0.0));
        Ok(())
    }

    /// The Redis tier's evictions: the keys Redis itself dropped to stay within `maxmemory`
    /// (`INFO stats`, `evicted_keys`). A server-wide count: every instance on that Redis
    /// reports the same figure, so a dashboard takes the largest, not the sum.
    async fn redis_evictions(&self, g: &Gauges) -> anyhow::Result<()> {
        let mut info = redis::cmd("INFO");
        info.arg("stats");
        let text: String = self.redis.query("info", &info).await?;
        let evicted =
            evicted_keys(&text).ok_or_else(|| anyhow::anyhow!("INFO stats has no evicted_keys"))?;
        catch_up(&g.cache_evictions.with_label_values(&["redis"]), evicted);
        Ok(())
    }

    async fn dead_letters(&self, g: &Gauges) -> anyhow::Result<()> {
        let mut xlen = redis::cmd("XLEN");
        xlen.arg(&self.dead_letters);
        let len: i64 = self.redis.query("xlen", &xlen).await?;
        g.dead_letters.set(len);
        Ok(())
    }
}

/// `evicted_keys` of an `INFO stats` answer (`field:value` lines).
pub fn evicted_keys(info: &str) -> Option<u64> {
    info.lines()
        .find_map(|line| line.trim().strip_prefix("evicted_keys:"))
        .and_then(|value| value.parse().ok())
}

async fn within(work: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    tokio::time::timeout(Sources::TIMEOUT, work)
        .await
        .map_err(|_| anyhow::anyhow!("no answer within {:?}", Sources::TIMEOUT))?
}
