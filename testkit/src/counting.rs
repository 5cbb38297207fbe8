//! Counting decorators over a step's real stores: a test wraps the stores its app is built
//! from (`Spawn::parts`) and asserts how many store calls (database or cache round trips) a
//! request costs, e.g. that a page of orders reads its products in one batch, not one each.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use common::domain::{
    NewProduct, NewReview, Page, Paged, Product, ProductId, Rating, Review, ReviewId,
};
use common::store::{ProductStore, ReviewStore, StockMove, StoreResult};

/// Store calls, by store.
#[derive(Default)]
pub struct Calls {
    pub products: AtomicUsize,
    pub reviews: AtomicUsize,
}

impl Calls {
    pub fn products(&self) -> usize {
        self.products.load(Ordering::SeqCst)
    }
    pub fn reviews(&self) -> usize {
        self.reviews.load(Ordering::SeqCst)
    }
    pub fn reset(&self) {
        self.products.store(0, Ordering::SeqCst);
        self.reviews.store(0, Ordering::SeqCst);
    }
}

pub struct CountedProducts(pub Arc<dyn ProductStore>, pub Arc<Calls>);

impl CountedProducts {
    fn tick(&self) {
        self.1.products.fetch_add(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl ProductStore for CountedProducts {
    async fn list(&self, page: Page) -> StoreResult<Paged<Product>> {
        self.tick();
        self.0.list(page).await
    }
    async fn get(&self, id: ProductId) -> StoreResult<Option<Product>> {
        self.tick();
        self.0.get(id).await
    }
    async fn get_many(&self, ids: &[ProductId]) -> StoreResult<Vec<Product>> {
        self.tick();
        self.0.get_many(ids).await
    }
    async fn insert(&self, product: NewProduct) -> StoreResult<Product> {
        self.tick();
        self.0.insert(product).await
    }
    async fn insert_if_absent(&self, product: NewProduct) -> StoreResult<bool> {
        self.tick();
        self.0.insert_if_absent(product).await
    }
    async fn update(&self, id: ProductId, product: NewProduct) -> StoreResult<Option<Product>> {
        self.tick();
        self.0.update(id, product).await
    }
    async fn delete(&self, id: ProductId) -> StoreResult<bool> {
        self.tick();
        self.0.delete(id).await
    }
    async fn take_stock(&self, id: ProductId, quantity: u32) -> StoreResult<bool> {
        self.tick();
        self.0.take_stock(id, quantity).await
    }
    async fn return_stock(&self, id: ProductId, quantity: u32) -> StoreResult<()> {
        self.tick();
        self.0.return_stock(id, quantity).await
    }
    async fn move_stock(&self, id: ProductId, delta: i64, op: &str) -> StoreResult<StockMove> {
        self.tick();
        self.0.move_stock(id, delta, op).await
    }
    async fn forget_stock_move(&self, id: ProductId, op: &str) -> StoreResult<()> {
        self.tick();
        self.0.forget_stock_move(id, op).await
    }
    async fn adjust_rating(&self, id: ProductId, rating: Rating, sign: i64) -> StoreResult<bool> {
        self.tick();
        self.0.adjust_rating(id, rating, sign).await
    }
}

pub struct CountedReviews(pub Arc<dyn ReviewStore>, pub Arc<Calls>);

impl CountedReviews {
    fn tick(&self) {
        self.1.reviews.fetch_add(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl ReviewStore for CountedReviews {
    async fn insert(&self, review: NewReview) -> StoreResult<Review> {
        self.tick();
        self.0.insert(review).await
    }
    async fn list_for_product(&self, product: ProductId, page: Page) -> StoreResult<Paged<Review>> {
        self.tick();
        self.0.list_for_product(product, page).await
    }
    async fn latest_for_products(
        &self,
        products: &[ProductId],
        per_product: u64,
    ) -> StoreResult<Vec<Review>> {
        self.tick();
        self.0.latest_for_products(products, per_product).await
    }
    async fn delete(&self, id: ReviewId) -> StoreResult<()> {
        self.tick();
        self.0.delete(id).await
    }
}
