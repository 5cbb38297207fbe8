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
use common::store::{OrderStore, StoreResult};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use time::OffsetDateTime;

use super::{corrupt, id, map_err};

/// The order columns every read selects, in this order.
const ORDER_COLUMNS: &str = "id, user_id, status, total_minor, currency, payment_reference, \
     payment_amount_minor, payment_currency, payment_status, paid_at, created_at, updated_at";

pub struct PgOrders {
    pool: PgPool,
}

impl PgOrders {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The lines of `orders`, by order id, in their positions: one query.
    async fn lines_of(&self, ids: &[String]) -> StoreResult<Vec<(String, OrderLine)>> {
        let rows = sqlx::query(
            "SELECT order_id, product_id, sku, name, unit_price_minor, quantity, o.currency \
             FROM order_lines JOIN orders o ON o.id = order_id \
             WHERE order_id = ANY($1) ORDER BY order_id, position",
        )
        .bind(ids)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err("order_lines"))?;
        rows.iter()
            .map(|row| {
                let bad = |e: String| corrupt("order line", e);
                let currency =
                    Currency::parse(get::<String>(row, "currency")?.trim()).map_err(bad)?;
                let line = OrderLine {
                    product_id: id("order line", get::<String>(row, "product_id")?.trim())?,
                    sku: Sku::parse(&get::<String>(row, "sku")?).map_err(bad)?,
                    name: get(row, "name")?,
                    unit_price: Money::price(get(row, "unit_price_minor")?, currency)
                        .map_err(bad)?,
                    quantity: Quantity::parse(i64::from(get::<i32>(row, "quantity")?))
                        .map_err(bad)?,
                };
                Ok((get::<String>(row, "order_id")?.trim().to_owned(), line))
            })
            .collect()
    }

    /// The orders among `ids` that exist, in no particular order: two queries.
    pub async fn get_many(&self, ids: &[OrderId]) -> StoreResult<Vec<Order>> {
        let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
        let rows = sqlx::query(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE id = ANY($1)"
        ))
        .bind(&ids)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err("orders"))?;
        self.with_lines(rows).await
    }

    /// The order of `row`, if any, with its lines.
    async fn one_with_lines(&self, row: Option<PgRow>) -> StoreResult<Option<Order>> {
        match row {
            None => Ok(None),
            Some(row) => Ok(self.with_lines(vec![row]).await?.pop()),
        }
    }

    /// Orders from their rows, with their lines read in one query.
    async fn with_lines(&self, rows: Vec<PgRow>) -> StoreResult<Vec<Order>> {
        let ids: Vec<String> = rows
            .iter()
            .map(|row| get::<String>(row, "id").map(|id| id.trim().to_owned()))
            .collect::<StoreResult<_>>()?;
        let mut lines = self.lines_of(&ids).await?;
        rows.iter()
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
    let conflict = match existing {
        Existing::Refuse => "",
        Existing::Keep => " ON CONFLICT (id) DO NOTHING",
    };
    let written = sqlx::query(&format!(
        "INSERT INTO orders (id, user_id, status, total_minor, currency, payment_reference, \
         payment_amount_minor, payment_currency, payment_status, paid_at, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12){conflict}"
    ))
    .bind(order.id.to_string())
    .bind(order.user_id.to_string())
    .bind(order.status.as_str())
    .bind(order.total.minor)
    .bind(order.total.currency.as_str())
    .bind(payment.map(|p| p.provider_reference.clone()))
    .bind(payment.map(|p| p.amount.minor))
    .bind(payment.map(|p| p.amount.currency.as_str().to_owned()))
    .bind(payment.map(|p| p.status.clone()))
    .bind(payment.map(|p| p.paid_at))
    .bind(order.created_at)
    .bind(order.updated_at)
    .execute(&mut *conn)
    .await
    .map_err(map_err("orders_pkey"))?
    .rows_affected()
        == 1;
    if !written {
        return Ok(false);
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
    sqlx::query(
        "INSERT INTO order_lines (order_id, position, product_id, sku, name, \
         unit_price_minor, quantity) \
         SELECT $1, * FROM UNNEST($2::smallint[], $3::text[], $4::text[], $5::text[], \
         $6::bigint[], $7::integer[])",
    )
    .bind(order.id.to_string())
    .bind(&positions)
    .bind(&products)
    .bind(&skus)
    .bind(&names)
    .bind(&prices)
    .bind(&quantities)
    .execute(&mut *conn)
    .await
    .map_err(map_err("order_lines"))?;
    Ok(true)
}

fn get<'r, T>(row: &'r PgRow, column: &str) -> StoreResult<T>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    row.try_get(column).map_err(map_err("orders"))
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

fn order_from(row: &PgRow, lines: Vec<OrderLine>) -> StoreResult<Order> {
    let bad = |e: String| corrupt("order", e);
    let currency = Currency::parse(get::<String>(row, "currency")?.trim()).map_err(bad)?;
    let payment = match get::<Option<String>>(row, "payment_reference")? {
        None => None,
        Some(provider_reference) => {
            let currency = get::<Option<String>>(row, "payment_currency")?.unwrap_or_default();
            Some(PaymentInfo {
                provider_reference,
                amount: Money {
                    minor: get::<Option<i64>>(row, "payment_amount_minor")?.unwrap_or_default(),
                    currency: Currency::parse(currency.trim()).map_err(bad)?,
                },
                status: get::<Option<String>>(row, "payment_status")?.unwrap_or_default(),
                paid_at: get::<Option<OffsetDateTime>>(row, "paid_at")?
                    .ok_or_else(|| corrupt("order", "a payment without paid_at"))?,
            })
        }
    };
    Ok(Order {
        id: id("order", get::<String>(row, "id")?.trim())?,
        user_id: id("order", get::<String>(row, "user_id")?.trim())?,
        lines,
        total: Money {
            minor: get(row, "total_minor")?,
            currency,
        },
        status: status_from(&get::<String>(row, "status")?)?,
        payment,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
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
        let row = sqlx::query(&format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err("orders"))?;
        self.one_with_lines(row).await
    }

    #[tracing::instrument(skip(self))]
    async fn list_for_user(&self, user: UserId, page: Page) -> StoreResult<Paged<Order>> {
        let rows = sqlx::query(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE user_id = $1 \
             ORDER BY id DESC OFFSET $2 LIMIT $3"
        ))
        .bind(user.to_string())
        .bind(i64::try_from(page.skip()).unwrap_or(i64::MAX))
        .bind(i64::try_from(page.limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err("orders"))?;
        let total: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE user_id = $1")
            .bind(user.to_string())
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
        let row = sqlx::query(&format!(
            "UPDATE orders SET status = $3, updated_at = greatest($4, created_at), \
             payment_reference = coalesce($5, payment_reference), \
             payment_amount_minor = coalesce($6, payment_amount_minor), \
             payment_currency = coalesce($7, payment_currency), \
             payment_status = coalesce($8, payment_status), \
             paid_at = coalesce($9, paid_at) \
             WHERE id = $1 AND status = $2 RETURNING {ORDER_COLUMNS}"
        ))
        .bind(id.to_string())
        .bind(from.as_str())
        .bind(to.as_str())
        .bind(now)
        .bind(payment.map(|p| p.provider_reference.clone()))
        .bind(payment.map(|p| p.amount.minor))
        .bind(payment.map(|p| p.amount.currency.as_str().to_owned()))
        .bind(payment.map(|p| p.status.clone()))
        .bind(payment.map(|p| p.paid_at))
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err("orders"))?;
        self.one_with_lines(row).await
    }
}
