//! The product listing every API shares: filters, a whitelist of sort keys, and two ways to
//! page, `page`/`limit` (v1 compatibility) and opaque cursors (v2 and GraphQL). Cursors
//! are keyset pagination: "the items after (sort value, id)", so a product inserted while a
//! client pages can never shift a page and make it see an item twice or miss one.
//!
//! [`ProductSearch`] is the seam: MongoDB implements it ([`MongoSearch`]), step 3 wraps it
//! in a cache. The HTTP and GraphQL layers only parse their parameters into a
//! [`ListingQuery`] and call [`Listing::search`].
//!
//! - `query`: [`ProductFilter`], [`SortKey`] and [`Window`], together a [`ListingQuery`];
//! - `text`: [`FilterText`], the one rule for a filter's text, whichever API it came through;
//! - `cursor`: the [`Cursor`], its wire form and checksum, and the keyset it stands for;
//! - `mongo`: [`MongoSearch`] and the indexes it needs ([`ensure_indexes`]).

mod cursor;
mod mongo;
mod query;
mod text;

use std::sync::Arc;

use async_trait::async_trait;
use common::domain::{Page, Product};
use common::error::{Error, Result};
use common::store::StoreResult;

pub use cursor::Cursor;
pub use mongo::{MongoSearch, ensure_indexes};
pub use query::{ListingQuery, ProductFilter, SortKey, Window};
pub use text::{CategoryText, FilterText, SearchText, TagText};

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

#[cfg(test)]
mod tests;
