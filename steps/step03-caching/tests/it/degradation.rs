//! Redis failing under a running app: stopped (connection refused) or hung (SIGSTOP: the
//! socket stays open and nothing answers). Reads keep answering 200 from MongoDB, no request
//! waits on Redis longer than its timeout, writes still succeed and are read back, and when
//! Redis returns the cache works again without anyone restarting the app. Each test starts its
//! own `redis-server` on a port it keeps, since it stops that server.

use std::time::{Duration, Instant};

use serde_json::json;
use testkit::expect_status;
use testkit::services::redis::{RestartableRedis, TestRedis};

use crate::support::{App, Cached as _, until_counted};

async fn spawn_on(redis: &RestartableRedis) -> App {
    App::builder()
        .redis(TestRedis::create_on(&redis.url()).unwrap())
        .config(|config| {
            config.redis.response_timeout_ms = 250;
            config.redis.retry_after_ms = 300;
            // These tests watch the Redis tier; `near_cache.rs` has the near cache's outages.
            config.cache.near.enabled = false;
        })
        .spawn()
        .await
}

/// `GET path`, expecting 200 within `bound`; the body.
async fn timed_get(app: &App, path: &str, bound: Duration) -> serde_json::Value {
    let started = Instant::now();
    let body = expect_status(app.get(path, None).await, 200).await;
    let took = started.elapsed();
    assert!(took < bound, "{path} took {took:?}, more than {bound:?}");
    body
}

/// Polls until the app reports a new hit (the Redis tier works again), for at most 10 s.
async fn until_hits_resume(app: &App, path: &str) {
    until_counted(app, path, |counters| counters.hits).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_answer_200_while_redis_is_stopped_and_hits_resume_when_it_starts_again() {
    let mut redis = RestartableRedis::start().expect("a local redis-server starts");
    let app = spawn_on(&redis).await;
    let (_, admin) = app.admin().await;
    let product = app
        .create_product(&admin, json!({ "name": "Kettle" }))
        .await;
    let id = product["id"].as_str().unwrap().to_owned();
    let detail = format!("/api/v1/products/{id}");
    app.get_ok(&detail).await;
    until_hits_resume(&app, &detail).await;

    redis.stop();
    let errors_before = app.counters().errors;
    for _ in 0..5 {
        let body = timed_get(&app, &detail, Duration::from_secs(1)).await;
        assert_eq!(body["name"], "Kettle");
        let listing = timed_get(&app, "/api/v2/products", Duration::from_secs(1)).await;
        assert_eq!(listing["items"][0]["name"], "Kettle");
    }
    assert!(
        app.counters().errors > errors_before,
        "{:?}",
        app.counters()
    );
    let status = app.get_ok("/internal/cache").await;
    assert_eq!(status["redis"]["status"], "unavailable", "{status}");
    // A write while Redis is down succeeds, and the writer reads it back.
    expect_status(
        app.request(
            reqwest::Method::PUT,
            &detail,
            Some(&admin),
            Some(json!({
                "sku": product["sku"], "name": "Kettle 2", "description": "d",
                "price_minor": 900, "currency": "EUR", "stock": 3, "category": "c", "tags": []
            })),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(app.get_ok(&detail).await["name"], "Kettle 2");

    redis.restart().expect("redis-server restarts on its port");
    until_hits_resume(&app, &detail).await;
    assert_eq!(app.get_ok(&detail).await["name"], "Kettle 2");
    assert_eq!(app.get_ok("/internal/cache").await["redis"]["status"], "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_redis_costs_no_request_more_than_its_timeout_and_reads_still_answer() {
    let redis = RestartableRedis::start().expect("a local redis-server starts");
    let app = spawn_on(&redis).await;
    let (_, admin) = app.admin().await;
    let product = app
        .create_product(&admin, json!({ "name": "Teapot" }))
        .await;
    let detail = format!("/api/v1/products/{}", product["id"].as_str().unwrap());
    app.get_ok(&detail).await;
    until_hits_resume(&app, &detail).await;

    redis.pause().unwrap();
    let started = Instant::now();
    for _ in 0..10 {
        // The 250 ms Redis timeout, plus MongoDB, plus a loaded 2-core machine's slack.
        let body = timed_get(&app, &detail, Duration::from_millis(900)).await;
        assert_eq!(body["name"], "Teapot");
    }
    let took = started.elapsed();
    let counters = app.state.redis.counters();
    redis.resume().unwrap();
    // The first call after the hang fails on the timeout (ours or the manager's, whichever
    // fires first), then the breaker opens.
    assert!(counters.timeouts + counters.errors >= 1, "{counters:?}");
    // The breaker: not every one of the ten requests paid a timeout.
    assert!(counters.skipped >= 1, "{counters:?}");
    assert!(took < Duration::from_secs(4), "ten reads took {took:?}");

    until_hits_resume(&app, &detail).await;
}
