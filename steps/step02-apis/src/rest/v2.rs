//! `/api/v2`: the same resources as v1, shaped on purpose for clients that start today.
//! Money is an object (`{amount, currency, formatted}`, amount in minor units), a product
//! embeds its rating summary, the product list pages by cursor (stable under inserts), and
//! every error is problem+json (see `problem`). Reviews and orders page by `page`/`limit`:
//! the stores already page them by offset, a product's reviews and a customer's orders are
//! short, append-only lists, so a cursor would buy little for a new store query. Writes stay
//! on v1 for now.

use axum::Router;
use axum::extract::{FromRef, RawQuery, State};
use axum::routing::get;
use common::auth::{AuthUser, Verifier};
use common::domain::{Money, Order, OrderId, Product, ProductId, Review};
use common::error::Result;
use common::extract::{Json, Path};
use common::services::{Catalog, Ordering};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::params::{ListingParams, PageParams};
use super::problem::Problem;
use crate::listing::{Listing, Window};

pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Listing: FromRef<S>,
    Catalog: FromRef<S>,
    Ordering: FromRef<S>,
    Verifier: FromRef<S>,
{
    Router::new()
        .route("/products", get(list_products))
        .route("/products/{id}", get(get_product))
        .route("/products/{id}/reviews", get(list_reviews))
        .route("/orders", get(list_orders))
        .route("/orders/{id}", get(get_order))
}

/// An amount of money: integer minor units, never a float.
#[derive(Debug, Serialize, ToSchema)]
pub struct MoneyV2 {
    /// Minor units (cents): 1999 is 19.99.
    pub amount: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// For display only: `19.99 EUR`.
    pub formatted: String,
}

