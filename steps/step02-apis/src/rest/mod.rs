//! The REST surface step 2 changes or adds: `GET /api/v1/products` with filters and sorting,
//! and `/api/v2` (skeleton; filled in by the REST work).

use axum::Router;
use axum::extract::FromRef;
use axum::routing::MethodRouter;

use crate::listing::Listing;

/// The handler for v1's `GET /products`.
pub fn v1_listing<S>() -> MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Listing: FromRef<S>,
    common::services::Catalog: FromRef<S>,
{
    axum::routing::get(common::routes::products::list_products)
}

/// `/api/v2`, unprefixed.
pub fn v2<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new()
}

/// The OpenAPI paths of this module's routes, merged into step 2's document
/// (`crate::openapi`). Until the filtered listing lands, v1's `GET /products` is still
/// step 0's handler, described by its own annotation.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;

    #[derive(OpenApi)]
    #[openapi(paths(common::routes::products::list_products))]
    struct Rest;

    Rest::openapi()
}
