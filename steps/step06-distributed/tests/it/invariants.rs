//! The invariant checker catches what it is for: each test breaks one invariant behind the
//! app's back and finds it named, after a clean run finds nothing.

use std::collections::HashMap;

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
