//! [`MongoSearch`], the MongoDB listing: one query per page (a `find` an index can serve, or
//! an aggregation for the computed rating sort), a count for offset pages, and
//! [`ensure_indexes`], the indexes its filters and sorts use.

use anyhow::Context;
use async_trait::async_trait;
use common::store::mongo::{CatalogDb, map_err, product_from_document};
use common::store::{StoreError, StoreResult};
use futures::TryStreamExt;
use mongodb::bson::{Document, doc};
use mongodb::options::IndexOptions;
use mongodb::{ClientSession, IndexModel};

use super::cursor::{Cursor, Position};
use super::query::{ID_TEXT_FIELD, ListingQuery, RATING_FIELD, SortKey, Window};
use super::{ProductPage, ProductSearch};

/// The MongoDB listing: one query per page (filter, keyset, sort, window), plus a count for
/// offset pages, both read where the catalog's reads go, in one of its sessions.
pub struct MongoSearch {
    catalog: CatalogDb,
    products: mongodb::Collection<Document>,
    /// The field holding each rated product's average, when something keeps one (step 4);
    /// `None`: the `-rating` sort computes it per query.
    stored_rating: Option<&'static str>,
}

impl MongoSearch {
    pub fn new(catalog: &CatalogDb) -> Self {
        Self {
            catalog: catalog.clone(),
            products: catalog.reads("products"),
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
        session: &mut ClientSession,
    ) -> StoreResult<Vec<Document>> {
        let stored_rating = self
            .stored_rating
            .filter(|_| query.sort == SortKey::RatingDesc);
        if query.sort == SortKey::RatingDesc && stored_rating.is_none() {
            return self
                .products
                .aggregate(Self::rating_pipeline(query, after, fetch))
                .session(&mut *session)
                .await
                .map_err(map_err("id"))?
                .stream(session)
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
        find.session(&mut *session)
            .await
            .map_err(map_err("id"))?
            .stream(session)
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
        let mut session = self.catalog.session().await?;
        let docs = self
            .fetch(query, after.as_ref(), fetch, &mut session)
            .await?;
        let mut items = docs
            .into_iter()
            .map(product_from_document)
            .collect::<StoreResult<Vec<_>>>()?;
        match &query.window {
            Window::Page(_) => {
                let total = common::store::mongo::count(
                    &self.products,
                    query.filter.to_document(),
                    Some(&mut session),
                )
                .await?;
                self.catalog.observe(&session);
                Ok(ProductPage {
                    items,
                    cursors: Vec::new(),
                    next_cursor: None,
                    total: Some(total),
                })
            }
            Window::Cursor { .. } => {
                self.catalog.observe(&session);
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
/// `$text` without one) and one per indexed sort or exact filter. Idempotent: creating an
/// index that exists is a no-op, so this runs at every start. The rating sort is computed per
/// query and cannot use an index.
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
