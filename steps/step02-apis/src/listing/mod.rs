//! The product listing every API shares: filters, a whitelist of sort keys, and two ways to
//! page, `page`/`limit` (v1 compatibility) and opaque cursors (v2 and GraphQL). Cursors
//! are keyset pagination: "the items after (sort value, id)", so a product inserted while a
//! client pages can never shift a page and make it see an item twice or miss one.
//!
//! [`ProductSearch`] is the seam: MongoDB implements it here ([`MongoSearch`]), step 3 wraps it
//! in a cache. The HTTP and GraphQL layers only parse their parameters into a
//! [`ListingQuery`] and call [`Listing::search`].

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::domain::{Page, Product, ProductId};
use common::error::{Error, Result};
use common::store::mongo::{map_err, product_from_document};
use common::store::{StoreError, StoreResult};
use futures::TryStreamExt;
use mongodb::IndexModel;
use mongodb::bson::{Bson, Document, doc, oid::ObjectId};
use mongodb::options::IndexOptions;
use sha2::{Digest, Sha256};

/// What may narrow a listing. Every field is optional; all given ones must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ProductFilter {
    /// Exact category name.
    pub category: Option<String>,
    /// Inclusive bounds, in minor units.
    pub min_price_minor: Option<i64>,
    pub max_price_minor: Option<i64>,
    /// Products carrying every one of these tags.
    pub tags: Vec<String>,
    /// `Some(true)`: stock above zero only; `Some(false)`: sold out only.
    pub in_stock: Option<bool>,
    /// Words searched in name, description and tags (MongoDB text search).
    pub text: Option<String>,
}

impl ProductFilter {
    /// The MongoDB filter document. Every condition sits at the top level, where `$text` must,
    /// and `$text` comes first: the local stand-in server (nx-27017) ignores conditions that
    /// precede it.
    fn to_document(&self) -> Document {
        let mut filter = doc! {};
        if let Some(text) = &self.text {
            filter.insert("$text", doc! { "$search": text.as_str() });
        }
        if let Some(category) = &self.category {
            filter.insert("category", category.as_str());
        }
        let mut price = doc! {};
        if let Some(min) = self.min_price_minor {
            price.insert("$gte", min);
        }
        if let Some(max) = self.max_price_minor {
            price.insert("$lte", max);
        }
        if !price.is_empty() {
            filter.insert("price_minor", price);
        }
        if !self.tags.is_empty() {
            filter.insert("tags", doc! { "$all": &self.tags });
        }
        match self.in_stock {
            Some(true) => {
                filter.insert("stock", doc! { "$gt": 0_i64 });
            }
            Some(false) => {
                filter.insert("stock", doc! { "$lte": 0_i64 });
            }
            None => {}
        }
        filter
    }
}

/// The orders a listing may be sorted in: a whitelist, because each needs an index (step 4)
/// and a stable tie-break (`_id`) for cursors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum SortKey {
    /// Oldest first, by id (ids grow with creation time): the v1 order.
    #[default]
    Oldest,
    Newest,
    PriceAsc,
    PriceDesc,
    NameAsc,
    RatingDesc,
}

/// The field a rating sort uses: computed per query (the average is not stored, so this sort
/// cannot use an index). Step 4 keeps the average on the product instead
/// ([`MongoSearch::with_stored_rating`]).
const RATING_FIELD: &str = "_rating";
/// The id as hex text, computed beside the rating: the stand-in server (nx-27017) cannot
/// compare ObjectIds inside an aggregation, and hex text orders exactly as ObjectIds do.
const ID_TEXT_FIELD: &str = "_id_hex";

impl SortKey {
    pub const ALL: [SortKey; 6] = [
        SortKey::Oldest,
        SortKey::Newest,
        SortKey::PriceAsc,
        SortKey::PriceDesc,
        SortKey::NameAsc,
        SortKey::RatingDesc,
    ];

