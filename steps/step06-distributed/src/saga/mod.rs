//! The persisted order saga: step 6's [`OrderFlow`]. Placing, paying and cancelling an order
//! each touch several stores (MongoDB's stock, PostgreSQL's orders, the payment provider),
//! which no one transaction spans. So each is a saga: a row in `sagas` written before its
//! first step, moved forward by a compare-and-set after each step, with a compensation for
//! every step that can fail after an earlier one succeeded.
//!
//! | saga | steps | compensation |
//! |---|---|---|
//! | place | `reserve` (stock, per line, in MongoDB) -> commit the order, its reservations `held` and `order_placed` -> `tidy` (drop the stock marks) | `release` the stock: 409 `OUT_OF_STOCK`, 503 |
//! | pay | `charge` (provider, the attempt's idempotency key) -> `record`: the order paid, its reservations `sold`, `order_paid` | `refund` a charge the order cannot keep (cancelled or paid by another) |
//! | cancel | (pending: the order cancelled and `order_cancelled` first) `refund` (paid; a lost answer is checked with the provider, and when no refund is found (yet), `verify` asks again once one still on its way would have been made) -> `release` | a refund the provider did not make puts the order back to paid (503) |
//!
//! Every step is idempotent, so a step repeated after a crash does what it did once: stock
//! moves carry a mark per order in the product (`ProductStore::move_stock`), the provider
//! replays a charge or refund by its idempotency key, and the PostgreSQL steps are one
//! transaction each, with the saga's own move in it. Whoever drives a saga holds a lease on
//! it; [`crate::recovery`]'s worker resumes every running saga whose lease ran out, on any
//! instance. A resumed `place` that had not committed its order is compensated (its client
//! was never told it succeeded); everything else goes forward. Each step is cut off at nine
//! tenths of the lease, so a stuck driver stops before anyone may take its saga over.

pub mod store;

use std::sync::Arc;

use async_trait::async_trait;
use common::domain::{
    Currency, Money, Order, OrderId, OrderLine, OrderStatus, PaymentStatus, Quantity, Sku, UserId,
};
use common::error::{Error, FieldError, Result};
use common::payments::{ChargeRequest, PaymentError, PaymentGateway};
use common::services::OrderFlow;
use common::services::ordering::{
    charge_description, charge_failed, invalid_state, lost_payment_race, payment_record,
    refund_failed,
};
use common::store::{OrderStore, ProductStore, StockMove};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use step05_hybrid_dbs::store::{Existing, insert_in, record_payment_in};

use crate::config::SagaConfig;
use crate::outbox::{self, EventKind, Figures};
use store::{Locked, Paid, db};

/// Which saga a row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Place,
    Pay,
    Cancel,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Place => "place",
            Kind::Pay => "pay",
            Kind::Cancel => "cancel",
        }
    }

    fn parse(text: &str) -> Result<Kind> {
        Ok(match text {
            "place" => Kind::Place,
            "pay" => Kind::Pay,
            "cancel" => Kind::Cancel,
            _ => return Err(store::corrupt("a saga's kind")),
        })
    }
}

/// The steps, as `sagas.step` names them.
pub mod step {
    pub const RESERVE: &str = "reserve";
    pub const TIDY: &str = "tidy";
    pub const RELEASE: &str = "release";
    pub const CHARGE: &str = "charge";
    pub const RECORD: &str = "record";
    pub const REFUND: &str = "refund";
    pub const VERIFY: &str = "verify";
    /// Every step a saga can be stopped at (by a crash, or `saga.pause_at` in a test).
    pub const ALL: [&str; 7] = [RESERVE, TIDY, RELEASE, CHARGE, RECORD, REFUND, VERIFY];
}

/// What a saga carries from step to step, and across a crash (`sagas.data`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "saga", rename_all = "snake_case")]
pub enum Data {
    /// The order to store once its stock is reserved (it does not exist before that).
    Place(PlacedOrder),
    /// One payment attempt: the card, the provider's idempotency key and, once the provider
    /// has answered, the charge.
    Pay {
        card_token: String,
        key: String,
        charge: Option<String>,
    },
    /// A cancellation: the charge to refund, for a paid order.
    Cancel { charge: Option<String> },
}

impl Data {
    fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    fn from_json(text: &str) -> Result<Data> {
        serde_json::from_str(text).map_err(|_| store::corrupt("a saga's data"))
    }
}

