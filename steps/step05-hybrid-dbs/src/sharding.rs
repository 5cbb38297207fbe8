//! The MongoDB side of step 5: where each collection the shop keeps in MongoDB would live on a
//! sharded cluster, and how a `mongos` routes the queries the shop sends. [`PLACEMENTS`] is the
//! design as data: per collection, its shard key (hashed or ranged), why (from the queries
//! steps 0-4 send and step 4 indexed), and what the key does to the unique indexes the shop
//! creates. [`classify`] reads one command document, as the driver sends it, and says which
//! shards a `mongos` sends it to ([`Routing`]), by MongoDB's documented targeting rules, and
//! whether a MongoDB 7.0 `mongos` refuses it as a single-document write that does not pin its
//! shard. [`SCATTER_GATHER`] names every query shape that reaches every shard, with the reason
//! each is acceptable; `tests/it/sharding.rs` compares it with what the running app sends.
//! `docker/mongo-sharded/` deploys the placements that the shop's unique indexes allow.
//!
//! This models the router's rules; it is not a router. A real `mongos` also knows where the
//! chunks are, so a query this calls [`Routing::SomeShards`] may reach one shard or all of
//! them, depending on the data.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use mongodb::bson::{Bson, Document};

/// How a shard key spreads documents over the chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Chunks hold ranges of the key's hash: even spread, monotonic values included, but only
    /// equality (or `$in`) finds a document's shard; a range on the field reaches every shard.
    Hashed,
    /// Chunks hold ranges of the key itself: equality, `$in` and ranges on a prefix of it are
    /// targeted, and a unique index prefixed by it stays enforceable.
    Ranged,
}

/// A shard key: its fields in order (a hashed key has one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardKey {
    pub fields: &'static [&'static str],
    pub kind: Kind,
}

const fn hashed(field: &'static [&'static str; 1]) -> Option<ShardKey> {
    Some(ShardKey {
        fields: field,
        kind: Kind::Hashed,
    })
}

const fn ranged(fields: &'static [&'static str]) -> Option<ShardKey> {
    Some(ShardKey {
        fields,
        kind: Kind::Ranged,
    })
}

/// A unique index the shop creates (steps 0-4's preparation), and what the shard key does
/// to it. `_id`'s own index is left out: every collection has it.
#[derive(Debug, Clone, Copy)]
pub struct UniqueIndex {
    pub keys: &'static [&'static str],
    /// What the index guarantees the shop.
    pub guarantees: &'static str,
    /// Kept, and why; or lost, and where the guarantee has to move.
    pub under_the_key: &'static str,
}

/// Where one collection lives on a sharded cluster.
#[derive(Debug, Clone, Copy)]
pub struct Placement {
    pub collection: &'static str,
    /// `None`: the collection stays whole on its database's primary shard.
    pub key: Option<ShardKey>,
    /// Why this key, from the queries.
    pub why: &'static str,
    pub unique: &'static [UniqueIndex],
}

impl Placement {
    /// Whether a cluster can still enforce a unique index on `index` (fields in order) under
    /// this placement. MongoDB enforces uniqueness across shards only for an index on a ranged
    /// shard key or prefixed by it; a hashed key admits no unique index but `_id`'s, and an
    /// unsharded collection keeps every one.
    pub fn keeps(&self, index: &[&str]) -> bool {
        match self.key {
            None => true,
            Some(ShardKey {
                kind: Kind::Hashed, ..
            }) => false,
            Some(ShardKey {
                fields,
                kind: Kind::Ranged,
            }) => index.starts_with(fields),
        }
    }

    /// Whether the cluster can shard this collection while the shop runs on it: it has a key,
    /// and every unique index the shop creates survives it (otherwise `shardCollection`, or
    /// the shop's own `createIndexes` at startup, is refused).
    pub fn deployable(&self) -> bool {
        self.key.is_some() && self.unique.iter().all(|u| self.keeps(u.keys))
    }

    /// Whether the shard key's own index is one of the shop's unique indexes: then
    /// `shardCollection` must make it unique, or the shop's `createIndexes` of the same keys
    /// with `unique` conflicts with it.
    pub fn unique_key(&self) -> bool {
        self.key
            .is_some_and(|key| self.unique.iter().any(|u| u.keys == key.fields))
    }
}

