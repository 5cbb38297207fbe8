//! Operator injection, the classic of MongoDB-backed APIs: an object such as `{"$gt": ""}`
//! where a string belongs (a login that matches any account), and operator syntax in query
//! parameters (`category[$ne]=x`). Bodies are typed, so an object in a string field is 422
//! naming it; a query parameter is a string, never an operator, and an unknown one is either
//! ignored (step 0) or refused with 400 naming it (step 2 on): never interpreted.

use anyhow::{Context, Result};
use serde_json::json;

use super::Fixture;
use crate::client::{API, Api};
use crate::fixtures::{self, PASSWORD};
use crate::{Case, Target, check};

pub(super) fn cases() -> Vec<Case> {
    crate::cases![
        operator_objects_in_place_of_strings_are_422_naming_the_field,
        operator_syntax_in_query_parameters_is_refused_or_ignored_never_interpreted,
    ]
}

async fn operator_objects_in_place_of_strings_are_422_naming_the_field(t: Target) -> Result<()> {
    let fixture = Fixture::new(&t).await?;
    let anonymous = Api::new(&t.base_url);
    let operators = [
        json!({ "$gt": "" }),
        json!({ "$ne": null }),
        json!({ "$regex": ".*" }),
    ];
    for operator in &operators {
        // A login matching "any email, any password" would sign in as the first account.
        for (body, field) in [
            (json!({ "email": operator, "password": PASSWORD }), "email"),
            (
                json!({ "email": fixture.customer.email, "password": operator }),
                "password",
            ),
        ] {
            anonymous
                .post(&format!("{API}/auth/login"), &body)
                .await?
                .expect_validation(&[field])
                .with_context(|| format!("login with {field} = {operator}"))?;
        }
        anonymous
            .register_raw(
                &json!({ "email": fixture.unused_email, "password": PASSWORD, "name": operator }),
            )
            .await?
            .expect_validation(&["name"])
            .with_context(|| format!("register with name = {operator}"))?;
        let order = json!({ "items": [{ "product_id": operator, "quantity": 1 }] });
        let error = fixture
            .customer
            .api
            .place_order(&order)
            .await?
            .expect_error(422, "VALIDATION_FAILED")
            .with_context(|| format!("an order for product_id = {operator}"))?;
        check::that(
            error.field_names().iter().any(|f| f.contains("product_id")),
            || {
                format!(
                    "the error names the product id, got {:?}",
                    error.field_names()
                )
            },
        )?;
        fixture
            .customer
            .api
            .pay_order_raw(&fixture.order.id, &json!({ "card_token": operator }))
            .await?
            .expect_validation(&["card_token"])
            .with_context(|| format!("paying with card_token = {operator}"))?;
        fixture
            .admin
            .create_product(&fixtures::with(
                &fixture.unused_product,
                "category",
                operator.clone(),
            ))
            .await?
            .expect_validation(&["category"])
            .with_context(|| format!("a product whose category is {operator}"))?;
    }
    fixture.nothing_happened().await
}

async fn operator_syntax_in_query_parameters_is_refused_or_ignored_never_interpreted(
    t: Target,
) -> Result<()> {
    let fixture = Fixture::new(&t).await?;
    let api = &fixture.customer.api;
    for query in [
        "limit=5&category%5B%24ne%5D=x",
        "limit=5&page%5B%24gt%5D=0",
        "limit=5&%24where=1",
        "limit=5&category=%7B%22%24ne%22%3A%22x%22%7D",
    ] {
        let reply = api.list_products(query).await?;
        match reply.status.as_u16() {
            // Step 0 ignores parameters it does not know: the first page of five, as asked,
            // not a page an operator chose. (Other cases add products meanwhile, so totals are
            // not compared.)
            200 => {
                let body = reply.expect_value(200)?;
                check::eq(
                    &format!("?{query}: the page"),
                    body["page"].as_u64(),
                    Some(1),
                )?;
                check::eq(
                    &format!("?{query}: the limit"),
                    body["limit"].as_u64(),
                    Some(5),
                )?;
            }
            // Step 2 on refuses what it does not know, naming it.
            _ => {
                reply
                    .expect_error(400, "INVALID_PARAMETER")
                    .with_context(|| format!("GET /products?{query}"))?;
            }
        }
    }
    let orders = api.list_orders("page%5B%24gt%5D=0").await?;
    check::that(
        orders.status.as_u16() == 200 || orders.status.as_u16() == 400,
        || format!("an operator on the orders listing: {}", orders.describe()),
    )?;
    fixture.nothing_happened().await
}
