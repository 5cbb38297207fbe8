//! Crash tests: a step-6 server as a child process (the real binary), stopped at one saga step
//! boundary (`saga.pause_at`, which makes its driver say so on stderr and wait), killed there
//! with SIGKILL, then started again; the restarted server's recovery worker must finish or
//! compensate the saga, and the invariant checker must find nothing lost.
//!
//! The in-process app of each test is the rest of the deployment: its MongoDB database,
//! PostgreSQL database, Redis prefix, payment simulator and payments service are the child's
//! too, and its own recovery worker is slowed to once an hour, so the saga is resumed by the
//! restarted child and no one else.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};
use testkit::expect_status;

use crate::support::{App, Server, Start, eventually, nothing_lost, pool, sagas_of, stock_of};

/// POSTs `body` to the child as `token`, in the background: the request hangs with the saga
/// and dies with the child.
fn post_to(server: &Server, path: &str, token: &str, body: Value) -> tokio::task::JoinHandle<()> {
    let url = format!("{}{path}", server.base);
    let token = token.to_owned();
    tokio::spawn(async move {
        let _ = reqwest::Client::new()
            .post(url)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await;
    })
}

/// Sends `body` to `path` as `token` to a child that stops at `step`, then kills the child
/// there with SIGKILL. `at_the_stop` runs while it is stopped (it sees what the step left).
async fn killed_at<F: std::future::Future<Output = ()>>(
    app: &App,
    step: &str,
    path: &str,
    token: &str,
    body: Value,
    at_the_stop: F,
) {
    let mut child = Server::start(app, &[step]).await;
    let _request = post_to(&child, path, token, body);
    child.paused_at(step).await;
    at_the_stop.await;
    child.kill().await;
}

/// The in-process app, whose own recovery worker stays out of the way.
async fn deployment() -> App {
    App::spawn_with(|config| config.saga.recovery_interval_ms = 3_600_000).await
}

async fn product(app: &App, admin: &str, stock: i64) -> String {
    app.create_product(admin, json!({ "stock": stock })).await["id"]
        .as_str()
        .expect("a product id")
        .to_owned()
}

async fn last_saga(app: &App, order: &str) -> (String, String, String) {
    sagas_of(app, order).await.pop().expect("a saga")
}

async fn latest_order_id(app: &App) -> Option<String> {
    sqlx::query_scalar::<_, String>("SELECT order_id::text FROM sagas ORDER BY id DESC LIMIT 1")
        .fetch_optional(&pool(app))
        .await
        .expect("reading the sagas")
        .map(|id| id.trim().to_owned())
}

/// A placed order as a crash test sees it: the app, the buyer's token, the product (5 in
/// stock, 2 ordered), the order's id, and the restarted child (kept running).
struct Placed {
    app: App,
    customer: String,
    product: String,
    order: String,
    _restarted: Server,
}

/// Places a one-line order on a child killed at `step`, and starts the child again.
async fn place_killed_at(step: &str) -> Placed {
    let app = deployment().await;
    let (_, admin) = app.admin().await;
    let (_, customer) = app.customer().await;
    let product = product(&app, &admin, 5).await;
    killed_at(
        &app,
        step,
        "/api/v1/orders",
        &customer,
        json!({ "items": [{ "product_id": product, "quantity": 2 }] }),
        async {},
    )
    .await;
    let restarted = Server::start(&app, &[]).await;
    let order = latest_order_id(&app).await.expect("the saga was begun");
    Placed {
        app,
        customer,
        product,
        order,
        _restarted: restarted,
    }
}

#[tokio::test]
async fn a_place_killed_before_its_stock_is_taken_is_compensated_after_the_restart() {
    // `_restarted` is bound, not `..`-ed: the restarted child must live to the end.
    let Placed {
        app,
        product,
        order,
        _restarted,
        ..
    } = place_killed_at("reserve").await;
    eventually(
        "the saga is compensated",
        Duration::from_secs(20),
        || async { (last_saga(&app, &order).await.2 == "compensated").then_some(()) },
    )
    .await;
    assert_eq!(stock_of(&app, &product).await, 5);
    nothing_lost(&app, HashMap::from([(product, 5)])).await;
}

#[tokio::test]
async fn a_place_killed_after_its_order_was_stored_is_finished_after_the_restart() {
    let Placed {
        app,
        customer,
        product,
        order,
        _restarted,
    } = place_killed_at("tidy").await;
    eventually("the saga is finished", Duration::from_secs(20), || async {
        (last_saga(&app, &order).await.2 == "done").then_some(())
    })
    .await;
    assert_eq!(app.order(&customer, &order).await["status"], "pending");
    assert_eq!(stock_of(&app, &product).await, 3);
    nothing_lost(&app, HashMap::from([(product, 5)])).await;
}

