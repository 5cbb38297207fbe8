//! The `products` collection. Stock changes are single conditional updates (`$inc` guarded by
//! `stock >= quantity`), so concurrent orders can never drive stock below zero.

use async_trait::async_trait;
use futures::TryStreamExt;
use mongodb::bson::{DateTime, Document, doc, oid::ObjectId};
use mongodb::{ClientSession, Collection, Database};
use serde::{Deserialize, Serialize};

use super::{CatalogDb, Mongo, corrupt, from_bson_date, map_err, now, to_bson_date, to_i64};
use crate::domain::{Currency, Money, NewProduct, Page, Paged, Product, ProductId, Rating, Sku};
use crate::store::{ProductStore, StockMove, StoreError, StoreResult};

#[derive(Debug, Serialize, Deserialize)]
struct ProductDoc {
    #[serde(rename = "_id")]
    id: ObjectId,
    sku: String,
    name: String,
    description: String,
    price_minor: i64,
    currency: String,
    stock: i64,
    category: String,
    tags: Vec<String>,
    rating_sum: i64,
    rating_count: i64,
    #[serde(deserialize_with = "super::date")]
    created_at: DateTime,
    #[serde(deserialize_with = "super::date")]
    updated_at: DateTime,
}

impl ProductDoc {
    fn into_product(self) -> StoreResult<Product> {
        let currency = Currency::parse(&self.currency).map_err(|e| corrupt("product", e))?;
        Ok(Product {
            id: ProductId::from_object_id(self.id),
            sku: Sku::parse(&self.sku).map_err(|e| corrupt("product", e))?,
            name: self.name,
            description: self.description,
            price: Money::price(self.price_minor, currency).map_err(|e| corrupt("product", e))?,
            stock: self.stock,
            category: self.category,
            tags: self.tags,
            rating_sum: self.rating_sum,
            rating_count: self.rating_count,
            created_at: from_bson_date(self.created_at),
            updated_at: from_bson_date(self.updated_at),
        })
    }
}

/// Maps a raw `products` document (read by a query this module does not make, e.g. step 2's
/// filtered listing) to a product, so the document's mapping lives in one place. Fields the
/// document carries beyond a product's (a computed sort key) are ignored.
pub fn product_from_document(doc: Document) -> StoreResult<Product> {
    let doc: ProductDoc = mongodb::bson::from_document(doc).map_err(|e| corrupt("product", e))?;
    doc.into_product()
}

/// The `$set` body for the editable fields.
fn editable_fields(p: &NewProduct) -> Document {
    doc! {
        "sku": p.sku.as_str(),
        "name": &p.name,
        "description": &p.description,
        "price_minor": p.price.minor,
        "currency": p.price.currency.as_str(),
        "stock": p.stock,
        "category": &p.category,
        "tags": &p.tags,
        "updated_at": to_bson_date(now()),
    }
}

/// Every operation runs in a session of the catalog's ([`CatalogDb::session`]), handed back
/// when it is done ([`CatalogDb::observe`]): what ties a read after a write to it when the
/// reads go to a secondary (see [`super::Mongo`]).
pub struct MongoProducts {
    catalog: CatalogDb,
    /// Writes, and the reads that check what a write did.
    products: Collection<ProductDoc>,
    /// Reads that may be served by a secondary.
    reads: Collection<ProductDoc>,
}

impl MongoProducts {
    /// Over `db` alone, every read on it (tools and tests that hold a bare database).
    pub fn new(db: &Database) -> Self {
        Self::over(Mongo::plain(db.clone()).catalog())
    }

    /// Over the catalog's handles: what a step's stores use.
    pub fn over(catalog: &CatalogDb) -> Self {
        Self {
            catalog: catalog.clone(),
            products: catalog.primary("products"),
            reads: catalog.reads("products"),
        }
    }

    async fn collect(
        &self,
        filter: Document,
        page: Option<Page>,
        session: &mut ClientSession,
    ) -> StoreResult<Vec<Product>> {
        let mut find = self.reads.find(filter).sort(doc! { "_id": 1 });
        if let Some(page) = page {
            find = find.skip(page.skip()).limit(to_i64(page.limit));
        }
        let docs: Vec<ProductDoc> = find
            .session(&mut *session)
            .await
            .map_err(map_err("id"))?
            .stream(session)
            .try_collect()
            .await
            .map_err(map_err("id"))?;
        docs.into_iter().map(ProductDoc::into_product).collect()
    }

