//! GraphQL at `/graphql` (async-graphql): the same shop as the REST API, through the same
//! services (`Catalog`, `Ordering`, `Accounts`, `Listing`), so the rules cannot drift apart;
//! a client asks for exactly the fields it needs in one round trip.
//!
//! - [`schema`]: the schema and its limits (depth, complexity, introspection, suggestions);
//! - [`http`]: `POST /graphql`: body and query size limits, batch policy, authentication;
//! - [`document`]: what the parsed documents hold (mutations, fields with fragments
//!   expanded), measured in linear time before the schema walks them;
//! - [`quota`]: mutations count against their REST twins' rate limits, at most
//!   `max_mutations` a request;
//! - [`query`], [`mutation`], [`types`]: what a client can ask and do;
//! - [`keyed`]: `idempotencyKey` on placing and paying, for a later step to honour;
//! - [`loaders`]: batched loading (DataLoader), so a page of products with their reviews
//!   costs a fixed number of database round trips, not one per product;
//! - [`errors`]: the REST error codes, carried in `extensions.code`;
//! - [`graphiql`]: the GraphiQL page, served from the binary (no CDN).

pub mod document;
pub mod errors;
pub mod graphiql;
pub mod http;
pub mod keyed;
pub mod loaders;
pub mod mutation;
pub mod query;
pub mod quota;
pub mod schema;
pub mod types;

use anyhow::ensure;
use axum::Router;
use axum::extract::FromRef;
use axum::routing::get;
use common::auth::Verifier;
use common::services::{Accounts, Catalog, Ordering};
use serde::{Deserialize, Serialize};

use crate::listing::Listing;
use crate::rate_limit::RateLimits;
pub use schema::GraphqlSchema;

/// `APP__APIS__GRAPHQL__*`. Every limit protects the server from one expensive request: a
/// GraphQL endpoint accepts arbitrary queries, so cost must be bounded before execution.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct GraphqlConfig {
    /// Deepest selection nesting accepted (`products > edges > node > reviews > rating` is 5).
    pub max_depth: usize,
    /// Largest query cost accepted; a list field costs its page size times its selection.
    pub max_complexity: usize,
    /// Largest request body read; larger bodies are refused unread (413).
    pub max_body_bytes: usize,
    /// Largest query document accepted; longer ones are refused before they are parsed (413).
    pub max_query_bytes: usize,
    /// Batches (a JSON array of operations): 0 refuses them, n accepts up to n operations.
    /// A batch multiplies every other limit, so it is off unless asked for.
    pub max_batch_size: usize,
    /// Mutations one request may hold, aliases, fragments and every operation of a batch
    /// counted; more are refused before any runs (`TOO_MANY_MUTATIONS`). Each also counts
    /// against its REST twin's rate limit, so this bounds what one request does at once: a
    /// checkout is a `placeOrder` and a `payOrder`, a few reviews fit beside them, and no
    /// request takes more than a sixth of a minute's orders quota, nor holds a worker for
    /// more than this many payment calls in a row (mutations run one after another).
    pub max_mutations: usize,
    /// Reviews loaded per product (the most `Product.reviews(first:)` may ask for).
    pub reviews_per_product: u64,
    /// How long a loader gathers keys before it runs one batched query (async-graphql's
    /// default, 1 ms). On a loaded machine the resolvers of one page may be polled further
    /// apart than that and split into two batches; a longer wait batches more, at that much
    /// latency per level of the query.
    pub loader_delay_ms: u64,
}

impl Default for GraphqlConfig {
    fn default() -> Self {
        Self {
            max_depth: 10,
            max_complexity: 2_000,
            max_body_bytes: 64 * 1024,
            max_query_bytes: 8 * 1024,
            max_batch_size: 0,
            max_mutations: 10,
            reviews_per_product: 20,
            loader_delay_ms: 1,
        }
    }
}

impl GraphqlConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        ensure!(
            self.max_depth >= 3,
            "apis.graphql.max_depth must be at least 3"
        );
        ensure!(
            self.max_complexity >= 10,
            "apis.graphql.max_complexity must be at least 10"
        );
        ensure!(
            self.max_query_bytes >= 64 && self.max_query_bytes <= self.max_body_bytes,
            "apis.graphql.max_query_bytes must be at least 64 and at most max_body_bytes"
        );
        // 100 aliased mutations are always refused: beyond 50, a request is a bulk job, and
        // nothing of this API is meant for those.
        ensure!(
            (1..=50).contains(&self.max_mutations),
            "apis.graphql.max_mutations must be between 1 and 50"
        );
        ensure!(
            (1..=100).contains(&self.reviews_per_product),
            "apis.graphql.reviews_per_product must be between 1 and 100"
        );
        ensure!(
            self.loader_delay_ms <= 100,
            "apis.graphql.loader_delay_ms must be at most 100"
        );
        Ok(())
    }
}

/// `/graphql` (GraphiQL on GET, operations on POST) and the page's assets.
pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    GraphqlSchema: FromRef<S>,
    Catalog: FromRef<S>,
    Ordering: FromRef<S>,
    Accounts: FromRef<S>,
    Listing: FromRef<S>,
    Verifier: FromRef<S>,
    RateLimits: FromRef<S>,
{
    Router::new()
        .route("/graphql", get(graphiql::page).post(http::execute))
        .route("/graphql/assets/{file}", get(graphiql::asset))
}
