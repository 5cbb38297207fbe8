//! The invariant checker: what must hold across PostgreSQL, MongoDB and the payment
//! provider once the sagas have settled, however the run was interrupted. The crash tests and
//! the randomized fault runs call [`check`] after every run; each violation is a sentence
//! naming the order, product, charge or event it is about, so a failing seed says what broke.
//!
//! What is checked:
//! - no saga is still running, no reservation is half-way (`reserving`, `releasing`), and no
//!   product holds a stock-move mark;
//! - no product's stock is negative, and for every product, stock + held + sold = the stock
//!   it started with;
//! - each order's reservations match its status (pending: held; paid or shipped: sold;
//!   cancelled: released);
//! - every paid or shipped order has exactly one unrefunded charge, equal to its total, and it
//!   is the one the order names; no unrefunded charge belongs to an order that is not paid;
//!   every charge of a cancelled order is refunded in full;
//! - no order is pending past the expiry bound;
//! - every outbox event is published and applied exactly once by each consumer, and the
//!   consumers' effects agree with the events (one message per mailed event, the projection's
//!   sums equal to the events').

use anyhow::Context;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use futures::TryStreamExt;
use mongodb::Database;
use mongodb::bson::{Bson, Document, doc, oid::ObjectId};
use serde::Deserialize;
use sqlx::PgPool;

use crate::consumers::Consumer;

/// A charge as the provider lists it (`GET /v1/charges`).
#[derive(Debug, Clone, Deserialize)]
pub struct Charge {
    pub id: String,
    pub amount: i64,
    /// `succeeded`, or `failed` for a declined card.
    pub status: String,
    pub amount_refunded: i64,
    pub description: Option<String>,
}

/// What a run started from and how long an order may stay pending.
pub struct Expected<'a> {
    /// The stock each product of the run started with, by product id.
    pub initial_stock: &'a HashMap<String, i64>,
    /// An order pending longer than this is a violation (the expiry plus a pass of the worker).
    pub pending_bound: Duration,
}

/// What the checker looked at, and what it found.
#[derive(Debug, Default)]
pub struct Report {
    pub orders: usize,
    pub products: usize,
    pub charges: usize,
    pub events: usize,
    pub violations: Vec<String>,
}

impl Report {
    fn violated(&mut self, what: String) {
        self.violations.push(what);
    }
}

/// Checks every invariant once; the caller waits for the sagas to settle first (see
/// [`settle`]).
pub async fn check(
    pool: &PgPool,
    db: &Database,
    charges: &[Charge],
    consumers: &[std::sync::Arc<dyn Consumer>],
    expected: Expected<'_>,
) -> anyhow::Result<Report> {
    let mut report = Report {
        charges: charges.len(),
        ..Report::default()
    };
    sagas_settled(pool, &mut report).await?;
    let orders = orders(pool).await?;
    report.orders = orders.len();
    stock(pool, db, &expected, &mut report).await?;
    reservations(pool, &orders, &mut report).await?;
    money(&orders, charges, &mut report);
    pending(&orders, expected.pending_bound, &mut report);
    events(pool, consumers, &mut report).await?;
    Ok(report)
}

/// After a test's run: waits up to `within` for the sagas and the outbox to settle (not
/// settling is the first violation), then [`check`]s with step 6's consumers. `charges`
/// fetches the provider's charge list as the simulator gives it; it runs once the sagas have
/// settled, since a saga still retrying its charge while they settle makes that charge then.
pub async fn after_run(
    pool: &PgPool,
    db: &Database,
    charges: impl Future<Output = Vec<serde_json::Value>>,
    expected: Expected<'_>,
    within: Duration,
) -> anyhow::Result<Report> {
    let consumers = crate::workers::consumers();
    let settled = settle(pool, consumers.len(), within).await;
    let charges: Vec<Charge> = serde_json::from_value(serde_json::Value::Array(charges.await))
        .context("the provider's charges")?;
    let mut report = check(pool, db, &charges, &consumers, expected).await?;
    if let Err(e) = settled {
        report.violations.insert(0, e.to_string());
    }
    Ok(report)
}

