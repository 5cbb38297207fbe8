//! Wiring: step 3's state (step 2's, built with the catalog stores and the listing search
//! wrapped in the Redis cache, and with revoked sessions and rate limits kept in Redis, plus
//! the shared Redis handle and the cache's counters), the router (step 2's, with
//! `/internal/cache` merged in under step 2's layers), and [`build`], which binds the listener.

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;
use common::Application;
use step02_apis::Parts;
use step02_apis::rate_limit::RateLimits;

use crate::cache::{CacheStats, CatalogCache};
use crate::config::Config;
use crate::rate_limit::RedisLimiter;
use crate::redis::RedisHandle;
use crate::sessions::RedisRevocations;

/// Step 3's application state: step 2's, plus what step 3 adds.
#[derive(Clone, FromRef)]
pub struct AppState {
    /// Step 2's state, whose catalog stores and listing search read through the cache.
    pub base: step02_apis::AppState,
    /// The one Redis connection, shared by everything that talks to Redis.
    pub redis: RedisHandle,
    /// The cache's counters (also when the cache is disabled: they then stay at zero).
    pub cache_stats: CacheStats,
}

impl AppState {
    /// Connects to MongoDB (and, lazily, to Redis) and wires it all.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        Self::build_with(config, |_, _| Ok(())).await
    }

    /// [`AppState::build`], with `customize` given the MongoDB-backed parts before the cache
    /// wraps them, and the database they use (the stampede test counts the store reads that
    /// reach MongoDB; step 4 keeps each product's rating average and sorts by it).
    pub async fn build_with(
        config: &Config,
        customize: impl FnOnce(&mongodb::Database, &mut Parts) -> anyhow::Result<()>,
    ) -> anyhow::Result<Self> {
        let redis = RedisHandle::new(&config.redis)?;
        let cache_stats = CacheStats::default();
        let cache = config
            .cache
            .enabled
            .then(|| CatalogCache::new(redis.clone(), &config.cache, cache_stats.clone()));
        let tokens = &config.base.base.security.tokens;
        let revocations = RedisRevocations::new(
            redis.clone(),
            &config.cache.key_prefix,
            tokens.access_ttl_secs + tokens.leeway_secs,
            tokens.refresh_ttl_secs,
            &config.sessions,
        );
        let mut base = step02_apis::AppState::build_with(&config.base, |db, parts| {
            parts.revocations = Arc::new(revocations);
            customize(db, parts)?;
            if let Some(cache) = &cache {
                cache.wrap(parts);
            }
            Ok(())
        })
        .await?;
        // Step 2's limits, counted in Redis: one quota per client across every instance.
        base.rate_limits = RateLimits::with_limiter(
            &config.base.apis.rate_limit,
            base.base.client_ip.clone(),
            base.base.base.verifier.clone(),
            Arc::new(RedisLimiter::new(redis.clone(), &config.cache.key_prefix)),
        );
        if redis.ping().await.is_err() {
            tracing::warn!("Redis does not answer yet: serving uncached until it does");
        }
        Ok(Self {
            base,
            redis,
            cache_stats,
        })
    }
}

/// Step 3's complete router: step 2's, plus `/internal/cache`, under step 2's layers.
pub fn router(state: AppState, config: &Config) -> Router {
    router_with(Router::new(), state, config)
}

/// [`router`] with `extra` routes merged in before step 2's layers, so a later step's routes
/// get the same request ids, error envelope, rate limits and headers (step 4 adds its own).
pub fn router_with(
    extra: Router<step02_apis::AppState>,
    state: AppState,
    config: &Config,
) -> Router {
    let extra = crate::routes::router()
        .with_state(state.clone())
        .merge(extra);
    step02_apis::router_with(extra, state.base, &config.base)
}

/// Builds step 3's state and router from `config` and binds `config.base.base.base.server`.
pub async fn build(config: &Config) -> anyhow::Result<Application> {
    let state = AppState::build(config).await?;
    Application::bind(&config.common().server, router(state, config)).await
}
