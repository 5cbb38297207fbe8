//! `/products` and `/products/{id}/reviews`: public reads, admin writes, signed-in reviews.

use axum::Router;
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::routing::{MethodRouter, get, post};
use garde::Validate;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{PageQuery, PageResponse, not_blank, rule};
use crate::auth::{AdminUser, AuthUser, Verifier};
use crate::domain::{
    Currency, Money, NewProduct, Product, ProductId, Rating, Review, ReviewId, Sku, UserId,
};
use crate::error::{Error, Result};
use crate::extract::{Json, Path, Query};
use crate::services::Catalog;

pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Catalog: FromRef<S>,
    Verifier: FromRef<S>,
{
    Router::new()
        .route("/products", get(list_products))
        .merge(router_without_listing())
}

/// [`router`] with another handler for `GET /products` (step 2's filtered, sorted listing).
pub fn router_with_listing<S>(listing: MethodRouter<S>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Catalog: FromRef<S>,
    Verifier: FromRef<S>,
{
    Router::new()
        .route("/products", listing)
        .merge(router_without_listing())
}

/// Every product route but the listing. Axum merges the methods of one path, so `POST
/// /products` here and a `GET /products` beside it form one route.
fn router_without_listing<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Catalog: FromRef<S>,
    Verifier: FromRef<S>,
{
    Router::new()
        .route("/products", post(create_product))
        .route(
            "/products/{id}",
            get(get_product).put(update_product).delete(delete_product),
        )
        .route(
            "/products/{id}/reviews",
            get(list_reviews).post(create_review),
        )
}

fn sku_rule(value: &str, _: &()) -> garde::Result {
    rule(Sku::parse(value))
}

fn currency_rule(value: &str, _: &()) -> garde::Result {
    rule(Currency::parse(value))
}

/// The editable fields of a product, for create and update alike.
#[derive(Debug, Deserialize, Validate)]
pub struct ProductRequest {
    #[garde(custom(sku_rule))]
    pub sku: String,
    #[garde(length(chars, max = 200), custom(not_blank))]
    pub name: String,
    #[serde(default)]
    #[garde(length(chars, max = 5000))]
    pub description: String,
    /// Minor units (cents): an integer; a JSON float is refused when the body is parsed.
    #[garde(range(min = 0, max = Money::MAX_PRICE_MINOR))]
    pub price_minor: i64,
    #[garde(custom(currency_rule))]
    pub currency: String,
    #[garde(range(min = 0, max = 1_000_000_000))]
    pub stock: i64,
    #[garde(length(chars, max = 100), custom(not_blank))]
    pub category: String,
    #[serde(default)]
    #[garde(length(max = 20), inner(length(chars, min = 1, max = 50)))]
    pub tags: Vec<String>,
}

impl ProductRequest {
    pub fn parse(self) -> Result<NewProduct> {
        self.validate()?;
        let invalid = |field: &'static str| move |e: String| Error::invalid_field(field, e);
        let currency = Currency::parse(&self.currency).map_err(invalid("currency"))?;
        Ok(NewProduct {
            sku: Sku::parse(&self.sku).map_err(invalid("sku"))?,
            name: self.name.trim().to_owned(),
            description: self.description,
            price: Money::price(self.price_minor, currency).map_err(invalid("price_minor"))?,
            stock: self.stock,
            category: self.category.trim().to_owned(),
            tags: self.tags,
        })
    }
}

#[derive(Debug, Serialize)]
pub struct ProductResponse {
    pub id: ProductId,
    pub sku: String,
    pub name: String,
    pub description: String,
    pub price_minor: i64,
    pub currency: String,
    pub stock: i64,
    pub category: String,
    pub tags: Vec<String>,
    pub rating_average: f64,
    pub rating_count: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<Product> for ProductResponse {
    fn from(p: Product) -> Self {
        Self {
            id: p.id,
            rating_average: p.rating_average(),
            sku: p.sku.as_str().to_owned(),
            name: p.name,
            description: p.description,
            price_minor: p.price.minor,
            currency: p.price.currency.as_str().to_owned(),
            stock: p.stock,
            category: p.category,
            tags: p.tags,
            rating_count: p.rating_count,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, Validate)]
pub struct ReviewRequest {
    #[garde(range(min = 1, max = 5))]
    pub rating: i64,
    #[serde(default)]
    #[garde(length(chars, max = 2000))]
    pub comment: String,
}

#[derive(Debug, Serialize)]
pub struct ReviewResponse {
    pub id: ReviewId,
    pub product_id: ProductId,
    pub user_id: UserId,
    pub author_name: String,
    pub rating: u8,
    pub comment: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<Review> for ReviewResponse {
    fn from(r: Review) -> Self {
        Self {
            id: r.id,
            product_id: r.product_id,
            user_id: r.user_id,
            author_name: r.author_name,
            rating: r.rating.value(),
            comment: r.comment,
            created_at: r.created_at,
        }
    }
}

#[tracing::instrument(skip_all)]
pub async fn list_products(
    State(catalog): State<Catalog>,
    Query(query): Query<PageQuery>,
) -> Result<Json<PageResponse<ProductResponse>>> {
    let page = catalog.list_products(query.parse()?).await?;
    Ok(Json(PageResponse::from_paged(page, ProductResponse::from)))
}

#[tracing::instrument(skip(catalog))]
pub async fn get_product(
    State(catalog): State<Catalog>,
    Path(id): Path<ProductId>,
) -> Result<Json<ProductResponse>> {
    Ok(Json(catalog.get_product(id).await?.into()))
}

#[tracing::instrument(skip_all, fields(admin = %admin.0.id))]
pub async fn create_product(
    State(catalog): State<Catalog>,
    admin: AdminUser,
    Json(request): Json<ProductRequest>,
) -> Result<(StatusCode, Json<ProductResponse>)> {
    let product = catalog.create_product(request.parse()?).await?;
    Ok((StatusCode::CREATED, Json(product.into())))
}

#[tracing::instrument(skip(catalog, request), fields(admin = %admin.0.id))]
pub async fn update_product(
    State(catalog): State<Catalog>,
    admin: AdminUser,
    Path(id): Path<ProductId>,
    Json(request): Json<ProductRequest>,
) -> Result<Json<ProductResponse>> {
    Ok(Json(
        catalog.update_product(id, request.parse()?).await?.into(),
    ))
}

#[tracing::instrument(skip(catalog), fields(admin = %admin.0.id))]
pub async fn delete_product(
    State(catalog): State<Catalog>,
    admin: AdminUser,
    Path(id): Path<ProductId>,
) -> Result<StatusCode> {
    catalog.delete_product(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[tracing::instrument(skip(catalog, query))]
pub async fn list_reviews(
    State(catalog): State<Catalog>,
    Path(id): Path<ProductId>,
    Query(query): Query<PageQuery>,
) -> Result<Json<PageResponse<ReviewResponse>>> {
    let page = catalog.list_reviews(id, query.parse()?).await?;
    Ok(Json(PageResponse::from_paged(page, ReviewResponse::from)))
}

#[tracing::instrument(skip(catalog, request), fields(user = %user.id))]
pub async fn create_review(
    State(catalog): State<Catalog>,
    user: AuthUser,
    Path(id): Path<ProductId>,
    Json(request): Json<ReviewRequest>,
) -> Result<(StatusCode, Json<ReviewResponse>)> {
    request.validate()?;
    let rating = Rating::parse(request.rating).map_err(|e| Error::invalid_field("rating", e))?;
    let review = catalog
        .add_review(user.id, id, rating, request.comment)
        .await?;
    Ok((StatusCode::CREATED, Json(review.into())))
}
