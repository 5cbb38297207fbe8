//! `/orders`: place, list, get, pay (customers); ship and cancel (admins).

use std::collections::HashSet;

use axum::Router;
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use garde::Validate;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{PageQuery, PageResponse};
use crate::auth::{AdminUser, AuthUser, Verifier};
use crate::domain::{
    Currency, Money, NewOrder, NewOrderLine, Order, OrderId, OrderLine, OrderStatus, PaymentInfo,
    ProductId, Quantity, Sku, UserId,
};
use crate::error::{Error, FieldError, Result};
use crate::extract::{Json, Path, Query};
use crate::services::Ordering;

pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Ordering: FromRef<S>,
    Verifier: FromRef<S>,
{
    Router::new()
        .route("/orders", get(list_orders).post(place_order))
        .route("/orders/{id}", get(get_order))
        .route("/orders/{id}/pay", post(pay_order))
        .route("/orders/{id}/ship", post(ship_order))
        .route("/orders/{id}/cancel", post(cancel_order))
}

/// Any client-sent total or price is not a field here, hence ignored: prices come from the
/// catalog at the moment the order is placed.
#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
pub struct PlaceOrderRequest {
    #[garde(length(min = 1, max = NewOrder::MAX_LINES), dive)]
    #[schema(min_items = 1, max_items = 100)]
    pub items: Vec<OrderItemRequest>,
}

#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
pub struct OrderItemRequest {
    /// A malformed id fails while the body is parsed: 422 naming `items[i].product_id`.
    #[garde(skip)]
    pub product_id: ProductId,
    #[garde(range(min = 1, max = Quantity::MAX as i64))]
    #[schema(minimum = 1, maximum = 1000)]
    pub quantity: i64,
}

impl PlaceOrderRequest {
    pub fn parse(self, user_id: UserId) -> Result<NewOrder> {
        self.validate()?;
        let mut seen = HashSet::new();
        let mut lines = Vec::with_capacity(self.items.len());
        let mut problems = Vec::new();
        for (i, item) in self.items.into_iter().enumerate() {
            if !seen.insert(item.product_id) {
                problems.push(FieldError::new(
                    format!("items[{i}].product_id"),
                    "appears twice: put the whole quantity on one line",
                ));
                continue;
            }
            match Quantity::parse(item.quantity) {
                Ok(quantity) => lines.push(NewOrderLine {
                    product_id: item.product_id,
                    quantity,
                }),
                Err(e) => problems.push(FieldError::new(format!("items[{i}].quantity"), e)),
            }
        }
        if !problems.is_empty() {
            return Err(Error::Validation(problems));
        }
        Ok(NewOrder { user_id, lines })
    }
}

