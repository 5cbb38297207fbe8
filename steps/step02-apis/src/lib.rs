//! # Step 2: APIs
//!
//! ## What this step adds
//! Step 1's service, opened up for more kinds of client, each with its own contract:
//! - **REST, refined**: the product listing filters (category, price range, tags, stock, text),
//!   sorts by a whitelist of keys and pages by keyset cursor, so inserts never shift a page;
//!   an unknown or malformed parameter is a 400 naming it. `/api/v2` beside `/api/v1`: money
//!   as `{amount, currency}`, an embedded rating, RFC 9457 `application/problem+json`
//!   errors. v1 keeps its answers and says it is deprecated (`Deprecation`, `Sunset`, a
//!   `successor-version` link).
//! - **Rate limits** per client (user id when signed in, else address; forwarded headers only
//!   from trusted proxies), stricter on sign-in and ordering, with 429, `Retry-After` and the
//!   IETF `RateLimit-*` fields.
//! - **OpenAPI 3.1**, generated from the handlers (utoipa) at `/api-docs/openapi.json`, with a
//!   Swagger UI served from the binary; schemathesis checks the running API against it.
//! - **GraphQL** at `/graphql` (async-graphql): the catalogue as a connection, a product with
//!   its reviews, me, my orders, and the review/order/payment mutations, under the same auth
//!   and rules; DataLoaders keep a page of 50 products with reviews at two round trips; depth,
//!   complexity, size and batch limits; each mutation counts against its REST twin's rate
//!   limit, at most 10 a request; GraphiQL served from the binary.
//! - **gRPC payments** (tonic): `proto/payments.proto`, a payments service (binary
//!   `step02-payments`) in front of the provider, and the order path calling it with
//!   deadlines, a service token, health checking and reflection.
//!
//! ## Why
//! One JSON shape fits neither every client nor every caller. Browsers and mobile apps want to
//! ask for exactly the fields of a screen (GraphQL); integrators want a documented, versioned,
//! machine-checkable contract (OpenAPI, v2 beside v1); services inside the system want typed,
//! fast calls with deadlines (gRPC). Each comes with the limits that keep it from being the
//! easiest way to hurt the service. Rejected: offset paging for v2 (it repeats and skips under
//! inserts), tower_governor (non-standard `x-ratelimit-*` headers and a synchronous key
//! extractor; its algorithm, governor's GCRA, is used), async-graphql's stock HTTP handler
//! (the limits must run before parsing), tonic's own server for payments (it answers an
//! expired deadline with CANCELLED rather than DEADLINE_EXCEEDED).
//!
//! ## Try it
//! ```text
//! cargo xtask step 2          # this crate's tests, schemathesis, the contract suites 0-2 and the hostile suites 0-2
//! cargo xtask run 2           # prints every endpoint with one example each
//! curl -s 'localhost:8080/api/v2/products?limit=2&sort=-price' | jq '.items[].price'
//! ```
//!
//! ## Map of the crate
//! - [`config`]: step 1's config plus the `apis` section.
//! - [`listing`]: filters, sort keys, keyset cursors and the MongoDB search, shared by REST
//!   and GraphQL.
//! - [`rest`]: v1's listing and deprecation headers, `/api/v2`, problem+json.
//! - [`rate_limit`]: the `RateLimiter` seam (step 3 puts it in Redis), governor, the layer.
//! - [`openapi`]: the document and the Swagger UI.
//! - [`graphql`]: schema, loaders, limits, GraphiQL.
//! - [`payments`]: the proto's server and client, token interceptors, status mapping.
//! - [`startup`]: step 2's [`common::Step`]: parts, state, routes, layers; [`cli`]: its
//!   binary (step 1's commands); [`testing`]: its test configuration (a payments service of
//!   the test's own), which later steps build on.
//!
//! ## Next
//! Step 3 (`steps/step03-caching`) puts Redis in front of the catalogue and moves token state
//! and the rate limiter there, so several instances share them.

pub mod cli;
pub mod config;
pub mod graphql;
pub mod listing;
pub mod openapi;
pub mod payments;
pub mod rate_limit;
pub mod rest;
pub mod startup;
pub mod testing;

pub use config::Config;
pub use startup::{AppState, Parts};
