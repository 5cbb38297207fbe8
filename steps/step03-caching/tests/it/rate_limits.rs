//! Step 2's rate limits in Redis: the GCRA script checked directly against a real Redis (the
//! same decisions as step 2's in-memory limiter, atomic under concurrency, keys that expire),
//! and through HTTP across two instances sharing one Redis: one quota, a 429 from either.

use std::sync::Arc;
use std::time::Duration;

use redis::AsyncCommands;
use step02_apis::rate_limit::{ClientKey, GovernorLimiter, Policy, QuotaConfig, RateLimiter};
use step03_caching::config::RedisConfig;
use step03_caching::rate_limit::RedisLimiter;
use step03_caching::redis_handle::RedisHandle;
use testkit::services::redis::{TestRedis, test_redis};

use crate::support::App;

fn policy(requests: u32, window_ms: u64) -> Policy {
    Policy {
        name: "test",
        requests,
        window: Duration::from_millis(window_ms),
    }
}

async fn limiter() -> (RedisLimiter, TestRedis) {
    let redis = test_redis().await.expect("the shared test Redis");
    let handle = RedisHandle::new(&RedisConfig {
        url: redis.url.clone().into(),
        ..RedisConfig::default()
    })
    .unwrap();
    (RedisLimiter::new(handle, &redis.prefix), redis)
}

fn client() -> ClientKey {
    ClientKey::Ip("192.0.2.7".parse().unwrap())
}

#[tokio::test]
async fn the_script_allows_the_quota_then_refuses_with_the_same_fields_as_step_2() {
    let (redis_limiter, _redis) = limiter().await;
    let policy = policy(5, 60_000);
    let memory = GovernorLimiter::new(std::slice::from_ref(&policy), 1_000).unwrap();
    for n in 1..=6u32 {
        let ours = redis_limiter.check(&policy, &client()).await.unwrap();
        let theirs = memory.check(&policy, &client()).await.unwrap();
        assert_eq!(ours.allowed, n <= 5, "request {n}");
        assert_eq!(
            (ours.allowed, ours.limit, ours.remaining),
            (theirs.allowed, theirs.limit, theirs.remaining),
            "request {n}"
        );
        // Both say when the quota is whole (allowed) or the next request passes (refused);
        // governor rounds up to a whole refill interval, so they agree within one (12 s).
        let gap = ours.reset.abs_diff(theirs.reset);
        assert!(
            gap <= Duration::from_secs(12),
            "request {n}: {ours:?} vs {theirs:?}"
        );
        assert_eq!(ours.retry_after.is_zero(), ours.allowed, "request {n}");
    }
    let refused = redis_limiter.check(&policy, &client()).await.unwrap();
    // One request refills every 12 s; the 5 requests above took a few ms.
    assert!(refused.retry_after > Duration::from_secs(11));
    assert!(refused.retry_after <= Duration::from_secs(12));
    assert_eq!(refused.reset, refused.retry_after);
}

#[tokio::test]
async fn the_quota_refills_evenly_over_the_window() {
    let (redis_limiter, _redis) = limiter().await;
    let policy = policy(2, 400);
    for _ in 0..2 {
        assert!(
            redis_limiter
                .check(&policy, &client())
                .await
                .unwrap()
                .allowed
        );
    }
    assert!(
        !redis_limiter
            .check(&policy, &client())
            .await
            .unwrap()
            .allowed
    );
    // One request back every 200 ms.
    tokio::time::sleep(Duration::from_millis(220)).await;
    let back = redis_limiter.check(&policy, &client()).await.unwrap();
    assert!(back.allowed);
    assert_eq!(back.remaining, 0);
    assert!(
        !redis_limiter
            .check(&policy, &client())
            .await
            .unwrap()
            .allowed
    );
}

#[tokio::test]
async fn concurrent_checks_never_allow_more_than_the_quota() {
    let (redis_limiter, _redis) = limiter().await;
    let redis_limiter = Arc::new(redis_limiter);
    let policy = Arc::new(policy(10, 60_000));
    let checks: Vec<_> = (0..50)
        .map(|_| {
            let (limiter, policy) = (redis_limiter.clone(), policy.clone());
            tokio::spawn(async move { limiter.check(&policy, &client()).await.unwrap() })
        })
        .collect();
    let mut allowed = 0;
    for check in checks {
        allowed += u32::from(check.await.unwrap().allowed);
    }
    assert_eq!(allowed, 10);
}

#[tokio::test]
async fn each_key_is_prefixed_and_expires_when_its_quota_is_whole_again() {
    let (redis_limiter, redis) = limiter().await;
    let policy = policy(4, 2_000);
    let other = ClientKey::Ip("192.0.2.8".parse().unwrap());
    redis_limiter.check(&policy, &client()).await.unwrap();
    redis_limiter.check(&policy, &client()).await.unwrap();
    let mut conn = redis.connection().await.unwrap();
    let key = redis.key("rl:test:ip:192.0.2.7");
    assert_eq!(redis_limiter.key(&policy, &client()), key);
    let ttl_ms: i64 = conn.pttl(&key).await.unwrap();
    // Two requests of 500 ms each: whole again within a second.
    assert!((1..=1_000).contains(&ttl_ms), "PTTL {ttl_ms}");
    // Another client has its own quota.
    assert_eq!(
        redis_limiter
            .check(&policy, &other)
            .await
            .unwrap()
            .remaining,
        3
    );
}

/// Step 3 with the default quota set to `requests` per minute.
fn limited(requests: u32) -> impl FnOnce(&mut step03_caching::Config) + Send + 'static {
    move |config| {
        config.base.apis.rate_limit.default = QuotaConfig {
            requests,
            window_secs: 60,
        };
    }
}

async fn status_and_remaining(app: &App) -> (u16, Option<String>, Option<String>) {
    let response = app.get("/api/v1/products", None).await;
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    (
        response.status().as_u16(),
        header("ratelimit-remaining"),
        header("retry-after"),
    )
}

#[tokio::test]
async fn two_instances_sharing_redis_share_one_limit() {
    let a = App::spawn_with(limited(6)).await;
    let b = a.beside().spawn().await;

    // Six requests alternating between the instances spend one quota of six.
    for n in 0..6u32 {
        let app = if n % 2 == 0 { &a } else { &b };
        let (status, remaining, _) = status_and_remaining(app).await;
        assert_eq!(status, 200, "request {n}");
        assert_eq!(remaining, Some((5 - n).to_string()), "request {n}");
    }
    for app in [&a, &b] {
        let (status, remaining, retry_after) = status_and_remaining(app).await;
        assert_eq!(status, 429);
        assert_eq!(remaining.as_deref(), Some("0"));
        let retry_after: u64 = retry_after.expect("Retry-After").parse().unwrap();
        assert!((1..=10).contains(&retry_after), "Retry-After {retry_after}");
    }
}
