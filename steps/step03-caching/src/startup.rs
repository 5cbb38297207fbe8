//! Wiring: step 3's [`Step`]: its parts (step 2's, with revoked sessions and rate-limit quotas
//! kept in Redis, plus the one shared Redis handle), its state (step 2's, built from parts
//! whose catalog stores and listing search read through the Redis cache, plus the handle and
//! the cache's counters), its routes (step 2's, plus `/internal/cache`) and step 2's layers
//! around the near cache's route layer.

use std::sync::Arc;

use axum::Router;
use common::Step;
use common::step::Extends;
use common::store::mongo::Mongo;
use derive_more::{Deref, DerefMut};

use crate::cache::{CacheStats, CatalogCache, NearCache, ResponseCache};
use crate::config::Config;
use crate::rate_limit::RedisLimiter;
use crate::redis_handle::RedisHandle;
use crate::revocations::RedisRevocations;

common::shared_state! {
    /// Step 3's application state: step 2's, plus what step 3 adds ([`State`]), behind one
    /// `Arc` like every step's.
    pub struct AppState(State);
    RedisHandle => redis,
    CacheStats => cache_stats,
}

/// What [`AppState`] holds: step 2's state (`base`, reached through `Deref`) and step 3's.
#[derive(Clone, Deref, DerefMut)]
pub struct State {
    /// Step 2's state, whose catalog stores and listing search read through the cache.
    #[deref]
    #[deref_mut]
    pub base: step02_apis::AppState,
    /// The one Redis connection, shared by everything that talks to Redis.
    pub redis: RedisHandle,
    /// The cache's counters (also when the cache is disabled: they then stay at zero).
    pub cache_stats: CacheStats,
    /// The route layer that answers product and listing reads from the near cache (with their
    /// ETags); `None` when the cache is disabled.
    pub responses: Option<ResponseCache>,
    /// The near cache itself, for `/internal/cache`; `None` when disabled.
    pub near: Option<NearCache>,
}

/// What step 3's state is wired from: step 2's parts, with revoked sessions and rate-limit
/// quotas in Redis, and the Redis handle they share with the cache. The cache itself wraps
/// the catalog stores and the search when the state is wired, after any customizer: what a
/// customizer puts there (step 4's stored rating, a test's counting store) sits behind it.
#[derive(Deref, DerefMut)]
pub struct Parts {
    #[deref]
    #[deref_mut]
    pub base: step02_apis::Parts,
    pub redis: RedisHandle,
}

impl Extends for AppState {
    type Base = step02_apis::AppState;
    const NUMBER: u8 = 3;
    const TITLE: &'static str = "caching with Redis";
    type Config = Config;
    type Parts = Parts;

    fn base(&self) -> &step02_apis::AppState {
        &self.base
    }

    /// Connects to Redis lazily: the app starts, and serves uncached, while Redis is down.
    async fn extend_parts(
        _db: &Mongo,
        config: &Config,
        mut base: step02_apis::Parts,
    ) -> anyhow::Result<Parts> {
        let redis = RedisHandle::new(&config.redis)?;
        let tokens = &config.security.tokens;
        base.revocations = Arc::new(RedisRevocations::new(
            redis.clone(),
            &config.cache.key_prefix,
            tokens.access_ttl_secs + tokens.leeway_secs,
            tokens.refresh_ttl_secs,
            &config.sessions,
        ));
        // Step 2's limits, counted in Redis: one quota per client across every instance.
        base.limiter = Arc::new(RedisLimiter::new(redis.clone(), &config.cache.key_prefix));
        Ok(Parts { base, redis })
    }

    async fn wire(config: &Config, parts: Parts) -> anyhow::Result<Self> {
        let Parts { mut base, redis } = parts;
        let cache_stats = CacheStats::default();
        let mut near = None;
        let mut responses = None;
        if config.cache.enabled {
            if config.cache.near.enabled {
                near = Some(NearCache::new(&config.cache.near, cache_stats.clone()));
            }
            let cache = CatalogCache::new(
                redis.clone(),
                &config.cache,
                cache_stats.clone(),
                near.clone(),
            );
            cache.wrap(&mut base);
            if let Some(near) = &near {
                crate::cache::tracking::spawn(
                    near,
                    &config.redis,
                    &config.cache.near,
                    cache.gen_prefix(),
                )?;
            }
            responses = Some(ResponseCache::new(cache, near.clone()));
        }
        let base = step02_apis::AppState::from_parts(config, base).await?;
        if redis.ping().await.is_err() {
            tracing::warn!("Redis does not answer yet: serving uncached until it does");
        }
        Ok(Self::from(State {
            base,
            redis,
            cache_stats,
            responses,
            near,
        }))
    }

    /// The near cache's route layer, innermost: inside step 2's rate limits.
    fn inner_layer(&self, routes: Router, _config: &Config) -> Router {
        match &self.responses {
            Some(responses) => crate::cache::responses::layer(routes, responses.clone()),
            None => routes,
        }
    }

    /// `/internal/cache`.
    fn own_routes(&self, _config: &Config) -> Router {
        crate::routes::router().with_state(self.clone())
    }
}
