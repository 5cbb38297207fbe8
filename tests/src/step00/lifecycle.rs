//! An order's life after it is placed: paying through the payment simulator's card tokens,
//! shipping and cancelling by an admin, and the status machine
//! `pending -> paid -> shipped`, with `cancelled` reachable from pending or paid only.
//! Cancelling gives the stock back; a declined payment changes nothing.

use anyhow::{Context, Result};
use serde_json::json;

use crate::fixtures::{self, UNKNOWN_ID};
use crate::model::Order;
use crate::{Case, Target, check};

pub(super) fn cases() -> Vec<Case> {
    crate::cases![
        paying_with_tok_success_marks_the_order_paid_with_its_payment,
        a_declined_card_is_402_and_the_order_stays_pending_and_can_be_paid_later,
        insufficient_funds_is_402_payment_declined_saying_so,
        paying_a_paid_order_is_409_already_paid,
        paying_another_customers_order_is_404_and_leaves_it_pending,
        paying_anonymously_is_401,
        paying_without_a_card_token_is_422,
        paying_a_cancelled_order_is_409_invalid_state,
        shipping_a_paid_order_is_200_shipped,
        shipping_a_pending_order_is_409_invalid_state,
        shipping_or_cancelling_as_a_customer_is_403_and_anonymously_401,
        shipping_or_cancelling_an_unknown_order_is_404,
        cancelling_a_pending_order_returns_its_stock,
        cancelling_a_paid_order_refunds_it_and_returns_its_stock,
        cancelling_a_shipped_or_cancelled_order_or_shipping_a_cancelled_one_is_409_invalid_state,
    ]
}

async fn paying_with_tok_success_marks_the_order_paid_with_its_payment(t: Target) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let (_, order) = fixtures::pending_order(&admin, &customer).await?;
    let paid: Order = customer
        .api
        .pay_order(&order.id, "tok_success")
        .await?
        .expect_json(200)?;
    check::eq("status", paid.status.as_str(), "paid")?;
    let payment = paid
        .payment
        .clone()
        .with_context(|| format!("expected a payment on a paid order, got {paid:?}"))?;
    check::that(!payment.provider_reference.is_empty(), || {
        "expected a provider_reference".to_owned()
    })?;
    check::eq(
        "payment amount_minor",
        payment.amount_minor,
        order.total_minor,
    )?;
    check::eq(
        "payment currency",
        payment.currency.as_str(),
        order.currency.as_str(),
    )?;
    check::that(!payment.status.is_empty(), || {
        "expected a payment status".to_owned()
    })?;
    let paid_at = payment.paid_at.as_deref().unwrap_or_default();
    check::rfc3339("payment paid_at", paid_at)?;

    let read_back = fixtures::get_order(&customer.api, &order.id).await?;
    check::eq("status read back", read_back.status.as_str(), "paid")?;
    check::eq(
        "provider_reference read back",
        read_back.payment.map(|p| p.provider_reference),
        Some(payment.provider_reference),
    )
}

async fn a_declined_card_is_402_and_the_order_stays_pending_and_can_be_paid_later(
    t: Target,
) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let (_, order) = fixtures::pending_order(&admin, &customer).await?;
    customer
        .api
        .pay_order(&order.id, "tok_decline")
        .await?
        .expect_error(402, "PAYMENT_DECLINED")?;
    let after_decline = fixtures::get_order(&customer.api, &order.id).await?;
    check::eq(
        "status after a decline",
        after_decline.status.as_str(),
        "pending",
    )?;
    let paid = fixtures::pay(&customer.api, &order.id)
        .await
        .context("paying with tok_success after a decline")?;
    check::eq("status after the retry", paid.status.as_str(), "paid")
}