    /// The wire name (`?sort=-price`): a leading `-` means descending.
    pub fn as_str(&self) -> &'static str {
        match self {
            SortKey::Oldest => "oldest",
            SortKey::Newest => "newest",
            SortKey::PriceAsc => "price",
            SortKey::PriceDesc => "-price",
            SortKey::NameAsc => "name",
            SortKey::RatingDesc => "-rating",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|key| key.as_str() == name)
    }

    /// The sorted field besides `_id`, and whether it descends.
    fn field(&self) -> Option<(&'static str, bool)> {
        match self {
            SortKey::Oldest | SortKey::Newest => None,
            SortKey::PriceAsc => Some(("price_minor", false)),
            SortKey::PriceDesc => Some(("price_minor", true)),
            SortKey::NameAsc => Some(("name", false)),
            SortKey::RatingDesc => Some((RATING_FIELD, true)),
        }
    }

    /// `_id` breaks ties oldest first, except in `newest`, whose only key is `_id` descending.
    fn id_descends(&self) -> bool {
        *self == SortKey::Newest
    }

    fn sort_document(&self) -> Document {
        let id = if self.id_descends() { -1 } else { 1 };
        match self.field() {
            Some((field, descends)) => doc! { field: if descends { -1 } else { 1 }, "_id": id },
            None => doc! { "_id": id },
        }
    }

    /// The value this sort orders `product` by, as a cursor records it.
    fn value_of(&self, product: &Product) -> SortValue {
        match self {
            SortKey::Oldest | SortKey::Newest => SortValue::None,
            SortKey::PriceAsc | SortKey::PriceDesc => SortValue::Int(product.price.minor),
            SortKey::NameAsc => SortValue::Text(product.name.clone()),
            // The same IEEE division MongoDB's `$divide` makes, so the cursor's value equals
            // the computed field bit for bit.
            SortKey::RatingDesc => SortValue::Float(if product.rating_count > 0 {
                product.rating_sum as f64 / product.rating_count as f64
            } else {
                0.0
            }),
        }
    }
}

