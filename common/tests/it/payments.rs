//! Paying through the provider where only a test that owns the app can look: a provider the
//! configuration points nowhere, the payment trail in the database, a request timeout shorter
//! than the payment timeout. What a client and the provider can see (outages, a provider
//! slower than the timeout, concurrent payments, declines) is the `ordering00` contract suite,
//! run against every step from `contract.rs`.

use std::time::Duration;

use mongodb::bson::{Document, doc};
use serde_json::{Value, json};
use testkit::{TestApp, expect_error, expect_status, spawn_app, spawn_app_with};

/// A fresh customer's pending order: `(token, order id)`.
async fn pending_order(app: &TestApp) -> (String, String) {
    let (_, admin) = app.admin().await;
    let placed = app
        .place_new_order(&admin, json!({"price_minor": 4200}), 1)
        .await;
    (placed.token, placed.id)
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
async fn an_unreachable_provider_is_503_and_changes_nothing() {
    let app = spawn_app_with(|config| {
        // A port nothing listens on.
        config.payments.base_url = "http://127.0.0.1:9".to_owned();
    })
    .await;
    let (token, id) = pending_order(&app).await;
    let response = app.pay_order(&token, &id, "tok_success").await;
    expect_error(response, 503, "PAYMENT_PROVIDER_UNAVAILABLE").await;
    assert_eq!(order_status(&app, &token, &id).await, "pending");
}

/// The trail is the app's own record, in its database: no client and no provider sees it.
#[tokio::test]
async fn every_payment_attempt_declined_or_paid_is_kept_in_the_payment_trail() {
    let app = spawn_app().await;
    let (token, id) = pending_order(&app).await;

    for card in ["tok_insufficient_funds", "tok_decline"] {
        expect_error(
            app.pay_order(&token, &id, card).await,
            402,
            "PAYMENT_DECLINED",
        )
        .await;
    }
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
async fn an_unknown_card_token_is_422_on_card_token() {
    let app = spawn_app().await;
    let (token, id) = pending_order(&app).await;
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
    // itself would wait 2 s. Only the harness can set a request timeout shorter than the
    // payment timeout, so this one cannot be a contract case.
    let app = spawn_app_with(|config| config.server.request_timeout_ms = 200).await;
    let (token, id) = pending_order(&app).await;
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
