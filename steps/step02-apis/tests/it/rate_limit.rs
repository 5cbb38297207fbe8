//! Rate limiting over HTTP against a real step-2 server: small quotas set per test, the 429
//! with its headers and error body, keys per user and per address, forwarded headers from
//! untrusted and trusted peers, the stricter sign-in and order policies, recovery after the
//! window, and the switch that turns it all off.

use std::time::Duration;

use reqwest::Response;
use serde_json::json;
use step02_apis::rate_limit::QuotaConfig;
use testkit::app::{expect_error, expect_status};

use crate::support::App;

fn quota(requests: u32, window_secs: u64) -> QuotaConfig {
    QuotaConfig {
        requests,
        window_secs,
    }
}

fn header(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().expect("an ASCII header").to_owned())
}

fn number(response: &Response, name: &str) -> u64 {
    header(response, name)
        .unwrap_or_else(|| panic!("a {name} header"))
        .parse()
        .unwrap_or_else(|_| panic!("{name} is a number"))
}

/// A product nobody has: a route that answers 404 (and is limited like any other).
const MISSING_PRODUCT: &str = "/api/v1/products/0000000000000000000000ff";

async fn get_with_forwarded(app: &App, name: &str, value: &str) -> Response {
    app.http
        .get(app.url(MISSING_PRODUCT))
        .header(name, value)
        .send()
        .await
        .expect("the request reaches the app")
}

#[tokio::test]
async fn requests_over_the_limit_get_429_with_retry_after_ratelimit_headers_and_the_error_body() {
    let app = App::spawn_with(|c| c.apis.rate_limit.default = quota(3, 60)).await;
    let (_, token) = app.customer().await;

    for expected_remaining in [2, 1, 0] {
        let response = app.get("/api/v1/auth/me", Some(&token)).await;
        assert_eq!(response.status(), 200);
        assert_eq!(number(&response, "ratelimit-limit"), 3);
        assert_eq!(number(&response, "ratelimit-remaining"), expected_remaining);
        assert_eq!(header(&response, "ratelimit-policy").unwrap(), "3;w=60");
        let reset = number(&response, "ratelimit-reset");
        assert!((1..=60).contains(&reset), "reset {reset}");
    }

    let refused = app.get("/api/v1/auth/me", Some(&token)).await;
    let retry_after = number(&refused, "retry-after");
    // One request comes back every 20 s.
    assert!((1..=20).contains(&retry_after), "retry-after {retry_after}");
    assert_eq!(number(&refused, "ratelimit-remaining"), 0);
    assert_eq!(number(&refused, "ratelimit-reset"), retry_after);
    assert_eq!(header(&refused, "ratelimit-policy").unwrap(), "3;w=60");
    let request_id = header(&refused, "x-request-id").expect("a request id");
    let body = expect_error(refused, 429, "RATE_LIMITED").await;
    assert_eq!(body["error"]["request_id"], request_id.as_str());
}

#[tokio::test]
async fn a_second_user_is_not_affected_when_the_first_is_limited() {
    let app = App::spawn_with(|c| c.apis.rate_limit.default = quota(2, 60)).await;
    let (_, ann) = app.customer().await;
    let (_, bob) = app.customer().await;
    for _ in 0..2 {
        expect_status(app.get("/api/v1/auth/me", Some(&ann)).await, 200).await;
    }
    expect_error(
        app.get("/api/v1/auth/me", Some(&ann)).await,
        429,
        "RATE_LIMITED",
    )
    .await;

    let response = app.get("/api/v1/auth/me", Some(&bob)).await;
    assert_eq!(number(&response, "ratelimit-remaining"), 1);
    expect_status(response, 200).await;
}

#[tokio::test]
async fn anonymous_clients_are_keyed_by_address_and_a_bad_token_counts_as_anonymous() {
    let app = App::spawn_with(|c| c.apis.rate_limit.default = quota(2, 60)).await;
    let (_, token) = app.customer().await;
    for _ in 0..2 {
        expect_error(app.get(MISSING_PRODUCT, None).await, 404, "NOT_FOUND").await;
    }
    expect_error(app.get(MISSING_PRODUCT, None).await, 429, "RATE_LIMITED").await;
    // A forged token does not buy a fresh quota: it is the same address.
    expect_error(
        app.get("/api/v1/auth/me", Some("forged.token.value")).await,
        429,
        "RATE_LIMITED",
    )
    .await;
    // A signed-in user from the same address has their own quota.
    expect_status(app.get("/api/v1/auth/me", Some(&token)).await, 200).await;
}

