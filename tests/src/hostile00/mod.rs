//! # Hostile clients against step 0's API (and every later step's)
//!
//! What an attacker sends a shop, and the documented answer to each: bodies that are not what
//! they claim (trailing garbage, other content types, too large, too deep), text with NUL and
//! control characters, operator injection, forged tokens, other users' resources, races on
//! stock and payments, and connections that never finish their headers. Each case asserts the
//! answer the API documents (a clear 4xx in the one error shape, and nothing changed), never
//! just "not a 500".
//!
//! Black-box like the contract suites: a base URL and an admin's credentials, plain HTTP (and
//! raw TCP for the slow connections), so the same cases run against a single binary, several
//! instances behind nginx or the step-10 gateway. Every case is independent and safe to run
//! concurrently with the others against one server.

mod bodies;
mod concurrency;
mod injection;
mod money;
mod ownership;
mod slow;
mod text;
mod tokens;

use crate::Case;

/// Every case, by family.
pub fn cases() -> Vec<Case> {
    [
        bodies::cases(),
        text::cases(),
        injection::cases(),
        money::cases(),
        tokens::cases(),
        ownership::cases(),
        concurrency::cases(),
        slow::cases(),
    ]
    .concat()
}

/// The families and their cases, for reports that count them.
pub fn families() -> Vec<(&'static str, Vec<Case>)> {
    vec![
        ("bodies", bodies::cases()),
        ("text", text::cases()),
        ("injection", injection::cases()),
        ("money", money::cases()),
        ("tokens", tokens::cases()),
        ("ownership", ownership::cases()),
        ("concurrency", concurrency::cases()),
        ("slow connections", slow::cases()),
    ]
}

use anyhow::{Context, Result};
use reqwest::Method;
use reqwest::header::CONTENT_TYPE;
use serde_json::Value;

use crate::client::{Api, Reply};
use crate::fixtures::{self, Customer, PASSWORD};
use crate::model::{Order, Product};
use crate::{Target, check};

/// Sends `body` as it is, with `content_type` (none at all for `None`): what a hostile client
/// controls that the typed helpers of [`Api`] never get wrong.
pub async fn send_raw(
    api: &Api,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> Result<Reply> {
    let mut request = api.request(method, path).body(body);
    if let Some(content_type) = content_type {
        request = request.header(CONTENT_TYPE, content_type);
    }
    api.send(request).await
}

/// A route that takes a body, with a valid one.
pub(crate) struct BodyRoute {
    pub api: Api,
    pub method: Method,
    pub path: String,
    pub body: String,
}

/// What a hostile case attacks, and a way to see afterwards that nothing changed: a product
/// with stock 3 of which a pending order holds 1, its customer, the admin, and an email and
/// a product body nobody has used yet.
pub(crate) struct Fixture {
    pub admin: Api,
    pub customer: Customer,
    pub product: Product,
    pub order: Order,
    pub unused_email: String,
    pub unused_product: Value,
}

impl Fixture {
    pub async fn new(target: &Target) -> Result<Self> {
        let (admin, customer) = fixtures::admin_and_customer(target).await?;
        let product = fixtures::product(&admin, 500, 3).await?;
        let order = fixtures::place_order(&customer.api, &[(&product.id, 1)]).await?;
        Ok(Self {
            admin,
            customer,
            product,
            order,
            unused_email: fixtures::unique_email(),
            unused_product: fixtures::product_body(700, 5),
        })
    }

    /// Fails unless the attack changed nothing: no account for the unused email, the product
    /// as it was (stock 2, no review), the order still pending and unpaid, no other order of
    /// the customer, and the unused product body still free to create (its SKU not taken).
    pub async fn nothing_happened(&self) -> Result<()> {
        self.customer
            .api
            .anonymous()
            .login(&self.unused_email, PASSWORD)
            .await?
            .expect_error(401, "UNAUTHORIZED")
            .context("no account was made for the unused email")?;
        let product = fixtures::get_product(&self.admin, &self.product.id).await?;
        check::eq("the product's stock", product.stock, 2)?;
        check::eq(
            "the product's name",
            product.name.as_str(),
            self.product.name.as_str(),
        )?;
        check::eq("the product's reviews", product.rating_count, 0)?;
        let order = fixtures::get_order(&self.customer.api, &self.order.id).await?;
        check::eq("the order's status", order.status.as_str(), "pending")?;
        check::that(order.payment.is_none(), || {
            format!("the order has no payment, got {:?}", order.payment)
        })?;
        let orders = self.customer.api.list_orders("").await?.expect_value(200)?;
        check::eq("the customer's orders", orders["total"].as_u64(), Some(1))?;
        self.admin
            .create_product(&self.unused_product)
            .await?
            .expect_status(201)
            .context("the unused product's SKU is still free")?;
        Ok(())
    }
}
