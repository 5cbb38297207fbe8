//! The sales report: `GET /api/v2/reports/sales?from=&to=&group_by=product|category`, for
//! admins. Revenue and units of paid and shipped orders placed in `[from, to)`, by product or
//! by category, per currency (amounts in different currencies are never added).
//!
//! A query across both stores: PostgreSQL sums the order lines by product in one aggregate
//! (served by the partial index `orders_sold_by_time`, see `migrations/0003_sales_report.sql`);
//! the service then asks MongoDB for those products' categories in one batched `get_many`, and
//! folds the product rows into categories. A product deleted since keeps its sales under the
//! category `(deleted)`, with the name its order lines recorded.
//!
//! The same report is the GraphQL field `salesReport(from, to, groupBy)` ([`ReportQuery`],
//! merged into step 2's query type by [`crate::graphql`]), with the same validation and the
//! same error codes, and the REST route is in the OpenAPI document ([`openapi`]).

use std::collections::{BTreeMap, HashMap};

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use common::auth::AdminUser;
use common::domain::{Product, ProductId};
use common::error::{Error, Result};
use common::extract::Query;
use common::services::Catalog;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use step02_apis::graphql::errors::OrGraphql;
use step02_apis::graphql::query::signed_in;
use step02_apis::rest::Problem;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::startup::AppState;

pub const SALES_PATH: &str = "/api/v2/reports/sales";

/// The longest period one report covers: a bound on the rows one request aggregates.
pub const MAX_DAYS: i64 = 366;

/// The category of a product that no longer exists.
pub const DELETED: &str = "(deleted)";

pub fn router() -> Router<AppState> {
    Router::new().route(SALES_PATH, get(sales_report))
}

/// The query string, as sent; an unknown parameter (`group_by[$ne]`) is refused, not ignored.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SalesParams {
    /// The start of the period, inclusive (RFC 3339, e.g. `2026-11-01T00:00:00Z`).
    #[param(required = true, format = DateTime)]
    pub from: Option<String>,
    /// The end of the period, exclusive (RFC 3339); at most 366 days after `from`.
    #[param(required = true, format = DateTime)]
    pub to: Option<String>,
    /// `product` (the default) or `category`.
    #[param(inline, value_type = Option<GroupBy>)]
    pub group_by: Option<String>,
}

/// How the rows are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema, async_graphql::Enum)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    Product,
    Category,
}

/// A validated report request.
#[derive(Debug, Clone, Copy)]
pub struct SalesQuery {
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
    pub group_by: GroupBy,
}

impl TryFrom<SalesParams> for SalesQuery {
    type Error = Error;

    fn try_from(params: SalesParams) -> Result<Self> {
        let instant = |name: &str, value: Option<String>| -> Result<OffsetDateTime> {
            let value = value.ok_or_else(|| Error::InvalidParameter {
                name: name.to_owned(),
                reason: "is required (RFC 3339, e.g. 2026-11-01T00:00:00Z)".to_owned(),
            })?;
            OffsetDateTime::parse(&value, &Rfc3339).map_err(|_| Error::InvalidParameter {
                name: name.to_owned(),
                reason: "must be an RFC 3339 date-time, e.g. 2026-11-01T00:00:00Z".to_owned(),
            })
        };
        let from = instant("from", params.from)?;
        let to = instant("to", params.to)?;
        if to <= from {
            return Err(Error::InvalidParameter {
                name: "to".to_owned(),
                reason: "must be later than from".to_owned(),
            });
        }
        if to - from > time::Duration::days(MAX_DAYS) {
            return Err(Error::InvalidParameter {
                name: "to".to_owned(),
                reason: format!("the period may cover at most {MAX_DAYS} days"),
            });
        }
        let group_by = match params.group_by.as_deref() {
            None | Some("product") => GroupBy::Product,
            Some("category") => GroupBy::Category,
            Some(_) => {
                return Err(Error::InvalidParameter {
                    name: "group_by".to_owned(),
                    reason: "must be product or category".to_owned(),
                });
            }
        };
        Ok(Self { from, to, group_by })
    }
}

/// Money in the report: minor units and the currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema, async_graphql::SimpleObject)]
pub struct Revenue {
    pub amount: i64,
    pub currency: String,
}

/// One row: a product (with its name and category) or a category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema, async_graphql::SimpleObject)]
pub struct SalesRow {
    /// The product's id, or the category.
    pub key: String,
    /// The product's name (the current one, else the one its last order line recorded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The product's category (product rows only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    pub units: i64,
    pub revenue: Revenue,
}

/// Revenue and units of paid and shipped orders placed in `[from, to)`.
#[derive(Debug, Clone, Serialize, ToSchema, async_graphql::SimpleObject)]
pub struct SalesReport {
    #[serde(with = "time::serde::rfc3339")]
    pub from: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub to: OffsetDateTime,
    pub group_by: GroupBy,
    /// Largest revenue first (then by key).
    pub rows: Vec<SalesRow>,
    /// The sum of the rows, per currency.
    pub totals: Vec<Revenue>,
}

/// What PostgreSQL sums: one row per product and currency.
struct ProductSales {
    product: String,
    currency: String,
    name: String,
    units: i64,
    revenue: i64,
}

