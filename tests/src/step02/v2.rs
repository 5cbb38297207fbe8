//! `/api/v2`: money as `{amount, currency}`, an embedded rating, cursor pages that neither
//! repeat nor miss while products are inserted, and every error as RFC 9457
//! `application/problem+json`.

use anyhow::{Context, Result};
use serde_json::Value;

use super::{ids, product_in, unique_category};
use crate::client::{Api, Reply};
use crate::{Case, Target, check, fixtures};

pub(super) fn cases() -> Vec<Case> {
    crate::cases![
        a_v2_product_has_a_money_object_and_an_embedded_rating,
        v2_cursor_pages_neither_repeat_nor_miss_while_products_are_inserted,
        v2_errors_are_problem_details,
        a_v2_order_of_another_customer_is_a_404_problem,
    ]
}

const V2: &str = "/api/v2";

async fn a_v2_product_has_a_money_object_and_an_embedded_rating(t: Target) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let category = unique_category();
    let id = product_in(&admin, &category, 1999, 4, &["mug"]).await?;
    customer
        .api
        .post_review(&id, 4, "solid")
        .await?
        .expect_status(201)?;
    let product = customer
        .api
        .get(&format!("{V2}/products/{id}"))
        .await?
        .expect_value(200)?;
    check::eq(
        "price.amount",
        &product["price"]["amount"],
        &Value::from(1999),
    )?;
    check::eq(
        "price.currency",
        &product["price"]["currency"],
        &Value::from("EUR"),
    )?;
    check::eq("rating.count", &product["rating"]["count"], &Value::from(1))?;
    check::eq(
        "rating.average",
        product["rating"]["average"].as_f64(),
        Some(4.0),
    )?;
    check::that(product.get("price_minor").is_none(), || {
        format!("v2 has no v1 `price_minor`: {product}")
    })?;
    Ok(())
}

async fn v2_cursor_pages_neither_repeat_nor_miss_while_products_are_inserted(
    t: Target,
) -> Result<()> {
    let admin = fixtures::admin(&t).await?;
    let category = unique_category();
    let mut expected = Vec::new();
    for price in [100, 200, 300, 400, 500] {
        expected.push(product_in(&admin, &category, price, 1, &[]).await?);
    }
    let api = Api::new(&t.base_url);
    let mut seen: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    for round in 0.. {
        let mut path = format!("{V2}/products?category={category}&sort=price&limit=2");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let page = api.get(&path).await?.expect_value(200)?;
        seen.extend(ids(&page));
        // A cheaper product lands before the cursor (an offset page would shift and repeat
        // an item); a dearer one lands after it and must be seen.
        if round == 0 {
            product_in(&admin, &category, 50, 1, &[]).await?;
            expected.push(product_in(&admin, &category, 900, 1, &[]).await?);
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        check::that(round < 10, || "the listing never ended".to_owned())?;
    }
    check::eq(
        "every product at or after the first page, once, in price order",
        seen,
        expected,
    )?;
    Ok(())
}

fn problem(reply: Reply, status: u16) -> Result<Value> {
    let content_type = reply.content_type.clone().unwrap_or_default();
    let body = reply.expect_status(status)?.json()?;
    check::that(content_type.starts_with("application/problem+json"), || {
        format!("expected application/problem+json, got {content_type:?}: {body}")
    })?;
    for member in ["type", "title", "status", "detail", "code"] {
        check::that(body.get(member).is_some(), || {
            format!("problem member `{member}` in {body}")
        })?;
    }
    check::eq("problem status", &body["status"], &Value::from(status))?;
    Ok(body)
}

async fn v2_errors_are_problem_details(t: Target) -> Result<()> {
    let api = Api::new(&t.base_url);
    let missing = problem(
        api.get(&format!("{V2}/products/{}", fixtures::UNKNOWN_ID))
            .await?,
        404,
    )?;
    check::eq("code", &missing["code"], &Value::from("NOT_FOUND"))?;
    problem(api.get(&format!("{V2}/no-such-route")).await?, 404)?;
    let unauthorized = problem(api.get(&format!("{V2}/orders")).await?, 401)?;
    check::eq("code", &unauthorized["code"], &Value::from("UNAUTHORIZED"))?;
    let invalid = problem(api.get(&format!("{V2}/products?sort=secret")).await?, 400)?;
    check::eq("code", &invalid["code"], &Value::from("INVALID_PARAMETER"))?;
    let named = invalid["errors"]
        .as_array()
        .context("an `errors` list")?
        .iter()
        .any(|e| e["field"] == "sort");
    check::that(named, || format!("the problem names `sort`: {invalid}"))?;
    Ok(())
}

async fn a_v2_order_of_another_customer_is_a_404_problem(t: Target) -> Result<()> {
    let admin = fixtures::admin(&t).await?;
    let (owner, other) = futures::try_join!(fixtures::customer(&t), fixtures::customer(&t))?;
    let product = fixtures::product(&admin, 1250, 5).await?;
    let order = owner
        .api
        .place_order(&serde_json::json!({"items": [{"product_id": product.id, "quantity": 2}]}))
        .await?
        .expect_value(201)?;
    let id = order["id"].as_str().context("an order id")?;
    let mine = owner
        .api
        .get(&format!("{V2}/orders/{id}"))
        .await?
        .expect_value(200)?;
    check::eq("total.amount", &mine["total"]["amount"], &Value::from(2500))?;
    problem(other.api.get(&format!("{V2}/orders/{id}")).await?, 404)?;
    Ok(())
}
