//! Paying through the provider when it misbehaves: down, slow, or hit by duplicate requests.

use std::time::Duration;

use mongodb::bson::{Document, doc};
use serde_json::{Value, json};
use testkit::{TestApp, expect_error, expect_status, spawn_app, spawn_app_with};

async fn pending_order(app: &TestApp) -> (String, String, Value) {
    let (_, admin) = app.admin().await;
    let placed = app
        .place_new_order(&admin, json!({"price_minor": 4200}), 1)
        .await;
    (placed.token, placed.id, placed.order)
}

async fn order_status(app: &TestApp, token: &str, id: &str) -> Value {
    expect_status(
        app.get(&format!("/api/v1/orders/{id}"), Some(token)).await,
        200,
    )
    .await["status"]
        .clone()
}

#[tokio::test]
async fn a_provider_outage_is_503_and_the_order_can_be_paid_once_it_is_back() {
    let app = spawn_app().await;
    let (token, id, _) = pending_order(&app).await;

    app.payments.set_failure_rate(1.0);
    let response = app.pay_order(&token, &id, "tok_success").await;
    expect_error(response, 503, "PAYMENT_PROVIDER_UNAVAILABLE").await;
    assert_eq!(order_status(&app, &token, &id).await, "pending");

    app.payments.set_failure_rate(0.0);
    let paid = expect_status(app.pay_order(&token, &id, "tok_success").await, 200).await;
    assert_eq!(paid["status"], "paid");
    assert_eq!(app.provider_charges().await.len(), 1);
}

#[tokio::test]
async fn an_unreachable_provider_is_503_and_changes_nothing() {
    let app = spawn_app_with(|config| {
        // A port nothing listens on.
        config.payments.base_url = "http://127.0.0.1:9".to_owned();
    })
    .await;
    let (token, id, _) = pending_order(&app).await;
    let response = app.pay_order(&token, &id, "tok_success").await;
    expect_error(response, 503, "PAYMENT_PROVIDER_UNAVAILABLE").await;
    assert_eq!(order_status(&app, &token, &id).await, "pending");
}

#[tokio::test]
async fn a_provider_slower_than_the_timeout_is_503_and_the_retry_does_not_charge_twice() {
    let app = spawn_app_with(|config| config.payments.timeout_ms = 300).await;
    let (token, id, order) = pending_order(&app).await;

    app.payments.set_latency(Duration::from_millis(1_000));
    let response = app.pay_order(&token, &id, "tok_success").await;
    expect_error(response, 503, "PAYMENT_PROVIDER_UNAVAILABLE").await;
    assert_eq!(order_status(&app, &token, &id).await, "pending");

    // The slow charge went through at the provider after we gave up on it.
    tokio::time::sleep(Duration::from_millis(900)).await;
    app.payments.set_latency(Duration::ZERO);
    let paid = expect_status(app.pay_order(&token, &id, "tok_success").await, 200).await;

    let charges = app.provider_charges().await;
    assert_eq!(
        charges.len(),
        1,
        "one charge, replayed by idempotency key: {charges:?}"
    );
    assert_eq!(charges[0]["amount"], order["total_minor"]);
    assert_eq!(paid["payment"]["provider_reference"], charges[0]["id"]);
}

#[tokio::test]
async fn declines_are_402_recorded_and_leave_the_order_payable() {
    let app = spawn_app().await;
    let (token, id, _) = pending_order(&app).await;

    let body = expect_error(
        app.pay_order(&token, &id, "tok_insufficient_funds").await,
        402,
        "PAYMENT_DECLINED",
    )
    .await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("insufficient_funds")
    );
    expect_error(
        app.pay_order(&token, &id, "tok_decline").await,
        402,
        "PAYMENT_DECLINED",
    )
    .await;
    assert_eq!(order_status(&app, &token, &id).await, "pending");

    expect_status(app.pay_order(&token, &id, "tok_success").await, 200).await;
    let attempts: Vec<Document> = {
        use futures::TryStreamExt;
        app.database()
            .collection::<Document>("payments")
            .find(doc! {})
            .sort(doc! { "created_at": 1 })
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap()
    };
    let statuses: Vec<_> = attempts
        .iter()
        .map(|d| d.get_str("status").unwrap())
        .collect();
    assert_eq!(statuses.len(), 3, "{attempts:?}");
    assert_eq!(statuses.iter().filter(|s| **s == "declined").count(), 2);
    assert_eq!(statuses.iter().filter(|s| **s == "succeeded").count(), 1);
}

#[tokio::test]
async fn concurrent_payments_of_one_order_charge_once_and_refund_any_extra() {
    let app = spawn_app().await;
    let (token, id, _) = pending_order(&app).await;

    let attempts = (0..4).map(|_| app.pay_order(&token, &id, "tok_success"));
    let statuses: Vec<u16> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert!(statuses.contains(&200), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 409),
        "{statuses:?}"
    );

    // Same card, same idempotency key: the provider holds exactly one charge, never refunded.
    let charges = app.provider_charges().await;
    assert_eq!(charges.len(), 1, "{charges:?}");
    assert_eq!(charges[0]["amount_refunded"], 0);
    assert_eq!(order_status(&app, &token, &id).await, "paid");
}

#[tokio::test]
async fn an_unknown_card_token_is_422_on_card_token() {
    let app = spawn_app().await;
    let (token, id, _) = pending_order(&app).await;
    let body = expect_error(
        app.pay_order(&token, &id, "tok_unknown").await,
        422,
        "VALIDATION_FAILED",
    )
    .await;
    assert_eq!(body["error"]["fields"][0]["field"], "card_token");
    assert_eq!(order_status(&app, &token, &id).await, "pending");
}

#[tokio::test]
async fn a_request_that_times_out_is_503_timeout_and_its_payment_still_completes() {
    // The provider answers after 600 ms; the request gives up after 200 ms, the payment call
    // itself would wait 2 s.
    let app = spawn_app_with(|config| config.server.request_timeout_ms = 200).await;
    let (token, id, _) = pending_order(&app).await;
    app.payments.set_latency(Duration::from_millis(600));

    let body = expect_error(
        app.pay_order(&token, &id, "tok_success").await,
        503,
        "TIMEOUT",
    )
    .await;
    assert!(body["error"]["request_id"].is_string());

    // The work was detached from the request: the charge lands and the order is marked paid.
    let mut status = Value::Null;
    for _ in 0..50 {
        status = order_status(&app, &token, &id).await;
        if status == "paid" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, "paid");
    assert_eq!(app.provider_charges().await.len(), 1);
}