#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
pub struct PayRequest {
    /// The payment provider's card token (`tok_...`), never a card number.
    #[garde(length(min = 1, max = 100), pattern(r"^[A-Za-z0-9_\-]+$"))]
    #[schema(pattern = "^[A-Za-z0-9_-]{1,100}$", example = "tok_visa")]
    pub card_token: String,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrderLineResponse {
    pub product_id: ProductId,
    pub sku: String,
    pub name: String,
    pub unit_price_minor: i64,
    pub quantity: u32,
    pub line_total_minor: i64,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PaymentResponse {
    pub provider_reference: String,
    pub amount_minor: i64,
    pub currency: String,
    pub status: String,
    #[serde(with = "time::serde::rfc3339")]
    pub paid_at: OffsetDateTime,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrderResponse {
    pub id: OrderId,
    pub user_id: UserId,
    pub items: Vec<OrderLineResponse>,
    pub total_minor: i64,
    pub currency: String,
    pub status: OrderStatus,
    pub payment: Option<PaymentResponse>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<Order> for OrderResponse {
    fn from(o: Order) -> Self {
        Self {
            id: o.id,
            user_id: o.user_id,
            items: o
                .lines
                .iter()
                .map(|l| OrderLineResponse {
                    product_id: l.product_id,
                    sku: l.sku.as_str().to_owned(),
                    name: l.name.clone(),
                    unit_price_minor: l.unit_price.minor,
                    quantity: l.quantity.get(),
                    line_total_minor: l.line_total().minor,
                })
                .collect(),
            total_minor: o.total.minor,
            currency: o.total.currency.as_str().to_owned(),
            status: o.status,
            payment: o.payment.map(|p| PaymentResponse {
                provider_reference: p.provider_reference,
                amount_minor: p.amount.minor,
                currency: p.amount.currency.as_str().to_owned(),
                status: p.status,
                paid_at: p.paid_at,
            }),
            created_at: o.created_at,
            updated_at: o.updated_at,
        }
    }
}

/// An order read back from its wire form, checked by the domain's parsers as a store's read
/// is: what step 6 replays of an answer it stored. `Err` names the first field that does not
/// parse, or a line total that is not its price times its quantity.
impl TryFrom<OrderResponse> for Order {
    type Error = String;

    fn try_from(r: OrderResponse) -> std::result::Result<Self, String> {
        let currency = Currency::parse(&r.currency).map_err(|e| format!("currency: {e}"))?;
        let lines = r
            .items
            .into_iter()
            .enumerate()
            .map(|(i, l)| {
                let at = |field: &'static str| move |e: String| format!("items[{i}].{field}: {e}");
                let line = OrderLine {
                    product_id: l.product_id,
                    sku: Sku::parse(&l.sku).map_err(at("sku"))?,
                    name: l.name,
                    unit_price: Money::price(l.unit_price_minor, currency)
                        .map_err(at("unit_price_minor"))?,
                    quantity: Quantity::parse(i64::from(l.quantity)).map_err(at("quantity"))?,
                };
                if line.line_total().minor != l.line_total_minor {
                    return Err(at("line_total_minor")(
                        "is not the unit price times the quantity".to_owned(),
                    ));
                }
                Ok(line)
            })
            .collect::<std::result::Result<Vec<_>, String>>()?;
        let payment = match r.payment {
            Some(p) => Some(PaymentInfo {
                provider_reference: p.provider_reference,
                amount: Money {
                    minor: p.amount_minor,
                    currency: Currency::parse(&p.currency)
                        .map_err(|e| format!("payment.currency: {e}"))?,
                },
                status: p.status,
                paid_at: p.paid_at,
            }),
            None => None,
        };
        Ok(Order {
            id: r.id,
            user_id: r.user_id,
            lines,
            total: Money {
                minor: r.total_minor,
                currency,
            },
            status: r.status,
            payment,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

#[utoipa::path(
        post,
        path = "/api/v1/orders",
        tag = "orders",
        security(("bearer" = [])),
        request_body = PlaceOrderRequest,
        responses(
            (status = 201, description = "placed: stock reserved, prices captured, status `pending`", body = OrderResponse),
            (status = 400, response = crate::openapi::BadRequest),
            (status = 401, response = crate::openapi::Unauthorized),
            (status = 409, response = crate::openapi::Conflict),
            (status = 413, response = crate::openapi::PayloadTooLarge),
            (status = 415, response = crate::openapi::UnsupportedMediaType),
            (status = 422, response = crate::openapi::ValidationFailed),
        )
    )]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn place_order(
    State(ordering): State<Ordering>,
    user: AuthUser,
    Json(request): Json<PlaceOrderRequest>,
) -> Result<(StatusCode, Json<OrderResponse>)> {
    let order = ordering.place_order(request.parse(user.id)?).await?;
    Ok((StatusCode::CREATED, Json(order.into())))
}

#[utoipa::path(
        get,
        path = "/api/v1/orders",
        tag = "orders",
        security(("bearer" = [])),
        params(PageQuery),
        responses(
            (status = 200, description = "a page of the caller's own orders", body = PageResponse<OrderResponse>),
            (status = 400, response = crate::openapi::BadRequest),
            (status = 401, response = crate::openapi::Unauthorized),
        )
    )]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn list_orders(
    State(ordering): State<Ordering>,
    user: AuthUser,
    Query(query): Query<PageQuery>,
) -> Result<Json<PageResponse<OrderResponse>>> {
    let page = ordering.list_orders(user, query.parse()?).await?;
    Ok(Json(PageResponse::from_paged(page, OrderResponse::from)))
}

#[utoipa::path(
        get,
        path = "/api/v1/orders/{id}",
        tag = "orders",
        security(("bearer" = [])),
        params(("id" = OrderId, Path, description = "the order")),
        responses(
            (status = 200, description = "the order (404 for another customer's; admins see every order)", body = OrderResponse),
            (status = 400, response = crate::openapi::BadRequest),
            (status = 401, response = crate::openapi::Unauthorized),
            (status = 404, response = crate::openapi::NotFound),
        )
    )]
#[tracing::instrument(skip(ordering), fields(user = %user.id))]
pub async fn get_order(
    State(ordering): State<Ordering>,
    user: AuthUser,
    Path(id): Path<OrderId>,
) -> Result<Json<OrderResponse>> {
    Ok(Json(ordering.get_order(user, id).await?.into()))
}

#[utoipa::path(
        post,
        path = "/api/v1/orders/{id}/pay",
        tag = "orders",
        security(("bearer" = [])),
        params(("id" = OrderId, Path, description = "the order")),
        request_body = PayRequest,
        responses(
            (status = 200, description = "paid through the payment provider; status `paid`", body = OrderResponse),
            (status = 400, response = crate::openapi::BadRequest),
            (status = 401, response = crate::openapi::Unauthorized),
            (status = 402, response = crate::openapi::PaymentDeclined),
            (status = 404, response = crate::openapi::NotFound),
            (status = 409, response = crate::openapi::Conflict),
            (status = 413, response = crate::openapi::PayloadTooLarge),
            (status = 415, response = crate::openapi::UnsupportedMediaType),
            (status = 422, response = crate::openapi::ValidationFailed),
            (status = 503, response = crate::openapi::ServiceUnavailable),
        )
    )]
