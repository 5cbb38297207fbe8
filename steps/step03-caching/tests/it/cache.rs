//! The Redis tier seen from outside: a second read is a hit; a write is seen at once by the
//! writer and, within the near cache's staleness bound, by a second instance sharing the Redis
//! (detail, listings of every API, reviews, stock after an order); a hot key that expires under
//! concurrent load is rebuilt by one store read. The tests of the Redis tier alone switch the
//! near cache off (it would answer their second reads itself); `near_cache.rs` tests it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use common::domain::{NewProduct, Page, Paged, Product, ProductId, Rating};
use common::store::{ProductStore, StockMove, StoreResult};
use reqwest::Method;
use serde_json::{Value, json};
use testkit::expect_status;

use crate::support::{App, Cached as _};

/// `PUT /api/v1/products/{id}` with `product`'s fields, `changes` applied.
async fn update_product(app: &App, token: &str, product: &Value, changes: Value) -> Value {
    let mut body = json!({
        "sku": product["sku"], "name": product["name"], "description": product["description"],
        "price_minor": product["price_minor"], "currency": product["currency"],
        "stock": product["stock"], "category": product["category"], "tags": product["tags"],
    });
    for (key, value) in changes.as_object().expect("an object") {
        body[key] = value.clone();
    }
    let id = product["id"].as_str().expect("an id");
    expect_status(
        app.request(
            Method::PUT,
            &format!("/api/v1/products/{id}"),
            Some(token),
            Some(body),
        )
        .await,
        200,
    )
    .await
}

/// The near cache off: every cached read asks Redis, whose behaviour these tests watch.
fn redis_tier_only(config: &mut step03_caching::Config) {
    config.cache.near.enabled = false;
}

/// The near cache's default staleness bound (`cache.near.max_staleness_ms`).
const BOUND: std::time::Duration = std::time::Duration::from_millis(250);

