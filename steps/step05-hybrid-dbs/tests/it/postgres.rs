//! What PostgreSQL adds over the MongoDB stores: the migrations apply once even from several
//! instances at once; the constraints refuse what the API could never write, and each
//! violation maps to one status (409, 422) in `common`; with PostgreSQL down, the order routes
//! answer 503, the catalog keeps answering and `/health` names PostgreSQL.

use common::domain::{OrderId, PaymentRecord, PaymentStatus};
use common::store::{PaymentStore, StoreError};
use serde_json::json;
use step05_hybrid_dbs::postgres::MIGRATOR;
use step05_hybrid_dbs::store::PgPayments;
use testkit::expect_status;

use crate::support::App;

#[tokio::test]
async fn the_migrations_apply_once_even_when_three_instances_start_together() {
    let app = App::spawn().await;
    let config = app.config.postgres.clone();
    // Polled together, so the runs really overlap on the advisory lock.
    let runs = (0..3).map(|_| step05_hybrid_dbs::postgres::migrate(&config));
    for result in futures::future::join_all(runs).await {
        result.expect("a concurrent migration run succeeds");
    }
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&app.state.postgres)
        .await
        .unwrap();
    assert_eq!(applied, MIGRATOR.iter().count() as i64);
}

#[tokio::test]
async fn the_constraints_refuse_what_the_api_never_writes_and_each_maps_to_one_status() {
    let app = App::spawn().await;
    let pool = &app.state.postgres;
    // A payment for an order that does not exist: the foreign key.
    let orphan = PaymentRecord {
        order_id: OrderId::new(),
        idempotency_key: "orphan".to_owned(),
        amount: common::domain::Money::price(100, common::domain::Currency::parse("EUR").unwrap())
            .unwrap(),
        status: PaymentStatus::Succeeded,
        provider_reference: Some("ch".to_owned()),
        reason: None,
        created_at: common::store::mongo::now(),
    };
    let error = PgPayments::new(pool.clone())
        .record(&orphan)
        .await
        .unwrap_err();
    assert!(
        matches!(error, StoreError::MissingReference(ref c) if c == "payments_order_id_fkey"),
        "{error:?}"
    );
    assert_eq!(common::Error::from(error).status(), 422);

    let raw = |sql: &'static str| async move {
        sqlx::query(sql)
            .execute(pool)
            .await
            .map_err(step05_hybrid_dbs::store::map_err("test"))
            .unwrap_err()
    };
    let id = "0123456789abcdef01234567";
    sqlx::query(
        "INSERT INTO orders (id, user_id, status, total_minor, currency, created_at, updated_at) \
         VALUES ($1, $1, 'pending', 100, 'EUR', now(), now())",
    )
    .bind(id)
    .execute(pool)
    .await
    .unwrap();
    for (sql, want) in [
        // Negative money, a status outside the machine, a lower-case currency, a zero quantity.
        (
            "UPDATE orders SET total_minor = -1",
            "orders_total_minor_check",
        ),
        ("UPDATE orders SET status = 'lost'", "orders_status_check"),
        ("UPDATE orders SET currency = 'eur'", "currency_code_check"),
        (
            "INSERT INTO order_lines VALUES ('0123456789abcdef01234567', 0, \
             '0123456789abcdef01234567', 'SKU', 'n', 100, 0)",
            "order_lines_quantity_check",
        ),
        // Paid without its payment.
        (
            "UPDATE orders SET status = 'paid'",
            "orders_paid_have_payment",
        ),
        // Half a payment.
        (
            "UPDATE orders SET payment_reference = 'ch'",
            "orders_payment_whole",
        ),
        // An id that is not the API's.
        (
            "UPDATE orders SET id = 'not-an-object-id-0000000'",
            "object_id_check",
        ),
    ] {
        let error = raw(sql).await;
        assert!(
            matches!(&error, StoreError::Invalid(c) if c == want),
            "{sql}: {error:?}"
        );
        assert_eq!(common::Error::from(error).status(), 422, "{sql}");
    }
    let duplicate = raw(
        "INSERT INTO orders (id, user_id, status, total_minor, currency, created_at, updated_at) \
         VALUES ('0123456789abcdef01234567', '0123456789abcdef01234567', 'pending', 1, 'EUR', \
         now(), now())",
    )
    .await;
    assert!(
        matches!(&duplicate, StoreError::Duplicate(c) if c == "orders_pkey"),
        "{duplicate:?}"
    );
    assert_eq!(common::Error::from(duplicate).status(), 409);
}

