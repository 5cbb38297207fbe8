//! # The step-6 contract: order changes that survive failures, and their effects
//!
//! Step 6 makes every order write a persisted saga and publishes each change as an event.
//! What it promises, and every later step (the split into services behind a gateway) must
//! keep, seen from outside:
//! - a paid order's confirmation, and a cancelled order's notice, reach the customer's
//!   mailbox (`GET /api/v2/mailbox`) shortly after, once each, and only that customer's;
//! - placing or paying again with the same `Idempotency-Key` answers the first answer again,
//!   marked `Idempotent-Replayed: true`, and changes nothing more; GraphQL's `placeOrder`
//!   takes the same keys as its `idempotencyKey` argument, and a key one API used is refused
//!   on the other;
//! - the OpenAPI document describes the mailbox, and the key on placing and paying.
//!
//! Cases share the server with others, so each looks only at its own customers and orders.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::{Value, json};

use crate::client::Api;
use crate::{Case, Target, check, fixtures};

pub fn cases() -> Vec<Case> {
    crate::cases![
        a_paid_and_then_cancelled_order_reaches_its_customers_mailbox_once_each,
        the_same_idempotency_key_replays_the_first_order_and_places_no_second,
        a_graphql_order_placed_again_with_its_key_is_replayed_and_its_key_refused_on_rest,
        the_document_describes_the_mailbox,
        the_document_describes_the_idempotency_key_on_placing_and_paying,
    ]
}

pub const MAILBOX: &str = "/api/v2/mailbox";

/// How long an event may take from the change to the mailbox: the relay and the consumers
/// poll, and a contract run may share the server with a busy suite.
const DELIVERY: Duration = Duration::from_secs(15);

