//! Ordering: placing orders (prices captured, stock taken atomically), paying them through the
//! payment provider, shipping and cancelling.
//!
//! Placing an order takes stock line by line with conditional updates and puts it back if a
//! later line is short or the order cannot be stored. This is the baseline's approach; a crash
//! between the two steps can strand stock, which is exactly what step 6's persisted saga fixes.

use std::collections::HashMap;
use std::sync::Arc;

use crate::auth::AuthUser;
use crate::domain::{
    Money, NewOrder, Order, OrderId, OrderLine, OrderStatus, Page, Paged, PaymentInfo,
    PaymentRecord, PaymentStatus, Product,
};
use crate::error::{Error, FieldError, Result};
use crate::payments::{ChargeRequest, PaymentError, PaymentGateway};
use crate::store::mongo::now;
use crate::store::{OrderStore, PaymentStore, ProductStore};

#[derive(Clone)]
pub struct Ordering {
    pub orders: Arc<dyn OrderStore>,
    pub products: Arc<dyn ProductStore>,
    pub payments: Arc<dyn PaymentStore>,
    pub gateway: Arc<dyn PaymentGateway>,
    /// Admits every write operation (place, pay, ship, cancel) before it does anything. Step
    /// 0's admits all ([`Open`]); step 5's cutover pauses them while orders move to PostgreSQL.
    pub writes: Arc<dyn OrderWrites>,
}

/// Whether an order write may start now. The permit it gives is held until the operation has
/// finished, its detached part included, so whoever pauses writes can wait for the ones
/// already running to end: an operation is never cut in half (a charge with no record).
#[async_trait::async_trait]
pub trait OrderWrites: Send + Sync {
    /// A permit, or the error the client gets (e.g. 503 `MAINTENANCE` with `Retry-After`).
    async fn admit(&self) -> Result<WritePermit>;
}

