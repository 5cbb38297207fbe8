//! Unit tests of the rate limiter's pure parts: which policy a route falls under, whose key a
//! request counts against, the header values, governor's decisions and memory bound, the
//! configuration, and what happens when the limiter itself fails.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request as HttpRequest, StatusCode};
use axum::routing::get;
use common::auth::{JwtKeys, Verifier};
use common::config::AuthConfig;
use common::domain::{Role, UserId};
use figment::Figment;
use figment::providers::{Env, Format, Toml};
use tower::ServiceExt;

use super::*;

fn keys() -> JwtKeys {
    JwtKeys::new(&AuthConfig::default())
}

fn limits(config: &RateLimitConfig) -> RateLimits {
    let verifier: Verifier = Arc::new(keys());
    RateLimits::new(config, ClientIpPolicy::peer_only(), verifier).unwrap()
}

fn policy(name: &'static str, requests: u32, window: Duration) -> Policy {
    Policy {
        name,
        requests,
        window,
    }
}

fn parts(token: Option<&str>, peer: Option<&str>) -> Parts {
    let mut builder = HttpRequest::builder().uri("/api/v1/auth/me");
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    let (mut parts, ()) = builder.body(()).unwrap().into_parts();
    if let Some(peer) = peer {
        let addr: SocketAddr = peer.parse().unwrap();
        parts.extensions.insert(ConnectInfo(addr));
    }
    parts
}

#[test]
fn credential_routes_fall_under_the_credentials_policy_keyed_by_address() {
    let limits = limits(&RateLimitConfig::default());
    for (method, path) in [
        (Method::POST, "/api/v1/auth/login"),
        (Method::POST, "/api/v1/auth/register"),
        (Method::POST, "/api/v1/auth/refresh"),
        (Method::POST, "/api/v1/auth/password"),
        (Method::GET, "/api/v1/auth/google/callback"),
        (Method::POST, "/api/v2/auth/login"),
        (Method::POST, "/api/v10/auth/login"),
    ] {
        let (policy, by) = limits.classify(&method, path).unwrap();
        assert_eq!(
            (policy.name, by),
            ("credentials", KeyBy::Ip),
            "{method} {path}"
        );
    }
}

#[test]
fn placing_an_order_falls_under_the_orders_policy_and_reading_orders_does_not() {
    let limits = limits(&RateLimitConfig::default());
    let name = |m: Method, p: &str| limits.classify(&m, p).map(|(p, by)| (p.name, by));
    assert_eq!(
        name(Method::POST, "/api/v1/orders"),
        Some(("orders", KeyBy::Client))
    );
    assert_eq!(
        name(Method::POST, "/api/v2/orders"),
        Some(("orders", KeyBy::Client))
    );
    assert_eq!(
        name(Method::GET, "/api/v1/orders"),
        Some(("default", KeyBy::Client))
    );
    assert_eq!(
        name(Method::POST, "/api/v1/orders/abc/pay"),
        Some(("default", KeyBy::Client))
    );
    assert_eq!(
        name(Method::GET, "/api/v1/auth/login"),
        Some(("default", KeyBy::Client))
    );
    assert_eq!(
        name(Method::POST, "/api/vx/auth/login"),
        Some(("default", KeyBy::Client))
    );
    assert_eq!(name(Method::GET, "/health"), None);
}

#[test]
fn an_exempted_path_falls_under_no_policy_and_its_neighbours_still_do() {
    let limits = limits(&RateLimitConfig::default()).exempting("/internal/noop");
    assert!(limits.classify(&Method::GET, "/internal/noop").is_none());
    assert!(limits.classify(&Method::GET, "/health").is_none());
    assert!(limits.classify(&Method::GET, "/internal/noop/x").is_some());
    assert!(limits.classify(&Method::GET, "/internal/cache").is_some());
}

