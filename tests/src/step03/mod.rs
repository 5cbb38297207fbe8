//! # The step-3 contract: a cache nobody can see
//!
//! Step 3 puts a cache in front of the catalogue. What it promises, and every later step
//! (several instances behind a load balancer, the step-10 gateway) must keep, is that a client
//! cannot tell: a write is seen by the very next read, in the product, in every listing that
//! shows it, and in GraphQL, however often the old answer was read before.
//!
//! Each case reads an answer twice before writing, so that with a cache the old answer is
//! cached, and then checks the next read. Product and listing reads carry an `ETag`: a client
//! that revalidates with `If-None-Match` gets `304` while the answer is the same, and the new
//! answer, never `304`, once a write changed it.

use anyhow::{Context, Result};
use serde_json::{Value, json};

use crate::client::{API, Api};
use crate::{Case, Target, check, fixtures};

pub fn cases() -> Vec<Case> {
    crate::cases![
        a_product_update_is_seen_by_the_next_read_everywhere,
        stock_taken_by_an_order_is_seen_by_the_next_read,
        a_new_review_is_seen_in_the_rating_and_the_reviews_at_once,
        a_deleted_product_is_gone_from_the_next_read,
        a_conditional_read_gets_304_until_a_write_and_then_the_new_answer,
    ]
}

/// GETs `path` twice (the second is a cache hit where there is a cache); returns the body.
async fn read_twice(api: &Api, path: &str) -> Result<Value> {
    api.get(path).await?.expect_value(200)?;
    api.get(path).await?.expect_value(200)
}

/// A product in a category of its own, so its listing shows it alone: the category, the
/// body it was created with, and the product.
async fn alone_in_its_category(admin: &Api) -> Result<(String, Value, crate::model::Product)> {
    let category = format!("ct-cat-{}", fixtures::unique_suffix());
    let body = fixtures::with(
        &fixtures::product_body(1000, 5),
        "category",
        json!(category),
    );
    let product = fixtures::create_product(admin, &body).await?;
    Ok((category, body, product))
}

fn listed_names(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

async fn a_product_update_is_seen_by_the_next_read_everywhere(t: Target) -> Result<()> {
    let admin = fixtures::admin(&t).await?;
    let (category, body, product) = alone_in_its_category(&admin).await?;
    let api = Api::new(&t.base_url);
    let detail = format!("{API}/products/{}", product.id);
    let v1_list = format!("{API}/products?category={category}");
    let v2_list = format!("/api/v2/products?category={category}");
    for path in [&detail, &v1_list, &v2_list] {
        read_twice(&api, path).await?;
    }

    let renamed = fixtures::with(
        &fixtures::with(&body, "name", json!("Renamed Mug")),
        "price_minor",
        json!(1500),
    );
    admin
        .update_product(&product.id, &renamed)
        .await?
        .expect_status(200)?;

    let now = api.get(&detail).await?.expect_value(200)?;
    check::eq(
        "detail name after the update",
        &now["name"],
        &json!("Renamed Mug"),
    )?;
    check::eq(
        "detail price after the update",
        &now["price_minor"],
        &json!(1500),
    )?;
    for path in [&v1_list, &v2_list] {
        let page = api.get(path).await?.expect_value(200)?;
        check::eq(
            &format!("{path} after the update"),
            listed_names(&page),
            vec!["Renamed Mug".to_owned()],
        )?;
    }
    let query = json!({"query": "query($id: ID!) { product(id: $id) { name priceMinor } }", "variables": {"id": product.id}});
    let graphql = api.post("/graphql", &query).await?.expect_value(200)?;
    check::eq(
        "GraphQL after the update",
        &graphql["data"]["product"]["priceMinor"],
        &json!(1500),
    )?;
    Ok(())
}

async fn stock_taken_by_an_order_is_seen_by_the_next_read(t: Target) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let product = fixtures::product(&admin, 800, 5).await?;
    let detail = format!("{API}/products/{}", product.id);
    read_twice(&customer.api, &detail).await?;
    customer
        .api
        .place_order(&json!({"items": [{"product_id": product.id, "quantity": 3}]}))
        .await?
        .expect_status(201)?;
    let now = customer.api.get(&detail).await?.expect_value(200)?;
    check::eq("stock after an order of 3 from 5", &now["stock"], &json!(2))?;
    Ok(())
}

