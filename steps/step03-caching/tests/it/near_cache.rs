//! The near cache seen from outside: a second read is served from the process with its ETag,
//! `If-None-Match` gets 304, its bounds hold, another instance's writes are seen within the
//! staleness bound under load, and with Redis hung or stopped it stops serving within that
//! bound, reads come from MongoDB, and it serves again once Redis is back.

use std::time::{Duration, Instant};

use reqwest::Method;
use reqwest::header::{ETAG, IF_NONE_MATCH};
use serde_json::{Value, json};
use testkit::expect_status;
use testkit::services::redis::{RestartableRedis, TestRedis};

use crate::support::{App, Cached as _, until_counted};

/// The default staleness bound (`cache.near.max_staleness_ms`).
const BOUND: Duration = Duration::from_millis(250);

/// A product's full body for `PUT`, with `name` and `price_minor` set.
fn product_body(product: &Value, name: &str, price_minor: i64) -> Value {
    json!({
        "sku": product["sku"], "name": name, "description": product["description"],
        "price_minor": price_minor, "currency": product["currency"],
        "stock": product["stock"], "category": product["category"], "tags": product["tags"],
    })
}

async fn put_product(app: &App, admin: &str, product: &Value, name: &str, price_minor: i64) {
    let path = format!("/api/v1/products/{}", product["id"].as_str().unwrap());
    let body = product_body(product, name, price_minor);
    expect_status(
        app.request(Method::PUT, &path, Some(admin), Some(body))
            .await,
        200,
    )
    .await;
}

/// Polls until `app`'s near cache serves `path` (it starts serving at its first heartbeat).
async fn until_served_near(app: &App, path: &str) {
    until_counted(app, path, |counters| counters.near_hits).await;
}

#[tokio::test]
async fn a_second_read_is_served_from_the_process_with_the_same_bytes_and_etag() {
    let app = App::spawn().await;
    let (_, admin) = app.admin().await;
    let product = app.create_product(&admin, json!({ "name": "Near" })).await;
    for path in [
        format!("/api/v1/products/{}", product["id"].as_str().unwrap()),
        format!("/api/v2/products/{}", product["id"].as_str().unwrap()),
        "/api/v1/products?page=1&limit=5".to_owned(),
        "/api/v2/products?limit=8".to_owned(),
    ] {
        until_served_near(&app, &path).await;
        let before = app.counters();
        let first = app.get(&path, None).await;
        let second = app.get(&path, None).await;
        let after = app.counters();
        assert_eq!(after.near_hits, before.near_hits + 2, "{path}: {after:?}");
        assert_eq!(after.hits, before.hits, "Redis was not asked: {after:?}");
        assert_eq!(after.misses, before.misses, "{after:?}");
        let etag = first.headers()[ETAG].clone();
        assert_eq!(second.headers()[ETAG], etag, "{path}");
        assert!(
            etag.to_str().unwrap().starts_with('"'),
            "a strong ETag: {etag:?}"
        );
        // The outer layers still run on a near hit.
        assert!(second.headers().contains_key("x-request-id"), "{path}");
        assert_eq!(
            first.headers()["content-type"],
            second.headers()["content-type"]
        );
        assert_eq!(first.bytes().await.unwrap(), second.bytes().await.unwrap());
    }
    let status = app.get_ok("/internal/cache").await;
    assert_eq!(status["near"]["status"], "serving", "{status}");
    assert!(status["near"]["entries"].as_u64().unwrap() >= 4, "{status}");
}

