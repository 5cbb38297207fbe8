//! `migrate-orders`: copies the orders and payments steps 0-4 kept in MongoDB into
//! PostgreSQL, in batches, resumable, idempotent and verified.
//!
//! - **Batches** of `batch_size` orders in `_id` order. Each batch (its orders, their lines,
//!   their payments, its problems and the checkpoint) is one PostgreSQL transaction: a run
//!   killed at any point leaves whole batches behind, and the next run starts after the last
//!   committed one (`migration_checkpoints`).
//! - **Idempotent**: orders and payments are inserted with `ON CONFLICT DO NOTHING`, so a
//!   batch done twice (killed after the commit, before the checkpoint could be read back)
//!   changes nothing the second time, and a run after a finished one copies nothing.
//! - **Nothing dropped silently**: a document the domain's parsers refuse (corrupt, from an
//!   older shape) and a payment whose order does not exist are recorded in
//!   `migration_problems` with the reason, and the run goes on.
//! - **Verified**: every order MongoDB holds is read back from PostgreSQL and compared by a
//!   checksum of all its fields (lines and payment included); the counts of both sides are
//!   reported.

use std::collections::{BTreeMap, HashSet};

use anyhow::Context;
use common::domain::{Order, OrderId, PaymentRecord};
use common::store::mongo::{order_from_document, payment_from_document};
use futures::TryStreamExt;
use mongodb::Database;
use mongodb::bson::{Bson, Document, doc, oid::ObjectId};
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use crate::store::{Existing, PgOrders, insert_in, map_err};

/// The checkpoint's name: one copy of one collection pair.
pub const NAME: &str = "orders-from-mongodb";

/// How a run goes.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Orders per batch (and per transaction).
    pub batch_size: u32,
    /// Read and decode everything, write nothing (not even the checkpoint).
    pub dry_run: bool,
}

/// What a document or payment could not become, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub source: String,
    pub reason: String,
}

/// What a run did.
#[derive(Debug, Default)]
pub struct Report {
    /// Order documents read in this run (after the checkpoint).
    pub read: u64,
    /// Orders written to PostgreSQL in this run (or, in a dry run, that would be).
    pub copied: u64,
    /// Orders PostgreSQL had already.
    pub present: u64,
    /// Payments written in this run.
    pub payments_copied: u64,
    /// What could not be copied, this run and earlier ones.
    pub problems: Vec<Problem>,
    /// After the copy: MongoDB's decodable orders, those found equal in PostgreSQL, and the
    /// ids that are missing there or differ.
    pub verification: Verification,
}

#[derive(Debug, Default)]
pub struct Verification {
    pub in_mongodb: u64,
    pub equal: u64,
    pub missing: Vec<String>,
    pub different: Vec<String>,
}

impl Verification {
    pub fn passed(&self) -> bool {
        self.missing.is_empty() && self.different.is_empty() && self.equal == self.in_mongodb
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "read {} order documents: {} copied, {} already in PostgreSQL; {} payments copied",
            self.read, self.copied, self.present, self.payments_copied
        )?;
        let v = &self.verification;
        writeln!(
            f,
            "verified: {} of {} MongoDB orders equal in PostgreSQL (checksum of every field); \
             {} missing, {} different",
            v.equal,
            v.in_mongodb,
            v.missing.len(),
            v.different.len()
        )?;
        for id in v.missing.iter().chain(&v.different).take(20) {
            writeln!(f, "  not equal: order {id}")?;
        }
        writeln!(f, "not copied ({}):", self.problems.len())?;
        for problem in &self.problems {
            writeln!(f, "  {}: {}", problem.source, problem.reason)?;
        }
        Ok(())
    }
}

