//! `payments` in PostgreSQL: every attempt to pay an order, keyed by its idempotency key, so
//! recording one attempt twice (a retry after a timeout) keeps one row (`INSERT ... ON
//! CONFLICT DO UPDATE`, the upsert the MongoDB store does with `update_one(upsert)`), which
//! keeps the attempt's order and time and updates its outcome. The
//! foreign key to `orders` makes a payment for an order that does not exist unstorable.

use async_trait::async_trait;
use common::domain::{Currency, Money, OrderId, PaymentRecord, PaymentStatus};
use common::store::{PaymentStore, StoreResult};
use sqlx::PgPool;

use super::{corrupt, id, map_err};

pub struct PgPayments {
    pool: PgPool,
}

impl PgPayments {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

/// A payment status as stored (the `payments_status_check` values).
pub fn status_text(status: PaymentStatus) -> &'static str {
    match status {
        PaymentStatus::Succeeded => "succeeded",
        PaymentStatus::Declined => "declined",
        PaymentStatus::Refunded => "refunded",
    }
}

fn status_from(text: &str) -> StoreResult<PaymentStatus> {
    Ok(match text {
        "succeeded" => PaymentStatus::Succeeded,
        "declined" => PaymentStatus::Declined,
        "refunded" => PaymentStatus::Refunded,
        other => return Err(corrupt("payment", format!("unknown status {other:?}"))),
    })
}

/// [`PaymentStore::record`] through `executor`: the pool, or a transaction that changes the
/// order in the same commit (step 6's saga).
pub async fn record_in<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    payment: &PaymentRecord,
) -> StoreResult<()> {
    // `::bpchar`: the base type of the domains `object_id` and `currency_code` (see
    // `orders.rs`).
    sqlx::query!(
        "INSERT INTO payments (idempotency_key, order_id, amount_minor, currency, status, \
             provider_reference, reason, created_at) \
             VALUES ($1, $2::bpchar, $3, $4::bpchar, $5, $6, $7, $8) \
             ON CONFLICT (idempotency_key) DO UPDATE SET \
             amount_minor = excluded.amount_minor, currency = excluded.currency, \
             status = excluded.status, provider_reference = excluded.provider_reference, \
             reason = excluded.reason",
        payment.idempotency_key,
        payment.order_id.to_string(),
        payment.amount.minor,
        payment.amount.currency.as_str(),
        status_text(payment.status),
        payment.provider_reference,
        payment.reason,
        payment.created_at,
    )
    .execute(executor)
    .await
    .map_err(map_err("payments"))?;
    Ok(())
}

#[async_trait]
impl PaymentStore for PgPayments {
    #[tracing::instrument(skip_all, fields(order = %payment.order_id, status = ?payment.status))]
    async fn record(&self, payment: &PaymentRecord) -> StoreResult<()> {
        record_in(&self.pool, payment).await
    }

    #[tracing::instrument(skip(self))]
    async fn list_for_order(&self, order: OrderId) -> StoreResult<Vec<PaymentRecord>> {
        let rows = sqlx::query!(
            "SELECT idempotency_key, order_id, amount_minor, currency, status, \
             provider_reference, reason, created_at FROM payments WHERE order_id = $1::bpchar \
             ORDER BY created_at, idempotency_key",
            order.to_string()
        )
        .fetch_all(&self.pool)
        .await
        .map_err(map_err("payments"))?;
        rows.into_iter()
            .map(|row| {
                let currency =
                    Currency::parse(row.currency.trim()).map_err(|e| corrupt("payment", e))?;
                Ok(PaymentRecord {
                    order_id: id("payment", row.order_id.trim())?,
                    idempotency_key: row.idempotency_key,
                    amount: Money {
                        minor: row.amount_minor,
                        currency,
                    },
                    status: status_from(&row.status)?,
                    provider_reference: row.provider_reference,
                    reason: row.reason,
                    created_at: row.created_at,
                })
            })
            .collect()
    }
}
