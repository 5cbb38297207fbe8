//! The cache as decorators over the traits the handlers already use: `ProductStore` and
//! `ReviewStore` (step 0) and `ProductSearch` (step 2's listing, shared by REST v1, v2 and
//! GraphQL). Reads go through [`CatalogCache`]; every write goes to the wrapped store, then
//! bumps the generation counters it affects, whatever its outcome (a write that failed may
//! still have landed: a timeout after MongoDB applied it), unless it certainly changed nothing.

use std::sync::Arc;

use async_trait::async_trait;
use common::domain::{
    NewProduct, NewReview, Page, Paged, Product, ProductId, Rating, Review, ReviewId,
};
use common::store::{ProductStore, ReviewStore, StockMove, StoreResult};
use sha2::{Digest, Sha256};
use step02_apis::listing::{ListingQuery, ProductPage, ProductSearch, Window};

use super::codec::PageItems;
use super::{CatalogCache, Entry};

/// `ProductStore` with cached `get`, `get_many` and `list`.
pub struct CachedProducts {
    inner: Arc<dyn ProductStore>,
    cache: CatalogCache,
}

impl CachedProducts {
    pub fn new(inner: Arc<dyn ProductStore>, cache: CatalogCache) -> Self {
        Self { inner, cache }
    }

    fn detail(&self, id: ProductId) -> Entry {
        Entry {
            gen_key: self.cache.product_gen(&id),
            base_key: self.cache.key(&format!("product:{id}")),
        }
    }

    /// After a write to product `id`: its detail and every listing page.
    async fn written(&self, id: ProductId) {
        self.cache
            .invalidate(vec![self.cache.product_gen(&id), self.cache.catalog_gen()])
            .await;
    }
}

#[async_trait]
impl ProductStore for CachedProducts {
    async fn list(&self, page: Page) -> StoreResult<Paged<Product>> {
        let entry = Entry {
            gen_key: self.cache.catalog_gen(),
            base_key: self
                .cache
                .key(&format!("products-page:{}:{}", page.page, page.limit)),
        };
        let inner = self.inner.clone();
        self.cache
            .get_or_load(entry, move || {
                Box::pin(async move { inner.list(page).await })
            })
            .await
    }

    async fn get(&self, id: ProductId) -> StoreResult<Option<Product>> {
        let inner = self.inner.clone();
        self.cache
            .get_or_load(self.detail(id), move || {
                Box::pin(async move { inner.get(id).await })
            })
            .await
    }

    async fn get_many(&self, ids: &[ProductId]) -> StoreResult<Vec<Product>> {
        let entries: Vec<Entry> = ids.iter().map(|id| self.detail(*id)).collect();
        let found: Vec<Option<Product>> = self
            .cache
            .get_many_or_load(&entries, |missing| async move {
                let wanted: Vec<ProductId> = missing.iter().map(|i| ids[*i]).collect();
                let products = self.inner.get_many(&wanted).await?;
                // One value per id asked, `None` for an unknown one (cached as such).
                Ok(wanted
                    .iter()
                    .map(|id| products.iter().find(|p| p.id == *id).cloned())
                    .collect())
            })
            .await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn insert(&self, product: NewProduct) -> StoreResult<Product> {
        let result = self.inner.insert(product).await;
        if let Ok(product) = &result {
            self.written(product.id).await;
        }
        result
    }

    async fn insert_if_absent(&self, product: NewProduct) -> StoreResult<bool> {
        let result = self.inner.insert_if_absent(product).await;
        if !matches!(result, Ok(false)) {
            self.cache.invalidate(vec![self.cache.catalog_gen()]).await;
        }
        result
    }

    async fn update(&self, id: ProductId, product: NewProduct) -> StoreResult<Option<Product>> {
        let result = self.inner.update(id, product).await;
        if !matches!(result, Ok(None)) {
            self.written(id).await;
        }
        result
    }

    async fn delete(&self, id: ProductId) -> StoreResult<bool> {
        let result = self.inner.delete(id).await;
        if !matches!(result, Ok(false)) {
            self.written(id).await;
        }
        result
    }

    async fn take_stock(&self, id: ProductId, quantity: u32) -> StoreResult<bool> {
        let result = self.inner.take_stock(id, quantity).await;
        if !matches!(result, Ok(false)) {
            self.written(id).await;
        }
        result
    }

    async fn return_stock(&self, id: ProductId, quantity: u32) -> StoreResult<()> {
        let result = self.inner.return_stock(id, quantity).await;
        self.written(id).await;
        result
    }

    async fn move_stock(&self, id: ProductId, delta: i64, op: &str) -> StoreResult<StockMove> {
        let result = self.inner.move_stock(id, delta, op).await;
        if !matches!(result, Ok(StockMove::Short | StockMove::Missing)) {
            self.written(id).await;
        }
        result
    }

    /// Only a mark changes, which no reader sees: the cached product stays right.
    async fn forget_stock_move(&self, id: ProductId, op: &str) -> StoreResult<()> {
        self.inner.forget_stock_move(id, op).await
    }

    async fn adjust_rating(&self, id: ProductId, rating: Rating, sign: i64) -> StoreResult<bool> {
        let result = self.inner.adjust_rating(id, rating, sign).await;
        if !matches!(result, Ok(false)) {
            self.written(id).await;
        }
        result
    }
}

/// `ReviewStore` with cached `list_for_product` and `latest_for_products`.
pub struct CachedReviews {
    inner: Arc<dyn ReviewStore>,
    cache: CatalogCache,
}

impl CachedReviews {
    pub fn new(inner: Arc<dyn ReviewStore>, cache: CatalogCache) -> Self {
        Self { inner, cache }
    }
}

#[async_trait]
impl ReviewStore for CachedReviews {
    async fn insert(&self, review: NewReview) -> StoreResult<Review> {
        let result = self.inner.insert(review).await;
        if result.is_ok() {
            self.cache.invalidate(vec![self.cache.reviews_gen()]).await;
        }
        result
    }