/// How much of the listing to return.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Window {
    /// Offset paging, with a total (v1).
    Page(Page),
    /// The first `limit` items after `after` (from the start when `None`).
    Cursor { after: Option<Cursor>, limit: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ListingQuery {
    pub filter: ProductFilter,
    pub sort: SortKey,
    pub window: Window,
}

/// An opaque position in a listing: the sort value and id of the last item seen, bound to
/// the sort key it was made for. The wire form is URL-safe base64.
///
/// Tamper-evident, not secret: the payload carries a truncated SHA-256 of itself, so garbage,
/// a truncated copy or a cursor made for another sort is refused with a 400 naming `cursor`.
/// Someone who forges a well-formed cursor only chooses where their own listing starts
/// (every filter still applies), so no key is needed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cursor(String);

/// What a cursor holds.
#[derive(Debug, Clone, PartialEq)]
struct Position {
    sort: SortKey,
    id: ObjectId,
    value: SortValue,
}

#[derive(Debug, Clone, PartialEq)]
enum SortValue {
    None,
    Int(i64),
    Text(String),
    /// Kept as its bits, so it round-trips exactly.
    Float(f64),
}

impl SortValue {
    fn to_bson(&self) -> Bson {
        match self {
            SortValue::None => Bson::Null,
            SortValue::Int(v) => Bson::Int64(*v),
            SortValue::Text(v) => Bson::String(v.clone()),
            SortValue::Float(v) => Bson::Double(*v),
        }
    }
}

const CURSOR_VERSION: &str = "c1";
const CHECKSUM_LEN: usize = 8;

fn checksum(payload: &[u8]) -> [u8; CHECKSUM_LEN] {
    let digest = Sha256::new()
        .chain_update(b"stepwise-shop listing cursor\0")
        .chain_update(payload)
        .finalize();
    let mut out = [0; CHECKSUM_LEN];
    out.copy_from_slice(&digest[..CHECKSUM_LEN]);
    out
}

fn invalid_cursor(reason: &str) -> Error {
    Error::InvalidParameter {
        name: "cursor".to_owned(),
        reason: reason.to_owned(),
    }
}

impl Cursor {
    /// The raw text, as clients send it back.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A cursor from a client's text, checked: well formed, untampered, and made for `sort`.
    /// Every failure is 400 `INVALID_PARAMETER` naming `cursor`.
    pub fn parse(raw: &str, sort: SortKey) -> Result<Self> {
        let cursor = Self(raw.to_owned());
        cursor.position(sort)?;
        Ok(cursor)
    }

    fn encode(position: &Position) -> Self {
        let value = match &position.value {
            SortValue::None => String::new(),
            SortValue::Int(v) => v.to_string(),
            SortValue::Text(v) => v.clone(),
            SortValue::Float(v) => format!("{:016x}", v.to_bits()),
        };
        // The value goes last: it is the only part that may contain the separator.
        let payload = format!(
            "{CURSOR_VERSION}\n{}\n{}\n{value}",
            position.sort.as_str(),
            position.id.to_hex()
        );
        let mut bytes = payload.into_bytes();
        let sum = checksum(&bytes);
        bytes.extend_from_slice(&sum);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    fn position(&self, expected: SortKey) -> Result<Position> {
        let bytes = URL_SAFE_NO_PAD
            .decode(self.0.as_bytes())
            .map_err(|_| invalid_cursor("is not a cursor this API issued"))?;
        if bytes.len() <= CHECKSUM_LEN {
            return Err(invalid_cursor("is not a cursor this API issued"));
        }
        let (payload, sum) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
        if checksum(payload) != sum {
            return Err(invalid_cursor("is not a cursor this API issued"));
        }
        let payload =
            std::str::from_utf8(payload).map_err(|_| invalid_cursor("is not valid UTF-8"))?;
        let mut parts = payload.splitn(4, '\n');
        let (Some(CURSOR_VERSION), Some(sort), Some(id), Some(value)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid_cursor("has an unknown format"));
        };
        let sort = SortKey::parse(sort).ok_or_else(|| invalid_cursor("names an unknown sort"))?;
        if sort != expected {
            return Err(invalid_cursor(&format!(
                "was made for sort `{}`, not `{}`: start again without a cursor",
                sort.as_str(),
                expected.as_str()
            )));
        }
        let id = ObjectId::parse_str(id).map_err(|_| invalid_cursor("holds a malformed id"))?;
        let bad_value = |_| invalid_cursor("holds a malformed value");
        let value = match sort {
            SortKey::Oldest | SortKey::Newest => SortValue::None,
            SortKey::PriceAsc | SortKey::PriceDesc => {
                SortValue::Int(value.parse().map_err(bad_value)?)
            }
            SortKey::NameAsc => SortValue::Text(value.to_owned()),
            SortKey::RatingDesc => SortValue::Float(f64::from_bits(
                u64::from_str_radix(value, 16).map_err(bad_value)?,
            )),
        };
        Ok(Position { sort, id, value })
    }

    /// The cursor that points just after `product` in a listing sorted by `sort`.
    pub fn after(product: &Product, sort: SortKey) -> Self {
        Self::encode(&Position {
            sort,
            id: product.id.object_id(),
            value: sort.value_of(product),
        })
    }

    /// The id of the product the cursor points after, whatever its sort.
    pub fn product_id(&self, sort: SortKey) -> Result<ProductId> {
        Ok(ProductId::from_object_id(self.position(sort)?.id))
    }
}

impl Position {
    /// "Strictly after this position" in the sort's order, as a filter.
    /// The keyset of the `-rating` sort over a stored average `field` (step 4): present only
    /// on rated products (an average is at least 1), missing on unrated ones, which sort last
    /// (a descending sort puts a missing field after every number) as their 0 does in the
    /// computed sort. Comparisons never match a missing field, hence its own branch.
    fn stored_rating_keyset(&self, field: &str) -> Document {
        let id = Bson::ObjectId(self.id);
        match self.value {
            SortValue::Float(value) if value > 0.0 => doc! { "$or": [
                { field: { "$lt": value } },
                { field: value, "_id": { "$gt": id } },
                { field: Bson::Null },
            ] },
            _ => doc! { field: Bson::Null, "_id": { "$gt": id } },
        }
    }

    fn keyset(&self) -> Document {
        let id_op = if self.sort.id_descends() {
            "$lt"
        } else {
            "$gt"
        };
        let (id_field, id) = if self.sort == SortKey::RatingDesc {
            (ID_TEXT_FIELD, Bson::String(self.id.to_hex()))
        } else {
            ("_id", Bson::ObjectId(self.id))
        };
        match self.sort.field() {
            None => doc! { id_field: { id_op: id } },
            Some((field, descends)) => {
                let op = if descends { "$lt" } else { "$gt" };
                let value = self.value.to_bson();
                doc! { "$or": [
                    { field: { op: value.clone() } },
                    { field: value, id_field: { id_op: id } },
                ] }
            }
        }
    }
}

/// One page of a listing.
#[derive(Debug, Clone)]
pub struct ProductPage {
    pub items: Vec<Product>,
    /// The cursor of each item, in order (GraphQL edges; empty for `Window::Page`).
    pub cursors: Vec<Cursor>,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<Cursor>,
    /// Matching products in all (offset paging only: counting costs a second query).
    pub total: Option<u64>,
}

#[async_trait]
pub trait ProductSearch: Send + Sync {
    async fn search(&self, query: &ListingQuery) -> StoreResult<ProductPage>;
}

/// The listing service: the one place a [`ListingQuery`] is answered.
#[derive(Clone)]
pub struct Listing {
    search: Arc<dyn ProductSearch>,
}

impl Listing {
    pub fn new(search: Arc<dyn ProductSearch>) -> Self {
        Self { search }
    }

    /// Checks what a caller may have built by hand (a cursor for this sort, a limit within
    /// [`Page::MAX_LIMIT`]) with the same 400s the HTTP parsers give, then searches.
    pub async fn search(&self, query: &ListingQuery) -> Result<ProductPage> {
        let limit = match &query.window {
            Window::Page(page) => page.limit,
            Window::Cursor { after, limit } => {
                if let Some(cursor) = after {
                    cursor.position(query.sort)?;
                }
                *limit
            }
        };
        if !(1..=Page::MAX_LIMIT).contains(&limit) {
            return Err(Error::InvalidParameter {
                name: "limit".to_owned(),
                reason: format!("must be between 1 and {}", Page::MAX_LIMIT),
            });
        }
        self.search.search(query).await.map_err(Error::from)
    }
}

/// The MongoDB listing: one query per page (filter, keyset, sort, window), plus a count for
/// offset pages.
pub struct MongoSearch {
    products: mongodb::Collection<Document>,
    /// The field holding each rated product's average, when something keeps one (step 4);
    /// `None`: the `-rating` sort computes it per query.
    stored_rating: Option<&'static str>,
}

impl MongoSearch {
    pub fn new(db: &mongodb::Database) -> Self {
        Self {
            products: db.collection("products"),
            stored_rating: None,
        }
    }

    /// Sorts `-rating` by a stored average in `field` (an indexed `find`) instead of computing
    /// it per query (an aggregation over every matching product). Whoever passes `field`
    /// keeps it: the average of a rated product, absent on an unrated one.
    pub fn with_stored_rating(mut self, field: &'static str) -> Self {
        self.stored_rating = Some(field);
        self
    }

    /// The rating sort: an aggregation, because its key is computed. Only this sort pays for
    /// one; the others are plain `find`s an index can serve.
    fn rating_pipeline(
        query: &ListingQuery,
        after: Option<&Position>,
        fetch: u64,
    ) -> Vec<Document> {
        let mut pipeline = vec![
            doc! { "$match": query.filter.to_document() },
            doc! { "$addFields": {
                RATING_FIELD: { "$cond": [
                    { "$gt": ["$rating_count", 0_i64] },
                    { "$divide": ["$rating_sum", "$rating_count"] },
                    0.0,
                ] },
                ID_TEXT_FIELD: { "$toString": "$_id" },
            } },
        ];
        if let Some(after) = after {
            pipeline.push(doc! { "$match": after.keyset() });
        }
        pipeline.push(doc! { "$sort": query.sort.sort_document() });
        if let Window::Page(page) = &query.window
            && page.skip() > 0
        {
            pipeline.push(doc! { "$skip": to_i64(page.skip()) });
        }
        pipeline.push(doc! { "$limit": to_i64(fetch) });
        pipeline
    }

    async fn fetch(
        &self,
        query: &ListingQuery,
        after: Option<&Position>,
        fetch: u64,
    ) -> StoreResult<Vec<Document>> {
        let stored_rating = self
            .stored_rating
            .filter(|_| query.sort == SortKey::RatingDesc);
        if query.sort == SortKey::RatingDesc && stored_rating.is_none() {
            return self
                .products
                .aggregate(Self::rating_pipeline(query, after, fetch))
                .await
                .map_err(map_err("id"))?
                .try_collect()
                .await
                .map_err(map_err("id"));
        }
        let mut filter = query.filter.to_document();
        if let Some(after) = after {
            // The filter never uses `_id` or `$or`, the keyset's only keys.
            filter.extend(match stored_rating {
                Some(field) => after.stored_rating_keyset(field),
                None => after.keyset(),
            });
        }
        let sort = match stored_rating {
            Some(field) => doc! { field: -1, "_id": 1 },
            None => query.sort.sort_document(),
        };
        let mut find = self.products.find(filter).sort(sort).limit(to_i64(fetch));
        if let Window::Page(page) = &query.window {
            find = find.skip(page.skip());
        }
        find.await
            .map_err(map_err("id"))?
            .try_collect()
            .await
            .map_err(map_err("id"))
    }
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[async_trait]
impl ProductSearch for MongoSearch {
    #[tracing::instrument(skip(self))]
    async fn search(&self, query: &ListingQuery) -> StoreResult<ProductPage> {
        let (after, limit, fetch) = match &query.window {
            Window::Page(page) => (None, page.limit, page.limit),
            Window::Cursor { after, limit } => {
                let after = after
                    .as_ref()
                    .map(|c| c.position(query.sort))
                    .transpose()
                    .map_err(|e| StoreError::Other(anyhow::anyhow!("unchecked cursor: {e}")))?;
                // One more than asked tells whether a next page exists.
                (after, *limit, limit.saturating_add(1))
            }
        };
        let docs = self.fetch(query, after.as_ref(), fetch).await?;
        let mut items = docs
            .into_iter()
            .map(product_from_document)
            .collect::<StoreResult<Vec<_>>>()?;
        match &query.window {
            Window::Page(_) => {
                let total =
                    common::store::mongo::count(&self.products, query.filter.to_document()).await?;
                Ok(ProductPage {
                    items,
                    cursors: Vec::new(),
                    next_cursor: None,
                    total: Some(total),
                })
            }
            Window::Cursor { .. } => {
                let more = items.len() as u64 > limit;
                items.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
                let cursors: Vec<Cursor> =
                    items.iter().map(|p| Cursor::after(p, query.sort)).collect();
                let next_cursor = if more { cursors.last().cloned() } else { None };
                Ok(ProductPage {
                    items,
                    cursors,
                    next_cursor,
                    total: None,
                })
            }
        }
    }
}

/// The indexes the listing's filters and sorts use: the text index `q` needs (MongoDB refuses
/// `$text` without one) and one per indexed sort or exact filter. Idempotent: creating an index that exists is a no-op, so this runs at every
/// start. The rating sort is computed per query and cannot use an index.
pub async fn ensure_indexes(db: &mongodb::Database) -> anyhow::Result<()> {
    let products = db.collection::<Document>("products");
    let text = IndexModel::builder()
        .keys(doc! { "name": "text", "description": "text", "tags": "text" })
        .options(
            IndexOptions::builder()
                .name("products_text".to_owned())
                .build(),
        )
        .build();
    if let Err(error) = products.create_index(text).await {
        // The local stand-in (nx-27017) refuses to create an existing text index again once
        // the collection holds documents ("constraint failed"), where MongoDB answers that it
        // exists. A text search works only with the index, so it tells the two cases apart.
        let probe = products
            .find_one(doc! { "$text": { "$search": "stepwise" } })
            .await;
        if probe.is_err() {
            return Err(error).context("creating the products text index");
        }
        tracing::debug!(%error, "the products text index exists already");
    }
    // Single fields, not `{field: 1, _id: 1}` as the keyset would like best: the local
    // stand-in server (nx-27017) fails every later insert once an index names `_id` beside
    // another field. MongoDB serves the tie-break from the sorted field's index well enough
    // at this size; step 4 measures it.
    for keys in [
        doc! { "price_minor": 1 },
        doc! { "name": 1 },
        doc! { "category": 1 },
        doc! { "tags": 1 },
    ] {
        products
            .create_index(IndexModel::builder().keys(keys.clone()).build())
            .await
            .with_context(|| format!("creating the products index {keys}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
