//! The reference endpoint: 200 with its constant body through every layer, never counted by a
//! rate limit, and answering while MongoDB is gone (it does no I/O, so it is the ceiling a load
//! report divides by).

use secrecy::SecretString;
use step02_apis::rate_limit::RateLimitConfig;
use step04_optimize::routes::NOOP_BODY;
use testkit::services::MongoServer;
use testkit::services::mongo::MongoSettings;

use crate::support::App;

#[tokio::test]
async fn the_reference_endpoint_answers_200_with_its_constant_json_through_every_layer() {
    let app = App::spawn().await;
    let response = app.get("/internal/noop", None).await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "application/json");
    assert!(
        headers.contains_key("x-request-id"),
        "step 0's request id layer ran: {headers:?}"
    );
    assert!(
        headers.contains_key("x-content-type-options"),
        "step 1's security headers ran: {headers:?}"
    );
    assert_eq!(response.text().await.unwrap(), NOOP_BODY);
}

#[tokio::test]
async fn the_reference_endpoint_is_never_rate_limited_while_other_routes_are() {
    let app = App::spawn_with(|config| {
        let limits: &mut RateLimitConfig = &mut config.apis.rate_limit;
        limits.default.requests = 3;
    })
    .await;
    for _ in 0..20 {
        let response = app.get("/internal/noop", None).await;
        assert_eq!(response.status(), 200);
        assert!(!response.headers().contains_key("ratelimit-limit"));
    }
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(app.get("/internal/cache", None).await.status().as_u16());
    }
    assert!(
        statuses.contains(&429),
        "a neighbouring route is limited: {statuses:?}"
    );
}

#[tokio::test]
async fn the_reference_endpoint_answers_while_mongodb_is_stopped() {
    let own = tokio::task::spawn_blocking(|| {
        MongoServer::start_with(&MongoSettings::from_env().local_only())
    })
    .await
    .unwrap()
    .expect("a MongoDB server of this test's own");
    let uri = own.uri().to_owned();
    let app = App::spawn_with(move |config| {
        let mongodb = &mut config.mongodb;
        mongodb.uri = SecretString::from(uri);
        mongodb.timeout_ms = 500;
    })
    .await;
    drop(tokio::task::spawn_blocking(move || drop(own)).await);

    let missing = app
        .get("/api/v1/products/000000000000000000000000", None)
        .await;
    assert!(
        missing.status().is_server_error(),
        "MongoDB is really gone: a product read fails ({})",
        missing.status()
    );
    let response = app.get("/internal/noop", None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), NOOP_BODY);
}
