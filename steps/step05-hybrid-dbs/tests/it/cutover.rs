//! The cutover of a running shop: step 5 with `postgres.cutover` serves orders from MongoDB
//! until `cutover::run` freezes order writes, copies and verifies, and switches to
//! PostgreSQL. With customers placing and paying orders the whole time, every write is
//! either done or refused with 503 `MAINTENANCE` and `Retry-After` (and then done on a
//! retry), every accepted order ends in PostgreSQL as it was, and reads never miss one. The
//! freeze waits for a running write; a failed verification unfreezes on MongoDB.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::services::OrderWrites;
use common::store::OrderStore;
use serde_json::{Value, json};
use step05_hybrid_dbs::cutover::{self, ByPhase, Cutover, Options, Outcome};
use testkit::expect_status;
use tokio::sync::Mutex;

use crate::migration::{mongo, seed};
use crate::support::App;

async fn spawn() -> App {
    App::spawn_with(|config| {
        config.postgres.cutover = true;
        // The traffic places orders as fast as it can: no customer could, and the orders
        // quota would answer 429 long before the cutover is reached.
        config.apis.rate_limit.enabled = false;
    })
    .await
}

async fn pg_orders(app: &App) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(&app.state.postgres)
        .await
        .unwrap()
}

/// What the traffic saw.
#[derive(Default)]
struct Seen {
    /// Accepted orders: id, and whether it was paid.
    accepted: Vec<(String, bool)>,
    refusals: usize,
    /// Anything but a success or a MAINTENANCE refusal with Retry-After.
    failures: Vec<String>,
}

/// One customer placing orders and paying every other one until `stop`; a refused request
/// is sent again after a short wait, as its Retry-After invites (shortened for the test).
async fn customer(app: Arc<App>, product: String, stop: Arc<AtomicBool>, seen: Arc<Mutex<Seen>>) {
    let (_, token) = app.customer().await;
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let placed = retried(&seen, || {
            app.place_order(&token, json!([{ "product_id": product, "quantity": 1 }]))
        })
        .await;
        let Some(order) = placed else { continue };
        let id = order["id"].as_str().unwrap().to_owned();
        let paid = n % 2 == 0
            && retried(&seen, || app.pay_order(&token, &id, "tok_success"))
                .await
                .is_some();
        // Reads never miss an accepted order, before, during or after the switch.
        let read = app.get(&format!("/api/v1/orders/{id}"), Some(&token)).await;
        if read.status() != 200 {
            seen.lock()
                .await
                .failures
                .push(format!("reading {id}: {}", read.status()));
        }
        seen.lock().await.accepted.push((id, paid));
    }
}

