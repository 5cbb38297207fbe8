//! The GraphQL types: thin wrappers over the domain types, so each field is computed from the
//! same values the REST responses are made of (money in minor units plus a currency, ids as
//! 24 hex characters, times as RFC 3339). Fields that reach the database (`Product.reviews`,
//! `OrderItem.product`) go through the request's batched [`super::loaders`].

use async_graphql::{Context, Enum, ID, InputObject, Object};
use common::domain::{Order, OrderLine, PaymentInfo, Product, Review, User};
use time::OffsetDateTime;

use super::loaders::{Loaders, load_error};
use crate::listing::SortKey;

/// A catalog product, with its rating summary and newest reviews.
pub struct ProductNode(pub Product);

#[Object(name = "Product")]
impl ProductNode {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn sku(&self) -> &str {
        self.0.sku.as_str()
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn description(&self) -> &str {
        &self.0.description
    }
    /// The price in minor units (cents) of `currency`.
    async fn price_minor(&self) -> i64 {
        self.0.price.minor
    }
    async fn currency(&self) -> &str {
        self.0.price.currency.as_str()
    }
    async fn stock(&self) -> i64 {
        self.0.stock
    }
    async fn category(&self) -> &str {
        &self.0.category
    }
    async fn tags(&self) -> &[String] {
        &self.0.tags
    }
    /// The mean rating, to two decimals; 0 without reviews.
    async fn rating_average(&self) -> f64 {
        self.0.rating_average()
    }
    async fn rating_count(&self) -> i64 {
        self.0.rating_count
    }
    /// The newest reviews, newest first (at most the server's `reviews_per_product`).
    #[graphql(complexity = "usize::try_from(first).unwrap_or(0).max(1) * child_complexity")]
    async fn reviews(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 10)] first: i32,
    ) -> async_graphql::Result<Vec<ReviewNode>> {
        let loaders = ctx.data::<Loaders>()?;
        let cap = loaders.reviews.loader().per_product;
        let first = u64::try_from(first)
            .ok()
            .filter(|n| (1..=cap).contains(n))
            .ok_or_else(|| {
                super::errors::to_graphql(common::error::Error::InvalidParameter {
                    name: "first".to_owned(),
                    reason: format!("must be between 1 and {cap}"),
                })
            })?;
        let reviews = loaders
            .reviews
            .load_one(self.0.id)
            .await
            .map_err(load_error)?
            .unwrap_or_default();
        Ok(reviews
            .into_iter()
            .take(usize::try_from(first).unwrap_or(usize::MAX))
            .map(ReviewNode)
            .collect())
    }
    async fn created_at(&self) -> OffsetDateTime {
        self.0.created_at
    }
    async fn updated_at(&self) -> OffsetDateTime {
        self.0.updated_at
    }
}

pub struct ReviewNode(pub Review);

#[Object(name = "Review")]
impl ReviewNode {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn product_id(&self) -> ID {
        ID(self.0.product_id.to_string())
    }
    async fn user_id(&self) -> ID {
        ID(self.0.user_id.to_string())
    }
    async fn author_name(&self) -> &str {
        &self.0.author_name
    }
    /// 1 to 5.
    async fn rating(&self) -> i32 {
        i32::from(self.0.rating.value())
    }
    async fn comment(&self) -> &str {
        &self.0.comment
    }
    async fn created_at(&self) -> OffsetDateTime {
        self.0.created_at
    }
}

/// The signed-in user.
pub struct UserNode(pub User);