#[tracing::instrument(skip(ordering, request), fields(user = %user.id))]
pub async fn pay_order(
    State(ordering): State<Ordering>,
    user: AuthUser,
    Path(id): Path<OrderId>,
    Json(request): Json<PayRequest>,
) -> Result<Json<OrderResponse>> {
    request.validate()?;
    Ok(Json(
        ordering
            .pay_order(user, id, request.card_token)
            .await?
            .into(),
    ))
}

#[utoipa::path(
        post,
        path = "/api/v1/orders/{id}/ship",
        tag = "orders",
        security(("bearer" = [])),
        params(("id" = OrderId, Path, description = "the order")),
        responses(
            (status = 200, description = "shipped (admins only; from `paid`)", body = OrderResponse),
            (status = 400, response = crate::openapi::BadRequest),
            (status = 401, response = crate::openapi::Unauthorized),
            (status = 403, response = crate::openapi::Forbidden),
            (status = 404, response = crate::openapi::NotFound),
            (status = 409, response = crate::openapi::Conflict),
        )
    )]
#[tracing::instrument(skip(ordering), fields(admin = %admin.0.id))]
pub async fn ship_order(
    State(ordering): State<Ordering>,
    admin: AdminUser,
    Path(id): Path<OrderId>,
) -> Result<Json<OrderResponse>> {
    Ok(Json(ordering.ship_order(id).await?.into()))
}

#[utoipa::path(
        post,
        path = "/api/v1/orders/{id}/cancel",
        tag = "orders",
        security(("bearer" = [])),
        params(("id" = OrderId, Path, description = "the order")),
        responses(
            (status = 200, description = "cancelled (admins only), stock released", body = OrderResponse),
            (status = 400, response = crate::openapi::BadRequest),
            (status = 401, response = crate::openapi::Unauthorized),
            (status = 403, response = crate::openapi::Forbidden),
            (status = 404, response = crate::openapi::NotFound),
            (status = 409, response = crate::openapi::Conflict),
        )
    )]
#[tracing::instrument(skip(ordering), fields(admin = %admin.0.id))]
pub async fn cancel_order(
    State(ordering): State<Ordering>,
    admin: AdminUser,
    Path(id): Path<OrderId>,
) -> Result<Json<OrderResponse>> {
    Ok(Json(ordering.cancel_order(id).await?.into()))
}

#[cfg(test)]
mod tests;
