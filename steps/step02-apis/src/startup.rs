//! Wiring: step 2's state (step 1's, built with the gRPC payment gateway, plus the listing,
//! the GraphQL schema and the rate limiter), the router (step 1's routes with v1's listing
//! replaced, plus `/api/v2`, `/graphql`, `/api-docs`), and [`build`], which binds the listener.

use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::FromRef;
use common::Application;
use common::auth::Verifier;
use common::services::{Accounts, Catalog, HealthChecks, MongoHealth, Ordering};
use common::store::{Stores, mongo as base_mongo};
use step01_security::startup::SecurityStores;
use step01_security::tokens::{RevokedSessions, SessionRevocations};

use crate::config::Config;
use crate::listing::{Listing, MongoSearch, ProductSearch};
use crate::rate_limit::RateLimits;

/// What [`AppState::build_with`] lets a caller wrap or replace before wiring.
pub struct Parts {
    pub stores: Stores,
    pub security: SecurityStores,
    pub search: Arc<dyn ProductSearch>,
    pub health: HealthChecks,
    /// Where revoked sessions are remembered: step 1's in-memory list unless replaced (step 3
    /// keeps it in Redis, shared by every instance).
    pub revocations: Arc<dyn SessionRevocations>,
}

common::shared_state! {
    /// Step 2's application state: step 1's, plus what step 2 adds ([`State`]), behind one
    /// `Arc` like step 1's. Handlers still ask for the piece they need (`State<Listing>`,
    /// `State<Catalog>`).
    pub struct AppState(State);
    step01_security::AppState => base,
    Listing => listing,
    crate::graphql::GraphqlSchema => graphql,
    RateLimits => rate_limits,
}

/// What [`AppState`] holds.
#[derive(Clone)]
pub struct State {
    /// Step 1's state, built with step 2's payment gateway (gRPC).
    pub base: step01_security::AppState,
    pub listing: Listing,
    pub graphql: crate::graphql::GraphqlSchema,
    pub rate_limits: RateLimits,
}

macro_rules! from_common {
    ($($ty:ty => $field:ident),* $(,)?) => {
        $(impl FromRef<AppState> for $ty {
            fn from_ref(state: &AppState) -> Self {
                state.base.base.$field.clone()
            }
        })*
    };
}

from_common!(
    Accounts => accounts,
    Catalog => catalog,
    Ordering => ordering,
    Verifier => verifier,
    HealthChecks => health,
);

impl AppState {
    /// Connects to MongoDB, makes sure every step's indexes exist, and wires it all.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        Self::build_with(config, |_, _| Ok(())).await
    }

    /// [`AppState::build`], with `customize` given the MongoDB-backed [`Parts`] before they
    /// are wired: a later step wraps them (step 3 puts a cache in front of the catalog),
    /// tests count store calls.
    pub async fn build_with(
        config: &Config,
        customize: impl FnOnce(&mongodb::Database, &mut Parts) -> anyhow::Result<()>,
    ) -> anyhow::Result<Self> {
        let db = base_mongo::connect(&config.common().mongodb).await?;
        base_mongo::ensure_indexes(&db)
            .await
            .context("preparing MongoDB (is it running? see `cargo xtask doctor`)")?;
        step01_security::store::mongo::ensure_indexes(&db)
            .await
            .context("preparing step 1's collections")?;
        crate::listing::ensure_indexes(&db)
            .await
            .context("creating the listing's indexes")?;
        let mut parts = Parts {
            stores: Stores::mongo(&db),
            security: SecurityStores::mongo(&db),
            search: Arc::new(MongoSearch::new(&db)),
            health: HealthChecks::default().with(MongoHealth(db.clone())),
            revocations: Arc::new(RevokedSessions::new(
                config.base.security.tokens.access_ttl_secs,
                config.base.security.tokens.leeway_secs,
            )),
        };
        customize(&db, &mut parts)?;
        let gateway = crate::payments::gateway(config).await?;
        let base = step01_security::AppState::from_parts_with(
            &config.base,
            parts.stores,
            parts.security,
            gateway,
            parts.health,
            parts.revocations,
        )?;
        Self::from_parts(config, base, parts.search)
    }

    /// The state from already-built parts.
    pub fn from_parts(
        config: &Config,
        mut base: step01_security::AppState,
        search: Arc<dyn ProductSearch>,
    ) -> anyhow::Result<Self> {
        // One answer to "which address is the client" for step 1's throttle and our limits.
        let client_ip = config.apis.rate_limit.client_ip_policy(&config.base);
        base.client_ip = client_ip.clone();
        let rate_limits = RateLimits::new(
            &config.apis.rate_limit,
            client_ip,
            base.base.verifier.clone(),
        )?;
        Ok(Self::from(State {
            base,
            listing: Listing::new(search),
            graphql: crate::graphql::GraphqlSchema::new(
                &config.apis.graphql,
                config.common().environment,
            ),
            rate_limits,
        }))
    }
}

/// Step 2's complete router: step 1's routes (v1's product listing now filtered and sorted),
/// `/api/v2`, `/graphql` and `/api-docs`; step 0's layers; step 1's security headers.
pub fn router(state: AppState, config: &Config) -> Router {
    router_with(Router::new(), state, config)
}

/// [`router`] with `extra` routes merged in before the layers, so a later step's routes get
/// the same request ids, error envelope, rate limits and headers as step 2's own.
pub fn router_with(extra: Router<AppState>, state: AppState, config: &Config) -> Router {
    let step1_routes = step01_security::routes::api_v1().with_state(state.base.clone());
    let products = common::routes::products::router_with_listing(crate::rest::v1_listing());
    let routes = common::routes::router_parts(step1_routes, products)
        .nest("/api/v2", crate::rest::v2())
        .merge(crate::openapi::router())
        .merge(crate::graphql::router())
        .merge(extra);
    let routes = crate::rate_limit::layer(routes, &state.rate_limits);
    let routes = common::startup::with_layers(routes, &config.common().server);
    let routes = step01_security::startup::with_security_layers(routes, &config.base);
    crate::rest::with_versioning_layers(routes, &config.apis.rest).with_state(state)
}

/// Builds step 2's state and router from `config` and binds `config.base.base.server`.
pub async fn build(config: &Config) -> anyhow::Result<Application> {
    let state = AppState::build(config).await?;
    Application::bind(&config.common().server, router(state, config)).await
}