/// An order as the place saga keeps it until it is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlacedOrder {
    pub user_id: String,
    pub total_minor: i64,
    pub currency: String,
    pub lines: Vec<PlacedLine>,
    /// Unix microseconds.
    pub created_at_us: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlacedLine {
    pub product_id: String,
    pub sku: String,
    pub name: String,
    pub unit_price_minor: i64,
    pub quantity: u32,
}

impl PlacedOrder {
    fn of(order: &Order) -> PlacedOrder {
        PlacedOrder {
            user_id: order.user_id.to_string(),
            total_minor: order.total.minor,
            currency: order.total.currency.as_str().to_owned(),
            lines: order
                .lines
                .iter()
                .map(|l| PlacedLine {
                    product_id: l.product_id.to_string(),
                    sku: l.sku.as_str().to_owned(),
                    name: l.name.clone(),
                    unit_price_minor: l.unit_price.minor,
                    quantity: l.quantity.get(),
                })
                .collect(),
            created_at_us: i64::try_from(order.created_at.unix_timestamp_nanos() / 1_000)
                .unwrap_or_default(),
        }
    }

    fn order(&self, id: OrderId) -> Result<Order> {
        let bad = |_| store::corrupt("a placed order");
        let currency = Currency::parse(&self.currency).map_err(bad)?;
        let lines = self
            .lines
            .iter()
            .map(|l| {
                Ok(OrderLine {
                    product_id: l.product_id.parse().map_err(|_| store::corrupt("a line"))?,
                    sku: Sku::parse(&l.sku).map_err(bad)?,
                    name: l.name.clone(),
                    unit_price: Money::price(l.unit_price_minor, currency).map_err(bad)?,
                    quantity: Quantity::parse(i64::from(l.quantity)).map_err(bad)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let created_at =
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.created_at_us) * 1_000)
                .map_err(|_| store::corrupt("a placed order's time"))?;
        let user_id: UserId = self
            .user_id
            .parse()
            .map_err(|_| store::corrupt("a user id"))?;
        Ok(Order {
            id,
            user_id,
            lines,
            total: Money {
                minor: self.total_minor,
                currency,
            },
            status: OrderStatus::Pending,
            payment: None,
            created_at,
            updated_at: created_at,
        })
    }
}

/// A running saga as its driver holds it.
#[derive(Debug, Clone)]
pub struct Running {
    pub id: i64,
    pub kind: Kind,
    pub order_id: OrderId,
    pub step: String,
    pub data: Data,
    /// Who drives it: a token new with each begin and each claim, which every change of the
    /// saga compares.
    pub owner: String,
}

/// The order flow of step 6, and the driver of its sagas.
#[derive(Clone)]
pub struct Sagas {
    pub pool: PgPool,
    /// Orders are read back through step 5's store after a saga has changed them.
    pub orders: Arc<dyn OrderStore>,
    /// The catalog's stock (through step 3's cache, which a move invalidates).
    pub products: Arc<dyn ProductStore>,
    pub gateway: Arc<dyn PaymentGateway>,
    /// This instance's name as a saga owner (a random id per process).
    pub owner: Arc<str>,
    pub config: SagaConfig,
    /// Who wrote lately (with a read replica): the saga marks an order's owner at each commit
    /// that changes the order, so their next reads go to the primary.
    pub written: Option<Arc<crate::replica::Written>>,
    /// Test hook: steps at which a driver stops for ever instead of going on, after saying so
    /// on stderr, so a crash test can kill the process exactly there.
    pub pause_at: Arc<[String]>,
    /// How long after a refund whose answer was lost the provider may still make it: twice
    /// the longest wait for the provider (the request may reach the payments service late,
    /// and then runs for up to its whole deadline there). A check made sooner that finds no
    /// refund is no answer: the refund may be on its way.
    pub refund_settle_ms: u64,
}

/// How a step ended.
enum Flow {
    /// The saga moved on: drive its next step.
    Next,
    /// The saga ended (or was parked): this is the answer.
    End(Result<Order>),
}

impl Sagas {
    /// `user` has just changed one of their orders (see [`Sagas::written`]).
    fn wrote(&self, user: &str) {
        if let Some(written) = &self.written {
            written.mark(user.trim());
        }
    }

    /// A fresh owner token for a saga this instance begins.
    fn new_owner(&self) -> String {
        format!("{}:{}", self.owner, uuid::Uuid::now_v7())
    }

    /// How long one step may run: nine tenths of the lease, so a driver stops before its lease
    /// runs out and another may take the saga.
    fn step_bound(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.config.lease_ms / 10 * 9)
    }

    fn lease_ms(&self) -> i64 {
        i64::try_from(self.config.lease_ms).unwrap_or(i64::MAX)
    }

    /// Drives `saga` until it ends or is parked. `resumed` says whether it was taken from a
    /// dead or parked driver (by the recovery worker) rather than begun by this request.
    pub async fn drive(&self, mut saga: Running, resumed: bool) -> Result<Order> {
        if resumed && saga.kind == Kind::Place && saga.step == step::RESERVE {
            // Its client was never told the order exists: undo, rather than finish, it.
            self.advance(&mut saga, step::RELEASE, None).await?;
        }
        let mut failure = None;
        loop {
            self.pause_if_asked(&saga).await;
            // Each step is bounded by the lease: a driver stuck in one (a connection that
            // stopped answering mid-transaction) gives the saga up before anyone else may take
            // it over, and its dropped transaction is rolled back.
            let step = async {
                match (saga.kind, saga.step.as_str()) {
                    (Kind::Place, step::RESERVE) => self.reserve(&mut saga, &mut failure).await,
                    (Kind::Place, step::TIDY) => self.tidy(&mut saga).await,
                    (_, step::RELEASE) => self.release(&mut saga, failure.take()).await,
                    (Kind::Pay, step::CHARGE) => self.charge(&mut saga).await,
                    (Kind::Pay, step::RECORD) => self.record(&mut saga).await,
                    (Kind::Pay | Kind::Cancel, step::REFUND) => self.refund(&mut saga).await,
                    (Kind::Cancel, step::VERIFY) => self.verify(&mut saga).await,
                    (kind, other) => Err(Error::Internal(anyhow::anyhow!(
                        "a {} saga has no step {other:?}",
                        kind.as_str()
                    ))),
                }
            };
            let flow = match tokio::time::timeout(self.step_bound(), step).await {
                Ok(flow) => flow,
                Err(_) => {
                    tracing::warn!(saga = saga.id, step = %saga.step, "a saga step outlived its bound; its lease will run out");
                    return Err(Error::Store(common::store::StoreError::Unavailable(
                        anyhow::anyhow!("a saga step did not finish in time"),
                    )));
                }
            };
            match flow {
                Ok(Flow::Next) => continue,
                Ok(Flow::End(answer)) => return answer,
                Err(e) => return Err(e),
            }
        }
    }

    async fn pause_if_asked(&self, saga: &Running) {
        if self.pause_at.contains(&saga.step) {
            eprintln!(
                "saga {} ({}) paused at {} for a crash test",
                saga.id,
                saga.kind.as_str(),
                saga.step
            );
            std::future::pending::<()>().await;
        }
    }

    /// Moves `saga` to `to` while it is still ours, in a transaction of its own.
    async fn advance(
        &self,
        saga: &mut Running,
        to: &'static str,
        data: Option<Data>,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(db("sagas"))?;
        self.advance_in(&mut tx, saga, to, data).await?;
        tx.commit().await.map_err(db("sagas"))
    }

    /// Moves `saga` to `to` inside `conn`'s transaction; [`lost`] when another driver has it.
    async fn advance_in(
        &self,
        conn: &mut sqlx::PgConnection,
        saga: &mut Running,
        to: &'static str,
        data: Option<Data>,
    ) -> Result<()> {
        let mut next = saga.clone();
        if let Some(data) = data {
            next.data = data;
        }
        // The CAS compares the step it was at, and writes the new data.
        let at = Running {
            step: saga.step.clone(),
            ..next.clone()
        };
        if !store::advance_in(conn, &at, to, "running", self.lease_ms()).await? {
            return Err(lost(saga));
        }
        next.step = to.to_owned();
        *saga = next;
        Ok(())
    }

    /// Ends `saga` in `state` at `to`, inside `conn`'s transaction.
    async fn finish_in(
        &self,
        conn: &mut sqlx::PgConnection,
        saga: &Running,
        to: &str,
        state: &str,
    ) -> Result<()> {
        if !store::advance_in(conn, saga, to, state, self.lease_ms()).await? {
            return Err(lost(saga));
        }
        Ok(())
    }

    async fn finish(&self, saga: &Running, to: &str, state: &str) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(db("sagas"))?;
        self.finish_in(&mut tx, saga, to, state).await?;
        tx.commit().await.map_err(db("sagas"))
    }