/// A unique index that is the shard key's own index.
const KEY_INDEX: &str = "kept: it is the shard key's own index, made unique by `shardCollection`";

/// Every collection the shop keeps in MongoDB at step 5.
pub const PLACEMENTS: &[Placement] = &[
    Placement {
        collection: "users",
        key: ranged(&["email"]),
        why: "Sign-in reads a user by email and registration must refuse a taken one: with the \
              email as the key both reach one shard, and the unique email index is the key's \
              own. Reads and writes by id (`me`, a review's author, the password upgrade at \
              sign-in) carry no email and reach every shard, each answering from its `_id` \
              index. A hashed `_id` would target those and lose the unique email. Emails are \
              not monotonic, so new accounts spread over the range.",
        unique: &[UniqueIndex {
            keys: &["email"],
            guarantees: "one account per email",
            under_the_key: KEY_INDEX,
        }],
    },
    Placement {
        collection: "products",
        key: hashed(&["_id"]),
        why: "Every product write and single-product read names `_id`: detail, update, delete, \
              stock taken and given back, the rating kept, and the batched `$in` reads of \
              orders, GraphQL and the sales report. ObjectIds grow with time, so a ranged \
              `_id` would put every new product in the last chunk; hashing spreads them. The \
              listing filters by category, price, tags, stock and text and sorts five ways: no \
              one key serves all of that, so it reaches every shard, each answering from step \
              4's indexes while mongos merges the sorted streams (and step 3's cache absorbs \
              the repeats).",
        unique: &[UniqueIndex {
            keys: &["sku"],
            guarantees: "one product per SKU",
            under_the_key: "lost: a hashed key admits no unique index but `_id`'s. The \
                            guarantee moves to a proxy collection keyed by the SKU (`_id` = \
                            SKU, written in one transaction with the product), which the \
                            product store does not have yet; until it does, products stay \
                            unsharded on the cluster",
        }],
    },
    Placement {
        collection: "reviews",
        key: ranged(&["product_id", "user_id"]),
        why: "A product's review page, its count and the latest reviews of a page of products \
              (`$in`) all filter by `product_id`, the key's prefix. `user_id` after it lets the \
              chunk of a much-reviewed product split, and makes the key the \
              one-review-per-user index itself. A product id is an ObjectId's hex, so a new \
              product's reviews land at the top of the range: a hot chunk at a launch, which \
              the balancer splits.",
        unique: &[UniqueIndex {
            keys: &["product_id", "user_id"],
            guarantees: "one review per user per product",
            under_the_key: KEY_INDEX,
        }],
    },
    Placement {
        collection: "sessions",
        key: hashed(&["_id"]),
        why: "A refresh reads and touches its session by `_id`, and a revocation names its \
              `_id`: one shard. A user's active sessions (the session list, logout-all, a \
              password change) are found by `user_id` on every shard; those are rare next to \
              refreshes. Hashing spreads the ObjectIds' monotonic inserts.",
        unique: &[],
    },
    Placement {
        collection: "refresh_tokens",
        key: hashed(&["_id"]),
        why: "A token is stored under its SHA-256 (`_id`) and rotated by one `findAndModify` \
              on it, which MongoDB 7.0 runs on a sharded collection only when it pins the \
              whole key: so the key is `_id`. Revoking a session's tokens (`updateMany` by \
              `session_id`) reaches every shard.",
        unique: &[],
    },
    Placement {
        collection: "audit_events",
        key: hashed(&["_id"]),
        why: "Append-only: the API only inserts (no route reads a user's trail). Hashing the \
              ObjectId spreads the appends; a `user_id` key would pile every event without a \
              user into one chunk that cannot split.",
        unique: &[],
    },
    Placement {
        collection: "profiles",
        key: hashed(&["_id"]),
        why: "One per user, under the user's id: read and compare-and-set by `_id`. The key \
              rotation (`rotate-keys`, a command, not a route) scans by `kid` on every shard.",
        unique: &[],
    },
    Placement {
        collection: "identities",
        key: hashed(&["_id"]),
        why: "Found and linked by `google:<sub>`, its `_id`.",
        unique: &[],
    },
    Placement {
        collection: "oauth_attempts",
        key: hashed(&["_id"]),
        why: "Inserted, then taken once (`findAndModify` with `remove`) by the hash of its \
              `state`, its `_id`.",
        unique: &[],
    },
    Placement {
        collection: "orders",
        key: None,
        why: "In PostgreSQL since this step. `migrate-orders` reads the old copy once, in `_id` \
              order, and nothing else does: it stays whole on the primary shard.",
        unique: &[],
    },
    Placement {
        collection: "payments",
        key: None,
        why: "In PostgreSQL since this step, like the orders.",
        unique: &[UniqueIndex {
            keys: &["idempotency_key"],
            guarantees: "one payment per idempotency key",
            under_the_key: "kept: an unsharded collection enforces every unique index",
        }],
    },
];

