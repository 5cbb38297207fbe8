//! Routes outside the charges API: health, unknown routes and wrong methods, all JSON.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{send, spawn_sim};

#[tokio::test]
async fn health_answers_ok_without_an_api_key() {
    let app = spawn_sim().await;

    let answer = send(app.client.get(app.url("/health"))).await;

    answer.assert_status(StatusCode::OK);
    assert_eq!(answer.body, json!({ "status": "ok" }));
}

#[tokio::test]
async fn an_unknown_route_returns_404_json() {
    let app = spawn_sim().await;

    for path in ["/nope", "/v1/customers", "/v1/charges/ch_1/refunds/re_1"] {
        let answer = send(app.authed(Method::GET, path)).await;

        let error = answer.assert_error(StatusCode::NOT_FOUND, "invalid_request_error");
        assert_eq!(error["code"], "route_not_found", "{path}");
    }
}

#[tokio::test]
async fn a_wrong_method_returns_405_json() {
    let app = spawn_sim().await;

    for (method, path) in [
        (Method::DELETE, "/v1/charges"),
        (Method::PUT, "/v1/charges/ch_1"),
        (Method::GET, "/v1/charges/ch_1/refunds"),
        (Method::DELETE, "/sim/faults"),
        (Method::POST, "/health"),
    ] {
        let answer = send(app.authed(method.clone(), path)).await;

        let error = answer.assert_error(StatusCode::METHOD_NOT_ALLOWED, "invalid_request_error");
        assert_eq!(error["code"], "method_not_allowed", "{method} {path}");
    }
}

#[tokio::test]
async fn every_answer_carries_a_distinct_request_id() {
    let app = spawn_sim().await;

    let first = send(app.client.get(app.url("/health"))).await;
    let second = send(app.client.get(app.url("/nope"))).await;

    let first_id = first.header("request-id").expect("a request id on 200");
    let second_id = second.header("request-id").expect("a request id on 404");
    assert!(first_id.starts_with("req_"), "{first_id}");
    assert_ne!(first_id, second_id);
}