/// Waits (up to `within`) until no saga is running and the outbox is drained and consumed:
/// what [`check`] needs before it can judge.
pub async fn settle(pool: &PgPool, consumers: usize, within: Duration) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let (running, unpublished, unconsumed): (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM sagas WHERE state = 'running'), \
             (SELECT count(*) FROM outbox WHERE published_at IS NULL), \
             (SELECT count(*) FROM outbox) * $1 - (SELECT count(*) FROM consumed_events)",
        )
        .bind(i64::try_from(consumers)?)
        .fetch_one(pool)
        .await?;
        if running == 0 && unpublished == 0 && unconsumed <= 0 {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!(
                "not settled within {within:?}: {running} sagas running, {unpublished} events \
                 unpublished, {unconsumed} deliveries not applied"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An order as the checker needs it.
struct OrderRow {
    id: String,
    status: String,
    total_minor: i64,
    payment_reference: Option<String>,
    age: Duration,
}

async fn orders(pool: &PgPool) -> anyhow::Result<Vec<OrderRow>> {
    let rows: Vec<(String, String, i64, Option<String>, f64)> = sqlx::query_as(
        "SELECT id::text, status, total_minor, payment_reference, \
         extract(epoch FROM now() - created_at)::float8 FROM orders ORDER BY id",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, status, total_minor, payment_reference, age)| OrderRow {
                id: id.trim().to_owned(),
                status,
                total_minor,
                payment_reference,
                age: Duration::from_secs_f64(age.max(0.0)),
            },
        )
        .collect())
}

async fn sagas_settled(pool: &PgPool, report: &mut Report) -> anyhow::Result<()> {
    let running: Vec<(i64, String, String, String)> = sqlx::query_as(
        "SELECT id, kind, order_id::text, step FROM sagas WHERE state = 'running' ORDER BY id",
    )
    .fetch_all(pool)
    .await?;
    for (id, kind, order, step) in running {
        report.violated(format!(
            "saga {id} ({kind} of order {}) is still running at {step}",
            order.trim()
        ));
    }
    let halfway: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT order_id::text, product_id::text, state FROM stock_reservations \
         WHERE state IN ('reserving', 'releasing') ORDER BY 1, 2",
    )
    .fetch_all(pool)
    .await?;
    for (order, product, state) in halfway {
        report.violated(format!(
            "order {}'s reservation of product {} is still {state}",
            order.trim(),
            product.trim()
        ));
    }
    Ok(())
}

async fn stock(
    pool: &PgPool,
    db: &Database,
    expected: &Expected<'_>,
    report: &mut Report,
) -> anyhow::Result<()> {
    let reserved: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT product_id::text, \
         coalesce(sum(quantity) FILTER (WHERE state = 'held'), 0)::bigint, \
         coalesce(sum(quantity) FILTER (WHERE state = 'sold'), 0)::bigint \
         FROM stock_reservations GROUP BY product_id",
    )
    .fetch_all(pool)
    .await?;
    let reserved: HashMap<String, (i64, i64)> = reserved
        .into_iter()
        .map(|(product, held, sold)| (product.trim().to_owned(), (held, sold)))
        .collect();
    let ids: Vec<ObjectId> = expected
        .initial_stock
        .keys()
        .map(ObjectId::parse_str)
        .collect::<Result<_, _>>()?;
    let products: Vec<Document> = db
        .collection::<Document>("products")
        .find(doc! { "_id": { "$in": ids } })
        .await?
        .try_collect()
        .await?;
    report.products = products.len();
    for product in products {
        let id = product.get_object_id("_id")?.to_hex();
        let stock = match product.get("stock") {
            Some(Bson::Int64(n)) => *n,
            Some(Bson::Int32(n)) => i64::from(*n),
            other => anyhow::bail!("product {id}'s stock is {other:?}"),
        };
        if stock < 0 {
            report.violated(format!("product {id}'s stock is negative: {stock}"));
        }
        if let Ok(marks) = product.get_array("stock_moves")
            && !marks.is_empty()
        {
            report.violated(format!("product {id} still holds stock marks {marks:?}"));
        }
        let (held, sold) = reserved.get(&id).copied().unwrap_or_default();
        let initial = expected.initial_stock[&id];
        if stock + held + sold != initial {
            report.violated(format!(
                "product {id}: stock {stock} + held {held} + sold {sold} != {initial}, what it \
                 started with"
            ));
        }
    }
    Ok(())
}

