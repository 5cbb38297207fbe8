//! # The step-5 contract: reads across two databases
//!
//! Step 5 moves orders and payments to PostgreSQL and keeps the catalog in MongoDB. What it
//! promises, and every later step (replicas, the saga, the split into services behind a
//! gateway) must keep:
//! - the sales report counts paid and shipped orders by product and by category, per currency,
//!   on REST and in GraphQL alike, and only admins read it;
//! - an order's view shows each item beside its product as the catalog has it now, while the
//!   item keeps what the customer bought;
//! - `/health` names PostgreSQL, and the OpenAPI document describes the new routes.
//!
//! Cases share the server with others, so each works in a category of its own and looks only
//! at its own rows.

use anyhow::{Context, Result};
use serde_json::{Value, json};

use crate::client::Api;
use crate::{Case, Target, check, fixtures};

pub fn cases() -> Vec<Case> {
    crate::cases![
        the_sales_report_counts_paid_orders_by_product_and_category_on_rest_and_graphql,
        an_order_view_shows_each_item_beside_its_product_now,
        health_names_postgresql_and_the_document_describes_the_new_routes,
    ]
}

/// A period around now, as the report's query string and as GraphQL arguments.
fn this_hour() -> (String, String) {
    let now = time::OffsetDateTime::now_utc();
    let format = &time::format_description::well_known::Rfc3339;
    let from = (now - time::Duration::hours(1)).format(format).unwrap();
    let to = (now + time::Duration::hours(1)).format(format).unwrap();
    (
        format!("from={from}&to={to}"),
        format!(r#"from: "{from}", to: "{to}""#),
    )
}

/// A fresh product of `price_minor` in `category`.
async fn product_in(admin: &Api, category: &str, price_minor: i64) -> Result<String> {
    let body = fixtures::with(
        &fixtures::product_body(price_minor, 50),
        "category",
        json!(category),
    );
    Ok(fixtures::create_product(admin, &body).await?.id)
}

/// The report's row whose key is `key`.
fn row<'a>(report: &'a Value, key: &str) -> Option<&'a Value> {
    report["rows"].as_array()?.iter().find(|r| r["key"] == key)
}

async fn the_sales_report_counts_paid_orders_by_product_and_category_on_rest_and_graphql(
    t: Target,
) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let category = format!("ct-sales-{}", fixtures::unique_suffix());
    let mug = product_in(&admin, &category, 1200).await?;
    let cup = product_in(&admin, &category, 300).await?;
    // Paid: 2 mugs and 1 cup, then 1 mug. Pending (not a sale): 5 cups.
    let paid = fixtures::place_order(&customer.api, &[(&mug, 2), (&cup, 1)]).await?;
    fixtures::pay(&customer.api, &paid.id).await?;
    let again = fixtures::place_order(&customer.api, &[(&mug, 1)]).await?;
    fixtures::pay(&customer.api, &again.id).await?;
    fixtures::place_order(&customer.api, &[(&cup, 5)]).await?;

    let (period, arguments) = this_hour();
    let by_product = admin
        .get(&format!("/api/v2/reports/sales?{period}&group_by=product"))
        .await?
        .expect_value(200)?;
    for (id, units, amount) in [(&mug, 3, 3600), (&cup, 1, 300)] {
        let found =
            row(&by_product, id).with_context(|| format!("a row for {id}: {by_product}"))?;
        check::eq(&format!("{id}'s units"), &found["units"], &json!(units))?;
        check::eq(
            &format!("{id}'s revenue"),
            &found["revenue"],
            &json!({ "amount": amount, "currency": "EUR" }),
        )?;
        check::eq(
            &format!("{id}'s category"),
            &found["category"],
            &json!(category),
        )?;
    }
    let by_category = admin
        .get(&format!("/api/v2/reports/sales?{period}&group_by=category"))
        .await?
        .expect_value(200)?;
    let folded = row(&by_category, &category).with_context(|| format!("{by_category}"))?;
    check::eq("the category's units", &folded["units"], &json!(4))?;
    check::eq(
        "the category's revenue",
        &folded["revenue"],
        &json!({ "amount": 3900, "currency": "EUR" }),
    )?;

    let query = format!(
        "{{ salesReport({arguments}, groupBy: CATEGORY) {{ rows {{ key units revenue {{ amount currency }} }} }} }}"
    );
    let answer = admin.graphql(&query, json!({})).await?;
    let graphql_row = row(&answer["data"]["salesReport"], &category)
        .with_context(|| format!("the category in GraphQL's report: {answer}"))?;
    check::eq("GraphQL's units", &graphql_row["units"], &folded["units"])?;
    check::eq(
        "GraphQL's revenue",
        &graphql_row["revenue"],
        &folded["revenue"],
    )?;

    let refused = customer.api.graphql(&query, json!({})).await?;
    check::eq(
        "a customer's GraphQL report",
        &refused["errors"][0]["extensions"]["code"],
        &json!("FORBIDDEN"),
    )?;
    customer
        .api
        .get(&format!("/api/v2/reports/sales?{period}"))
        .await?
        .expect_status(403)
        .context("a customer's REST report")?;
    Ok(())
}

