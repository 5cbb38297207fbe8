//! Wiring: step 9's [`Step`]: step 8's preparation and parts; MongoDB's client with the
//! driver's command and pool events ([`MongoEvents`]); the parts wrapped so their calls are
//! timed (the order and payment stores, the payment gateway, Redis), plus a consumer of the
//! outbox's events that counts the business; step 8's routes inside the RED layer; and the
//! admin listener with `/metrics`.
//!
//! [`Step`]: common::Step

use std::sync::Arc;
use std::time::Duration;

use common::Step;
use common::step::{Admin, Extends};
use common::store::mongo::Mongo;
use derive_more::{Deref, DerefMut};

use crate::config::Config;
use crate::metrics::Metrics;
use crate::metrics::business::{BoundedLabel, BusinessCounts, MAX_CURRENCIES};
use crate::metrics::clients::{MeasuredGateway, MeasuredOrders, MeasuredPayments, MongoEvents};
use crate::metrics::scrape::Sources;

common::shared_state! {
    /// Step 9's application state: step 8's, plus its metrics ([`State`]).
    pub struct AppState(State);
}

/// What [`AppState`] holds: step 8's state (`base`, reached through `Deref`), the metrics
/// and what a scrape reads.
#[derive(Clone, Deref, DerefMut)]
pub struct State {
    #[deref]
    #[deref_mut]
    pub base: step08_cloud::AppState,
    pub metrics: Metrics,
    pub sources: Sources,
}

/// What step 9's state is wired from: step 8's parts (step 6's type), with a consumer of the
/// outbox's events that counts the business, and the metrics it counts into.
#[derive(Deref, DerefMut)]
pub struct Parts {
    #[deref]
    #[deref_mut]
    pub base: step06_distributed::startup::Parts,
    pub metrics: Metrics,
}

/// The pool bound MongoDB's driver takes when `maxPoolSize` is not given.
const MONGO_DEFAULT_POOL: u32 = 10;

impl Extends for AppState {
    type Base = step08_cloud::AppState;
    const NUMBER: u8 = 9;
    const TITLE: &'static str = "monitoring";
    type Config = Config;
    type Parts = Parts;

    fn base(&self) -> &step08_cloud::AppState {
        &self.base
    }

    /// The driver's command and pool events, recorded for this database's instance.
    fn tune_own_mongo(config: &Config, options: &mut common::store::mongo::MongoOptions) {
        let max = options.client.max_pool_size.unwrap_or(MONGO_DEFAULT_POOL);
        MongoEvents::for_database(&config.mongodb.database, max).install(&mut options.client);
    }

    /// Step 8's parts, plus the metrics and their consumer of the outbox's events.
    async fn extend_parts(
        _db: &Mongo,
        _config: &Config,
        mut base: step06_distributed::startup::Parts,
    ) -> anyhow::Result<Parts> {
        let metrics = Metrics::new()?;
        base.consumers.push(Arc::new(BusinessCounts {
            metrics: metrics.clone(),
            currencies: BoundedLabel::new(MAX_CURRENCIES),
        }));
        Ok(Parts { base, metrics })
    }

    /// Step 8's state over parts whose calls are timed.
    async fn wire(config: &Config, parts: Parts) -> anyhow::Result<Self> {
        let Parts {
            base: mut parts,
            metrics,
        } = parts;
        // The events `tune_own_mongo` installed, found again by the database's name.
        let events = MongoEvents::for_database(&config.mongodb.database, MONGO_DEFAULT_POOL);
        metrics.attach_mongo(&events);
        metrics.attach_redis(&parts.redis);
        parts.stores.orders = Arc::new(MeasuredOrders {
            inner: parts.stores.orders.clone(),
            metrics: metrics.clone(),
        });
        parts.stores.payments = Arc::new(MeasuredPayments {
            inner: parts.stores.payments.clone(),
            metrics: metrics.clone(),
        });
        parts.gateway = Arc::new(MeasuredGateway {
            inner: parts.gateway.clone(),
            metrics: metrics.clone(),
        });
        let base = step08_cloud::AppState::from_parts(config, parts).await?;
        let readiness = &base.readiness;
        let sources = Sources {
            cache: base.cache_stats.clone(),
            redis: base.redis.clone(),
            postgres: base.postgres.clone(),
            postgres_max: config.postgres.max_connections,
            checks: vec![readiness.required.clone(), readiness.degraded.clone()],
            dead_letters: step06_distributed::consumers::Runner::dead_letters(
                &step06_distributed::workers::stream_key(config),
            ),
            stuck_after: Duration::from_secs(config.metrics.saga_stuck_after_secs),
        };
        Ok(Self::from(State {
            base,
            metrics,
            sources,
        }))
    }

    /// Step 8's routes and layers, each request traced and recorded ([`crate::observe`]).
    fn outer_layer(&self, routes: axum::Router, _config: &Config) -> axum::Router {
        crate::observe::layer(routes, self.metrics.clone())
    }

    /// `/metrics`, on `metrics.host`:`metrics.port` ([`crate::admin`]).
    fn own_admin(&self, config: &Config) -> Option<Admin> {
        let addr = config
            .metrics
            .addr()
            .expect("checked when the configuration was loaded");
        Some(Admin {
            addr,
            router: crate::admin::router(crate::admin::Admin {
                metrics: self.metrics.clone(),
                sources: self.sources.clone(),
            }),
        })
    }
}