    /// Leaves `saga` for the recovery worker to retry later, and answers `error`.
    async fn park(&self, saga: &Running, attempts: u32, error: Error) -> Result<Flow> {
        let base = self.config.retry_after_ms;
        let wait = base
            .saturating_mul(1 << attempts.min(3))
            .min(base.saturating_mul(10));
        self.park_for(saga, wait, error).await
    }

    /// Parks `saga` for `wait_ms`, then the worker drives it again; `error` is the answer now.
    async fn park_for(&self, saga: &Running, wait_ms: u64, error: Error) -> Result<Flow> {
        let wait = i64::try_from(wait_ms).unwrap_or(i64::MAX);
        if let Err(e) = store::park(&self.pool, saga, wait, &error.to_string()).await {
            // Its lease runs out anyway; the worker takes it then.
            tracing::warn!(error = %e, saga = saga.id, "a saga could not be parked");
        }
        Ok(Flow::End(Err(error)))
    }

    fn mark(kind: &str, order: OrderId) -> String {
        format!("{kind}:{order}")
    }

    // ---- place ----

    /// Takes every line's stock (each move marked with the order, so a repeat is a no-op),
    /// then commits the order with its reservations held and its `order_placed` event.
    async fn reserve(&self, saga: &mut Running, failure: &mut Option<Error>) -> Result<Flow> {
        let Data::Place(placed) = saga.data.clone() else {
            return Err(store::corrupt("a place saga's data"));
        };
        let mark = Self::mark("reserve", saga.order_id);
        for (i, line) in placed.lines.iter().enumerate() {
            let product = line
                .product_id
                .parse()
                .map_err(|_| store::corrupt("a line"))?;
            let moved = self
                .products
                .move_stock(product, -i64::from(line.quantity), &mark)
                .await;
            let problem = match moved {
                Ok(StockMove::Moved | StockMove::AlreadyMoved) => continue,
                Ok(StockMove::Short) => Error::Conflict {
                    code: "OUT_OF_STOCK",
                    message: format!("not enough stock for {}", line.sku),
                    fields: vec![FieldError::new(
                        format!("items[{i}].quantity"),
                        format!("not enough stock of {}", line.sku),
                    )],
                },
                Ok(StockMove::Missing) => Error::Validation(vec![FieldError::new(
                    format!("items[{i}].product_id"),
                    "no such product",
                )]),
                Err(e) => e.into(),
            };
            *failure = Some(problem);
            self.advance(saga, step::RELEASE, None).await?;
            return Ok(Flow::Next);
        }
        let order = placed.order(saga.order_id)?;
        let mut tx = self.pool.begin().await.map_err(db("orders"))?;
        insert_in(&mut tx, &order, Existing::Refuse).await?;
        store::move_reservations_in(&mut tx, saga.order_id, &["reserving"], "held").await?;
        outbox::enqueue_in(
            &mut tx,
            EventKind::OrderPlaced,
            saga.order_id,
            Figures {
                user_id: &placed.user_id,
                total_minor: placed.total_minor,
                currency: &placed.currency,
            },
            0,
        )
        .await?;
        self.advance_in(&mut tx, saga, step::TIDY, None).await?;
        tx.commit().await.map_err(db("orders"))?;
        self.wrote(&placed.user_id);
        Ok(Flow::Next)
    }

