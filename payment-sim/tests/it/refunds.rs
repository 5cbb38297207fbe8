//! Refunds: full, partial, too much, of a charge that failed, and under concurrency.

use futures::future::join_all;
use payment_sim::tokens;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{charge_body, spawn_sim};

#[tokio::test]
async fn refunding_without_an_amount_refunds_the_whole_charge() {
    let app = spawn_sim().await;
    let charge_id = app.successful_charge(1000).await;

    let answer = app.refund(&charge_id, None, None).await;

    answer.assert_status(StatusCode::CREATED);
    assert!(answer.str("id").starts_with("re_"), "{}", answer.body);
    assert_eq!(answer.body["object"], "refund");
    assert_eq!(answer.body["charge"], charge_id.as_str());
    assert_eq!(answer.body["amount"], 1000);
    assert_eq!(answer.body["status"], "succeeded");
    assert!(answer.body["created"].is_i64(), "{}", answer.body);
    let charge = app.get_charge(&charge_id).await.body;
    assert_eq!(charge["amount_refunded"], 1000);
    assert_eq!(charge["refunded"], true);
}

#[tokio::test]
async fn a_partial_refund_leaves_the_rest_refundable() {
    let app = spawn_sim().await;
    let charge_id = app.successful_charge(1000).await;

    let partial = app
        .refund(&charge_id, Some(&json!({ "amount": 300 })), None)
        .await;

    partial.assert_status(StatusCode::CREATED);
    assert_eq!(partial.body["amount"], 300);
    let charge = app.get_charge(&charge_id).await.body;
    assert_eq!(charge["amount_refunded"], 300);
    assert_eq!(charge["refunded"], false);

    let rest = app.refund(&charge_id, Some(&json!({})), None).await;

    rest.assert_status(StatusCode::CREATED);
    assert_eq!(rest.body["amount"], 700);
    let charge = app.get_charge(&charge_id).await.body;
    assert_eq!(charge["amount_refunded"], 1000);
    assert_eq!(charge["refunded"], true);
}

#[tokio::test]
async fn refunding_more_than_remains_returns_400_and_changes_nothing() {
    let app = spawn_sim().await;
    let charge_id = app.successful_charge(1000).await;
    app.refund(&charge_id, Some(&json!({ "amount": 600 })), None)
        .await
        .assert_status(StatusCode::CREATED);

    let answer = app
        .refund(&charge_id, Some(&json!({ "amount": 401 })), None)
        .await;

    let error = answer.assert_error(StatusCode::BAD_REQUEST, "invalid_request_error");
    assert_eq!(error["code"], "amount_too_large");
    assert_eq!(error["param"], "amount");
    assert_eq!(
        app.get_charge(&charge_id).await.body["amount_refunded"],
        600
    );
}

#[tokio::test]
async fn refunding_a_fully_refunded_charge_again_returns_400() {
    let app = spawn_sim().await;
    let charge_id = app.successful_charge(1000).await;
    app.refund(&charge_id, None, None)
        .await
        .assert_status(StatusCode::CREATED);

    let answer = app.refund(&charge_id, None, None).await;

    let error = answer.assert_error(StatusCode::BAD_REQUEST, "invalid_request_error");
    assert_eq!(error["code"], "charge_already_refunded");
}

#[tokio::test]
async fn refunding_a_declined_charge_returns_400() {
    let app = spawn_sim().await;
    let declined = app.create_charge(&charge_body(1000, tokens::DECLINE)).await;
    let charge_id = declined.body["error"]["charge"]
        .as_str()
        .expect("charge id");

    let answer = app.refund(charge_id, None, None).await;

    let error = answer.assert_error(StatusCode::BAD_REQUEST, "invalid_request_error");
    assert_eq!(error["code"], "charge_not_refundable");
    assert_eq!(app.get_charge(charge_id).await.body["amount_refunded"], 0);
}

#[tokio::test]
async fn refunding_an_unknown_charge_returns_404() {
    let app = spawn_sim().await;

    let answer = app.refund("ch_doesnotexist", None, None).await;

    let error = answer.assert_error(StatusCode::NOT_FOUND, "invalid_request_error");
    assert_eq!(error["code"], "resource_missing");
}

#[tokio::test]
async fn refunding_a_zero_or_negative_amount_returns_400() {
    let app = spawn_sim().await;
    let charge_id = app.successful_charge(1000).await;

    for amount in [0, -5] {
        let answer = app
            .refund(&charge_id, Some(&json!({ "amount": amount })), None)
            .await;

        let error = answer.assert_error(StatusCode::BAD_REQUEST, "invalid_request_error");
        assert_eq!(error["param"], "amount", "amount {amount}");
    }
    assert_eq!(app.get_charge(&charge_id).await.body["amount_refunded"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refunds_never_refund_more_than_was_charged() {
    let app = spawn_sim().await;
    let charge_id = app.successful_charge(1000).await;
    let body = json!({ "amount": 300 });

    let answers = join_all((0..8).map(|_| app.refund(&charge_id, Some(&body), None))).await;

    let created = answers
        .iter()
        .filter(|answer| answer.status == StatusCode::CREATED)
        .count();
    assert_eq!(created, 3, "only three refunds of 300 fit in 1000");
    assert_eq!(
        app.get_charge(&charge_id).await.body["amount_refunded"],
        900
    );
}