/// The placement of `collection`, if it has one.
pub fn placement(collection: &str) -> Option<&'static Placement> {
    PLACEMENTS.iter().find(|p| p.collection == collection)
}

/// Why the listing reaches every shard (see `products` in [`PLACEMENTS`]).
const LISTING: &str = "the listing (v1, v2, GraphQL): none of its filters, sorts or cursors \
                       names `_id` exactly; each shard answers from step 4's indexes, mongos \
                       merges the sorted streams";
const LISTING_TOTAL: &str = "a v1 listing page's total: each shard counts its own, mongos adds";

/// Every query shape the app sends that reaches every shard, with why each is acceptable.
/// `tests/it/sharding.rs` drives every route that touches MongoDB and fails, naming the shape,
/// when what it saw differs from this list.
pub const SCATTER_GATHER: &[(&str, &str)] = &[
    ("products count {}", LISTING_TOTAL),
    (
        "products count {$text: {$search: ?}, category: ?, price_minor: {$gte: ?, $lte: ?}, \
         stock: {$gt: ?}, tags: {$all: ?}}",
        LISTING_TOTAL,
    ),
    ("products find {}", LISTING),
    (
        "products find {$text: {$search: ?}, category: ?, price_minor: {$gte: ?, $lte: ?}, \
         stock: {$gt: ?}, tags: {$all: ?}}",
        LISTING,
    ),
    ("products find {category: ?}", LISTING),
    (
        "products find {category: ?, price_minor: {$gte: ?}, stock: {$gt: ?}, tags: {$all: ?}}",
        LISTING,
    ),
    ("products find {_id: {$gt: ?}, category: ?}", LISTING),
    ("products find {_id: {$lt: ?}, category: ?}", LISTING),
    (
        "products find {$or: [{price_minor: {$gt: ?}}, {_id: {$gt: ?}, price_minor: ?}], \
         category: ?}",
        LISTING,
    ),
    (
        "products find {$or: [{price_minor: {$lt: ?}}, {_id: {$gt: ?}, price_minor: ?}], \
         category: ?}",
        LISTING,
    ),
    (
        "products find {$or: [{price_minor: {$lt: ?}}, {_id: {$gt: ?}, price_minor: ?}], \
         category: ?, price_minor: {$gte: ?}, stock: {$gt: ?}, tags: {$all: ?}}",
        LISTING,
    ),
    (
        "products find {$or: [{name: {$gt: ?}}, {_id: {$gt: ?}, name: ?}], category: ?}",
        LISTING,
    ),
    (
        "products find {$or: [{rating_avg: {$lt: ?}}, {_id: {$gt: ?}, rating_avg: ?}, \
         {rating_avg: ?}], category: ?}",
        LISTING,
    ),
    (
        "products find {_id: {$gt: ?}, category: ?, rating_avg: ?}",
        LISTING,
    ),
    (
        "products find {rating_avg: {$exists: ?}, rating_count: {$gt: ?}}",
        "step 4's backfill of rating averages, once per start, at preparation",
    ),
    (
        "users find {_id: ?}",
        "a user by id (`me`, a review's author, a password change): the price of the unique \
         email; each shard answers from its `_id` index",
    ),
    (
        "users updateOne {_id: ?}",
        "a new password hash (a change, or the upgrade to argon2id at sign-in): rare, and a \
         7.0 mongos accepts it because it names `_id` exactly",
    ),
    (
        "sessions find {status: ?, user_id: ?}",
        "a user's active sessions (the session list, logout-all, a password change): rare \
         next to the refreshes, which are targeted",
    ),
    (
        "refresh_tokens updateMany {session_id: ?, status: ?}",
        "revoking a session's tokens (logout, a revocation, a replayed token): rare",
    ),
];