    /// Drops the reservation marks from the products: the reservations are recorded here now.
    async fn tidy(&self, saga: &mut Running) -> Result<Flow> {
        let Data::Place(placed) = saga.data.clone() else {
            return Err(store::corrupt("a place saga's data"));
        };
        let mark = Self::mark("reserve", saga.order_id);
        for line in &placed.lines {
            let product = line
                .product_id
                .parse()
                .map_err(|_| store::corrupt("a line"))?;
            if let Err(e) = self.products.forget_stock_move(product, &mark).await {
                return self.park(saga, 0, e.into()).await;
            }
        }
        self.finish(saga, "placed", "done").await?;
        Ok(Flow::End(placed.order(saga.order_id)))
    }

    /// Puts back the stock of every reservation not released yet. A reservation still
    /// `reserving` may or may not have taken its stock (its driver died in between): taking
    /// it again with the same mark settles which, then it is put back like any other.
    async fn release(&self, saga: &mut Running, failure: Option<Error>) -> Result<Flow> {
        let reserve = Self::mark("reserve", saga.order_id);
        let release = Self::mark("release", saga.order_id);
        for r in store::unreleased(&self.pool, saga.order_id).await? {
            let product = r
                .product_id
                .trim()
                .parse()
                .map_err(|_| store::corrupt("a product id"))?;
            let quantity = i64::from(r.quantity);
            let moved = async {
                if r.state == "reserving" {
                    let taken = self
                        .products
                        .move_stock(product, -quantity, &reserve)
                        .await?;
                    if matches!(taken, StockMove::Short | StockMove::Missing) {
                        return Ok(false);
                    }
                }
                self.products
                    .move_stock(product, quantity, &release)
                    .await?;
                Ok::<_, common::store::StoreError>(true)
            }
            .await;
            if let Err(e) = moved {
                return self.park(saga, 0, failure.unwrap_or(e.into())).await;
            }
            store::released(&self.pool, saga.order_id, r.product_id.trim()).await?;
        }
        // The marks go only once every move is recorded (a mark forgotten before its record
        // would let a repeat move the stock again), and the saga ends only once they are gone.
        for product in store::products_of(&self.pool, saga.order_id).await? {
            for mark in [&reserve, &release] {
                if let Err(e) = self.products.forget_stock_move(product, mark).await {
                    return self.park(saga, 0, failure.unwrap_or(e.into())).await;
                }
            }
        }
        match saga.kind {
            Kind::Place => {
                self.finish(saga, "released", "compensated").await?;
                Ok(Flow::End(Err(failure.unwrap_or_else(|| {
                    Error::Internal(anyhow::anyhow!("the order was not placed"))
                }))))
            }
            _ => {
                self.finish(saga, "cancelled", "done").await?;
                Ok(Flow::End(self.order(saga.order_id).await))
            }
        }
    }