#[test]
fn a_valid_token_keys_by_user_and_an_invalid_one_falls_back_to_the_address() {
    let limits = limits(&RateLimitConfig::default());
    let user = UserId::new();
    let token = keys().issue(user, Role::Customer).unwrap();
    let peer = Some("192.0.2.4:5000");
    assert_eq!(
        limits.key(&parts(Some(&token), peer), KeyBy::Client),
        ClientKey::User(user)
    );
    assert_eq!(
        limits.key(&parts(Some("forged.token.here"), peer), KeyBy::Client),
        ClientKey::Ip("192.0.2.4".parse().unwrap())
    );
    // Credential routes count the address even for a signed-in caller.
    assert_eq!(
        limits.key(&parts(Some(&token), peer), KeyBy::Ip),
        ClientKey::Ip("192.0.2.4".parse().unwrap())
    );
    assert_eq!(
        limits.key(&parts(None, None), KeyBy::Client),
        ClientKey::Unknown
    );
}

#[test]
fn headers_carry_limit_remaining_reset_in_whole_seconds_and_the_policy() {
    let mut headers = HeaderMap::new();
    let decision = Decision {
        allowed: true,
        limit: 100,
        remaining: 97,
        reset: Duration::from_millis(1_800),
        retry_after: Duration::ZERO,
    };
    write_headers(
        &mut headers,
        &policy("default", 100, Duration::from_secs(60)),
        &decision,
    );
    assert_eq!(headers["ratelimit-limit"], "100");
    assert_eq!(headers["ratelimit-remaining"], "97");
    assert_eq!(headers["ratelimit-reset"], "2", "rounded up, never early");
    assert_eq!(headers["ratelimit-policy"], "100;w=60");
    assert_eq!(whole_seconds(Duration::from_secs(3)), 3);
    assert_eq!(whole_seconds(Duration::from_nanos(1)), 1);
}

#[tokio::test]
async fn governor_counts_down_then_refuses_with_the_wait_until_the_next_request() {
    let p = policy("default", 3, Duration::from_secs(60));
    let limiter = GovernorLimiter::new(std::slice::from_ref(&p), 1_000).unwrap();
    let key = ClientKey::Ip("192.0.2.1".parse().unwrap());
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let d = limiter.check(&p, &key).await.unwrap();
        assert!(d.allowed);
        assert_eq!(d.limit, 3);
        remaining.push(d.remaining);
    }
    assert_eq!(remaining, [2, 1, 0]);
    let refused = limiter.check(&p, &key).await.unwrap();
    assert!(!refused.allowed);
    assert_eq!(refused.remaining, 0);
    // One request is refilled every 20 s; the first was spent a moment ago.
    assert!(
        refused.retry_after > Duration::from_secs(19)
            && refused.retry_after <= Duration::from_secs(20),
        "{refused:?}"
    );
    assert_eq!(refused.reset, refused.retry_after);
    // Another key has its own quota.
    let other = ClientKey::Ip("192.0.2.2".parse().unwrap());
    assert!(limiter.check(&p, &other).await.unwrap().allowed);
}

#[tokio::test]
async fn the_reset_of_an_allowed_request_is_when_the_quota_is_whole_again() {
    let p = policy("default", 4, Duration::from_secs(60));
    let limiter = GovernorLimiter::new(std::slice::from_ref(&p), 1_000).unwrap();
    let key = ClientKey::Unknown;
    let first = limiter.check(&p, &key).await.unwrap();
    assert_eq!(first.reset, Duration::from_secs(15));
    let second = limiter.check(&p, &key).await.unwrap();
    assert_eq!(second.reset, Duration::from_secs(30));
}

#[tokio::test]
async fn an_unknown_policy_is_an_error_not_a_pass() {
    let limiter =
        GovernorLimiter::new(&[policy("default", 1, Duration::from_secs(1))], 1_000).unwrap();
    let other = policy("orders", 1, Duration::from_secs(1));
    assert!(limiter.check(&other, &ClientKey::Unknown).await.is_err());
}

#[tokio::test]
async fn keys_whose_quota_is_whole_again_are_forgotten_every_n_checks() {
    let p = policy("default", 1, Duration::from_millis(50));
    let limiter = GovernorLimiter::new(std::slice::from_ref(&p), 100).unwrap();
    for i in 0..99u8 {
        let key = ClientKey::Ip(std::net::IpAddr::from([10, 0, 0, i]));
        limiter.check(&p, &key).await.unwrap();
    }
    assert_eq!(limiter.tracked_keys(), 99);
    // governor forgets a key one refill interval after its quota is whole again.
    tokio::time::sleep(Duration::from_millis(150)).await;
    // The 100th check sweeps first: only its own key is left.
    limiter.check(&p, &ClientKey::Unknown).await.unwrap();
    assert_eq!(limiter.tracked_keys(), 1);
}

