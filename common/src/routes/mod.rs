//! The HTTP surface: one module per resource, each with `fn router<S>()`, composed here.
//!
//! Routers are generic over the application state `S` and only ask for the sub-states they
//! use (`Catalog: FromRef<S>`), so every later step reuses them with its own, larger state.

pub mod auth;
pub mod health;
pub mod orders;
pub mod products;
pub mod rules;

use axum::Router;
use axum::extract::FromRef;
use serde::{Deserialize, Serialize};

use crate::auth::Verifier;
use crate::domain::{Page, Paged};
use crate::error::{Error, Result};
use crate::services::{Accounts, Catalog, HealthChecks, Ordering};

/// `GET /health` plus the whole `/api/v1` surface.
pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Accounts: FromRef<S>,
    Catalog: FromRef<S>,
    Ordering: FromRef<S>,
    Verifier: FromRef<S>,
    HealthChecks: FromRef<S>,
{
    router_with_auth(auth::router())
}

/// [`router`] with another `/auth` router in place of step 0's: the seam through which step 1
/// changes what register and login answer while every other route stays as it is.
pub fn router_with_auth<S>(auth: Router<S>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Catalog: FromRef<S>,
    Ordering: FromRef<S>,
    Verifier: FromRef<S>,
    HealthChecks: FromRef<S>,
{
    router_parts(auth, products::router())
}

/// [`router`] with other `/auth` and `/products` routers: the seam through which step 2 gives
/// `GET /products` filters and sorting while every other route stays as it is.
pub fn router_parts<S>(auth: Router<S>, products: Router<S>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Catalog: FromRef<S>,
    Ordering: FromRef<S>,
    Verifier: FromRef<S>,
    HealthChecks: FromRef<S>,
{
    Router::new()
        .merge(health::router())
        .nest("/api/v1", api_v1_parts(auth, products))
}

/// The `/api/v1` routes, unprefixed, around the given `/auth` router.
pub fn api_v1_with<S>(auth: Router<S>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Catalog: FromRef<S>,
    Ordering: FromRef<S>,
    Verifier: FromRef<S>,
{
    api_v1_parts(auth, products::router())
}

/// The `/api/v1` routes, unprefixed, around the given `/auth` and `/products` routers.
pub fn api_v1_parts<S>(auth: Router<S>, products: Router<S>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Ordering: FromRef<S>,
    Verifier: FromRef<S>,
{
    Router::new()
        .merge(auth)
        .merge(products)
        .merge(orders::router())
}

/// `?page=&limit=` on every listing.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1-based page number (default 1).
    #[param(minimum = 1, maximum = 92_233_720_368_547_758_i64)]
    pub page: Option<u64>,
    /// Items per page (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u64>,
}

impl PageQuery {
    pub fn parse(&self) -> Result<Page> {
        let page = self.page.unwrap_or(1);
        let limit = self.limit.unwrap_or(Page::DEFAULT_LIMIT);
        if !(1..=Page::MAX_PAGE).contains(&page) {
            return Err(Error::InvalidParameter {
                name: "page".to_owned(),
                reason: format!("must be between 1 and {}", Page::MAX_PAGE),
            });
        }
        if !(1..=Page::MAX_LIMIT).contains(&limit) {
            return Err(Error::InvalidParameter {
                name: "limit".to_owned(),
                reason: format!("must be between 1 and {}", Page::MAX_LIMIT),
            });
        }
        Ok(Page { page, limit })
    }
}

/// The body of every listing.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PageResponse<T> {
    pub items: Vec<T>,
    pub page: u64,
    pub limit: u64,
    pub total: u64,
}

impl<T> PageResponse<T> {
    pub fn from_paged<D>(paged: Paged<D>, f: impl FnMut(D) -> T) -> Self {
        let Paged { items, page, total } = paged;
        Self {
            items: items.into_iter().map(f).collect(),
            page: page.page,
            limit: page.limit,
            total,
        }
    }
}
