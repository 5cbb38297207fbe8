//! Step 6's tests run testkit's `TestApp` with step 6's test configuration, and read what the
//! sagas and the outbox leave in PostgreSQL, MongoDB and Redis.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use mongodb::bson::{Document, doc, oid::ObjectId};
use secrecy::ExposeSecret;
use sqlx::PgPool;
use step06_distributed::testing::Child;

/// A running step-6 app.
pub type App = testkit::TestApp<step06_distributed::AppState>;

pub fn pool(app: &App) -> PgPool {
    app.state.sagas.pool.clone()
}

/// `(kind, step, state)` of every saga of `order`, oldest first.
pub async fn sagas_of(app: &App, order: &str) -> Vec<(String, String, String)> {
    sqlx::query_as("SELECT kind, step, state FROM sagas WHERE order_id = $1::bpchar ORDER BY id")
        .bind(order)
        .fetch_all(&pool(app))
        .await
        .expect("reading the sagas")
}

/// `(quantity, state)` of every reservation of `order`.
pub async fn reservations_of(app: &App, order: &str) -> Vec<(i32, String)> {
    sqlx::query_as(
        "SELECT quantity, state FROM stock_reservations WHERE order_id = $1::bpchar \
         ORDER BY product_id",
    )
    .bind(order)
    .fetch_all(&pool(app))
    .await
    .expect("reading the reservations")
}

/// The kinds of `order`'s outbox events, in order.
pub async fn events_of(app: &App, order: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT kind FROM outbox WHERE order_id = $1::bpchar ORDER BY id")
        .bind(order)
        .fetch_all(&pool(app))
        .await
        .expect("reading the outbox")
}

/// The product's document as MongoDB holds it (stock and any stock-move marks).
pub async fn product_doc(app: &App, id: &str) -> Document {
    app.database()
        .collection::<Document>("products")
        .find_one(doc! { "_id": ObjectId::parse_str(id).expect("a product id") })
        .await
        .expect("reading the product")
        .expect("the product exists")
}

pub async fn stock_of(app: &App, id: &str) -> i64 {
    let product = product_doc(app, id).await;
    match product.get("stock") {
        Some(mongodb::bson::Bson::Int64(n)) => *n,
        Some(mongodb::bson::Bson::Int32(n)) => i64::from(*n),
        other => panic!("the product's stock is {other:?}"),
    }
}

/// The stock-move marks the product holds (none once every move is recorded).
pub async fn marks_of(app: &App, id: &str) -> Vec<String> {
    product_doc(app, id)
        .await
        .get_array("stock_moves")
        .map(|marks| {
            marks
                .iter()
                .filter_map(|m| m.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Polls `probe` until it returns `Some`, for up to `within`; panics naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A Redis connection on the app's Redis.
pub async fn redis(app: &App) -> redis::aio::MultiplexedConnection {
    redis::Client::open(app.config.redis.url.expose_secret())
        .expect("a Redis URL")
        .get_multiplexed_async_connection()
        .await
        .expect("connecting to Redis")
}

/// What the invariant checker reports for `app`'s run over the products in `initial_stock`,
/// once the sagas and the outbox have settled.
pub async fn invariants_of(
    app: &App,
    initial_stock: &HashMap<String, i64>,
) -> step06_distributed::invariants::Report {
    use step06_distributed::invariants::{self, Expected};
    let expected = Expected {
        initial_stock,
        pending_bound: Duration::from_secs(app.config.saga.order_expiry_secs + 5),
    };
    invariants::after_run(
        &pool(app),
        &app.database(),
        app.provider_charges(),
        expected,
        Duration::from_secs(30),
    )
    .await
    .expect("the checker runs")
}

/// Settles, then checks every invariant over the run's products: none may be violated.
pub async fn nothing_lost(app: &App, initial_stock: HashMap<String, i64>) {
    let report = invariants_of(app, &initial_stock).await;
    assert!(
        report.violations.is_empty(),
        "violations: {:#?}",
        report.violations
    );
    assert!(
        report.orders + report.products > 0,
        "the checker saw the run: {report:?}"
    );
}

/// A step-6 server in a process of its own ([`step06_distributed::testing::Child`]).
pub type Server = Child;

/// How step 6's tests start one: the step-6 binary on an app's services.
pub trait Start: Sized {
    /// Starts the binary on `app`'s services; `pause_at` names the saga steps it stops at.
    async fn start(app: &App, pause_at: &[&str]) -> Self {
        Self::start_with(app, pause_at, &[]).await
    }

    /// The same, with `overrides` replacing (or adding to) the variables it gets: another
    /// PostgreSQL or MongoDB address, e.g. a fault proxy's.
    async fn start_with(app: &App, pause_at: &[&str], overrides: &[(&str, String)]) -> Self {
        Self::try_start_with(app, pause_at, overrides)
            .await
            .expect("the child server starts")
    }

    /// The same; an error when it exits or does not answer `/health` within 30 s (its
    /// MongoDB or PostgreSQL may be behind a fault at that moment).
    async fn try_start_with(
        app: &App,
        pause_at: &[&str],
        overrides: &[(&str, String)],
    ) -> anyhow::Result<Self>;
}

impl Start for Child {
    async fn try_start_with(
        app: &App,
        pause_at: &[&str],
        overrides: &[(&str, String)],
    ) -> anyhow::Result<Self> {
        Child::spawn(
            env!("CARGO_BIN_EXE_step06-distributed"),
            &app.config,
            pause_at,
            overrides,
        )
        .await
    }
}

/// Refunds, at the provider and behind the shop's back, the charge `order` was paid with,
/// under `key`; the charge's id.
pub async fn refunded_behind_the_shops_back(app: &App, order: &str, key: &str) -> String {
    let (_, admin) = app.admin().await;
    let charge = app.order(&admin, order).await["payment"]["provider_reference"]
        .as_str()
        .expect("a paid order's charge")
        .to_owned();
    let key = key.replace("{charge}", &charge);
    app.state
        .sagas
        .gateway
        .refund(&charge, &key)
        .await
        .expect("the provider refunds");
    charge
}