    // ---- pay ----

    async fn charge(&self, saga: &mut Running) -> Result<Flow> {
        let Data::Pay {
            card_token, key, ..
        } = saga.data.clone()
        else {
            return Err(store::corrupt("a pay saga's data"));
        };
        let order = self.order(saga.order_id).await?;
        let charged = self
            .gateway
            .charge(ChargeRequest {
                amount: order.total,
                card_token: card_token.clone(),
                idempotency_key: key.clone(),
                description: charge_description(order.id),
            })
            .await;
        match charged {
            Ok(charge) => {
                let data = Data::Pay {
                    card_token,
                    key,
                    charge: Some(charge.id),
                };
                self.advance(saga, step::RECORD, Some(data)).await?;
                Ok(Flow::Next)
            }
            Err(PaymentError::Declined { reason }) => {
                let mut tx = self.pool.begin().await.map_err(db("payments"))?;
                let record = payment_record(
                    &order,
                    &key,
                    PaymentStatus::Declined,
                    None,
                    Some(reason.clone()),
                );
                record_payment_in(&mut *tx, &record).await?;
                self.finish_in(&mut tx, saga, "declined", "failed").await?;
                tx.commit().await.map_err(db("payments"))?;
                Ok(Flow::End(Err(Error::PaymentDeclined { reason })))
            }
            Err(PaymentError::Unavailable(e)) => {
                // The charge may have been made and its answer lost: ask again, with the same
                // key, later (a replay if it was made).
                self.park(saga, 0, Error::PaymentUnavailable(e)).await
            }
            Err(rejected) => {
                self.finish(saga, "rejected", "failed").await?;
                Ok(Flow::End(Err(charge_failed(rejected))))
            }
        }
    }

