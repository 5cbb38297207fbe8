//! Step 6's tests run testkit's `TestApp` with step 6's test configuration, and read what the
//! sagas and the outbox leave in PostgreSQL, MongoDB and Redis.

use std::time::{Duration, Instant};

use mongodb::bson::{Document, doc, oid::ObjectId};
use sqlx::PgPool;

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
    use secrecy::ExposeSecret;
    redis::Client::open(app.config.redis.url.expose_secret())
        .expect("a Redis URL")
        .get_multiplexed_async_connection()
        .await
        .expect("connecting to Redis")
}
