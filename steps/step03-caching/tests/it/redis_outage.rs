//! Redis going away in the middle of a test, on a server of the test's own (a local
//! `redis-server` on a port it keeps, so it can be stopped and started again, or frozen with
//! SIGSTOP to play a hung server): signed-in requests fail safe (judged by a recent check for
//! the outage grace, then 503), anonymous reads and the rate limiter carry on (the limiter
//! fails open), no request waits on Redis longer than its timeout, and everything recovers by
//! itself once Redis is back.

use std::time::{Duration, Instant};

use reqwest::Response;
use serde_json::{Value, json};
use step02_apis::rate_limit::QuotaConfig;
use step03_caching::Config;
use testkit::app::TEST_PASSWORD;
use testkit::services::redis::{RestartableRedis, TestRedis};
use testkit::{expect_error, expect_status, unique_email};

use crate::support::App;

/// An app on `redis` with `customize` applied.
async fn spawn_on(
    redis: &RestartableRedis,
    customize: impl FnOnce(&mut Config) + Send + 'static,
) -> App {
    App::builder()
        .redis(TestRedis::create_on(&redis.url()).unwrap())
        .config(customize)
        .spawn()
        .await
}

/// Timed request: the answer and how long it took.
async fn timed(request: impl Future<Output = Response>) -> (Response, Duration) {
    let started = Instant::now();
    let response = request.await;
    (response, started.elapsed())
}

/// Polls `probe` until it returns true, for at most 15 s.
async fn eventually<F, Fut>(what: &str, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(15);
    while !probe().await {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within 15 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn sign_up(app: &App) -> Value {
    let response = app
        .register(&unique_email("outage"), TEST_PASSWORD, "Outage Tester")
        .await;
    expect_status(response, 201).await
}

fn text<'a>(body: &'a Value, field: &str) -> &'a str {
    body[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} in {body}"))
}

#[tokio::test]
async fn with_redis_stopped_tokens_fail_safe_reads_go_on_and_all_recovers_when_it_returns() {
    let mut redis = RestartableRedis::start().expect("a local redis-server starts");
    let app = spawn_on(&redis, |config| config.sessions.outage_grace_secs = 2).await;
    let (_, admin) = app.admin().await;
    let product = app.create_product(&admin, json!({})).await;
    let product_path = format!("/api/v1/products/{}", text(&product, "id"));
    let signed_in = sign_up(&app).await;
    let access = text(&signed_in, "access_token");
    assert_eq!(app.get("/api/v1/auth/me", Some(access)).await.status(), 200);
    // Signed in, never checked on this instance yet.
    let unchecked = sign_up(&app).await;

    redis.stop();
    let stopped = Instant::now();

    // Within the grace, a session checked moments ago is judged by that check...
    assert_eq!(app.get("/api/v1/auth/me", Some(access)).await.status(), 200);
    // ...and one never checked cannot be vouched for.
    let me = app
        .get("/api/v1/auth/me", Some(text(&unchecked, "access_token")))
        .await;
    expect_error(me, 503, "SERVICE_UNAVAILABLE").await;
    assert!(
        stopped.elapsed() < Duration::from_secs(2),
        "the grace is 2 s"
    );
    tokio::time::sleep(Duration::from_secs(2).saturating_sub(stopped.elapsed())).await;

    // Past the grace, a token whose session cannot be checked is refused, clearly, quickly.
    let (me, took) = timed(app.get("/api/v1/auth/me", Some(access))).await;
    expect_error(me, 503, "SERVICE_UNAVAILABLE").await;
    assert!(took < Duration::from_secs(2), "took {took:?}");
    // A logout that cannot be listed says so rather than pretending.
    let logout = app
        .post("/api/v1/auth/logout", Some(access), json!({}))
        .await;
    expect_error(logout, 503, "SERVICE_UNAVAILABLE").await;
    // Anonymous catalog reads answer from MongoDB; a refresh is decided by MongoDB.
    assert_eq!(app.get(&product_path, None).await.status(), 200);
    assert_eq!(app.get("/api/v1/products", None).await.status(), 200);
    let refreshed = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({ "refresh_token": text(&signed_in, "refresh_token") }),
        )
        .await;
    let refreshed = expect_status(refreshed, 200).await;

    redis.restart().expect("redis-server restarts on its port");

    let fresh = text(&refreshed, "access_token").to_owned();
    eventually("signed-in requests answering again", || {
        let app = &app;
        let fresh = fresh.clone();
        async move { app.get("/api/v1/auth/me", Some(&fresh)).await.status() == 200 }
    })
    .await;
    // The logout that failed can simply be repeated, and now it holds.
    let logout = app
        .post("/api/v1/auth/logout", Some(&fresh), json!({}))
        .await;
    assert_eq!(logout.status(), 204);
    assert_eq!(app.get("/api/v1/auth/me", Some(&fresh)).await.status(), 401);
    assert_eq!(app.get("/api/v1/auth/me", Some(access)).await.status(), 401);
}