    /// Records the charge on the order if it is still pending (a replay of the charge that
    /// paid it is a success too); otherwise the charge goes back.
    async fn record(&self, saga: &mut Running) -> Result<Flow> {
        let Data::Pay {
            key,
            charge: Some(charge),
            ..
        } = saga.data.clone()
        else {
            return Err(store::corrupt("a pay saga's data"));
        };
        // Read before the transaction: a connection held while waiting for another from the
        // pool deadlocks once every connection is held by a request waiting for this order's
        // lock.
        let order = self.order(saga.order_id).await?;
        let mut tx = self.pool.begin().await.map_err(db("orders"))?;
        let locked = store::lock_order(&mut tx, saga.order_id)
            .await?
            .ok_or(Error::NotFound("order"))?;
        let record = payment_record(
            &order,
            &key,
            PaymentStatus::Succeeded,
            Some(charge.clone()),
            None,
        );
        record_payment_in(&mut *tx, &record).await?;
        let paid_by_this = locked.payment_reference.as_deref() == Some(charge.as_str());
        if locked.status == "pending" {
            store::set_order_in(
                &mut tx,
                saga.order_id,
                "paid",
                Some(Paid {
                    reference: &charge,
                    amount_minor: locked.total_minor,
                    currency: locked.currency.trim(),
                    paid_at: common::store::mongo::now(),
                }),
                None,
            )
            .await?;
            store::move_reservations_in(&mut tx, saga.order_id, &["held"], "sold").await?;
            outbox::enqueue_in(
                &mut tx,
                EventKind::OrderPaid,
                saga.order_id,
                figures(&locked),
                0,
            )
            .await?;
            self.finish_in(&mut tx, saga, "paid", "done").await?;
        } else if paid_by_this {
            self.finish_in(&mut tx, saga, "paid", "done").await?;
        } else {
            self.advance_in(&mut tx, saga, step::REFUND, None).await?;
            tx.commit().await.map_err(db("orders"))?;
            return Ok(Flow::Next);
        }
        tx.commit().await.map_err(db("orders"))?;
        Ok(Flow::End(self.order(saga.order_id).await))
    }

    // ---- refunds: a payment's compensation, a paid order's cancellation ----

    async fn refund(&self, saga: &mut Running) -> Result<Flow> {
        let charge = refund_of(saga)?;
        let key = format!("refund-{charge}");
        let refunded = match self.gateway.refund(&charge, &key).await {
            Ok(()) => Ok(()),
            // The answer is missing, not necessarily the refund: the provider may have made it
            // and lost the answer. Ask it. Only a refund found is an answer: "none yet" may
            // be a refund still on its way (`refund_settle_ms`), so it is asked again later.
            Err(PaymentError::Unavailable(e)) => match self.gateway.find_charge(&charge).await {
                Ok(Some(c)) if c.amount_refunded_minor >= c.amount_minor => Ok(()),
                _ => Err(PaymentError::Unavailable(e)),
            },
            Err(e) => Err(e),
        };
        let order = self.order(saga.order_id).await?;
        if saga.kind == Kind::Pay {
            return match refunded {
                Ok(()) => {
                    let mut tx = self.pool.begin().await.map_err(db("payments"))?;
                    let record =
                        payment_record(&order, &key, PaymentStatus::Refunded, Some(charge), None);
                    record_payment_in(&mut *tx, &record).await?;
                    self.finish_in(&mut tx, saga, "refunded", "compensated")
                        .await?;
                    tx.commit().await.map_err(db("payments"))?;
                    Ok(Flow::End(Err(lost_payment_race(&order))))
                }
                // A charge the order cannot keep goes back, however long the provider takes.
                _ => {
                    tracing::warn!(%charge, "a charge to give back could not be refunded yet");
                    self.park(saga, 0, lost_payment_race(&order)).await
                }
            };
        }
        let mut tx = self.pool.begin().await.map_err(db("orders"))?;
        let locked = store::lock_order(&mut tx, saga.order_id)
            .await?
            .ok_or(Error::NotFound("order"))?;
        match refunded {
            Ok(()) => {
                self.cancelled_and_refunded_in(&mut tx, saga, &order, &locked, &charge, &key)
                    .await?;
                tx.commit().await.map_err(db("orders"))?;
                Ok(Flow::Next)
            }
            Err(e) => {
                // No refund known. The order goes back to paid, as step 0 did, and the saga
                // waits to ask again (`verify`): a refund the provider made after all then
                // finishes the cancellation, none ends the saga. After a lost answer it asks
                // only once a refund still on its way would have been made.
                let wait = match &e {
                    PaymentError::Unavailable(_) => self.refund_settle_ms,
                    _ => 0,
                };
                store::set_order_in(&mut tx, saga.order_id, "paid", None, None).await?;
                self.wrote(&locked.user_id);
                self.advance_in(&mut tx, saga, step::VERIFY, None).await?;
                tx.commit().await.map_err(db("orders"))?;
                let backoff = self.config.retry_after_ms;
                self.park_for(saga, wait.max(backoff), refund_failed(e))
                    .await
            }
        }
    }