/// The subjects of `api`'s messages, newest first, once there are at least `count`.
async fn subjects(api: &Api, count: usize) -> Result<Vec<String>> {
    let deadline = Instant::now() + DELIVERY;
    loop {
        let page = api.get(MAILBOX).await?.expect_value(200)?;
        let subjects: Vec<String> = page["items"]
            .as_array()
            .context("the page's items")?
            .iter()
            .filter_map(|m| m["subject"].as_str().map(str::to_owned))
            .collect();
        if subjects.len() >= count || Instant::now() > deadline {
            return Ok(subjects);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn a_paid_and_then_cancelled_order_reaches_its_customers_mailbox_once_each(
    t: Target,
) -> Result<()> {
    let (admin, ann) = fixtures::admin_and_customer(&t).await?;
    let bob = fixtures::customer(&t).await?;
    let (_, order) = fixtures::paid_order(&admin, &ann).await?;
    let confirmed = subjects(&ann.api, 1).await?;
    check::eq(
        "the mailbox after paying",
        confirmed.clone(),
        vec![format!("Order {} confirmed", order.id)],
    )?;

    admin.cancel_order(&order.id).await?.expect_status(200)?;
    let both = subjects(&ann.api, 2).await?;
    check::eq(
        "the mailbox after cancelling, newest first",
        both,
        vec![
            format!("Order {} cancelled", order.id),
            format!("Order {} confirmed", order.id),
        ],
    )?;
    // Once each: a little later there is still exactly one of each.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let page = ann.api.get(MAILBOX).await?.expect_value(200)?;
    check::eq("messages, once each", &page["total"], &json!(2))?;
    check::eq(
        "another customer's mailbox",
        subjects(&bob.api, 0).await?,
        Vec::<String>::new(),
    )
}

async fn the_same_idempotency_key_replays_the_first_order_and_places_no_second(
    t: Target,
) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let product = fixtures::product(&admin, 700, 10).await?;
    let key = format!("\"ct-{}\"", fixtures::unique_suffix());
    let body = json!({ "items": [{ "product_id": product.id, "quantity": 2 }] });
    let mut answers: Vec<Value> = Vec::new();
    for attempt in ["first", "again"] {
        let reply = customer
            .api
            .post_with_headers(
                "/api/v1/orders",
                &[("Idempotency-Key", key.as_bytes())],
                &body,
            )
            .await?;
        let replayed = reply.header("idempotent-replayed").map(str::to_owned);
        let order = reply.expect_value(201).context(attempt)?;
        check::eq(
            &format!("{attempt}: Idempotent-Replayed"),
            replayed.as_deref(),
            (attempt == "again").then_some("true"),
        )?;
        answers.push(order);
    }
    check::eq(
        "the replayed order's id",
        &answers[1]["id"],
        &answers[0]["id"],
    )?;
    check::eq(
        "the stock, taken once",
        fixtures::stock_of(&admin, &product.id).await?,
        8,
    )?;
    let other = json!({ "items": [{ "product_id": product.id, "quantity": 3 }] });
    customer
        .api
        .post_with_headers(
            "/api/v1/orders",
            &[("Idempotency-Key", key.as_bytes())],
            &other,
        )
        .await?
        .expect_error(422, "IDEMPOTENCY_KEY_REUSED")
        .context("the key with another body")?;
    check::eq(
        "the stock after the refused reuse",
        fixtures::stock_of(&admin, &product.id).await?,
        8,
    )
}

async fn the_document_describes_the_mailbox(t: Target) -> Result<()> {
    let document = Api::new(&t.base_url)
        .get("/api-docs/openapi.json")
        .await?
        .expect_value(200)?;
    check::that(document["paths"][MAILBOX]["get"].is_object(), || {
        format!("GET {MAILBOX} in the OpenAPI document")
    })
}

async fn a_graphql_order_placed_again_with_its_key_is_replayed_and_its_key_refused_on_rest(
    t: Target,
) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let product = fixtures::product(&admin, 700, 10).await?;
    let key = format!("ct-{}", fixtures::unique_suffix());
    let body = json!({
        "query": "mutation Place($items: [OrderItemInput!]!, $key: String) { \
                  placeOrder(items: $items, idempotencyKey: $key) { id status } }",
        "variables": {
            "items": [{ "productId": product.id, "quantity": 2 }],
            "key": key,
        },
    });
    let mut orders: Vec<Value> = Vec::new();
    for attempt in ["first", "again"] {
        let reply = customer.api.post("/graphql", &body).await?;
        let replayed = reply.header("idempotent-replayed").map(str::to_owned);
        let answer = reply.expect_value(200).context(attempt)?;
        check::that(answer["data"]["placeOrder"]["id"].is_string(), || {
            format!("{attempt}: expected an order, got {answer}")
        })?;
        let again = attempt == "again";
        check::eq(
            &format!("{attempt}: Idempotent-Replayed"),
            replayed.as_deref(),
            again.then_some("true"),
        )?;
        check::eq(
            &format!("{attempt}: extensions.idempotentReplayed"),
            &answer["extensions"]["idempotentReplayed"],
            &if again {
                json!(["placeOrder"])
            } else {
                Value::Null
            },
        )?;
        orders.push(answer["data"]["placeOrder"].clone());
    }
    check::eq("the replayed order", &orders[1], &orders[0])?;
    customer
        .api
        .post_with_headers(
            "/api/v1/orders",
            &[("Idempotency-Key", key.as_bytes())],
            &json!({ "items": [{ "product_id": product.id, "quantity": 2 }] }),
        )
        .await?
        .expect_error(422, "IDEMPOTENCY_KEY_REUSED")
        .context("the GraphQL key on REST")?;
    check::eq(
        "the stock, taken once",
        fixtures::stock_of(&admin, &product.id).await?,
        8,
    )
}

async fn the_document_describes_the_idempotency_key_on_placing_and_paying(t: Target) -> Result<()> {
    let document = Api::new(&t.base_url)
        .get("/api-docs/openapi.json")
        .await?
        .expect_value(200)?;
    for path in ["/api/v1/orders", "/api/v1/orders/{id}/pay"] {
        let operation = &document["paths"][path]["post"];
        let parameter = operation["parameters"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == "Idempotency-Key"));
        check::that(
            parameter.is_some_and(|p| p["in"] == "header" && p["required"] == false),
            || format!("POST {path}: an optional Idempotency-Key header parameter"),
        )?;
        for (status, code) in [
            ("409", "IDEMPOTENCY_KEY_IN_USE"),
            ("422", "IDEMPOTENCY_KEY_REUSED"),
        ] {
            let said = operation["responses"][status]["description"]
                .as_str()
                .unwrap_or_default();
            check::that(said.contains(code), || {
                format!("POST {path}: the {status} names {code}, says {said:?}")
            })?;
        }
    }
    Ok(())
}