#[tokio::test]
async fn if_none_match_gets_304_without_a_body_until_a_write_changes_the_etag() {
    let app = App::spawn().await;
    let (_, admin) = app.admin().await;
    let product = app
        .create_product(&admin, json!({ "name": "Tagged", "price_minor": 100 }))
        .await;
    let detail = format!("/api/v2/products/{}", product["id"].as_str().unwrap());
    let listing = "/api/v1/products".to_owned();
    let conditional = |path: String, tag: String| {
        let app = &app;
        async move {
            app.http
                .get(app.url(&path))
                .header(IF_NONE_MATCH, tag)
                .send()
                .await
                .unwrap()
        }
    };
    let mut tags = Vec::new();
    for path in [&detail, &listing] {
        let first = app.get(path, None).await;
        assert_eq!(first.status(), 200);
        let etag = first.headers()[ETAG].to_str().unwrap().to_owned();
        // Exact, weak, in a list, and `*`: each matches (weak comparison, RFC 9110 13.1.2).
        for tag in [
            etag.clone(),
            format!("W/{etag}"),
            format!("\"other\", {etag}"),
            "*".to_owned(),
        ] {
            let answer = conditional(path.clone(), tag.clone()).await;
            assert_eq!(answer.status(), 304, "{path} with If-None-Match: {tag}");
            assert_eq!(answer.headers()[ETAG], etag.as_str());
            assert!(answer.bytes().await.unwrap().is_empty());
        }
        // Another tag, or one that does not parse, is not a match: the full answer.
        for tag in ["\"other\"", "not a tag"] {
            let answer = conditional(path.clone(), tag.to_owned()).await;
            assert_eq!(answer.status(), 200, "{path} with If-None-Match: {tag}");
            assert_eq!(answer.headers()[ETAG], etag.as_str());
        }
        tags.push(etag);
    }

    put_product(&app, &admin, &product, "Tagged", 200).await;

    for (path, old) in [&detail, &listing].into_iter().zip(&tags) {
        let answer = conditional(path.clone(), old.clone()).await;
        assert_eq!(answer.status(), 200, "{path}: the write changed the answer");
        assert_ne!(answer.headers()[ETAG], old.as_str());
        assert!(answer.text().await.unwrap().contains("200"));
    }
}

#[tokio::test]
async fn the_near_cache_keeps_within_its_bounds_on_entries_and_bytes_and_counts_evictions() {
    let app = App::spawn_with(|config| {
        config.cache.near.max_entries = 5;
        config.cache.near.max_bytes = 64 * 1024;
    })
    .await;
    let (_, admin) = app.admin().await;
    app.create_product(&admin, json!({ "name": "Only" })).await;
    until_served_near(&app, "/api/v2/products?limit=1").await;
    for limit in 2..=20 {
        let path = format!("/api/v2/products?limit={limit}");
        app.get_ok(&path).await;
        app.get_ok(&path).await;
    }
    let status = app.get_ok("/internal/cache").await;
    let entries = status["near"]["entries"].as_u64().unwrap();
    assert!((1..=5).contains(&entries), "{status}");
    assert!(app.counters().near_evictions > 0, "{:?}", app.counters());

    // Bytes: a bound of 8 KiB holds a few small answers, never more than 8 KiB of them.
    let small = App::spawn_with(|config| config.cache.near.max_bytes = 8192).await;
    let (_, admin) = small.admin().await;
    small
        .create_product(&admin, json!({ "name": "Small" }))
        .await;
    until_served_near(&small, "/api/v2/products?limit=1").await;
    for limit in 2..=30 {
        small
            .get_ok(&format!("/api/v2/products?limit={limit}"))
            .await;
    }
    let status = small.get_ok("/internal/cache").await;
    let bytes = status["near"]["bytes"].as_u64().unwrap();
    assert!((1..=8192).contains(&bytes), "{status}");
    assert!(
        small.counters().near_evictions > 0,
        "{:?}",
        small.counters()
    );
}