fn names(listing: &Value) -> Vec<String> {
    listing["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| p["name"].as_str().expect("a name").to_owned())
        .collect()
}

#[tokio::test]
async fn reading_a_product_twice_is_a_miss_then_a_hit_served_from_redis() {
    let app = App::spawn_with(redis_tier_only).await;
    let (_, admin) = app.admin().await;
    let product = app
        .create_product(&admin, json!({ "name": "Cached" }))
        .await;
    let path = format!("/api/v1/products/{}", product["id"].as_str().unwrap());

    let before = app.counters();
    let first = app.get_ok(&path).await;
    let after_first = app.counters();
    let second = app.get_ok(&path).await;
    let after_second = app.counters();

    assert_eq!(first, second, "the cached answer is the same answer");
    assert_eq!(after_first.misses, before.misses + 1, "{after_first:?}");
    assert_eq!(after_first.hits, before.hits, "{after_first:?}");
    assert_eq!(after_second.hits, after_first.hits + 1, "{after_second:?}");
    assert_eq!(after_second.misses, after_first.misses, "{after_second:?}");
    let keys = app.redis().keys().await.unwrap();
    assert!(
        keys.iter()
            .any(|k| k.contains(&format!("v1:product:{}:g", product["id"].as_str().unwrap()))),
        "the entry lives in Redis under the test's prefix, format and generation: {keys:?}"
    );
    // The counters are readable over HTTP too.
    let http = app.get_ok("/internal/cache").await;
    assert_eq!(http["cache"]["enabled"], true);
    assert_eq!(http["redis"]["status"], "ok");
    assert!(http["cache"]["hits"].as_u64().unwrap() >= after_second.hits);
}

#[tokio::test]
async fn listing_pages_are_cached_per_query_so_different_filters_never_share_an_entry() {
    let app = App::spawn_with(redis_tier_only).await;
    let (_, admin) = app.admin().await;
    app.create_product(
        &admin,
        json!({ "name": "Cheap", "price_minor": 100, "category": "a" }),
    )
    .await;
    app.create_product(
        &admin,
        json!({ "name": "Dear", "price_minor": 9000, "category": "b" }),
    )
    .await;

    let a = app.get_ok("/api/v2/products?category=a").await;
    let b = app.get_ok("/api/v2/products?category=b").await;
    let before = app.counters();
    let a_again = app.get_ok("/api/v2/products?category=a").await;
    let b_again = app.get_ok("/api/v2/products?category=b").await;
    let after = app.counters();

    assert_eq!(names(&a), ["Cheap"]);
    assert_eq!(names(&b), ["Dear"]);
    assert_eq!((a, b), (a_again, b_again));
    assert_eq!(after.hits, before.hits + 2, "{after:?}");
    // Sorted the other way is another answer, so another entry.
    let sorted = app.get_ok("/api/v2/products?sort=-price").await;
    assert_eq!(names(&sorted), ["Dear", "Cheap"]);
    let sorted = app.get_ok("/api/v2/products?sort=price").await;
    assert_eq!(names(&sorted), ["Cheap", "Dear"]);
}

#[tokio::test]
async fn a_write_on_one_instance_is_seen_by_another_instance_sharing_redis_within_the_bound() {
    let first = App::spawn().await;
    let second = first.beside().spawn().await;
    let (_, admin) = first.admin().await;
    let product = first
        .create_product(&admin, json!({ "name": "Before", "price_minor": 500 }))
        .await;
    let id = product["id"].as_str().unwrap();
    let detail = format!("/api/v1/products/{id}");

    // The second instance fills and then hits its cache entries.
    for _ in 0..2 {
        assert_eq!(second.get_ok(&detail).await["name"], "Before");
        assert_eq!(names(&second.get_ok("/api/v2/products").await), ["Before"]);
    }
    let served = second.counters().hits + second.counters().near_hits;
    assert!(served >= 2, "{:?}", second.counters());

    update_product(
        &first,
        &admin,
        &product,
        json!({ "name": "After", "price_minor": 700 }),
    )
    .await;

    tokio::time::sleep(BOUND).await;
    let seen = second.get_ok(&detail).await;
    assert_eq!(seen["name"], "After", "the second instance sees the write");
    assert_eq!(seen["price_minor"], 700);
    assert_eq!(names(&second.get_ok("/api/v2/products").await), ["After"]);
    assert_eq!(
        second.get_ok("/api/v2/products").await["items"][0]["price"]["amount"],
        700
    );

    // A delete on the second instance is seen by the first.
    expect_status(
        second
            .request(Method::DELETE, &detail, Some(&admin), None)
            .await,
        204,
    )
    .await;
    tokio::time::sleep(BOUND).await;
    testkit::expect_error(first.get(&detail, None).await, 404, "NOT_FOUND").await;
    assert!(names(&first.get_ok("/api/v2/products").await).is_empty());
}

#[tokio::test]
async fn the_writer_reads_its_own_writes_in_detail_listings_graphql_and_reviews() {
    let app = App::spawn().await;
    let (_, admin) = app.admin().await;
    let product = app
        .create_product(&admin, json!({ "name": "Lamp", "stock": 10 }))
        .await;
    let id = product["id"].as_str().unwrap().to_owned();
    let graphql = json!({ "query": "{ products(first: 10) { edges { node { name stock } } } }" });
    let reviews = format!("/api/v1/products/{id}/reviews");
    // Fill every entry, twice: the second round is served from the cache.
    for _ in 0..2 {
        app.get_ok(&format!("/api/v1/products/{id}")).await;
        app.get_ok("/api/v1/products").await;
        app.get_ok("/api/v2/products").await;
        expect_status(app.post("/graphql", None, graphql.clone()).await, 200).await;
        app.get_ok(&reviews).await;
    }

    // A rename: detail, v1 and v2 listings, GraphQL.
    let product = update_product(&app, &admin, &product, json!({ "name": "Desk lamp" })).await;
    assert_eq!(app.product(&id).await["name"], "Desk lamp");
    assert_eq!(names(&app.get_ok("/api/v1/products").await), ["Desk lamp"]);
    assert_eq!(names(&app.get_ok("/api/v2/products").await), ["Desk lamp"]);
    let answer = expect_status(app.post("/graphql", None, graphql.clone()).await, 200).await;
    assert_eq!(
        answer["data"]["products"]["edges"][0]["node"]["name"],
        "Desk lamp"
    );

    // A review: the review list and the product's rating.
    let (_, customer) = app.customer().await;
    expect_status(
        app.post(
            &reviews,
            Some(&customer),
            json!({ "rating": 4, "comment": "Bright" }),
        )
        .await,
        201,
    )
    .await;
    let listed = app.get_ok(&reviews).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");
    let detail = app.product(&id).await;
    assert_eq!(detail["rating_count"], 1, "{detail}");
    assert_eq!(
        app.get_ok("/api/v2/products").await["items"][0]["rating"]["count"],
        1
    );

    // An order takes stock: the detail and the listing show what is left.
    expect_status(
        app.place_order(&customer, json!([{ "product_id": id, "quantity": 3 }]))
            .await,
        201,
    )
    .await;
    assert_eq!(app.product(&id).await["stock"], 7);
    assert_eq!(app.get_ok("/api/v2/products").await["items"][0]["stock"], 7);
    let answer = expect_status(app.post("/graphql", None, graphql).await, 200).await;
    assert_eq!(answer["data"]["products"]["edges"][0]["node"]["stock"], 7);
    let _ = product;
}

#[tokio::test]
async fn a_new_product_appears_in_cached_listings_at_once() {
    let app = App::spawn().await;
    let (_, admin) = app.admin().await;
    app.create_product(&admin, json!({ "name": "First" })).await;
    for _ in 0..2 {
        assert_eq!(names(&app.get_ok("/api/v2/products").await), ["First"]);
    }
    app.create_product(&admin, json!({ "name": "Second" }))
        .await;
    assert_eq!(
        names(&app.get_ok("/api/v2/products").await),
        ["First", "Second"]
    );
}

/// The real MongoDB product store, counting the reads that reach it.
struct CountingProducts {
    inner: Arc<dyn ProductStore>,
    gets: Arc<AtomicU64>,
}

#[async_trait]
impl ProductStore for CountingProducts {
    async fn list(&self, page: Page) -> StoreResult<Paged<Product>> {
        self.inner.list(page).await
    }
    async fn get(&self, id: ProductId) -> StoreResult<Option<Product>> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        // As slow as a loaded database, so the concurrent requests really overlap.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        self.inner.get(id).await
    }
    async fn get_many(&self, ids: &[ProductId]) -> StoreResult<Vec<Product>> {
        self.inner.get_many(ids).await
    }
    async fn insert(&self, product: NewProduct) -> StoreResult<Product> {
        self.inner.insert(product).await
    }
    async fn insert_if_absent(&self, product: NewProduct) -> StoreResult<bool> {
        self.inner.insert_if_absent(product).await
    }
    async fn update(&self, id: ProductId, product: NewProduct) -> StoreResult<Option<Product>> {
        self.inner.update(id, product).await
    }
    async fn delete(&self, id: ProductId) -> StoreResult<bool> {
        self.inner.delete(id).await
    }
    async fn take_stock(&self, id: ProductId, quantity: u32) -> StoreResult<bool> {
        self.inner.take_stock(id, quantity).await
    }
    async fn return_stock(&self, id: ProductId, quantity: u32) -> StoreResult<()> {
        self.inner.return_stock(id, quantity).await
    }
    async fn move_stock(&self, id: ProductId, delta: i64, op: &str) -> StoreResult<StockMove> {
        self.inner.move_stock(id, delta, op).await
    }
    async fn forget_stock_move(&self, id: ProductId, op: &str) -> StoreResult<()> {
        self.inner.forget_stock_move(id, op).await
    }
    async fn adjust_rating(&self, id: ProductId, rating: Rating, sign: i64) -> StoreResult<bool> {
        self.inner.adjust_rating(id, rating, sign).await
    }
}