    /// A cancellation whose refund's answer was lost, its order put back to paid: did the
    /// provider make the refund after all? Then the cancellation goes on as if it had answered.
    async fn verify(&self, saga: &mut Running) -> Result<Flow> {
        let charge = refund_of(saga)?;
        let refunded = match self.gateway.find_charge(&charge).await {
            Ok(found) => found.is_some_and(|c| c.amount_refunded_minor >= c.amount_minor),
            Err(e) => return self.park(saga, 1, charge_failed(e)).await,
        };
        let order = self.order(saga.order_id).await?;
        let mut tx = self.pool.begin().await.map_err(db("orders"))?;
        let locked = store::lock_order(&mut tx, saga.order_id)
            .await?
            .ok_or(Error::NotFound("order"))?;
        if !refunded {
            self.finish_in(&mut tx, saga, "restored", "compensated")
                .await?;
            tx.commit().await.map_err(db("orders"))?;
            return Ok(Flow::End(Ok(order)));
        }
        if locked.status != "paid" {
            // Another cancellation has finished it meanwhile (with the same refund key).
            self.finish_in(&mut tx, saga, "cancelled", "done").await?;
            tx.commit().await.map_err(db("orders"))?;
            return Ok(Flow::End(Ok(order)));
        }
        let key = format!("refund-{charge}");
        self.cancelled_and_refunded_in(&mut tx, saga, &order, &locked, &charge, &key)
            .await?;
        tx.commit().await.map_err(db("orders"))?;
        Ok(Flow::Next)
    }

    /// Inside `conn`'s transaction: the refund recorded, the order cancelled with its payment
    /// refunded, its stock on the way back, its event; then the release.
    async fn cancelled_and_refunded_in(
        &self,
        conn: &mut sqlx::PgConnection,
        saga: &mut Running,
        order: &Order,
        locked: &Locked,
        charge: &str,
        key: &str,
    ) -> Result<()> {
        let record = payment_record(
            order,
            key,
            PaymentStatus::Refunded,
            Some(charge.to_owned()),
            None,
        );
        record_payment_in(&mut *conn, &record).await?;
        store::set_order_in(conn, saga.order_id, "cancelled", None, Some("refunded")).await?;
        self.wrote(&locked.user_id);
        store::move_reservations_in(conn, saga.order_id, &["sold"], "releasing").await?;
        outbox::enqueue_in(
            conn,
            EventKind::OrderCancelled,
            saga.order_id,
            figures(locked),
            locked.total_minor,
        )
        .await?;
        self.advance_in(conn, saga, step::RELEASE, None).await
    }

    async fn order(&self, id: OrderId) -> Result<Order> {
        self.orders.get(id).await?.ok_or(Error::NotFound("order"))
    }

    /// Cancels a pending order inside `conn`'s transaction, with its event and its release
    /// saga; `None` when it is not pending any more (locked, so the answer holds).
    pub async fn cancel_pending_in(
        &self,
        conn: &mut sqlx::PgConnection,
        id: OrderId,
    ) -> Result<Option<Running>> {
        let Some(locked) = store::lock_order(conn, id).await? else {
            return Ok(None);
        };
        if locked.status != "pending" {
            return Ok(None);
        }
        store::set_order_in(conn, id, "cancelled", None, None).await?;
        self.wrote(&locked.user_id);
        store::move_reservations_in(conn, id, &["held"], "releasing").await?;
        outbox::enqueue_in(conn, EventKind::OrderCancelled, id, figures(&locked), 0).await?;
        let data = Data::Cancel { charge: None };
        let saga = store::begin_in(
            conn,
            Kind::Cancel,
            id,
            step::RELEASE,
            &data,
            &self.new_owner(),
            self.lease_ms(),
        )
        .await?;
        Ok(Some(saga))
    }
}

/// The charge a refund step gives back.
fn refund_of(saga: &Running) -> Result<String> {
    match &saga.data {
        Data::Pay {
            charge: Some(charge),
            ..
        }
        | Data::Cancel {
            charge: Some(charge),
        } => Ok(charge.clone()),
        _ => Err(store::corrupt("a refund's charge")),
    }
}

