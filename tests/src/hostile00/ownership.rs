//! Another user's resources on every route of step 0 that names one: an order is another
//! customer's or nobody's, and the answer must not tell which (the same 404, word for word, as
//! for an id that names nothing). Admin routes refuse customers with 403 and change nothing.

use anyhow::{Context, Result};
use serde_json::json;

use super::Fixture;
use crate::client::{API, Reply};
use crate::fixtures::{self, UNKNOWN_ID};
use crate::{Case, Target, check};

pub(super) fn cases() -> Vec<Case> {
    crate::cases![
        another_customers_order_answers_exactly_like_an_order_that_does_not_exist,
        a_customer_on_every_admin_route_is_403_and_changes_nothing,
    ]
}

async fn another_customers_order_answers_exactly_like_an_order_that_does_not_exist(
    t: Target,
) -> Result<()> {
    let fixture = Fixture::new(&t).await?;
    let stranger = fixtures::customer(&t).await?;
    let theirs = &fixture.order.id;
    for (route, mine, unknown) in [
        (
            "GET /orders/{id}",
            stranger.api.get_order(theirs).await?,
            stranger.api.get_order(UNKNOWN_ID).await?,
        ),
        (
            "POST /orders/{id}/pay",
            stranger.api.pay_order(theirs, "tok_success").await?,
            stranger.api.pay_order(UNKNOWN_ID, "tok_success").await?,
        ),
    ] {
        same_answer(route, mine, unknown)?;
    }
    let listed = stranger
        .api
        .list_orders("limit=100")
        .await?
        .expect_value(200)?;
    check::eq("the stranger's orders", listed["total"].as_u64(), Some(0))?;
    fixture.nothing_happened().await
}

/// The same status, code and message, so an id cannot be probed for existence.
fn same_answer(route: &str, theirs: Reply, unknown: Reply) -> Result<()> {
    let theirs = theirs
        .expect_error(404, "NOT_FOUND")
        .with_context(|| format!("{route} with another customer's order"))?;
    let unknown = unknown
        .expect_error(404, "NOT_FOUND")
        .with_context(|| format!("{route} with an unknown id"))?;
    check::eq(
        &format!("{route}: the message"),
        theirs.message,
        unknown.message,
    )
}

async fn a_customer_on_every_admin_route_is_403_and_changes_nothing(t: Target) -> Result<()> {
    let fixture = Fixture::new(&t).await?;
    let customer = &fixture.customer.api;
    let product = &fixture.product.id;
    let order = &fixture.order.id;
    let attempts: Vec<(String, Reply)> = vec![
        (
            "POST /products".into(),
            customer.create_product(&fixture.unused_product).await?,
        ),
        (
            format!("PUT /products/{product}"),
            customer
                .update_product(
                    product,
                    &fixtures::with(&fixture.unused_product, "stock", json!(1_000)),
                )
                .await?,
        ),
        (
            format!("DELETE /products/{product}"),
            customer.delete_product(product).await?,
        ),
        (
            format!("POST /orders/{order}/ship"),
            customer.ship_order(order).await?,
        ),
        (
            format!("POST /orders/{order}/cancel"),
            customer.cancel_order(order).await?,
        ),
        (
            "POST /auth/register with role admin".into(),
            customer
                .anonymous()
                .post(
                    &format!("{API}/auth/register"),
                    &json!({
                        "email": fixture.unused_email,
                        "password": fixtures::PASSWORD,
                        "name": "Would-be admin",
                        "role": "admin",
                    }),
                )
                .await?,
        ),
    ];
    for (route, reply) in attempts {
        if route.starts_with("POST /auth/register") {
            // Registering works, and always makes a customer: the role is not a field.
            let body = reply.expect_value(201).with_context(|| route.clone())?;
            check::eq(
                "the registered role",
                body["user"]["role"].as_str(),
                Some("customer"),
            )?;
            continue;
        }
        reply
            .expect_error(403, "FORBIDDEN")
            .with_context(|| format!("{route} as a customer"))?;
    }
    // The unused email now has an account (a customer's), so check the rest by hand.
    let product = fixtures::get_product(&fixture.admin, &fixture.product.id).await?;
    check::eq("the product's stock", product.stock, 2)?;
    let order = fixtures::get_order(customer, &fixture.order.id).await?;
    check::eq("the order's status", order.status.as_str(), "pending")?;
    fixture
        .admin
        .create_product(&fixture.unused_product)
        .await?
        .expect_status(201)
        .context("the unused product's SKU is still free")?;
    Ok(())
}
