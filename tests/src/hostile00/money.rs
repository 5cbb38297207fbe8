//! Amounts and quantities a client chooses: an order that totals zero (nothing to charge, so
//! it could never be paid and would hold its stock for ever), quantities that are negative,
//! fractional, strings or beyond any integer, and prices at the edge of what a total can hold.
//! Each is refused before any stock is taken.

use anyhow::{Context, Result};
use serde_json::json;

use super::Fixture;
use crate::fixtures;
use crate::{Case, Target, check};

pub(super) fn cases() -> Vec<Case> {
    crate::cases![
        an_order_that_totals_zero_is_422_naming_items_and_takes_no_stock,
        hostile_quantities_are_422_naming_the_quantity_and_take_no_stock,
        an_order_at_the_largest_prices_and_quantities_is_placed_exactly_or_refused,
    ]
}

async fn an_order_that_totals_zero_is_422_naming_items_and_takes_no_stock(t: Target) -> Result<()> {
    let fixture = Fixture::new(&t).await?;
    let free = fixtures::product(&fixture.admin, 0, 4).await?;
    fixture
        .customer
        .api
        .place_order(&fixtures::order_body(&[(&free.id, 2)]))
        .await?
        .expect_validation(&["items"])
        .context("an order of free products only")?;
    check::eq(
        "the free product's stock",
        fixtures::stock_of(&fixture.admin, &free.id).await?,
        4,
    )?;
    // Beside a product that has a price, a free one is fine.
    let order = fixtures::place_order(
        &fixture.customer.api,
        &[(&free.id, 1), (&fixture.product.id, 1)],
    )
    .await?;
    check::eq("the total", order.total_minor, 500)?;
    check::eq(
        "the free product's stock",
        fixtures::stock_of(&fixture.admin, &free.id).await?,
        3,
    )
}

async fn hostile_quantities_are_422_naming_the_quantity_and_take_no_stock(t: Target) -> Result<()> {
    let fixture = Fixture::new(&t).await?;
    for quantity in [
        json!(-1),
        json!(i64::MIN),
        json!(1.5),
        json!("1"),
        json!(1e20),
        json!(18_446_744_073_709_551_615_u64),
        json!(null),
        json!([1]),
    ] {
        let body = json!({ "items": [{ "product_id": fixture.product.id, "quantity": quantity }] });
        let error = fixture
            .customer
            .api
            .place_order(&body)
            .await?
            .expect_error(422, "VALIDATION_FAILED")
            .with_context(|| format!("an order for a quantity of {quantity}"))?;
        check::that(
            error.field_names().iter().any(|f| f.contains("quantity")),
            || {
                format!(
                    "quantity {quantity}: the error names it, got {:?}",
                    error.field_names()
                )
            },
        )?;
    }
    fixture.nothing_happened().await
}

async fn an_order_at_the_largest_prices_and_quantities_is_placed_exactly_or_refused(
    t: Target,
) -> Result<()> {
    let fixture = Fixture::new(&t).await?;
    // The largest price a product may have, ordered as many times as an order line allows.
    let expensive = fixtures::create_product(
        &fixture.admin,
        &fixtures::product_body(10_000_000_000, 1_000_000),
    )
    .await
    .context("a product at the highest price")?;
    let buyer = fixtures::customer(&t).await?;
    let reply = buyer
        .api
        .place_order(&fixtures::order_body(&[(&expensive.id, 1000)]))
        .await?;
    match reply.status.as_u16() {
        201 => {
            let order: crate::model::Order = reply.expect_json(201)?;
            check::eq(
                "the total, computed without overflow",
                order.total_minor,
                10_000_000_000_i64 * 1000,
            )?;
        }
        _ => {
            reply.expect_rejection(&[422])?;
            check::eq(
                "the stock after a refused order",
                fixtures::stock_of(&fixture.admin, &expensive.id).await?,
                1_000_000,
            )?;
        }
    }
    fixture.nothing_happened().await
}