/// Minor units per major unit, by ISO 4217 exponent (most currencies have two decimals).
fn exponent(currency: &str) -> u32 {
    const NONE: [&str; 16] = [
        "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND",
        "VUV", "XAF", "XOF",
    ];
    const THREE: [&str; 7] = ["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];
    if NONE.contains(&currency) {
        0
    } else if THREE.contains(&currency) {
        3
    } else {
        2
    }
}

impl From<Money> for MoneyV2 {
    fn from(money: Money) -> Self {
        let currency = money.currency.as_str().to_owned();
        let exp = exponent(&currency);
        let sign = if money.minor < 0 { "-" } else { "" };
        let abs = money.minor.unsigned_abs();
        let formatted = if exp == 0 {
            format!("{sign}{abs} {currency}")
        } else {
            let unit = 10_u64.pow(exp);
            format!(
                "{sign}{}.{:0width$} {currency}",
                abs / unit,
                abs % unit,
                width = exp as usize
            )
        };
        Self {
            amount: money.minor,
            currency,
            formatted,
        }
    }
}

/// The reviews' summary, embedded in the product.
#[derive(Debug, Serialize, ToSchema)]
pub struct RatingV2 {
    /// 0 when there are no reviews; rounded to two decimals.
    pub average: f64,
    pub count: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProductV2 {
    #[schema(value_type = String)]
    pub id: ProductId,
    pub sku: String,
    pub name: String,
    pub description: String,
    pub price: MoneyV2,
    pub stock: i64,
    pub in_stock: bool,
    pub category: String,
    pub tags: Vec<String>,
    pub rating: RatingV2,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<Product> for ProductV2 {
    fn from(p: Product) -> Self {
        Self {
            id: p.id,
            rating: RatingV2 {
                average: p.rating_average(),
                count: p.rating_count,
            },
            sku: p.sku.as_str().to_owned(),
            name: p.name,
            description: p.description,
            price: p.price.into(),
            in_stock: p.stock > 0,
            stock: p.stock,
            category: p.category,
            tags: p.tags,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// A page of products; pass `next_cursor` back as `cursor` for the next one.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductPageV2 {
    pub items: Vec<ProductV2>,
    /// `null` on the last page.
    pub next_cursor: Option<String>,
    pub limit: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewV2 {
    #[schema(value_type = String)]
    pub id: common::domain::ReviewId,
    #[schema(value_type = String)]
    pub product_id: ProductId,
    pub author_name: String,
    pub rating: u8,
    pub comment: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<Review> for ReviewV2 {
    fn from(r: Review) -> Self {
        Self {
            id: r.id,
            product_id: r.product_id,
            author_name: r.author_name,
            rating: r.rating.value(),
            comment: r.comment,
            created_at: r.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewPageV2 {
    pub items: Vec<ReviewV2>,
    pub page: u64,
    pub limit: u64,
    pub total: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderLineV2 {
    #[schema(value_type = String)]
    pub product_id: ProductId,
    pub sku: String,
    pub name: String,
    /// The price when the order was placed.
    pub unit_price: MoneyV2,
    pub quantity: u32,
    pub line_total: MoneyV2,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentV2 {
    pub provider_reference: String,
    pub amount: MoneyV2,
    pub status: String,
    #[serde(with = "time::serde::rfc3339")]
    pub paid_at: OffsetDateTime,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderV2 {
    #[schema(value_type = String)]
    pub id: OrderId,
    /// `pending`, `paid`, `shipped` or `cancelled`.
    #[schema(value_type = String)]
    pub status: common::domain::OrderStatus,
    pub items: Vec<OrderLineV2>,
    pub total: MoneyV2,
    pub payment: Option<PaymentV2>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<Order> for OrderV2 {
    fn from(o: Order) -> Self {
        Self {
            id: o.id,
            status: o.status,
            items: o
                .lines
                .into_iter()
                .map(|line| OrderLineV2 {
                    line_total: line.line_total().into(),
                    product_id: line.product_id,
                    sku: line.sku.as_str().to_owned(),
                    name: line.name,
                    unit_price: line.unit_price.into(),
                    quantity: line.quantity.get(),
                })
                .collect(),
            total: o.total.into(),
            payment: o.payment.map(|p| PaymentV2 {
                provider_reference: p.provider_reference,
                amount: p.amount.into(),
                status: p.status,
                paid_at: p.paid_at,
            }),
            created_at: o.created_at,
            updated_at: o.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderPageV2 {
    pub items: Vec<OrderV2>,
    pub page: u64,
    pub limit: u64,
    pub total: u64,
}

/// List products by cursor, with every filter and a whitelisted sort.
#[utoipa::path(
    get,
    path = "/api/v2/products",
    tag = "v2",
    params(ListingParams),
    responses(
        (status = 200, description = "A page of products", body = ProductPageV2),
        (status = 400, description = "An unknown parameter, a malformed value, or a cursor made for another sort", body = Problem, content_type = "application/problem+json"),
        (status = 429, response = super::problem::TooManyRequestsProblem),
        (status = 503, response = super::problem::ServiceUnavailableProblem),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn list_products(
    State(listing): State<Listing>,
    RawQuery(query): RawQuery,
) -> Result<Json<ProductPageV2>> {
    let query = ListingParams::parse_v2(query.as_deref())?;
    let Window::Cursor { limit, .. } = query.window else {
        unreachable!("v2 parses into a cursor window");
    };
    let found = listing.search(&query).await?;
    Ok(Json(ProductPageV2 {
        items: found.items.into_iter().map(ProductV2::from).collect(),
        next_cursor: found.next_cursor.map(|c| c.as_str().to_owned()),
        limit,
    }))
}

/// One product, with its rating summary.
#[utoipa::path(
    get,
    path = "/api/v2/products/{id}",
    tag = "v2",
    params(("id" = ProductId, Path, description = "The product's id (24 hex characters)")),
    responses(
        (status = 200, description = "The product", body = ProductV2),
        (status = 400, description = "A malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such product", body = Problem, content_type = "application/problem+json"),
        (status = 429, response = super::problem::TooManyRequestsProblem),
        (status = 503, response = super::problem::ServiceUnavailableProblem),
    )
)]
#[tracing::instrument(skip(catalog))]
pub async fn get_product(
    State(catalog): State<Catalog>,
    Path(id): Path<ProductId>,
) -> Result<Json<ProductV2>> {
    Ok(Json(catalog.get_product(id).await?.into()))
}

/// A product's reviews, newest first, by page.
#[utoipa::path(
    get,
    path = "/api/v2/products/{id}/reviews",
    tag = "v2",
    params(("id" = ProductId, Path, description = "The product's id"), PageParams),
    responses(
        (status = 200, description = "A page of reviews", body = ReviewPageV2),
        (status = 400, description = "A malformed id or parameter", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such product", body = Problem, content_type = "application/problem+json"),
        (status = 429, response = super::problem::TooManyRequestsProblem),
        (status = 503, response = super::problem::ServiceUnavailableProblem),
    )
)]
#[tracing::instrument(skip(catalog, query))]
pub async fn list_reviews(
    State(catalog): State<Catalog>,
    Path(id): Path<ProductId>,
    RawQuery(query): RawQuery,
) -> Result<Json<ReviewPageV2>> {
    let page = PageParams::parse(query.as_deref())?;
    let found = catalog.list_reviews(id, page).await?;
    Ok(Json(ReviewPageV2 {
        items: found.items.into_iter().map(ReviewV2::from).collect(),
        page: page.page,
        limit: page.limit,
        total: found.total,
    }))
}

/// The signed-in customer's orders (an admin's own), newest first, by page.
#[utoipa::path(
    get,
    path = "/api/v2/orders",
    tag = "v2",
    params(PageParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of orders", body = OrderPageV2),
        (status = 400, description = "A malformed parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 429, response = super::problem::TooManyRequestsProblem),
        (status = 503, response = super::problem::ServiceUnavailableProblem),
    )
)]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn list_orders(
    State(ordering): State<Ordering>,
    user: AuthUser,
    RawQuery(query): RawQuery,
) -> Result<Json<OrderPageV2>> {
    let page = PageParams::parse(query.as_deref())?;
    let found = ordering.list_orders(user, page).await?;
    Ok(Json(OrderPageV2 {
        items: found.items.into_iter().map(OrderV2::from).collect(),
        page: page.page,
        limit: page.limit,
        total: found.total,
    }))
}

/// One order: the owner's (or any, for an admin); someone else's is a 404, as on v1.
#[utoipa::path(
    get,
    path = "/api/v2/orders/{id}",
    tag = "v2",
    params(("id" = OrderId, Path, description = "The order's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The order", body = OrderV2),
        (status = 400, description = "A malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such order, or not yours", body = Problem, content_type = "application/problem+json"),
        (status = 429, response = super::problem::TooManyRequestsProblem),
        (status = 503, response = super::problem::ServiceUnavailableProblem),
    )
)]
#[tracing::instrument(skip(ordering), fields(user = %user.id))]
pub async fn get_order(
    State(ordering): State<Ordering>,
    user: AuthUser,
    Path(id): Path<OrderId>,
) -> Result<Json<OrderV2>> {
    Ok(Json(ordering.get_order(user, id).await?.into()))
}
