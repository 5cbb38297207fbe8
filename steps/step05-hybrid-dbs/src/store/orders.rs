//! `orders` and `order_lines` in PostgreSQL. An order is written whole in one transaction
//! (the row, then its lines in one `INSERT ... SELECT FROM UNNEST`); a page of orders is read
//! in two queries whatever its size (the rows, then every line of the page with `= ANY`); a
//! status transition is one `UPDATE ... WHERE status = $from RETURNING`: a compare-and-set,
//! as the MongoDB store's `find_one_and_update` is.

use async_trait::async_trait;
use common::domain::{
    Currency, Money, Order, OrderId, OrderLine, OrderStatus, Page, Paged, PaymentInfo, Quantity,
    Sku, UserId,
};
use common::store::{OrderStore, StoreError, StoreResult};
use sqlx::PgPool;
use time::OffsetDateTime;

use super::{corrupt, id, map_err};

// Every query here is checked against the schema when the crate builds (`query!` and its
// kin, with the offline data in `.sqlx/`). A parameter compared with or written to a column
// of the domains `object_id` or `currency_code` is cast to their base type, `::bpchar`: the
// macros then know its type (a domain's OID differs from one database to the next), and the
// comparison stays on the column's own type, so the column's index serves it.

/// An `orders` row as every read selects it.
struct OrderRow {
    id: String,
    user_id: String,
    status: String,
    total_minor: i64,
    currency: String,
    payment_reference: Option<String>,
    payment_amount_minor: Option<i64>,
    payment_currency: Option<String>,
    payment_status: Option<String>,
    paid_at: Option<OffsetDateTime>,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

pub struct PgOrders {
    pool: PgPool,
}

impl PgOrders {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The lines of `orders`, by order id, in their positions: one query.
    async fn lines_of(&self, ids: &[String]) -> StoreResult<Vec<(String, OrderLine)>> {
        let rows = sqlx::query!(
            "SELECT order_id, product_id, sku, name, unit_price_minor, quantity, o.currency \
             FROM order_lines JOIN orders o ON o.id = order_id \
             WHERE order_id = ANY($1::bpchar[]) ORDER BY order_id, position",
            ids
        )
        .fetch_all(&self.pool)
        .await
        .map_err(map_err("order_lines"))?;
        rows.into_iter()
            .map(|row| {
                let bad = |e: String| corrupt("order line", e);
                let currency = Currency::parse(row.currency.trim()).map_err(bad)?;
                let line = OrderLine {
                    product_id: id("order line", row.product_id.trim())?,
                    sku: Sku::parse(&row.sku).map_err(bad)?,
                    name: row.name,
                    unit_price: Money::price(row.unit_price_minor, currency).map_err(bad)?,
                    quantity: Quantity::parse(i64::from(row.quantity)).map_err(bad)?,
                };
                Ok((row.order_id.trim().to_owned(), line))
            })
            .collect()
    }

    /// The orders among `ids` that exist, in no particular order: two queries.
    pub async fn get_many(&self, ids: &[OrderId]) -> StoreResult<Vec<Order>> {
        let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
        let rows = sqlx::query_as!(
            OrderRow,
            "SELECT id, user_id, status, total_minor, currency, payment_reference, \
             payment_amount_minor, payment_currency, payment_status, paid_at, created_at, \
             updated_at FROM orders WHERE id = ANY($1::bpchar[])",
            &ids
        )
        .fetch_all(&self.pool)
        .await
        .map_err(map_err("orders"))?;
        self.with_lines(rows).await
    }

    /// Orders from their rows, with their lines read in one query.
    async fn with_lines(&self, rows: Vec<OrderRow>) -> StoreResult<Vec<Order>> {
        let ids: Vec<String> = rows.iter().map(|row| row.id.trim().to_owned()).collect();
        let mut lines = self.lines_of(&ids).await?;
        rows.into_iter()
            .zip(&ids)
            .map(|(row, order_id)| {
                let mine: Vec<OrderLine> = lines
                    .extract_if(.., |(of, _)| of == order_id)
                    .map(|(_, line)| line)
                    .collect();
                order_from(row, mine)
            })
            .collect()
    }
}

/// What [`insert_in`] does with an order whose id is stored already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Fail with `Duplicate("orders_pkey")`: the API's insert.
    Refuse,
    /// Leave it as it is and report `false`: the migration's insert, safe to repeat.
    Keep,
}

