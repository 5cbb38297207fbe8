//! Wiring: step 5's [`Step`]: its preparation (step 4's, then the PostgreSQL migrations), its
//! parts (step 4's, with the order and payment stores on PostgreSQL and `/health` checking it),
//! its state (step 4's, built from those parts, plus the pool; its GraphQL schema and OpenAPI
//! document gain the sales report), its routes (step 4's, plus the sales report and the order views) and step 4's
//! layers.

use std::sync::Arc;

use common::Step;
use common::step::Extends;
use common::store::mongo::Mongo;
use derive_more::{Deref, DerefMut};
use sqlx::PgPool;

use common::store::{OrderStore, PaymentStore};

use crate::config::Config;
use crate::cutover::{ByPhase, Cutover};
use crate::postgres::{self, PostgresHealth};
use crate::store::{PgOrders, PgPayments};

common::shared_state! {
    /// Step 5's application state: step 4's, plus what step 5 adds ([`State`]), behind one
    /// `Arc` like every step's.
    pub struct AppState(State);
    PgPool => postgres,
    // Asked for by the report's admin check and the order views' signed-in user.
    common::auth::Verifier => verifier,
    // Asked for by the order views.
    common::services::Ordering => ordering,
    common::services::Catalog => catalog,
}

/// What [`AppState`] holds: step 4's state (`base`, reached through `Deref`) and the pool.
#[derive(Clone, Deref, DerefMut)]
pub struct State {
    /// Step 4's state, whose order and payment stores are the PostgreSQL ones.
    #[deref]
    #[deref_mut]
    pub base: step04_optimize::AppState,
    /// The PostgreSQL pool the stores share (the report and the migration use it too).
    pub postgres: PgPool,
}

/// What step 5's state is wired from: step 4's parts, with orders and payments in
/// PostgreSQL, and the pool they share.
#[derive(Deref, DerefMut)]
pub struct Parts {
    #[deref]
    #[deref_mut]
    pub base: step04_optimize::startup::Parts,
    pub postgres: PgPool,
}

impl Extends for AppState {
    type Base = step04_optimize::AppState;
    const NUMBER: u8 = 5;
    const TITLE: &'static str = "hybrid databases";
    type Config = Config;
    type Parts = Parts;

    fn base(&self) -> &step04_optimize::AppState {
        &self.base
    }

    /// The PostgreSQL migrations, unless `postgres.migrate_on_start` is off.
    async fn prepare_own(_db: &Mongo, config: &Config) -> anyhow::Result<()> {
        if config.postgres.migrate_on_start {
            postgres::migrate(&config.postgres).await?;
        }
        Ok(())
    }

    /// Orders and payments move to PostgreSQL (with `postgres.cutover`, once the cutover has
    /// moved them); products, reviews and users stay in MongoDB.
    async fn extend_parts(
        _db: &Mongo,
        config: &Config,
        mut base: step04_optimize::startup::Parts,
    ) -> anyhow::Result<Parts> {
        let pool = postgres::pool(&config.postgres)?;
        let orders: Arc<dyn OrderStore> = Arc::new(PgOrders::new(pool.clone()));
        let payments: Arc<dyn PaymentStore> = Arc::new(PgPayments::new(pool.clone()));
        if config.postgres.cutover {
            // MongoDB's stores (step 4's) until the cutover row says PostgreSQL.
            let cutover = Cutover::new(pool.clone(), postgres::pool(&config.postgres)?);
            base.stores.orders = Arc::new(ByPhase {
                cutover: cutover.clone(),
                mongodb: base.stores.orders.clone(),
                postgresql: orders,
            });
            base.stores.payments = Arc::new(ByPhase {
                cutover: cutover.clone(),
                mongodb: base.stores.payments.clone(),
                postgresql: payments,
            });
            base.order_writes = Arc::new(cutover);
        } else {
            base.stores.orders = orders;
            base.stores.payments = payments;
        }
        base.health = base.health.clone().with(PostgresHealth(pool.clone()));
        Ok(Parts {
            base,
            postgres: pool,
        })
    }

    /// `/api/v2/reports/sales` and `/api/v2/order-views`.
    fn own_routes(&self, _config: &Config) -> axum::Router {
        crate::report::router()
            .merge(crate::views::router())
            .with_state(self.clone())
    }

    async fn wire(config: &Config, parts: Parts) -> anyhow::Result<Self> {
        let Parts { base, postgres } = parts;
        let mut base = step04_optimize::AppState::from_parts(config, base).await?;
        // The report joins GraphQL's queries; the report and the order views join the OpenAPI
        // document.
        base.graphql = crate::graphql::schema(config, &postgres);
        base.api_document = base
            .api_document
            .with(crate::report::openapi())
            .with(crate::views::openapi());
        Ok(Self::from(State { base, postgres }))
    }
}