async fn product_sales(pool: &PgPool, query: &SalesQuery) -> Result<Vec<ProductSales>> {
    // `!`: a group has at least one line, so none of its sums or casts is null.
    let rows = sqlx::query!(
        r#"SELECT l.product_id::text AS "product!", o.currency::text AS "currency!",
                max(l.name) AS "name!", sum(l.quantity)::bigint AS "units!",
                sum(l.unit_price_minor * l.quantity)::bigint AS "revenue!"
         FROM orders o JOIN order_lines l ON l.order_id = o.id
         WHERE o.status IN ('paid', 'shipped') AND o.created_at >= $1 AND o.created_at < $2
         GROUP BY l.product_id, o.currency"#,
        query.from,
        query.to,
    )
    .fetch_all(pool)
    .await
    .map_err(crate::store::map_err("sales report"))?;
    Ok(rows
        .into_iter()
        .map(|row| ProductSales {
            product: row.product.trim().to_owned(),
            currency: row.currency.trim().to_owned(),
            name: row.name,
            units: row.units,
            revenue: row.revenue,
        })
        .collect())
}

/// The report: the sums from PostgreSQL, the names and categories from the catalog (one
/// batched read), grouped as asked.
pub async fn sales(pool: &PgPool, catalog: &Catalog, query: SalesQuery) -> Result<SalesReport> {
    let sold = product_sales(pool, &query).await?;
    let ids: Vec<ProductId> = sold.iter().filter_map(|s| s.product.parse().ok()).collect();
    let products: HashMap<String, Product> = catalog
        .products
        .get_many(&ids)
        .await?
        .into_iter()
        .map(|p| (p.id.to_string(), p))
        .collect();
    let mut rows: Vec<SalesRow> = match query.group_by {
        GroupBy::Product => sold
            .into_iter()
            .map(|s| {
                let product = products.get(&s.product);
                SalesRow {
                    name: Some(product.map_or(s.name, |p| p.name.clone())),
                    category: Some(product.map_or(DELETED.to_owned(), |p| p.category.clone())),
                    key: s.product,
                    units: s.units,
                    revenue: Revenue {
                        amount: s.revenue,
                        currency: s.currency,
                    },
                }
            })
            .collect(),
        GroupBy::Category => {
            let mut by_category: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
            for s in sold {
                let category = products
                    .get(&s.product)
                    .map_or(DELETED.to_owned(), |p| p.category.clone());
                let entry = by_category.entry((category, s.currency)).or_default();
                entry.0 += s.units;
                entry.1 += s.revenue;
            }
            by_category
                .into_iter()
                .map(|((category, currency), (units, revenue))| SalesRow {
                    key: category,
                    name: None,
                    category: None,
                    units,
                    revenue: Revenue {
                        amount: revenue,
                        currency,
                    },
                })
                .collect()
        }
    };
    rows.sort_by(|a, b| {
        b.revenue
            .amount
            .cmp(&a.revenue.amount)
            .then_with(|| a.key.cmp(&b.key))
            .then_with(|| a.revenue.currency.cmp(&b.revenue.currency))
    });
    let mut totals: BTreeMap<String, i64> = BTreeMap::new();
    for row in &rows {
        *totals.entry(row.revenue.currency.clone()).or_default() += row.revenue.amount;
    }
    Ok(SalesReport {
        from: query.from,
        to: query.to,
        group_by: query.group_by,
        rows,
        totals: totals
            .into_iter()
            .map(|(currency, amount)| Revenue { amount, currency })
            .collect(),
    })
}

/// Revenue and units per product or per category over a period (admins only).
#[utoipa::path(
    get,
    path = SALES_PATH,
    tag = "reports",
    params(SalesParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The report, largest revenue first", body = SalesReport),
        (status = 400, description = "A missing, malformed or unknown parameter, or a period that is empty or longer than 366 days", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn sales_report(
    _admin: AdminUser,
    State(state): State<AppState>,
    Query(params): Query<SalesParams>,
) -> Result<Json<SalesReport>> {
    let query = SalesQuery::try_from(params)?;
    Ok(Json(sales(&state.postgres, &state.catalog, query).await?))
}

#[derive(OpenApi)]
#[openapi(
    paths(sales_report),
    components(schemas(SalesReport, SalesRow, Revenue, GroupBy)),
    tags((name = "reports", description = "sales across both stores, for admins")),
)]
struct ReportDoc;

/// The report's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ReportDoc::openapi()
}

/// The report as a GraphQL field, beside step 2's queries.
pub struct ReportQuery;

#[async_graphql::Object]
impl ReportQuery {
    /// Revenue and units of paid and shipped orders placed in `[from, to)` (RFC 3339, at most
    /// 366 days), per product (the default) or per category. Admins only (`FORBIDDEN`).
    async fn sales_report(
        &self,
        ctx: &async_graphql::Context<'_>,
        from: String,
        to: String,
        group_by: Option<GroupBy>,
    ) -> async_graphql::Result<SalesReport> {
        let user = signed_in(ctx)?;
        if !user.is_admin() {
            return Err(Error::Forbidden).gql();
        }
        let params = SalesParams {
            from: Some(from),
            to: Some(to),
            group_by: group_by.map(|g| match g {
                GroupBy::Product => "product".to_owned(),
                GroupBy::Category => "category".to_owned(),
            }),
        };
        let query = SalesQuery::try_from(params).gql()?;
        let pool = ctx.data::<PgPool>()?;
        sales(pool, ctx.data::<Catalog>()?, query).await.gql()
    }
}