/// Writes `order` and its lines inside `conn`'s transaction: the row, then every line in one
/// `INSERT ... SELECT FROM UNNEST`. `true` when the order was written.
pub async fn insert_in(
    conn: &mut sqlx::PgConnection,
    order: &Order,
    existing: Existing,
) -> StoreResult<bool> {
    let payment = order.payment.as_ref();
    // One statement for both cases, so one query to check: an id stored already writes
    // nothing, and `existing` says whether that is a conflict.
    let written = sqlx::query!(
        "INSERT INTO orders (id, user_id, status, total_minor, currency, payment_reference, \
         payment_amount_minor, payment_currency, payment_status, paid_at, created_at, \
         updated_at) VALUES ($1::bpchar, $2::bpchar, $3, $4, $5::bpchar, $6, $7, $8::bpchar, \
         $9, $10, $11, $12) ON CONFLICT (id) DO NOTHING",
        order.id.to_string(),
        order.user_id.to_string(),
        order.status.as_str(),
        order.total.minor,
        order.total.currency.as_str(),
        payment.map(|p| p.provider_reference.clone()),
        payment.map(|p| p.amount.minor),
        payment.map(|p| p.amount.currency.as_str().to_owned()),
        payment.map(|p| p.status.clone()),
        payment.map(|p| p.paid_at),
        order.created_at,
        order.updated_at,
    )
    .execute(&mut *conn)
    .await
    .map_err(map_err("orders_pkey"))?
    .rows_affected()
        == 1;
    match (written, existing) {
        (true, _) => {}
        (false, Existing::Keep) => return Ok(false),
        (false, Existing::Refuse) => return Err(StoreError::Duplicate("orders_pkey".to_owned())),
    }
    let positions: Vec<i16> = (0..order.lines.len())
        .map(|i| i16::try_from(i).unwrap_or(i16::MAX))
        .collect();
    let products: Vec<String> = order
        .lines
        .iter()
        .map(|l| l.product_id.to_string())
        .collect();
    let skus: Vec<String> = order
        .lines
        .iter()
        .map(|l| l.sku.as_str().to_owned())
        .collect();
    let names: Vec<String> = order.lines.iter().map(|l| l.name.clone()).collect();
    let prices: Vec<i64> = order.lines.iter().map(|l| l.unit_price.minor).collect();
    let quantities: Vec<i32> = order
        .lines
        .iter()
        .map(|l| i32::try_from(l.quantity.get()).unwrap_or(i32::MAX))
        .collect();
    sqlx::query!(
        "INSERT INTO order_lines (order_id, position, product_id, sku, name, \
         unit_price_minor, quantity) \
         SELECT $1::bpchar, * FROM UNNEST($2::smallint[], $3::bpchar[], $4::text[], \
         $5::text[], $6::bigint[], $7::integer[])",
        order.id.to_string(),
        &positions,
        &products,
        &skus,
        &names,
        &prices,
        &quantities,
    )
    .execute(&mut *conn)
    .await
    .map_err(map_err("order_lines"))?;
    Ok(true)
}

fn status_from(text: &str) -> StoreResult<OrderStatus> {
    Ok(match text {
        "pending" => OrderStatus::Pending,
        "paid" => OrderStatus::Paid,
        "shipped" => OrderStatus::Shipped,
        "cancelled" => OrderStatus::Cancelled,
        other => return Err(corrupt("order", format!("unknown status {other:?}"))),
    })
}

