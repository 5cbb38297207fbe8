//! Query-driven MongoDB indexes: one row per query the API issues, naming the index that
//! serves it. Steps 0-2 created some (unique keys, step 1's lookups, the listing's single
//! fields); step 4 adds the compound ones the filters and sorts ask for, idempotently, at
//! startup (`optimize.create_indexes`) or with `step04-optimize indexes`, which prints the
//! table. The local stand-in (nx-27017) fails every later insert into a collection once an
//! index names `_id` beside another field, so on it the `_id` tie-break is dropped from such
//! keys (the index then serves the filter, and the sort finishes in memory); the server is
//! recognised by its `buildInfo` answer (`process: "nx_27017"`).

use std::fmt;

use anyhow::Context;
use futures::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};
use mongodb::{Database, IndexModel};

/// One index of the plan and the query it serves.
#[derive(Debug, Clone, Copy)]
pub struct QueryIndex {
    pub collection: &'static str,
    /// The key pattern, in order (1 ascending, -1 descending).
    pub keys: &'static [(&'static str, i32)],
    /// The query, as the API issues it.
    pub serves: &'static str,
    /// The step whose startup creates it (step 4 creates its own; earlier ones are checked).
    pub step: u8,
}

/// Every query the API issues against MongoDB and its index (lookups by `_id` use the
/// default `_id` index and are left out; so is the listing's text index, which step 2 makes
/// and which lists as `_fts` keys).
pub const PLAN: &[QueryIndex] = &[
    // Step 0 (unique keys, which double as the lookup index).
    q("users", &[("email", 1)], "sign-in: user by email", 0),
    q("products", &[("sku", 1)], "admin create: product by SKU", 0),
    q(
        "reviews",
        &[("product_id", 1), ("user_id", 1)],
        "one review per user and product",
        0,
    ),
    q(
        "payments",
        &[("idempotency_key", 1)],
        "pay: payment by idempotency key",
        0,
    ),
    // Step 1.
    q(
        "refresh_tokens",
        &[("session_id", 1)],
        "revoke a session's refresh tokens",
        1,
    ),
    q(
        "profiles",
        &[("kid", 1)],
        "key rotation: profiles sealed with an old key",
        1,
    ),
    // Step 2: the listing's single fields.
    q("products", &[("price_minor", 1)], "listing: price range", 2),
    q("products", &[("name", 1)], "listing: sort by name", 2),
    q(
        "products",
        &[("category", 1)],
        "listing: category filter",
        2,
    ),
    q("products", &[("tags", 1)], "listing: tags filter ($all)", 2),
    // Step 4: what the filters and sorts ask for together (equality, then sort, then range).
    q(
        "products",
        &[("category", 1), ("price_minor", 1)],
        "listing: category + sort or range by price",
        4,
    ),
    q(
        "products",
        &[("category", 1), ("name", 1)],
        "listing: category + sort by name",
        4,
    ),
    q(
        "products",
        &[("category", 1), ("_id", 1)],
        "listing: category, oldest first (v1 order, keyset by _id)",
        4,
    ),
    q(
        "products",
        &[("price_minor", 1), ("_id", 1)],
        "listing: sort by price with its _id tie-break (keyset cursors)",
        4,
    ),
    q(
        "products",
        &[("name", 1), ("_id", 1)],
        "listing: sort by name with its _id tie-break",
        4,
    ),
    q(
        "products",
        &[("rating_avg", -1), ("_id", 1)],
        "listing: sort by the stored rating average (-rating)",
        4,
    ),
    q(
        "reviews",
        &[("product_id", 1), ("_id", -1)],
        "reviews of a product, newest first; latest reviews of a page's products",
        4,
    ),
    q(
        "orders",
        &[("user_id", 1), ("_id", -1)],
        "a user's orders, newest first (and their count)",
        4,
    ),
    q(
        "payments",
        &[("order_id", 1), ("created_at", 1)],
        "an order's payments, oldest first",
        4,
    ),
    q(
        "sessions",
        &[("user_id", 1), ("status", 1), ("created_at", -1)],
        "a user's active sessions, newest first",
        4,
    ),
    q(
        "audit_events",
        &[("user_id", 1), ("_id", 1)],
        "a user's audit trail, oldest first",
        4,
    ),
];

