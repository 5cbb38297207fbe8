//! The `orders` collection. Lines are embedded (an order is read and written whole); status
//! transitions are `find_one_and_update` filtered on the current status: a compare-and-set.

use async_trait::async_trait;
use futures::TryStreamExt;
use mongodb::bson::{DateTime, doc, oid::ObjectId};
use mongodb::options::ReturnDocument;
use mongodb::{Collection, Database};
use serde::{Deserialize, Serialize};

use super::{corrupt, from_bson_date, map_err, now, reference, to_bson_date, to_i64};
use crate::domain::{
    Currency, Money, Order, OrderId, OrderLine, OrderStatus, Page, Paged, PaymentInfo, Quantity,
    Sku, UserId,
};
use crate::store::{OrderStore, StoreError, StoreResult};

#[derive(Debug, Serialize, Deserialize)]
struct LineDoc {
    product_id: String,
    sku: String,
    name: String,
    unit_price_minor: i64,
    quantity: i64,
}

#[derive(Debug, Serialize, Deserialize)]
struct PaymentDoc {
    provider_reference: String,
    amount_minor: i64,
    currency: String,
    status: String,
    #[serde(deserialize_with = "super::date")]
    paid_at: DateTime,
}

#[derive(Debug, Serialize, Deserialize)]
struct OrderDoc {
    #[serde(rename = "_id")]
    id: ObjectId,
    user_id: String,
    lines: Vec<LineDoc>,
    total_minor: i64,
    currency: String,
    status: OrderStatus,
    payment: Option<PaymentDoc>,
    #[serde(deserialize_with = "super::date")]
    created_at: DateTime,
    #[serde(deserialize_with = "super::date")]
    updated_at: DateTime,
}

impl PaymentDoc {
    fn from_info(p: &PaymentInfo) -> Self {
        Self {
            provider_reference: p.provider_reference.clone(),
            amount_minor: p.amount.minor,
            currency: p.amount.currency.as_str().to_owned(),
            status: p.status.clone(),
            paid_at: to_bson_date(p.paid_at),
        }
    }
}

impl OrderDoc {
    fn from_order(o: &Order) -> Self {
        Self {
            id: o.id.object_id(),
            user_id: o.user_id.to_string(),
            lines: o
                .lines
                .iter()
                .map(|l| LineDoc {
                    product_id: l.product_id.to_string(),
                    sku: l.sku.as_str().to_owned(),
                    name: l.name.clone(),
                    unit_price_minor: l.unit_price.minor,
                    quantity: i64::from(l.quantity.get()),
                })
                .collect(),
            total_minor: o.total.minor,
            currency: o.total.currency.as_str().to_owned(),
            status: o.status,
            payment: o.payment.as_ref().map(PaymentDoc::from_info),
            created_at: to_bson_date(o.created_at),
            updated_at: to_bson_date(o.updated_at),
        }
    }

    fn into_order(self) -> StoreResult<Order> {
        let bad = |e: String| corrupt("order", e);
        let currency = Currency::parse(&self.currency).map_err(bad)?;
        let lines = self
            .lines
            .into_iter()
            .map(|l| {
                Ok(OrderLine {
                    product_id: reference("order", &l.product_id)?,
                    sku: Sku::parse(&l.sku).map_err(bad)?,
                    name: l.name,
                    unit_price: Money::price(l.unit_price_minor, currency).map_err(bad)?,
                    quantity: Quantity::parse(l.quantity).map_err(bad)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let payment = match self.payment {
            Some(p) => Some(PaymentInfo {
                provider_reference: p.provider_reference,
                amount: Money {
                    minor: p.amount_minor,
                    currency: Currency::parse(&p.currency).map_err(bad)?,
                },
                status: p.status,
                paid_at: from_bson_date(p.paid_at),
            }),
            None => None,
        };
        Ok(Order {
            id: OrderId::from_object_id(self.id),
            user_id: reference("order", &self.user_id)?,
            lines,
            total: Money {
                minor: self.total_minor,
                currency,
            },
            status: self.status,
            payment,
            created_at: from_bson_date(self.created_at),
            updated_at: from_bson_date(self.updated_at),
        })
    }
}

/// An order from a raw `orders` document, checked by the domain's parsers as every read is:
/// what step 5's migration reads, document by document, so one corrupt document is reported
/// instead of failing the batch.
pub fn order_from_document(document: mongodb::bson::Document) -> StoreResult<Order> {
    let doc: OrderDoc = mongodb::bson::from_document(document).map_err(|e| corrupt("order", e))?;
    doc.into_order()
}

pub struct MongoOrders {
    orders: Collection<OrderDoc>,
}

impl MongoOrders {
    pub fn new(db: &Database) -> Self {
        Self {
            orders: db.collection("orders"),
        }
    }
}

#[async_trait]
impl OrderStore for MongoOrders {
    #[tracing::instrument(skip_all, fields(order = %order.id))]
    async fn insert(&self, order: &Order) -> StoreResult<()> {
        self.orders
            .insert_one(OrderDoc::from_order(order))
            .await
            .map_err(map_err("id"))?;
        Ok(())
    }

    #[tracing::instrument(skip(self))]
    async fn get(&self, id: OrderId) -> StoreResult<Option<Order>> {
        self.orders
            .find_one(doc! { "_id": id.object_id() })
            .await
            .map_err(map_err("id"))?
            .map(OrderDoc::into_order)
            .transpose()
    }

    #[tracing::instrument(skip(self))]
    async fn list_for_user(&self, user: UserId, page: Page) -> StoreResult<Paged<Order>> {
        let filter = doc! { "user_id": user.to_string() };
        let docs: Vec<OrderDoc> = self
            .orders
            .find(filter.clone())
            .sort(doc! { "_id": -1 })
            .skip(page.skip())
            .limit(to_i64(page.limit))
            .await
            .map_err(map_err("id"))?
            .try_collect()
            .await
            .map_err(map_err("id"))?;
        let total = super::count(&self.orders, filter, None).await?;
        let items = docs
            .into_iter()
            .map(OrderDoc::into_order)
            .collect::<StoreResult<_>>()?;
        Ok(Paged { items, page, total })
    }

    #[tracing::instrument(skip(self, payment))]
    async fn transition(
        &self,
        id: OrderId,
        from: OrderStatus,
        to: OrderStatus,
        payment: Option<PaymentInfo>,
    ) -> StoreResult<Option<Order>> {
        let mut set = doc! { "status": to.as_str(), "updated_at": to_bson_date(now()) };
        if let Some(payment) = &payment {
            let payment = mongodb::bson::to_bson(&PaymentDoc::from_info(payment))
                .map_err(|e| StoreError::Other(e.into()))?;
            set.insert("payment", payment);
        }
        self.orders
            .find_one_and_update(
                doc! { "_id": id.object_id(), "status": from.as_str() },
                doc! { "$set": set },
            )
            .return_document(ReturnDocument::After)
            .await
            .map_err(map_err("id"))?
            .map(OrderDoc::into_order)
            .transpose()
    }
}