#[tokio::test]
async fn a_forwarded_header_from_an_untrusted_peer_is_ignored() {
    let app = App::spawn_with(|c| c.apis.rate_limit.default = quota(2, 60)).await;
    for client in ["203.0.113.1", "203.0.113.2"] {
        let response = get_with_forwarded(&app, "x-forwarded-for", client).await;
        assert_eq!(response.status(), 404);
    }
    // Claiming a third address changes nothing: the peer, 127.0.0.1, is the key.
    let response = get_with_forwarded(&app, "x-forwarded-for", "203.0.113.3").await;
    expect_error(response, 429, "RATE_LIMITED").await;
}

#[tokio::test]
async fn a_forwarded_header_from_a_trusted_proxy_names_the_client() {
    let app = App::spawn_with(|c| {
        c.apis.rate_limit.default = quota(2, 60);
        c.apis.rate_limit.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    for _ in 0..2 {
        let response = get_with_forwarded(&app, "x-forwarded-for", "203.0.113.1").await;
        assert_eq!(response.status(), 404);
    }
    let refused = get_with_forwarded(&app, "x-forwarded-for", "203.0.113.1").await;
    expect_error(refused, 429, "RATE_LIMITED").await;
    // Another client behind the same proxy has its own quota, even when it prepends a
    // spoofed entry: the right-most untrusted address is the one the proxy saw.
    let other = get_with_forwarded(&app, "x-forwarded-for", "203.0.113.1, 198.51.100.7").await;
    assert_eq!(number(&other, "ratelimit-remaining"), 1);
    assert_eq!(other.status(), 404);
}

#[tokio::test]
async fn the_rfc_7239_forwarded_header_is_read_when_configured() {
    let app = App::spawn_with(|c| {
        c.apis.rate_limit.default = quota(1, 60);
        c.apis.rate_limit.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        c.apis.rate_limit.forwarded_header = step01_security::client_ip::ForwardedHeader::Forwarded;
    })
    .await;
    let first = get_with_forwarded(&app, "forwarded", "for=\"[2001:db8::1]:4711\"").await;
    assert_eq!(first.status(), 404);
    let again = get_with_forwarded(&app, "forwarded", "for=\"[2001:db8::1]\"").await;
    assert_eq!(again.status(), 429);
    let other = get_with_forwarded(&app, "forwarded", "for=192.0.2.60;proto=http").await;
    assert_eq!(other.status(), 404);
}

#[tokio::test]
async fn sign_in_has_a_stricter_limit_than_the_default() {
    let app = App::spawn_with(|c| {
        c.apis.rate_limit.default = quota(100, 60);
        c.apis.rate_limit.credentials = quota(2, 60);
    })
    .await;
    for _ in 0..2 {
        let response = app.login("nobody@example.test", "wrong-password-1").await;
        assert_eq!(header(&response, "ratelimit-policy").unwrap(), "2;w=60");
        expect_error(response, 401, "UNAUTHORIZED").await;
    }
    let refused = app.login("nobody@example.test", "wrong-password-1").await;
    expect_error(refused, 429, "RATE_LIMITED").await;
    // Registering is a credential route too, on the same per-address quota.
    let register = app
        .register("fresh@example.test", "correct-horse-battery", "Fresh")
        .await;
    expect_error(register, 429, "RATE_LIMITED").await;
    // Other routes from the same address still answer, under the default policy.
    let other = app.get(MISSING_PRODUCT, None).await;
    assert_eq!(header(&other, "ratelimit-policy").unwrap(), "100;w=60");
    assert_eq!(other.status(), 404);
}

#[tokio::test]
async fn placing_orders_is_limited_per_user_and_a_refused_order_changes_nothing() {
    let app = App::spawn_with(|c| c.apis.rate_limit.orders = quota(2, 60)).await;
    let (_, admin) = app.admin().await;
    let product = app.create_product(&admin, json!({ "stock": 10 })).await;
    let items = json!([{ "product_id": product["id"], "quantity": 1 }]);
    let (_, ann) = app.customer().await;
    let (_, bob) = app.customer().await;

    for _ in 0..2 {
        let response = app.place_order(&ann, items.clone()).await;
        assert_eq!(header(&response, "ratelimit-policy").unwrap(), "2;w=60");
        expect_status(response, 201).await;
    }
    let refused = app.place_order(&ann, items.clone()).await;
    expect_error(refused, 429, "RATE_LIMITED").await;

    let orders = expect_status(app.get("/api/v1/orders", Some(&ann)).await, 200).await;
    assert_eq!(
        orders["total"], 2,
        "the refused order was not placed: {orders}"
    );
    let id = product["id"].as_str().unwrap();
    assert_eq!(
        app.product(id).await["stock"],
        8,
        "no stock taken by the refusal"
    );
    // Reading orders is not order placement, and another user places freely.
    expect_status(app.place_order(&bob, items).await, 201).await;
}

#[tokio::test]
async fn a_limited_client_recovers_after_the_window() {
    let app = App::spawn_with(|c| c.apis.rate_limit.default = quota(2, 1)).await;
    for _ in 0..2 {
        assert_eq!(app.get(MISSING_PRODUCT, None).await.status(), 404);
    }
    let refused = app.get(MISSING_PRODUCT, None).await;
    let reset = number(&refused, "ratelimit-reset");
    expect_error(refused, 429, "RATE_LIMITED").await;

    tokio::time::sleep(Duration::from_secs(reset) + Duration::from_millis(100)).await;
    let again = app.get(MISSING_PRODUCT, None).await;
    assert_eq!(again.status(), 404, "the quota came back");
}

#[tokio::test]
async fn a_disabled_limiter_lets_everything_through_without_headers() {
    let app = App::spawn_with(|c| {
        c.apis.rate_limit.enabled = false;
        c.apis.rate_limit.default = quota(1, 60);
        c.apis.rate_limit.credentials = quota(1, 60);
    })
    .await;
    assert!(
        !app.config.apis.rate_limit.enabled,
        "the switch reached the app"
    );
    for _ in 0..5 {
        let response = app.get(MISSING_PRODUCT, None).await;
        assert!(header(&response, "ratelimit-limit").is_none());
        assert_eq!(response.status(), 404);
        let login = app.login("nobody@example.test", "wrong-password-1").await;
        assert_eq!(login.status(), 401);
    }
}

#[tokio::test]
async fn health_is_never_limited() {
    let app = App::spawn_with(|c| c.apis.rate_limit.default = quota(1, 60)).await;
    for _ in 0..5 {
        let response = app.get("/health", None).await;
        assert!(header(&response, "ratelimit-limit").is_none());
        assert_eq!(response.status(), 200);
    }
}

#[tokio::test]
async fn browsers_on_allowed_origins_may_read_the_rate_limit_headers() {
    let app = App::spawn_with(|c| {
        c.base.security.cors.allowed_origins = vec!["https://shop.example.com".to_owned()];
    })
    .await;
    let response = app
        .http
        .get(app.url(MISSING_PRODUCT))
        .header("origin", "https://shop.example.com")
        .send()
        .await
        .unwrap();
    let exposed = header(&response, "access-control-expose-headers")
        .unwrap()
        .to_lowercase();
    for name in [
        "retry-after",
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
        "ratelimit-policy",
    ] {
        assert!(exposed.contains(name), "{name} in {exposed}");
    }
}

#[tokio::test]
async fn step_1s_sign_in_throttle_sees_the_same_client_address_behind_a_trusted_proxy() {
    let app = App::spawn_with(|c| {
        c.apis.rate_limit.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        c.base.security.throttle.max_failures_per_ip = 2;
    })
    .await;
    let login = |client: &'static str, n: u32| {
        app.http
            .post(app.url("/api/v1/auth/login"))
            .header("x-forwarded-for", client)
            .json(&json!({ "email": format!("nobody{n}@example.test"), "password": "wrong-password-1" }))
            .send()
    };
    for n in 0..2 {
        assert_eq!(login("203.0.113.1", n).await.unwrap().status(), 401);
    }
    let throttled = login("203.0.113.1", 2).await.unwrap();
    expect_error(throttled, 429, "TOO_MANY_ATTEMPTS").await;
    // Another client behind the proxy is not locked out by the first one's failures.
    assert_eq!(login("203.0.113.2", 3).await.unwrap().status(), 401);
}