/// One run: copy from the checkpoint on, record the orphan payments, verify everything.
pub async fn migrate_orders(
    db: &Database,
    pool: &PgPool,
    options: Options,
) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let orders = db.collection::<Document>("orders");
    let payments = db.collection::<Document>("payments");
    let mut after = if options.dry_run {
        None
    } else {
        checkpoint(pool).await?
    };
    let mut problems = Vec::new();
    loop {
        let filter = match &after {
            Some(id) => doc! { "_id": { "$gt": ObjectId::parse_str(id)? } },
            None => doc! {},
        };
        let batch: Vec<Document> = orders
            .find(filter)
            .sort(doc! { "_id": 1 })
            .limit(i64::from(options.batch_size))
            .await
            .context("reading orders from MongoDB")?
            .try_collect()
            .await
            .context("reading orders from MongoDB")?;
        let Some(last) = batch.last().and_then(|d| d.get_object_id("_id").ok()) else {
            break;
        };
        report.read += batch.len() as u64;
        let mut decoded = Vec::with_capacity(batch.len());
        let mut batch_problems = Vec::new();
        for document in batch {
            let id = source_id(&document, "_id");
            match order_from_document(document) {
                Ok(order) => decoded.push(order),
                Err(error) => batch_problems.push(Problem {
                    source: format!("orders:{id}"),
                    reason: format!("{error:#}"),
                }),
            }
        }
        let ids: Vec<String> = decoded.iter().map(|o| o.id.to_string()).collect();
        let mut records = Vec::new();
        let mut cursor = payments
            .find(doc! { "order_id": { "$in": &ids } })
            .await
            .context("reading payments from MongoDB")?;
        while let Some(document) = cursor.try_next().await.context("reading payments")? {
            let key = source_id(&document, "idempotency_key");
            match payment_from_document(document) {
                Ok(record) => records.push(record),
                Err(error) => batch_problems.push(Problem {
                    source: format!("payments:{key}"),
                    reason: format!("{error:#}"),
                }),
            }
        }
        if options.dry_run {
            report.copied += decoded.len() as u64;
        } else {
            let (copied, present, paid) =
                write_batch(pool, &decoded, &records, &batch_problems, &last.to_hex()).await?;
            report.copied += copied;
            report.present += present;
            report.payments_copied += paid;
        }
        problems.extend(batch_problems);
        after = Some(last.to_hex());
    }
    let orphans = orphan_payments(db).await?;
    if !options.dry_run && !orphans.is_empty() {
        record_problems(pool, &orphans).await?;
    }
    problems.extend(orphans);
    report.problems = if options.dry_run {
        problems
    } else {
        recorded_problems(pool).await?
    };
    report.verification = verify(db, pool, options.batch_size).await?;
    Ok(report)
}

