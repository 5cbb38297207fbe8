//! The recovery worker: every instance runs one. Each pass it claims the running sagas whose
//! lease has run out (their driver died, or parked them to retry later) with `FOR UPDATE SKIP
//! LOCKED`, so two instances never take the same saga, and drives each to its end; then it
//! cancels the orders left pending past `saga.order_expiry_secs`, releasing their stock.
//!
//! The bound on an order: a pending order is cancelled at most `order_expiry_secs` plus one
//! `recovery_interval_ms` after it was placed (plus a lease, if the instance that should
//! expire it dies in the middle); a saga whose driver dies is resumed at most `lease_ms`
//! plus one interval later.

use std::time::Duration;

use common::domain::OrderId;
use common::error::Result;
use futures::future::join_all;

use crate::saga::Sagas;
use crate::saga::store::{self, db};

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub resumed: usize,
    pub expired: usize,
}

/// One pass: resume what is due, then expire what is overdue.
pub async fn pass(sagas: &Sagas) -> Result<Pass> {
    let mut done = Pass::default();
    let lease = i64::try_from(sagas.config.lease_ms).unwrap_or(i64::MAX);
    let batch = i64::from(sagas.config.batch);
    let claimed = store::claim(&sagas.pool, &sagas.owner, lease, batch).await?;
    done.resumed = claimed.len();
    // At once, not one after another: each claimed saga's lease runs from the claim, and one
    // saga stuck on a store must not hold the others up.
    join_all(claimed.into_iter().map(|(saga, attempts)| async move {
        let id = saga.id;
        let kind = saga.kind.as_str();
        match sagas.drive(saga, true).await {
            Ok(_) => tracing::info!(saga = id, kind, attempts, "saga resumed and finished"),
            Err(e) => tracing::info!(saga = id, kind, attempts, outcome = %e, "saga resumed"),
        }
    }))
    .await;
    for saga in expire(sagas, batch).await? {
        done.expired += 1;
        if let Err(e) = sagas.drive(saga, false).await {
            tracing::warn!(error = %e, "an expired order's stock is not back yet");
        }
    }
    Ok(done)
}

/// Cancels up to `batch` orders pending for longer than the expiry, in one transaction that
/// skips orders another instance is changing; returns their release sagas to drive.
async fn expire(sagas: &Sagas, batch: i64) -> Result<Vec<crate::saga::Running>> {
    let expiry = i64::try_from(sagas.config.order_expiry_secs).unwrap_or(i64::MAX);
    let mut tx = sagas.pool.begin().await.map_err(db("orders"))?;
    let due = sqlx::query_scalar!(
        r#"SELECT id AS "id!" FROM orders WHERE status = 'pending'
           AND created_at < now() - $1::bigint * interval '1 second'
           ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED"#,
        expiry,
        batch,
    )
    .fetch_all(&mut *tx)
    .await
    .map_err(db("orders"))?;
    let mut started = Vec::with_capacity(due.len());
    for id in due {
        let id: OrderId = id
            .trim()
            .parse()
            .map_err(|_| store::corrupt("an order id"))?;
        if let Some(saga) = sagas.cancel_pending_in(&mut tx, id).await? {
            tracing::info!(order = %id, "unpaid order expired: cancelled");
            started.push(saga);
        }
    }
    tx.commit().await.map_err(db("orders"))?;
    Ok(started)
}

/// Runs passes until stopped, one every `recovery_interval_ms` ([`crate::workers::rounds`]:
/// a pass, with the sagas it drives, always finishes).
pub async fn run(sagas: Sagas, stop: tokio::sync::watch::Receiver<bool>) {
    let every = Duration::from_millis(sagas.config.recovery_interval_ms);
    crate::workers::rounds(stop, every, || async {
        if let Err(e) = pass(&sagas).await {
            tracing::warn!(error = %e, "recovery pass failed; trying again");
        }
        false
    })
    .await;
}