/// Which shards a `mongos` sends a query to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Routing {
    /// The filter pins every field of the key to one value (or matches nothing): one chunk,
    /// so one shard.
    OneShard,
    /// The filter bounds the key's leading field (a few values, a range, a prefix): only the
    /// shards owning chunks in those bounds; how many depends on where the chunks are.
    SomeShards,
    /// Nothing bounds the key's leading field: every shard runs it and mongos merges the
    /// answers (scatter-gather).
    AllShards,
    /// The collection is not sharded: its database's primary shard answers alone.
    Unsharded,
}

impl fmt::Display for Routing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Routing::OneShard => "one shard",
            Routing::SomeShards => "some shards",
            Routing::AllShards => "every shard",
            Routing::Unsharded => "the primary shard",
        })
    }
}

/// One query of a command, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// `collection command {filter}`, the filter's fields and operators with values erased:
    /// `users find {email: ?}`.
    pub shape: String,
    pub routing: Routing,
    /// Why a MongoDB 7.0 `mongos` refuses it, for a single-document write that does not pin
    /// its shard (7.1 and later run those anyway, at the price of a broadcast).
    pub refused: Option<String>,
}

/// A command that [`classify`] cannot place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unclassified {
    /// Neither a query of a collection nor one of [`ADMINISTRATIVE`].
    UnknownCommand(String),
    /// A query of a collection [`PLACEMENTS`] does not name.
    NoPlacement { command: String, collection: String },
    /// A query whose document lacks what its command needs (a driver change, say).
    Malformed(String),
}

impl fmt::Display for Unclassified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unclassified::UnknownCommand(name) => write!(
                f,
                "`{name}` is neither a query of a collection nor an administrative command: \
                 teach sharding::classify to route it, or list it in ADMINISTRATIVE"
            ),
            Unclassified::NoPlacement {
                command,
                collection,
            } => write!(
                f,
                "`{command}` on `{collection}`, which sharding::PLACEMENTS does not place: \
                 choose its shard key"
            ),
            Unclassified::Malformed(what) => write!(f, "a malformed command: {what}"),
        }
    }
}

/// Commands that query no collection's documents: index builds and listings (preparation),
/// server metadata (step 4 asks `buildInfo` which server it talks to), `/health`'s ping, the
/// continuation and end of a cursor (a `getMore` reaches the shards its `find` or
/// `aggregate` chose), and the sessions a client ends when it closes.
pub const ADMINISTRATIVE: &[&str] = &[
    "createIndexes",
    "listIndexes",
    "buildInfo",
    "ping",
    "getMore",
    "killCursors",
    "endSessions",
];

/// The commands that query a collection's documents, which [`classify`] routes.
const QUERIES: &[&str] = &[
    "find",
    "count",
    "distinct",
    "aggregate",
    "insert",
    "update",
    "delete",
    "findAndModify",
];

