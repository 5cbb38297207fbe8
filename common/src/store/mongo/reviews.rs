//! The `reviews` collection. A unique index on `(product_id, user_id)` enforces one review per
//! user per product, even under concurrent posts.

use async_trait::async_trait;
use futures::TryStreamExt;
use mongodb::bson::{DateTime, doc, oid::ObjectId};
use mongodb::{Collection, Database};
use serde::{Deserialize, Serialize};

use super::{
    CatalogDb, Mongo, corrupt, from_bson_date, map_err, now, reference, to_bson_date, to_i64,
};
use crate::domain::{NewReview, Page, Paged, ProductId, Rating, Review, ReviewId};
use crate::store::{ReviewStore, StoreResult};

#[derive(Debug, Serialize, Deserialize)]
struct ReviewDoc {
    #[serde(rename = "_id")]
    id: ObjectId,
    product_id: String,
    user_id: String,
    author_name: String,
    rating: i64,
    comment: String,
    #[serde(deserialize_with = "super::date")]
    created_at: DateTime,
}

impl ReviewDoc {
    fn into_review(self) -> StoreResult<Review> {
        Ok(Review {
            id: ReviewId::from_object_id(self.id),
            product_id: reference("review", &self.product_id)?,
            user_id: reference("review", &self.user_id)?,
            author_name: self.author_name,
            rating: Rating::parse(self.rating).map_err(|e| corrupt("review", e))?,
            comment: self.comment,
            created_at: from_bson_date(self.created_at),
        })
    }
}

/// Each operation in a session of the catalog's, as [`super::MongoProducts`]'.
pub struct MongoReviews {
    catalog: CatalogDb,
    /// Writes.
    reviews: Collection<ReviewDoc>,
    /// Reads that may be served by a secondary.
    reads: Collection<ReviewDoc>,
}

impl MongoReviews {
    /// Over `db` alone, every read on it.
    pub fn new(db: &Database) -> Self {
        Self::over(Mongo::plain(db.clone()).catalog())
    }

    /// Over the catalog's handles: what a step's stores use.
    pub fn over(catalog: &CatalogDb) -> Self {
        Self {
            catalog: catalog.clone(),
            reviews: catalog.primary("reviews"),
            reads: catalog.reads("reviews"),
        }
    }
}

#[async_trait]
impl ReviewStore for MongoReviews {
    #[tracing::instrument(skip_all, fields(product = %review.product_id, user = %review.user_id))]
    async fn insert(&self, review: NewReview) -> StoreResult<Review> {
        let doc = ReviewDoc {
            id: ObjectId::new(),
            product_id: review.product_id.to_string(),
            user_id: review.user_id.to_string(),
            author_name: review.author_name,
            rating: i64::from(review.rating.value()),
            comment: review.comment,
            created_at: to_bson_date(now()),
        };
        let mut session = self.catalog.session().await?;
        self.reviews
            .insert_one(&doc)
            .session(&mut session)
            .await
            .map_err(map_err("product_id, user_id"))?;
        self.catalog.observe(&session);
        doc.into_review()
    }

    #[tracing::instrument(skip(self))]
    async fn list_for_product(&self, product: ProductId, page: Page) -> StoreResult<Paged<Review>> {
        let filter = doc! { "product_id": product.to_string() };
        let mut session = self.catalog.session().await?;
        let docs: Vec<ReviewDoc> = self
            .reads
            .find(filter.clone())
            .sort(doc! { "_id": -1 })
            .skip(page.skip())
            .limit(to_i64(page.limit))
            .session(&mut session)
            .await
            .map_err(map_err("id"))?
            .stream(&mut session)
            .try_collect()
            .await
            .map_err(map_err("id"))?;
        let total = super::count(&self.reads, filter, Some(&mut session)).await?;
        self.catalog.observe(&session);
        let items = docs
            .into_iter()
            .map(ReviewDoc::into_review)
            .collect::<StoreResult<_>>()?;
        Ok(Paged { items, page, total })
    }

    /// One aggregation: the matching reviews numbered newest first within each product, then
    /// cut at `per_product`. `$setWindowFields` (MongoDB 5.0+) keeps the result flat, so each
    /// row is an ordinary review document; nx-27017 runs it too (its `$topN` does not work).
    #[tracing::instrument(skip(self, products), fields(products = products.len()))]
    async fn latest_for_products(
        &self,
        products: &[ProductId],
        per_product: u64,
    ) -> StoreResult<Vec<Review>> {
        if products.is_empty() || per_product == 0 {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = products.iter().map(ToString::to_string).collect();
        let pipeline = [
            doc! { "$match": { "product_id": { "$in": ids } } },
            doc! { "$setWindowFields": {
                "partitionBy": "$product_id",
                "sortBy": { "_id": -1 },
                "output": { "rank": { "$documentNumber": {} } },
            } },
            doc! { "$match": { "rank": { "$lte": to_i64(per_product) } } },
            doc! { "$project": { "rank": 0 } },
        ];
        let mut session = self.catalog.session().await?;
        let docs: Vec<mongodb::bson::Document> = self
            .reads
            .aggregate(pipeline)
            .session(&mut session)
            .await
            .map_err(map_err("id"))?
            .stream(&mut session)
            .try_collect()
            .await
            .map_err(map_err("id"))?;
        self.catalog.observe(&session);
        let mut reviews = docs
            .into_iter()
            .map(|doc| {
                mongodb::bson::from_document::<ReviewDoc>(doc)
                    .map_err(|e| corrupt("review", e))?
                    .into_review()
            })
            .collect::<StoreResult<Vec<_>>>()?;
        // The window sorts within a product; the order across products is not promised.
        reviews.sort_by_key(|r| std::cmp::Reverse(r.id));
        Ok(reviews)
    }

    #[tracing::instrument(skip(self))]
    async fn delete(&self, id: ReviewId) -> StoreResult<()> {
        let mut session = self.catalog.session().await?;
        self.reviews
            .delete_one(doc! { "_id": id.object_id() })
            .session(&mut session)
            .await
            .map_err(map_err("id"))?;
        self.catalog.observe(&session);
        Ok(())
    }
}