async fn an_order_view_shows_each_item_beside_its_product_now(t: Target) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let category = format!("ct-view-{}", fixtures::unique_suffix());
    let lamp = product_in(&admin, &category, 4000).await?;
    let vase = product_in(&admin, &category, 900).await?;
    let order = fixtures::place_order(&customer.api, &[(&lamp, 1), (&vase, 2)]).await?;

    let bought = fixtures::get_product(&admin, &lamp).await?;
    let renamed = json!({
        "sku": bought.sku, "name": "Lamp, renamed", "description": bought.description,
        "price_minor": 4500, "currency": bought.currency, "stock": bought.stock,
        "category": bought.category, "tags": bought.tags,
    });
    admin
        .update_product(&lamp, &renamed)
        .await?
        .expect_status(200)
        .context("renaming the lamp")?;
    admin
        .delete_product(&vase)
        .await?
        .expect_status(204)
        .context("deleting the vase")?;

    let view = customer
        .api
        .get(&format!("/api/v2/order-views/{}", order.id))
        .await?
        .expect_value(200)?;
    let items = view["items"].as_array().cloned().unwrap_or_default();
    check::eq("the view's items", &json!(items.len()), &json!(2))?;
    let item = |id: &str| items.iter().find(|i| i["product_id"] == id).cloned();
    let lamp_item = item(&lamp).with_context(|| format!("the lamp in {view}"))?;
    check::eq(
        "the lamp as bought",
        &lamp_item["name"],
        &json!(bought.name),
    )?;
    check::eq(
        "the lamp's price as bought",
        &lamp_item["unit_price"]["amount"],
        &json!(4000),
    )?;
    check::eq(
        "the lamp now",
        &lamp_item["product"]["name"],
        &json!("Lamp, renamed"),
    )?;
    check::eq(
        "the lamp's price now",
        &lamp_item["product"]["price"]["amount"],
        &json!(4500),
    )?;
    let vase_item = item(&vase).with_context(|| format!("the vase in {view}"))?;
    check::eq("a deleted product now", &vase_item["product"], &Value::Null)?;

    let page = customer
        .api
        .get("/api/v2/order-views?limit=100")
        .await?
        .expect_value(200)?;
    let listed = page["items"]
        .as_array()
        .and_then(|orders| orders.iter().find(|o| o["id"] == order.id.as_str()))
        .with_context(|| format!("the order in the customer's page: {page}"))?;
    check::eq("the page's view of the order", listed, &view)?;
    Ok(())
}

async fn health_names_postgresql_and_the_document_describes_the_new_routes(
    t: Target,
) -> Result<()> {
    let api = Api::new(&t.base_url);
    let health = api.health().await?.expect_value(200)?;
    check::that(health.to_string().contains("postgresql"), || {
        format!("/health names PostgreSQL: {health}")
    })?;
    let document = api.get("/api-docs/openapi.json").await?.expect_value(200)?;
    for path in [
        "/api/v2/reports/sales",
        "/api/v2/order-views",
        "/api/v2/order-views/{id}",
    ] {
        check::that(document["paths"].get(path).is_some(), || {
            format!("{path} in the OpenAPI document")
        })?;
    }
    Ok(())
}