#[Object(name = "User")]
impl UserNode {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn email(&self) -> &str {
        self.0.email.as_str()
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// `customer` or `admin`.
    async fn role(&self) -> &str {
        self.0.role.as_str()
    }
    async fn created_at(&self) -> OffsetDateTime {
        self.0.created_at
    }
}

pub struct OrderNode(pub Order);

#[Object(name = "Order")]
impl OrderNode {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn user_id(&self) -> ID {
        ID(self.0.user_id.to_string())
    }
    /// `pending`, `paid`, `shipped` or `cancelled`.
    async fn status(&self) -> &str {
        self.0.status.as_str()
    }
    async fn items(&self) -> Vec<OrderItemNode> {
        self.0.lines.iter().cloned().map(OrderItemNode).collect()
    }
    async fn total_minor(&self) -> i64 {
        self.0.total.minor
    }
    async fn currency(&self) -> &str {
        self.0.total.currency.as_str()
    }
    async fn payment(&self) -> Option<PaymentNode> {
        self.0.payment.clone().map(PaymentNode)
    }
    async fn created_at(&self) -> OffsetDateTime {
        self.0.created_at
    }
    async fn updated_at(&self) -> OffsetDateTime {
        self.0.updated_at
    }
}

/// One order line, at the price captured when the order was placed.
pub struct OrderItemNode(pub OrderLine);

#[Object(name = "OrderItem")]
impl OrderItemNode {
    async fn product_id(&self) -> ID {
        ID(self.0.product_id.to_string())
    }
    async fn sku(&self) -> &str {
        self.0.sku.as_str()
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn unit_price_minor(&self) -> i64 {
        self.0.unit_price.minor
    }
    async fn quantity(&self) -> i32 {
        i32::try_from(self.0.quantity.get()).unwrap_or(i32::MAX)
    }
    async fn line_total_minor(&self) -> i64 {
        self.0.line_total().minor
    }
    /// The product as it is now; null once it has been deleted from the catalog.
    async fn product(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<ProductNode>> {
        let loaders = ctx.data::<Loaders>()?;
        Ok(loaders
            .products
            .load_one(self.0.product_id)
            .await
            .map_err(load_error)?
            .map(ProductNode))
    }
}

pub struct PaymentNode(pub PaymentInfo);

#[Object(name = "Payment")]
impl PaymentNode {
    async fn provider_reference(&self) -> &str {
        &self.0.provider_reference
    }
    async fn amount_minor(&self) -> i64 {
        self.0.amount.minor
    }
    async fn currency(&self) -> &str {
        self.0.amount.currency.as_str()
    }
    async fn status(&self) -> &str {
        &self.0.status
    }
    async fn paid_at(&self) -> OffsetDateTime {
        self.0.paid_at
    }
}

/// One page of the signed-in user's orders (offset paging, like REST's `/orders`).
pub struct OrderPage(pub common::domain::Paged<Order>);

#[Object]
impl OrderPage {
    async fn items(&self) -> Vec<OrderNode> {
        self.0.items.iter().cloned().map(OrderNode).collect()
    }
    async fn page(&self) -> u64 {
        self.0.page.page
    }
    async fn limit(&self) -> u64 {
        self.0.page.limit
    }
    /// The user's orders in all.
    async fn total(&self) -> u64 {
        self.0.total
    }
}

/// What may narrow the product listing; every given field must hold.
#[derive(InputObject, Default)]
pub struct ProductFilterInput {
    pub category: Option<String>,
    /// Inclusive, in minor units.
    pub min_price_minor: Option<i64>,
    pub max_price_minor: Option<i64>,
    /// Products carrying all of these tags.
    #[graphql(default)]
    pub tags: Vec<String>,
    /// true: in stock only; false: sold out only.
    pub in_stock: Option<bool>,
    /// Words searched in name, description and tags.
    pub text: Option<String>,
}

/// The orders the listing can be sorted in.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Default)]
pub enum ProductSort {
    #[default]
    Oldest,
    Newest,
    PriceAsc,
    PriceDesc,
    NameAsc,
    RatingDesc,
}

impl From<ProductSort> for SortKey {
    fn from(sort: ProductSort) -> Self {
        match sort {
            ProductSort::Oldest => SortKey::Oldest,
            ProductSort::Newest => SortKey::Newest,
            ProductSort::PriceAsc => SortKey::PriceAsc,
            ProductSort::PriceDesc => SortKey::PriceDesc,
            ProductSort::NameAsc => SortKey::NameAsc,
            ProductSort::RatingDesc => SortKey::RatingDesc,
        }
    }
}

#[derive(InputObject)]
pub struct OrderItemInput {
    pub product_id: ID,
    /// 1 to 1,000.
    pub quantity: i32,
}