async fn reservations(
    pool: &PgPool,
    orders: &[OrderRow],
    report: &mut Report,
) -> anyhow::Result<()> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT order_id::text, state FROM stock_reservations ORDER BY order_id")
            .fetch_all(pool)
            .await?;
    let mut by_order: HashMap<String, Vec<String>> = HashMap::new();
    for (order, state) in rows {
        by_order
            .entry(order.trim().to_owned())
            .or_default()
            .push(state);
    }
    for order in orders {
        let wanted = match order.status.as_str() {
            "pending" => "held",
            "paid" | "shipped" => "sold",
            _ => "released",
        };
        match by_order.get(&order.id) {
            None => report.violated(format!("order {} has no reservations", order.id)),
            Some(states) => {
                if let Some(other) = states.iter().find(|s| *s != wanted) {
                    report.violated(format!(
                        "order {} is {} but a reservation of it is {other} (not {wanted})",
                        order.id, order.status
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The order a charge is for: the id in its description (the one link a provider has).
fn order_of(charge: &Charge) -> Option<&str> {
    charge
        .description
        .as_deref()?
        .rsplit(' ')
        .next()
        .filter(|id| id.len() == 24)
}

fn money(orders: &[OrderRow], charges: &[Charge], report: &mut Report) {
    let mut by_order: BTreeMap<&str, Vec<&Charge>> = BTreeMap::new();
    for charge in charges.iter().filter(|c| c.status == "succeeded") {
        match order_of(charge) {
            Some(order) => by_order.entry(order).or_default().push(charge),
            None => report.violated(format!("charge {} names no order", charge.id)),
        }
    }
    let known: HashMap<&str, &OrderRow> = orders.iter().map(|o| (o.id.as_str(), o)).collect();
    for (order_id, charges) in &by_order {
        let unrefunded: Vec<&&Charge> = charges
            .iter()
            .filter(|c| c.amount_refunded < c.amount)
            .collect();
        let Some(order) = known.get(order_id) else {
            if !unrefunded.is_empty() {
                report.violated(format!(
                    "charge {} is kept for order {order_id}, which does not exist",
                    unrefunded[0].id
                ));
            }
            continue;
        };
        for c in &unrefunded {
            if c.amount_refunded > 0 {
                report.violated(format!("charge {} is refunded in part", c.id));
            }
        }
        match order.status.as_str() {
            "paid" | "shipped" => {}
            status => {
                for c in unrefunded {
                    report.violated(format!(
                        "charge {} is kept but order {order_id} is {status}",
                        c.id
                    ));
                }
            }
        }
    }
    for order in orders
        .iter()
        .filter(|o| o.status == "paid" || o.status == "shipped")
    {
        let kept: Vec<&&Charge> = by_order
            .get(order.id.as_str())
            .map(|cs| cs.iter().filter(|c| c.amount_refunded == 0).collect())
            .unwrap_or_default();
        match kept.as_slice() {
            [one] => {
                if one.amount != order.total_minor {
                    report.violated(format!(
                        "order {} totals {} but its charge {} is {}",
                        order.id, order.total_minor, one.id, one.amount
                    ));
                }
                if order.payment_reference.as_deref() != Some(one.id.as_str()) {
                    report.violated(format!(
                        "order {} names charge {:?}, but the one kept is {}",
                        order.id, order.payment_reference, one.id
                    ));
                }
            }
            kept => report.violated(format!(
                "order {} is {} with {} unrefunded charges (it names {:?}, which the \
                 provider {}; the provider has for it: {})",
                order.id,
                order.status,
                kept.len(),
                order.payment_reference,
                match order
                    .payment_reference
                    .as_deref()
                    .and_then(|id| charges.iter().find(|c| c.id == id))
                {
                    Some(c) => format!(
                        "holds as {} {} refunded {}, described {:?}",
                        c.status, c.amount, c.amount_refunded, c.description
                    ),
                    None => "does not hold".to_owned(),
                },
                charges_of(charges, &order.id),
            )),
        }
    }
}

/// Every charge the provider holds for `order`, whatever its status, for a violation's
/// message: what a replay needs to tell a lost refund from a second charge.
fn charges_of(charges: &[Charge], order: &str) -> String {
    let found: Vec<String> = charges
        .iter()
        .filter(|c| order_of(c) == Some(order))
        .map(|c| {
            format!(
                "{} {} {} refunded {}",
                c.id, c.status, c.amount, c.amount_refunded
            )
        })
        .collect();
    if found.is_empty() {
        "none".to_owned()
    } else {
        found.join(", ")
    }
}

fn pending(orders: &[OrderRow], bound: Duration, report: &mut Report) {
    for order in orders
        .iter()
        .filter(|o| o.status == "pending" && o.age > bound)
    {
        report.violated(format!(
            "order {} is pending after {:?}, past the bound of {bound:?}",
            order.id, order.age
        ));
    }
}

async fn events(
    pool: &PgPool,
    consumers: &[std::sync::Arc<dyn Consumer>],
    report: &mut Report,
) -> anyhow::Result<()> {
    let (events, unpublished): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(*) FILTER (WHERE published_at IS NULL) FROM outbox")
            .fetch_one(pool)
            .await?;
    report.events = usize::try_from(events)?;
    if unpublished > 0 {
        report.violated(format!("{unpublished} outbox events were never published"));
    }
    for consumer in consumers {
        let missing: Vec<(String, String)> = sqlx::query_as(
            "SELECT o.event_id::text, o.kind FROM outbox o WHERE NOT EXISTS \
             (SELECT 1 FROM consumed_events c WHERE c.consumer = $1 AND c.event_id = o.event_id) \
             ORDER BY o.id",
        )
        .bind(consumer.name())
        .fetch_all(pool)
        .await?;
        for (event, kind) in missing {
            report.violated(format!(
                "{} never applied event {event} ({kind})",
                consumer.name()
            ));
        }
    }
    // The effects, against the events: one message per paid or cancelled event, and the
    // projection's sums equal to the events'.
    let (mail_events, messages): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM outbox WHERE kind IN ('order_paid', 'order_cancelled')), \
         (SELECT count(*) FROM mailbox)",
    )
    .fetch_one(pool)
    .await?;
    if mail_events != messages {
        report.violated(format!(
            "{mail_events} paid or cancelled events but {messages} messages in the mailbox"
        ));
    }
    let (from_events, projected): (i64, i64) = sqlx::query_as(
        "SELECT coalesce((SELECT sum(CASE WHEN kind = 'order_paid' \
         THEN (payload->>'total_minor')::bigint ELSE -(payload->>'refunded_minor')::bigint END) \
         FROM outbox WHERE kind IN ('order_paid', 'order_cancelled')), 0)::bigint, \
         coalesce((SELECT sum(revenue_minor) FROM sales_by_day), 0)::bigint",
    )
    .fetch_one(pool)
    .await?;
    if from_events != projected {
        report.violated(format!(
            "the events add up to {from_events} in revenue, the projection to {projected}"
        ));
    }
    Ok(())
}
