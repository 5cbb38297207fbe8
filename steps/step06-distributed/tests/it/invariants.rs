//! The invariant checker catches what it is for: each test breaks one invariant behind the
//! app's back and finds it named, after a clean run finds nothing.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;
use testkit::expect_status;

use crate::support::{App, invariants_of, nothing_lost, pool, refunded_behind_the_shops_back};

/// A paid order and a cancelled one, each through the sagas; the products' starting stock.
async fn a_run(app: &App) -> (String, String, HashMap<String, i64>) {
    let (_, admin) = app.admin().await;
    let paid = app.place_new_order(&admin, json!({ "stock": 6 }), 2).await;
    expect_status(
        app.pay_order(&paid.token, &paid.id, "tok_success").await,
        200,
    )
    .await;
    let cancelled = app.place_new_order(&admin, json!({ "stock": 3 }), 1).await;
    expect_status(app.cancel_order(&admin, &cancelled.id).await, 200).await;
    let initial = HashMap::from([
        (paid.product_id.clone(), 6),
        (cancelled.product_id.clone(), 3),
    ]);
    (paid.id, paid.product_id, initial)
}

fn named(violations: &[String], needle: &str) -> bool {
    violations.iter().any(|v| v.contains(needle))
}

#[tokio::test]
async fn a_clean_run_has_no_violations_and_stock_taken_behind_the_sagas_back_is_found() {
    let app = App::spawn().await;
    let (_, product, initial) = a_run(&app).await;
    nothing_lost(&app, initial.clone()).await;

    let taken = app
        .state
        .sagas
        .products
        .take_stock(product.parse().unwrap(), 1)
        .await
        .unwrap();
    assert!(taken);
    let report = invariants_of(&app, &initial).await;
    assert!(
        named(
            &report.violations,
            &format!("product {product}: stock 3 + held 0 + sold 2 != 6")
        ),
        "{:#?}",
        report.violations
    );
}

/// The checker reads the provider's charges once the sagas have settled: a pay saga still
/// retrying when the check starts charges while it waits, and that charge is the order's.
#[tokio::test]
async fn a_charge_made_while_the_checker_waits_for_the_sagas_is_the_orders() {
    let app = App::spawn_with(|config| config.saga.retry_after_ms = 200).await;
    let (_, admin) = app.admin().await;
    let placed = app.place_new_order(&admin, json!({ "stock": 4 }), 1).await;
    app.payments.set_failure_rate(1.0);
    let paying = app
        .pay_order(&placed.token, &placed.id, "tok_success")
        .await;
    testkit::expect_error(paying, 503, "PAYMENT_PROVIDER_UNAVAILABLE").await;

    let provider = app.payments.clone();
    let back = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        provider.set_failure_rate(0.0);
    });
    nothing_lost(&app, HashMap::from([(placed.product_id.clone(), 4)])).await;
    back.await.expect("the provider comes back");
    assert_eq!(app.order(&admin, &placed.id).await["status"], "paid");
}

#[tokio::test]
async fn a_paid_order_whose_charge_was_refunded_at_the_provider_is_found() {
    let app = App::spawn().await;
    let (order, _, initial) = a_run(&app).await;
    refunded_behind_the_shops_back(&app, &order, "behind-the-shops-back").await;
    let report = invariants_of(&app, &initial).await;
    assert!(
        named(
            &report.violations,
            &format!("order {order} is paid with 0 unrefunded charges")
        ),
        "{:#?}",
        report.violations
    );
}

#[tokio::test]
async fn an_event_a_consumer_never_applied_and_a_lost_message_are_found() {
    let app = App::spawn().await;
    let (order, _, initial) = a_run(&app).await;
    nothing_lost(&app, initial.clone()).await;
    sqlx::query(
        "DELETE FROM consumed_events WHERE consumer = 'mailbox' AND event_id = \
         (SELECT event_id FROM outbox WHERE order_id = $1::bpchar AND kind = 'order_paid')",
    )
    .bind(&order)
    .execute(&pool(&app))
    .await
    .unwrap();
    sqlx::query("DELETE FROM mailbox WHERE order_id = $1::bpchar")
        .bind(&order)
        .execute(&pool(&app))
        .await
        .unwrap();
    // Found before the consumer could apply it again: the stream entry was acknowledged.
    let report = step06_distributed::invariants::check(
        &pool(&app),
        &app.database(),
        &[],
        &step06_distributed::workers::consumers(),
        step06_distributed::invariants::Expected {
            initial_stock: &initial,
            pending_bound: std::time::Duration::from_secs(3600),
        },
    )
    .await
    .unwrap();
    assert!(
        named(&report.violations, "mailbox never applied event"),
        "{:#?}",
        report.violations
    );
    assert!(
        named(&report.violations, "messages in the mailbox"),
        "{:#?}",
        report.violations
    );
}
