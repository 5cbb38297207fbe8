//! What a GraphQL request may spend of the REST quotas. One `POST /graphql` is one request to
//! the rate-limit middleware, yet it can hold a hundred aliased `placeOrder`s; it once
//! reserved a product's whole stock in one request, counted as one request of the default
//! policy, while `POST /api/v1/orders` allows 60 a minute. Two rules close that:
//!
//! - **Each mutation counts as its REST twin.** Every mutation carries a [`CountsAs`] guard
//!   naming the REST route it does the work of; before it runs, the guard counts one request
//!   of that route for the caller ([`RateLimits::charge`]: the same policy, found by the same
//!   `classify`, and the same key, the user). A refused mutation is a `RATE_LIMITED` error
//!   with `retryAfter`; the mutations before it have run, as the REST requests before a 429
//!   have.
//! - **At most `apis.graphql.max_mutations` per request**, counted on the parsed documents
//!   of the whole request (every operation of a batch) before anything runs
//!   ([`super::document::measure`]), so a request over the cap changes nothing.

use async_graphql::{Context, Guard};
use axum::http::Method;

use super::errors::OrGraphql;
use crate::rate_limit::{Caller, RateLimits};

/// What a mutation's guard needs, given to every operation of a request: the limits (from the
/// application state, so a later step's limiter and exemptions apply) and who is calling.
#[derive(Clone)]
pub struct MutationQuota {
    pub limits: RateLimits,
    pub caller: Caller,
}

/// A mutation's REST twin: the route whose rate-limit policy the mutation counts against.
/// `#[graphql(guard = "CountsAs::rest(Method::POST, \"/api/v1/orders\")")]`.
pub struct CountsAs {
    method: Method,
    path: &'static str,
}

impl CountsAs {
    pub fn rest(method: Method, path: &'static str) -> Self {
        Self { method, path }
    }
}

impl Guard for CountsAs {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        // Missing only when the schema is run without `http::execute`: a mutation then runs
        // nowhere a client can reach, and refusing it is the safe mistake.
        let quota = ctx.data::<MutationQuota>()?;
        quota
            .limits
            .charge(&self.method, self.path, &quota.caller)
            .await
            .gql()
    }
}
