//! The consumers of the order events: each a Redis consumer group on the outbox's stream, so
//! every instance runs every consumer and the group shares the entries among them. Delivery
//! is at least once (the relay may publish an event twice; an entry is redelivered until it
//! is acknowledged), so each consumer records the event ids it has applied in
//! `consumed_events`, in the transaction of its effect: a second delivery finds the id and
//! applies nothing. An entry a consumer took and never acknowledged (it died, or failed on
//! it) is claimed by another after `outbox.claim_idle_ms` (`XAUTOCLAIM`); one delivered
//! `outbox.max_deliveries` times goes to the dead-letter stream (`<stream>:dead`) instead,
//! with the reason, so one bad event cannot block the rest.
//!
//! Two consumers ship with the step: [`SalesProjection`] keeps `sales_by_day` from the
//! events alone, and [`Mailbox`] writes the messages a customer would be mailed.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use common::trace::TraceContext;
use sqlx::{PgConnection, PgPool};
use tracing::Instrument;

use crate::outbox::{EventKind, OrderEvent};
use crate::streams::{Entry, Streams};

/// What a consumer does with one event, inside the transaction that records it consumed.
#[async_trait]
pub trait Consumer: Send + Sync {
    /// The consumer group's name, and the consumer's name in `consumed_events`.
    fn name(&self) -> &'static str;
    async fn apply(&self, conn: &mut PgConnection, event: &OrderEvent) -> anyhow::Result<()>;
}

/// Runs one consumer as one member of its group.
pub struct Runner {
    pub consumer: Arc<dyn Consumer>,
    pub pool: PgPool,
    pub streams: Arc<Streams>,
    pub stream: String,
    /// This member's name in the group (one per instance).
    pub member: String,
    pub batch: u32,
    pub claim_idle_ms: u64,
    pub max_deliveries: u32,
}

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    pub applied: usize,
    pub duplicates: usize,
    pub failed: usize,
    pub dead: usize,
}

