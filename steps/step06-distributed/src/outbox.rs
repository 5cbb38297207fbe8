//! The transactional outbox: an order's events are rows of `outbox`, written by
//! [`enqueue_in`] inside the transaction that changes the order, so an event exists exactly
//! when its change was committed (no event for a rolled-back change, no change without its
//! event). The [`Relay`] publishes them, oldest first, to a Redis stream and marks them
//! published; a relay that dies between the two publishes that event again, which is why
//! every consumer deduplicates by event id: delivery is at least once, the effect once. An
//! event written inside a traced request carries its trace (`payload.trace`): the payload
//! travels to the stream unchanged, and the consumers log under that trace.

use std::time::Duration;

use common::domain::OrderId;
use common::error::Result;
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use std::sync::Arc;

use crate::streams::Streams;

use crate::saga::store::db;

/// What happened to an order, as consumers read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    OrderPlaced,
    OrderPaid,
    OrderCancelled,
    OrderShipped,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::OrderPlaced => "order_placed",
            EventKind::OrderPaid => "order_paid",
            EventKind::OrderCancelled => "order_cancelled",
            EventKind::OrderShipped => "order_shipped",
        }
    }
}

/// One event: the order's figures at the moment of the change, enough for a consumer to act
/// without reading the order back (it may have changed again since).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderEvent {
    /// A UUID (v7: time-ordered); what consumers deduplicate by.
    pub event_id: String,
    pub kind: EventKind,
    pub order_id: String,
    pub user_id: String,
    pub total_minor: i64,
    pub currency: String,
    /// What was refunded with a cancellation (0 for an unpaid order).
    pub refunded_minor: i64,
    /// When the change was made, in Unix milliseconds.
    pub at_ms: i64,
    /// The request that made the change, when it was made inside a traced one: a consumer
    /// logs its work under the same trace. Absent from older events and from those of the
    /// recovery worker (no request), which are handled as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<EventTrace>,
}

/// The trace an event was written in (under the payload's `trace` key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventTrace {
    /// The writing request's `traceparent` (W3C), as [`common::trace::TraceContext`] writes it.
    pub traceparent: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl EventTrace {
    /// The current request's trace, if the work in hand runs inside one.
    pub fn current() -> Option<Self> {
        common::trace::current().map(|context| EventTrace {
            traceparent: context.to_string(),
            request_id: common::trace::current_request_id(),
        })
    }
}

/// The order figures an event carries.
pub struct Figures<'a> {
    pub user_id: &'a str,
    pub total_minor: i64,
    pub currency: &'a str,
}

/// Writes an event of `order` inside `conn`'s transaction.
pub async fn enqueue_in(
    conn: &mut PgConnection,
    kind: EventKind,
    order: OrderId,
    figures: Figures<'_>,
    refunded_minor: i64,
) -> Result<()> {
    let event = OrderEvent {
        event_id: uuid::Uuid::now_v7().to_string(),
        kind,
        order_id: order.to_string(),
        user_id: figures.user_id.trim().to_owned(),
        total_minor: figures.total_minor,
        currency: figures.currency.trim().to_owned(),
        refunded_minor,
        at_ms: i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis(),
        )
        .unwrap_or(i64::MAX),
        trace: EventTrace::current(),
    };
    let payload = serde_json::to_string(&event).map_err(anyhow::Error::from)?;
    sqlx::query!(
        "INSERT INTO outbox (event_id, kind, order_id, payload) \
         VALUES ($1::text::uuid, $2, $3::bpchar, $4::text::jsonb)",
        event.event_id,
        kind.as_str(),
        event.order_id,
        payload,
    )
    .execute(&mut *conn)
    .await
    .map_err(db("outbox"))?;
    Ok(())
}

/// Publishes the outbox to the stream.
pub struct Relay {
    pub pool: PgPool,
    pub streams: Arc<Streams>,
    /// The stream's full key (with the Redis key prefix).
    pub stream: String,
    pub batch: i64,
}

impl Relay {
    /// Publishes up to one batch of unpublished events, oldest first: locked with `FOR UPDATE
    /// SKIP LOCKED`, so relays of several instances share the work without publishing one
    /// event twice at once; appended to the stream in one pipeline; then marked published in
    /// the same transaction. Returns how many it published.
    pub async fn publish_once(&self) -> Result<usize> {
        let mut tx = self.pool.begin().await.map_err(db("outbox"))?;
        let rows = sqlx::query!(
            r#"SELECT id, event_id::text AS "event_id!", kind, payload::text AS "payload!"
               FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT $1
               FOR UPDATE SKIP LOCKED"#,
            self.batch,
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(db("outbox"))?;
        if rows.is_empty() {
            // Ended here rather than dropped: a dropped transaction's rollback waits for the
            // connection's next use, and until then the connection sits in the pool mid-
            // transaction.
            tx.commit().await.map_err(db("outbox"))?;
            return Ok(0);
        }
        let mut pipe = redis::pipe();
        for row in &rows {
            pipe.cmd("XADD")
                .arg(&self.stream)
                .arg("*")
                .arg("event_id")
                .arg(&row.event_id)
                .arg("kind")
                .arg(&row.kind)
                .arg("payload")
                .arg(&row.payload)
                .ignore();
        }
        self.streams
            .pipeline::<()>(&pipe)
            .await
            .map_err(common::store::StoreError::Unavailable)?;
        let ids: Vec<i64> = rows.iter().map(|row| row.id).collect();
        sqlx::query!(
            "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
            &ids,
        )
        .execute(&mut *tx)
        .await
        .map_err(db("outbox"))?;
        tx.commit().await.map_err(db("outbox"))?;
        Ok(rows.len())
    }

    /// Publishes until stopped: at once while there is a backlog, every `poll` when idle or
    /// when PostgreSQL or Redis fails (the events wait in the outbox meanwhile). A batch
    /// always finishes ([`crate::workers::rounds`]).
    pub async fn run(self, poll: Duration, stop: tokio::sync::watch::Receiver<bool>) {
        crate::workers::rounds(stop, poll, || async {
            match self.publish_once().await {
                Ok(n) => n > 0,
                Err(e) => {
                    tracing::warn!(error = %e, "outbox relay: will retry");
                    false
                }
            }
        })
        .await;
    }
}
