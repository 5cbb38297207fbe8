//! Paying an order while the provider is raced, slow, down or declining: the shop answers as
//! documented (200, 409 ALREADY_PAID, 402 PAYMENT_DECLINED, 503 PAYMENT_PROVIDER_UNAVAILABLE)
//! and the provider ends up keeping exactly one charge for the order, the one the order
//! names.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures::future::join_all;

use super::provider::{Faults, Simulator};
use super::{the_kept_charge, the_only_charge, unavailable_while};
use crate::fixtures;
use crate::{Case, Target, check};

/// Payments of one order sent at once.
const RACERS: usize = 4;

/// How much slower than the shop's payment timeout the provider is made: the shop has given
/// up (its own timer, or step 2's payments service's) well before the provider answers.
const SLOWER_BY: Duration = Duration::from_secs(1);

/// How long after its latency a slow charge may take to show up at the provider.
const LANDING_GRACE: Duration = Duration::from_secs(5);

pub(super) fn cases() -> Vec<Case> {
    super::provider_cases![
        concurrent_payments_of_one_order_charge_once_and_refund_any_extra,
        a_provider_slower_than_the_timeout_is_503_and_the_retry_does_not_charge_twice,
        a_provider_outage_is_503_charges_nothing_and_the_order_can_be_paid_once_it_is_back,
        declined_cards_leave_the_order_payable_and_only_the_paying_card_is_charged,
    ]
}

async fn concurrent_payments_of_one_order_charge_once_and_refund_any_extra(
    t: Target,
    provider: Simulator,
) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let (_, order) = fixtures::pending_order(&admin, &customer).await?;

    let replies =
        join_all((0..RACERS).map(|_| customer.api.pay_order(&order.id, "tok_success"))).await;

    // Any number may answer 200: a replay of the winner's charge is a success too.
    let paid = check::winners(replies, 200, 409, "ALREADY_PAID", "payment")?;
    check::that(paid >= 1, || {
        "no concurrent payment answered 200".to_owned()
    })?;
    let after = fixtures::get_order(&customer.api, &order.id).await?;
    check::eq("the order's status", after.status.as_str(), "paid")?;
    // One charge kept: any other the race made must have been refunded in full.
    the_kept_charge(&provider, &after).await.map(drop)
}

async fn a_provider_slower_than_the_timeout_is_503_and_the_retry_does_not_charge_twice(
    t: Target,
    provider: Simulator,
) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let (_, order) = fixtures::pending_order(&admin, &customer).await?;
    let latency = provider.payment_timeout + SLOWER_BY;

    let sent = Instant::now();
    let paying = customer.api.pay_order(&order.id, "tok_success");
    unavailable_while(&provider, Faults::slow(latency), paying)
        .await
        .with_context(|| {
            format!(
                "paying while the provider takes {latency:?}, longer than the shop's payment \
                 timeout ({:?})",
                provider.payment_timeout
            )
        })?;
    let pending = fixtures::get_order(&customer.api, &order.id).await?;
    check::eq("status after the 503", pending.status.as_str(), "pending")?;

    // The provider took the money after the shop stopped waiting; the retry comes after that.
    let landed = provider
        .first_charges_of(&order.id, sent + latency + LANDING_GRACE)
        .await
        .context(
            "waiting for the charge the shop gave up on to land at the provider (without it \
             this case cannot check the retry)",
        )?;
    let paid = fixtures::pay(&customer.api, &order.id)
        .await
        .context("retrying the payment once the provider is fast again")?;

    check::eq("status after the retry", paid.status.as_str(), "paid")?;
    let charge = the_only_charge(&provider, &paid).await?;
    check::eq(
        "the charge the retry paid with",
        charge.id.as_str(),
        landed[0].id.as_str(),
    )
}

async fn a_provider_outage_is_503_charges_nothing_and_the_order_can_be_paid_once_it_is_back(
    t: Target,
    provider: Simulator,
) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let (_, order) = fixtures::pending_order(&admin, &customer).await?;

    let paying = customer.api.pay_order(&order.id, "tok_success");
    unavailable_while(&provider, Faults::DOWN, paying)
        .await
        .context("paying while the provider is down")?;
    let pending = fixtures::get_order(&customer.api, &order.id).await?;
    check::eq("status after the 503", pending.status.as_str(), "pending")?;
    check::eq(
        "charges made during the outage",
        provider.charges_of(&order.id).await?,
        Vec::new(),
    )?;
    let paid = fixtures::pay(&customer.api, &order.id)
        .await
        .context("paying once the provider is back")?;

    check::eq("status once paid", paid.status.as_str(), "paid")?;
    the_only_charge(&provider, &paid).await.map(drop)
}

async fn declined_cards_leave_the_order_payable_and_only_the_paying_card_is_charged(
    t: Target,
    provider: Simulator,
) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let (_, order) = fixtures::pending_order(&admin, &customer).await?;

    for card in ["tok_insufficient_funds", "tok_decline"] {
        customer
            .api
            .pay_order(&order.id, card)
            .await?
            .expect_error(402, "PAYMENT_DECLINED")
            .with_context(|| format!("paying with {card}"))?;
        let after = fixtures::get_order(&customer.api, &order.id).await?;
        check::eq("status after a decline", after.status.as_str(), "pending")?;
    }
    let paid = fixtures::pay(&customer.api, &order.id)
        .await
        .context("paying with tok_success after two declines")?;

    check::eq("status once paid", paid.status.as_str(), "paid")?;
    let (kept, charges) = the_kept_charge(&provider, &paid).await?;
    check::eq("the paying card", kept.source.as_str(), "tok_success")?;
    let mut declined: Vec<&str> = charges
        .iter()
        .filter(|c| c.status == "failed")
        .map(|c| c.source.as_str())
        .collect();
    declined.sort_unstable();
    check::eq(
        "the declined attempts the provider recorded",
        declined,
        vec!["tok_decline", "tok_insufficient_funds"],
    )?;
    check::eq("charges for the order", charges.len(), 3)
}
