//! Charges: what each test token does, and looking charges up afterwards.

use payment_sim::tokens;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{charge_body, spawn_sim};

#[tokio::test]
async fn charging_tok_success_returns_201_with_a_succeeded_charge() {
    let app = spawn_sim().await;

    let answer = app
        .create_charge(&json!({
            "amount": 1999,
            "currency": "EUR",
            "source": tokens::SUCCESS,
            "description": "order 42",
            "metadata": { "order_id": "42" },
        }))
        .await;

    answer.assert_status(StatusCode::CREATED);
    let charge = &answer.body;
    assert!(answer.str("id").starts_with("ch_"), "{charge}");
    assert_eq!(charge["object"], "charge");
    assert_eq!(charge["amount"], 1999);
    assert_eq!(charge["currency"], "EUR");
    assert_eq!(charge["source"], "tok_success");
    assert_eq!(charge["status"], "succeeded");
    assert_eq!(charge["amount_refunded"], 0);
    assert_eq!(charge["refunded"], false);
    assert_eq!(charge["description"], "order 42");
    assert_eq!(charge["metadata"], json!({ "order_id": "42" }));
    assert!(
        charge["created"]
            .as_i64()
            .is_some_and(|t| t > 1_600_000_000),
        "{charge}"
    );
}

#[tokio::test]
async fn charging_tok_decline_returns_402_card_declined_and_stores_a_failed_charge() {
    let app = spawn_sim().await;

    let answer = app.create_charge(&charge_body(500, tokens::DECLINE)).await;

    let error = answer.assert_error(StatusCode::PAYMENT_REQUIRED, "card_error");
    assert_eq!(error["code"], "card_declined");
    let charge_id = error["charge"].as_str().expect("the 402 names its charge");
    let stored = app.get_charge(charge_id).await;
    stored.assert_status(StatusCode::OK);
    assert_eq!(stored.body["status"], "failed");
    assert_eq!(stored.body["failure_code"], "card_declined");
    assert_eq!(stored.body["amount"], 500);
}

#[tokio::test]
async fn charging_tok_insufficient_funds_returns_402_insufficient_funds() {
    let app = spawn_sim().await;

    let answer = app
        .create_charge(&charge_body(500, tokens::INSUFFICIENT_FUNDS))
        .await;

    let error = answer.assert_error(StatusCode::PAYMENT_REQUIRED, "card_error");
    assert_eq!(error["code"], "insufficient_funds");
    let charge_id = error["charge"].as_str().expect("the 402 names its charge");
    let stored = app.get_charge(charge_id).await;
    assert_eq!(stored.body["status"], "failed");
    assert_eq!(stored.body["failure_code"], "insufficient_funds");
}

#[tokio::test]
async fn a_created_charge_can_be_looked_up_with_refund_fields() {
    let app = spawn_sim().await;
    let created = app.create_charge(&charge_body(1200, tokens::SUCCESS)).await;

    let looked_up = app.get_charge(created.str("id")).await;

    looked_up.assert_status(StatusCode::OK);
    assert_eq!(looked_up.body, created.body);
    assert_eq!(looked_up.body["amount_refunded"], 0);
    assert_eq!(looked_up.body["refunded"], false);
}

#[tokio::test]
async fn looking_up_an_unknown_charge_returns_404_resource_missing() {
    let app = spawn_sim().await;

    let answer = app.get_charge("ch_doesnotexist").await;

    let error = answer.assert_error(StatusCode::NOT_FOUND, "invalid_request_error");
    assert_eq!(error["code"], "resource_missing");
}

#[tokio::test]
async fn listing_charges_returns_every_attempt_newest_first() {
    let app = spawn_sim().await;
    let first = app.successful_charge(100).await;
    let declined = app.create_charge(&charge_body(200, tokens::DECLINE)).await;
    let last = app.successful_charge(300).await;

    let ids: Vec<_> = app
        .list_charges()
        .await
        .iter()
        .map(|charge| charge["id"].as_str().unwrap_or_default().to_owned())
        .collect();

    let declined_id = declined.body["error"]["charge"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(ids, [last.as_str(), declined_id, first.as_str()]);
}