async fn a_new_review_is_seen_in_the_rating_and_the_reviews_at_once(t: Target) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let product = fixtures::product(&admin, 800, 5).await?;
    let v2_detail = format!("/api/v2/products/{}", product.id);
    let reviews = format!("{API}/products/{}/reviews", product.id);
    read_twice(&customer.api, &v2_detail).await?;
    read_twice(&customer.api, &reviews).await?;
    customer
        .api
        .post_review(&product.id, 2, "meh")
        .await?
        .expect_status(201)?;
    let now = customer.api.get(&v2_detail).await?.expect_value(200)?;
    check::eq(
        "rating count after a review",
        &now["rating"]["count"],
        &json!(1),
    )?;
    let listed = customer.api.get(&reviews).await?.expect_value(200)?;
    let comment = listed["items"][0]["comment"].clone();
    check::eq("the new review is listed", &comment, &json!("meh"))
        .context("reviews after a review")?;
    Ok(())
}

async fn a_deleted_product_is_gone_from_the_next_read(t: Target) -> Result<()> {
    let admin = fixtures::admin(&t).await?;
    let product = fixtures::product(&admin, 800, 5).await?;
    let api = Api::new(&t.base_url);
    let detail = format!("{API}/products/{}", product.id);
    read_twice(&api, &detail).await?;
    admin
        .delete_product(&product.id)
        .await?
        .expect_status(204)?;
    api.get(&detail).await?.expect_error(404, "NOT_FOUND")?;
    Ok(())
}

/// `GET path` with `If-None-Match: tag`.
async fn revalidate(api: &Api, path: &str, tag: &str) -> Result<crate::client::Reply> {
    api.send(
        api.request(reqwest::Method::GET, path)
            .header("if-none-match", tag),
    )
    .await
}

async fn a_conditional_read_gets_304_until_a_write_and_then_the_new_answer(
    t: Target,
) -> Result<()> {
    let admin = fixtures::admin(&t).await?;
    let (category, body, product) = alone_in_its_category(&admin).await?;
    let api = Api::new(&t.base_url);
    let paths = [
        format!("{API}/products/{}", product.id),
        format!("/api/v2/products/{}", product.id),
        format!("{API}/products?category={category}"),
    ];
    let mut tags = Vec::new();
    for path in &paths {
        read_twice(&api, path).await?;
        let reply = api.get(path).await?.expect_status(200)?;
        let tag = reply
            .header("etag")
            .with_context(|| format!("{path} carries an ETag"))?
            .to_owned();
        let again = revalidate(&api, path, &tag).await?.expect_status(304)?;
        check::eq(
            &format!("{path}: the 304's ETag"),
            again.header("etag"),
            Some(tag.as_str()),
        )?;
        tags.push(tag);
    }
    let renamed = fixtures::with(&body, "name", json!("Revalidated Mug"));
    admin
        .update_product(&product.id, &renamed)
        .await?
        .expect_status(200)?;
    for (path, old) in paths.iter().zip(&tags) {
        let reply = revalidate(&api, path, old)
            .await?
            .expect_status(200)
            .with_context(|| format!("{path} revalidated after the write"))?;
        check::that(reply.header("etag") != Some(old.as_str()), || {
            format!("{path}: a new ETag after the write")
        })?;
        let text = reply.json()?.to_string();
        check::that(text.contains("Revalidated Mug"), || {
            format!("{path}: the new answer after the write, got {text}")
        })?;
    }
    Ok(())
}