/// One read on the second instance: when it started, and the price it saw.
struct Read {
    started: Instant,
    price: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_load_another_instance_sees_every_write_within_the_staleness_bound() {
    // No rate limit: the readers send far more than a client's quota.
    let writer = App::spawn_with(|config| config.apis.rate_limit.enabled = false).await;
    let reader = writer.beside().spawn().await;
    let (_, admin) = writer.admin().await;
    let product = writer
        .create_product(&admin, json!({ "name": "Moving", "price_minor": 1000 }))
        .await;
    let detail = format!("/api/v1/products/{}", product["id"].as_str().unwrap());
    until_served_near(&reader, &detail).await;
    let near_before = reader.counters().near_hits;

    // Writes on one instance, each acknowledged at a known instant, while four clients read
    // the other as fast as they can.
    let done = std::sync::atomic::AtomicBool::new(false);
    let writes = async {
        let mut acked = Vec::new();
        for step in 1..=30 {
            let price = 1000 + step;
            put_product(&writer, &admin, &product, "Moving", price).await;
            acked.push((Instant::now(), price));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        acked
    };
    let read_loop = || async {
        let mut reads = Vec::new();
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            let started = Instant::now();
            let body = reader.get_ok(&detail).await;
            reads.push(Read {
                started,
                price: body["price_minor"].as_i64().unwrap(),
            });
        }
        reads
    };
    let (acked, a, b, c, d) =
        tokio::join!(writes, read_loop(), read_loop(), read_loop(), read_loop());
    let reads: Vec<Read> = [a, b, c, d].into_iter().flatten().collect();

    // A read is stale if a newer price had been acknowledged before it started; its
    // staleness is how long before.
    let mut stale = 0;
    let mut worst = Duration::ZERO;
    for read in &reads {
        if let Some((acked_at, _)) = acked
            .iter()
            .find(|(at, price)| *price > read.price && *at < read.started)
        {
            stale += 1;
            worst = worst.max(read.started - *acked_at);
        }
    }
    let near_hits = reader.counters().near_hits - near_before;
    println!(
        "{} reads on the second instance during 30 writes on the first ({near_hits} from the \
         near cache): {stale} saw an older price, the oldest {worst:?} after the newer one \
         was acknowledged (bound {BOUND:?})",
        reads.len()
    );
    assert!(near_hits > 0, "the near cache served during the run");
    assert!(
        worst < BOUND,
        "a read {worst:?} after a write still saw the older value"
    );
    // And once the writes are over, the second instance has the last one.
    tokio::time::sleep(BOUND).await;
    assert_eq!(reader.get_ok(&detail).await["price_minor"], 1030);
}

/// An app on `redis`, with Redis timeouts short enough for a test.
async fn spawn_on(redis: &RestartableRedis) -> App {
    App::builder()
        .redis(TestRedis::create_on(&redis.url()).unwrap())
        .config(|config| {
            config.redis.response_timeout_ms = 200;
            config.redis.retry_after_ms = 200;
        })
        .spawn()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_hung_the_near_cache_stops_serving_within_the_bound_so_no_write_is_missed() {
    let redis = RestartableRedis::start().expect("a local redis-server starts");
    let reader = spawn_on(&redis).await;
    let writer = reader.beside().spawn().await;
    let (_, admin) = reader.admin().await;
    let product = reader
        .create_product(&admin, json!({ "name": "Before", "price_minor": 1 }))
        .await;
    let detail = format!("/api/v1/products/{}", product["id"].as_str().unwrap());
    until_served_near(&reader, &detail).await;
    // The writer checks the admin's token once while Redis answers, so within the outage
    // grace it still accepts it (an unchecked token would be 503 with Redis away).
    expect_status(writer.get("/api/v1/auth/me", Some(&admin)).await, 200).await;

    // Redis hangs: the writer's INCR cannot reach it, so no invalidation reaches the reader.
    redis.pause().unwrap();
    put_product(&writer, &admin, &product, "After", 2).await;
    tokio::time::sleep(BOUND).await;
    let near_before = reader.counters().near_hits;
    assert_eq!(
        reader.get_ok(&detail).await["name"],
        "After",
        "past the bound, the reader reads around its near cache (and Redis) from MongoDB"
    );
    assert_eq!(reader.counters().near_hits, near_before);
    let status = reader.get_ok("/internal/cache").await;
    assert_eq!(status["near"]["status"], "suspended", "{status}");
    assert_eq!(
        status["near"]["entries"], 0,
        "everything was dropped: {status}"
    );

    redis.resume().unwrap();
    until_served_near(&reader, &detail).await;
    assert_eq!(reader.get_ok(&detail).await["name"], "After");
    assert!(
        reader.counters().near_flushes >= 2,
        "{:?}",
        reader.counters()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_stopped_reads_come_from_mongodb_and_the_near_cache_serves_again_when_it_returns()
 {
    let mut redis = RestartableRedis::start().expect("a local redis-server starts");
    let reader = spawn_on(&redis).await;
    let (_, admin) = reader.admin().await;
    let product = reader
        .create_product(&admin, json!({ "name": "Kettle", "price_minor": 5 }))
        .await;
    let detail = format!("/api/v2/products/{}", product["id"].as_str().unwrap());
    until_served_near(&reader, &detail).await;

    redis.stop();
    tokio::time::sleep(BOUND).await;
    let before = reader.counters();
    for _ in 0..3 {
        assert_eq!(reader.get_ok(&detail).await["name"], "Kettle");
    }
    let after = reader.counters();
    assert_eq!(after.near_hits, before.near_hits, "{after:?}");
    assert!(
        after.errors > before.errors,
        "reads went around Redis: {after:?}"
    );
    // The writer's own write while everything is down is read back at once.
    put_product(&reader, &admin, &product, "Kettle 2", 6).await;
    assert_eq!(reader.get_ok(&detail).await["name"], "Kettle 2");

    redis.restart().expect("redis-server restarts on its port");
    until_served_near(&reader, &detail).await;
    assert_eq!(reader.get_ok(&detail).await["name"], "Kettle 2");
}
