//! The clients' side: every call to MongoDB, PostgreSQL, Redis and the payments service
//! timed, and its failures counted, in `shop_client_request_duration_seconds` and
//! `shop_client_errors_total` (`client`, `operation`).
//!
//! Each client is reached where it already has a seam: MongoDB through the driver's command
//! and connection-pool events ([`MongoEvents`], installed by step 9's `tune_own_mongo`);
//! Redis through step 3's handle, which tells an observer of every call; PostgreSQL through
//! the order and payment stores, wrapped ([`MeasuredOrders`], [`MeasuredPayments`]); the
//! payments service through the payment gateway, wrapped ([`MeasuredGateway`]). The saga's
//! own PostgreSQL transactions are not timed one by one: the pool's saturation
//! (`shop_pool_connections`) and the HTTP latency of the order routes stand for them.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use common::domain::{
    Order, OrderId, OrderStatus, Page, Paged, PaymentInfo, PaymentRecord, UserId,
};
use common::payments::{Charge, ChargeDetails, ChargeRequest, PaymentError, PaymentGateway};
use common::store::{OrderStore, PaymentStore, StoreResult};
use mongodb::event::EventHandler;
use mongodb::event::cmap::CmapEvent;
use mongodb::event::command::CommandEvent;

use super::Metrics;

impl Metrics {
    /// Records one call of `client`'s `operation`.
    pub fn client_call(&self, client: &str, operation: &str, took: Duration, ok: bool) {
        self.client_duration
            .with_label_values(&[client, operation])
            .observe(took.as_secs_f64());
        if !ok {
            self.client_errors
                .with_label_values(&[client, operation])
                .inc();
        }
    }

    /// Times `call` as one of `client`'s `operation`s; `ok` says whether its result counts
    /// as a success.
    pub async fn time<T>(
        &self,
        client: &str,
        operation: &str,
        call: impl Future<Output = T>,
        ok: impl FnOnce(&T) -> bool,
    ) -> T {
        let started = Instant::now();
        let result = call.await;
        self.client_call(client, operation, started.elapsed(), ok(&result));
        result
    }
}

/// The MongoDB commands the stores send, by name; any other is `other` (the driver's
/// command names are a fixed set, but a label takes no chance).
const MONGO_COMMANDS: &[&str] = &[
    "find",
    "getMore",
    "insert",
    "update",
    "delete",
    "findAndModify",
    "aggregate",
    "count",
    "distinct",
    "createIndexes",
    "listIndexes",
    "dropIndexes",
    "listCollections",
    "create",
    "drop",
    "killCursors",
    "commitTransaction",
    "abortTransaction",
    "endSessions",
    "ping",
    "hello",
    "buildInfo",
];

fn mongo_operation(name: &str) -> &'static str {
    MONGO_COMMANDS
        .iter()
        .find(|known| **known == name)
        .copied()
        .unwrap_or("other")
}

/// What the MongoDB driver's events tell of one deployment: command durations and
/// failures, and its pool's connections.
///
/// The driver takes its event handlers when the client is made, which is before the state
/// (and its [`Metrics`]) exists: so the handlers hold a slot that [`Metrics::attach_mongo`]
/// fills once it does; commands before that (the preparation's index builds) are not timed.
/// The slot is found again by the database's name ([`MongoEvents::for_database`]): one
/// process serves one database; of two test instances on one database, the first is told.
pub struct MongoEvents {
    metrics: OnceLock<Metrics>,
    /// Connections open (created, not yet closed) and checked out by an operation.
    open: AtomicI64,
    busy: AtomicI64,
    /// The pool's bound (`maxPoolSize`; the driver's default is 10).
    max: i64,
}

impl MongoEvents {
    /// The events of `database`'s client, made on first use.
    pub fn for_database(database: &str, max_pool_size: u32) -> Arc<Self> {
        static ALL: Mutex<Vec<(String, Weak<MongoEvents>)>> = Mutex::new(Vec::new());
        let mut all = ALL.lock().expect("not poisoned");
        all.retain(|(_, events)| events.strong_count() > 0);
        if let Some(found) = all
            .iter()
            .find(|(name, _)| name == database)
            .and_then(|(_, events)| events.upgrade())
        {
            return found;
        }
        let events = Arc::new(Self {
            metrics: OnceLock::new(),
            open: AtomicI64::new(0),
            busy: AtomicI64::new(0),
            max: i64::from(max_pool_size),
        });
        all.push((database.to_owned(), Arc::downgrade(&events)));
        events
    }

    /// The handlers to put in the driver's options.
    pub fn install(self: &Arc<Self>, options: &mut mongodb::options::ClientOptions) {
        let events = self.clone();
        options.command_event_handler = Some(EventHandler::callback(move |event| {
            let (name, took, ok) = match &event {
                CommandEvent::Succeeded(e) => (e.command_name.as_str(), e.duration, true),
                CommandEvent::Failed(e) => (e.command_name.as_str(), e.duration, false),
                _ => return,
            };
            if let Some(metrics) = events.metrics.get() {
                metrics.client_call("mongodb", mongo_operation(name), took, ok);
            }
        }));
        let events = self.clone();
        options.cmap_event_handler = Some(EventHandler::callback(move |event| {
            let (counter, delta) = match event {
                CmapEvent::ConnectionCreated(_) => (&events.open, 1),
                CmapEvent::ConnectionClosed(_) => (&events.open, -1),
                CmapEvent::ConnectionCheckedOut(_) => (&events.busy, 1),
                CmapEvent::ConnectionCheckedIn(_) => (&events.busy, -1),
                _ => return,
            };
            counter.fetch_add(delta, Ordering::Relaxed);
        }));
    }

