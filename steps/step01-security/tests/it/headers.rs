//! Security headers on every answer (success, error, framework fallback) and CORS from
//! configuration: only the configured origins, exactly.

use reqwest::Method;
use reqwest::header::{ACCESS_CONTROL_ALLOW_ORIGIN, ORIGIN};

use crate::support::App;
use crate::support::Sessions as _;

const EXPECTED: &[(&str, &str)] = &[
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    (
        "content-security-policy",
        "default-src 'none'; frame-ancestors 'none'",
    ),
    ("referrer-policy", "no-referrer"),
    ("cache-control", "no-store"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    (
        "strict-transport-security",
        "max-age=31536000; includeSubDomains",
    ),
];

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let app = App::spawn().await;
    let (_, session) = app.customer_session().await;
    for (what, response) in [
        ("a product list", app.get("/api/v1/products", None).await),
        ("/auth/me", app.me(&session.access).await),
        ("a 401", app.me("forged").await),
        ("an unknown route", app.get("/api/v1/nope", None).await),
        (
            "a wrong method",
            app.request(Method::PATCH, "/api/v1/products", None, None)
                .await,
        ),
        ("health", app.get("/health", None).await),
    ] {
        for (name, value) in EXPECTED {
            assert_eq!(
                response.headers().get(*name).and_then(|v| v.to_str().ok()),
                Some(*value),
                "{what}: header {name}"
            );
        }
    }
}

#[tokio::test]
async fn cors_answers_only_the_configured_origin() {
    let app = App::spawn_with(|config| {
        config.security.cors.allowed_origins = vec!["https://shop.example".to_owned()];
    })
    .await;
    let preflight = |origin: &'static str| {
        app.http
            .request(Method::OPTIONS, app.url("/api/v1/auth/login"))
            .header(ORIGIN, origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type,authorization",
            )
            .send()
    };
    let allowed = preflight("https://shop.example").await.unwrap();
    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(
        allowed.headers()[ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://shop.example"
    );
    let methods = allowed.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(methods.contains("POST"), "{methods}");

    for stranger in [
        "https://evil.example",
        "https://shop.example.evil.example",
        "null",
    ] {
        let refused = preflight(stranger).await.unwrap();
        assert!(
            refused.headers().get(ACCESS_CONTROL_ALLOW_ORIGIN).is_none(),
            "{stranger} must not be allowed"
        );
    }
    let simple = app
        .http
        .get(app.url("/api/v1/products"))
        .header(ORIGIN, "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(simple.headers().get(ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
}

#[tokio::test]
async fn without_configured_origins_no_cross_origin_access_is_granted() {
    let app = App::spawn().await;
    let answer = app
        .http
        .get(app.url("/api/v1/products"))
        .header(ORIGIN, "https://shop.example")
        .send()
        .await
        .unwrap();
    assert!(answer.headers().get(ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
}