/// The id of a raw document, as text, for a report (`?` when it has none).
fn source_id(document: &Document, field: &str) -> String {
    match document.get(field) {
        Some(Bson::ObjectId(id)) => id.to_hex(),
        Some(Bson::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => "?".to_owned(),
    }
}

async fn checkpoint(pool: &PgPool) -> anyhow::Result<Option<String>> {
    let last: Option<Option<String>> = sqlx::query_scalar!(
        "SELECT last_id::text FROM migration_checkpoints WHERE name = $1",
        NAME
    )
    .fetch_optional(pool)
    .await
    .context("reading the migration checkpoint")?;
    Ok(last.flatten())
}

/// One batch in one transaction: orders and lines, payments, problems, the checkpoint.
async fn write_batch(
    pool: &PgPool,
    orders: &[Order],
    payments: &[PaymentRecord],
    problems: &[Problem],
    last_id: &str,
) -> anyhow::Result<(u64, u64, u64)> {
    let mut tx = pool.begin().await.context("starting a batch")?;
    let (mut copied, mut present, mut paid) = (0, 0, 0);
    for order in orders {
        if insert_in(&mut tx, order, Existing::Keep).await? {
            copied += 1;
        } else {
            present += 1;
        }
    }
    for payment in payments {
        // `::bpchar`: the base type of the domains `object_id` and `currency_code` (see
        // `store/orders.rs`).
        let written = sqlx::query!(
            "INSERT INTO payments (idempotency_key, order_id, amount_minor, currency, status, \
             provider_reference, reason, created_at) \
             VALUES ($1, $2::bpchar, $3, $4::bpchar, $5, $6, $7, $8) \
             ON CONFLICT (idempotency_key) DO NOTHING",
            payment.idempotency_key,
            payment.order_id.to_string(),
            payment.amount.minor,
            payment.amount.currency.as_str(),
            crate::store::payment_status_text(payment.status),
            payment.provider_reference,
            payment.reason,
            payment.created_at,
        )
        .execute(&mut *tx)
        .await
        .map_err(map_err("payments"))?;
        paid += written.rows_affected();
    }
    for problem in problems {
        insert_problem(&mut tx, problem).await?;
    }
    sqlx::query!(
        "INSERT INTO migration_checkpoints (name, last_id, copied, updated_at) \
         VALUES ($1, $2::bpchar, $3, now()) \
         ON CONFLICT (name) DO UPDATE SET last_id = excluded.last_id, \
         copied = migration_checkpoints.copied + excluded.copied, updated_at = now()",
        NAME,
        last_id,
        i64::try_from(copied).unwrap_or(i64::MAX),
    )
    .execute(&mut *tx)
    .await
    .context("moving the checkpoint")?;
    tx.commit().await.context("committing a batch")?;
    Ok((copied, present, paid))
}

async fn insert_problem(conn: &mut sqlx::PgConnection, problem: &Problem) -> anyhow::Result<()> {
    sqlx::query!(
        "INSERT INTO migration_problems (name, source, reason, seen_at) VALUES ($1, $2, $3, now()) \
         ON CONFLICT (name, source) DO UPDATE SET reason = excluded.reason",
        NAME,
        problem.source,
        problem.reason,
    )
    .execute(conn)
    .await
    .context("recording a problem")?;
    Ok(())
}

async fn record_problems(pool: &PgPool, problems: &[Problem]) -> anyhow::Result<()> {
    let mut tx = pool.begin().await?;
    for problem in problems {
        insert_problem(&mut tx, problem).await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn recorded_problems(pool: &PgPool) -> anyhow::Result<Vec<Problem>> {
    Ok(sqlx::query_as!(
        Problem,
        "SELECT source, reason FROM migration_problems WHERE name = $1 ORDER BY source",
        NAME
    )
    .fetch_all(pool)
    .await?)
}

/// Payments whose order MongoDB does not have: they cannot be copied (the foreign key would
/// refuse them, rightly), so they are reported.
async fn orphan_payments(db: &Database) -> anyhow::Result<Vec<Problem>> {
    let payments = db.collection::<Document>("payments");
    let orders = db.collection::<Document>("orders");
    let order_ids: Vec<String> = payments
        .distinct("order_id", doc! {})
        .await?
        .into_iter()
        .filter_map(|b| b.as_str().map(str::to_owned))
        .collect();
    let mut problems = Vec::new();
    for chunk in order_ids.chunks(1_000) {
        let object_ids: Vec<ObjectId> = chunk
            .iter()
            .filter_map(|id| ObjectId::parse_str(id).ok())
            .collect();
        let found: HashSet<String> = orders
            .find(doc! { "_id": { "$in": &object_ids } })
            .projection(doc! { "_id": 1 })
            .await?
            .try_collect::<Vec<Document>>()
            .await?
            .iter()
            .filter_map(|d| d.get_object_id("_id").ok().map(|id| id.to_hex()))
            .collect();
        for missing in chunk.iter().filter(|id| !found.contains(*id)) {
            let keys: Vec<String> = payments
                .find(doc! { "order_id": missing })
                .await?
                .try_collect::<Vec<Document>>()
                .await?
                .iter()
                .map(|d| source_id(d, "idempotency_key"))
                .collect();
            for key in keys {
                problems.push(Problem {
                    source: format!("payments:{key}"),
                    reason: format!("its order {missing} does not exist"),
                });
            }
        }
    }
    Ok(problems)
}

/// Every decodable MongoDB order compared with PostgreSQL's, by checksum, in batches.
async fn verify(db: &Database, pool: &PgPool, batch_size: u32) -> anyhow::Result<Verification> {
    let orders = db.collection::<Document>("orders");
    let store = PgOrders::new(pool.clone());
    let mut verification = Verification::default();
    let mut after: Option<ObjectId> = None;
    loop {
        let filter = match after {
            Some(id) => doc! { "_id": { "$gt": id } },
            None => doc! {},
        };
        let batch: Vec<Document> = orders
            .find(filter)
            .sort(doc! { "_id": 1 })
            .limit(i64::from(batch_size))
            .await?
            .try_collect()
            .await?;
        let Some(last) = batch.last().and_then(|d| d.get_object_id("_id").ok()) else {
            break;
        };
        after = Some(last);
        let mine: Vec<Order> = batch
            .into_iter()
            .filter_map(|d| order_from_document(d).ok())
            .collect();
        let ids: Vec<OrderId> = mine.iter().map(|o| o.id).collect();
        let theirs: BTreeMap<String, String> = store
            .get_many(&ids)
            .await?
            .iter()
            .map(|o| (o.id.to_string(), checksum(o)))
            .collect();
        for order in &mine {
            verification.in_mongodb += 1;
            let id = order.id.to_string();
            match theirs.get(&id) {
                None => verification.missing.push(id),
                Some(sum) if *sum != checksum(order) => verification.different.push(id),
                Some(_) => verification.equal += 1,
            }
        }
    }
    Ok(verification)
}

/// Every field of an order, lines and payment included, in one text, hashed: what both sides
/// must agree on. Times at millisecond precision (what MongoDB keeps).
pub fn checksum(order: &Order) -> String {
    let ms = |t: time::OffsetDateTime| t.unix_timestamp_nanos() / 1_000_000;
    let mut text = format!(
        "{}|{}|{}|{}|{}|{}|{}",
        order.id,
        order.user_id,
        order.status.as_str(),
        order.total.minor,
        order.total.currency.as_str(),
        ms(order.created_at),
        ms(order.updated_at)
    );
    for line in &order.lines {
        text.push_str(&format!(
            "|{}:{}:{}:{}:{}",
            line.product_id,
            line.sku.as_str(),
            line.name,
            line.unit_price.minor,
            line.quantity.get()
        ));
    }
    if let Some(p) = &order.payment {
        text.push_str(&format!(
            "|pay:{}:{}:{}:{}:{}",
            p.provider_reference,
            p.amount.minor,
            p.amount.currency.as_str(),
            p.status,
            ms(p.paid_at)
        ));
    }
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
