//! `payments` in PostgreSQL: every attempt to pay an order, keyed by its idempotency key, so
//! recording one attempt twice (a retry after a timeout) keeps one row (`INSERT ... ON
//! CONFLICT DO UPDATE`, the upsert the MongoDB store does with `update_one(upsert)`), which
//! keeps the attempt's order and time and updates its outcome. The
//! foreign key to `orders` makes a payment for an order that does not exist unstorable.

use async_trait::async_trait;
use common::domain::{Currency, Money, OrderId, PaymentRecord, PaymentStatus};
use common::store::{PaymentStore, StoreResult};
use sqlx::{PgPool, Row};

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

#[async_trait]
impl PaymentStore for PgPayments {
    #[tracing::instrument(skip_all, fields(order = %payment.order_id, status = ?payment.status))]
    async fn record(&self, payment: &PaymentRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO payments (idempotency_key, order_id, amount_minor, currency, status, \
             provider_reference, reason, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (idempotency_key) DO UPDATE SET \
             amount_minor = excluded.amount_minor, currency = excluded.currency, \
             status = excluded.status, provider_reference = excluded.provider_reference, \
             reason = excluded.reason",
        )
        .bind(&payment.idempotency_key)
        .bind(payment.order_id.to_string())
        .bind(payment.amount.minor)
        .bind(payment.amount.currency.as_str())
        .bind(status_text(payment.status))
        .bind(&payment.provider_reference)
        .bind(&payment.reason)
        .bind(payment.created_at)
        .execute(&self.pool)
        .await
        .map_err(map_err("payments"))?;
        Ok(())
    }

    #[tracing::instrument(skip(self))]
    async fn list_for_order(&self, order: OrderId) -> StoreResult<Vec<PaymentRecord>> {
        let rows = sqlx::query(
            "SELECT idempotency_key, order_id, amount_minor, currency, status, \
             provider_reference, reason, created_at FROM payments WHERE order_id = $1 \
             ORDER BY created_at, idempotency_key",
        )
        .bind(order.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(map_err("payments"))?;
        rows.iter()
            .map(|row| {
                let get_text = |column: &str| -> StoreResult<String> {
                    row.try_get::<String, _>(column)
                        .map_err(map_err("payments"))
                };
                let currency = Currency::parse(get_text("currency")?.trim())
                    .map_err(|e| corrupt("payment", e))?;
                Ok(PaymentRecord {
                    order_id: id("payment", get_text("order_id")?.trim())?,
                    idempotency_key: get_text("idempotency_key")?,
                    amount: Money {
                        minor: row.try_get("amount_minor").map_err(map_err("payments"))?,
                        currency,
                    },
                    status: status_from(&get_text("status")?)?,
                    provider_reference: row
                        .try_get("provider_reference")
                        .map_err(map_err("payments"))?,
                    reason: row.try_get("reason").map_err(map_err("payments"))?,
                    created_at: row.try_get("created_at").map_err(map_err("payments"))?,
                })
            })
            .collect()
    }
}
