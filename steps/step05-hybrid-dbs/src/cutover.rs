//! The cutover: a running shop moves its orders from MongoDB to PostgreSQL with a short
//! freeze of order writes, for every instance at once.
//!
//! With `postgres.cutover` on, step 5 serves orders and payments through [`ByPhase`] stores,
//! which follow the `cutover` row (`migrations/0004_cutover.sql`): MongoDB first, PostgreSQL
//! once the row says so; and [`Cutover`] admits order writes (step 0's `OrderWrites` seam).
//! `step05-hybrid-dbs cutover` ([`run`]) then:
//! 1. **freezes**: sets the row to `frozen`. Every admitted write holds the row `FOR SHARE`
//!    for its whole operation (a charge and its record are one operation), so this `UPDATE`
//!    waits for the writes already running, and the writes that come after it are refused
//!    with 503 `MAINTENANCE` and `Retry-After`: nothing is half-done, nothing is lost, and the
//!    client knows when to send the same request again. Reads go on, from MongoDB;
//! 2. **copies and verifies** with `migrate-orders` ([`crate::migration`]): resumable and
//!    idempotent, so a cutover that stopped half-way is simply run again;
//! 3. **switches**: sets the row to `postgresql`; from the next request on, every instance
//!    reads and writes PostgreSQL, and stops reading the row. If the verification fails, the
//!    row goes back to `mongodb` instead: the shop takes orders again on MongoDB, and the
//!    command fails saying what differed.
//!
//! The alternative, a dual-write window (write both stores, backfill, compare, switch reads),
//! needs no freeze but must settle every write that reached one store and not the other; the
//! chapter compares the two. A freeze of the copy's length (measured in the chapter) is the
//! simpler contract: 503 with `Retry-After` is something every HTTP client can handle.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering as Atomic};
use std::time::{Duration, Instant};

use anyhow::Context;
use async_trait::async_trait;
use common::domain::{
    Order, OrderId, OrderStatus, Page, Paged, PaymentInfo, PaymentRecord, UserId,
};
use common::error::{Error, Result};
use common::services::{OrderWrites, WritePermit};
use common::store::{OrderStore, PaymentStore, StoreError, StoreResult};
use mongodb::Database;
use sqlx::PgPool;

use crate::migration::{self, Report};
use crate::store::map_err;

/// Which store serves orders now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    MongoDb,
    Frozen,
    PostgreSql,
}

impl Phase {
    fn parse(text: &str) -> StoreResult<Self> {
        match text {
            "mongodb" => Ok(Self::MongoDb),
            "frozen" => Ok(Self::Frozen),
            "postgresql" => Ok(Self::PostgreSql),
            other => Err(StoreError::Other(anyhow::anyhow!(
                "the cutover row holds an unknown phase {other:?}"
            ))),
        }
    }
}

/// The cutover row, as this instance sees it.
#[derive(Clone)]
pub struct Cutover {
    /// Reads of the row.
    pool: PgPool,
    /// The admitted writes' locks, on a pool of their own: a write holds its connection for
    /// its whole operation, and the stores it calls must still find connections in `pool`
    /// while writes queue behind a freeze (else they would wait for each other).
    permits: PgPool,
    /// Set once the row said `postgresql`: nothing goes back from it, so the row is not read
    /// again.
    done: Arc<AtomicBool>,
}

