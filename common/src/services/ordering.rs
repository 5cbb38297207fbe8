//! Ordering: placing orders (prices captured, stock taken atomically), paying them through the
//! payment provider, shipping and cancelling.
//!
//! [`Ordering`] checks each request (the lines against the catalog, who may see an order, what
//! state it is in) and hands the change itself to an [`OrderFlow`]. Step 0's is [`Direct`]:
//! one store call after another, stock taken line by line with conditional updates and put
//! back if a later line is short or the order cannot be stored. A process that dies between
//! two of those calls strands what the first did (stock with no order, a charge with no
//! record), which is exactly what step 6's flow, a persisted saga, fixes.

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
    /// Admits every write operation (place, pay, ship, cancel) before it does anything. Step
    /// 0's admits all ([`Open`]); step 5's cutover pauses them while orders move to PostgreSQL.
    pub writes: Arc<dyn OrderWrites>,
    /// Makes the changes once a request has been checked ([`Direct`] here; step 6's saga).
    pub flow: Arc<dyn OrderFlow>,
}

/// How an order changes, once [`Ordering`] has checked the request: the lines are priced
/// from the catalog, the caller may act on the order, and it was in a state it may leave.
/// Each call runs detached from the request (a client hanging up does not stop it half-way).
#[async_trait::async_trait]
pub trait OrderFlow: Send + Sync {
    /// Takes the stock of `order`'s lines and stores it (status `pending`); 409
    /// `OUT_OF_STOCK` naming the short line, with nothing taken.
    async fn place(&self, order: Order) -> Result<Order>;
    /// Charges `order` (pending when it was read) with `card_token`; the provider's
    /// idempotency key is `key`, so a repeat of one attempt is a replay, not a second charge.
    async fn pay(&self, order: Order, card_token: String, key: String) -> Result<Order>;
    /// Cancels `order` (pending or paid when it was read): refunds a paid one, returns the
    /// stock.
    async fn cancel(&self, order: Order) -> Result<Order>;
    /// Paid -> shipped.
    async fn ship(&self, id: OrderId) -> Result<Order>;
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
    /// Validates the lines against the catalog and hands a pending order, with the prices of
    /// this moment, to the flow to take its stock and store it.
    ///
    /// Runs detached from the request (see [`detached`]): once stock is taken, the order is
    /// stored or the stock given back, even if the client hangs up or the request times out.
    pub async fn place_order(&self, order: NewOrder) -> Result<Order> {
        let permit = self.writes.admit().await?;
        let this = self.clone();
        detached(async move {
            let _permit = permit;
            let priced = this.priced(order).await?;
            this.flow.place(priced).await
        })
        .await
    }

    /// The order `order` asks for, priced from the catalog: 422 naming each unknown product
    /// or a second currency, before anything changes.
    #[tracing::instrument(skip_all, fields(user = %order.user_id, lines = order.lines.len()))]
    async fn priced(&self, order: NewOrder) -> Result<Order> {
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
        let at = now();
        Ok(Order {
            id: OrderId::new(),
            user_id: order.user_id,
            lines,
            total,
            status: OrderStatus::Pending,
            payment: None,
            created_at: at,
            updated_at: at,
        })
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
            let order = this.get_order(user, id).await?;
            match order.status {
                OrderStatus::Pending => {}
                OrderStatus::Paid | OrderStatus::Shipped => return Err(already_paid()),
                OrderStatus::Cancelled => return Err(invalid_state(&order, "paid")),
            }
            let key = format!("order-{id}-{card_token}");
            this.flow.pay(order, card_token, key).await
        })
        .await
    }

    /// Paid -> shipped.
    pub async fn ship_order(&self, id: OrderId) -> Result<Order> {
        let _permit = self.writes.admit().await?;
        self.flow.ship(id).await
    }

    /// Pending or paid -> cancelled: a paid order is refunded, and the stock goes back
    /// (detached from the request).
    pub async fn cancel_order(&self, id: OrderId) -> Result<Order> {
        let permit = self.writes.admit().await?;
        let this = self.clone();
        detached(async move {
            let _permit = permit;
            let order = this.orders.get(id).await?.ok_or(Error::NotFound("order"))?;
            if !order.status.can_become(OrderStatus::Cancelled) {
                return Err(invalid_state(&order, "cancelled"));
            }
            this.flow.cancel(order).await
        })
        .await
    }
}

/// Step 0's flow: each change is a few store and provider calls in a row, each undone by the
/// next if it fails. Nothing records how far it got, so a crash in between is not undone.
#[derive(Clone)]
pub struct Direct {
    pub orders: Arc<dyn OrderStore>,
    pub products: Arc<dyn ProductStore>,
    pub payments: Arc<dyn PaymentStore>,
    pub gateway: Arc<dyn PaymentGateway>,
}

