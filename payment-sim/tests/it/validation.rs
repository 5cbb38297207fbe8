//! Bad input: anything a client can send gets a 400 JSON `invalid_request_error` naming the
//! field, never a 500, and creates nothing.

use payment_sim::tokens;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{send, spawn_sim};

#[tokio::test]
async fn bad_charge_fields_return_400_naming_the_field() {
    let app = spawn_sim().await;
    let valid = json!({ "amount": 100, "currency": "EUR", "source": tokens::SUCCESS });
    let with = |field: &str, value: Value| {
        let mut body = valid.clone();
        body[field] = value;
        body
    };
    let without = |field: &str| {
        let mut body = valid.clone();
        body.as_object_mut().map(|object| object.remove(field));
        body
    };
    let cases = [
        (with("amount", json!(0)), "amount", "amount_too_small"),
        (with("amount", json!(-100)), "amount", "amount_too_small"),
        (
            with("amount", json!("100")),
            "amount",
            "parameter_invalid_integer",
        ),
        (
            with("amount", json!(10.5)),
            "amount",
            "parameter_invalid_integer",
        ),
        (
            with("amount", json!(u64::MAX)),
            "amount",
            "parameter_invalid_integer",
        ),
        (with("amount", Value::Null), "amount", "parameter_missing"),
        (without("amount"), "amount", "parameter_missing"),
        (
            with("currency", json!("eur")),
            "currency",
            "invalid_currency",
        ),
        (
            with("currency", json!("EU")),
            "currency",
            "invalid_currency",
        ),
        (
            with("currency", json!("EURO")),
            "currency",
            "invalid_currency",
        ),
        (with("currency", json!(978)), "currency", "invalid_currency"),
        (without("currency"), "currency", "parameter_missing"),
        (
            with("source", json!("tok_unknown")),
            "source",
            "resource_missing",
        ),
        (
            with("source", json!(42)),
            "source",
            "parameter_invalid_string",
        ),
        (without("source"), "source", "parameter_missing"),
        (
            with("description", json!(7)),
            "description",
            "parameter_invalid_string",
        ),
        (
            with("metadata", json!({ "n": 1 })),
            "metadata",
            "parameter_invalid_metadata",
        ),
        (
            with("metadata", json!(["a"])),
            "metadata",
            "parameter_invalid_metadata",
        ),
        (with("ammount", json!(100)), "ammount", "parameter_unknown"),
    ];

    let mut wrong = Vec::new();
    for (body, param, code) in cases {
        let answer = app.create_charge(&body).await;
        let error = &answer.body["error"];
        if answer.status != StatusCode::BAD_REQUEST
            || error["type"] != "invalid_request_error"
            || error["param"] != param
            || error["code"] != code
            || !error["message"].is_string()
        {
            wrong.push(format!("{body} -> {} {}", answer.status, answer.body));
        }
    }

    assert!(
        wrong.is_empty(),
        "unexpected answers:\n{}",
        wrong.join("\n")
    );
    assert!(app.list_charges().await.is_empty());
}

#[tokio::test]
async fn malformed_or_non_object_json_returns_400_invalid_json() {
    let app = spawn_sim().await;

    for raw in [
        r#"{"amount": 100,"#,
        "not json",
        "[1, 2]",
        "\"a string\"",
        "{\"a\":\u{1}}",
    ] {
        let answer = send(app.authed(Method::POST, "/v1/charges").body(raw)).await;

        let error = answer.assert_error(StatusCode::BAD_REQUEST, "invalid_request_error");
        assert_eq!(error["code"], "invalid_json", "body {raw:?}");
    }
    assert!(app.list_charges().await.is_empty());
}

#[tokio::test]
async fn an_empty_charge_body_reports_the_first_missing_field() {
    let app = spawn_sim().await;

    let answer = send(app.authed(Method::POST, "/v1/charges")).await;

    let error = answer.assert_error(StatusCode::BAD_REQUEST, "invalid_request_error");
    assert_eq!(error["code"], "parameter_missing");
    assert_eq!(error["param"], "amount");
}

#[tokio::test]
async fn an_oversized_body_returns_413_json() {
    let app = spawn_sim().await;
    let huge = json!({
        "amount": 100, "currency": "EUR", "source": tokens::SUCCESS,
        "description": "x".repeat(100 * 1024),
    });

    let answer = app.create_charge(&huge).await;

    let error = answer.assert_error(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request_error");
    assert_eq!(error["code"], "body_too_large");
    assert!(app.list_charges().await.is_empty());
}

#[tokio::test]
async fn bad_refund_bodies_return_400_naming_the_field() {
    let app = spawn_sim().await;
    let charge_id = app.successful_charge(1000).await;

    let cases = [
        (
            json!({ "amount": "100" }),
            Some("amount"),
            "parameter_invalid_integer",
        ),
        (
            json!({ "amount": 1.5 }),
            Some("amount"),
            "parameter_invalid_integer",
        ),
        (
            json!({ "reason": "fraud" }),
            Some("reason"),
            "parameter_unknown",
        ),
        (json!([100]), None, "invalid_json"),
    ];

    for (body, param, code) in cases {
        let answer = app.refund(&charge_id, Some(&body), None).await;

        let error = answer.assert_error(StatusCode::BAD_REQUEST, "invalid_request_error");
        assert_eq!(error["code"], code, "body {body}");
        assert_eq!(
            error.get("param").and_then(Value::as_str),
            param,
            "body {body}"
        );
    }
    assert_eq!(app.get_charge(&charge_id).await.body["amount_refunded"], 0);
}
