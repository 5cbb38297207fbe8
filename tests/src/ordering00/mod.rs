//! # Step 0's orders when the payment provider misbehaves
//!
//! What the shop promises about money when the provider is slow, down or raced, checked on both
//! sides: the shop's answers over its API, and what the provider really charged and refunded
//! over the provider's own API. An order is charged at most once whatever the timing (a
//! retry after a timeout replays the charge the provider made after the shop gave up;
//! concurrent payments keep one charge and refund any other); a card that is declined or a
//! provider that is down leaves the order payable; a refund the provider cannot make leaves
//! the order paid, its stock taken and its charge whole; shipping and cancelling at once
//! never ship a refunded order.
//!
//! Black-box like the other suites, but with a second address: the target's
//! [`Provider`](crate::Provider) (the provider simulator's URL and key, and how long the shop
//! waits for it). A target without one fails every case with a message that says so: a suite
//! that cannot look at the provider has checked nothing and must not pass.
//!
//! The faults are the provider's, seen by every client of it, so these cases run one at a
//! time (the registry says so, [`Suite::one_at_a_time`](crate::Suite)). Each case starts from
//! a healthy provider, whatever an earlier case left behind, and puts back the faults it found.

mod payments;
pub mod provider;
mod refunds;

use std::future::Future;

use anyhow::{Context, Result};

use crate::client::Reply;
use crate::model::Order;
use crate::{Case, Target, check};
use provider::{Charge, Faults, Simulator};

/// `provider_cases![a, b]`: cases whose `async fn a(t: Target, provider: Simulator)` runs
/// through [`with_provider`].
macro_rules! provider_cases {
    ($($case:ident),* $(,)?) => {
        vec![$($crate::Case {
            name: stringify!($case),
            run: |target| ::std::boxed::Box::pin($crate::ordering00::with_provider(target, $case)),
        }),*]
    };
}
use provider_cases;

/// Every case, payments first.
pub fn cases() -> Vec<Case> {
    [payments::cases(), refunds::cases()].concat()
}

/// Runs `case` against a healthy provider and puts the provider's faults back as they were,
/// whether the case passed or not. Fails at once, naming what is missing, when the target has
/// no provider handle.
pub(crate) async fn with_provider<F, Fut>(target: Target, case: F) -> Result<()>
where
    F: FnOnce(Target, Simulator) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let provider = Simulator::of(&target)?;
    let found = provider.faults().await?;
    provider
        .set_faults(Faults::HEALTHY)
        .await
        .context("making the provider healthy before the case")?;
    let outcome = case(target, provider.clone()).await;
    let restored = provider
        .set_faults(found)
        .await
        .context("putting the provider's faults back after the case");
    outcome.and(restored)
}

/// Sends `request` while the provider has `faults` and expects the shop's answer for a
/// provider it cannot use, 503 PAYMENT_PROVIDER_UNAVAILABLE. The provider is made healthy
/// again as soon as the answer is in, before it is looked at, so the rest of the case (and a
/// failure message's reads) meet a healthy provider.
async fn unavailable_while(
    provider: &Simulator,
    faults: Faults,
    request: impl Future<Output = Result<Reply>>,
) -> Result<()> {
    provider.set_faults(faults).await?;
    let answer = request.await;
    provider.set_faults(Faults::HEALTHY).await?;
    answer?.expect_error(503, "PAYMENT_PROVIDER_UNAVAILABLE")?;
    Ok(())
}

/// The one charge the provider kept for `order` (a succeeded charge not refunded in full):
/// the order's own payment, for its total, not refunded at all. Fails if there is none, or
/// more than one. Returns it with every charge the provider holds for the order.
async fn the_kept_charge(provider: &Simulator, order: &Order) -> Result<(Charge, Vec<Charge>)> {
    let charges = provider.charges_of(&order.id).await?;
    let kept: Vec<&Charge> = charges.iter().filter(|c| c.is_kept()).collect();
    let [charge] = kept.as_slice() else {
        anyhow::bail!(
            "expected the provider to keep exactly one charge for order {}, it keeps {}: {charges:#?}",
            order.id,
            kept.len()
        );
    };
    let reference = order
        .payment
        .as_ref()
        .map(|p| p.provider_reference.as_str());
    check::eq(
        "the order's provider_reference",
        reference,
        Some(charge.id.as_str()),
    )?;
    check::eq("the amount charged", charge.amount, order.total_minor)?;
    check::eq(
        "the currency charged",
        charge.currency.as_str(),
        order.currency.as_str(),
    )?;
    check::eq("the amount refunded", charge.amount_refunded, 0)?;
    let charge = (*charge).clone();
    Ok((charge, charges))
}

/// [`the_kept_charge`], and the provider holds no other charge for the order at all: not
/// one refunded, not one declined.
async fn the_only_charge(provider: &Simulator, order: &Order) -> Result<Charge> {
    let (charge, charges) = the_kept_charge(provider, order).await?;
    check::eq("charges the provider holds for the order", charges.len(), 1)?;
    Ok(charge)
}

#[cfg(test)]
mod tests;
