//! testkit's counting store decorators, a counted listing, and a step-2 app built on them: the
//! batched-loading tests assert how many store calls (database round trips) a query costs.
//!
//! The app's product listing is the real [`MongoSearch`], counted with the product store.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use async_trait::async_trait;
use common::store::StoreResult;
use step02_apis::Config;
use step02_apis::listing::{ListingQuery, ProductPage, ProductSearch};
pub use testkit::counting::{Calls, CountedProducts, CountedReviews};

use crate::support::App;

/// The real MongoDB listing, counted with the product store: one search is one round trip.
pub struct CountedSearch(pub Arc<dyn ProductSearch>, pub Arc<Calls>);

#[async_trait]
impl ProductSearch for CountedSearch {
    async fn search(&self, query: &ListingQuery) -> StoreResult<ProductPage> {
        self.1.products.fetch_add(1, Ordering::SeqCst);
        self.0.search(query).await
    }
}

/// A step-2 app whose product store, listing and review store count their calls.
pub async fn spawn_counted() -> (App, Arc<Calls>) {
    spawn_counted_with(|_| {}).await
}

/// [`spawn_counted`] with `customize` applied to the test configuration.
pub async fn spawn_counted_with(
    customize: impl FnOnce(&mut Config) + Send + 'static,
) -> (App, Arc<Calls>) {
    let calls = Arc::new(Calls::default());
    let counter = calls.clone();
    let app = App::builder()
        // The store calls are counted: a machine busy with other tests must not split one
        // page's loads into two batches by polling its resolvers more than 1 ms apart.
        .config(|config| config.apis.graphql.loader_delay_ms = 25)
        .config(customize)
        .parts(move |parts| {
            parts.stores.products = Arc::new(CountedProducts(
                parts.stores.products.clone(),
                counter.clone(),
            ));
            parts.stores.reviews = Arc::new(CountedReviews(
                parts.stores.reviews.clone(),
                counter.clone(),
            ));
            parts.search = Arc::new(CountedSearch(parts.search.clone(), counter));
            Ok(())
        })
        .spawn()
        .await;
    (app, calls)
}