/// Makes the product store count its `get`s into `gets` (below the cache: what reaches
/// MongoDB).
fn counting(
    gets: Arc<AtomicU64>,
) -> impl FnOnce(&mut step03_caching::Parts) -> anyhow::Result<()> + Send + 'static {
    move |parts| {
        parts.stores.products = Arc::new(CountingProducts {
            inner: parts.stores.products.clone(),
            gets,
        });
        Ok(())
    }
}

async fn concurrent_gets(app: &App, path: &str, n: usize) {
    let requests = (0..n).map(|_| async { app.get_ok(path).await });
    let answers = futures::future::join_all(requests).await;
    assert!(answers.windows(2).all(|w| w[0] == w[1]));
}

#[tokio::test]
async fn when_a_hot_key_expires_twenty_concurrent_readers_on_two_instances_cause_one_store_read() {
    let (gets_a, gets_b) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    // Fresh for 1 s, no stale period: after a second the entry is gone from Redis.
    let short = |config: &mut step03_caching::Config| {
        redis_tier_only(config);
        config.cache.ttl_secs = 1;
        config.cache.jitter_percent = 0;
        config.cache.stale_secs = 0;
    };
    let a = App::builder()
        .config(short)
        .parts(counting(gets_a.clone()))
        .spawn()
        .await;
    let b = a.beside().parts(counting(gets_b.clone())).spawn().await;
    let (_, admin) = a.admin().await;
    let product = a.create_product(&admin, json!({ "name": "Hot" })).await;
    let path = format!("/api/v1/products/{}", product["id"].as_str().unwrap());
    a.get_ok(&path).await;
    let filled = gets_a.load(Ordering::SeqCst) + gets_b.load(Ordering::SeqCst);
    assert_eq!(filled, 1, "one read filled the entry");

    tokio::time::sleep(std::time::Duration::from_millis(1_300)).await;
    let keys = a.redis().keys().await.unwrap();
    assert!(
        !keys.iter().any(|k| k.contains("v1:product:")),
        "the entry expired: {keys:?}"
    );
    let served = |app: &App| app.counters().waits + app.counters().hits;
    let (before_a, before_b) = (served(&a), served(&b));
    tokio::join!(
        concurrent_gets(&a, &path, 10),
        concurrent_gets(&b, &path, 10)
    );

    let reads = gets_a.load(Ordering::SeqCst) + gets_b.load(Ordering::SeqCst) - filled;
    assert_eq!(reads, 1, "one rebuild for twenty concurrent readers");
    let others = served(&a) - before_a + served(&b) - before_b;
    assert_eq!(
        others, 19,
        "the other nineteen waited for it (or came after it)"
    );
}

