//! `seed --orders N`: a sales history for the report's measurements, written by PostgreSQL
//! itself (`generate_series`, two statements), so a million order lines take seconds. Orders
//! get ids `ffffffff` + 16 hex digits (no ObjectId of this century starts so) and one to four
//! lines (2.5 on average) over the catalog's products; a tenth are pending, a tenth cancelled,
//! the rest paid or shipped, placed over the year before the seeding. Idempotent: the ids are
//! the series' numbers, and existing ones are kept.

use anyhow::Context;
use common::domain::Page;
use common::store::ProductStore;
use sqlx::PgPool;

/// Up to this many of the catalog's products appear in the history.
const PRODUCTS: u64 = 1_000;

/// Inserts orders 1..=`count` of the synthetic history (and their lines); returns how many
/// orders and lines PostgreSQL holds afterwards.
pub async fn seed_orders(
    pool: &PgPool,
    products: &dyn ProductStore,
    count: u64,
) -> anyhow::Result<(i64, i64)> {
    let mut ids = Vec::new();
    let mut skus = Vec::new();
    let mut names = Vec::new();
    let mut prices = Vec::new();
    let mut page = 1;
    while (ids.len() as u64) < PRODUCTS {
        let listed = products
            .list(Page {
                page,
                limit: Page::MAX_LIMIT,
            })
            .await
            .context("reading the catalog")?;
        if listed.items.is_empty() {
            break;
        }
        for product in listed.items {
            ids.push(product.id.to_string());
            skus.push(product.sku.as_str().to_owned());
            names.push(product.name);
            prices.push(product.price.minor);
        }
        page += 1;
    }
    // An order's up to four lines are consecutive products, so four make them distinct.
    anyhow::ensure!(
        ids.len() >= 4,
        "the catalog has {} products, the history needs at least 4: seed products first \
         (`seed`, or `seed --products N`)",
        ids.len()
    );
    let count = i64::try_from(count).context("--orders is too large")?;
    // Line k (0-based) of order g: product (g * 7 + k) mod n, quantity 1 + (g + k) mod 3;
    // both statements spell out that rule (`generate_series(0, g % 4) AS k, LATERAL ...`):
    // the macros that check them take literal SQL only. The orders read the products' ids and
    // prices and the number of orders; the lines read every column of the products too.
    let mut tx = pool.begin().await?;
    sqlx::query!(
        "INSERT INTO orders (id, user_id, status, total_minor, currency, payment_reference, \
         payment_amount_minor, payment_currency, payment_status, paid_at, created_at, updated_at) \
         SELECT id, 'eeeeeeee' || lpad(to_hex(g % 50000), 16, '0'), status, total, 'EUR', \
                CASE WHEN paid THEN 'ch_seed_' || g END, CASE WHEN paid THEN total END, \
                CASE WHEN paid THEN 'EUR' END, CASE WHEN paid THEN 'succeeded' END, \
                CASE WHEN paid THEN at END, at, at \
         FROM (SELECT g, 'ffffffff' || lpad(to_hex(g), 16, '0') AS id, \
                      CASE g % 10 WHEN 0 THEN 'pending' WHEN 1 THEN 'cancelled' \
                                  WHEN 2 THEN 'shipped' WHEN 3 THEN 'shipped' ELSE 'paid' END \
                        AS status, \
                      g % 10 > 1 AS paid, \
                      now() - interval '365 days' * (1 - g::float8 / $3::float8) AS at, \
                      (SELECT sum(($2::bigint[])[p] * (1 + (g + k) % 3))::bigint \
                       FROM generate_series(0, g % 4) AS k, \
                            LATERAL (SELECT (g * 7 + k) % array_length($1::text[], 1) + 1 AS p) \
                              AS pick) AS total \
               FROM generate_series(1, $3::bigint) AS g) AS o \
         ON CONFLICT (id) DO NOTHING",
        &ids,
        &prices,
        count,
    )
    .execute(&mut *tx)
    .await
    .context("seeding orders")?;
    sqlx::query!(
        "INSERT INTO order_lines (order_id, position, product_id, sku, name, unit_price_minor, \
         quantity) \
         SELECT 'ffffffff' || lpad(to_hex(g), 16, '0'), k, ($1::text[])[p], ($2::text[])[p], \
                ($3::text[])[p], ($4::bigint[])[p], 1 + (g + k) % 3 \
         FROM generate_series(1, $5::bigint) AS g, generate_series(0, g % 4) AS k, \
              LATERAL (SELECT (g * 7 + k) % array_length($1::text[], 1) + 1 AS p) AS pick \
         ON CONFLICT DO NOTHING",
        &ids,
        &skus,
        &names,
        &prices,
        count,
    )
    .execute(&mut *tx)
    .await
    .context("seeding order lines")?;
    tx.commit().await?;
    sqlx::query!("ANALYZE orders, order_lines")
        .execute(pool)
        .await?;
    let orders = sqlx::query_scalar!(r#"SELECT count(*) AS "count!" FROM orders"#)
        .fetch_one(pool)
        .await?;
    let lines = sqlx::query_scalar!(r#"SELECT count(*) AS "count!" FROM order_lines"#)
        .fetch_one(pool)
        .await?;
    Ok((orders, lines))
}