/// An order short on its second line: the driver took the first line's stock and stops
/// before putting it back.
#[tokio::test]
async fn a_place_killed_while_giving_back_its_stock_is_compensated_after_the_restart() {
    let app = deployment().await;
    let (_, admin) = app.admin().await;
    let (_, customer) = app.customer().await;
    let plenty = product(&app, &admin, 5).await;
    let scarce = product(&app, &admin, 1).await;
    killed_at(
        &app,
        "release",
        "/api/v1/orders",
        &customer,
        json!({ "items": [
            { "product_id": plenty, "quantity": 2 },
            { "product_id": scarce, "quantity": 2 },
        ] }),
        async {
            let taken = stock_of(&app, &plenty).await;
            assert_eq!(taken, 3, "the first line's stock was taken");
        },
    )
    .await;

    let _restarted = Server::start(&app, &[]).await;
    let order = latest_order_id(&app).await.expect("the saga was begun");
    eventually(
        "the saga is compensated",
        Duration::from_secs(20),
        || async { (last_saga(&app, &order).await.2 == "compensated").then_some(()) },
    )
    .await;
    assert_eq!(stock_of(&app, &plenty).await, 5);
    assert_eq!(stock_of(&app, &scarce).await, 1);
    nothing_lost(&app, HashMap::from([(plenty, 5), (scarce, 1)])).await;
}

/// A pending order placed in-process, then paid on a child that stops at `step`.
async fn payment_killed_at(step: &str) -> (App, String, String, String) {
    let app = deployment().await;
    let (_, admin) = app.admin().await;
    let placed = app.place_new_order(&admin, json!({ "stock": 4 }), 1).await;
    killed_at(
        &app,
        step,
        &format!("/api/v1/orders/{}/pay", placed.id),
        &placed.token,
        json!({ "card_token": "tok_success" }),
        async {},
    )
    .await;
    (app, admin, placed.id, placed.product_id)
}

async fn paid_once_after_the_restart(app: &App, order: &str, product: String) {
    let _restarted = Server::start(app, &[]).await;

    eventually(
        "the payment is finished",
        Duration::from_secs(20),
        || async {
            (last_saga(app, order).await == ("pay".into(), "paid".into(), "done".into()))
                .then_some(())
        },
    )
    .await;
    let (_, admin) = app.admin().await;
    assert_eq!(app.order(&admin, order).await["status"], "paid");
    nothing_lost(app, HashMap::from([(product, 4)])).await;
}

#[tokio::test]
async fn a_payment_killed_before_the_charge_is_charged_once_after_the_restart() {
    let (app, _, order, product) = payment_killed_at("charge").await;
    paid_once_after_the_restart(&app, &order, product).await;
}

#[tokio::test]
async fn a_payment_killed_after_the_charge_is_recorded_once_after_the_restart() {
    let (app, _, order, product) = payment_killed_at("record").await;
    paid_once_after_the_restart(&app, &order, product).await;
}

/// The provider charged, the driver died before recording it, and the order was cancelled
/// meanwhile: the restarted worker finds it cancelled and refunds the charge.
#[tokio::test]
async fn a_charge_for_an_order_cancelled_while_its_driver_was_dead_is_refunded_after_the_restart() {
    let (app, admin, order, product) = payment_killed_at("record").await;
    expect_status(app.cancel_order(&admin, &order).await, 200).await;

    let _restarted = Server::start(&app, &[]).await;
    eventually(
        "the charge is given back",
        Duration::from_secs(20),
        || async {
            (last_saga(&app, &order).await.2 == "compensated"
                || sagas_of(&app, &order)
                    .await
                    .iter()
                    .any(|s| s.0 == "pay" && s.2 == "compensated"))
            .then_some(())
        },
    )
    .await;
    nothing_lost(&app, HashMap::from([(product, 4)])).await;
}

/// A paid order whose cancellation stops at `step` on the child.
async fn cancellation_killed_at(step: &str, paid: bool) -> (App, String, String) {
    let app = deployment().await;
    let (_, admin) = app.admin().await;
    let placed = app.place_new_order(&admin, json!({ "stock": 4 }), 3).await;
    if paid {
        expect_status(
            app.pay_order(&placed.token, &placed.id, "tok_success")
                .await,
            200,
        )
        .await;
    }
    killed_at(
        &app,
        step,
        &format!("/api/v1/orders/{}/cancel", placed.id),
        &admin,
        json!({}),
        async {},
    )
    .await;
    (app, placed.id, placed.product_id)
}

async fn cancelled_after_the_restart(app: &App, order: &str, product: String) {
    let _restarted = Server::start(app, &[]).await;
    eventually(
        "the cancellation is finished",
        Duration::from_secs(20),
        || async {
            (last_saga(app, order).await == ("cancel".into(), "cancelled".into(), "done".into()))
                .then_some(())
        },
    )
    .await;
    let (_, admin) = app.admin().await;
    assert_eq!(app.order(&admin, order).await["status"], "cancelled");
    assert_eq!(stock_of(app, &product).await, 4);
    nothing_lost(app, HashMap::from([(product, 4)])).await;
}

#[tokio::test]
async fn a_cancellation_killed_before_its_refund_is_refunded_after_the_restart() {
    let (app, order, product) = cancellation_killed_at("refund", true).await;
    cancelled_after_the_restart(&app, &order, product).await;
}

#[tokio::test]
async fn a_cancellation_killed_before_its_stock_is_back_returns_it_after_the_restart() {
    let (app, order, product) = cancellation_killed_at("release", false).await;
    cancelled_after_the_restart(&app, &order, product).await;
}
