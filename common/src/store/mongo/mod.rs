//! The MongoDB stores: one collection per aggregate (`users`, `products`, `reviews`, `orders`,
//! `payments`), documents mapped to domain types at this boundary, and driver errors mapped to
//! [`StoreError`] in one place ([`map_err`]).
//!
//! Ids: a document's own `_id` is an ObjectId; a reference to another document (`user_id`,
//! `product_id`, `order_id`) is stored as that id's 24-character hex string. Both are common
//! MongoDB practice; strings are chosen here because the local stand-in server (nx-27017)
//! cannot filter on an ObjectId held in any field but `_id`.
//!
//! Indexes here are only those correctness needs (unique email, unique SKU, one review per user
//! per product, unique payment idempotency key); query indexes are step 4's lesson.

mod handles;
mod orders;
mod payments;
mod products;
mod reviews;
mod users;

use std::sync::Arc;

use anyhow::Context;
use mongodb::bson::{DateTime, doc};
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::IndexOptions;
use mongodb::{ClientSession, Database, IndexModel};
use time::OffsetDateTime;

pub use handles::{CatalogDb, Mongo, MongoOptions};
pub use orders::{MongoOrders, order_from_document};
pub use payments::{MongoPayments, payment_from_document};
pub use products::{MongoProducts, product_from_document};
pub use reviews::MongoReviews;
pub use users::MongoUsers;

use super::{StoreError, Stores};
use crate::config::MongoConfig;

/// The database `config` names, with its options alone ([`Mongo::connect`] without a step's
/// tuning): for tools that work on the database rather than serve.
pub async fn connect(config: &MongoConfig) -> anyhow::Result<Database> {
    Ok(Mongo::connect(config, |_| {}).await?.database().clone())
}

/// Creates the indexes correctness depends on. Idempotent: safe at every start.
pub async fn ensure_indexes(db: &Database) -> anyhow::Result<()> {
    let unique = |keys| {
        IndexModel::builder()
            .keys(keys)
            .options(IndexOptions::builder().unique(true).build())
            .build()
    };
    db.collection::<mongodb::bson::Document>("users")
        .create_index(unique(doc! { "email": 1 }))
        .await
        .context("creating the unique email index")?;
    db.collection::<mongodb::bson::Document>("products")
        .create_index(unique(doc! { "sku": 1 }))
        .await
        .context("creating the unique sku index")?;
    db.collection::<mongodb::bson::Document>("reviews")
        .create_index(unique(doc! { "product_id": 1, "user_id": 1 }))
        .await
        .context("creating the one-review-per-user index")?;
    db.collection::<mongodb::bson::Document>("payments")
        .create_index(unique(doc! { "idempotency_key": 1 }))
        .await
        .context("creating the payment idempotency index")?;
    Ok(())
}

impl Stores {
    /// Every store in MongoDB; the catalog's (products, reviews) over its own handles.
    pub fn mongo(db: &Mongo) -> Self {
        Self {
            users: Arc::new(MongoUsers::new(db)),
            products: Arc::new(MongoProducts::over(db.catalog())),
            reviews: Arc::new(MongoReviews::over(db.catalog())),
            orders: Arc::new(MongoOrders::new(db)),
            payments: Arc::new(MongoPayments::new(db)),
        }
    }
}

/// The one place driver errors become store errors. `unique` names what a duplicate-key error
/// on this operation means ("email", "sku", ...).
/// How many documents of `collection` match `filter`: a page's total.
///
/// The `count` command rather than the driver's `count_documents`, which runs as an
/// aggregation (`$match`, then `$group` with `$sum`). Step 4's load runs on the large catalog
/// (100,000 products, 300,000 reviews) found every v1 listing and review page spending
/// 3-7 s in that aggregation on the local stand-in (nx-27017 evaluates aggregations over
/// every document), against 1-300 ms for `count` with the same filter, which it answers from
/// its indexes. On MongoDB both are served by an index when the filter has one; without a
/// filter `count` reads the collection's metadata where `count_documents` scans it all.
/// The trade-offs, both acceptable for a total shown beside a page: without a filter, the
/// metadata can be off after an unclean shutdown until the server repairs it; on a sharded
/// cluster, orphaned documents can be counted; and `count` is not allowed inside a
/// multi-document transaction (nothing here counts in one).
///
/// The command goes where `collection`'s reads go (its read preference), in `session` if any, with
/// the collection's read concern; a generic command gets neither from the driver, so they
/// are set here, and so is the session's operation time (`afterClusterTime`), as the driver
/// does for its own reads in a causally consistent session.
pub async fn count<T: Send + Sync>(
    collection: &mongodb::Collection<T>,
    filter: mongodb::bson::Document,
    session: Option<&mut ClientSession>,
) -> crate::store::StoreResult<u64> {
    let namespace = collection.namespace();
    let mut command = doc! { "count": &namespace.coll, "query": filter };
    let mut read_concern = collection
        .read_concern()
        .and_then(|concern| mongodb::bson::to_document(concern).ok())
        .unwrap_or_default();
    if let Some(time) = session.as_ref().and_then(|s| s.operation_time()) {
        read_concern.insert("afterClusterTime", time);
    }
    if !read_concern.is_empty() {
        command.insert("readConcern", read_concern);
    }
    let db = collection.client().database(&namespace.db);
    let mut count = db.run_command(command);
    if let Some(session) = session {
        count = count.session(session);
    }
    if let Some(criteria) = collection.selection_criteria() {
        count = count.selection_criteria(criteria.clone());
    }
    let reply = count.await.map_err(map_err("id"))?;
    let n = match reply.get("n") {
        Some(mongodb::bson::Bson::Int32(n)) => u64::try_from(*n).ok(),
        Some(mongodb::bson::Bson::Int64(n)) => u64::try_from(*n).ok(),
        Some(mongodb::bson::Bson::Double(n)) if n.fract() == 0.0 && *n >= 0.0 => Some(*n as u64),
        _ => None,
    };
    n.ok_or_else(|| {
        StoreError::Other(anyhow::anyhow!(
            "the count of {namespace} answered without a count: {reply}"
        ))
    })
}

