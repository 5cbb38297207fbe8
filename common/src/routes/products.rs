//! `/products` and `/products/{id}/reviews`: public reads, admin writes, signed-in reviews.

use axum::Router;
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::routing::{MethodRouter, get, post};
use garde::Validate;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::rules::{self, rule};
use super::{PageQuery, PageResponse};
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

/// The editable fields of a product, for create and update alike. (The schema repeats the
/// garde rules so that generated clients and fuzzers know them; `tests/it/openapi.rs` in
/// step 2 sends the documented limits and checks they are accepted.)
#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
pub struct ProductRequest {
    /// Letters, digits, `-` and `_`; stored upper-case.
    #[garde(custom(sku_rule))]
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub sku: String,
    /// One line: no control characters.
    #[garde(
        length(chars, max = 200),
        custom(rules::not_blank),
        custom(rules::line)
    )]
    #[schema(
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub name: String,
    /// Lines: no control characters but line breaks and tabs.
    #[serde(default)]
    #[garde(length(chars, max = 5000), custom(rules::lines))]
    #[schema(
        max_length = 5000,
        pattern = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$"
    )]
    pub description: String,
    /// Minor units (cents): an integer; a JSON float is refused when the body is parsed.
    #[garde(range(min = 0, max = Money::MAX_PRICE_MINOR))]
    #[schema(minimum = 0, maximum = 10_000_000_000_i64)]
    pub price_minor: i64,
    /// ISO 4217, upper case.
    #[garde(custom(currency_rule))]
    #[schema(pattern = "^[A-Z]{3}$", example = "EUR")]
    pub currency: String,
    #[garde(range(min = 0, max = 1_000_000_000))]
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub stock: i64,
    /// One line: no control characters.
    #[garde(
        length(chars, max = 100),
        custom(rules::not_blank),
        custom(rules::line)
    )]
    #[schema(
        max_length = 100,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub category: String,
    #[serde(default)]
    #[garde(
        length(max = 20),
        inner(length(chars, min = 1, max = 50)),
        custom(rules::each_line)
    )]
    #[schema(value_type = Vec<crate::openapi::Tag>, max_items = 20)]
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

#[derive(Debug, Serialize, utoipa::ToSchema)]
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

#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
pub struct ReviewRequest {
    #[garde(range(min = 1, max = 5))]
    #[schema(minimum = 1, maximum = 5)]
    pub rating: i64,
    /// Lines: no control characters but line breaks and tabs.
    #[serde(default)]
    #[garde(length(chars, max = 2000), custom(rules::lines))]
    #[schema(
        max_length = 2000,
        pattern = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$"
    )]
    pub comment: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
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

#[utoipa::path(
        get,
        path = "/api/v1/products",
        tag = "products",
        params(PageQuery),
        responses(
            (status = 200, description = "a page of products", body = PageResponse<ProductResponse>),
            (status = 400, response = crate::openapi::BadRequest),
        )
    )]
#[tracing::instrument(skip_all)]
pub async fn list_products(
    State(catalog): State<Catalog>,
    Query(query): Query<PageQuery>,
) -> Result<Json<PageResponse<ProductResponse>>> {
    let page = catalog.list_products(query.parse()?).await?;
    Ok(Json(PageResponse::from_paged(page, ProductResponse::from)))
}

#[utoipa::path(
        get,
        path = "/api/v1/products/{id}",
        tag = "products",
        params(("id" = ProductId, Path, description = "the product")),
        responses(
            (status = 200, description = "the product", body = ProductResponse),
            (status = 400, response = crate::openapi::BadRequest),
            (status = 404, response = crate::openapi::NotFound),
        )
    )]
#[tracing::instrument(skip(catalog))]
pub async fn get_product(
    State(catalog): State<Catalog>,
    Path(id): Path<ProductId>,
) -> Result<Json<ProductResponse>> {
    Ok(Json(catalog.get_product(id).await?.into()))
}