    async fn list_for_product(&self, product: ProductId, page: Page) -> StoreResult<Paged<Review>> {
        let entry = Entry {
            gen_key: self.cache.reviews_gen(),
            base_key: self
                .cache
                .key(&format!("reviews:{product}:{}:{}", page.page, page.limit)),
        };
        let inner = self.inner.clone();
        self.cache
            .get_or_load(entry, move || {
                Box::pin(async move { inner.list_for_product(product, page).await })
            })
            .await
    }

    async fn latest_for_products(
        &self,
        products: &[ProductId],
        per_product: u64,
    ) -> StoreResult<Vec<Review>> {
        let entries: Vec<Entry> = products
            .iter()
            .map(|id| Entry {
                gen_key: self.cache.reviews_gen(),
                base_key: self
                    .cache
                    .key(&format!("latest-reviews:{id}:{per_product}")),
            })
            .collect();
        let lists: Vec<Vec<Review>> = self
            .cache
            .get_many_or_load(&entries, |missing| async move {
                let wanted: Vec<ProductId> = missing.iter().map(|i| products[*i]).collect();
                let reviews = self.inner.latest_for_products(&wanted, per_product).await?;
                Ok(wanted
                    .iter()
                    .map(|id| {
                        reviews
                            .iter()
                            .filter(|r| r.product_id == *id)
                            .cloned()
                            .collect()
                    })
                    .collect())
            })
            .await?;
        Ok(lists.into_iter().flatten().collect())
    }

    async fn delete(&self, id: ReviewId) -> StoreResult<()> {
        let result = self.inner.delete(id).await;
        self.cache.invalidate(vec![self.cache.reviews_gen()]).await;
        result
    }
}

/// `ProductSearch` with cached pages, keyed by a hash of the canonical query.
pub struct CachedSearch {
    inner: Arc<dyn ProductSearch>,
    cache: CatalogCache,
}

impl CachedSearch {
    pub fn new(inner: Arc<dyn ProductSearch>, cache: CatalogCache) -> Self {
        Self { inner, cache }
    }
}

/// Every parameter that changes the answer, in one unambiguous text (JSON escapes every
/// separator), hashed. Tags are sorted: `$all` does not care about their order, so neither
/// does the key.
pub fn listing_key(query: &ListingQuery) -> String {
    let mut tags = query.filter.tags.clone();
    tags.sort();
    tags.dedup();
    let window = match &query.window {
        Window::Page(page) => serde_json::json!(["page", page.page, page.limit]),
        Window::Cursor { after, limit } => {
            serde_json::json!(["cursor", after.as_ref().map(|c| c.as_str()), limit])
        }
    };
    let canonical = serde_json::json!([
        query.filter.category,
        query.filter.min_price_minor,
        query.filter.max_price_minor,
        tags,
        query.filter.in_stock,
        query.filter.text,
        query.sort.as_str(),
        window,
    ]);
    let digest = Sha256::digest(canonical.to_string().as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("listing:{hex}")
}

#[async_trait]
impl ProductSearch for CachedSearch {
    async fn search(&self, query: &ListingQuery) -> StoreResult<ProductPage> {
        let entry = Entry {
            gen_key: self.cache.catalog_gen(),
            base_key: self.cache.key(&listing_key(query)),
        };
        let inner = self.inner.clone();
        let owned = query.clone();
        let items: PageItems = self
            .cache
            .get_or_load(entry, move || {
                Box::pin(async move { inner.search(&owned).await.map(PageItems::of) })
            })
            .await?;
        Ok(items.into_page(query))
    }
}