impl Cutover {
    pub fn new(pool: PgPool, permits: PgPool) -> Self {
        Self {
            pool,
            permits,
            done: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The phase now.
    pub async fn phase(&self) -> StoreResult<Phase> {
        if self.done.load(Atomic::Acquire) {
            return Ok(Phase::PostgreSql);
        }
        let phase = sqlx::query_scalar!("SELECT phase FROM cutover")
            .fetch_one(&self.pool)
            .await
            .map_err(map_err("cutover"))?;
        self.seen(Phase::parse(&phase)?)
    }

    fn seen(&self, phase: Phase) -> StoreResult<Phase> {
        if phase == Phase::PostgreSql {
            self.done.store(true, Atomic::Release);
        }
        Ok(phase)
    }
}

#[async_trait]
impl OrderWrites for Cutover {
    /// Before the cutover: a permit holding the row `FOR SHARE` (in a transaction that ends
    /// when the permit is dropped); while frozen: 503 `MAINTENANCE`; after: a plain permit.
    async fn admit(&self) -> Result<WritePermit> {
        if self.done.load(Atomic::Acquire) {
            return Ok(WritePermit::new(()));
        }
        let mut lock = self.permits.begin().await.map_err(map_err("cutover"))?;
        let row = sqlx::query!("SELECT phase, retry_after_secs FROM cutover FOR SHARE")
            .fetch_one(&mut *lock)
            .await
            .map_err(map_err("cutover"))?;
        match self.seen(Phase::parse(&row.phase)?)? {
            Phase::MongoDb => Ok(WritePermit::new(lock)),
            Phase::Frozen => Err(Error::Maintenance {
                what: "order writes",
                retry_after_secs: u64::try_from(row.retry_after_secs).unwrap_or(5),
            }),
            Phase::PostgreSql => Ok(WritePermit::new(())),
        }
    }
}

/// A store of each kind, MongoDB's and PostgreSQL's, used as the phase says.
pub struct ByPhase<S: ?Sized> {
    pub cutover: Cutover,
    pub mongodb: Arc<S>,
    pub postgresql: Arc<S>,
}

impl<S: ?Sized> ByPhase<S> {
    async fn reading(&self) -> StoreResult<&S> {
        Ok(match self.cutover.phase().await? {
            Phase::MongoDb | Phase::Frozen => &*self.mongodb,
            Phase::PostgreSql => &*self.postgresql,
        })
    }

    /// A write reaches a frozen store only past the admission (a bug): refused all the same.
    async fn writing(&self) -> StoreResult<&S> {
        Ok(match self.cutover.phase().await? {
            Phase::MongoDb => &*self.mongodb,
            Phase::Frozen => {
                return Err(StoreError::Unavailable(anyhow::anyhow!(
                    "order writes are frozen while the cutover copies"
                )));
            }
            Phase::PostgreSql => &*self.postgresql,
        })
    }
}

#[async_trait]
impl OrderStore for ByPhase<dyn OrderStore> {
    async fn insert(&self, order: &Order) -> StoreResult<()> {
        self.writing().await?.insert(order).await
    }

    async fn get(&self, id: OrderId) -> StoreResult<Option<Order>> {
        self.reading().await?.get(id).await
    }

    async fn list_for_user(&self, user: UserId, page: Page) -> StoreResult<Paged<Order>> {
        self.reading().await?.list_for_user(user, page).await
    }

    async fn transition(
        &self,
        id: OrderId,
        from: OrderStatus,
        to: OrderStatus,
        payment: Option<PaymentInfo>,
    ) -> StoreResult<Option<Order>> {
        self.writing()
            .await?
            .transition(id, from, to, payment)
            .await
    }
}

#[async_trait]
impl PaymentStore for ByPhase<dyn PaymentStore> {
    async fn record(&self, payment: &PaymentRecord) -> StoreResult<()> {
        self.writing().await?.record(payment).await
    }

    async fn list_for_order(&self, order: OrderId) -> StoreResult<Vec<PaymentRecord>> {
        self.reading().await?.list_for_order(order).await
    }
}

/// How a cutover goes.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// The copy's batches.
    pub batch_size: u32,
    /// What refused writes' `Retry-After` says while frozen.
    pub retry_after_secs: u32,
}

/// What a cutover did.
#[derive(Debug)]
pub enum Outcome {
    /// Orders are in PostgreSQL now; writes were refused for `frozen`, of which `drain` was
    /// spent waiting for the writes that were running.
    Done {
        drain: Duration,
        frozen: Duration,
        report: Report,
    },
    /// An earlier cutover finished: nothing to do.
    AlreadyDone,
}

/// Freeze, copy and verify, switch (or unfreeze, if the verification fails).
pub async fn run(db: &Database, pool: &PgPool, options: Options) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    if !freeze(pool, options.retry_after_secs).await? {
        let phase = sqlx::query_scalar!("SELECT phase FROM cutover")
            .fetch_one(pool)
            .await?;
        if phase == "postgresql" {
            return Ok(Outcome::AlreadyDone);
        }
        // `frozen`: an earlier cutover stopped after freezing; the copy resumes.
    }
    let drain = started.elapsed();
    let copied = migration::migrate_orders(
        db,
        pool,
        migration::Options {
            batch_size: options.batch_size,
            dry_run: false,
        },
    )
    .await;
    let report = match copied {
        Ok(report) if report.verification.passed() => report,
        failed => {
            unfreeze(pool)
                .await
                .context("unfreezing order writes (on MongoDB) after a failed copy")?;
            return match failed {
                Ok(report) => Err(anyhow::anyhow!(
                    "verification failed: PostgreSQL does not hold every MongoDB order as it is; \
                     order writes resumed on MongoDB\n{report}"
                )),
                Err(error) => Err(error.context("copying; order writes resumed on MongoDB")),
            };
        }
    };
    sqlx::query!("UPDATE cutover SET phase = 'postgresql', changed_at = now()")
        .execute(pool)
        .await
        .context("switching to PostgreSQL")?;
    Ok(Outcome::Done {
        drain,
        frozen: started.elapsed(),
        report,
    })
}

/// `mongodb` -> `frozen`, once every admitted write has ended (they hold the row FOR SHARE);
/// false if the row was not at `mongodb`.
pub async fn freeze(pool: &PgPool, retry_after_secs: u32) -> anyhow::Result<bool> {
    let frozen = sqlx::query!(
        "UPDATE cutover SET phase = 'frozen', retry_after_secs = $1, changed_at = now() \
         WHERE phase = 'mongodb'",
        i32::try_from(retry_after_secs).context("retry_after_secs")?,
    )
    .execute(pool)
    .await
    .context("freezing order writes")?;
    Ok(frozen.rows_affected() == 1)
}

/// `frozen` -> `mongodb`: writes resume where they were.
pub async fn unfreeze(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::query!("UPDATE cutover SET phase = 'mongodb', changed_at = now() WHERE phase = 'frozen'")
        .execute(pool)
        .await?;
    Ok(())
}
