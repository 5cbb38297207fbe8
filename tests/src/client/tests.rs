//! The error-shape checker, on hand-written bodies: it must accept every shape the contract
//! allows and say precisely what is wrong with the others.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::*;

fn reply(status: u16, content_type: Option<&str>, body: &str) -> Reply {
    Reply {
        method: Method::POST,
        path: "/api/v1/orders".to_owned(),
        status: StatusCode::from_u16(status).unwrap(),
        content_type: content_type.map(str::to_owned),
        headers: Default::default(),
        body: body.to_owned(),
    }
}

#[test]
fn the_full_error_shape_parses() {
    let body = json!({"error": {
        "code": "VALIDATION_FAILED", "message": "invalid input",
        "fields": [{"field": "items[0].quantity", "reason": "must be at least 1"}],
        "request_id": "abc",
    }});
    let error = parse_error(&body).unwrap();
    assert_eq!(error.code, "VALIDATION_FAILED");
    assert!(error.names_field("items[0].quantity"));
    assert_eq!(error.request_id.as_deref(), Some("abc"));
}

#[test]
fn fields_and_request_id_are_optional() {
    let error = parse_error(&json!({"error": {"code": "NOT_FOUND", "message": "no"}})).unwrap();
    assert!(error.fields.is_empty());
    assert_eq!(error.request_id, None);
}

#[test]
fn bad_shapes_are_refused_with_a_reason() {
    let cases = [
        (json!({"message": "no"}), "no `error` object"),
        (json!({"error": {"message": "no"}}), "`error.code`"),
        (
            json!({"error": {"code": "not_found", "message": "no"}}),
            "SCREAMING",
        ),
        (
            json!({"error": {"code": "NOT_FOUND", "message": ""}}),
            "empty",
        ),
        (
            json!({"error": {"code": "X", "message": "m", "fields": [{"field": "a"}]}}),
            "`reason`",
        ),
        (
            json!({"error": {"code": "X", "message": "m", "fields": "a"}}),
            "not an array",
        ),
    ];
    for (body, expected) in cases {
        let problem = parse_error(&body).unwrap_err();
        assert!(problem.contains(expected), "{body}: {problem}");
    }
}

#[test]
fn expect_error_checks_status_code_and_content_type() {
    let body = r#"{"error":{"code":"OUT_OF_STOCK","message":"short"}}"#;
    let json = Some("application/json");
    assert!(
        reply(409, json, body)
            .expect_error(409, "OUT_OF_STOCK")
            .is_ok()
    );

    let wrong_code = reply(409, json, body)
        .expect_error(409, "ALREADY_PAID")
        .unwrap_err();
    assert!(format!("{wrong_code:#}").contains("expected 409 Conflict ALREADY_PAID"));

    let wrong_status = reply(422, json, body)
        .expect_error(409, "OUT_OF_STOCK")
        .unwrap_err();
    assert!(format!("{wrong_status:#}").contains("422 Unprocessable Entity"));

    let plain = reply(409, Some("text/plain"), body).expect_error(409, "OUT_OF_STOCK");
    assert!(format!("{:#}", plain.unwrap_err()).contains("content-type application/json"));
}

#[test]
fn a_success_is_not_an_error() {
    let ok = reply(201, Some("application/json"), "{}").expect_error(409, "OUT_OF_STOCK");
    let message = format!("{:#}", ok.unwrap_err());
    assert!(message.contains("expected an error status"), "{message}");
    assert!(
        message.contains("POST /api/v1/orders -> 201 Created"),
        "{message}"
    );
}

#[test]
fn expect_validation_names_the_missing_field() {
    let body = r#"{"error":{"code":"VALIDATION_FAILED","message":"bad","fields":[{"field":"email","reason":"invalid"}]}}"#;
    let reply = reply(422, Some("application/json; charset=utf-8"), body);
    assert!(reply.clone().expect_validation(&["email"]).is_ok());
    let missing = reply.expect_validation(&["password"]).unwrap_err();
    assert!(format!("{missing:#}").contains("naming field `password`"));
}

#[test]
fn long_bodies_are_cut_in_messages() {
    let long = reply(500, None, &"x".repeat(10_000)).describe();
    assert!(long.len() < 2_000, "{}", long.len());
    assert!(long.ends_with("(10000 bytes)"));
}
