//! `Idempotency-Key`: replays, key reuse with another body, and concurrent retries.

use futures::future::join_all;
use std::time::Duration;

use payment_sim::{SimConfig, tokens};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{charge_body, send, spawn_sim, spawn_sim_with};

#[tokio::test]
async fn repeating_a_charge_with_the_same_key_and_body_replays_the_first_answer() {
    let app = spawn_sim().await;
    let body = charge_body(1999, tokens::SUCCESS);

    let first = app.create_charge_with_key(&body, "order-1").await;
    let second = app.create_charge_with_key(&body, "order-1").await;

    first.assert_status(StatusCode::CREATED);
    assert_eq!(first.header("idempotent-replayed"), None);
    assert_eq!(second.status, first.status);
    assert_eq!(second.body, first.body);
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    assert_eq!(app.list_charges().await.len(), 1);
}

#[tokio::test]
async fn a_declined_charge_is_replayed_too_and_not_charged_twice() {
    let app = spawn_sim().await;
    let body = charge_body(1999, tokens::DECLINE);

    let first = app.create_charge_with_key(&body, "order-2").await;
    let second = app.create_charge_with_key(&body, "order-2").await;

    first.assert_error(StatusCode::PAYMENT_REQUIRED, "card_error");
    assert_eq!(second.status, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(second.body, first.body);
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    assert_eq!(app.list_charges().await.len(), 1);
}

#[tokio::test]
async fn reusing_a_key_with_a_different_body_returns_409_and_creates_nothing() {
    let app = spawn_sim().await;
    app.create_charge_with_key(&charge_body(1000, tokens::SUCCESS), "order-3")
        .await
        .assert_status(StatusCode::CREATED);

    let answer = app
        .create_charge_with_key(&charge_body(2000, tokens::SUCCESS), "order-3")
        .await;

    answer.assert_error(StatusCode::CONFLICT, "idempotency_error");
    assert_eq!(app.list_charges().await.len(), 1);
}

#[tokio::test]
async fn a_key_used_for_a_charge_cannot_be_reused_for_a_refund() {
    let app = spawn_sim().await;
    let created = app
        .create_charge_with_key(&charge_body(1000, tokens::SUCCESS), "shared-key")
        .await;

    let answer = app
        .refund(created.str("id"), None, Some("shared-key"))
        .await;

    answer.assert_error(StatusCode::CONFLICT, "idempotency_error");
    assert_eq!(
        app.get_charge(created.str("id")).await.body["amount_refunded"],
        0
    );
}

#[tokio::test]
async fn the_same_body_under_a_different_key_is_a_new_charge() {
    let app = spawn_sim().await;
    let body = charge_body(1000, tokens::SUCCESS);

    let first = app.create_charge_with_key(&body, "key-a").await;
    let second = app.create_charge_with_key(&body, "key-b").await;

    second.assert_status(StatusCode::CREATED);
    assert_ne!(first.str("id"), second.str("id"));
    assert_eq!(app.list_charges().await.len(), 2);
}

#[tokio::test]
async fn key_order_and_whitespace_do_not_make_a_body_different() {
    let app = spawn_sim().await;
    let first = app
        .create_charge_with_key(&charge_body(1000, tokens::SUCCESS), "order-4")
        .await;

    let reordered = send(
        app.authed(Method::POST, "/v1/charges")
            .header("Idempotency-Key", "order-4")
            .body(r#"{ "source": "tok_success",  "currency": "EUR", "amount": 1000 }"#),
    )
    .await;

    assert_eq!(reordered.header("idempotent-replayed"), Some("true"));
    assert_eq!(reordered.body, first.body);
}

#[tokio::test]
async fn a_rejected_request_does_not_use_up_its_key() {
    let app = spawn_sim().await;
    app.create_charge_with_key(&charge_body(-1, tokens::SUCCESS), "order-5")
        .await
        .assert_status(StatusCode::BAD_REQUEST);

    let corrected = app
        .create_charge_with_key(&charge_body(100, tokens::SUCCESS), "order-5")
        .await;

    corrected.assert_status(StatusCode::CREATED);
    assert_eq!(corrected.header("idempotent-replayed"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_with_one_key_create_one_charge() {
    // The latency holds every request at the door and releases them together, so they reach
    // the idempotency check at the same moment instead of one after another.
    let app = spawn_sim_with(SimConfig {
        latency: Duration::from_millis(200),
        ..SimConfig::default()
    })
    .await;
    let body = charge_body(4200, tokens::SUCCESS);

    let answers = join_all((0..16).map(|_| app.create_charge_with_key(&body, "order-6"))).await;

    for answer in &answers {
        answer.assert_status(StatusCode::CREATED);
        assert_eq!(
            answer.body, answers[0].body,
            "every answer names the same charge"
        );
    }
    let originals = answers
        .iter()
        .filter(|answer| answer.header("idempotent-replayed").is_none())
        .count();
    assert_eq!(
        originals, 1,
        "exactly one request ran, the others replayed it"
    );
    assert_eq!(app.list_charges().await.len(), 1);
}

#[tokio::test]
async fn a_retried_refund_with_its_key_is_replayed_not_repeated() {
    let app = spawn_sim().await;
    let charge_id = app.successful_charge(1000).await;
    let body = json!({ "amount": 400 });

    let first = app.refund(&charge_id, Some(&body), Some("refund-1")).await;
    let retry = app.refund(&charge_id, Some(&body), Some("refund-1")).await;

    first.assert_status(StatusCode::CREATED);
    assert_eq!(retry.status, StatusCode::CREATED);
    assert_eq!(retry.body, first.body);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(
        app.get_charge(&charge_id).await.body["amount_refunded"],
        400
    );
}

#[tokio::test]
async fn an_empty_or_overlong_idempotency_key_returns_400() {
    let app = spawn_sim().await;
    let too_long = "k".repeat(256);

    for key in ["", "   ", too_long.as_str()] {
        let answer = app
            .create_charge_with_key(&charge_body(100, tokens::SUCCESS), key)
            .await;

        let error = answer.assert_error(StatusCode::BAD_REQUEST, "invalid_request_error");
        assert_eq!(error["code"], "idempotency_key_invalid", "key {key:?}");
    }
    assert!(app.list_charges().await.is_empty());
}