/// Held for the length of one write operation; what it holds is the gate's business.
pub struct WritePermit(#[allow(dead_code)] Box<dyn Send>);

impl WritePermit {
    pub fn new(held: impl Send + 'static) -> Self {
        Self(Box::new(held))
    }
}

/// Every write admitted at once, holding nothing.
pub struct Open;

#[async_trait::async_trait]
impl OrderWrites for Open {
    async fn admit(&self) -> Result<WritePermit> {
        Ok(WritePermit::new(()))
    }
}

impl Ordering {
    /// Validates the lines against the catalog, takes stock, and stores a pending order with
    /// the prices of this moment.
    ///
    /// Runs detached from the request (see [`detached`]): once stock is taken, the order is
    /// stored or the stock given back, even if the client hangs up or the request times out.
    pub async fn place_order(&self, order: NewOrder) -> Result<Order> {
        let permit = self.writes.admit().await?;
        let this = self.clone();
        detached(async move {
            let _permit = permit;
            this.place_order_now(order).await
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(user = %order.user_id, lines = order.lines.len()))]
    async fn place_order_now(&self, order: NewOrder) -> Result<Order> {
        let ids: Vec<_> = order.lines.iter().map(|l| l.product_id).collect();
        let products: HashMap<_, Product> = self
            .products
            .get_many(&ids)
            .await?
            .into_iter()
            .map(|p| (p.id, p))
            .collect();

        let mut problems = Vec::new();
        let mut lines = Vec::with_capacity(order.lines.len());
        for (i, line) in order.lines.iter().enumerate() {
            match products.get(&line.product_id) {
                None => problems.push(FieldError::new(
                    format!("items[{i}].product_id"),
                    "no such product",
                )),
                Some(p) => lines.push(OrderLine {
                    product_id: p.id,
                    sku: p.sku.clone(),
                    name: p.name.clone(),
                    unit_price: p.price,
                    quantity: line.quantity,
                }),
            }
        }
        if !problems.is_empty() {
            return Err(Error::Validation(problems));
        }
        let total = order_total(&lines)?;

        self.take_stock(&lines).await?;
        let at = now();
        let placed = Order {
            id: OrderId::new(),
            user_id: order.user_id,
            lines,
            total,
            status: OrderStatus::Pending,
            payment: None,
            created_at: at,
            updated_at: at,
        };
        if let Err(e) = self.orders.insert(&placed).await {
            self.return_stock(&placed.lines).await;
            return Err(e.into());
        }
        Ok(placed)
    }

    /// Takes every line's quantity or none: on the first short line, what was taken goes back.
    async fn take_stock(&self, lines: &[OrderLine]) -> Result<()> {
        for (i, line) in lines.iter().enumerate() {
            let outcome = self
                .products
                .take_stock(line.product_id, line.quantity.get())
                .await;
            match outcome {
                Ok(true) => continue,
                Ok(false) => {
                    self.return_stock(&lines[..i]).await;
                    return Err(Error::Conflict {
                        code: "OUT_OF_STOCK",
                        message: format!("not enough stock for {}", line.sku),
                        fields: vec![FieldError::new(
                            format!("items[{i}].quantity"),
                            format!("not enough stock of {}", line.sku),
                        )],
                    });
                }
                Err(e) => {
                    self.return_stock(&lines[..i]).await;
                    return Err(e.into());
                }
            }
        }
        Ok(())
    }

    /// Best effort: a failure here strands stock, and is logged loudly for an operator.
    async fn return_stock(&self, lines: &[OrderLine]) {
        for line in lines {
            if let Err(e) = self
                .products
                .return_stock(line.product_id, line.quantity.get())
                .await
            {
                tracing::error!(error = %e, product = %line.product_id, quantity = line.quantity.get(), "stock could not be returned");
            }
        }
    }

    pub async fn list_orders(&self, user: AuthUser, page: Page) -> Result<Paged<Order>> {
        Ok(self.orders.list_for_user(user.id, page).await?)
    }

    /// The order if the user owns it or is an admin; 404 otherwise, so another customer's
    /// order ids reveal nothing.
    pub async fn get_order(&self, user: AuthUser, id: OrderId) -> Result<Order> {
        match self.orders.get(id).await? {
            Some(order) if order.user_id == user.id || user.is_admin() => Ok(order),
            _ => Err(Error::NotFound("order")),
        }
    }

    /// Charges the order's total and marks it paid (detached from the request, like
    /// [`Ordering::place_order`]).
    ///
    /// The idempotency key is derived from the order and the card token: retrying after a
    /// timeout with the same card replays the same charge instead of charging twice, while a
    /// different card after a decline is a new attempt.
    pub async fn pay_order(
        &self,
        user: AuthUser,
        id: OrderId,
        card_token: String,
    ) -> Result<Order> {
        let permit = self.writes.admit().await?;
        let this = self.clone();
        detached(async move {
            let _permit = permit;
            this.pay_order_now(user, id, card_token).await
        })
        .await
    }

    #[tracing::instrument(skip(self, card_token))]
    async fn pay_order_now(
        &self,
        user: AuthUser,
        id: OrderId,
        card_token: String,
    ) -> Result<Order> {
        let order = self.get_order(user, id).await?;
        match order.status {
            OrderStatus::Pending => {}
            OrderStatus::Paid | OrderStatus::Shipped => {
                return Err(Error::conflict(
                    "ALREADY_PAID",
                    "this order is already paid",
                ));
            }
            OrderStatus::Cancelled => return Err(invalid_state(&order, "paid")),
        }
        let idempotency_key = format!("order-{id}-{card_token}");
        let charged = self
            .gateway
            .charge(ChargeRequest {
                amount: order.total,
                card_token,
                idempotency_key: idempotency_key.clone(),
                description: format!("stepwise-shop order {id}"),
            })
            .await;
        let charge = match charged {
            Ok(charge) => charge,
            Err(PaymentError::Declined { reason }) => {
                self.record(
                    &order,
                    &idempotency_key,
                    PaymentStatus::Declined,
                    None,
                    Some(reason.clone()),
                )
                .await;
                return Err(Error::PaymentDeclined { reason });
            }
            Err(PaymentError::Rejected(reason)) => {
                return Err(Error::invalid_field("card_token", reason));
            }
            Err(PaymentError::Unavailable(e)) => return Err(Error::PaymentUnavailable(e)),
        };
        self.record(
            &order,
            &idempotency_key,
            PaymentStatus::Succeeded,
            Some(charge.id.clone()),
            None,
        )
        .await;

        let payment = PaymentInfo {
            provider_reference: charge.id.clone(),
            amount: order.total,
            status: "succeeded".to_owned(),
            paid_at: now(),
        };
        let paid = self
            .orders
            .transition(id, OrderStatus::Pending, OrderStatus::Paid, Some(payment))
            .await?;
        if let Some(paid) = paid {
            return Ok(paid);
        }
        // Someone else moved the order meanwhile. A replay of the charge that paid it is fine;
        // any other charge must not be kept.
        let current = self.orders.get(id).await?.ok_or(Error::NotFound("order"))?;
        if current
            .payment
            .as_ref()
            .is_some_and(|p| p.provider_reference == charge.id)
        {
            return Ok(current);
        }
        if let Err(e) = self.refund(&current, &charge.id).await {
            tracing::error!(error = %e, charge = %charge.id, order = %id, "a duplicate charge could not be refunded");
        }
        match current.status {
            OrderStatus::Cancelled => Err(invalid_state(&current, "paid")),
            _ => Err(Error::conflict(
                "ALREADY_PAID",
                "this order is already paid",
            )),
        }
    }

    /// Paid -> shipped.
    pub async fn ship_order(&self, id: OrderId) -> Result<Order> {
        let _permit = self.writes.admit().await?;
        self.transition(id, OrderStatus::Paid, OrderStatus::Shipped)
            .await
    }

    /// Pending or paid -> cancelled, then the stock goes back (detached from the request).
    ///
    /// A paid order is first moved to `cancelled` (a compare-and-set, so a concurrent ship
    /// cannot also win), then refunded. If the provider cannot refund, the order is moved back
    /// to `paid` and the answer is 503: it is never left cancelled but charged.
    pub async fn cancel_order(&self, id: OrderId) -> Result<Order> {
        let permit = self.writes.admit().await?;
        let this = self.clone();
        detached(async move {
            let _permit = permit;
            this.cancel_order_now(id).await
        })
        .await
    }

    #[tracing::instrument(skip(self))]
    async fn cancel_order_now(&self, id: OrderId) -> Result<Order> {
        let order = self.orders.get(id).await?.ok_or(Error::NotFound("order"))?;
        if !order.status.can_become(OrderStatus::Cancelled) {
            return Err(invalid_state(&order, "cancelled"));
        }
        let refunded_payment = order.payment.clone().map(|p| PaymentInfo {
            status: "refunded".to_owned(),
            ..p
        });
        let cancelled = match self
            .orders
            .transition(id, order.status, OrderStatus::Cancelled, refunded_payment)
            .await?
        {
            Some(cancelled) => cancelled,
            None => {
                let current = self.orders.get(id).await?.ok_or(Error::NotFound("order"))?;
                return Err(invalid_state(&current, "cancelled"));
            }
        };
        if let (OrderStatus::Paid, Some(payment)) = (order.status, &order.payment)
            && let Err(e) = self.refund(&order, &payment.provider_reference).await
        {
            let restored = self
                .orders
                .transition(
                    id,
                    OrderStatus::Cancelled,
                    OrderStatus::Paid,
                    order.payment.clone(),
                )
                .await;
            if !matches!(restored, Ok(Some(_))) {
                tracing::error!(order = %id, "refund failed and the order could not be restored to paid");
            }
            return Err(match e {
                PaymentError::Unavailable(e) => Error::PaymentUnavailable(e),
                other => Error::Internal(other.into()),
            });
        }
        self.return_stock(&cancelled.lines).await;
        Ok(cancelled)
    }

    /// Refunds a charge in full and records it. The key makes a retried refund a replay.
    async fn refund(&self, order: &Order, charge_id: &str) -> Result<(), PaymentError> {
        let key = format!("refund-{charge_id}");
        self.gateway.refund(charge_id, &key).await?;
        self.record(
            order,
            &key,
            PaymentStatus::Refunded,
            Some(charge_id.to_owned()),
            None,
        )
        .await;
        Ok(())
    }

    async fn transition(&self, id: OrderId, from: OrderStatus, to: OrderStatus) -> Result<Order> {
        if let Some(order) = self.orders.transition(id, from, to, None).await? {
            return Ok(order);
        }
        let current = self.orders.get(id).await?.ok_or(Error::NotFound("order"))?;
        Err(invalid_state(&current, to.as_str()))
    }

    /// The payment trail is an audit record: failing to write it must not fail a payment
    /// that the provider already took, so it is logged instead.
    async fn record(
        &self,
        order: &Order,
        key: &str,
        status: PaymentStatus,
        provider_reference: Option<String>,
        reason: Option<String>,
    ) {
        let record = PaymentRecord {
            order_id: order.id,
            idempotency_key: key.to_owned(),
            amount: order.total,
            status,
            provider_reference,
            reason,
            created_at: now(),
        };
        if let Err(e) = self.payments.record(&record).await {
            tracing::error!(error = %e, order = %order.id, "payment attempt not recorded");
        }
    }
}

/// Runs `work` on its own task and waits for it. If the caller is dropped (a client hanging
/// up, the request timeout), the task still runs to the end, so multi-step work (take stock,
/// store the order) is never abandoned half-way. A panic inside becomes a 500.
async fn detached<T: Send + 'static>(
    work: impl std::future::Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    tokio::spawn(work)
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("order task failed: {e}")))?
}

fn invalid_state(order: &Order, wanted: &str) -> Error {
    Error::conflict(
        "INVALID_STATE",
        format!("a {} order cannot become {wanted}", order.status.as_str()),
    )
}

/// The order total; every line must share one currency, and the total must be above zero.
fn order_total(lines: &[OrderLine]) -> Result<Money> {
    let currency = lines[0].unit_price.currency;
    let mut total = Money { minor: 0, currency };
    let mut problems = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        match total.checked_add(line.line_total()) {
            Some(sum) => total = sum,
            None => problems.push(FieldError::new(
                format!("items[{i}].product_id"),
                format!(
                    "is priced in {}, the order in {currency}: one order, one currency",
                    line.unit_price.currency
                ),
            )),
        }
    }
    if !problems.is_empty() {
        return Err(Error::Validation(problems));
    }
    // Nothing can be charged for it: a card payment provider refuses a zero amount (and has a
    // minimum), so such an order could never be paid and would hold its stock for ever.
    // Refused before any stock is taken; a free product can still be ordered beside others.
    if total.minor == 0 {
        return Err(Error::invalid_field(
            "items",
            "the order totals zero, which cannot be paid: add a product that has a price",
        ));
    }
    Ok(total)
}
