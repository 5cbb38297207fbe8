//! Deleting a product deletes its image: a decorator around the product store, so
//! `DELETE /api/v1/products/{id}`, and any route that deletes through the store, takes the
//! image along without knowing of images.
//!
//! The image goes first. Were the product deleted first and the object store then down, an
//! image would remain for a product that no longer exists; this way a store that is down
//! fails the delete (503) with the product and its image both still there.

use std::sync::Arc;

use async_trait::async_trait;
use common::domain::{NewProduct, Page, Paged, Product, ProductId, Rating};
use common::store::{ProductStore, StockMove, StoreResult};

use super::images::ProductImages;

/// `inner`, whose `delete` deletes the product's image first.
pub struct WithImages {
    inner: Arc<dyn ProductStore>,
    images: ProductImages,
}

impl WithImages {
    pub fn wrap(inner: Arc<dyn ProductStore>, images: ProductImages) -> Arc<dyn ProductStore> {
        Arc::new(Self { inner, images })
    }
}

#[async_trait]
impl ProductStore for WithImages {
    async fn delete(&self, id: ProductId) -> StoreResult<bool> {
        self.images.delete(id).await?;
        self.inner.delete(id).await
    }

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
        self.inner.adjust_rating(id, rating, sign).await
    }
}
