//! Order views: `GET /api/v2/order-views` and `GET /api/v2/order-views/{id}`, the v2 order
//! with each item beside the product as the catalog has it now (its current name, category,
//! price and availability), for an order history page that links to the shop.
//!
//! Orders are in PostgreSQL and products in MongoDB, so no query joins them: the view reads a
//! page of orders through v2's own handler (two queries, whatever its size), then every
//! product the page names in one batched `get_many`. One catalog call per page, never one per item: the N+1 a naive join in
//! the service would make. An item keeps the name and price its order recorded (what the
//! customer bought); `product` is `null` for a product deleted since.
//!
//! Products have no images yet (step 8 stores them in object storage); when they do, the view
//! carries them the same way.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::routing::get;
use common::auth::AuthUser;
use common::domain::{OrderId, Product, ProductId};
use common::error::Result;
use common::extract::{Json, Path};
use common::services::{Catalog, Ordering};
use serde::Serialize;
use step02_apis::rest::{MoneyV2, OrderLineV2, OrderV2, PageParams, PaymentV2, Problem, v2};
use time::OffsetDateTime;
use utoipa::{OpenApi, ToSchema};

use crate::startup::AppState;

pub const VIEWS_PATH: &str = "/api/v2/order-views";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(VIEWS_PATH, get(list_order_views))
        .route(&format!("{VIEWS_PATH}/{{id}}"), get(get_order_view))
}

/// The product as the catalog has it now.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductNowV2 {
    pub name: String,
    pub category: String,
    pub price: MoneyV2,
    /// Whether the shop has any in stock now.
    pub available: bool,
}

impl From<&Product> for ProductNowV2 {
    fn from(p: &Product) -> Self {
        Self {
            name: p.name.clone(),
            category: p.category.clone(),
            price: p.price.into(),
            available: p.stock > 0,
        }
    }
}

/// An item as ordered, and its product now (`null` once the product is deleted).
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderItemViewV2 {
    #[serde(flatten)]
    pub item: OrderLineV2,
    pub product: Option<ProductNowV2>,
}

/// A v2 order whose items carry their products' current state.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderViewV2 {
    #[schema(value_type = String)]
    pub id: OrderId,
    /// `pending`, `paid`, `shipped` or `cancelled`.
    #[schema(value_type = String)]
    pub status: common::domain::OrderStatus,
    pub items: Vec<OrderItemViewV2>,
    pub total: MoneyV2,
    pub payment: Option<PaymentV2>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderViewPageV2 {
    pub items: Vec<OrderViewV2>,
    pub page: u64,
    pub limit: u64,
    pub total: u64,
}

/// The views of `orders`, with every product they name read in one call.
pub async fn views(catalog: &Catalog, orders: Vec<OrderV2>) -> Result<Vec<OrderViewV2>> {
    let mut ids: Vec<ProductId> = orders
        .iter()
        .flat_map(|o| o.items.iter().map(|item| item.product_id))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let products: HashMap<ProductId, Product> = if ids.is_empty() {
        HashMap::new()
    } else {
        catalog
            .products
            .get_many(&ids)
            .await?
            .into_iter()
            .map(|p| (p.id, p))
            .collect()
    };
    let now = |item: OrderLineV2| OrderItemViewV2 {
        product: products.get(&item.product_id).map(ProductNowV2::from),
        item,
    };
    Ok(orders
        .into_iter()
        .map(|order| OrderViewV2 {
            id: order.id,
            status: order.status,
            items: order.items.into_iter().map(now).collect(),
            total: order.total,
            payment: order.payment,
            created_at: order.created_at,
            updated_at: order.updated_at,
        })
        .collect())
}

/// The signed-in user's orders, newest first, each item with its product now.
#[utoipa::path(
    get,
    path = VIEWS_PATH,
    tag = "orders",
    params(PageParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of order views", body = OrderViewPageV2),
        (status = 400, description = "A malformed or unknown parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn list_order_views(
    State(ordering): State<Ordering>,
    State(catalog): State<Catalog>,
    user: AuthUser,
    RawQuery(query): RawQuery,
) -> Result<Json<OrderViewPageV2>> {
    let Json(found) = v2::list_orders(State(ordering), user, RawQuery(query)).await?;
    Ok(Json(OrderViewPageV2 {
        items: views(&catalog, found.items).await?,
        page: found.page,
        limit: found.limit,
        total: found.total,
    }))
}

/// One order's view: the owner's (or any, for an admin); someone else's is a 404.
#[utoipa::path(
    get,
    path = "/api/v2/order-views/{id}",
    tag = "orders",
    params(("id" = String, Path, description = "The order's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The order's view", body = OrderViewV2),
        (status = 400, description = "A malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such order, or not yours", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip(ordering, catalog), fields(user = %user.id))]
pub async fn get_order_view(
    State(ordering): State<Ordering>,
    State(catalog): State<Catalog>,
    user: AuthUser,
    Path(id): Path<OrderId>,
) -> Result<Json<OrderViewV2>> {
    let Json(order) = v2::get_order(State(ordering), user, Path(id)).await?;
    let mut views = views(&catalog, vec![order]).await?;
    Ok(Json(views.remove(0)))
}

#[derive(OpenApi)]
#[openapi(
    paths(list_order_views, get_order_view),
    components(schemas(OrderViewPageV2, OrderViewV2, OrderItemViewV2, ProductNowV2))
)]
struct ViewsDoc;

/// The order views' part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ViewsDoc::openapi()
}
