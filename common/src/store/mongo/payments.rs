//! The `payments` collection: every attempt to pay an order, keyed by idempotency key.

use async_trait::async_trait;
use futures::TryStreamExt;
use mongodb::bson::{DateTime, doc};
use mongodb::{Collection, Database};
use serde::{Deserialize, Serialize};

use super::{corrupt, from_bson_date, map_err, reference, to_bson_date};
use crate::domain::{Currency, Money, OrderId, PaymentRecord, PaymentStatus};
use crate::store::{PaymentStore, StoreError, StoreResult};

#[derive(Debug, Serialize, Deserialize)]
struct PaymentDoc {
    order_id: String,
    idempotency_key: String,
    amount_minor: i64,
    currency: String,
    status: PaymentStatus,
    provider_reference: Option<String>,
    reason: Option<String>,
    #[serde(deserialize_with = "super::date")]
    created_at: DateTime,
}

impl PaymentDoc {
    fn into_record(self) -> StoreResult<PaymentRecord> {
        let currency = Currency::parse(&self.currency).map_err(|e| corrupt("payment", e))?;
        Ok(PaymentRecord {
            order_id: reference("payment", &self.order_id)?,
            idempotency_key: self.idempotency_key,
            amount: Money {
                minor: self.amount_minor,
                currency,
            },
            status: self.status,
            provider_reference: self.provider_reference,
            reason: self.reason,
            created_at: from_bson_date(self.created_at),
        })
    }
}

/// A payment from a raw `payments` document, checked as every read is (step 5's migration).
pub fn payment_from_document(document: mongodb::bson::Document) -> StoreResult<PaymentRecord> {
    let doc: PaymentDoc =
        mongodb::bson::from_document(document).map_err(|e| corrupt("payment", e))?;
    doc.into_record()
}

pub struct MongoPayments {
    payments: Collection<PaymentDoc>,
}

impl MongoPayments {
    pub fn new(db: &Database) -> Self {
        Self {
            payments: db.collection("payments"),
        }
    }
}

#[async_trait]
impl PaymentStore for MongoPayments {
    #[tracing::instrument(skip_all, fields(order = %payment.order_id, status = ?payment.status))]
    async fn record(&self, payment: &PaymentRecord) -> StoreResult<()> {
        // The attempt's identity and time are written once; a retry or a later outcome (a
        // refund) updates what happened to it.
        let set = doc! {
            "amount_minor": payment.amount.minor,
            "currency": payment.amount.currency.as_str(),
            "status": mongodb::bson::to_bson(&payment.status)
                .map_err(|e| StoreError::Other(e.into()))?,
            "provider_reference": &payment.provider_reference,
            "reason": &payment.reason,
        };
        let on_insert = doc! {
            "order_id": payment.order_id.to_string(),
            "idempotency_key": &payment.idempotency_key,
            "created_at": to_bson_date(payment.created_at),
        };
        self.payments
            .update_one(
                doc! { "idempotency_key": &payment.idempotency_key },
                doc! { "$set": set, "$setOnInsert": on_insert },
            )
            .upsert(true)
            .await
            .map_err(map_err("idempotency_key"))?;
        Ok(())
    }

    #[tracing::instrument(skip(self))]
    async fn list_for_order(&self, order: OrderId) -> StoreResult<Vec<PaymentRecord>> {
        let docs: Vec<PaymentDoc> = self
            .payments
            .find(doc! { "order_id": order.to_string() })
            .sort(doc! { "created_at": 1 })
            .await
            .map_err(map_err("id"))?
            .try_collect()
            .await
            .map_err(map_err("id"))?;
        docs.into_iter().map(PaymentDoc::into_record).collect()
    }
}