#[tokio::test]
async fn an_order_placed_and_paid_over_http_lives_in_postgresql_not_mongodb() {
    let app = App::spawn().await;
    let (_, admin) = app.admin().await;
    let product = app
        .create_product(&admin, json!({ "price_minor": 700, "stock": 3 }))
        .await;
    let (_, customer) = app.customer().await;
    let placed = expect_status(
        app.request(
            reqwest::Method::POST,
            "/api/v1/orders",
            Some(&customer),
            Some(json!({ "items": [{ "product_id": product["id"], "quantity": 2 }] })),
        )
        .await,
        201,
    )
    .await;
    let id = placed["id"].as_str().unwrap();
    let row: (String, i64) = sqlx::query_as("SELECT status, total_minor FROM orders WHERE id = $1")
        .bind(id)
        .fetch_one(&app.state.postgres)
        .await
        .unwrap();
    assert_eq!(row, ("pending".to_owned(), 1400));
    let lines: i64 =
        sqlx::query_scalar("SELECT sum(quantity)::bigint FROM order_lines WHERE order_id = $1")
            .bind(id)
            .fetch_one(&app.state.postgres)
            .await
            .unwrap();
    assert_eq!(lines, 2);
    let db = common::store::mongo::connect(&app.config.mongodb)
        .await
        .unwrap();
    let in_mongo = db
        .collection::<mongodb::bson::Document>("orders")
        .count_documents(mongodb::bson::doc! {})
        .await
        .unwrap();
    assert_eq!(in_mongo, 0, "no order went to MongoDB");
}

#[tokio::test]
async fn with_postgresql_down_orders_answer_503_the_catalog_answers_and_health_names_it() {
    // A port nobody listens on, and no migration at startup (it would fail the start).
    let app = App::spawn_with(|config| {
        config.postgres.url = secrecy::SecretString::from("postgres://postgres@127.0.0.1:9/none");
        config.postgres.migrate_on_start = false;
        config.postgres.acquire_timeout_ms = 500;
    })
    .await;
    let (_, customer) = app.customer().await;
    let orders = app.get("/api/v1/orders", Some(&customer)).await;
    testkit::expect_error(orders, 503, "SERVICE_UNAVAILABLE").await;
    let catalog = app.get("/api/v1/products", None).await;
    assert_eq!(catalog.status(), 200);
    let health = app.get("/health", None).await;
    assert_eq!(health.status(), 503);
    let body: serde_json::Value = health.json().await.unwrap();
    assert_eq!(body["checks"]["postgresql"], "unavailable", "{body}");
    assert_eq!(body["checks"]["mongodb"], "ok", "{body}");
}

/// Every session of the pool carries the configured server-side timeouts, and the server ends
/// a statement that runs longer than its bound.
#[tokio::test]
async fn every_session_of_the_pool_has_the_configured_timeouts_and_the_server_enforces_them() {
    let app = App::spawn_with(|config| {
        config.postgres.statement_timeout_ms = 300;
        config.postgres.lock_timeout_ms = 200;
        config.postgres.idle_in_transaction_timeout_ms = 1_500;
    })
    .await;
    let pool = step05_hybrid_dbs::postgres::pool(&app.config.postgres).unwrap();
    let (statement, lock, idle): (String, String, String) = sqlx::query_as(
        "SELECT current_setting('statement_timeout'), current_setting('lock_timeout'), \
         current_setting('idle_in_transaction_session_timeout')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        (statement.as_str(), lock.as_str(), idle.as_str()),
        ("300ms", "200ms", "1500ms")
    );
    let cut = sqlx::query("SELECT pg_sleep(2)").execute(&pool).await;
    let code = cut
        .expect_err("a statement past its bound is ended")
        .as_database_error()
        .and_then(|e| e.code().map(|c| c.into_owned()));
    assert_eq!(code.as_deref(), Some("57014"), "query_canceled");
}