/// The answer of `send`, sent again while refused for maintenance; `None` on a failure.
async fn retried<F, Fut>(seen: &Mutex<Seen>, send: F) -> Option<Value>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = reqwest::Response>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        let answer = send().await;
        let status = answer.status().as_u16();
        let retry_after = answer.headers().get("retry-after").cloned();
        let body: Value = answer.json().await.unwrap_or(Value::Null);
        match status {
            200 | 201 => return Some(body),
            503 if body["error"]["code"] == "MAINTENANCE" && retry_after.is_some() => {
                seen.lock().await.refusals += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            _ => {
                seen.lock().await.failures.push(format!("{status}: {body}"));
                return None;
            }
        }
    }
    seen.lock()
        .await
        .failures
        .push("still refused after 60 s".to_owned());
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cutover_under_traffic_loses_no_order_and_refuses_writes_only_while_frozen() {
    let app = Arc::new(spawn().await);
    let db = mongo(&app).await;
    // A history to copy: long enough a copy for the traffic to meet the freeze.
    let history = seed(&db, 300).await;
    let (_, admin) = app.admin().await;
    let product = app
        .create_product(&admin, json!({ "stock": 100_000 }))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let traffic: Vec<_> = (0..3)
        .map(|_| {
            tokio::spawn(customer(
                app.clone(),
                product.clone(),
                stop.clone(),
                seen.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = seen.lock().await.accepted.len();
    assert_eq!(
        pg_orders(&app).await,
        0,
        "before the cutover, orders are in MongoDB"
    );

    let options = Options {
        batch_size: 20,
        retry_after_secs: 1,
    };
    let outcome = cutover::run(&db, &app.state.postgres, options)
        .await
        .unwrap();
    let Outcome::Done { report, frozen, .. } = outcome else {
        panic!("a first cutover does the work: {outcome:?}")
    };
    assert!(report.verification.passed(), "{report}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);
    for customer in traffic {
        customer.await.unwrap();
    }

    let seen = seen.lock().await;
    assert!(
        seen.failures.is_empty(),
        "{} failures, the first: {:?}",
        seen.failures.len(),
        &seen.failures[..seen.failures.len().min(3)]
    );
    assert!(
        before > 0,
        "orders were placed on MongoDB before the cutover"
    );
    assert!(seen.refusals > 0, "the traffic met the freeze");
    let after = seen.accepted.len() - before;
    assert!(after > 0, "orders were placed after the switch too");
    // Every order is in PostgreSQL: the history, those placed before and during the
    // cutover (copied), and those placed after it (written there).
    assert_eq!(
        pg_orders(&app).await,
        (history.len() + seen.accepted.len()) as i64,
        "{report}"
    );
    for (id, paid) in &seen.accepted {
        let status: String = sqlx::query_scalar("SELECT status FROM orders WHERE id = $1")
            .bind(id)
            .fetch_one(&app.state.postgres)
            .await
            .unwrap();
        assert_eq!(status, if *paid { "paid" } else { "pending" }, "order {id}");
    }
    // A second cutover has nothing to do.
    let again = cutover::run(&db, &app.state.postgres, options)
        .await
        .unwrap();
    assert!(matches!(again, Outcome::AlreadyDone), "{again:?}");
    println!(
        "{before} orders before the switch, {after} after; writes paused {} ms, {} refused",
        frozen.as_millis(),
        seen.refusals
    );
}

#[tokio::test]
async fn the_freeze_waits_for_a_running_write_and_refuses_the_next_with_retry_after() {
    let app = spawn().await;
    let (_, admin) = app.admin().await;
    let (_, token) = app.customer().await;
    let product = app.create_product(&admin, json!({})).await;
    let gate = Cutover::new(app.state.postgres.clone(), app.state.postgres.clone());

    let running = gate.admit().await.unwrap();
    let pool = app.state.postgres.clone();
    let freezing = tokio::spawn(async move { cutover::freeze(&pool, 7).await.unwrap() });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !freezing.is_finished(),
        "the freeze waits for the running write"
    );
    drop(running);
    assert!(freezing.await.unwrap(), "then it freezes");

    let refused = app
        .place_order(
            &token,
            json!([{ "product_id": product["id"], "quantity": 1 }]),
        )
        .await;
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "7");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "MAINTENANCE", "{body}");
    assert_eq!(
        app.product(product["id"].as_str().unwrap()).await["stock"],
        10,
        "no stock taken"
    );
    // Reads go on while frozen.
    expect_status(app.get("/api/v1/orders", Some(&token)).await, 200).await;
    // A write that got past the admission anyway (none should) is refused by the store too.
    let db = mongo(&app).await;
    let stores: ByPhase<dyn OrderStore> = ByPhase {
        cutover: gate.clone(),
        mongodb: Arc::new(common::store::mongo::MongoOrders::new(&db)),
        postgresql: Arc::new(step05_hybrid_dbs::store::PgOrders::new(
            app.state.postgres.clone(),
        )),
    };
    let user = common::domain::UserId::new();
    let listed = stores
        .list_for_user(user, common::domain::Page { page: 1, limit: 5 })
        .await;
    assert!(listed.is_ok(), "reads while frozen: {listed:?}");
    let missing = stores.get(common::domain::OrderId::new()).await.unwrap();
    assert!(missing.is_none());
    let written = stores
        .transition(
            common::domain::OrderId::new(),
            common::domain::OrderStatus::Pending,
            common::domain::OrderStatus::Cancelled,
            None,
        )
        .await;
    assert!(
        matches!(written, Err(common::store::StoreError::Unavailable(_))),
        "{written:?}"
    );

    cutover::unfreeze(&app.state.postgres).await.unwrap();
    expect_status(
        app.place_order(
            &token,
            json!([{ "product_id": product["id"], "quantity": 1 }]),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(pg_orders(&app).await, 0, "unfrozen: on MongoDB again");
}

#[tokio::test]
async fn a_cutover_whose_verification_fails_resumes_writes_on_mongodb_and_fails() {
    let app = spawn().await;
    let db = mongo(&app).await;
    let ids = seed(&db, 5).await;
    // PostgreSQL already holds one of them, differently: the copy keeps it, the check fails.
    let mongodb = common::store::mongo::MongoOrders::new(&db);
    let mut order = mongodb.get(ids[0]).await.unwrap().unwrap();
    order.lines[0].name = "Changed".to_owned();
    step05_hybrid_dbs::store::PgOrders::new(app.state.postgres.clone())
        .insert(&order)
        .await
        .unwrap();

    let options = Options {
        batch_size: 2,
        retry_after_secs: 1,
    };
    let error = cutover::run(&db, &app.state.postgres, options)
        .await
        .unwrap_err();
    assert!(
        format!("{error:#}").contains("verification failed"),
        "{error:#}"
    );
    let phase: String = sqlx::query_scalar("SELECT phase FROM cutover")
        .fetch_one(&app.state.postgres)
        .await
        .unwrap();
    assert_eq!(phase, "mongodb", "writes resumed on MongoDB");
}
