//! The PostgreSQL read replica (`step06_distributed::replica`), against a primary and a
//! streaming replica of its own that each test starts (provision's local servers): order
//! lists come from the replica, except a customer's own right after writing on the same
//! instance, and except while the replica is down or behind; `/health` names the replica.
//! Replay is paused on the replica (`pg_wal_replay_pause()`) to make it visibly stale: a row
//! written after the pause is on the primary only.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};
use testkit::expect_status;
use testkit::services::postgres::{PostgresServer, PostgresSettings, TestPostgresDatabase};

use crate::support::{App, eventually};

/// An app whose `postgres.url` is a primary this test owns and `replica.url` the same
/// database on a streaming replica of it. Fields drop in order: the app, the replica, then
/// the database (dropped through the primary), then the primary.
struct Replicated {
    app: App,
    replica: Option<PostgresServer>,
    replica_url: String,
    _db: TestPostgresDatabase,
    _primary: PostgresServer,
}

async fn replicated(read_your_writes_ms: u64, max_lag_ms: u64) -> Replicated {
    let (primary, replica) = tokio::task::spawn_blocking(|| {
        let primary = PostgresServer::start_with(&PostgresSettings::from_env().local_only())
            .expect("a primary PostgreSQL");
        let replica = PostgresServer::start_replica_of(&primary).expect("a replica of it");
        (primary, replica)
    })
    .await
    .expect("starting PostgreSQL");
    let db = TestPostgresDatabase::create_on(primary.url())
        .await
        .expect("the app's database");
    let primary_url = db.url.clone();
    let replica_url = replica.url_for(&db.name);
    let app_replica_url = replica_url.clone();
    let app = App::builder()
        .config(move |c| {
            c.postgres.url = primary_url.into();
            c.replica.url = Some(app_replica_url.into());
            c.replica.read_your_writes_ms = read_your_writes_ms;
            c.replica.max_lag_ms = max_lag_ms;
        })
        .spawn()
        .await;
    Replicated {
        app,
        replica: Some(replica),
        replica_url,
        _db: db,
        _primary: primary,
    }
}

impl Replicated {
    async fn on_replica(&self, sql: &str) {
        let mut conn = PgConnection::connect(&self.replica_url)
            .await
            .expect("connecting to the replica");
        sqlx::query(sql)
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql} on the replica: {e}"));
    }

    /// Waits until the replica has replayed `order`.
    async fn replicated(&self, order: &str) {
        let url = self.replica_url.clone();
        eventually("the order on the replica", Duration::from_secs(10), || {
            let url = url.clone();
            async move {
                let mut conn = PgConnection::connect(&url).await.ok()?;
                let n: i64 =
                    sqlx::query_scalar("SELECT count(*) FROM orders WHERE id = $1::bpchar")
                        .bind(order)
                        .fetch_one(&mut conn)
                        .await
                        .ok()?;
                (n == 1).then_some(())
            }
        })
        .await;
    }
}

/// A product with plenty of stock, made by an admin of `app`.
async fn product(app: &App) -> String {
    let (_, admin) = app.admin().await;
    let product = app.create_product(&admin, json!({ "stock": 100 })).await;
    product["id"].as_str().expect("a product id").to_owned()
}

async fn place(app: &App, token: &str, product: &str) -> String {
    let order = expect_status(
        app.place_order(token, json!([{ "product_id": product, "quantity": 1 }]))
            .await,
        201,
    )
    .await;
    order["id"].as_str().expect("an order id").to_owned()
}

/// The ids of the customer's orders as `GET /api/v1/orders` lists them (a 200).
async fn listed(app: &App, token: &str) -> Vec<String> {
    let body = expect_status(app.get("/api/v1/orders", Some(token)).await, 200).await;
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|o| o["id"].as_str().expect("an id").to_owned())
        .collect()
}

/// `(status, the postgresql-replica check's word)` of `GET /health`.
async fn replica_health(app: &App) -> (u16, Value) {
    let response = app.get("/health", None).await;
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("a JSON health body");
    (status, body["checks"]["postgresql-replica"].clone())
}

