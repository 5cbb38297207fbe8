//! The product listing every API shares: filters, a whitelist of sort keys, and two ways to
//! page, `page`/`limit` (v1 compatibility) and opaque cursors (v2 and GraphQL). Cursors
//! are keyset pagination: "the items after (sort value, id)", so a product inserted while a
//! client pages can never shift a page and make it see an item twice or miss one.
//!
//! [`ProductSearch`] is the seam: MongoDB implements it here ([`MongoSearch`]), step 3 wraps it
//! in a cache. The HTTP and GraphQL layers only parse their parameters into a
//! [`ListingQuery`] and call [`Listing::search`].

use std::sync::Arc;

use async_trait::async_trait;
use common::domain::{Page, Product};
use common::error::{Error, Result};
use common::store::StoreResult;

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
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cursor(String);

impl Cursor {
    /// The raw text, as clients send it back.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A cursor as a client sent it back. Opaque here: the search decodes it and checks that
    /// it belongs to the requested sort.
    pub fn from_client(text: impl Into<String>) -> Self {
        Self(text.into())
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

    pub async fn search(&self, query: &ListingQuery) -> Result<ProductPage> {
        self.search.search(query).await.map_err(Error::from)
    }
}

/// The MongoDB listing (skeleton; filled in by the REST work).
pub struct MongoSearch {
    _products: mongodb::Collection<mongodb::bson::Document>,
}

impl MongoSearch {
    pub fn new(db: &mongodb::Database) -> Self {
        Self {
            _products: db.collection("products"),
        }
    }
}

#[async_trait]
impl ProductSearch for MongoSearch {
    async fn search(&self, _query: &ListingQuery) -> StoreResult<ProductPage> {
        Err(common::store::StoreError::Other(anyhow::anyhow!(
            "the listing is not written yet"
        )))
    }
}