pub fn map_err(unique: &'static str) -> impl Fn(mongodb::error::Error) -> StoreError {
    move |error| {
        if is_duplicate_key(&error) {
            return StoreError::Duplicate(unique.to_owned());
        }
        match *error.kind {
            ErrorKind::ServerSelection { .. }
            | ErrorKind::Io(_)
            | ErrorKind::ConnectionPoolCleared { .. } => StoreError::Unavailable(error.into()),
            _ => StoreError::Other(error.into()),
        }
    }
}

fn is_duplicate_key(error: &mongodb::error::Error) -> bool {
    const DUPLICATE_KEY: i32 = 11000;
    match &*error.kind {
        ErrorKind::Write(WriteFailure::WriteError(e)) => e.code == DUPLICATE_KEY,
        ErrorKind::Command(e) => e.code == DUPLICATE_KEY,
        ErrorKind::InsertMany(e) => e
            .write_errors
            .as_ref()
            .is_some_and(|errs| errs.iter().any(|e| e.code == DUPLICATE_KEY)),
        _ => false,
    }
}

/// Parses a stored reference (a hex id string) back into its typed id.
pub fn reference<T: std::str::FromStr>(what: &str, hex: &str) -> Result<T, StoreError> {
    hex.parse()
        .map_err(|_| corrupt(what, format!("bad reference {hex:?}")))
}

/// A document that does not map back to a domain value: data written by something else.
pub fn corrupt(what: &str, reason: impl std::fmt::Display) -> StoreError {
    StoreError::Other(anyhow::anyhow!("corrupt {what} document: {reason}"))
}

/// "Now", at the millisecond precision BSON dates keep, so a value read back equals the one
/// written.
pub fn now() -> OffsetDateTime {
    from_bson_date(to_bson_date(OffsetDateTime::now_utc()))
}

pub fn to_bson_date(t: OffsetDateTime) -> DateTime {
    DateTime::from_millis((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// Reads a stored date. MongoDB always hands back a BSON date; the local stand-in server
/// (nx-27017) turns a top-level date written through `$set` into a string such as
/// `2026-11-24 19:54:00.799000` (UTC), so that form is accepted too. Writes are always real
/// BSON dates. Used as `#[serde(deserialize_with = "date")]` on every date field.
pub fn date<'de, D: serde::Deserializer<'de>>(d: D) -> Result<DateTime, D::Error> {
    use serde::Deserialize;
    use serde::de::Error;
    match mongodb::bson::Bson::deserialize(d)? {
        mongodb::bson::Bson::DateTime(date) => Ok(date),
        mongodb::bson::Bson::String(text) => parse_stand_in_date(&text)
            .map(to_bson_date)
            .ok_or_else(|| D::Error::custom(format!("not a date: {text:?}"))),
        other => Err(D::Error::custom(format!("expected a date, got {other}"))),
    }
}

fn parse_stand_in_date(text: &str) -> Option<OffsetDateTime> {
    use time::macros::format_description;
    let with_fraction =
        format_description!("[year]-[month]-[day] [hour]:[minute]:[second].[subsecond]");
    let without = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    time::PrimitiveDateTime::parse(text, with_fraction)
        .or_else(|_| time::PrimitiveDateTime::parse(text, without))
        .map(time::PrimitiveDateTime::assume_utc)
        .ok()
        .or_else(|| {
            OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
        })
}

pub fn from_bson_date(d: DateTime) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(d.timestamp_millis()) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Converts an unsigned count or offset for the driver, saturating instead of wrapping.
pub(crate) fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_back_from_the_stand_in_server_string_form() {
        let parsed = parse_stand_in_date("2026-11-24 19:54:00.799000").unwrap();
        assert_eq!(parsed.unix_timestamp_nanos() % 1_000_000_000, 799_000_000);
        assert_eq!(parsed.offset(), time::UtcOffset::UTC);
        assert!(parse_stand_in_date("2026-11-24 19:54:00").is_some());
        assert!(parse_stand_in_date("2026-11-24T19:54:00Z").is_some());
        assert!(parse_stand_in_date("yesterday").is_none());
    }
}