#[tokio::test]
async fn a_customer_sees_the_order_just_placed_on_the_same_instance_while_another_instance_reads_the_paused_replica()
 {
    let r = replicated(30_000, 30_000).await;
    let other = r.app.beside().spawn().await;
    let product = product(&r.app).await;
    let (_, token) = r.app.customer().await;
    let before = place(&other, &token, &product).await;
    r.replicated(&before).await;

    r.on_replica("SELECT pg_wal_replay_pause()").await;
    let after = place(&other, &token, &product).await;

    // The instance that took the write reads its customer's lists from the primary.
    let mine = listed(&other, &token).await;
    assert!(mine.contains(&after) && mine.contains(&before), "{mine:?}");
    expect_status(
        other
            .get(&format!("/api/v1/orders/{after}"), Some(&token))
            .await,
        200,
    )
    .await;
    // Another instance has seen no write of this customer's: its list comes from the replica,
    // whose replay stopped before the second order.
    let elsewhere = listed(&r.app, &token).await;
    assert_eq!(
        elsewhere,
        vec![before.clone()],
        "served by the paused replica"
    );

    r.on_replica("SELECT pg_wal_replay_resume()").await;
    r.replicated(&after).await;
    let caught_up = listed(&r.app, &token).await;
    assert!(caught_up.contains(&after), "{caught_up:?}");
}

#[tokio::test]
async fn a_replica_behind_by_more_than_max_lag_ms_is_not_read_and_fails_the_health_check_until_it_catches_up()
 {
    let r = replicated(1_000, 1_000).await;
    let other = r.app.beside().spawn().await;
    let product = product(&r.app).await;
    let (_, token) = r.app.customer().await;
    let before = place(&other, &token, &product).await;
    r.replicated(&before).await;
    let (status, check) = replica_health(&r.app).await;
    assert_eq!((status, check), (200, json!("ok")), "a replica caught up");
    let health: Value = r.app.get("/health", None).await.json().await.unwrap();
    let lag = &health["details"]["postgresql-replica"]["lag_ms"];
    assert!(
        lag.as_u64().is_some_and(|ms| ms <= 1_000),
        "the lag in /health: {health}"
    );

    r.on_replica("SELECT pg_wal_replay_pause()").await;
    let after = place(&other, &token, &product).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    let listed_now = listed(&r.app, &token).await;
    assert!(
        listed_now.contains(&after),
        "read from the primary, the replica being behind: {listed_now:?}"
    );
    let (status, check) = replica_health(&r.app).await;
    assert_eq!((status, check), (503, json!("unavailable")));
    let health: Value = r.app.get("/health", None).await.json().await.unwrap();
    let lag = &health["details"]["postgresql-replica"]["lag_ms"];
    assert!(
        lag.as_u64().is_some_and(|ms| ms > 1_000),
        "the lag in /health: {health}"
    );

    r.on_replica("SELECT pg_wal_replay_resume()").await;
    let caught_up = Instant::now();
    eventually(
        "the replica check ok again",
        Duration::from_secs(10),
        || async { (replica_health(&r.app).await == (200, json!("ok"))).then_some(()) },
    )
    .await;
    eprintln!("replica healthy {:?} after resuming", caught_up.elapsed());
}

#[tokio::test]
async fn with_the_replica_stopped_order_lists_are_still_served_from_the_primary_and_health_names_the_replica()
 {
    let mut r = replicated(1_000, 1_000).await;
    let product = product(&r.app).await;
    let (_, token) = r.app.customer().await;
    let order = place(&r.app, &token, &product).await;
    r.replicated(&order).await;
    // Past the read-your-writes window, so only the replica being down sends it to the
    // primary.
    tokio::time::sleep(Duration::from_millis(1_200)).await;

    drop(r.replica.take());

    let listed_now = listed(&r.app, &token).await;
    assert_eq!(listed_now, vec![order]);
    let response = r.app.get("/health", None).await;
    assert_eq!(response.status().as_u16(), 503);
    let body: Value = response.json().await.expect("a JSON health body");
    assert_eq!(body["checks"]["postgresql-replica"], json!("unavailable"));
    assert_eq!(body["checks"]["postgresql"], json!("ok"), "{body}");
}