fn figures(locked: &Locked) -> Figures<'_> {
    Figures {
        user_id: &locked.user_id,
        total_minor: locked.total_minor,
        currency: &locked.currency,
    }
}

/// Another driver has the saga now (this one's lease ran out): it finishes the work, and this
/// request answers 503 (a retry sees the outcome).
fn lost(saga: &Running) -> Error {
    tracing::warn!(saga = saga.id, step = %saga.step, "saga taken over by another driver");
    Error::Store(common::store::StoreError::Unavailable(anyhow::anyhow!(
        "the order is being changed by another instance"
    )))
}

#[async_trait]
impl OrderFlow for Sagas {
    async fn place(&self, order: Order) -> Result<Order> {
        let data = Data::Place(PlacedOrder::of(&order));
        let lines: Vec<(String, i32)> = order
            .lines
            .iter()
            .map(|l| {
                (
                    l.product_id.to_string(),
                    i32::try_from(l.quantity.get()).unwrap_or(i32::MAX),
                )
            })
            .collect();
        let mut tx = self.pool.begin().await.map_err(db("sagas"))?;
        let saga = store::begin_in(
            &mut tx,
            Kind::Place,
            order.id,
            step::RESERVE,
            &data,
            &self.new_owner(),
            self.lease_ms(),
        )
        .await?;
        store::reserve_in(&mut tx, order.id, &lines).await?;
        tx.commit().await.map_err(db("sagas"))?;
        self.drive(saga, false).await
    }

    async fn pay(&self, order: Order, card_token: String, key: String) -> Result<Order> {
        let data = Data::Pay {
            card_token,
            key,
            charge: None,
        };
        let mut tx = self.pool.begin().await.map_err(db("sagas"))?;
        let saga = store::begin_in(
            &mut tx,
            Kind::Pay,
            order.id,
            step::CHARGE,
            &data,
            &self.new_owner(),
            self.lease_ms(),
        )
        .await?;
        tx.commit().await.map_err(db("sagas"))?;
        self.drive(saga, false).await
    }

    async fn cancel(&self, order: Order) -> Result<Order> {
        let mut tx = self.pool.begin().await.map_err(db("orders"))?;
        let saga = match order.status {
            OrderStatus::Pending => self.cancel_pending_in(&mut tx, order.id).await?,
            _ => {
                let locked = store::lock_order(&mut tx, order.id)
                    .await?
                    .ok_or(Error::NotFound("order"))?;
                if locked.status == "paid" {
                    store::set_order_in(&mut tx, order.id, "cancelled", None, None).await?;
                    self.wrote(&locked.user_id);
                    let data = Data::Cancel {
                        charge: locked.payment_reference.clone(),
                    };
                    Some(
                        store::begin_in(
                            &mut tx,
                            Kind::Cancel,
                            order.id,
                            step::REFUND,
                            &data,
                            &self.new_owner(),
                            self.lease_ms(),
                        )
                        .await?,
                    )
                } else {
                    None
                }
            }
        };
        tx.commit().await.map_err(db("orders"))?;
        match saga {
            Some(saga) => self.drive(saga, false).await,
            None => Err(invalid_state(&self.order(order.id).await?, "cancelled")),
        }
    }

    async fn ship(&self, id: OrderId) -> Result<Order> {
        let mut tx = self.pool.begin().await.map_err(db("orders"))?;
        let locked = store::lock_order(&mut tx, id)
            .await?
            .ok_or(Error::NotFound("order"))?;
        if locked.status == "paid" && store::cancelling_in(&mut tx, id).await? {
            tx.rollback().await.map_err(db("orders"))?;
            return Err(Error::conflict(
                "CANCELLATION_PENDING",
                "a cancellation of this order is being settled with the payment provider; try \
                 again later",
            ));
        }
        if locked.status == "paid" {
            store::set_order_in(&mut tx, id, "shipped", None, None).await?;
            self.wrote(&locked.user_id);
            outbox::enqueue_in(&mut tx, EventKind::OrderShipped, id, figures(&locked), 0).await?;
            tx.commit().await.map_err(db("orders"))?;
            return self.order(id).await;
        }
        tx.rollback().await.map_err(db("orders"))?;
        Err(invalid_state(&self.order(id).await?, "shipped"))
    }
}