impl Runner {
    fn group(&self) -> &'static str {
        self.consumer.name()
    }

    pub fn dead_letters(stream: &str) -> String {
        format!("{stream}:dead")
    }

    /// One round: first what other members left unacknowledged for too long, then new entries.
    pub async fn round(&self) -> anyhow::Result<Round> {
        self.streams
            .ensure_group(&self.stream, self.group())
            .await?;
        let mut round = Round::default();
        let (_, claimed, _): (String, Vec<Entry>, Vec<String>) = self
            .streams
            .query(
                redis::cmd("XAUTOCLAIM")
                    .arg(&self.stream)
                    .arg(self.group())
                    .arg(&self.member)
                    .arg(self.claim_idle_ms)
                    .arg("0-0")
                    .arg("COUNT")
                    .arg(self.batch),
            )
            .await?;
        for entry in claimed {
            let deliveries = self.deliveries(&entry.0).await?;
            if deliveries > u64::from(self.max_deliveries) {
                self.bury(&entry, deliveries, "delivered too often without success")
                    .await?;
                round.dead += 1;
            } else {
                self.handle(&entry, &mut round).await?;
            }
        }
        let fresh: Option<Vec<(String, Vec<Entry>)>> = self
            .streams
            .query(
                redis::cmd("XREADGROUP")
                    .arg("GROUP")
                    .arg(self.group())
                    .arg(&self.member)
                    .arg("COUNT")
                    .arg(self.batch)
                    .arg("STREAMS")
                    .arg(&self.stream)
                    .arg(">"),
            )
            .await?;
        for (_, entries) in fresh.unwrap_or_default() {
            for entry in entries {
                self.handle(&entry, &mut round).await?;
            }
        }
        Ok(round)
    }

    /// How often the group has delivered entry `id`.
    async fn deliveries(&self, id: &str) -> anyhow::Result<u64> {
        let pending: Vec<(String, String, u64, u64)> = self
            .streams
            .query(
                redis::cmd("XPENDING")
                    .arg(&self.stream)
                    .arg(self.group())
                    .arg(id)
                    .arg(id)
                    .arg(1),
            )
            .await?;
        Ok(pending.first().map_or(0, |p| p.3))
    }

    /// Applies one entry and acknowledges it; a failure leaves it pending (to be claimed again
    /// and, after too many deliveries, buried). The work runs in an `event` span with the
    /// event's `trace_id` and `request_id` (empty for an event written outside a traced
    /// request), inside its trace context, and an applied event is logged once.
    async fn handle(&self, (id, fields): &Entry, round: &mut Round) -> anyhow::Result<()> {
        let event = fields
            .get("payload")
            .ok_or_else(|| anyhow::anyhow!("the entry has no payload"))
            .and_then(|payload| Ok(serde_json::from_str::<OrderEvent>(payload)?));
        let applied = match &event {
            Ok(event) => {
                let (span, context) = self.span(event);
                let work = self.apply(event).instrument(span.clone());
                let applied = match context {
                    Some((context, request_id)) => {
                        common::trace::scope_request(context, request_id, work).await
                    }
                    None => work.await,
                };
                if let Ok(first) = &applied {
                    span.in_scope(|| {
                        if *first {
                            tracing::info!(entry = %id, "event applied");
                        } else {
                            tracing::debug!(entry = %id, "event already applied");
                        }
                    });
                }
                applied
            }
            Err(e) => Err(anyhow::anyhow!("{e:#}")),
        };
        match applied {
            Ok(first) => {
                self.ack(id).await?;
                if first {
                    round.applied += 1;
                } else {
                    round.duplicates += 1;
                }
            }
            Err(e) => {
                tracing::warn!(consumer = self.consumer.name(), entry = %id, error = %e, "event not applied; it will be delivered again");
                round.failed += 1;
            }
        }
        Ok(())
    }

    /// Records `event` consumed and applies it, in one transaction; whether it was new.
    async fn apply(&self, event: &OrderEvent) -> anyhow::Result<bool> {
        let mut tx = self.pool.begin().await?;
        let first = sqlx::query!(
            "INSERT INTO consumed_events (consumer, event_id) VALUES ($1, $2::text::uuid) \
             ON CONFLICT DO NOTHING",
            self.consumer.name(),
            event.event_id,
        )
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if first {
            self.consumer.apply(&mut tx, event).await?;
        }
        tx.commit().await?;
        Ok(first)
    }

    /// The span `event` is handled in, and the trace context (a child of the writer's) and
    /// request id it carries, if any. An unreadable `traceparent` is no trace: the event is
    /// still applied.
    fn span(&self, event: &OrderEvent) -> (tracing::Span, Option<(TraceContext, Option<String>)>) {
        let span = tracing::info_span!(
            "event",
            consumer = self.consumer.name(),
            event_id = %event.event_id,
            kind = event.kind.as_str(),
            order_id = %event.order_id,
            request_id = tracing::field::Empty,
            trace_id = tracing::field::Empty,
        );
        let context = event.trace.as_ref().and_then(|trace| {
            let context = TraceContext::parse(&trace.traceparent).ok()?.child();
            span.record("trace_id", context.trace_id());
            if let Some(id) = &trace.request_id {
                span.record("request_id", id.as_str());
            }
            Some((context, trace.request_id.clone()))
        });
        (span, context)
    }

    async fn ack(&self, id: &str) -> anyhow::Result<()> {
        self.streams
            .query::<i64>(
                redis::cmd("XACK")
                    .arg(&self.stream)
                    .arg(self.group())
                    .arg(id),
            )
            .await?;
        Ok(())
    }

    /// Moves an entry to the dead-letter stream with why, then acknowledges it.
    async fn bury(&self, (id, fields): &Entry, deliveries: u64, why: &str) -> anyhow::Result<()> {
        let mut add = redis::cmd("XADD");
        add.arg(Self::dead_letters(&self.stream))
            .arg("*")
            .arg("entry")
            .arg(id)
            .arg("consumer")
            .arg(self.consumer.name())
            .arg("deliveries")
            .arg(deliveries)
            .arg("reason")
            .arg(why);
        for (field, value) in fields {
            add.arg(field).arg(value);
        }
        self.streams.query::<String>(&add).await?;
        self.ack(id).await?;
        tracing::error!(consumer = self.consumer.name(), entry = %id, deliveries, "event moved to the dead-letter stream");
        Ok(())
    }

    /// Rounds until stopped: at once while entries keep coming, every `poll` when idle or
    /// when Redis or PostgreSQL fails. A round always finishes ([`crate::workers::rounds`]).
    pub async fn run(self, poll: Duration, stop: tokio::sync::watch::Receiver<bool>) {
        crate::workers::rounds(stop, poll, || async {
            match self.round().await {
                Ok(round) => round.applied + round.duplicates > 0,
                Err(e) => {
                    tracing::warn!(consumer = self.consumer.name(), error = %e, "consumer round failed; will retry");
                    false
                }
            }
        })
        .await;
    }
}