#[async_trait::async_trait]
impl OrderFlow for Direct {
    #[tracing::instrument(skip_all, fields(order = %placed.id))]
    async fn place(&self, placed: Order) -> Result<Order> {
        self.take_stock(&placed.lines).await?;
        if let Err(e) = self.orders.insert(&placed).await {
            self.return_stock(&placed.lines).await;
            return Err(e.into());
        }
        Ok(placed)
    }

    #[tracing::instrument(skip(self, order, card_token), fields(order = %order.id))]
    async fn pay(
        &self,
        order: Order,
        card_token: String,
        idempotency_key: String,
    ) -> Result<Order> {
        let id = order.id;
        let charged = self
            .gateway
            .charge(ChargeRequest {
                amount: order.total,
                card_token,
                idempotency_key: idempotency_key.clone(),
                description: charge_description(id),
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
            Err(e) => return Err(charge_failed(e)),
        };
        self.record(
            &order,
            &idempotency_key,
            PaymentStatus::Succeeded,
            Some(charge.id.clone()),
            None,
        )
        .await;

        let paid = self
            .orders
            .transition(
                id,
                OrderStatus::Pending,
                OrderStatus::Paid,
                Some(payment_info(&order, &charge.id)),
            )
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
        Err(lost_payment_race(&current))
    }

    /// A paid order is first moved to `cancelled` (a compare-and-set, so a concurrent ship
    /// cannot also win), then refunded. If the provider cannot refund, the order is moved back
    /// to `paid` and the answer is 503: it is never left cancelled but charged.
    #[tracing::instrument(skip_all, fields(order = %order.id))]
    async fn cancel(&self, order: Order) -> Result<Order> {
        let id = order.id;
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
            return Err(refund_failed(e));
        }
        self.return_stock(&cancelled.lines).await;
        Ok(cancelled)
    }

    async fn ship(&self, id: OrderId) -> Result<Order> {
        if let Some(order) = self
            .orders
            .transition(id, OrderStatus::Paid, OrderStatus::Shipped, None)
            .await?
        {
            return Ok(order);
        }
        let current = self.orders.get(id).await?.ok_or(Error::NotFound("order"))?;
        Err(invalid_state(&current, "shipped"))
    }
}

impl Direct {
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
        let record = payment_record(order, key, status, provider_reference, reason);
        if let Err(e) = self.payments.record(&record).await {
            tracing::error!(error = %e, order = %order.id, "payment attempt not recorded");
        }
    }
}

/// What the provider is told a charge is for: the one link from its records to the order,
/// which reconciliation (and step 6's invariant checker) follows.
pub fn charge_description(id: OrderId) -> String {
    format!("stepwise-shop order {id}")
}

/// One attempt at the provider for `order`'s total, as the payment trail records it.
pub fn payment_record(
    order: &Order,
    key: &str,
    status: PaymentStatus,
    provider_reference: Option<String>,
    reason: Option<String>,
) -> PaymentRecord {
    PaymentRecord {
        order_id: order.id,
        idempotency_key: key.to_owned(),
        amount: order.total,
        status,
        provider_reference,
        reason,
        created_at: now(),
    }
}

/// The payment an order records once `charge` has paid it.
pub fn payment_info(order: &Order, charge: &str) -> PaymentInfo {
    PaymentInfo {
        provider_reference: charge.to_owned(),
        amount: order.total,
        status: "succeeded".to_owned(),
        paid_at: now(),
    }
}

/// A charge the provider did not make: its card was refused (422 naming `card_token`) or the
/// provider could not be reached (503). Declines are the caller's to record.
pub fn charge_failed(e: PaymentError) -> Error {
    match e {
        PaymentError::Declined { reason } => Error::PaymentDeclined { reason },
        PaymentError::Rejected(reason) => Error::invalid_field("card_token", reason),
        PaymentError::Unavailable(e) => Error::PaymentUnavailable(e),
    }
}

/// A refund the provider did not make: 503 when it could not be reached, 500 otherwise.
pub fn refund_failed(e: PaymentError) -> Error {
    match e {
        PaymentError::Unavailable(e) => Error::PaymentUnavailable(e),
        other => Error::Internal(other.into()),
    }
}

/// What a payment that found its order already moved on answers: `current` is how it is now.
pub fn lost_payment_race(current: &Order) -> Error {
    match current.status {
        OrderStatus::Cancelled => invalid_state(current, "paid"),
        _ => already_paid(),
    }
}

pub fn already_paid() -> Error {
    Error::conflict("ALREADY_PAID", "this order is already paid")
}

/// Runs `work` on its own task and waits for it. If the caller is dropped (a client hanging
/// up, the request timeout), the task still runs to the end, so multi-step work (take stock,
/// store the order) is never abandoned half-way. A panic inside becomes a 500. The task
/// keeps the caller's trace context ([`crate::trace::propagate`]), so the payment call and
/// the events it makes carry the request's trace.
pub async fn detached<T: Send + 'static>(
    work: impl std::future::Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    tokio::spawn(crate::trace::propagate(work))
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("order task failed: {e}")))?
}

pub fn invalid_state(order: &Order, wanted: &str) -> Error {
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
