//! Step 5's GraphQL schema: step 2's queries and the sales report ([`ReportQuery`]) in one
//! query type, step 2's mutations, and step 2's limits and rules. The report needs the
//! PostgreSQL pool, which step 2's per-request data does not carry, so the schema holds it.

use async_graphql::MergedObject;
use sqlx::PgPool;
use step02_apis::graphql::GraphqlSchema;
use step02_apis::graphql::query::ShopQuery;

use crate::config::Config;
use crate::report::ReportQuery;

/// Every field a client can read: step 2's and the report, under step 2's name, `Query`.
#[derive(MergedObject)]
pub struct Query(ShopQuery, ReportQuery);

/// The schema `/graphql` runs in step 5.
pub fn schema(config: &Config, pool: &PgPool) -> GraphqlSchema {
    GraphqlSchema::extended(
        &config.apis.graphql,
        config.environment,
        || Query(ShopQuery, ReportQuery),
        |builder| builder.data(pool.clone()),
    )
}