const fn q(
    collection: &'static str,
    keys: &'static [(&'static str, i32)],
    serves: &'static str,
    step: u8,
) -> QueryIndex {
    QueryIndex {
        collection,
        keys,
        serves,
        step,
    }
}

/// Which server we talk to: the stand-in cannot take `_id` in a compound index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    MongoDb,
    /// nx-27017, the local MongoDB stand-in.
    StandIn,
}

impl Server {
    /// Asks `buildInfo`; nx-27017 answers `process: "nx_27017"`.
    pub async fn detect(db: &Database) -> anyhow::Result<Self> {
        let info = db
            .client()
            .database("admin")
            .run_command(doc! { "buildInfo": 1 })
            .await
            .context("asking MongoDB for buildInfo")?;
        Ok(match info.get_str("process") {
            Ok(process) if process.starts_with("nx_27017") => Server::StandIn,
            _ => Server::MongoDb,
        })
    }
}

impl QueryIndex {
    /// The key pattern this server gets: on the stand-in, `_id` beside other fields is
    /// dropped (with everything after it).
    pub fn keys_for(&self, server: Server) -> Document {
        let compound = self.keys.len() > 1;
        self.keys
            .iter()
            .take_while(|(field, _)| !(server == Server::StandIn && compound && *field == "_id"))
            .map(|(field, order)| ((*field).to_owned(), Bson::Int32(*order)))
            .collect()
    }
}

/// What happened to one index of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Created,
    Existed,
    /// An earlier step's index that is not there (its startup did not run).
    Missing,
}

/// One line of [`ensure`]'s answer.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub index: QueryIndex,
    pub keys: Document,
    pub status: Status,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = match self.status {
            Status::Created => "created",
            Status::Existed => "exists",
            Status::Missing => "MISSING",
        };
        write!(
            f,
            "{status:<8} {:<15} {:<48} step {}  {}",
            self.index.collection, self.keys, self.index.step, self.index.serves
        )
    }
}

/// The key patterns of `collection`'s indexes (an absent collection has none).
pub async fn existing(db: &Database, collection: &str) -> anyhow::Result<Vec<Document>> {
    let cursor = match db.collection::<Document>(collection).list_indexes().await {
        Ok(cursor) => cursor,
        // NamespaceNotFound: nothing was ever written there.
        Err(error) if matches!(*error.kind, mongodb::error::ErrorKind::Command(ref c) if c.code == 26) =>
        {
            return Ok(Vec::new());
        }
        Err(error) => return Err(error).context("listing indexes"),
    };
    let models: Vec<IndexModel> = cursor.try_collect().await.context("listing indexes")?;
    Ok(models.into_iter().map(|m| m.keys).collect())
}

/// The same fields in the same order and directions; servers differ in the number type
/// they list a direction with (1, 1i64, 1.0). The stand-in lists every direction as 1 (its
/// SQLite indexes are walked either way), so on it only the fields are compared.
pub fn same_keys(server: Server, a: &Document, b: &Document) -> bool {
    let direction = |v: &Bson| match v {
        Bson::Int32(n) => Some(f64::from(*n)),
        Bson::Int64(n) => Some(*n as f64),
        Bson::Double(n) => Some(*n),
        _ => None,
    };
    a.len() == b.len()
        && a.iter().zip(b.iter()).all(|((fa, va), (fb, vb))| {
            fa == fb && (server == Server::StandIn || direction(va) == direction(vb))
        })
}

/// Creates step 4's indexes that are not there yet and checks the earlier steps' ones.
/// Idempotent: an index that exists (same keys) is left alone.
pub async fn ensure(db: &Database) -> anyhow::Result<Vec<Outcome>> {
    let server = Server::detect(db).await?;
    let mut outcomes = Vec::with_capacity(PLAN.len());
    for index in PLAN {
        let keys = index.keys_for(server);
        let present = existing(db, index.collection)
            .await
            .with_context(|| format!("reading the indexes of {}", index.collection))?;
        let status = if present.iter().any(|p| same_keys(server, p, &keys)) {
            Status::Existed
        } else if index.step == 4 {
            db.collection::<Document>(index.collection)
                .create_index(IndexModel::builder().keys(keys.clone()).build())
                .await
                .with_context(|| format!("creating the {} index {keys}", index.collection))?;
            Status::Created
        } else {
            Status::Missing
        };
        outcomes.push(Outcome {
            index: *index,
            keys,
            status,
        });
    }
    Ok(outcomes)
}