    /// (busy, idle, max) connections now.
    pub fn pool(&self) -> (i64, i64, i64) {
        let busy = self.busy.load(Ordering::Relaxed).max(0);
        let open = self.open.load(Ordering::Relaxed).max(0);
        (busy, (open - busy).max(0), self.max)
    }
}

impl Metrics {
    /// Has `events` record into this instance's metrics from now on.
    pub fn attach_mongo(&self, events: &Arc<MongoEvents>) {
        events.metrics.set(self.clone()).ok();
        self.gauges.mongo.set(events.clone()).ok();
    }

    /// Has `redis` tell this instance of every call that reaches Redis.
    pub fn attach_redis(&self, redis: &step03_caching::redis_handle::RedisHandle) {
        let metrics = self.clone();
        redis.observe(Arc::new(move |what, took, ok| {
            metrics.client_call("redis", what, took, ok);
        }));
    }
}

/// The order store, timed as `postgres` `orders.*` (step 5 on keeps orders in PostgreSQL).
pub struct MeasuredOrders {
    pub inner: Arc<dyn OrderStore>,
    pub metrics: Metrics,
}

#[async_trait]
impl OrderStore for MeasuredOrders {
    async fn insert(&self, order: &Order) -> StoreResult<()> {
        let call = self.inner.insert(order);
        self.metrics
            .time("postgres", "orders.insert", call, Result::is_ok)
            .await
    }

    async fn get(&self, id: OrderId) -> StoreResult<Option<Order>> {
        let call = self.inner.get(id);
        self.metrics
            .time("postgres", "orders.get", call, Result::is_ok)
            .await
    }

    async fn list_for_user(&self, user: UserId, page: Page) -> StoreResult<Paged<Order>> {
        let call = self.inner.list_for_user(user, page);
        self.metrics
            .time("postgres", "orders.list_for_user", call, Result::is_ok)
            .await
    }

    async fn transition(
        &self,
        id: OrderId,
        from: OrderStatus,
        to: OrderStatus,
        payment: Option<PaymentInfo>,
    ) -> StoreResult<Option<Order>> {
        let call = self.inner.transition(id, from, to, payment);
        self.metrics
            .time("postgres", "orders.transition", call, Result::is_ok)
            .await
    }
}

/// The payment store, timed as `postgres` `payments.*`.
pub struct MeasuredPayments {
    pub inner: Arc<dyn PaymentStore>,
    pub metrics: Metrics,
}

#[async_trait]
impl PaymentStore for MeasuredPayments {
    async fn record(&self, payment: &PaymentRecord) -> StoreResult<()> {
        let call = self.inner.record(payment);
        self.metrics
            .time("postgres", "payments.record", call, Result::is_ok)
            .await
    }

    async fn list_for_order(&self, order: OrderId) -> StoreResult<Vec<PaymentRecord>> {
        let call = self.inner.list_for_order(order);
        self.metrics
            .time("postgres", "payments.list_for_order", call, Result::is_ok)
            .await
    }
}

/// The payment gateway (step 2's gRPC payments service), timed as `payments` `charge`,
/// `refund` and `find_charge`. A declined card is an answer, not a failure of the call: only
/// `Unavailable` and `Rejected` count as errors. Every failed charge, declines included, is
/// also a business figure: `shop_payment_failures_total{reason}`.
pub struct MeasuredGateway {
    pub inner: Arc<dyn PaymentGateway>,
    pub metrics: Metrics,
}

fn answered<T>(result: &Result<T, PaymentError>) -> bool {
    matches!(result, Ok(_) | Err(PaymentError::Declined { .. }))
}

#[async_trait]
impl PaymentGateway for MeasuredGateway {
    async fn charge(&self, request: ChargeRequest) -> Result<Charge, PaymentError> {
        let call = self.inner.charge(request);
        let charged = self
            .metrics
            .time("payments", "charge", call, answered)
            .await;
        if let Err(error) = &charged {
            self.metrics
                .payment_failures
                .with_label_values(&[crate::metrics::business::failure_reason(error)])
                .inc();
        }
        charged
    }

    async fn refund(&self, charge_id: &str, idempotency_key: &str) -> Result<(), PaymentError> {
        let call = self.inner.refund(charge_id, idempotency_key);
        self.metrics
            .time("payments", "refund", call, answered)
            .await
    }

    async fn find_charge(&self, charge_id: &str) -> Result<Option<ChargeDetails>, PaymentError> {
        let call = self.inner.find_charge(charge_id);
        self.metrics
            .time("payments", "find_charge", call, answered)
            .await
    }
}
