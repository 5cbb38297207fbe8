//! Hostile `idempotencyKey` arguments on GraphQL's `placeOrder` and `payOrder`, which take the
//! keys REST's header takes. A key that is not one (NUL, CR, LF and other control characters,
//! another alphabet, empty, 10,000 characters, in a variable or a literal's escapes) is one
//! error, `INVALID_PARAMETER` (`extensions.status` 400) naming `idempotencyKey`, and nothing
//! runs; a key that is not a string is refused by validation. A key used on REST, or with
//! other arguments, or on the other mutation, is `IDEMPOTENCY_KEY_REUSED` and the mutation
//! does not run; two aliases with one key in one request place one order, the second marked
//! as a replay. Another customer's key is a key of their own.

use anyhow::{Context, Result};
use serde_json::{Value, json};

use super::keys::{Fixture, HEADER, new_key};
use crate::client::{Api, Reply};
use crate::fixtures;
use crate::{Case, Target, check};

pub(super) fn cases() -> Vec<Case> {
    crate::cases![
        hostile_graphql_keys_are_400_naming_the_argument_and_place_nothing,
        a_key_that_is_not_a_string_is_refused_before_anything_runs,
        a_key_used_on_rest_with_other_arguments_or_on_paying_is_reused_and_runs_nothing,
        two_aliases_with_one_key_in_one_request_place_one_order,
        another_customers_graphql_key_replays_nothing_of_the_first_customer,
    ]
}

const ARGUMENT: &str = "idempotencyKey";

const PLACE: &str = "mutation Place($items: [OrderItemInput!]!, $key: String) { \
    placeOrder(items: $items, idempotencyKey: $key) { id userId } }";

/// `placeOrder` of `quantity` units of the fixture's product with `key`, as `api`.
async fn place(api: &Api, fixture: &Fixture, quantity: i64, key: &str) -> Result<Reply> {
    let items = json!([{ "productId": fixture.product.id, "quantity": quantity }]);
    let body = json!({ "query": PLACE, "variables": { "items": items, "key": key } });
    api.post("/graphql", &body).await
}

/// The answer's single error, which must be `code` with `status`, beside no data; its
/// extensions.
fn refused(reply: Reply, status: u16, code: &str, what: &str) -> Result<Value> {
    let text = reply.describe();
    let answer = reply.expect_value(200).with_context(|| what.to_owned())?;
    let errors = answer["errors"].as_array().cloned().unwrap_or_default();
    let extensions = errors
        .first()
        .map(|e| e["extensions"].clone())
        .unwrap_or_default();
    check::that(
        errors.len() == 1
            && extensions["code"] == code
            && extensions["status"] == status
            && answer["data"].is_null(),
        || format!("{what}: expected one {code} ({status}) error and no data, got {text}"),
    )?;
    Ok(extensions)
}

/// [`refused`], naming the argument.
fn refused_naming_it(reply: Reply, status: u16, code: &str, what: &str) -> Result<()> {
    let extensions = refused(reply, status, code, what)?;
    check::eq(
        &format!("{what}: the field named"),
        &extensions["fields"][0]["field"],
        &json!(ARGUMENT),
    )
}

/// The order a `placeOrder` answered, under the response key `field`.
fn placed(reply: Reply, field: &str, what: &str) -> Result<Value> {
    let answer = reply.expect_value(200).with_context(|| what.to_owned())?;
    let order = answer["data"][field].clone();
    check::that(order["id"].is_string(), || {
        format!("{what}: expected an order, got {answer}")
    })?;
    Ok(order)
}

async fn hostile_graphql_keys_are_400_naming_the_argument_and_place_nothing(
    t: Target,
) -> Result<()> {
    let fixture = Fixture::new(&t).await?;
    let api = &fixture.customer.api;
    let keys: [(&str, String); 13] = [
        ("a NUL", "a\0b".to_owned()),
        ("a SOH", "a\u{1}b".to_owned()),
        ("an ESC", "a\u{1b}b".to_owned()),
        ("a DEL", "a\u{7f}b".to_owned()),
        ("a CR", "a\rb".to_owned()),
        ("a LF", "a\nb".to_owned()),
        (
            "a header smuggled by CR LF",
            "a\r\nIdempotency-Key: b".to_owned(),
        ),
        ("a tab", "a\tb".to_owned()),
        ("a NEL (U+0085)", "a\u{85}b".to_owned()),
        ("UTF-8", "clé".to_owned()),
        ("an empty key", String::new()),
        ("256 characters", "k".repeat(256)),
        ("10,000 characters", "k".repeat(10_000)),
    ];
    for (what, key) in keys {
        let what = format!("a key with {what}");
        refused_naming_it(
            place(api, &fixture, 1, &key).await?,
            400,
            "INVALID_PARAMETER",
            &what,
        )?;
    }
    // GraphQL's own escapes in a literal reach the same check.
    let literal = format!(
        "mutation {{ placeOrder(items: [{{ productId: \"{}\", quantity: 1 }}], \
         idempotencyKey: \"a\\u0000b\") {{ id }} }}",
        fixture.product.id
    );
    refused_naming_it(
        api.post("/graphql", &json!({ "query": literal })).await?,
        400,
        "INVALID_PARAMETER",
        "a literal key with \\u0000",
    )?;
    fixture.holds(0, 5, "after hostile keys").await
}