    /// One product from `collection`: the reads', or the primary's after a write.
    async fn find(
        &self,
        collection: &Collection<ProductDoc>,
        id: ProductId,
        session: &mut ClientSession,
    ) -> StoreResult<Option<Product>> {
        collection
            .find_one(doc! { "_id": id.object_id() })
            .session(session)
            .await
            .map_err(map_err("id"))?
            .map(ProductDoc::into_product)
            .transpose()
    }
}

#[async_trait]
impl ProductStore for MongoProducts {
    #[tracing::instrument(skip(self))]
    async fn list(&self, page: Page) -> StoreResult<Paged<Product>> {
        let mut session = self.catalog.session().await?;
        let items = self.collect(doc! {}, Some(page), &mut session).await?;
        let total = super::count(&self.reads, doc! {}, Some(&mut session)).await?;
        self.catalog.observe(&session);
        Ok(Paged { items, page, total })
    }

    #[tracing::instrument(skip(self))]
    async fn get(&self, id: ProductId) -> StoreResult<Option<Product>> {
        let mut session = self.catalog.session().await?;
        let product = self.find(&self.reads, id, &mut session).await?;
        self.catalog.observe(&session);
        Ok(product)
    }

    #[tracing::instrument(skip_all, fields(count = ids.len()))]
    async fn get_many(&self, ids: &[ProductId]) -> StoreResult<Vec<Product>> {
        let ids: Vec<ObjectId> = ids.iter().map(ProductId::object_id).collect();
        let mut session = self.catalog.session().await?;
        let products = self
            .collect(doc! { "_id": { "$in": ids } }, None, &mut session)
            .await?;
        self.catalog.observe(&session);
        Ok(products)
    }

    #[tracing::instrument(skip_all, fields(sku = %product.sku))]
    async fn insert(&self, product: NewProduct) -> StoreResult<Product> {
        let at = to_bson_date(now());
        let doc = ProductDoc {
            id: ObjectId::new(),
            sku: product.sku.as_str().to_owned(),
            name: product.name,
            description: product.description,
            price_minor: product.price.minor,
            currency: product.price.currency.as_str().to_owned(),
            stock: product.stock,
            category: product.category,
            tags: product.tags,
            rating_sum: 0,
            rating_count: 0,
            created_at: at,
            updated_at: at,
        };
        let mut session = self.catalog.session().await?;
        self.products
            .insert_one(&doc)
            .session(&mut session)
            .await
            .map_err(map_err("sku"))?;
        self.catalog.observe(&session);
        doc.into_product()
    }

