//! The cross-cutting layers, tested in-process with `oneshot`: request ids, panics and the
//! JSON error envelope for anything the framework itself rejects.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use common::config::ServerConfig;
use common::startup::with_layers;
use tower::ServiceExt;

async fn boom() -> &'static str {
    panic!("a bug")
}

fn app() -> Router {
    let routes = Router::new()
        .route("/boom", get(boom))
        .route("/ok", get(|| async { "ok" }));
    with_layers(routes, &ServerConfig::default())
}

async fn send(request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
    let response = app().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, headers, body)
}

#[tokio::test]
async fn a_panicking_handler_is_a_json_500_without_details() {
    let (status, _, body) = send(Request::get("/boom").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["error"]["code"], "INTERNAL");
    assert!(!body.to_string().contains("a bug"));
}

#[tokio::test]
async fn errors_carry_the_request_id_that_the_response_header_carries() {
    let (status, headers, body) = send(Request::get("/nope").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let id = headers["x-request-id"].to_str().unwrap();
    assert!(!id.is_empty());
    assert_eq!(body["error"]["request_id"], id);
}

#[tokio::test]
async fn a_client_supplied_request_id_is_kept() {
    let request = Request::get("/nope")
        .header("x-request-id", "trace-me-123")
        .body(Body::empty())
        .unwrap();
    let (_, headers, body) = send(request).await;
    assert_eq!(headers["x-request-id"], "trace-me-123");
    assert_eq!(body["error"]["request_id"], "trace-me-123");
}

#[tokio::test]
async fn a_wrong_method_is_a_json_405() {
    let request = Request::post("/ok").body(Body::empty()).unwrap();
    let (status, _, body) = send(request).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["error"]["code"], "METHOD_NOT_ALLOWED");
}

#[tokio::test]
async fn successful_responses_pass_through_untouched() {
    let response = app()
        .oneshot(Request::get("/ok").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    assert_eq!(&bytes[..], b"ok");
}
