//! The PostgreSQL read replica: [`Replicated`] wraps the primary's [`OrderStore`] and reads a
//! customer's order list from a hot standby, unless that customer wrote an order on this
//! instance within `replica.read_your_writes_ms` ([`Written`]) or the standby is unreachable
//! or further behind than `replica.max_lag_ms` ([`Lag`]); then the primary answers. Writes
//! and single-order reads always go to the primary (see [`Replicated`] for why `get` does).
//! [`ReplicaHealth`] is `/health`'s `postgresql-replica` check.
//!
//! How this instance learns of a write: step 6's saga writes orders with its own SQL, in its
//! own transactions, not through the store, so it tells [`Written`] itself, at each commit
//! that changes an order (placed, paid, cancelled, restored, shipped), before the client is
//! answered; `insert` and `transition` through the store (step 0's flow) mark the owner too.
//!
//! Teaching shortcut: the marks live in this process. Behind a load balancer, a client whose
//! next request lands on another instance is not marked there and may read the replica; a
//! production system shares the mark (a Redis key per user with a TTL), or carries the
//! primary's WAL position after the write (`pg_current_wal_lsn()`) to the client (a cookie)
//! and reads the replica only once its `pg_last_wal_replay_lsn()` has passed it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use common::domain::{Order, OrderId, OrderStatus, Page, Paged, PaymentInfo, UserId};
use common::services::HealthCheck;
use common::store::{OrderStore, StoreResult};
use sqlx::PgPool;
use step05_hybrid_dbs::store::PgOrders;

use crate::config::ReplicaConfig;

/// How long a lag measurement is trusted before a read measures again: a quarter second,
/// so under load the replica is asked about its lag a few times a second, not once per read,
/// and a replica that stops replaying is noticed within `max_lag_ms` plus this.
const PROBE_EVERY: Duration = Duration::from_millis(250);

/// How long a read waits for the replica's lag before going to the primary: a replica that
/// does not answer at once is treated as down, rather than slowing the read.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

/// The order store with order lists read from the replica when that is safe.
///
/// `get` always reads the primary: in step 6 nearly every `get` is part of a write. The
/// saga reads back the order it has just paid, shipped or cancelled (its answer to the
/// client), and paying or cancelling reads the order before changing it; a replica's copy
/// there would answer a just-paid order as pending, or a just-placed one as 404. The store's
/// API does not say which `get` is a client's plain read, so none goes to the replica.
pub struct Replicated {
    primary: Arc<dyn OrderStore>,
    /// Step 5's store on the replica's pool: the same queries, read-only.
    replica: PgOrders,
    lag: Arc<Lag>,
    written: Arc<Written>,
    max_lag_ms: u64,
}

impl Replicated {
    pub fn new(
        primary: Arc<dyn OrderStore>,
        replica_pool: PgPool,
        lag: Arc<Lag>,
        written: Arc<Written>,
        config: &ReplicaConfig,
    ) -> Self {
        Self {
            primary,
            replica: PgOrders::new(replica_pool),
            lag,
            written,
            max_lag_ms: config.max_lag_ms,
        }
    }
}

#[async_trait]
impl OrderStore for Replicated {
    async fn insert(&self, order: &Order) -> StoreResult<()> {
        self.primary.insert(order).await?;
        self.written.mark(&order.user_id.to_string());
        Ok(())
    }

    async fn get(&self, id: OrderId) -> StoreResult<Option<Order>> {
        self.primary.get(id).await
    }

    async fn list_for_user(&self, user: UserId, page: Page) -> StoreResult<Paged<Order>> {
        let key = user.to_string();
        if self.written.recent(&key) {
            tracing::debug!(user = %key, "order list from the primary: the user wrote lately");
            return self.primary.list_for_user(user, page).await;
        }
        if !self.lag.usable(self.max_lag_ms).await {
            tracing::debug!("order list from the primary: the replica is down or behind");
            return self.primary.list_for_user(user, page).await;
        }
        match self.replica.list_for_user(user, page).await {
            Ok(orders) => Ok(orders),
            Err(e) => {
                tracing::warn!(error = %e, "the replica failed a read; reading the primary");
                self.lag.failed(e.to_string());
                self.primary.list_for_user(user, page).await
            }
        }
    }

    async fn transition(
        &self,
        id: OrderId,
        from: OrderStatus,
        to: OrderStatus,
        payment: Option<PaymentInfo>,
    ) -> StoreResult<Option<Order>> {
        let order = self.primary.transition(id, from, to, payment).await?;
        if let Some(order) = &order {
            self.written.mark(&order.user_id.to_string());
        }
        Ok(order)
    }
}

/// Who wrote lately, on this instance: user id -> until when their reads go to the primary.
pub struct Written {
    window: Duration,
    until: Mutex<HashMap<String, Instant>>,
}

impl Written {
    /// Above this many entries, a mark first drops the expired ones: the map holds at most
    /// the keys written within one window.
    const PRUNE_ABOVE: usize = 10_000;

    pub fn new(window: Duration) -> Self {
        Self {
            window,
            until: Mutex::new(HashMap::new()),
        }
    }