fn order_from(row: OrderRow, lines: Vec<OrderLine>) -> StoreResult<Order> {
    let bad = |e: String| corrupt("order", e);
    let currency = Currency::parse(row.currency.trim()).map_err(bad)?;
    let payment = match row.payment_reference {
        None => None,
        Some(provider_reference) => {
            let currency = row.payment_currency.unwrap_or_default();
            Some(PaymentInfo {
                provider_reference,
                amount: Money {
                    minor: row.payment_amount_minor.unwrap_or_default(),
                    currency: Currency::parse(currency.trim()).map_err(bad)?,
                },
                status: row.payment_status.unwrap_or_default(),
                paid_at: row
                    .paid_at
                    .ok_or_else(|| corrupt("order", "a payment without paid_at"))?,
            })
        }
    };
    Ok(Order {
        id: id("order", row.id.trim())?,
        user_id: id("order", row.user_id.trim())?,
        lines,
        total: Money {
            minor: row.total_minor,
            currency,
        },
        status: status_from(&row.status)?,
        payment,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

#[async_trait]
impl OrderStore for PgOrders {
    #[tracing::instrument(skip_all, fields(order = %order.id))]
    async fn insert(&self, order: &Order) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(map_err("orders"))?;
        insert_in(&mut tx, order, Existing::Refuse).await?;
        tx.commit().await.map_err(map_err("orders"))?;
        Ok(())
    }

    #[tracing::instrument(skip(self))]
    async fn get(&self, id: OrderId) -> StoreResult<Option<Order>> {
        Ok(self.get_many(&[id]).await?.pop())
    }

    #[tracing::instrument(skip(self))]
    async fn list_for_user(&self, user: UserId, page: Page) -> StoreResult<Paged<Order>> {
        let user = user.to_string();
        let rows = sqlx::query_as!(
            OrderRow,
            "SELECT id, user_id, status, total_minor, currency, payment_reference, \
             payment_amount_minor, payment_currency, payment_status, paid_at, created_at, \
             updated_at FROM orders WHERE user_id = $1::bpchar \
             ORDER BY id DESC OFFSET $2 LIMIT $3",
            user,
            i64::try_from(page.skip()).unwrap_or(i64::MAX),
            i64::try_from(page.limit).unwrap_or(i64::MAX),
        )
        .fetch_all(&self.pool)
        .await
        .map_err(map_err("orders"))?;
        let total = sqlx::query_scalar!(
            r#"SELECT count(*) AS "count!" FROM orders WHERE user_id = $1::bpchar"#,
            user
        )
        .fetch_one(&self.pool)
        .await
        .map_err(map_err("orders"))?;
        let items = self.with_lines(rows).await?;
        Ok(Paged {
            items,
            page,
            total: u64::try_from(total).unwrap_or_default(),
        })
    }

    #[tracing::instrument(skip(self, payment))]
    async fn transition(
        &self,
        id: OrderId,
        from: OrderStatus,
        to: OrderStatus,
        payment: Option<PaymentInfo>,
    ) -> StoreResult<Option<Order>> {
        let payment = payment.as_ref();
        // Microseconds: what timestamptz keeps, so a value read back equals the one written.
        let now = common::store::mongo::now();
        let row = sqlx::query_as!(
            OrderRow,
            "UPDATE orders SET status = $3, updated_at = greatest($4, created_at), \
             payment_reference = coalesce($5, payment_reference), \
             payment_amount_minor = coalesce($6, payment_amount_minor), \
             payment_currency = coalesce($7::bpchar, payment_currency), \
             payment_status = coalesce($8, payment_status), \
             paid_at = coalesce($9, paid_at) \
             WHERE id = $1::bpchar AND status = $2 RETURNING id, user_id, status, total_minor, \
             currency, payment_reference, payment_amount_minor, payment_currency, \
             payment_status, paid_at, created_at, updated_at",
            id.to_string(),
            from.as_str(),
            to.as_str(),
            now,
            payment.map(|p| p.provider_reference.clone()),
            payment.map(|p| p.amount.minor),
            payment.map(|p| p.amount.currency.as_str().to_owned()),
            payment.map(|p| p.status.clone()),
            payment.map(|p| p.paid_at),
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err("orders"))?;
        match row {
            None => Ok(None),
            Some(row) => Ok(self.with_lines(vec![row]).await?.pop()),
        }
    }
}