/// Classifies one command document as the driver sends it (its first key is the command's
/// name, whose value is the collection): one [`Query`] per statement (an `update` or a
/// `delete` may carry several), none for an [`ADMINISTRATIVE`] command.
pub fn classify(command: &Document) -> Result<Vec<Query>, Unclassified> {
    let Some((name, target)) = command.iter().next() else {
        return Err(Unclassified::Malformed("an empty command".to_owned()));
    };
    if ADMINISTRATIVE.contains(&name.as_str()) {
        return Ok(Vec::new());
    }
    if !QUERIES.contains(&name.as_str()) {
        return Err(Unclassified::UnknownCommand(name.clone()));
    }
    let collection = target
        .as_str()
        .ok_or_else(|| Unclassified::Malformed(format!("`{name}` names no collection")))?;
    let place = placement(collection).ok_or_else(|| Unclassified::NoPlacement {
        command: name.clone(),
        collection: collection.to_owned(),
    })?;
    let empty = Document::new();
    let doc_at = |field: &str| match command.get(field) {
        Some(Bson::Document(d)) => d,
        _ => &empty,
    };
    let statements = |field: &str| -> Result<Vec<&Document>, Unclassified> {
        match command.get(field) {
            Some(Bson::Array(items)) => items
                .iter()
                .map(|item| {
                    item.as_document().ok_or_else(|| {
                        Unclassified::Malformed(format!("`{name}` with a non-document {field}"))
                    })
                })
                .collect(),
            _ => Err(Unclassified::Malformed(format!("`{name}` without {field}"))),
        }
    };
    let read = |command: &str, filter: &Document| Query {
        shape: shape(collection, command, Some(filter)),
        routing: route(place, filter),
        refused: None,
    };
    Ok(match name.as_str() {
        "find" => vec![read("find", doc_at("filter"))],
        "count" | "distinct" => vec![read(name, doc_at("query"))],
        "aggregate" => vec![read("aggregate", &leading_match(command))],
        "insert" => {
            let documents = statements("documents")?.len();
            vec![Query {
                shape: shape(collection, "insert", None),
                routing: match place.key {
                    None => Routing::Unsharded,
                    // A document carries its key (a missing field counts as null): one shard.
                    Some(_) if documents == 1 => Routing::OneShard,
                    Some(_) => Routing::SomeShards,
                },
                refused: None,
            }]
        }
        "update" => statements("updates")?
            .into_iter()
            .map(|s| {
                let multi = s.get_bool("multi").unwrap_or(false);
                let (write, reach) = if multi {
                    ("updateMany", Reach::Many)
                } else {
                    ("updateOne", Reach::OneOrById)
                };
                let change = Change {
                    upsert: s.get_bool("upsert").unwrap_or(false),
                    update: s.get_document("u").ok(),
                };
                let filter = s.get_document("q").unwrap_or(&empty);
                write_query(place, collection, write, filter, reach, change)
            })
            .collect(),
        "delete" => statements("deletes")?
            .into_iter()
            .map(|s| {
                let limit = s
                    .get("limit")
                    .and_then(|b| b.as_i64().or(b.as_i32().map(i64::from)));
                let (write, reach) = if limit == Some(1) {
                    ("deleteOne", Reach::OneOrById)
                } else {
                    ("deleteMany", Reach::Many)
                };
                let filter = s.get_document("q").unwrap_or(&empty);
                write_query(place, collection, write, filter, reach, Change::default())
            })
            .collect(),
        // findAndModify: one document, found and changed (or removed).
        _ => vec![write_query(
            place,
            collection,
            "findAndModify",
            doc_at("query"),
            Reach::One,
            Change {
                upsert: command.get_bool("upsert").unwrap_or(false),
                update: command.get_document("update").ok(),
            },
        )],
    })
}

/// The shards a write may reach on a MongoDB 7.0 `mongos` (7.1 and later accept single-document
/// writes that reach more, at the price of a broadcast).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// `updateMany`, `deleteMany`: any.
    Many,
    /// `updateOne`, `deleteOne`: one shard, or every shard when the filter names `_id` exactly
    /// (it then matches one document wherever that is).
    OneOrById,
    /// `findAndModify`: one shard.
    One,
}

/// What a write changes, beyond what its filter matches.
#[derive(Debug, Clone, Copy, Default)]
struct Change<'a> {
    upsert: bool,
    /// The update document (`$set`, `$inc`, ...), if any.
    update: Option<&'a Document>,
}

/// A write statement, routed, with the rules a MongoDB 7.0 `mongos` applies to it: its
/// [`Reach`]; an upsert, and a change of a shard key field, must pin the whole key.
fn write_query(
    place: &Placement,
    collection: &str,
    write: &str,
    filter: &Document,
    reach: Reach,
    change: Change<'_>,
) -> Query {
    let routing = route(place, filter);
    let refused = place
        .key
        .filter(|_| routing != Routing::OneShard)
        .and_then(|key| {
            if change.upsert {
                return Some(format!(
                    "an upsert must pin the whole shard key {:?}",
                    key.fields
                ));
            }
            if let Some(field) = change.update.and_then(|u| changed_key_field(&key, u)) {
                return Some(format!(
                    "it changes the shard key field `{field}` without pinning the whole key"
                ));
            }
            match reach {
                Reach::Many => None,
                Reach::OneOrById if names_id(filter) => None,
                Reach::OneOrById => Some(format!(
                    "{write} must pin the shard key {:?} or `_id` on MongoDB 7.0",
                    key.fields
                )),
                Reach::One => Some(format!(
                    "{write} must pin the whole shard key {:?} on MongoDB 7.0",
                    key.fields
                )),
            }
        });
    Query {
        shape: shape(collection, write, Some(filter)),
        routing,
        refused,
    }
}

