//! Wiring: step 4's [`Step`]: its preparation (step 3's, then the query indexes and the
//! stored rating averages), its parts (step 3's, with the product store keeping each product's
//! rating average and the search sorting by it), its state (step 3's, with the reference and
//! profiling endpoints exempted from rate limits, plus step 4's settings and the profiler),
//! its routes (step 3's, plus `/internal/noop` and `/internal/profile`) and step 3's layers.

use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use common::Step;
use common::step::Extends;
use common::store::mongo::Mongo;
use derive_more::{Deref, DerefMut};
use step02_apis::listing::MongoSearch;

use crate::config::{Config, OptimizeConfig};
use crate::profiling::{PROFILE_PATH, Profiler};
use crate::rating::{self, RatedProducts};
use crate::routes::NOOP_PATH;

common::shared_state! {
    /// Step 4's application state: step 3's, plus what step 4 adds ([`State`]), behind one
    /// `Arc` like every step's.
    pub struct AppState(State);
    Profiler => profiler,
    Arc<OptimizeConfig> => optimize,
}

/// What [`AppState`] holds: step 3's state (`base`, reached through `Deref`) and step 4's.
#[derive(Clone, Deref, DerefMut)]
pub struct State {
    /// Step 3's state (its cache, Redis handle, rate limits counted in Redis).
    #[deref]
    #[deref_mut]
    pub base: step03_caching::AppState,
    /// Step 4's settings, read by the profiling endpoint.
    pub optimize: Arc<OptimizeConfig>,
    /// One CPU profile at a time.
    pub profiler: Profiler,
}

/// Step 4 is wired from step 3's parts; it changes two of them.
pub type Parts = step03_caching::Parts;

impl Extends for AppState {
    type Base = step03_caching::AppState;
    const NUMBER: u8 = 4;
    const TITLE: &'static str = "optimize";
    type Config = Config;
    type Parts = Parts;

    fn base(&self) -> &step03_caching::AppState {
        &self.base
    }

    /// Step 4's query indexes (unless `optimize.create_indexes` is off) and the rating
    /// averages of products rated before step 4 kept them.
    async fn prepare_own(db: &Mongo, config: &Config) -> anyhow::Result<()> {
        if config.optimize.create_indexes {
            let outcomes = crate::indexes::ensure(db)
                .await
                .context("creating step 4's query indexes")?;
            let created = outcomes
                .iter()
                .filter(|o| o.status == crate::indexes::Status::Created)
                .count();
            tracing::info!(created, "query indexes in place");
        }
        let backfilled = rating::backfill(db)
            .await
            .context("storing the rating averages of rated products")?;
        if backfilled > 0 {
            tracing::info!(backfilled, "stored the rating average of rated products");
        }
        Ok(())
    }

    /// The `-rating` sort reads a stored, indexed average, which the product store keeps after
    /// every rating change (step 3's cache then wraps both).
    async fn extend_parts(db: &Mongo, _config: &Config, mut parts: Parts) -> anyhow::Result<Parts> {
        parts.stores.products = Arc::new(RatedProducts::new(parts.stores.products.clone(), db));
        parts.search = Arc::new(MongoSearch::new(db.catalog()).with_stored_rating(rating::FIELD));
        Ok(parts)
    }

    async fn wire(config: &Config, parts: Parts) -> anyhow::Result<Self> {
        let mut base = step03_caching::AppState::from_parts(config, parts).await?;
        // The reference endpoint measures the stack; a quota refusing it would measure the
        // limiter (and a Redis round trip) instead.
        base.rate_limits = base
            .rate_limits
            .clone()
            .exempting(NOOP_PATH)
            .exempting(PROFILE_PATH);
        Ok(Self::from(State {
            base,
            optimize: Arc::new(config.optimize.clone()),
            profiler: Profiler::default(),
        }))
    }

    /// `/internal/noop` and (when enabled) `/internal/profile`.
    fn own_routes(&self, config: &Config) -> Router {
        let mut routes = crate::routes::router();
        if config.profiling_enabled() {
            routes = routes.merge(crate::profiling::router());
        }
        routes.with_state(self.clone())
    }
}
