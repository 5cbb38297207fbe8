//! Cancelling a paid order, which refunds it: when the provider cannot refund, the order stays
//! paid with its stock taken and its charge whole, and a later cancel refunds it in full; when
//! a ship and a cancel race, exactly one wins and the provider's refund agrees with the one
//! that did.

use anyhow::{Context, Result, bail};

use super::provider::{Faults, Simulator};
use super::{the_kept_charge, unavailable_while};
use crate::client::Api;
use crate::fixtures::{self, Customer};
use crate::model::Order;
use crate::{Case, Target, check};

/// Stock of each product and units per order: what "the stock taken" and "returned" mean.
const STOCK: i64 = 5;
const UNITS: i64 = 2;

/// Ship-and-cancel races run, each on an order of its own: one interleaving per round.
const ROUNDS: usize = 5;

pub(super) fn cases() -> Vec<Case> {
    super::provider_cases![
        a_refund_the_provider_cannot_make_leaves_the_order_paid_and_the_stock_taken,
        shipping_and_cancelling_at_once_never_ship_a_refunded_order,
    ]
}

/// A fresh product with [`STOCK`] units, an order for [`UNITS`] of it, paid.
async fn paid_order(admin: &Api, customer: &Customer) -> Result<(String, Order)> {
    let product = fixtures::product(admin, 1_800, STOCK).await?;
    let order = fixtures::place_order(&customer.api, &[(&product.id, UNITS)]).await?;
    let paid = fixtures::pay(&customer.api, &order.id).await?;
    Ok((product.id, paid))
}

/// What the provider refunded of `order`'s charge.
async fn refunded(provider: &Simulator, order: &Order) -> Result<i64> {
    let charges = provider.charges_of(&order.id).await?;
    let reference = order
        .payment
        .as_ref()
        .map(|p| p.provider_reference.as_str())
        .context("the order has no payment")?;
    let charge = charges
        .iter()
        .find(|c| c.id == reference)
        .with_context(|| format!("the provider holds no charge {reference}: {charges:#?}"))?;
    Ok(charge.amount_refunded)
}

async fn a_refund_the_provider_cannot_make_leaves_the_order_paid_and_the_stock_taken(
    t: Target,
    provider: Simulator,
) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let (product, order) = paid_order(&admin, &customer).await?;

    unavailable_while(&provider, Faults::DOWN, admin.cancel_order(&order.id))
        .await
        .context("cancelling a paid order while the provider is down")?;

    let after = fixtures::get_order(&admin, &order.id).await?;
    check::eq(
        "status after the failed refund",
        after.status.as_str(),
        "paid",
    )?;
    check::eq(
        "payment status after the failed refund",
        after.payment.as_ref().map(|p| p.status.as_str()),
        Some("succeeded"),
    )?;
    check::eq(
        "stock after the failed refund",
        fixtures::stock_of(&admin, &product).await?,
        STOCK - UNITS,
    )?;
    the_kept_charge(&provider, &after)
        .await
        .context("the charge after the failed refund")?;

    let cancelled: Order = admin
        .cancel_order(&order.id)
        .await?
        .expect_json(200)
        .context("cancelling again once the provider is back")?;
    check::eq("status", cancelled.status.as_str(), "cancelled")?;
    check::eq(
        "payment status",
        cancelled.payment.as_ref().map(|p| p.status.as_str()),
        Some("refunded"),
    )?;
    check::eq(
        "stock after cancelling",
        fixtures::stock_of(&admin, &product).await?,
        STOCK,
    )?;
    check::eq(
        "refunded at the provider",
        refunded(&provider, &cancelled).await?,
        order.total_minor,
    )
}

async fn shipping_and_cancelling_at_once_never_ship_a_refunded_order(
    t: Target,
    provider: Simulator,
) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    for round in 1..=ROUNDS {
        let (product, order) = paid_order(&admin, &customer).await?;

        let (ship, cancel) =
            futures::join!(admin.ship_order(&order.id), admin.cancel_order(&order.id));
        let (ship, cancel) = (ship?, cancel?);

        let statuses = (ship.status.as_u16(), cancel.status.as_u16());
        let after = fixtures::get_order(&admin, &order.id).await?;
        let refunded = refunded(&provider, &order).await?;
        let stock = fixtures::stock_of(&admin, &product).await?;
        let seen = || {
            format!(
                "round {round}: ship -> {}, cancel -> {}, the order {}, {refunded} refunded, \
                 stock {stock}",
                ship.describe(),
                cancel.describe(),
                after.status
            )
        };
        match (statuses, after.status.as_str()) {
            ((200, 409), "shipped") => {
                check::that((refunded, stock) == (0, STOCK - UNITS), seen)?;
            }
            ((409, 200), "cancelled") => {
                check::that((refunded, stock) == (order.total_minor, STOCK), seen)?;
            }
            _ => bail!("exactly one of ship and cancel must win: {}", seen()),
        }
    }
    Ok(())
}
