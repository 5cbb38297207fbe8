//! The `-rating` sort from a stored, indexed average instead of one computed per query.
//!
//! Steps 0-3 keep a running `rating_sum` and `rating_count` on each product (one `$inc` per
//! review) and step 2 sorts `-rating` by computing `sum / count` in an aggregation: every
//! matching product is read and divided for each page. The large catalog's load runs showed
//! what that costs at 100,000 products (chapter 4, "What the load runs found"). Step 4 keeps
//! the average itself in `rating_avg`, indexed, and step 2's search sorts by it
//! ([`step02_apis::listing::MongoSearch::with_stored_rating`]).
//!
//! The field exists exactly on rated products (an average is at least 1); an unrated product
//! has none and sorts last, as its computed 0 did. It is derived data, kept by
//! [`RatedProducts`] after each change of the running sum:
//!
//! - it reads the sum and count back and sets their average only if they are still the same
//!   (a compare-and-set), so two reviews racing each other never leave an older average: the
//!   writer of the last change always reads that final state and sets its average;
//! - MongoDB could do it in one pipeline update (`$set` with `$divide`); the local stand-in
//!   cannot, and the compare-and-set is correct on both;
//! - when refreshing it fails, the review stands (it is stored and counted) and the average
//!   catches up with that product's next review: the sort may be briefly off, a review is
//!   never lost.
//!
//! [`backfill`] sets the field at startup on rated products that lack it (a catalog rated
//! under steps 0-3).

use std::sync::Arc;

use async_trait::async_trait;
use common::domain::{NewProduct, Page, Paged, Product, ProductId, Rating};
use common::store::mongo::map_err;
use common::store::{ProductStore, StockMove, StoreResult};
use futures::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};
use mongodb::{Collection, Database};

/// The stored average's field.
pub const FIELD: &str = "rating_avg";

/// The average step 2's cursors record for `sum` over `count` (the same IEEE division), so a
/// stored value equals a cursor's value bit for bit.
pub fn average(sum: i64, count: i64) -> Option<f64> {
    (count > 0).then(|| sum as f64 / count as f64)
}

fn number(doc: &Document, field: &str) -> i64 {
    match doc.get(field) {
        Some(Bson::Int32(n)) => i64::from(*n),
        Some(Bson::Int64(n)) => *n,
        Some(Bson::Double(n)) => *n as i64,
        _ => 0,
    }
}

/// Sets `rating_avg` from the sum and count read in `doc`, only if they are still those.
/// True when this write took (false: another change came in between and its writer sets it).
async fn set_average(products: &Collection<Document>, doc: &Document) -> StoreResult<bool> {
    let Some(id) = doc.get("_id").cloned() else {
        return Ok(false);
    };
    let (sum, count) = (number(doc, "rating_sum"), number(doc, "rating_count"));
    let update = match average(sum, count) {
        Some(avg) => doc! { "$set": { FIELD: avg } },
        None => doc! { "$unset": { FIELD: "" } },
    };
    let result = products
        .update_one(
            doc! { "_id": id, "rating_sum": sum, "rating_count": count },
            update,
        )
        .await
        .map_err(map_err("id"))?;
    Ok(result.matched_count == 1)
}

/// The product store with the stored average kept after each rating change.
pub struct RatedProducts {
    inner: Arc<dyn ProductStore>,
    products: Collection<Document>,
}

impl RatedProducts {
    pub fn new(inner: Arc<dyn ProductStore>, db: &Database) -> Self {
        Self {
            inner,
            products: db.collection("products"),
        }
    }

    /// Reads the product's running sum back and stores its average.
    async fn refresh(&self, id: ProductId) -> StoreResult<()> {
        let current = self
            .products
            .find_one(doc! { "_id": id.object_id() })
            .projection(doc! { "rating_sum": 1, "rating_count": 1 })
            .await
            .map_err(map_err("id"))?;
        if let Some(current) = current {
            set_average(&self.products, &current).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl ProductStore for RatedProducts {
    async fn list(&self, page: Page) -> StoreResult<Paged<Product>> {
        self.inner.list(page).await
    }
    async fn get(&self, id: ProductId) -> StoreResult<Option<Product>> {
        self.inner.get(id).await
    }
    async fn get_many(&self, ids: &[ProductId]) -> StoreResult<Vec<Product>> {
        self.inner.get_many(ids).await
    }
    async fn insert(&self, product: NewProduct) -> StoreResult<Product> {
        self.inner.insert(product).await
    }
    async fn insert_if_absent(&self, product: NewProduct) -> StoreResult<bool> {
        self.inner.insert_if_absent(product).await
    }
    async fn update(&self, id: ProductId, product: NewProduct) -> StoreResult<Option<Product>> {
        self.inner.update(id, product).await
    }
    async fn delete(&self, id: ProductId) -> StoreResult<bool> {
        self.inner.delete(id).await
    }
    async fn take_stock(&self, id: ProductId, quantity: u32) -> StoreResult<bool> {
        self.inner.take_stock(id, quantity).await
    }
    async fn return_stock(&self, id: ProductId, quantity: u32) -> StoreResult<()> {
        self.inner.return_stock(id, quantity).await
    }
    async fn move_stock(&self, id: ProductId, delta: i64, op: &str) -> StoreResult<StockMove> {
        self.inner.move_stock(id, delta, op).await
    }
    async fn forget_stock_move(&self, id: ProductId, op: &str) -> StoreResult<()> {
        self.inner.forget_stock_move(id, op).await
    }
    async fn adjust_rating(&self, id: ProductId, rating: Rating, sign: i64) -> StoreResult<bool> {
        let changed = self.inner.adjust_rating(id, rating, sign).await?;
        if changed && let Err(error) = self.refresh(id).await {
            // The rating itself is counted; only the sort key lags (see the module header).
            tracing::warn!(%error, product = %id, "could not refresh the stored rating average");
        }
        Ok(changed)
    }
}

/// Sets the average on every rated product that has none; returns how many were set.
pub async fn backfill(db: &Database) -> anyhow::Result<u64> {
    let products = db.collection::<Document>("products");
    let mut missing = products
        .find(doc! { "rating_count": { "$gt": 0_i64 }, FIELD: { "$exists": false } })
        .projection(doc! { "rating_sum": 1, "rating_count": 1 })
        .await?;
    let mut set = 0;
    while let Some(product) = missing.try_next().await? {
        if set_average(&products, &product).await? {
            set += 1;
        }
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_average_exists_only_for_rated_products_and_matches_the_cursor_division() {
        assert_eq!(average(0, 0), None);
        assert_eq!(average(9, 2), Some(4.5));
        let (sum, count) = (7_i64, 3_i64);
        assert_eq!(
            average(sum, count).unwrap().to_bits(),
            (sum as f64 / count as f64).to_bits()
        );
    }

    #[test]
    fn counts_are_read_whatever_integer_type_stored_them() {
        let doc = doc! { "rating_sum": 7_i32, "rating_count": 2_i64 };
        assert_eq!(number(&doc, "rating_sum"), 7);
        assert_eq!(number(&doc, "rating_count"), 2);
        assert_eq!(number(&doc, "missing"), 0);
    }
}
