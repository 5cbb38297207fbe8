//! The benchmark's catalog: `step03-caching seed --products N` inserts N generated products
//! (SKUs `BENCH-000001`...), idempotently, through the same store as the API, so a run of the
//! benchmark reads documents exactly like the ones the API writes.

use common::config::MongoConfig;
use common::domain::{Currency, Money, NewProduct, Sku};
use common::store::mongo as base_mongo;
use futures::{StreamExt, TryStreamExt};

/// How many inserts are in flight at once: enough to hide round trips, few enough for a
/// 2-core machine that also runs the database.
const CONCURRENCY: usize = 16;

const CATEGORIES: [&str; 8] = [
    "books", "garden", "kitchen", "music", "outdoor", "tools", "toys", "video",
];

/// Product `n` of the benchmark catalog.
pub fn product(n: u32) -> anyhow::Result<NewProduct> {
    let currency = Currency::parse("EUR").map_err(anyhow::Error::msg)?;
    Ok(NewProduct {
        sku: Sku::parse(&format!("BENCH-{n:06}")).map_err(anyhow::Error::msg)?,
        name: format!("Benchmark product {n}"),
        description: format!("Generated product number {n} for the step 3 benchmark."),
        price: Money::price(i64::from(100 + (n * 37) % 50_000), currency)
            .map_err(anyhow::Error::msg)?,
        stock: i64::from(n % 100),
        category: CATEGORIES[n as usize % CATEGORIES.len()].to_owned(),
        tags: vec!["bench".to_owned(), format!("group-{}", n % 10)],
    })
}

/// Inserts products 1..=count that do not exist yet; returns how many were inserted.
pub async fn seed_products(config: &MongoConfig, count: u32) -> anyhow::Result<usize> {
    let db = base_mongo::connect(config).await?;
    base_mongo::ensure_indexes(&db).await?;
    step02_apis::listing::ensure_indexes(&db).await?;
    let store = common::store::Stores::mongo(&base_mongo::Mongo::plain(db.clone())).products;
    let inserted: Vec<bool> = futures::stream::iter(1..=count)
        .map(|n| {
            let store = store.clone();
            async move { anyhow::Ok(store.insert_if_absent(product(n)?).await?) }
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await?;
    Ok(inserted.into_iter().filter(|i| *i).count())
}