#[test]
fn the_defaults_are_valid_and_stricter_for_credentials_and_orders() {
    let config = RateLimitConfig::default();
    config.validate().unwrap();
    assert!(config.enabled);
    let rate = |q: &QuotaConfig| f64::from(q.requests) / q.window_secs as f64;
    assert!(rate(&config.credentials) < rate(&config.default));
    assert!(rate(&config.orders) < rate(&config.default));
}

#[test]
fn a_quota_of_zero_requests_or_a_window_over_a_day_is_refused() {
    let mut config = RateLimitConfig::default();
    config.orders.requests = 0;
    let error = config.validate().unwrap_err().to_string();
    assert!(error.contains("ORDERS__REQUESTS"), "{error}");
    let mut config = RateLimitConfig::default();
    config.default.window_secs = MAX_WINDOW_SECS + 1;
    let error = config.validate().unwrap_err().to_string();
    assert!(error.contains("DEFAULT__WINDOW_SECS"), "{error}");
}

#[test]
#[allow(clippy::result_large_err)] // figment's Jail API fixes the error type
fn trusted_proxies_are_read_from_a_comma_separated_variable() {
    figment::Jail::expect_with(|jail| {
        jail.set_env(
            "APP__APIS__RATE_LIMIT__TRUSTED_PROXIES",
            "10.0.0.0/8, 127.0.0.1,::1",
        );
        jail.set_env("APP__APIS__RATE_LIMIT__FORWARDED_HEADER", "forwarded");
        jail.set_env("APP__APIS__RATE_LIMIT__CREDENTIALS__REQUESTS", "5");
        jail.set_env("APP__APIS__RATE_LIMIT__CREDENTIALS__WINDOW_SECS", "30");
        let config: RateLimitConfig = Figment::new()
            .merge(Env::prefixed("APP__APIS__RATE_LIMIT__").split("__"))
            .extract()?;
        let expected: Vec<IpNet> = ["10.0.0.0/8", "127.0.0.1/32", "::1/128"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(config.trusted_proxies, expected);
        assert_eq!(config.forwarded_header, ForwardedHeader::Forwarded);
        assert_eq!(
            config.credentials,
            QuotaConfig {
                requests: 5,
                window_secs: 30
            }
        );
        Ok(())
    });
}

#[test]
fn a_trusted_proxy_that_is_not_an_address_is_a_clear_configuration_error() {
    let error = Figment::from(Toml::string(
        r#"trusted_proxies = ["10.0.0.0/8", "proxy.local"]"#,
    ))
    .extract::<RateLimitConfig>()
    .unwrap_err()
    .to_string();
    assert!(error.contains("proxy.local"), "{error}");
    let error = Figment::from(Toml::string("[orders]\nrequests = 5"))
        .extract::<RateLimitConfig>()
        .unwrap_err()
        .to_string();
    assert!(error.contains("window_secs"), "{error}");
}

/// A limiter whose store is down (what step 3's Redis limiter returns then).
struct BrokenLimiter;

#[async_trait::async_trait]
impl RateLimiter for BrokenLimiter {
    async fn check(&self, _: &Policy, _: &ClientKey) -> anyhow::Result<Decision> {
        Err(anyhow::anyhow!("connection refused"))
    }
}

#[tokio::test]
async fn a_failing_limiter_lets_requests_through_without_rate_limit_headers() {
    let verifier: Verifier = Arc::new(keys());
    let limits = RateLimits::with_limiter(
        &RateLimitConfig::default(),
        ClientIpPolicy::peer_only(),
        verifier,
        Arc::new(BrokenLimiter),
    );
    let app = layer(
        Router::new().route("/api/v1/ping", get(|| async { "pong" })),
        &limits,
    );
    let response = app
        .oneshot(
            HttpRequest::get("/api/v1/ping")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("ratelimit-limit").is_none());
}
