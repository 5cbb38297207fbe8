//! What a client can do: review a product, place an order, pay it. Inputs go through the REST
//! request types' own validation (`ReviewRequest`, `PlaceOrderRequest`, `PayRequest`), then
//! the same service calls, so both APIs accept and refuse exactly the same things. Each
//! mutation names its REST twin ([`CountsAs`]) and counts against that route's rate-limit
//! policy, so aliases buy nothing REST would not allow. Placing and paying take an optional
//! `idempotencyKey`, honoured where a later step provides it ([`super::keyed`]).

use async_graphql::{Context, ID, Object};
use axum::http::Method;
use common::auth::AuthUser;
use common::domain::{Order, OrderId, ProductId, Rating};
use common::error::{Error, FieldError, Result};
use common::routes::orders::{OrderItemRequest, PayRequest, PlaceOrderRequest};
use common::routes::products::ReviewRequest;
use common::services::{Catalog, Ordering};
use garde::Validate;

use super::errors::OrGraphql;
use super::keyed;
use super::query::{parse_id, signed_in};
use super::quota::CountsAs;
use super::types::{OrderItemInput, OrderNode, ReviewNode};

pub struct Mutation;

#[Object]
impl Mutation {
    /// Reviews a product as the signed-in user: once per product (`ALREADY_REVIEWED`).
    #[graphql(guard = "CountsAs::rest(Method::POST, \"/api/v1/products/{id}/reviews\")")]
    async fn add_review(
        &self,
        ctx: &Context<'_>,
        product_id: ID,
        rating: i32,
        #[graphql(default)] comment: String,
    ) -> async_graphql::Result<ReviewNode> {
        let user = signed_in(ctx)?;
        let product: ProductId = parse_id("productId", &product_id).gql()?;
        let request = ReviewRequest {
            rating: i64::from(rating),
            comment,
        };
        request.validate().map_err(Error::from).gql()?;
        let rating = Rating::parse(request.rating)
            .map_err(|e| Error::invalid_field("rating", e))
            .gql()?;
        let review = ctx
            .data::<Catalog>()?
            .add_review(user.id, product, rating, request.comment)
            .await
            .gql()?;
        Ok(ReviewNode(review))
    }

    /// Places an order for the signed-in user at today's prices, taking stock
    /// (`OUT_OF_STOCK` when short; nothing is taken then).
    #[graphql(guard = "CountsAs::rest(Method::POST, \"/api/v1/orders\")")]
    async fn place_order(
        &self,
        ctx: &Context<'_>,
        items: Vec<OrderItemInput>,
        #[graphql(
            visible = "keyed::offered",
            desc = "At most once per key (1 to 255 printable ASCII characters, scoped to \
                    you): the same key and arguments again give the first answer again, an \
                    order or an error, marked in `extensions.idempotentReplayed`; other \
                    arguments, or a key used on REST, are IDEMPOTENCY_KEY_REUSED; while the \
                    first still runs, IDEMPOTENCY_KEY_IN_USE."
        )]
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<OrderNode> {
        let user = signed_in(ctx)?;
        let arguments = serde_json::json!({
            "items": items
                .iter()
                .map(|item| serde_json::json!({
                    "productId": item.product_id.as_str(),
                    "quantity": item.quantity,
                }))
                .collect::<Vec<_>>(),
        });
        let ordering = ctx.data::<Ordering>()?.clone();
        let work = async move { place(&ordering, user, items).await };
        let order = keyed::run(ctx, user, idempotency_key, "placeOrder", arguments, work).await?;
        Ok(OrderNode(order))
    }

    /// Pays one of the signed-in user's pending orders with a provider card token
    /// (`PAYMENT_DECLINED`, `ALREADY_PAID`, `PAYMENT_PROVIDER_UNAVAILABLE`).
    #[graphql(guard = "CountsAs::rest(Method::POST, \"/api/v1/orders/{id}/pay\")")]
    async fn pay_order(
        &self,
        ctx: &Context<'_>,
        order_id: ID,
        card_token: String,
        #[graphql(
            visible = "keyed::offered",
            desc = "At most once per key (1 to 255 printable ASCII characters, scoped to \
                    you): the same key and arguments again give the first answer again, an \
                    order or an error, marked in `extensions.idempotentReplayed`; other \
                    arguments, or a key used on REST, are IDEMPOTENCY_KEY_REUSED; while the \
                    first still runs, IDEMPOTENCY_KEY_IN_USE."
        )]
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<OrderNode> {
        let user = signed_in(ctx)?;
        let arguments = serde_json::json!({
            "orderId": order_id.as_str(),
            "cardToken": card_token,
        });
        let ordering = ctx.data::<Ordering>()?.clone();
        let work = async move { pay(&ordering, user, &order_id, card_token).await };
        let order = keyed::run(ctx, user, idempotency_key, "payOrder", arguments, work).await?;
        Ok(OrderNode(order))
    }
}

/// `placeOrder`'s work: the items checked as REST's body is, then the order placed.
async fn place(ordering: &Ordering, user: AuthUser, items: Vec<OrderItemInput>) -> Result<Order> {
    let mut problems = Vec::new();
    let mut lines = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        match item.product_id.parse::<ProductId>() {
            Ok(product_id) => lines.push(OrderItemRequest {
                product_id,
                quantity: i64::from(item.quantity),
            }),
            Err(reason) => problems.push(FieldError::new(format!("items[{i}].product_id"), reason)),
        }
    }
    if !problems.is_empty() {
        return Err(Error::Validation(problems));
    }
    let order = PlaceOrderRequest { items: lines }.parse(user.id)?;
    ordering.place_order(order).await
}

/// `payOrder`'s work: the id and the card token checked as REST's are, then the payment.
async fn pay(
    ordering: &Ordering,
    user: AuthUser,
    order_id: &ID,
    card_token: String,
) -> Result<Order> {
    let id: OrderId = parse_id("orderId", order_id)?;
    let request = PayRequest { card_token };
    request.validate()?;
    ordering.pay_order(user, id, request.card_token).await
}