async fn insufficient_funds_is_402_payment_declined_saying_so(t: Target) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let (_, order) = fixtures::pending_order(&admin, &customer).await?;
    let reply = customer
        .api
        .pay_order(&order.id, "tok_insufficient_funds")
        .await?;
    let body = reply.body.to_lowercase();
    reply.expect_error(402, "PAYMENT_DECLINED")?;
    // The message, a field reason or a `reason` key may carry it; any of them will do.
    check::that(body.contains("insufficient"), || {
        format!("expected the decline to mention insufficient funds, got {body}")
    })?;
    let read_back = fixtures::get_order(&customer.api, &order.id).await?;
    check::eq(
        "status after the decline",
        read_back.status.as_str(),
        "pending",
    )
}

async fn paying_a_paid_order_is_409_already_paid(t: Target) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let (_, order) = fixtures::paid_order(&admin, &customer).await?;
    customer
        .api
        .pay_order(&order.id, "tok_success")
        .await?
        .expect_error(409, "ALREADY_PAID")?;
    Ok(())
}

async fn paying_another_customers_order_is_404_and_leaves_it_pending(t: Target) -> Result<()> {
    let (admin, owner, stranger) = futures::try_join!(
        fixtures::admin(&t),
        fixtures::customer(&t),
        fixtures::customer(&t)
    )?;
    let (_, order) = fixtures::pending_order(&admin, &owner).await?;
    stranger
        .api
        .pay_order(&order.id, "tok_success")
        .await?
        .expect_error(404, "NOT_FOUND")?;
    stranger
        .api
        .pay_order(UNKNOWN_ID, "tok_success")
        .await?
        .expect_error(404, "NOT_FOUND")
        .context("paying an order that does not exist")?;
    let read_back = fixtures::get_order(&owner.api, &order.id).await?;
    check::eq("status", read_back.status.as_str(), "pending")
}

async fn paying_anonymously_is_401(t: Target) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let (_, order) = fixtures::pending_order(&admin, &customer).await?;
    customer
        .api
        .anonymous()
        .pay_order(&order.id, "tok_success")
        .await?
        .expect_error(401, "UNAUTHORIZED")?;
    Ok(())
}

async fn paying_without_a_card_token_is_422(t: Target) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let (_, order) = fixtures::pending_order(&admin, &customer).await?;
    customer
        .api
        .pay_order(&order.id, "")
        .await?
        .expect_validation(&["card_token"])
        .context("paying with an empty card_token")?;
    customer
        .api
        .pay_order_raw(&order.id, &json!({}))
        .await?
        .expect_error(422, "VALIDATION_FAILED")
        .context("paying without a card_token")?;
    let read_back = fixtures::get_order(&customer.api, &order.id).await?;
    check::eq("status", read_back.status.as_str(), "pending")
}

async fn paying_a_cancelled_order_is_409_invalid_state(t: Target) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let (_, order) = fixtures::pending_order(&admin, &customer).await?;
    admin.cancel_order(&order.id).await?.expect_status(200)?;
    customer
        .api
        .pay_order(&order.id, "tok_success")
        .await?
        .expect_error(409, "INVALID_STATE")?;
    Ok(())
}

async fn shipping_a_paid_order_is_200_shipped(t: Target) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let (_, order) = fixtures::paid_order(&admin, &customer).await?;
    let shipped: Order = admin.ship_order(&order.id).await?.expect_json(200)?;
    check::eq("status", shipped.status.as_str(), "shipped")?;
    let read_back = fixtures::get_order(&customer.api, &order.id).await?;
    check::eq(
        "status seen by the customer",
        read_back.status.as_str(),
        "shipped",
    )
}

async fn shipping_a_pending_order_is_409_invalid_state(t: Target) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let (_, order) = fixtures::pending_order(&admin, &customer).await?;
    admin
        .ship_order(&order.id)
        .await?
        .expect_error(409, "INVALID_STATE")?;
    let read_back = fixtures::get_order(&customer.api, &order.id).await?;
    check::eq("status", read_back.status.as_str(), "pending")
}