    /// `key` (a user id) wrote now: their reads go to the primary for the window.
    pub fn mark(&self, key: &str) {
        let left = self.window;
        let now = Instant::now();
        let mut until = self.until.lock().expect("the write marks");
        if until.len() > Self::PRUNE_ABOVE {
            until.retain(|_, t| *t > now);
        }
        let t = until.entry(key.to_owned()).or_insert(now);
        *t = (*t).max(now + left);
    }

    pub fn recent(&self, key: &str) -> bool {
        let until = self.until.lock().expect("the write marks");
        until.get(key).is_some_and(|t| *t > Instant::now())
    }
}

/// The replica's lag, measured on the replica and cached for [`PROBE_EVERY`].
pub struct Lag {
    pool: PgPool,
    last: Mutex<Option<(Instant, Result<u64, String>)>>,
    /// One read measures at a time; the others use the last measurement meanwhile.
    probing: AtomicBool,
}

impl Lag {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            last: Mutex::new(None),
            probing: AtomicBool::new(false),
        }
    }

    /// How far behind the replica is, in ms, asked now. 0 when it has replayed everything it
    /// received (an idle primary sends nothing, and the age of the last replayed
    /// transaction then says nothing); otherwise the age of the last transaction it replayed,
    /// which overstates the lag a little and so errs towards the primary. Not a standby (a
    /// promoted one, or the primary itself): 0. A standby that has lost its primary has
    /// replayed what it received and shows 0: it is stale without knowing it, which this
    /// measure cannot see (`pg_stat_wal_receiver` can).
    pub async fn measure(&self) -> Result<u64, String> {
        let asked = sqlx::query_scalar!(
            r#"SELECT CASE
                 WHEN NOT pg_is_in_recovery() THEN 0
                 WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn()
                   THEN 0
                 ELSE (EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) * 1000)::bigint
               END AS lag_ms"#
        )
        .fetch_one(&self.pool);
        let measured = match tokio::time::timeout(PROBE_TIMEOUT, asked).await {
            Err(_) => Err(format!("no answer within {PROBE_TIMEOUT:?}")),
            Ok(Err(e)) => Err(format!("unreachable: {e}")),
            Ok(Ok(None)) => Err("behind, and has replayed no transaction yet".to_owned()),
            Ok(Ok(Some(ms))) => Ok(u64::try_from(ms).unwrap_or(0)),
        };
        *self.last.lock().expect("the lag") = Some((Instant::now(), measured.clone()));
        measured
    }

    /// Whether a read may go to the replica: it answered within [`PROBE_TIMEOUT`] at the
    /// last measurement (at most [`PROBE_EVERY`] old), at most `max_lag_ms` behind.
    pub async fn usable(&self, max_lag_ms: u64) -> bool {
        let last = self.last.lock().expect("the lag").clone();
        let fresh = last
            .as_ref()
            .is_some_and(|(at, _)| at.elapsed() < PROBE_EVERY);
        let outcome = if fresh || self.probing.swap(true, Ordering::AcqRel) {
            match last {
                Some((_, outcome)) => outcome,
                None => return false,
            }
        } else {
            let measured = self.measure().await;
            self.probing.store(false, Ordering::Release);
            measured
        };
        outcome.is_ok_and(|ms| ms <= max_lag_ms)
    }

    /// The lag in ms at the last measurement; `None` before the first, or when the replica
    /// did not answer it.
    pub fn last_ms(&self) -> Option<u64> {
        let last = self.last.lock().expect("the lag");
        last.as_ref()
            .and_then(|(_, outcome)| outcome.as_ref().ok().copied())
    }

    /// A read failed on the replica: the next reads go to the primary until the next
    /// measurement.
    pub fn failed(&self, reason: String) {
        *self.last.lock().expect("the lag") = Some((Instant::now(), Err(reason)));
    }
}

/// `GET /health`'s `postgresql-replica` check: fails when the replica does not answer or is
/// more than `max_lag_ms` behind, the reason (logged by `/health`) with the lag in ms; the
/// body's `details` show the lag it measured (`{"lag_ms": 3}`, `null` when it did not answer).
pub struct ReplicaHealth {
    pub lag: Arc<Lag>,
    pub max_lag_ms: u64,
}

#[async_trait]
impl HealthCheck for ReplicaHealth {
    fn name(&self) -> &'static str {
        "postgresql-replica"
    }

    fn details(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!({ "lag_ms": self.lag.last_ms() }))
    }

    async fn check(&self) -> anyhow::Result<()> {
        match self.lag.measure().await {
            Err(reason) => anyhow::bail!("the replica is {reason}; reads go to the primary"),
            Ok(ms) if ms > self.max_lag_ms => anyhow::bail!(
                "the replica is {ms} ms behind (replica.max_lag_ms is {}); reads go to the \
                 primary",
                self.max_lag_ms
            ),
            Ok(ms) => {
                tracing::debug!(lag_ms = ms, "the replica's lag");
                Ok(())
            }
        }
    }
}
