//! The REST surface step 2 changes or adds: `GET /api/v1/products` with filters and sorting,
//! `/api/v2` (money as objects, embedded ratings, cursor paging, RFC 9457 problem+json
//! errors), and the versioning policy: every `/api/v1` response announces its deprecation
//! (`Deprecation`, `Sunset`, and a `successor-version` link where v2 has an equivalent).

mod params;
mod problem;
mod v1;
/// Public so a later step can build on v2's handlers (step 5's order views answer v2's orders
/// with more beside them).
pub mod v2;

use axum::Router;
use axum::extract::FromRef;
use axum::routing::{MethodRouter, get};
use common::auth::Verifier;
use common::services::{Catalog, Ordering};
use serde::{Deserialize, Serialize};
use time::macros::format_description;
use utoipa::OpenApi;

use crate::listing::Listing;

pub use params::{ListingParams, PageParams};
pub use problem::{
    PROBLEM_JSON, PROBLEM_TYPE_BASE, Problem, ProblemField, ServiceUnavailableProblem,
    TooManyRequestsProblem,
};
pub use v1::list_products as v1_list_products;
pub use v2::{
    MoneyV2, OrderLineV2, OrderPageV2, OrderV2, PaymentV2, ProductPageV2, ProductV2, RatingV2,
    ReviewPageV2, ReviewV2,
};

/// The versioning policy's dates. `v1_deprecated_at` is when v1 was declared deprecated
/// (sent as RFC 9745's `Deprecation: @<unix seconds>`), `v1_sunset` when it may stop
/// answering (RFC 8594's `Sunset`, an HTTP date). Both `YYYY-MM-DD`, midnight UTC, e.g.
/// `APP__APIS__REST__V1_SUNSET=2028-06-30`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct RestConfig {
    pub v1_deprecated_at: String,
    pub v1_sunset: String,
}

impl Default for RestConfig {
    fn default() -> Self {
        Self {
            v1_deprecated_at: "2026-12-01".to_owned(),
            v1_sunset: "2027-12-01".to_owned(),
        }
    }
}

fn parse_date(key: &str, value: &str) -> anyhow::Result<time::OffsetDateTime> {
    time::Date::parse(value, format_description!("[year]-[month]-[day]"))
        .map(|d| d.midnight().assume_utc())
        .map_err(|e| anyhow::anyhow!("apis.rest.{key} must be a date as YYYY-MM-DD: {e}"))
}

impl RestConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        let deprecated = parse_date("v1_deprecated_at", &self.v1_deprecated_at)?;
        let sunset = parse_date("v1_sunset", &self.v1_sunset)?;
        anyhow::ensure!(
            sunset > deprecated,
            "apis.rest.v1_sunset must come after apis.rest.v1_deprecated_at"
        );
        Ok(())
    }
}

/// The handler for v1's `GET /products`: step 0's page/limit and response, plus filters and
/// sorting; unknown or malformed parameters are a 400 naming them.
pub fn v1_listing<S>() -> MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Listing: FromRef<S>,
{
    get(v1::list_products)
}

/// `/api/v2`, unprefixed. Reads only: writes stay on v1 for now.
pub fn v2<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Listing: FromRef<S>,
    Catalog: FromRef<S>,
    Ordering: FromRef<S>,
    Verifier: FromRef<S>,
{
    v2::router()
}

/// The layers that speak for the API versions, outermost so they see every response,
/// whoever produced it: v1's deprecation headers, v2's problem+json errors.
pub fn with_versioning_layers<S>(routes: Router<S>, config: &RestConfig) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let policy = v1::DeprecationPolicy::new(config);
    routes
        .layer(axum::middleware::from_fn(problem::problem_json))
        .layer(axum::middleware::from_fn_with_state(
            policy,
            v1::deprecation_headers,
        ))
}

#[derive(OpenApi)]
#[openapi(
    paths(
        v1::list_products,
        v2::list_products,
        v2::get_product,
        v2::list_reviews,
        v2::list_orders,
        v2::get_order,
    ),
    components(schemas(
        Problem,
        ProblemField,
        MoneyV2,
        RatingV2,
        ProductV2,
        ProductPageV2,
        ReviewV2,
        ReviewPageV2,
        OrderV2,
        OrderLineV2,
        PaymentV2,
        OrderPageV2,
    ),
    responses(TooManyRequestsProblem, ServiceUnavailableProblem)),
    modifiers(&BearerAuth)
)]
struct RestDoc;

/// Declares the `bearer` security scheme the order routes name.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The part of the OpenAPI document this module owns: `GET /api/v1/products` and every
/// `/api/v2` path, with their schemas (problem+json for v2's errors).
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut document = RestDoc::openapi();
    // One parameter struct describes both listings (they share every filter); each version
    // pages its own way and refuses the other's parameter, so each documents only its own.
    drop_query_parameter(&mut document, "/api/v1/products", "cursor");
    drop_query_parameter(&mut document, "/api/v2/products", "page");
    document
}

fn drop_query_parameter(document: &mut utoipa::openapi::OpenApi, path: &str, name: &str) {
    let parameters = document
        .paths
        .paths
        .get_mut(path)
        .and_then(|item| item.get.as_mut())
        .and_then(|get| get.parameters.as_mut());
    if let Some(parameters) = parameters {
        parameters.retain(|p| p.name != name);
    }
}