#[utoipa::path(
        post,
        path = "/api/v1/products",
        tag = "products",
        security(("bearer" = [])),
        request_body = ProductRequest,
        responses(
            (status = 201, description = "created (admins only)", body = ProductResponse),
            (status = 400, response = crate::openapi::BadRequest),
            (status = 401, response = crate::openapi::Unauthorized),
            (status = 403, response = crate::openapi::Forbidden),
            (status = 409, response = crate::openapi::Conflict),
            (status = 413, response = crate::openapi::PayloadTooLarge),
            (status = 415, response = crate::openapi::UnsupportedMediaType),
            (status = 422, response = crate::openapi::ValidationFailed),
        )
    )]
#[tracing::instrument(skip_all, fields(admin = %admin.0.id))]
pub async fn create_product(
    State(catalog): State<Catalog>,
    admin: AdminUser,
    Json(request): Json<ProductRequest>,
) -> Result<(StatusCode, Json<ProductResponse>)> {
    let product = catalog.create_product(request.parse()?).await?;
    Ok((StatusCode::CREATED, Json(product.into())))
}

#[utoipa::path(
        put,
        path = "/api/v1/products/{id}",
        tag = "products",
        security(("bearer" = [])),
        params(("id" = ProductId, Path, description = "the product")),
        request_body = ProductRequest,
        responses(
            (status = 200, description = "replaced (admins only)", body = ProductResponse),
            (status = 400, response = crate::openapi::BadRequest),
            (status = 401, response = crate::openapi::Unauthorized),
            (status = 403, response = crate::openapi::Forbidden),
            (status = 404, response = crate::openapi::NotFound),
            (status = 409, response = crate::openapi::Conflict),
            (status = 413, response = crate::openapi::PayloadTooLarge),
            (status = 415, response = crate::openapi::UnsupportedMediaType),
            (status = 422, response = crate::openapi::ValidationFailed),
        )
    )]
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

#[utoipa::path(
        delete,
        path = "/api/v1/products/{id}",
        tag = "products",
        security(("bearer" = [])),
        params(("id" = ProductId, Path, description = "the product")),
        responses(
            (status = 204, description = "deleted (admins only)"),
            (status = 400, response = crate::openapi::BadRequest),
            (status = 401, response = crate::openapi::Unauthorized),
            (status = 403, response = crate::openapi::Forbidden),
            (status = 404, response = crate::openapi::NotFound),
        )
    )]
#[tracing::instrument(skip(catalog), fields(admin = %admin.0.id))]
pub async fn delete_product(
    State(catalog): State<Catalog>,
    admin: AdminUser,
    Path(id): Path<ProductId>,
) -> Result<StatusCode> {
    catalog.delete_product(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
        get,
        path = "/api/v1/products/{id}/reviews",
        tag = "reviews",
        params(("id" = ProductId, Path, description = "the product"), PageQuery),
        responses(
            (status = 200, description = "a page of the product's reviews", body = PageResponse<ReviewResponse>),
            (status = 400, response = crate::openapi::BadRequest),
            (status = 404, response = crate::openapi::NotFound),
        )
    )]
#[tracing::instrument(skip(catalog, query))]
pub async fn list_reviews(
    State(catalog): State<Catalog>,
    Path(id): Path<ProductId>,
    Query(query): Query<PageQuery>,
) -> Result<Json<PageResponse<ReviewResponse>>> {
    let page = catalog.list_reviews(id, query.parse()?).await?;
    Ok(Json(PageResponse::from_paged(page, ReviewResponse::from)))
}

#[utoipa::path(
        post,
        path = "/api/v1/products/{id}/reviews",
        tag = "reviews",
        security(("bearer" = [])),
        params(("id" = ProductId, Path, description = "the product")),
        request_body = ReviewRequest,
        responses(
            (status = 201, description = "reviewed (one review per user and product)", body = ReviewResponse),
            (status = 400, response = crate::openapi::BadRequest),
            (status = 401, response = crate::openapi::Unauthorized),
            (status = 404, response = crate::openapi::NotFound),
            (status = 409, response = crate::openapi::Conflict),
            (status = 413, response = crate::openapi::PayloadTooLarge),
            (status = 415, response = crate::openapi::UnsupportedMediaType),
            (status = 422, response = crate::openapi::ValidationFailed),
        )
    )]
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
