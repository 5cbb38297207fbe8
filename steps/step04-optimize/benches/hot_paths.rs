//! criterion benchmarks of the hot paths a request walks through, measured in isolation so a
//! flamegraph's wide frames can be checked and a change to them compared: access-token
//! verification (every signed-in request), password hashing (sign-in and registration:
//! argon2id at the configured parameters against step 0's bcrypt at cost 12), serialising a
//! product page in the v1 and v2 shapes (20 and 100 items: every listing), and building a
//! listing's cache key (every cached read). Run:
//! `cargo bench -p step04-optimize -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;

use common::auth::{Bcrypt, PasswordScheme};
use common::domain::{Currency, Money, Page, Paged, Product, ProductId, Role, Sku, UserId};
use common::routes::PageResponse;
use common::routes::products::ProductResponse;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use step01_security::passwords::Argon2id;
use step01_security::tokens::{AccessTokens, RevokedSessions};
use step02_apis::listing::{CategoryText, ListingQuery, ProductFilter, SortKey, TagText, Window};
use step02_apis::rest::{ProductPageV2, ProductV2};
use time::OffsetDateTime;

fn token_verification(c: &mut Criterion) {
    let config = step01_security::Config::default();
    let tokens = AccessTokens::new(&config, RevokedSessions::new(900, 30)).expect("token keys");
    let issued = tokens
        .issue(UserId::new(), Role::Customer, "bench-session")
        .expect("a token");
    c.bench_function("access token: verify signature and claims", |b| {
        b.iter(|| tokens.claims(black_box(&issued.token)).expect("valid"))
    });
}

fn password_hashing(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let config = step01_security::Config::default();
    let argon2 = Argon2id::new(&config.security.passwords).expect("argon2 parameters");
    let bcrypt = Bcrypt::new(12);
    let mut group = c.benchmark_group("password hash");
    group.sample_size(10);
    let password = "correct horse battery staple".to_owned();
    group.bench_function("argon2id (configured: 19 MiB, t=2, p=1)", |b| {
        b.iter(|| {
            runtime
                .block_on(argon2.hash(password.clone()))
                .expect("hash")
        })
    });
    group.bench_function("bcrypt cost 12", |b| {
        b.iter(|| {
            runtime
                .block_on(bcrypt.hash(password.clone()))
                .expect("hash")
        })
    });
    group.finish();
}

fn product(n: usize) -> Product {
    let now = OffsetDateTime::now_utc();
    Product {
        id: ProductId::new(),
        sku: Sku::parse(&format!("BENCH-{n:06}")).expect("sku"),
        name: format!("Benchmark product {n}"),
        description: format!("Generated product number {n} for the step 4 benchmarks."),
        price: Money::price(1999, Currency::parse("EUR").expect("EUR")).expect("price"),
        stock: 7,
        category: "books".to_owned(),
        tags: vec!["bench".to_owned(), "group-1".to_owned()],
        rating_sum: 9,
        rating_count: 2,
        created_at: now,
        updated_at: now,
    }
}

fn page_serialisation(c: &mut Criterion) {
    let mut group = c.benchmark_group("product page to JSON");
    for size in [20, 100] {
        let products: Vec<Product> = (0..size).map(product).collect();
        group.bench_with_input(BenchmarkId::new("v1", size), &products, |b, products| {
            b.iter(|| {
                let paged = Paged {
                    items: products.clone(),
                    page: Page {
                        page: 1,
                        limit: size as u64,
                    },
                    total: 100_000,
                };
                serde_json::to_vec(&PageResponse::from_paged(paged, ProductResponse::from))
                    .expect("json")
            })
        });
        group.bench_with_input(BenchmarkId::new("v2", size), &products, |b, products| {
            b.iter(|| {
                let page = ProductPageV2 {
                    items: products.iter().cloned().map(ProductV2::from).collect(),
                    next_cursor: Some("bmV4dC1wYWdlLWN1cnNvcg".to_owned()),
                    limit: size as u64,
                };
                serde_json::to_vec(&page).expect("json")
            })
        });
    }
    group.finish();
}

fn cache_keys(c: &mut Criterion) {
    let query = ListingQuery {
        filter: ProductFilter {
            category: Some(CategoryText::parse("books").expect("a category")),
            min_price_minor: Some(500),
            max_price_minor: Some(5_000),
            tags: ["group-1", "bench"]
                .map(|t| TagText::parse(t).expect("a tag"))
                .to_vec(),
            in_stock: Some(true),
            text: None,
        },
        sort: SortKey::default(),
        window: Window::Page(Page { page: 3, limit: 20 }),
    };
    c.bench_function("cache key: listing (canonical JSON + SHA-256)", |b| {
        b.iter(|| step03_caching::cache::listing_key(black_box(&query)))
    });
}

criterion_group!(
    benches,
    token_verification,
    password_hashing,
    page_serialisation,
    cache_keys
);
criterion_main!(benches);
