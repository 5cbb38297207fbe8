//! Races a hostile client starts on purpose: many orders for the last units, one order paid
//! many times at once, one order cancelled many times at once, one customer reviewing one
//! product many times at once, one email registered many times at once. Whatever the
//! interleaving, stock never goes negative or comes back twice, a card is charged once, and
//! a unique thing exists once.

use anyhow::{Context, Result};
use futures::future::join_all;

use crate::check::winners;
use crate::client::Api;
use crate::fixtures::{self, PASSWORD, unique_email};
use crate::{Case, Target, check};

/// Requests sent at once in each race.
const RACERS: usize = 12;

pub(super) fn cases() -> Vec<Case> {
    crate::cases![
        one_order_paid_by_many_requests_at_once_is_charged_once,
        one_order_cancelled_by_many_requests_at_once_returns_its_stock_once,
        one_customer_reviewing_a_product_many_times_at_once_leaves_one_review,
        one_email_registered_many_times_at_once_makes_one_account,
    ]
}

async fn one_order_paid_by_many_requests_at_once_is_charged_once(t: Target) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let product = fixtures::product(&admin, 1_234, 5).await?;
    let order = fixtures::place_order(&customer.api, &[(&product.id, 1)]).await?;
    let replies =
        join_all((0..RACERS).map(|_| customer.api.pay_order(&order.id, "tok_success"))).await;
    let mut paid = 0;
    for reply in replies {
        let reply = reply?;
        match reply.status.as_u16() {
            200 => paid += 1,
            _ => {
                reply
                    .expect_rejection(&[409, 503])
                    .context("a concurrent payment that lost the race")?;
            }
        }
    }
    let after = fixtures::get_order(&customer.api, &order.id).await?;
    check::eq("the order's status", after.status.as_str(), "paid")?;
    let payment = after.payment.context("the paid order's payment")?;
    check::eq("the amount charged", payment.amount_minor, 1_234)?;
    // However many answered 200 (an idempotent repeat may), the order has one payment.
    check::that(paid >= 1, || "at least one payment answered 200".to_owned())?;
    let again = customer.api.pay_order(&order.id, "tok_success").await?;
    again
        .expect_error(409, "ALREADY_PAID")
        .context("paying it once more")?;
    Ok(())
}

async fn one_order_cancelled_by_many_requests_at_once_returns_its_stock_once(
    t: Target,
) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let product = fixtures::product(&admin, 900, 10).await?;
    let order = fixtures::place_order(&customer.api, &[(&product.id, 3)]).await?;
    check::eq(
        "the stock after the order",
        fixtures::stock_of(&admin, &product.id).await?,
        7,
    )?;
    let replies = join_all((0..RACERS).map(|_| admin.cancel_order(&order.id))).await;
    let cancelled = winners(replies, 200, 409, "INVALID_STATE", "cancel")?;
    check::eq("the cancels that succeeded", cancelled, 1)?;
    check::eq(
        "the stock, returned once",
        fixtures::stock_of(&admin, &product.id).await?,
        10,
    )
}

async fn one_customer_reviewing_a_product_many_times_at_once_leaves_one_review(
    t: Target,
) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let product = fixtures::product(&admin, 900, 10).await?;
    let replies = join_all((0..RACERS).map(|i| {
        customer
            .api
            .post_review(&product.id, 1 + (i % 5) as i64, "race")
    }))
    .await;
    let created = winners(replies, 201, 409, "ALREADY_REVIEWED", "review")?;
    check::eq("the reviews created", created, 1)?;
    let after = fixtures::get_product(&admin, &product.id).await?;
    check::eq("the product's rating count", after.rating_count, 1)
}

async fn one_email_registered_many_times_at_once_makes_one_account(t: Target) -> Result<()> {
    let email = unique_email();
    let api = Api::new(&t.base_url);
    let replies = join_all((0..RACERS).map(|_| api.register(&email, PASSWORD, "Racer"))).await;
    let created = winners(replies, 201, 409, "EMAIL_TAKEN", "registration")?;
    check::eq("the accounts created", created, 1)?;
    api.login(&email, PASSWORD).await?.expect_status(200)?;
    Ok(())
}