/// A shard key field (or a path inside one) that an update's operators set or remove.
fn changed_key_field(key: &ShardKey, update: &Document) -> Option<String> {
    update
        .iter()
        .filter(|(op, _)| op.starts_with('$'))
        .filter_map(|(_, fields)| fields.as_document())
        .flat_map(|fields| fields.keys())
        .find(|path| {
            key.fields.iter().any(|field| {
                *path == field
                    || path.starts_with(&format!("{field}."))
                    || field.starts_with(&format!("{path}."))
            })
        })
        .cloned()
}

/// Whether the filter names `_id` with one exact value at its top level.
fn names_id(filter: &Document) -> bool {
    match filter.get("_id") {
        Some(Bson::Document(ops)) if is_operators(ops) => ops.len() == 1 && ops.contains_key("$eq"),
        Some(Bson::RegularExpression(_)) | None => false,
        Some(_) => true,
    }
}

/// The `$match` stages an aggregation opens with, which are what a `mongos` targets it by.
fn leading_match(command: &Document) -> Document {
    let mut stages = Vec::new();
    if let Ok(pipeline) = command.get_array("pipeline") {
        for stage in pipeline {
            match stage
                .as_document()
                .and_then(|s| s.get_document("$match").ok())
            {
                Some(matched) => stages.push(Bson::Document(matched.clone())),
                None => break,
            }
        }
    }
    match stages.len() {
        0 => Document::new(),
        1 => match stages.pop() {
            Some(Bson::Document(only)) => only,
            _ => Document::new(),
        },
        _ => mongodb::bson::doc! { "$and": stages },
    }
}

/// What a filter says about one field's values: a set of exact values (equality, `$in`), a
/// range, or nothing a router can use.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Bound {
    Values(BTreeSet<String>),
    Range,
    Any,
}

impl Bound {
    /// Both conditions hold. A range beside exact values leaves those values (a superset of
    /// the true answer, which is all a router needs).
    fn and(self, other: Bound) -> Bound {
        match (self, other) {
            (Bound::Any, b) | (b, Bound::Any) => b,
            (Bound::Values(a), Bound::Values(b)) => {
                Bound::Values(a.intersection(&b).cloned().collect())
            }
            (Bound::Values(v), Bound::Range) | (Bound::Range, Bound::Values(v)) => Bound::Values(v),
            (Bound::Range, Bound::Range) => Bound::Range,
        }
    }
}

/// One conjunction of field conditions; a filter is an `$or` of these.
type Conjunction = BTreeMap<String, Bound>;

/// More alternatives than any query of the shop has; past it, the filter is treated as
/// bounding nothing (routed to every shard), which is never wrong.
const MAX_ALTERNATIVES: usize = 256;

/// The filter as an `$or` of conjunctions (`$or` and `$and` distributed).
fn alternatives(filter: &Document) -> Vec<Conjunction> {
    let mut out = vec![Conjunction::new()];
    for (field, value) in filter {
        let choices = match field.as_str() {
            "$and" | "$or" => {
                let branches: Vec<Vec<Conjunction>> = value
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Bson::as_document)
                    .map(alternatives)
                    .collect();
                if field == "$or" {
                    vec![branches.into_iter().flatten().collect()]
                } else {
                    branches
                }
            }
            // `$text`, `$expr`, `$nor`, `$where`, `$comment`: nothing a router can use.
            operator if operator.starts_with('$') => continue,
            _ => vec![vec![Conjunction::from([(field.clone(), bound(value))])]],
        };
        for choice in choices {
            if choice.is_empty() || out.len() * choice.len() > MAX_ALTERNATIVES {
                return vec![Conjunction::new()];
            }
            out = out
                .iter()
                .flat_map(|have| {
                    choice.iter().map(move |add| {
                        let mut both = have.clone();
                        for (field, b) in add {
                            let merged = match both.remove(field) {
                                Some(existing) => existing.and(b.clone()),
                                None => b.clone(),
                            };
                            both.insert(field.clone(), merged);
                        }
                        both
                    })
                })
                .collect();
        }
    }
    out
}

fn is_operators(doc: &Document) -> bool {
    doc.keys().next().is_some_and(|k| k.starts_with('$'))
}

