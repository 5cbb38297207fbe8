//! A failing database: a clear 503 with the one error shape, and `/health` says so.

use common::config::Config;
use common::{AppState, Step};
use secrecy::SecretString;
use testkit::{TestApp, expect_error, expect_status};

/// An app whose MongoDB is a port nothing listens on.
async fn app_without_database() -> TestApp {
    TestApp::<AppState>::builder()
        .config(|config| {
            config.mongodb.uri = SecretString::from("mongodb://127.0.0.1:9/?connectTimeoutMS=300");
            config.mongodb.timeout_ms = 300;
        })
        .unprepared()
        .spawn()
        .await
}

#[tokio::test]
async fn reads_and_writes_answer_503_when_mongodb_is_down() {
    let app = app_without_database().await;
    expect_error(
        app.get("/api/v1/products", None).await,
        503,
        "SERVICE_UNAVAILABLE",
    )
    .await;
    let response = app
        .register(&testkit::unique_email("down"), "long-enough-password", "D")
        .await;
    expect_error(response, 503, "SERVICE_UNAVAILABLE").await;
}

#[tokio::test]
async fn health_is_503_naming_mongodb_when_it_is_down_and_200_when_it_is_up() {
    let app = app_without_database().await;
    let response = app.get("/health", None).await;
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["checks"]["mongodb"], "unavailable");

    let healthy = testkit::spawn_app().await;
    let body = expect_status(healthy.get("/health", None).await, 200).await;
    assert_eq!(body["checks"]["mongodb"], "ok");
}

#[tokio::test]
async fn the_app_refuses_to_start_without_its_database_and_says_why() {
    let mut config = Config::default();
    config.mongodb.uri = SecretString::from("mongodb://127.0.0.1:9");
    config.mongodb.timeout_ms = 300;
    let error = match AppState::build(&config).await {
        Ok(_) => panic!("started without a database"),
        Err(e) => format!("{e:#}"),
    };
    assert!(error.contains("MongoDB"), "{error}");
}