/// Paid orders per day and currency, less refunds, from the events alone: what a reporting
/// service that cannot read the orders table would keep. A refund counts on the day it is
/// made.
pub struct SalesProjection;

#[async_trait]
impl Consumer for SalesProjection {
    fn name(&self) -> &'static str {
        "sales-projection"
    }

    async fn apply(&self, conn: &mut PgConnection, event: &OrderEvent) -> anyhow::Result<()> {
        let (orders, revenue) = match event.kind {
            EventKind::OrderPaid => (1_i64, event.total_minor),
            EventKind::OrderCancelled if event.refunded_minor > 0 => (-1, -event.refunded_minor),
            _ => return Ok(()),
        };
        sqlx::query!(
            "INSERT INTO sales_by_day (day, currency, orders, revenue_minor) \
             VALUES ((to_timestamp($1::bigint / 1000.0) AT TIME ZONE 'UTC')::date, \
             $2::bpchar, $3, $4) ON CONFLICT (day, currency) DO UPDATE SET \
             orders = sales_by_day.orders + excluded.orders, \
             revenue_minor = sales_by_day.revenue_minor + excluded.revenue_minor",
            event.at_ms,
            event.currency,
            orders,
            revenue,
        )
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}

/// The messages a customer would be mailed: one when an order is paid, one when it is
/// cancelled. A real shop hands these to a mail service; here they are rows a test (and
/// `GET /api/v2/mailbox`) can read.
pub struct Mailbox;

#[async_trait]
impl Consumer for Mailbox {
    fn name(&self) -> &'static str {
        "mailbox"
    }

    async fn apply(&self, conn: &mut PgConnection, event: &OrderEvent) -> anyhow::Result<()> {
        // Minor units, as the API gives every amount: the currency says where its point goes.
        let amount = format!("{} {} (minor units)", event.total_minor, event.currency);
        let (subject, body) = match event.kind {
            EventKind::OrderPaid => (
                format!("Order {} confirmed", event.order_id),
                format!("We received your payment of {amount}. Thank you for your order."),
            ),
            EventKind::OrderCancelled => (
                format!("Order {} cancelled", event.order_id),
                if event.refunded_minor > 0 {
                    format!("Your order was cancelled and {amount} refunded.")
                } else {
                    "Your order was cancelled; nothing was charged.".to_owned()
                },
            ),
            _ => return Ok(()),
        };
        sqlx::query!(
            "INSERT INTO mailbox (user_id, order_id, event_id, subject, body) \
             VALUES ($1::bpchar, $2::bpchar, $3::text::uuid, $4, $5)",
            event.user_id,
            event.order_id,
            event.event_id,
            subject,
            body,
        )
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}
