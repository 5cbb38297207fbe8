//! Wiring: step 6's [`Step`]: its preparation (step 5's, then its own migrations), its parts
//! (step 5's, with order lists read from the PostgreSQL replica when one is configured), its
//! state (step 5's, wired with the saga as the order flow, plus the workers that resume
//! sagas, relay the outbox and consume the events), and step 5's routes and layers.

use std::sync::{Arc, OnceLock};

use anyhow::Context;
use common::services::OrderFlow;

use common::Step;
use common::step::Extends;
use common::store::mongo::Mongo;
use derive_more::{Deref, DerefMut};

use crate::config::Config;
use crate::saga::Sagas;
use crate::workers::{self, Workers};

common::shared_state! {
    /// Step 6's application state: step 5's, plus what step 6 adds ([`State`]).
    pub struct AppState(State);
    sqlx::PgPool => postgres,
    common::auth::Verifier => verifier,
    Sagas => sagas,
}

/// What [`AppState`] holds: step 5's state (`base`, reached through `Deref`), the saga
/// driver its orders go through, and the workers.
#[derive(Clone, Deref, DerefMut)]
pub struct State {
    #[deref]
    #[deref_mut]
    pub base: step05_hybrid_dbs::AppState,
    pub sagas: Sagas,
    /// Kept to stop them with the state.
    pub workers: Arc<Workers>,
}

/// What step 6's state is wired from: step 5's parts (with the order store reading the
/// replica, when there is one), and the marks of who wrote lately, which the saga sets.
#[derive(Deref, DerefMut)]
pub struct Parts {
    #[deref]
    #[deref_mut]
    pub base: step05_hybrid_dbs::Parts,
    pub written: Option<Arc<crate::replica::Written>>,
    /// The outbox's consumers each instance runs: step 6's ([`workers::consumers`]); a later
    /// step adds its own (step 9 counts the business from the events).
    pub consumers: Vec<Arc<dyn crate::consumers::Consumer>>,
}

impl Extends for AppState {
    type Base = step05_hybrid_dbs::AppState;
    const NUMBER: u8 = 6;
    const TITLE: &'static str = "distributed data";
    type Config = Config;
    type Parts = Parts;

    fn base(&self) -> &step05_hybrid_dbs::AppState {
        &self.base
    }

    /// MongoDB as a replica set: write and read concerns, the catalog's reads and sessions
    /// ([`crate::replica_set`]).
    fn tune_own_mongo(config: &Config, options: &mut common::store::mongo::MongoOptions) {
        crate::replica_set::tune(&config.replica_set, options);
    }

    /// Step 6's migrations, unless `postgres.migrate_on_start` is off.
    async fn prepare_own(_db: &Mongo, config: &Config) -> anyhow::Result<()> {
        if config.postgres.migrate_on_start {
            crate::postgres::migrate(&config.postgres).await?;
        }
        Ok(())
    }

    /// `/api/v2/mailbox`. Bound to this state, which holds the workers: the router keeps the
    /// state, so the workers run as long as the server does.
    fn own_routes(&self, _config: &Config) -> axum::Router {
        crate::mailbox::router().with_state(self.clone())
    }