/// One field's condition as a [`Bound`].
fn bound(value: &Bson) -> Bound {
    let exact = |v: &Bson| match v {
        Bson::RegularExpression(_) => None,
        other => Some(other.to_string()),
    };
    match value {
        Bson::Document(ops) if is_operators(ops) => ops
            .iter()
            .map(|(op, v)| match op.as_str() {
                "$eq" => exact(v).map_or(Bound::Any, |e| Bound::Values(BTreeSet::from([e]))),
                "$in" => v
                    .as_array()
                    .and_then(|items| items.iter().map(exact).collect::<Option<BTreeSet<_>>>())
                    .map_or(Bound::Any, Bound::Values),
                "$gt" | "$gte" | "$lt" | "$lte" => Bound::Range,
                // `$ne`, `$nin`, `$exists`, `$all`, `$regex`, `$not`, ...: no usable bound.
                _ => Bound::Any,
            })
            .fold(Bound::Any, Bound::and),
        other => exact(other).map_or(Bound::Any, |e| Bound::Values(BTreeSet::from([e]))),
    }
}

/// Where one conjunction goes under `key`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// It matches nothing; a `mongos` still asks one shard, for an empty answer.
    Nothing,
    /// The whole key pinned to these values.
    Point(Vec<String>),
    Some,
    All,
}

fn target(key: &ShardKey, conjunction: &Conjunction) -> Target {
    let bound_of = |field: &str| conjunction.get(field).cloned().unwrap_or(Bound::Any);
    let first = bound_of(key.fields[0]);
    match (key.kind, first) {
        (_, Bound::Values(v)) if v.is_empty() => Target::Nothing,
        (_, Bound::Any) | (Kind::Hashed, Bound::Range) => Target::All,
        (Kind::Hashed, Bound::Values(v)) if v.len() > 1 => Target::Some,
        _ => {
            let mut point = Vec::with_capacity(key.fields.len());
            for field in key.fields {
                match bound_of(field) {
                    Bound::Values(v) if v.is_empty() => return Target::Nothing,
                    Bound::Values(v) if v.len() == 1 => point.extend(v),
                    _ => return Target::Some,
                }
            }
            Target::Point(point)
        }
    }
}

/// Which shards get a query with `filter` on the collection of `place`.
fn route(place: &Placement, filter: &Document) -> Routing {
    let Some(key) = place.key else {
        return Routing::Unsharded;
    };
    let union =
        alternatives(filter)
            .iter()
            .map(|c| target(&key, c))
            .fold(Target::Nothing, |a, b| match (a, b) {
                (Target::All, _) | (_, Target::All) => Target::All,
                (Target::Nothing, t) | (t, Target::Nothing) => t,
                (Target::Point(a), Target::Point(b)) if a == b => Target::Point(a),
                _ => Target::Some,
            });
    match union {
        Target::Nothing | Target::Point(_) => Routing::OneShard,
        Target::Some => Routing::SomeShards,
        Target::All => Routing::AllShards,
    }
}

/// `collection command {filter}`, the filter's fields and operators with values erased.
fn shape(collection: &str, command: &str, filter: Option<&Document>) -> String {
    match filter {
        Some(filter) => format!("{collection} {command} {}", filter_shape(filter)),
        None => format!("{collection} {command}"),
    }
}

/// A filter's fields (sorted, so the shape does not depend on the order a query built them
/// in) and operators, every value a `?`; `$and`, `$or` and `$nor` keep their branches.
fn filter_shape(filter: &Document) -> String {
    let mut parts: Vec<String> = filter
        .iter()
        .map(|(field, value)| {
            let value = match value {
                Bson::Array(branches) if ["$and", "$or", "$nor"].contains(&field.as_str()) => {
                    let branches: Vec<String> = branches
                        .iter()
                        .map(|b| b.as_document().map_or("?".to_owned(), filter_shape))
                        .collect();
                    format!("[{}]", branches.join(", "))
                }
                Bson::Document(ops) if is_operators(ops) => {
                    let mut ops: Vec<String> = ops
                        .iter()
                        .map(|(op, v)| match v {
                            Bson::Document(inner)
                                if ["$not", "$elemMatch"].contains(&op.as_str()) =>
                            {
                                format!("{op}: {}", filter_shape(inner))
                            }
                            _ => format!("{op}: ?"),
                        })
                        .collect();
                    ops.sort();
                    format!("{{{}}}", ops.join(", "))
                }
                _ => "?".to_owned(),
            };
            format!("{field}: {value}")
        })
        .collect();
    parts.sort();
    format!("{{{}}}", parts.join(", "))
}
