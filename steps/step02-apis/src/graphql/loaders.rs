//! Batched loading (DataLoader). Resolvers ask for one product or one product's reviews; the
//! loader collects every key asked for while the current level of the query resolves and
//! answers them all with ONE store call. Without it, a page of 50 products with their reviews
//! costs 51 queries (the N+1 problem); with it, two.
//!
//! Loaders are made per request (see [`super::http`]): what one request loaded is never seen
//! by another, whatever the signed-in user may see.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use common::domain::{Product, ProductId, Review};
use common::error::Error;
use common::store::{ProductStore, ReviewStore};

/// Products by id, for order items: `ProductStore::get_many`.
pub struct ProductsById(pub Arc<dyn ProductStore>);

/// The newest reviews of products, at most `per_product` each:
/// `ReviewStore::latest_for_products` (one aggregation over all requested products).
pub struct ReviewsByProduct {
    pub reviews: Arc<dyn ReviewStore>,
    pub per_product: u64,
}

/// Loader errors are shared by every resolver that waited on the batch, hence `Arc`.
pub type LoadError = Arc<Error>;

impl Loader<ProductId> for ProductsById {
    type Value = Product;
    type Error = LoadError;

    async fn load(&self, keys: &[ProductId]) -> Result<HashMap<ProductId, Product>, LoadError> {
        let products = self
            .0
            .get_many(keys)
            .await
            .map_err(|e| Arc::new(e.into()))?;
        Ok(products.into_iter().map(|p| (p.id, p)).collect())
    }
}

impl Loader<ProductId> for ReviewsByProduct {
    type Value = Vec<Review>;
    type Error = LoadError;

    async fn load(&self, keys: &[ProductId]) -> Result<HashMap<ProductId, Vec<Review>>, LoadError> {
        let reviews = self
            .reviews
            .latest_for_products(keys, self.per_product)
            .await
            .map_err(|e| Arc::new(e.into()))?;
        // Every key gets an entry, so "no reviews" is an empty list rather than a miss.
        let mut by_product: HashMap<ProductId, Vec<Review>> =
            keys.iter().map(|k| (*k, Vec::new())).collect();
        for review in reviews {
            by_product
                .entry(review.product_id)
                .or_default()
                .push(review);
        }
        Ok(by_product)
    }
}

/// The loaders of one request.
#[derive(Clone)]
pub struct Loaders {
    pub products: Arc<DataLoader<ProductsById>>,
    pub reviews: Arc<DataLoader<ReviewsByProduct>>,
}

impl Loaders {
    pub fn new(
        products: Arc<dyn ProductStore>,
        reviews: Arc<dyn ReviewStore>,
        per_product: u64,
        delay: std::time::Duration,
    ) -> Self {
        Self {
            products: Arc::new(DataLoader::new(ProductsById(products), tokio::spawn).delay(delay)),
            reviews: Arc::new(
                DataLoader::new(
                    ReviewsByProduct {
                        reviews,
                        per_product,
                    },
                    tokio::spawn,
                )
                .delay(delay),
            ),
        }
    }
}

/// A loader's shared error, back as a GraphQL error with its code.
pub fn load_error(error: LoadError) -> async_graphql::Error {
    super::errors::to_graphql(match Arc::try_unwrap(error) {
        Ok(error) => error,
        Err(shared) => copy_of(&shared),
    })
}

/// Errors are not `Clone` (they may hold a source chain); a shared one is rebuilt with the same
/// status and code, its details having been logged where it was raised.
fn copy_of(error: &Error) -> Error {
    match error {
        Error::NotFound(what) => Error::NotFound(what),
        Error::Store(common::store::StoreError::Unavailable(_)) => Error::Store(
            common::store::StoreError::Unavailable(anyhow::anyhow!("{error}")),
        ),
        other => Error::Internal(anyhow::anyhow!("{other}")),
    }
}
