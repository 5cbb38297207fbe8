//! The large catalog for load runs: `step04-optimize seed --large` inserts 100,000 products
//! (SKUs `LOAD-000001`...), 10,000 users (`load-user-N@stepwise.test`, one shared argon2id hash
//! computed once: hashing 10,000 passwords would take minutes and prove nothing) and three
//! reviews per product, with each product's rating sum and count matching its reviews. Bulk
//! `insert_many` in batches, idempotent: each batch first asks which of its SKUs or emails exist
//! and inserts only the others, so a re-run (or a run after an interrupted one) adds what is
//! missing and duplicates nothing. A product's reviews go in right after it, by the same batch;
//! a production seeder would also resume reviews of products whose batch was cut in between.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::Context;
use common::auth::PasswordScheme;
use common::config::MongoConfig;
use common::store::mongo as base_mongo;
use futures::TryStreamExt;
use mongodb::Database;
use mongodb::bson::{DateTime, Document, doc, oid::ObjectId};

pub const PRODUCTS: u32 = 100_000;
pub const USERS: u32 = 10_000;
pub const REVIEWS_PER_PRODUCT: u32 = 3;
const BATCH: u32 = 1_000;
/// The load users' password, documented so a learner can sign in as one.
pub const PASSWORD: &str = "load-test-password-1";

const CATEGORIES: [&str; 8] = [
    "books", "garden", "kitchen", "music", "outdoor", "tools", "toys", "video",
];

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Seeded {
    pub products: u64,
    pub users: u64,
    pub reviews: u64,
}

pub fn sku(n: u32) -> String {
    format!("LOAD-{n:06}")
}

pub fn email(n: u32) -> String {
    format!("load-user-{n}@stepwise.test")
}

/// The user who writes review `k` of product `n`: spread so no pair repeats.
fn reviewer(n: u32, k: u32, users: u32) -> u32 {
    (n.wrapping_mul(7) + k * (users / REVIEWS_PER_PRODUCT).max(1)) % users + 1
}

fn rating(n: u32, k: u32) -> i64 {
    i64::from((n + k * 2) % 5 + 1)
}

async fn existing(
    db: &Database,
    collection: &str,
    field: &str,
    values: &[String],
) -> anyhow::Result<HashSet<String>> {
    let found: Vec<Document> = db
        .collection::<Document>(collection)
        .find(doc! { field: { "$in": values } })
        .projection(doc! { field: 1 })
        .await?
        .try_collect()
        .await?;
    Ok(found
        .iter()
        .filter_map(|d| d.get_str(field).ok().map(str::to_owned))
        .collect())
}

/// Ids of the load users, by number, for the reviews.
async fn user_ids(db: &Database, users: u32) -> anyhow::Result<Vec<(String, ObjectId)>> {
    let found: Vec<Document> = db
        .collection::<Document>("users")
        .find(doc! { "email": { "$regex": "^load-user-" } })
        .projection(doc! { "email": 1 })
        .await?
        .try_collect()
        .await?;
    let mut ids = vec![(String::new(), ObjectId::new()); users as usize + 1];
    for d in found {
        let (Ok(email), Ok(id)) = (d.get_str("email"), d.get_object_id("_id")) else {
            continue;
        };
        if let Some(n) = email
            .strip_prefix("load-user-")
            .and_then(|rest| rest.strip_suffix("@stepwise.test"))
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n <= users as usize)
        {
            ids[n] = (email.to_owned(), id);
        }
    }
    Ok(ids)
}

/// Seeds `products` products, `users` users and their reviews; returns what was inserted and
/// prints progress to stderr.
pub async fn seed_large(
    config: &MongoConfig,
    passwords: &dyn PasswordScheme,
    products: u32,
    users: u32,
) -> anyhow::Result<(Seeded, Duration)> {
    let started = Instant::now();
    let db = base_mongo::connect(config).await?;
    base_mongo::ensure_indexes(&db).await?;
    step02_apis::listing::ensure_indexes(&db).await?;
    let mut seeded = Seeded::default();
    let hash = passwords
        .hash(PASSWORD.to_owned())
        .await
        .context("hashing the load users' password")?;
    let now = DateTime::now();
    for first in (1..=users).step_by(BATCH as usize) {
        let numbers: Vec<u32> = (first..=(first + BATCH - 1).min(users)).collect();
        let emails: Vec<String> = numbers.iter().map(|&n| email(n)).collect();
        let have = existing(&db, "users", "email", &emails).await?;
        let docs: Vec<Document> = emails
            .iter()
            .zip(&numbers)
            .filter(|(e, _)| !have.contains(*e))
            .map(|(e, n)| {
                doc! {
                    "_id": ObjectId::new(), "email": e, "name": format!("Load user {n}"),
                    "role": "customer", "password_hash": &hash, "created_at": now,
                }
            })
            .collect();
        if !docs.is_empty() {
            seeded.users += docs.len() as u64;
            db.collection::<Document>("users")
                .insert_many(docs)
                .await
                .context("inserting load users")?;
        }
    }
    let reviewers = user_ids(&db, users).await?;
    for first in (1..=products).step_by(BATCH as usize) {
        let numbers: Vec<u32> = (first..=(first + BATCH - 1).min(products)).collect();
        let skus: Vec<String> = numbers.iter().map(|&n| sku(n)).collect();
        let have = existing(&db, "products", "sku", &skus).await?;
        let mut product_docs = Vec::new();
        let mut review_docs = Vec::new();
        for (&n, sku) in numbers.iter().zip(&skus) {
            if have.contains(sku) {
                continue;
            }
            let id = ObjectId::new();
            let (mut sum, mut count) = (0, 0_i64);
            for k in 0..REVIEWS_PER_PRODUCT {
                let (name, user) = &reviewers[reviewer(n, k, users) as usize];
                if name.is_empty() {
                    continue;
                }
                sum += rating(n, k);
                count += 1;
                review_docs.push(doc! {
                    "_id": ObjectId::new(), "product_id": id.to_hex(),
                    "user_id": user.to_hex(), "author_name": format!("Load user {}", reviewer(n, k, users)),
                    "rating": rating(n, k), "comment": format!("Review {k} of load product {n}."),
                    "created_at": now,
                });
            }
            product_docs.push(doc! {
                "_id": id, "sku": sku, "name": format!("Load product {n}"),
                "description": format!("Generated product number {n} of the large catalog for load runs."),
                "price_minor": i64::from(100 + (n * 37) % 50_000), "currency": "EUR",
                // Plenty of stock: a load run places orders and must not run out.
                "stock": 1_000_000_i64,
                "category": CATEGORIES[n as usize % CATEGORIES.len()],
                "tags": ["load", format!("group-{}", n % 10)],
                "rating_sum": sum, "rating_count": count,
                // Step 4 keeps the average on rated products (the `-rating` sort's key).
                crate::rating::FIELD: crate::rating::average(sum, count),
                "created_at": now, "updated_at": now,
            });
        }
        if !product_docs.is_empty() {
            seeded.products += product_docs.len() as u64;
            db.collection::<Document>("products")
                .insert_many(product_docs)
                .await
                .context("inserting load products")?;
        }
        if !review_docs.is_empty() {
            seeded.reviews += review_docs.len() as u64;
            db.collection::<Document>("reviews")
                .insert_many(review_docs)
                .await
                .context("inserting load reviews")?;
        }
        if first % 10_000 == 1 {
            eprintln!("  {} of {products} products ...", first - 1);
        }
    }
    Ok((seeded, started.elapsed()))
}
