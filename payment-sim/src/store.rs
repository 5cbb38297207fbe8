//! The simulator's memory: every charge ever attempted, with what was refunded, behind one
//! `std::sync::Mutex`. A plain mutex is enough because no lock is held across an `.await`, and
//! one lock for everything makes "check what remains, then refund" atomic, so two concurrent
//! refunds can never refund more than was charged. Nothing survives a restart; a simulator
//! that forgets is what tests want.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::{SystemTime, UNIX_EPOCH},
};

use rand::{Rng, distr::Alphanumeric};
use serde::Serialize;

use crate::{
    domain::{NewCharge, NewRefund},
    error::{ApiError, Result},
    tokens::CardFailure,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ChargeStatus {
    Succeeded,
    Failed,
}

/// A charge as the simulator remembers it. Failed charges are kept too, because a real
/// provider keeps them and the app may look one up after a 402.
#[derive(Clone, Debug)]
pub(crate) struct Charge {
    pub(crate) id: String,
    pub(crate) amount: i64,
    pub(crate) currency: String,
    pub(crate) source: &'static str,
    pub(crate) description: Option<String>,
    pub(crate) metadata: BTreeMap<String, String>,
    pub(crate) status: ChargeStatus,
    /// Set exactly when `status` is `Failed`.
    pub(crate) failure: Option<CardFailure>,
    /// Sum of its refunds; never above `amount`.
    pub(crate) amount_refunded: i64,
    pub(crate) created: i64,
}

#[derive(Clone, Debug)]
pub(crate) struct Refund {
    pub(crate) id: String,
    pub(crate) charge: String,
    pub(crate) amount: i64,
    pub(crate) currency: String,
    pub(crate) created: i64,
}

/// Cheap to clone: every clone is a handle on the same charges.
#[derive(Clone, Default)]
pub(crate) struct Store {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    /// In creation order, so listing is newest-first without a sort.
    charges: Vec<Charge>,
    /// Charge id to its index in `charges`.
    by_id: HashMap<String, usize>,
}

impl Store {
    /// Records a charge attempt; its status follows from the token.
    pub(crate) fn create_charge(&self, new: NewCharge) -> Charge {
        let failure = new.source.failure();
        let charge = Charge {
            id: random_id("ch"),
            amount: new.amount.get(),
            currency: new.currency.as_str().to_owned(),
            source: new.source.as_str(),
            description: new.description,
            metadata: new.metadata,
            status: if failure.is_some() {
                ChargeStatus::Failed
            } else {
                ChargeStatus::Succeeded
            },
            failure,
            amount_refunded: 0,
            created: unix_now(),
        };
        let mut inner = self.lock();
        let index = inner.charges.len();
        inner.by_id.insert(charge.id.clone(), index);
        inner.charges.push(charge.clone());
        charge
    }

    pub(crate) fn charge(&self, id: &str) -> Option<Charge> {
        let inner = self.lock();
        inner
            .by_id
            .get(id)
            .map(|&index| inner.charges[index].clone())
    }

    /// Newest first.
    pub(crate) fn charges(&self) -> Vec<Charge> {
        self.lock().charges.iter().rev().cloned().collect()
    }

    /// Refunds part or all of what remains of a succeeded charge. The errors are the
    /// provider's answers directly (404, 400): the store is the only place that knows them.
    pub(crate) fn refund(&self, charge_id: &str, new: NewRefund) -> Result<Refund> {
        let mut inner = self.lock();
        let index = *inner
            .by_id
            .get(charge_id)
            .ok_or_else(|| ApiError::no_such_charge(charge_id))?;
        let charge = &mut inner.charges[index];
        if charge.status != ChargeStatus::Succeeded {
            return Err(ApiError::invalid(
                "charge_not_refundable",
                Some("charge"),
                format!("Charge {charge_id} did not succeed, so there is nothing to refund."),
            ));
        }
        let remaining = charge.amount - charge.amount_refunded;
        if remaining == 0 {
            return Err(ApiError::invalid(
                "charge_already_refunded",
                Some("charge"),
                format!("Charge {charge_id} has already been refunded in full."),
            ));
        }
        let amount = match new.amount {
            None => remaining,
            Some(amount) if amount.get() <= remaining => amount.get(),
            Some(amount) => {
                return Err(ApiError::invalid(
                    "amount_too_large",
                    Some("amount"),
                    format!(
                        "Refund amount ({}) is greater than what remains to refund on charge \
                         {charge_id} ({remaining}).",
                        amount.get()
                    ),
                ));
            }
        };
        charge.amount_refunded += amount;
        // A teaching shortcut: the refund itself is not kept, only its effect on the charge;
        // nothing in the shop looks a refund up by id.
        Ok(Refund {
            id: random_id("re"),
            charge: charge_id.to_owned(),
            amount,
            currency: charge.currency.clone(),
            created: unix_now(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing panics while holding the lock, and if something did, the data is still a
        // consistent set of charges: carry on rather than turn every later request into a panic.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `ch_` or `re_` plus 24 random alphanumerics, the look of Stripe ids.
fn random_id(prefix: &str) -> String {
    let suffix: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(24)
        .map(char::from)
        .collect();
    format!("{prefix}_{suffix}")
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
        })
}
