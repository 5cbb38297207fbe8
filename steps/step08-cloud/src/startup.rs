//! Wiring: step 8's [`Step`]: step 7's preparation, parts and stop hooks; MongoDB's options
//! tuned for the managed flavour; the state plus the product images, over a product store
//! whose deletes take the image along; the routes plus the image routes.
//!
//! [`Step`]: common::Step

use common::Step;
use common::step::Extends;
use common::store::mongo::Mongo;
use derive_more::{Deref, DerefMut};

use crate::config::Config;

common::shared_state! {
    /// Step 8's application state: step 7's, plus the product images ([`State`]).
    pub struct AppState(State);
}

/// What [`AppState`] holds: step 7's state (`base`, reached through `Deref`).
#[derive(Clone, Deref, DerefMut)]
pub struct State {
    #[deref]
    #[deref_mut]
    pub base: step07_devops::AppState,
    /// Product images in object storage ([`crate::storage`]).
    pub images: crate::storage::ProductImages,
}

impl Extends for AppState {
    type Base = step07_devops::AppState;
    const NUMBER: u8 = 8;
    const TITLE: &'static str = "cloud";
    type Config = Config;
    type Parts = step06_distributed::startup::Parts;

    fn base(&self) -> &step07_devops::AppState {
        &self.base
    }

    /// `managed.mongodb`: the CA bundle, and off what the flavour lacks, after step 6's
    /// replica-set settings ([`crate::managed::tune_mongo`]).
    fn tune_own_mongo(config: &Config, options: &mut common::store::mongo::MongoOptions) {
        crate::managed::tune_mongo(&config.managed.mongodb, options);
    }

    async fn extend_parts(
        _db: &Mongo,
        _config: &Config,
        base: step06_distributed::startup::Parts,
    ) -> anyhow::Result<step06_distributed::startup::Parts> {
        Ok(base)
    }

    /// Step 7's state, over a product store whose deletes take the product's image along
    /// ([`crate::storage::products`]).
    async fn wire(
        config: &Config,
        mut parts: step06_distributed::startup::Parts,
    ) -> anyhow::Result<Self> {
        let images =
            crate::storage::ProductImages::new(&config.storage, config.environment, &parts.db)?;
        parts.stores.products = crate::storage::products::WithImages::wrap(
            parts.stores.products.clone(),
            images.clone(),
        );
        let mut base = step07_devops::AppState::from_parts(config, parts).await?;
        base.api_document = base.api_document.with(crate::storage::routes::openapi(
            images.objects().local_signer().is_some(),
        ));
        Ok(Self::from(State { base, images }))
    }

    /// The product image routes ([`crate::storage::routes`]).
    fn own_routes(&self, _config: &Config) -> axum::Router {
        crate::storage::routes::router(crate::storage::routes::ImagesState {
            images: self.images.clone(),
            catalog: self.catalog.clone(),
            verifier: self.verifier.clone(),
        })
    }
}
