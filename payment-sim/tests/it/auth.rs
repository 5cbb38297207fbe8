//! Authentication: every `/v1` route wants `Authorization: Bearer <api key>`.

use payment_sim::{SimConfig, tokens};
use reqwest::{Method, StatusCode};

use crate::helpers::{charge_body, send, spawn_sim, spawn_sim_with};

/// Every `/v1` route, as method and path.
fn every_v1_route() -> [(Method, &'static str); 4] {
    [
        (Method::POST, "/v1/charges"),
        (Method::GET, "/v1/charges"),
        (Method::GET, "/v1/charges/ch_any"),
        (Method::POST, "/v1/charges/ch_any/refunds"),
    ]
}

#[tokio::test]
async fn every_v1_route_returns_401_without_an_api_key() {
    let app = spawn_sim().await;

    for (method, path) in every_v1_route() {
        let answer = send(
            app.client
                .request(method.clone(), app.url(path))
                .json(&charge_body(100, tokens::SUCCESS)),
        )
        .await;

        answer.assert_error(StatusCode::UNAUTHORIZED, "authentication_error");
        assert!(
            answer.header("www-authenticate").is_some(),
            "{method} {path}"
        );
    }
    assert!(app.list_charges().await.is_empty());
}

#[tokio::test]
async fn a_wrong_api_key_returns_401_without_echoing_the_key() {
    let app = spawn_sim().await;

    for (method, path) in every_v1_route() {
        let answer = send(
            app.client
                .request(method, app.url(path))
                .bearer_auth("sk_test_wrong_and_secret")
                .json(&charge_body(100, tokens::SUCCESS)),
        )
        .await;

        answer.assert_error(StatusCode::UNAUTHORIZED, "authentication_error");
        assert!(!answer.body.to_string().contains("sk_test_wrong_and_secret"));
    }
    assert!(app.list_charges().await.is_empty());
}

#[tokio::test]
async fn the_right_key_under_another_scheme_returns_401() {
    let app = spawn_sim().await;

    let answer = send(
        app.client
            .get(app.url("/v1/charges"))
            .header("Authorization", "Basic sk_test_simulator"),
    )
    .await;

    answer.assert_error(StatusCode::UNAUTHORIZED, "authentication_error");
}

#[tokio::test]
async fn a_configured_api_key_replaces_the_default() {
    let app = spawn_sim_with(SimConfig {
        api_key: "sk_test_custom".to_owned(),
        ..SimConfig::default()
    })
    .await;

    let with_default = send(
        app.client
            .get(app.url("/v1/charges"))
            .bearer_auth("sk_test_simulator"),
    )
    .await;
    let with_custom = send(
        app.client
            .get(app.url("/v1/charges"))
            .bearer_auth("sk_test_custom"),
    )
    .await;

    with_default.assert_error(StatusCode::UNAUTHORIZED, "authentication_error");
    with_custom.assert_status(StatusCode::OK);
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let app = spawn_sim().await;

    let answer = send(
        app.client
            .get(app.url("/v1/charges"))
            .header("Authorization", "bearer sk_test_simulator"),
    )
    .await;

    answer.assert_status(StatusCode::OK);
}