#[tokio::test]
async fn a_stale_hot_key_is_rebuilt_once_while_the_other_readers_get_the_previous_value() {
    let gets = Arc::new(AtomicU64::new(0));
    let app = App::builder()
        .config(|config| {
            redis_tier_only(config);
            config.cache.ttl_secs = 1;
            config.cache.jitter_percent = 0;
            config.cache.stale_secs = 60;
        })
        .parts(counting(gets.clone()))
        .spawn()
        .await;
    let (_, admin) = app.admin().await;
    let product = app.create_product(&admin, json!({ "name": "Hot" })).await;
    let path = format!("/api/v1/products/{}", product["id"].as_str().unwrap());
    app.get_ok(&path).await;
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    let before = app.counters();

    concurrent_gets(&app, &path, 20).await;

    let after = app.counters();
    assert_eq!(gets.load(Ordering::SeqCst), 2, "the fill and one rebuild");
    assert_eq!(after.rebuilds - before.rebuilds, 1, "{after:?}");
    let others = after.stale_hits - before.stale_hits + after.hits - before.hits;
    assert_eq!(
        others, 19,
        "the others got the previous value (or the new one): {after:?}"
    );
    assert!(after.stale_hits > before.stale_hits, "{after:?}");
}

#[tokio::test]
async fn with_the_cache_disabled_every_read_goes_to_mongodb_and_redis_holds_nothing() {
    let app = App::spawn_with(|config| config.cache.enabled = false).await;
    let (_, admin) = app.admin().await;
    let product = app.create_product(&admin, json!({})).await;
    let path = format!("/api/v1/products/{}", product["id"].as_str().unwrap());
    app.get_ok(&path).await;
    app.get_ok(&path).await;
    let counters = app.counters();
    assert!(!counters.enabled);
    assert_eq!((counters.hits, counters.misses), (0, 0));
    // Rate limits and revoked sessions still live in Redis; no cache entry does.
    let cache_keys = format!("{}v1:", app.redis().prefix);
    let keys = app.redis().keys().await.unwrap();
    assert!(
        keys.iter().all(|key| !key.starts_with(&cache_keys)),
        "{keys:?}"
    );
}