#[tokio::test]
async fn a_hung_redis_costs_no_request_more_than_its_timeout() {
    let redis = RestartableRedis::start().expect("a local redis-server starts");
    // No grace: every token check must meet Redis, and time out.
    let app = spawn_on(&redis, |config| config.sessions.outage_grace_secs = 0).await;
    let timeout = Duration::from_millis(app.config.redis.response_timeout_ms);
    let (_, admin) = app.admin().await;
    let product = app.create_product(&admin, json!({})).await;
    let product_path = format!("/api/v1/products/{}", text(&product, "id"));
    let signed_in = sign_up(&app).await;
    let access = text(&signed_in, "access_token");

    redis.pause().unwrap();
    // The rate limiter, the token check and the cache each make at most one call, so a
    // request waits at most a few timeouts, and the breaker makes the next ones skip Redis.
    let bound = timeout * 4 + Duration::from_millis(500);
    for _ in 0..3 {
        let (me, took) = timed(app.get("/api/v1/auth/me", Some(access))).await;
        assert!(took < bound, "took {took:?}");
        expect_error(me, 503, "SERVICE_UNAVAILABLE").await;
        let (read, took) = timed(app.get(&product_path, None)).await;
        assert!(took < bound, "took {took:?}");
        assert_eq!(read.status(), 200);
    }
    redis.resume().unwrap();

    let app = &app;
    eventually("signed-in requests answering again", || async move {
        app.get("/api/v1/auth/me", Some(access)).await.status() == 200
    })
    .await;
}

#[tokio::test]
async fn the_rate_limiter_fails_open_while_redis_is_down_and_limits_again_when_it_returns() {
    let mut redis = RestartableRedis::start().expect("a local redis-server starts");
    let app = spawn_on(&redis, |config| {
        config.base.apis.rate_limit.default = QuotaConfig {
            requests: 3,
            window_secs: 60,
        };
    })
    .await;
    for _ in 0..3 {
        assert_eq!(app.get("/api/v1/products", None).await.status(), 200);
    }
    assert_eq!(app.get("/api/v1/products", None).await.status(), 429);

    redis.stop();
    // Limits are not enforced without Redis, and no answer claims a quota it cannot count.
    for _ in 0..6 {
        let response = app.get("/api/v1/products", None).await;
        assert_eq!(response.status(), 200);
        assert!(response.headers().get("ratelimit-remaining").is_none());
    }

    // Redis comes back empty: a fresh quota of 3, counted again.
    redis.restart().expect("redis-server restarts on its port");
    let app = &app;
    eventually("the limiter counting again", || async move {
        app.get("/api/v1/products", None)
            .await
            .headers()
            .contains_key("ratelimit-remaining")
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(app.get("/api/v1/products", None).await.status().as_u16());
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
}

#[tokio::test]
async fn a_logout_during_an_outage_holds_here_at_once_and_everywhere_once_redis_returns() {
    let mut redis = RestartableRedis::start().expect("a local redis-server starts");
    let a = spawn_on(&redis, |_| {}).await;
    let b = a.beside().spawn().await;
    let signed_in = sign_up(&a).await;
    let access = text(&signed_in, "access_token");
    assert_eq!(a.get("/api/v1/auth/me", Some(access)).await.status(), 200);

    redis.stop();
    // Within the grace the session is judged by its last check, so the logout runs: MongoDB
    // revokes it, Redis cannot list it, and the client hears so.
    let logout = a.post("/api/v1/auth/logout", Some(access), json!({})).await;
    expect_error(logout, 503, "SERVICE_UNAVAILABLE").await;
    // This instance refuses it at once; the other cannot vouch for it.
    assert_eq!(a.get("/api/v1/auth/me", Some(access)).await.status(), 401);
    expect_error(
        b.get("/api/v1/auth/me", Some(access)).await,
        503,
        "SERVICE_UNAVAILABLE",
    )
    .await;

    redis.restart().expect("redis-server restarts on its port");
    let b = &b;
    eventually(
        "the other instance refusing the logged-out token",
        || async move { b.get("/api/v1/auth/me", Some(access)).await.status() == 401 },
    )
    .await;
}
