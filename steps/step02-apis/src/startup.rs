//! Wiring: step 2's [`Step`]: its parts (step 1's, with the gRPC payment gateway in place of
//! the HTTP one, plus the listing search and the rate limiter), its state (step 1's, plus the
//! listing, the GraphQL schema and the rate limits), its routes (step 1's with v1's listing
//! replaced, plus `/api/v2`, `/graphql`, `/api-docs`) and its layers (rate limits inside step
//! 1's layers, the versioning headers outside them).

use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use common::Step;
use common::auth::Verifier;
use common::services::{Accounts, Catalog, HealthChecks, Ordering};
use common::step::Extends;
use common::store::mongo::Mongo;
use derive_more::{Deref, DerefMut};

use crate::config::Config;
use crate::graphql::GraphqlSchema;
use crate::listing::{Listing, MongoSearch, ProductSearch};
use crate::openapi::ApiDocument;
use crate::rate_limit::{RateLimiter, RateLimits};

common::shared_state! {
    /// Step 2's application state: step 1's, plus what step 2 adds ([`State`]), behind one
    /// `Arc` like step 1's. Handlers still ask for the piece they need (`State<Listing>`,
    /// `State<Catalog>`).
    pub struct AppState(State);
    Listing => listing,
    GraphqlSchema => graphql,
    RateLimits => rate_limits,
    ApiDocument => api_document,
    // Step 0's, asked for by step 0's routes (which step 2 serves with its own listing), v2's
    // and GraphQL's.
    Accounts => accounts,
    Catalog => catalog,
    Ordering => ordering,
    Verifier => verifier,
    HealthChecks => health,
}

/// What [`AppState`] holds: step 1's state (`base`, reached through `Deref`) and step 2's.
#[derive(Clone, Deref, DerefMut)]
pub struct State {
    /// Step 1's state, built with step 2's payment gateway (gRPC).
    #[deref]
    #[deref_mut]
    pub base: step01_security::AppState,
    pub listing: Listing,
    /// What the GraphQL endpoint runs; a later step replaces it with a schema of more fields.
    pub graphql: GraphqlSchema,
    pub rate_limits: RateLimits,
    /// What `/api-docs` serves; a later step replaces it with one that adds its paths.
    pub api_document: ApiDocument,
}

/// What step 2's state is wired from: step 1's parts (their gateway is the gRPC payments
/// service), plus the search behind listings and where rate-limit quotas are counted (this
/// process's memory; step 3 counts them in Redis, for every instance at once).
#[derive(Deref, DerefMut)]
pub struct Parts {
    #[deref]
    #[deref_mut]
    pub base: step01_security::startup::Parts,
    pub search: Arc<dyn ProductSearch>,
    pub limiter: Arc<dyn RateLimiter>,
}

impl Extends for AppState {
    type Base = step01_security::AppState;
    const NUMBER: u8 = 2;
    const TITLE: &'static str = "APIs";
    type Config = Config;
    type Parts = Parts;

    fn base(&self) -> &step01_security::AppState {
        &self.base
    }

    async fn prepare_own(db: &Mongo, _config: &Config) -> anyhow::Result<()> {
        crate::listing::ensure_indexes(db)
            .await
            .context("creating the listing's indexes")
    }

    async fn extend_parts(
        db: &Mongo,
        config: &Config,
        mut base: step01_security::startup::Parts,
    ) -> anyhow::Result<Parts> {
        base.gateway = crate::payments::gateway(config).await?;
        Ok(Parts {
            base,
            search: Arc::new(MongoSearch::new(db.catalog())),
            limiter: Arc::new(config.apis.rate_limit.in_memory_limiter()?),
        })
    }

    async fn wire(config: &Config, parts: Parts) -> anyhow::Result<Self> {
        let Parts {
            base: parts,
            search,
            limiter,
        } = parts;
        let mut base = step01_security::AppState::from_parts(config, parts).await?;
        // One answer to "which address is the client" for step 1's throttle and our limits.
        let client_ip = config.apis.rate_limit.client_ip_policy(config);
        base.client_ip = client_ip.clone();
        let rate_limits = RateLimits::with_limiter(
            &config.apis.rate_limit,
            client_ip,
            base.verifier.clone(),
            limiter,
        );
        Ok(Self::from(State {
            base,
            listing: Listing::new(search),
            graphql: GraphqlSchema::new(&config.apis.graphql, config.environment),
            rate_limits,
            api_document: ApiDocument::new(),
        }))
    }

    /// Step 1's routes, with v1's product listing now filtered and sorted; `/api/v2`,
    /// `/graphql` and `/api-docs`.
    fn all_routes(&self, _config: &Config) -> Router {
        let step1 = step01_security::routes::api_v1().with_state(self.base.clone());
        let products = common::routes::products::router_with_listing(crate::rest::v1_listing());
        common::routes::router_parts(step1, products)
            .nest("/api/v2", crate::rest::v2())
            .merge(crate::openapi::router(&self.api_document))
            .merge(crate::graphql::router())
            .with_state(self.clone())
    }

    /// The rate limits, inside step 1's layers: a 429 gets the error envelope, the request id
    /// and the security headers.
    fn inner_layer(&self, routes: Router, _config: &Config) -> Router {
        crate::rate_limit::layer(routes, &self.rate_limits)
    }

    /// The versioning headers, around everything (errors included).
    fn outer_layer(&self, routes: Router, config: &Config) -> Router {
        crate::rest::with_versioning_layers(routes, &config.apis.rest)
    }
}