    async fn insert_if_absent(&self, product: NewProduct) -> StoreResult<bool> {
        match self.insert(product).await {
            Ok(_) => Ok(true),
            Err(StoreError::Duplicate(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `update_one` then a read, rather than `find_one_and_update`: the stand-in server's
    /// `find_one_and_update` answers "no document" instead of a duplicate-key error when the
    /// new SKU is taken, which would turn a 409 into a 404. The read is the primary's, in the
    /// same session: the answer is the product as updated.
    #[tracing::instrument(skip(self, product))]
    async fn update(&self, id: ProductId, product: NewProduct) -> StoreResult<Option<Product>> {
        let mut session = self.catalog.session().await?;
        let result = self
            .products
            .update_one(
                doc! { "_id": id.object_id() },
                doc! { "$set": editable_fields(&product) },
            )
            .session(&mut session)
            .await
            .map_err(map_err("sku"))?;
        let updated = if result.matched_count == 0 {
            None
        } else {
            self.find(&self.products, id, &mut session).await?
        };
        self.catalog.observe(&session);
        Ok(updated)
    }

    #[tracing::instrument(skip(self))]
    async fn delete(&self, id: ProductId) -> StoreResult<bool> {
        let mut session = self.catalog.session().await?;
        let result = self
            .products
            .delete_one(doc! { "_id": id.object_id() })
            .session(&mut session)
            .await
            .map_err(map_err("id"))?;
        self.catalog.observe(&session);
        Ok(result.deleted_count == 1)
    }

    #[tracing::instrument(skip(self))]
    async fn take_stock(&self, id: ProductId, quantity: u32) -> StoreResult<bool> {
        let quantity = i64::from(quantity);
        let mut session = self.catalog.session().await?;
        let result = self
            .products
            .update_one(
                doc! { "_id": id.object_id(), "stock": { "$gte": quantity } },
                doc! {
                    "$inc": { "stock": -quantity },
                    "$set": { "updated_at": to_bson_date(now()) },
                },
            )
            .session(&mut session)
            .await
            .map_err(map_err("id"))?;
        self.catalog.observe(&session);
        Ok(result.modified_count == 1)
    }

    #[tracing::instrument(skip(self))]
    async fn return_stock(&self, id: ProductId, quantity: u32) -> StoreResult<()> {
        let mut session = self.catalog.session().await?;
        self.products
            .update_one(
                doc! { "_id": id.object_id() },
                doc! {
                    "$inc": { "stock": i64::from(quantity) },
                    "$set": { "updated_at": to_bson_date(now()) },
                },
            )
            .session(&mut session)
            .await
            .map_err(map_err("id"))?;
        self.catalog.observe(&session);
        Ok(())
    }

    /// One conditional update: the filter asks for no mark of `op` yet (and enough stock for a
    /// take), the update moves the stock and sets the mark. When it matches nothing, one read
    /// of the primary, in the same session, tells a repeat (the mark is there) from a short
    /// take or a missing product.
    #[tracing::instrument(skip(self))]
    async fn move_stock(&self, id: ProductId, delta: i64, op: &str) -> StoreResult<StockMove> {
        // `$nin` rather than the equivalent `$ne`: the local MongoDB stand-in evaluates `$ne`
        // on an array wrongly in an update's filter (it matches when the mark is there).
        let mut filter = doc! { "_id": id.object_id(), "stock_moves": { "$nin": [op] } };
        if delta < 0 {
            filter.insert("stock", doc! { "$gte": -delta });
        }
        let mut session = self.catalog.session().await?;
        let result = self
            .products
            .update_one(
                filter,
                doc! {
                    "$inc": { "stock": delta },
                    "$push": { "stock_moves": op },
                    "$set": { "updated_at": to_bson_date(now()) },
                },
            )
            .session(&mut session)
            .await
            .map_err(map_err("id"))?;
        if result.modified_count == 1 {
            self.catalog.observe(&session);
            return Ok(StockMove::Moved);
        }
        let marks = self
            .products
            .clone_with_type::<Document>()
            .find_one(doc! { "_id": id.object_id() })
            .projection(doc! { "stock_moves": 1 })
            .session(&mut session)
            .await
            .map_err(map_err("id"))?;
        self.catalog.observe(&session);
        Ok(match marks {
            None => StockMove::Missing,
            Some(doc) => match doc.get_array("stock_moves") {
                Ok(marks) if marks.iter().any(|m| m.as_str() == Some(op)) => {
                    StockMove::AlreadyMoved
                }
                _ => StockMove::Short,
            },
        })
    }

    #[tracing::instrument(skip(self))]
    async fn forget_stock_move(&self, id: ProductId, op: &str) -> StoreResult<()> {
        let mut session = self.catalog.session().await?;
        self.products
            .update_one(
                doc! { "_id": id.object_id() },
                doc! { "$pull": { "stock_moves": op } },
            )
            .session(&mut session)
            .await
            .map_err(map_err("id"))?;
        self.catalog.observe(&session);
        Ok(())
    }

    #[tracing::instrument(skip(self))]
    async fn adjust_rating(&self, id: ProductId, rating: Rating, sign: i64) -> StoreResult<bool> {
        let mut session = self.catalog.session().await?;
        let result = self
            .products
            .update_one(
                doc! { "_id": id.object_id() },
                doc! { "$inc": {
                    "rating_sum": sign * i64::from(rating.value()),
                    "rating_count": sign,
                } },
            )
            .session(&mut session)
            .await
            .map_err(map_err("id"))?;
        self.catalog.observe(&session);
        Ok(result.matched_count == 1)
    }
}
