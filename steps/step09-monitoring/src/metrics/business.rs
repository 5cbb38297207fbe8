//! The business figures: orders placed, revenue and refunds by currency, counted from the
//! outbox's events by a consumer of its own ([`BusinessCounts`], a group beside step 6's
//! sales projection and mailbox), and payments that failed by reason, counted where the
//! charge is answered (the payment gateway, [`crate::metrics::clients::MeasuredGateway`]).
//!
//! From the events rather than from the handlers: an order is placed and paid through REST
//! v1, v2, GraphQL or the recovery worker finishing a saga after a crash, and every one of
//! them writes its event; the consumer group hands each event to one instance, deduplicated
//! by its id, so the sum over instances counts each order once. The count is in memory and
//! made before the consumer's transaction commits: an event whose commit fails is delivered
//! again and counted twice, a rare overcount the chapter accepts for a metric (the sales
//! projection, in PostgreSQL, is the exact figure).
//!
//! Both labels come from outside the code, so both are bounded here: a decline reason is
//! the provider's word, mapped onto a few known ones ([`failure_reason`]); a currency is
//! whatever an admin prices products in, and only the first [`MAX_CURRENCIES`] seen get a
//! series of their own ([`BoundedLabel`]), the rest `other`.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use common::payments::PaymentError;
use sqlx::PgConnection;
use step06_distributed::consumers::Consumer;
use step06_distributed::outbox::{EventKind, OrderEvent};

use super::Metrics;

/// Currencies with a series of their own, per instance.
pub const MAX_CURRENCIES: usize = 16;

/// A label whose values come from outside the code: the first `cap` distinct values are
/// kept, any later one becomes `other`, so the number of series stays bounded.
#[derive(Clone)]
pub struct BoundedLabel {
    seen: Arc<Mutex<Vec<String>>>,
    cap: usize,
}

impl BoundedLabel {
    pub fn new(cap: usize) -> Self {
        Self {
            seen: Arc::default(),
            cap,
        }
    }

    /// `value`, or `other` once `cap` other values have been seen.
    pub fn of(&self, value: &str) -> String {
        let mut seen = self.seen.lock().expect("not poisoned");
        if seen.iter().any(|v| v == value) {
            return value.to_owned();
        }
        if seen.len() < self.cap {
            seen.push(value.to_owned());
            return value.to_owned();
        }
        "other".to_owned()
    }
}

/// The reasons `shop_payment_failures_total` knows; a provider's other codes are `other`.
pub const FAILURE_REASONS: &[&str] = &[
    "insufficient_funds",
    "card_declined",
    "expired_card",
    "unavailable",
    "other",
];

/// The reason a charge failed, as a label.
pub fn failure_reason(error: &PaymentError) -> &'static str {
    match error {
        PaymentError::Declined { reason } => FAILURE_REASONS
            .iter()
            .find(|known| **known == reason.as_str())
            .copied()
            .unwrap_or("other"),
        PaymentError::Unavailable(_) => "unavailable",
        PaymentError::Rejected(_) => "other",
    }
}

/// The consumer group `business-metrics`: each event it is handed moves this instance's
/// counters.
pub struct BusinessCounts {
    pub metrics: Metrics,
    pub currencies: BoundedLabel,
}

#[async_trait]
impl Consumer for BusinessCounts {
    fn name(&self) -> &'static str {
        "business-metrics"
    }

    async fn apply(&self, _conn: &mut PgConnection, event: &OrderEvent) -> anyhow::Result<()> {
        let currency = self.currencies.of(&event.currency);
        let amount = |minor: i64| u64::try_from(minor).unwrap_or(0);
        let m = &self.metrics;
        match event.kind {
            EventKind::OrderPlaced => m.orders_placed.with_label_values(&[&currency]).inc(),
            EventKind::OrderPaid => m
                .revenue
                .with_label_values(&[&currency])
                .inc_by(amount(event.total_minor)),
            EventKind::OrderCancelled if event.refunded_minor > 0 => m
                .refunds
                .with_label_values(&[&currency])
                .inc_by(amount(event.refunded_minor)),
            EventKind::OrderCancelled | EventKind::OrderShipped => {}
        }
        Ok(())
    }
}
