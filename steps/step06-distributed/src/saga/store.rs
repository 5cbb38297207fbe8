//! The saga's rows in PostgreSQL: the saga itself (begun, advanced, parked, finished, claimed
//! by the recovery worker), the stock reservations, and the locked order a transition reads.
//! Every change of a saga's step is a compare-and-set on its owner and its step, so a driver
//! that has lost its lease (another instance resumed the saga) finds out before it writes,
//! and its transaction writes nothing.

use common::domain::{OrderId, ProductId};
use common::error::{Error, Result};
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;

use super::{Data, Kind, Running};

/// Maps a PostgreSQL error of the saga's own bookkeeping: unreachable is 503, anything else
/// 500, through step 5's one mapping.
pub(crate) fn db(what: &'static str) -> impl Fn(sqlx::Error) -> Error {
    move |e| Error::from(step05_hybrid_dbs::store::map_err(what)(e))
}

/// Inserts a running saga owned by `owner` for `lease_ms`, inside `conn`'s transaction.
pub async fn begin_in(
    conn: &mut PgConnection,
    kind: Kind,
    order: OrderId,
    step: &'static str,
    data: &Data,
    owner: &str,
    lease_ms: i64,
) -> Result<Running> {
    let id = sqlx::query_scalar!(
        "INSERT INTO sagas (kind, order_id, step, state, data, owner, lease_until) \
         VALUES ($1, $2::bpchar, $3, 'running', $4::text::jsonb, $5, \
         now() + $6::bigint * interval '1 millisecond') RETURNING id",
        kind.as_str(),
        order.to_string(),
        step,
        data.to_json(),
        owner,
        lease_ms,
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(db("sagas"))?;
    Ok(Running {
        id,
        kind,
        order_id: order,
        step: step.to_owned(),
        data: data.clone(),
        owner: owner.to_owned(),
    })
}

/// Moves `saga` from its step to `to` (renewing the lease), or to a final `state`; false when
/// `owner` no longer holds it at that step.
pub(crate) async fn advance_in(
    conn: &mut PgConnection,
    saga: &Running,
    to: &str,
    state: &str,
    lease_ms: i64,
) -> Result<bool> {
    let moved = sqlx::query!(
        "UPDATE sagas SET step = $4, state = $5, data = $6::text::jsonb, \
         lease_until = now() + $7::bigint * interval '1 millisecond', updated_at = now() \
         WHERE id = $1 AND owner = $2 AND step = $3 AND state = 'running'",
        saga.id,
        saga.owner,
        saga.step,
        to,
        state,
        saga.data.to_json(),
        lease_ms,
    )
    .execute(&mut *conn)
    .await
    .map_err(db("sagas"))?
    .rows_affected();
    Ok(moved == 1)
}

/// Gives `saga` up until `retry_in_ms` from now, with the reason: the recovery worker takes
/// it again then (a provider that did not answer, MongoDB down).
pub(crate) async fn park(
    pool: &PgPool,
    saga: &Running,
    retry_in_ms: i64,
    reason: &str,
) -> Result<()> {
    sqlx::query!(
        "UPDATE sagas SET owner = NULL, last_error = $4, updated_at = now(), \
         lease_until = now() + $5::bigint * interval '1 millisecond' \
         WHERE id = $1 AND owner = $2 AND step = $3 AND state = 'running'",
        saga.id,
        saga.owner,
        saga.step,
        reason,
        retry_in_ms,
    )
    .execute(pool)
    .await
    .map_err(db("sagas"))?;
    Ok(())
}

/// Takes up to `batch` running sagas whose lease has run out, skipping any that another
/// instance is taking at this moment (`FOR UPDATE SKIP LOCKED`): no saga is driven by two
/// workers. Each claim's owner is `instance:saga:attempt`, new with every claim, so even a
/// slow driver of the same instance finds it has lost the saga. Returns them with the
/// attempts made so far (this one included).
pub(crate) async fn claim(
    pool: &PgPool,
    owner: &str,
    lease_ms: i64,
    batch: i64,
) -> Result<Vec<(Running, i32)>> {
    let rows = sqlx::query!(
        r#"UPDATE sagas SET owner = $1 || ':' || id || ':' || (attempts + 1),
           attempts = attempts + 1, updated_at = now(),
           lease_until = now() + $2::bigint * interval '1 millisecond'
           WHERE id IN (SELECT id FROM sagas WHERE state = 'running' AND lease_until < now()
                        ORDER BY lease_until LIMIT $3 FOR UPDATE SKIP LOCKED)
           RETURNING id, kind, order_id, step, data::text AS "data!", attempts,
           owner AS "owner!""#,
        owner,
        lease_ms,
        batch,
    )
    .fetch_all(pool)
    .await
    .map_err(db("sagas"))?;
    rows.into_iter()
        .map(|row| {
            let running = Running {
                id: row.id,
                kind: Kind::parse(&row.kind)?,
                order_id: row
                    .order_id
                    .trim()
                    .parse()
                    .map_err(|_| corrupt("a saga's order id"))?,
                step: row.step,
                data: Data::from_json(&row.data)?,
                owner: row.owner,
            };
            Ok((running, row.attempts))
        })
        .collect()
}

pub(crate) fn corrupt(what: &str) -> Error {
    Error::Internal(anyhow::anyhow!("{what} does not decode"))
}

/// Writes a reservation (`reserving`) for each of an order's lines.
pub async fn reserve_in(
    conn: &mut PgConnection,
    order: OrderId,
    lines: &[(String, i32)],
) -> Result<()> {
    let (products, quantities): (Vec<String>, Vec<i32>) = lines.iter().cloned().unzip();
    sqlx::query!(
        "INSERT INTO stock_reservations (order_id, product_id, quantity, state) \
         SELECT $1::bpchar, * , 'reserving' FROM UNNEST($2::bpchar[], $3::integer[])",
        order.to_string(),
        &products,
        &quantities,
    )
    .execute(&mut *conn)
    .await
    .map_err(db("stock_reservations"))?;
    Ok(())
}

/// Moves every reservation of `order` that is in `from` to `to`.
pub(crate) async fn move_reservations_in(
    conn: &mut PgConnection,
    order: OrderId,
    from: &[&str],
    to: &str,
) -> Result<()> {
    let from: Vec<String> = from.iter().map(|s| (*s).to_owned()).collect();
    sqlx::query!(
        "UPDATE stock_reservations SET state = $3, updated_at = now() \
         WHERE order_id = $1::bpchar AND state = ANY($2::text[])",
        order.to_string(),
        &from,
        to,
    )
    .execute(&mut *conn)
    .await
    .map_err(db("stock_reservations"))?;
    Ok(())
}

/// One reservation as the release step reads it.
pub(crate) struct Reservation {
    pub product_id: String,
    pub quantity: i32,
    pub state: String,
}

/// The reservations of `order` whose stock is not back yet.
pub(crate) async fn unreleased(pool: &PgPool, order: OrderId) -> Result<Vec<Reservation>> {
    sqlx::query_as!(
        Reservation,
        r#"SELECT product_id AS "product_id!", quantity, state FROM stock_reservations
           WHERE order_id = $1::bpchar AND state <> 'released' ORDER BY product_id"#,
        order.to_string(),
    )
    .fetch_all(pool)
    .await
    .map_err(db("stock_reservations"))
}

/// The products `order` reserved.
pub(crate) async fn products_of(pool: &PgPool, order: OrderId) -> Result<Vec<ProductId>> {
    let ids = sqlx::query_scalar!(
        r#"SELECT product_id AS "product_id!" FROM stock_reservations
           WHERE order_id = $1::bpchar ORDER BY product_id"#,
        order.to_string(),
    )
    .fetch_all(pool)
    .await
    .map_err(db("stock_reservations"))?;
    ids.iter()
        .map(|id| id.trim().parse().map_err(|_| corrupt("a product id")))
        .collect()
}

/// Marks one reservation released.
pub(crate) async fn released(pool: &PgPool, order: OrderId, product: &str) -> Result<()> {
    sqlx::query!(
        "UPDATE stock_reservations SET state = 'released', updated_at = now() \
         WHERE order_id = $1::bpchar AND product_id = $2::bpchar",
        order.to_string(),
        product,
    )
    .execute(pool)
    .await
    .map_err(db("stock_reservations"))?;
    Ok(())
}

/// An order row, locked for the rest of the transaction: what a transition decides on.
pub(crate) struct Locked {
    pub status: String,
    pub user_id: String,
    pub total_minor: i64,
    pub currency: String,
    pub payment_reference: Option<String>,
}

/// `SELECT ... FOR UPDATE`: concurrent transitions of one order queue here, so each sees the
/// status the one before it left.
pub(crate) async fn lock_order(conn: &mut PgConnection, id: OrderId) -> Result<Option<Locked>> {
    sqlx::query_as!(
        Locked,
        r#"SELECT status, user_id AS "user_id!", total_minor, currency AS "currency!",
           payment_reference FROM orders WHERE id = $1::bpchar FOR UPDATE"#,
        id.to_string(),
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(db("orders"))
}

/// Whether a cancellation of `id` is still running (its refund being settled), inside the
/// transaction that holds the order's lock: cancellations begin under the same lock, so the
/// answer holds until the commit.
pub(crate) async fn cancelling_in(conn: &mut PgConnection, id: OrderId) -> Result<bool> {
    let running = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM sagas WHERE order_id = $1::bpchar AND kind = 'cancel'
           AND state = 'running') AS "running!""#,
        id.to_string(),
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(db("sagas"))?;
    Ok(running)
}

/// The payment fields an order gains when paid.
pub(crate) struct Paid<'a> {
    pub reference: &'a str,
    pub amount_minor: i64,
    pub currency: &'a str,
    pub paid_at: OffsetDateTime,
}

/// Sets a locked order's status, and its payment (when paid) or its payment's status (when
/// refunded).
pub(crate) async fn set_order_in(
    conn: &mut PgConnection,
    id: OrderId,
    status: &str,
    paid: Option<Paid<'_>>,
    payment_status: Option<&str>,
) -> Result<()> {
    let payment_status = payment_status.or(paid.as_ref().map(|_| "succeeded"));
    sqlx::query!(
        "UPDATE orders SET status = $2, updated_at = greatest(now(), created_at), \
         payment_reference = coalesce($3, payment_reference), \
         payment_amount_minor = coalesce($4, payment_amount_minor), \
         payment_currency = coalesce($5::bpchar, payment_currency), \
         payment_status = coalesce($6, payment_status), \
         paid_at = coalesce($7, paid_at) WHERE id = $1::bpchar",
        id.to_string(),
        status,
        paid.as_ref().map(|p| p.reference),
        paid.as_ref().map(|p| p.amount_minor),
        paid.as_ref().map(|p| p.currency),
        payment_status,
        paid.as_ref().map(|p| p.paid_at),
    )
    .execute(&mut *conn)
    .await
    .map_err(db("orders"))?;
    Ok(())
}