    /// Step 5's parts; with `replica.url`, the order store reads order lists from the
    /// replica ([`crate::replica`]), the product store tells it of placed orders, and
    /// `/health` checks the replica. What else step 6 adds is wired from them below.
    async fn extend_parts(
        _db: &Mongo,
        config: &Config,
        mut base: step05_hybrid_dbs::Parts,
    ) -> anyhow::Result<Parts> {
        let Some(url) = &config.replica.url else {
            return Ok(Parts {
                base,
                written: None,
                consumers: workers::consumers(),
            });
        };
        use crate::replica::{Lag, ReplicaHealth, Replicated, Written};
        // The primary's pool settings (session timeouts among them), on the replica; a
        // short acquire timeout, since a read that cannot have a replica connection at once
        // is better served by the primary.
        let replica_pool =
            step05_hybrid_dbs::postgres::pool(&step05_hybrid_dbs::config::PostgresConfig {
                url: url.clone(),
                max_connections: config.replica.max_connections,
                acquire_timeout_ms: config.postgres.acquire_timeout_ms.min(500),
                ..config.postgres.clone()
            })
            .context("replica.url")?;
        let lag = Arc::new(Lag::new(replica_pool.clone()));
        let written = Arc::new(Written::new(std::time::Duration::from_millis(
            config.replica.read_your_writes_ms,
        )));
        base.stores.orders = Arc::new(Replicated::new(
            base.stores.orders.clone(),
            replica_pool,
            lag.clone(),
            written.clone(),
            &config.replica,
        ));
        base.health = base.health.clone().with(ReplicaHealth {
            lag,
            max_lag_ms: config.replica.max_lag_ms,
        });
        Ok(Parts {
            base,
            written: Some(written),
            consumers: workers::consumers(),
        })
    }

    /// Step 5's state, wired with the saga as the order flow. The saga is made by step 0's
    /// wiring (the `order_flow` factory), from the stores as every step's wrappers left them,
    /// so its stock moves go through step 3's cache and invalidate it.
    async fn wire(config: &Config, parts: Parts) -> anyhow::Result<Self> {
        let Parts {
            base: mut parts,
            written,
            consumers,
        } = parts;
        let made = Arc::new(OnceLock::new());
        let slot = made.clone();
        let keys = crate::idempotency::Keys::new(parts.postgres.clone(), config);
        let pool = parts.postgres.clone();
        let saga_config = config.saga.clone();
        let payment_wait = config
            .payments
            .timeout_ms
            .max(config.apis.payments.deadline_ms);
        parts.order_flow = Some(Box::new(move |stores, gateway| {
            let sagas = Sagas {
                pool,
                orders: stores.orders.clone(),
                products: stores.products.clone(),
                gateway: gateway.clone(),
                owner: instance_name().into(),
                pause_at: saga_config.pause_at.clone().into(),
                config: saga_config,
                written,
                refund_settle_ms: payment_wait.saturating_mul(2),
            };
            let flow: Arc<dyn OrderFlow> = Arc::new(sagas.clone());
            let _ = slot.set(sagas);
            flow
        }));
        let mut base = step05_hybrid_dbs::AppState::from_parts(config, parts).await?;
        base.api_document =
            crate::idempotency::document(&base.api_document.with(crate::mailbox::openapi()))?;
        // GraphQL's `idempotencyKey`, honoured with the same table and rules as the header.
        base.graphql = base.graphql.clone().with_keyed_mutations(Arc::new(keys));
        let sagas = made
            .get()
            .cloned()
            .context("step 0's wiring made no order flow from the factory")?;
        let workers = Arc::new(workers::start(config, &sagas, consumers)?);
        Ok(Self::from(State {
            base,
            sagas,
            workers,
        }))
    }

    /// `Idempotency-Key` on placing and paying orders ([`crate::idempotency`]). An inner
    /// layer: it runs inside step 0's request id, timeout and error envelope, step 1's
    /// security headers and step 2's versioning and rate limits, so it stores the handler's
    /// own answer, and a replay gets this request's id, headers and error rendering from the
    /// layers outside, as any answer does; a rate-limited request never reaches it.
    fn inner_layer(&self, routes: axum::Router, config: &Config) -> axum::Router {
        let keys = crate::idempotency::Idempotency::new(
            self.postgres.clone(),
            self.verifier.clone(),
            config,
        );
        crate::idempotency::layer(routes, keys)
    }
}

/// This process's name as a saga owner and a consumer group member: its pid and a random
/// part, so two instances on one host (or two test apps in one process) never share one.
fn instance_name() -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{}-{}", std::process::id(), &random[..8])
}
