//! `/graphql`: the same catalogue through a connection with the same filters, a product with
//! its reviews, `me` refused without a token, and another customer's order invisible.

use anyhow::{Context, Result};
use serde_json::{Value, json};

use super::{product_in, unique_category};
use crate::client::Api;
use crate::{Case, Target, check, fixtures};

pub(super) fn cases() -> Vec<Case> {
    crate::cases![
        graphql_pages_the_filtered_catalogue_as_a_connection,
        graphql_gives_a_product_with_its_rating_and_reviews,
        graphql_refuses_me_without_a_token_and_hides_another_customers_order,
    ]
}

/// An operation's answer, which must be a 200 in GraphQL's response shape.
async fn graphql(api: &Api, query: &str, variables: Value) -> Result<Value> {
    api.graphql(query, variables).await
}

/// `data` of an answer without errors.
fn data(answer: &Value) -> Result<&Value> {
    check::that(answer.get("errors").is_none(), || {
        format!("expected no errors, got {answer}")
    })?;
    answer.get("data").context("a `data` member")
}

fn first_error_code(answer: &Value) -> Option<&str> {
    answer["errors"][0]["extensions"]["code"].as_str()
}

async fn graphql_pages_the_filtered_catalogue_as_a_connection(t: Target) -> Result<()> {
    let admin = fixtures::admin(&t).await?;
    let category = unique_category();
    let cheap = product_in(&admin, &category, 300, 1, &[]).await?;
    let dear = product_in(&admin, &category, 800, 1, &[]).await?;
    let api = Api::new(&t.base_url);
    let query = "query($category: String!, $after: String) {
        products(first: 1, after: $after, sort: PRICE_DESC, filter: {category: $category}) {
          edges { cursor node { id priceMinor currency } }
          pageInfo { hasNextPage endCursor }
        } }";
    let first = graphql(&api, query, json!({"category": category})).await?;
    let first = &data(&first)?["products"];
    check::eq(
        "first page",
        &first["edges"][0]["node"]["id"],
        &Value::from(dear),
    )?;
    check::eq(
        "more to come",
        &first["pageInfo"]["hasNextPage"],
        &Value::from(true),
    )?;
    let after = first["pageInfo"]["endCursor"].clone();
    let second = graphql(&api, query, json!({"category": category, "after": after})).await?;
    let second = &data(&second)?["products"];
    check::eq(
        "second page",
        &second["edges"][0]["node"]["id"],
        &Value::from(cheap),
    )?;
    check::eq(
        "the end",
        &second["pageInfo"]["hasNextPage"],
        &Value::from(false),
    )?;
    let bad = graphql(
        &api,
        query,
        json!({"category": category, "after": "not-a-cursor"}),
    )
    .await?;
    check::that(bad.get("errors").is_some(), || {
        format!("a garbage cursor is an error: {bad}")
    })?;
    Ok(())
}

async fn graphql_gives_a_product_with_its_rating_and_reviews(t: Target) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let id = product_in(&admin, &unique_category(), 450, 2, &[]).await?;
    customer
        .api
        .post_review(&id, 5, "lovely")
        .await?
        .expect_status(201)?;
    let answer = graphql(
        &Api::new(&t.base_url),
        "query($id: ID!) { product(id: $id) { name ratingAverage ratingCount
           reviews(first: 5) { rating comment } } }",
        json!({"id": id}),
    )
    .await?;
    let product = &data(&answer)?["product"];
    check::eq("ratingCount", &product["ratingCount"], &Value::from(1))?;
    check::eq(
        "ratingAverage",
        product["ratingAverage"].as_f64(),
        Some(5.0),
    )?;
    check::eq(
        "the review",
        &product["reviews"][0]["comment"],
        &Value::from("lovely"),
    )?;
    Ok(())
}

async fn graphql_refuses_me_without_a_token_and_hides_another_customers_order(
    t: Target,
) -> Result<()> {
    let api = Api::new(&t.base_url);
    let anonymous = api
        .post("/graphql", &json!({"query": "{ me { email } }"}))
        .await?;
    let status = anonymous.status.as_u16();
    let body = anonymous.json()?;
    check::that(
        first_error_code(&body) == Some("UNAUTHENTICATED") && body["data"]["me"].is_null(),
        || format!("anonymous `me`: expected UNAUTHENTICATED, got {status}: {body}"),
    )?;

    let admin = fixtures::admin(&t).await?;
    let (owner, other) = futures::try_join!(fixtures::customer(&t), fixtures::customer(&t))?;
    let product = fixtures::product(&admin, 700, 3).await?;
    let order = owner
        .api
        .place_order(&json!({"items": [{"product_id": product.id, "quantity": 1}]}))
        .await?
        .expect_value(201)?;
    let id = order["id"].as_str().context("an order id")?;
    let query = "query($id: ID!) { order(id: $id) { id totalMinor } }";
    let mine = graphql(&owner.api, query, json!({"id": id})).await?;
    check::eq(
        "the owner's order",
        &data(&mine)?["order"]["totalMinor"],
        &Value::from(700),
    )?;
    let theirs = graphql(&other.api, query, json!({"id": id})).await?;
    check::eq(
        "another customer's order",
        first_error_code(&theirs),
        Some("NOT_FOUND"),
    )?;
    Ok(())
}