async fn a_key_that_is_not_a_string_is_refused_before_anything_runs(t: Target) -> Result<()> {
    let fixture = Fixture::new(&t).await?;
    let api = &fixture.customer.api;
    let items = json!([{ "productId": fixture.product.id, "quantity": 1 }]);
    for (what, key) in [
        ("a number", json!(5)),
        ("a list of keys", json!(["a", "b"])),
        ("an object", json!({ "key": "a" })),
    ] {
        let body = json!({ "query": PLACE, "variables": { "items": items, "key": key } });
        let answer = api.post("/graphql", &body).await?.expect_value(200)?;
        let code = answer["errors"][0]["extensions"]["code"].clone();
        check::that(
            code == "GRAPHQL_VALIDATION_FAILED" && answer["data"].is_null(),
            || format!("{what} as the key: expected a validation error, got {answer}"),
        )?;
    }
    fixture.holds(0, 5, "after keys that are not strings").await
}

async fn a_key_used_on_rest_with_other_arguments_or_on_paying_is_reused_and_runs_nothing(
    t: Target,
) -> Result<()> {
    let fixture = Fixture::new(&t).await?;
    let api = &fixture.customer.api;
    let rest_key = new_key();
    fixture
        .placed(&rest_key, 1, "placing an order on REST with a key")
        .await?;
    refused_naming_it(
        place(api, &fixture, 1, rest_key.trim_matches('"')).await?,
        422,
        "IDEMPOTENCY_KEY_REUSED",
        "the REST key on GraphQL",
    )?;

    let key = fixtures::unique_suffix();
    let order = placed(
        place(api, &fixture, 1, &key).await?,
        "placeOrder",
        "placing an order on GraphQL with a key",
    )?;
    refused_naming_it(
        place(api, &fixture, 2, &key).await?,
        422,
        "IDEMPOTENCY_KEY_REUSED",
        "the key with another quantity",
    )?;
    let pay = json!({
        "query": "mutation Pay($order: ID!, $key: String) { \
                  payOrder(orderId: $order, cardToken: \"tok_success\", idempotencyKey: $key) \
                  { id } }",
        "variables": { "order": order["id"], "key": key },
    });
    refused_naming_it(
        api.post("/graphql", &pay).await?,
        422,
        "IDEMPOTENCY_KEY_REUSED",
        "paying with the key the order was placed with",
    )?;
    api.post_with_headers(
        "/api/v1/orders",
        &[(HEADER, key.as_bytes())],
        &fixture.order_body(1),
    )
    .await?
    .expect_error(422, "IDEMPOTENCY_KEY_REUSED")
    .context("the GraphQL key on REST")?;
    let id = order["id"].as_str().context("an order id")?;
    let now = fixtures::get_order(api, id).await?;
    check::eq("the order after the refused payment", now.status, "pending")?;
    fixture.holds(2, 3, "after one key on two APIs").await
}

async fn two_aliases_with_one_key_in_one_request_place_one_order(t: Target) -> Result<()> {
    let fixture = Fixture::new(&t).await?;
    let api = &fixture.customer.api;
    let product = &fixture.product.id;
    let key = fixtures::unique_suffix();
    let query = format!(
        "mutation {{ \
         a: placeOrder(items: [{{ productId: \"{product}\", quantity: 1 }}], \
            idempotencyKey: \"{key}\") {{ id }} \
         b: placeOrder(items: [{{ productId: \"{product}\", quantity: 1 }}], \
            idempotencyKey: \"{key}\") {{ id }} \
         c: placeOrder(items: [{{ productId: \"{product}\", quantity: 2 }}], \
            idempotencyKey: \"{key}\") {{ id }} }}"
    );
    let reply = api.post("/graphql", &json!({ "query": query })).await?;
    let header = reply.header("idempotent-replayed").map(str::to_owned);
    let answer = reply.expect_value(200)?;
    let (a, b) = (&answer["data"]["a"]["id"], &answer["data"]["b"]["id"]);
    check::that(a.is_string() && a == b, || {
        format!("two aliases with one key: expected one order twice, got {answer}")
    })?;
    check::eq(
        "the replays listed",
        &answer["extensions"]["idempotentReplayed"],
        &json!(["b"]),
    )?;
    check::eq("Idempotent-Replayed", header.as_deref(), Some("true"))?;
    let error = &answer["errors"][0];
    check::that(
        answer["data"]["c"].is_null()
            && error["path"] == json!(["c"])
            && error["extensions"]["code"] == "IDEMPOTENCY_KEY_REUSED",
        || format!("the key with another quantity in the same request: got {answer}"),
    )?;
    fixture.holds(1, 4, "after two aliases with one key").await
}

async fn another_customers_graphql_key_replays_nothing_of_the_first_customer(
    t: Target,
) -> Result<()> {
    let ann = Fixture::new(&t).await?;
    let bob = fixtures::customer(&t).await?;
    let key = fixtures::unique_suffix();
    let anns = placed(
        place(&ann.customer.api, &ann, 1, &key).await?,
        "placeOrder",
        "Ann places an order with a key",
    )?;
    let reply = place(&bob.api, &ann, 1, &key).await?;
    let text = reply.describe();
    let bobs = placed(reply, "placeOrder", "Bob places an order with Ann's key")?;
    check::that(
        bobs["id"] != anns["id"] && bobs["userId"] == bob.user.id,
        || format!("Bob with Ann's key: expected an order of Bob's own, got {text}"),
    )?;
    check::that(!text.contains(&ann.customer.user.id), || {
        format!("Bob with Ann's key: nothing of Ann in the answer, got {text}")
    })?;
    ann.holds(1, 3, "Ann, after Bob used her key").await
}