async fn shipping_or_cancelling_as_a_customer_is_403_and_anonymously_401(t: Target) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let (_, order) = fixtures::paid_order(&admin, &customer).await?;
    customer
        .api
        .ship_order(&order.id)
        .await?
        .expect_error(403, "FORBIDDEN")
        .context("a customer shipping their own order")?;
    customer
        .api
        .cancel_order(&order.id)
        .await?
        .expect_error(403, "FORBIDDEN")
        .context("a customer cancelling their own order")?;
    let anonymous = customer.api.anonymous();
    anonymous
        .ship_order(&order.id)
        .await?
        .expect_error(401, "UNAUTHORIZED")?;
    anonymous
        .cancel_order(&order.id)
        .await?
        .expect_error(401, "UNAUTHORIZED")?;
    let read_back = fixtures::get_order(&customer.api, &order.id).await?;
    check::eq("status", read_back.status.as_str(), "paid")
}

async fn shipping_or_cancelling_an_unknown_order_is_404(t: Target) -> Result<()> {
    let admin = fixtures::admin(&t).await?;
    admin
        .ship_order(UNKNOWN_ID)
        .await?
        .expect_error(404, "NOT_FOUND")?;
    admin
        .cancel_order(UNKNOWN_ID)
        .await?
        .expect_error(404, "NOT_FOUND")?;
    Ok(())
}

async fn cancelling_a_pending_order_returns_its_stock(t: Target) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let product = fixtures::product(&admin, 700, 5).await?;
    let order = fixtures::place_order(&customer.api, &[(&product.id, 3)]).await?;
    check::eq(
        "stock after ordering 3",
        fixtures::stock_of(&admin, &product.id).await?,
        2,
    )?;
    let cancelled: Order = admin.cancel_order(&order.id).await?.expect_json(200)?;
    check::eq("status", cancelled.status.as_str(), "cancelled")?;
    check::eq(
        "stock after cancelling",
        fixtures::stock_of(&admin, &product.id).await?,
        5,
    )
}

async fn cancelling_a_paid_order_refunds_it_and_returns_its_stock(t: Target) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let (product, order) = fixtures::paid_order(&admin, &customer).await?;
    check::eq(
        "stock after ordering 1",
        fixtures::stock_of(&admin, &product.id).await?,
        4,
    )?;
    let cancelled: Order = admin.cancel_order(&order.id).await?.expect_json(200)?;
    check::eq("status", cancelled.status.as_str(), "cancelled")?;
    check::eq(
        "stock after cancelling",
        fixtures::stock_of(&admin, &product.id).await?,
        5,
    )?;
    let read_back = fixtures::get_order(&customer.api, &order.id).await?;
    check::eq(
        "status seen by the customer",
        read_back.status.as_str(),
        "cancelled",
    )
}

async fn cancelling_a_shipped_or_cancelled_order_or_shipping_a_cancelled_one_is_409_invalid_state(
    t: Target,
) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let (_, shipped) = fixtures::paid_order(&admin, &customer).await?;
    admin.ship_order(&shipped.id).await?.expect_status(200)?;
    admin
        .cancel_order(&shipped.id)
        .await?
        .expect_error(409, "INVALID_STATE")
        .context("cancelling a shipped order")?;

    let (product, cancelled) = fixtures::pending_order(&admin, &customer).await?;
    admin
        .cancel_order(&cancelled.id)
        .await?
        .expect_status(200)?;
    admin
        .cancel_order(&cancelled.id)
        .await?
        .expect_error(409, "INVALID_STATE")
        .context("cancelling an order twice")?;
    admin
        .ship_order(&cancelled.id)
        .await?
        .expect_error(409, "INVALID_STATE")
        .context("shipping a cancelled order")?;
    // The second cancel must not return the stock a second time.
    check::eq(
        "stock after one real cancel",
        fixtures::stock_of(&admin, &product.id).await?,
        5,
    )
}
