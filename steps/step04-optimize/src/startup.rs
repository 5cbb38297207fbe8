//! Wiring: step 4's state (step 3's, with the stored rating average and the search that sorts
//! by it, the reference endpoint exempted from rate limits, plus step 4's settings), the
//! router (step 3's, with step 4's routes merged in under the same layers), and [`build`],
//! which binds the listener.

use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::FromRef;
use common::Application;
use step02_apis::listing::MongoSearch;

use crate::config::{Config, OptimizeConfig};
use crate::profile::{PROFILE_PATH, Profiler};
use crate::rating::{self, RatedProducts};
use crate::routes::NOOP_PATH;

/// Step 4's application state: step 3's, plus what step 4 adds.
#[derive(Clone, FromRef)]
pub struct AppState {
    /// Step 3's state (its cache, Redis handle, rate limits counted in Redis).
    pub base: step03_caching::AppState,
    /// Step 4's settings, read by the profiling endpoint.
    pub optimize: Arc<OptimizeConfig>,
    /// One CPU profile at a time.
    pub profiler: Profiler,
}

impl AppState {
    /// Step 4's indexes (unless `optimize.create_indexes` is off), step 3's state, then step
    /// 4's changes to it.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let db = common::store::mongo::connect(&config.common().mongodb).await?;
        if config.optimize.create_indexes {
            let outcomes = crate::indexes::ensure(&db)
                .await
                .context("creating step 4's query indexes")?;
            let created = outcomes
                .iter()
                .filter(|o| o.status == crate::indexes::Status::Created)
                .count();
            tracing::info!(created, "query indexes in place");
        }
        let backfilled = crate::rating::backfill(&db)
            .await
            .context("storing the rating averages of rated products")?;
        if backfilled > 0 {
            tracing::info!(backfilled, "stored the rating average of rated products");
        }
        let base = step03_caching::AppState::build_with(&config.base, |db, parts| {
            // The `-rating` sort reads a stored, indexed average, which the product store
            // keeps after every rating change (step 3's cache then wraps both).
            parts.stores.products = Arc::new(RatedProducts::new(parts.stores.products.clone(), db));
            parts.search = Arc::new(MongoSearch::new(db).with_stored_rating(rating::FIELD));
            Ok(())
        })
        .await?;
        Ok(Self::from_base(config, base))
    }

    /// Step 4's state around an already-built step-3 state.
    pub fn from_base(config: &Config, mut base: step03_caching::AppState) -> Self {
        // The reference endpoint measures the stack; a quota refusing it would measure the
        // limiter (and a Redis round trip) instead.
        base.base.rate_limits = base
            .base
            .rate_limits
            .clone()
            .exempting(NOOP_PATH)
            .exempting(PROFILE_PATH);
        Self {
            base,
            optimize: Arc::new(config.optimize.clone()),
            profiler: Profiler::default(),
        }
    }
}

/// Step 4's complete router: step 3's, plus `/internal/noop` and (when enabled)
/// `/internal/profile`, under the same layers.
pub fn router(state: AppState, config: &Config) -> Router {
    let mut routes = crate::routes::router();
    if config.profiling_enabled() {
        routes = routes.merge(crate::profile::router());
    }
    let extra = routes.with_state(state.clone());
    step03_caching::router_with(extra, state.base, &config.base)
}

/// Builds step 4's state and router from `config` and binds `config.common().server`.
pub async fn build(config: &Config) -> anyhow::Result<Application> {
    let state = AppState::build(config).await?;
    Application::bind(&config.common().server, router(state, config)).await
}
