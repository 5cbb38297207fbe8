//! `/graphql` against a client that tries to do in one request what REST allows only across
//! many, or to reach what REST would not show it: aliased mutations past the orders policy,
//! batches, queries past the depth and complexity limits (fragments that double included),
//! bodies that are not GraphQL requests, NUL and control characters in every string input,
//! another customer's order, and a schema probed for what a customer must not reach.
//!
//! The documented answers (docs/02-apis.md, GraphQL): a GraphQL-level refusal is 200 with
//! `errors[].extensions.code` and no `data`; a body that is not a GraphQL request is an HTTP
//! 4xx with a body in GraphQL's error shape. In both cases nothing runs.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use reqwest::Method;
use serde_json::{Value, json};

use crate::client::{Api, Reply};
use crate::fixtures::{self, Customer};
use crate::{Case, Target, check};

pub(super) fn cases() -> Vec<Case> {
    crate::cases![
        a_hundred_aliased_orders_in_one_request_reserve_nothing_and_answer_too_many_mutations,
        aliased_orders_count_one_by_one_against_the_rest_orders_policy_of_their_user,
        a_batch_of_many_orders_is_refused_whole_and_reserves_nothing,
        a_query_nested_past_the_depth_limit_is_refused_before_it_runs,
        a_query_costlier_than_the_complexity_limit_is_refused_before_it_runs,
        fragments_that_double_at_every_level_are_refused_at_once,
        an_empty_batch_and_other_bodies_that_are_not_graphql_requests_are_400,
        nul_and_control_characters_in_every_graphql_string_input_are_refused_naming_it,
        a_review_comment_with_control_characters_gets_the_answer_rest_gives,
        another_customers_order_through_graphql_is_exactly_as_not_found_as_an_unknown_one,
        the_schema_holds_nothing_a_customer_must_not_reach,
    ]
}

/// The characters every string input is tried with, each inside otherwise valid text.
const CONTROLS: [char; 6] = ['\u{0}', '\u{1}', '\u{1b}', '\u{7f}', '\u{85}', '\u{9f}'];

/// POSTs `body` (any JSON) to `/graphql`.
async fn post(api: &Api, body: &Value) -> Result<Reply> {
    api.post("/graphql", body).await
}

/// An operation's answer, which must be a 200 in GraphQL's response shape.
async fn graphql(api: &Api, query: &str, variables: Value) -> Result<Value> {
    api.graphql(query, variables).await
}

/// POSTs raw bytes as JSON, for bodies a JSON value cannot be made into.
async fn post_raw(api: &Api, body: &str) -> Result<Reply> {
    let request = api
        .request(Method::POST, "/graphql")
        .header("content-type", "application/json")
        .body(body.to_owned());
    api.send(request).await
}

/// The codes of an answer's errors, in order.
fn codes(answer: &Value) -> Vec<&str> {
    answer["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["extensions"]["code"].as_str().unwrap_or("(no code)"))
                .collect()
        })
        .unwrap_or_default()
}

/// The answer is a GraphQL-level refusal: exactly one error, with `code`, and no data.
fn refused(what: &str, answer: &Value, code: &str) -> Result<()> {
    check::that(codes(answer) == [code] && answer["data"].is_null(), || {
        format!("{what}: expected one {code} error and no data, got {answer}")
    })
}

/// The fields the first error names (`extensions.fields[].field`).
fn named_fields(answer: &Value) -> Vec<&str> {
    answer["errors"][0]["extensions"]["fields"]
        .as_array()
        .map(|fields| fields.iter().filter_map(|f| f["field"].as_str()).collect())
        .unwrap_or_default()
}

/// `n` aliased `placeOrder`s of `$items`: the items in a variable, as the attack sent them, so
/// that a hundred fit in the query size limit.
fn aliased_orders(n: usize) -> String {
    let aliases: String = (0..n)
        .map(|i| format!("o{i}: placeOrder(items: $items) {{ id }} "))
        .collect();
    format!("mutation($items: [OrderItemInput!]!) {{ {aliases}}}")
}

fn one_unit_of(product: &str) -> Value {
    json!({ "items": [{ "productId": product, "quantity": 1 }] })
}

/// The orders an answer placed: its members that hold an order id.
fn placed(answer: &Value) -> i64 {
    let count = answer["data"]
        .as_object()
        .map(|data| data.values().filter(|v| v["id"].is_string()).count())
        .unwrap_or(0);
    i64::try_from(count).unwrap_or(i64::MAX)
}

async fn a_hundred_aliased_orders_in_one_request_reserve_nothing_and_answer_too_many_mutations(
    t: Target,
) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let product = fixtures::product(&admin, 500, 25).await?;

    let answer = graphql(
        &customer.api,
        &aliased_orders(100),
        one_unit_of(&product.id),
    )
    .await?;

    refused("100 aliased placeOrder", &answer, "TOO_MANY_MUTATIONS")?;
    let limit = answer["errors"][0]["extensions"]["limit"].as_u64();
    check::that(limit.is_some_and(|l| (1..100).contains(&l)), || {
        format!("the refusal names the cap, below 100, in extensions.limit: {answer}")
    })?;
    check::eq(
        "stock after 100 aliased orders were refused",
        fixtures::stock_of(&admin, &product.id).await?,
        25,
    )?;
    let orders = customer.api.list_orders("").await?.expect_value(200)?;
    check::eq("the customer's orders", &orders["total"], &Value::from(0))?;
    Ok(())
}

/// The orders policy as a REST order's answer states it: (limit, remaining, window seconds).
fn orders_policy(reply: &Reply) -> Result<(i64, i64, i64)> {
    let number = |name: &str| -> Result<i64> {
        reply
            .header(name)
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("a numeric {name} header on {}", reply.describe()))
    };
    let policy = reply
        .header("ratelimit-policy")
        .with_context(|| format!("a RateLimit-Policy header on {}", reply.describe()))?;
    let window = policy
        .split_once(";w=")
        .and_then(|(_, w)| w.parse().ok())
        .with_context(|| format!("RateLimit-Policy {policy:?} as `<n>;w=<seconds>`"))?;
    Ok((
        number("ratelimit-limit")?,
        number("ratelimit-remaining")?,
        window,
    ))
}

async fn aliased_orders_count_one_by_one_against_the_rest_orders_policy_of_their_user(
    t: Target,
) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let product = fixtures::product(&admin, 100, 2000).await?;
    let started = Instant::now();
    // One order through REST: its answer says what is left of the orders policy.
    let rest = customer
        .api
        .place_order(&fixtures::order_body(&[(&product.id, 1)]))
        .await?
        .expect_status(201)?;
    let (limit, remaining, window) = orders_policy(&rest)?;
    check::that(remaining <= 300, || {
        format!(
            "this case spends the orders policy to its end; a policy of {limit} per {window} s \
             is more than it will spend (RateLimit-Remaining {remaining})"
        )
    })?;
    // The cap, from a refusal.
    let over = graphql(
        &customer.api,
        &aliased_orders(100),
        one_unit_of(&product.id),
    )
    .await?;
    refused("100 aliased placeOrder", &over, "TOO_MANY_MUTATIONS")?;
    let cap = over["errors"][0]["extensions"]["limit"]
        .as_u64()
        .and_then(|l| usize::try_from(l).ok())
        .filter(|l| *l >= 1)
        .with_context(|| format!("the cap in extensions.limit: {over}"))?;

    let mut through_graphql = 0;
    let mut rate_limited = None;
    // Until refused, or past what the policy can allow: what was left, what it refilled
    // while the case ran (a slow server refills more), and one request more.
    let allowed = |through: i64| {
        let refilled = started.elapsed().as_secs_f64() * limit as f64 / window as f64;
        through as f64 <= remaining as f64 + refilled.ceil() + 1.0 + cap as f64
    };
    while allowed(through_graphql) {
        let answer = graphql(
            &customer.api,
            &aliased_orders(cap),
            one_unit_of(&product.id),
        )
        .await?;
        let now = placed(&answer);
        through_graphql += now;
        if let Some(error) = answer["errors"].as_array().and_then(|errors| {
            errors
                .iter()
                .find(|e| e["extensions"]["code"] == "RATE_LIMITED")
        }) {
            rate_limited = Some(error.clone());
            break;
        }
        check::that(answer.get("errors").is_none(), || {
            format!("orders within the policy: expected no errors, got {answer}")
        })?;
        check::that(usize::try_from(now).is_ok_and(|n| n == cap), || {
            format!("a request within the policy places all {cap} orders, got {answer}")
        })?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let error = rate_limited.with_context(|| {
        format!(
            "expected a RATE_LIMITED error once the orders policy ({limit} per {window} s, \
             {remaining} left) was spent; {through_graphql} orders were placed through GraphQL"
        )
    })?;
    check::eq(
        "the refusal's status",
        &error["extensions"]["status"],
        &Value::from(429),
    )?;
    check::that(
        error["extensions"]["retryAfter"]
            .as_u64()
            .is_some_and(|s| s >= 1),
        || format!("a RATE_LIMITED error says when to retry (extensions.retryAfter): {error}"),
    )?;
    // A quota of `limit` per `window` comes back one order at a time while the case runs.
    let refilled = (elapsed * limit as f64 / window as f64).ceil() as i64 + 1;
    check::that(through_graphql <= remaining + refilled, || {
        format!(
            "the orders policy left {remaining} (+{refilled} refilled in {elapsed:.1} s), but \
             GraphQL placed {through_graphql}"
        )
    })?;
    check::eq(
        "stock: what REST and GraphQL placed, nothing more",
        fixtures::stock_of(&admin, &product.id).await?,
        2000 - 1 - through_graphql,
    )?;
    Ok(())
}

async fn a_batch_of_many_orders_is_refused_whole_and_reserves_nothing(t: Target) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let product = fixtures::product(&admin, 300, 25).await?;
    let one = json!({ "query": aliased_orders(1), "variables": one_unit_of(&product.id) });
    // More than any mutation cap may be (50), so refused however batches are configured.
    let batch = Value::Array(vec![one; 60]);

    let reply = post(&customer.api, &batch).await?;

    // Batches are off by default (400 BATCH_NOT_ALLOWED); where they are on, 60 operations
    // are past the batch size or the mutation cap. Either way, nothing runs.
    let status = reply.status.as_u16();
    let body = reply.json()?;
    let code = body["errors"][0]["extensions"]["code"].as_str();
    let documented = match status {
        400 => matches!(code, Some("BATCH_NOT_ALLOWED" | "BATCH_TOO_LARGE")),
        200 => body
            .as_array()
            .is_some_and(|answers| answers.iter().all(|a| codes(a) == ["TOO_MANY_MUTATIONS"])),
        _ => false,
    };
    check::that(documented, || {
        format!(
            "a batch of 60 orders: expected 400 BATCH_NOT_ALLOWED or BATCH_TOO_LARGE, or \
             TOO_MANY_MUTATIONS for each operation, got {}",
            reply.describe()
        )
    })?;
    check::eq(
        "stock after a refused batch",
        fixtures::stock_of(&admin, &product.id).await?,
        25,
    )?;
    Ok(())
}

async fn a_query_nested_past_the_depth_limit_is_refused_before_it_runs(t: Target) -> Result<()> {
    let api = Api::new(&t.base_url);
    // The shop's own types nest six deep at most; introspection's `ofType` nests as deep as
    // asked, and its depth counts whether or not introspection is served. 24 levels are past
    // `max_depth` (10), 44 past async-graphql's own bound (32): the same refusal.
    for levels in [20, 40] {
        let mut selection = String::from("name");
        for _ in 0..levels {
            selection = format!("ofType {{ {selection} }}");
        }
        let query =
            format!("{{ __type(name: \"Product\") {{ fields {{ type {{ {selection} }} }} }} }}");

        let answer = graphql(&api, &query, json!({})).await?;

        let what = format!("a query {} levels deep", levels + 4);
        refused(&what, &answer, "QUERY_TOO_DEEP")?;
    }
    Ok(())
}

async fn a_query_costlier_than_the_complexity_limit_is_refused_before_it_runs(
    t: Target,
) -> Result<()> {
    let api = Api::new(&t.base_url);
    // 30 aliases of 100 products with their 20 newest reviews each: 30 * 100 * 22.
    let aliases: String = (0..30)
        .map(|i| {
            let reviews = "reviews(first: 20) { rating }";
            format!("p{i}: products(first: 100) {{ edges {{ node {{ {reviews} }} }} }} ")
        })
        .collect();

    let answer = graphql(&api, &format!("{{ {aliases}}}"), json!({})).await?;

    refused("66,000 points of complexity", &answer, "QUERY_TOO_COMPLEX")?;
    // And a query within the limit is answered.
    let fine = graphql(
        &api,
        "{ products(first: 5) { edges { cursor } } }",
        json!({}),
    )
    .await?;
    check::that(fine.get("errors").is_none(), || {
        format!("a cheap query: expected no errors, got {fine}")
    })
}

/// A document whose fragments each spread the next one twice, `levels` deep: 2^levels fields
/// once every spread is expanded, in a few hundred bytes (1.3 KiB for 30).
pub fn doubling_fragments(levels: u32) -> String {
    let mut bomb = String::from("{ ...F0 }\n");
    for i in 0..levels {
        let next = i + 1;
        bomb.push_str(&format!(
            "fragment F{i} on Query {{ ...F{next} ...F{next} }}\n"
        ));
    }
    bomb.push_str(&format!("fragment F{levels} on Query {{ __typename }}"));
    bomb
}

async fn fragments_that_double_at_every_level_are_refused_at_once(t: Target) -> Result<()> {
    let bomb = doubling_fragments(30);
    let started = Instant::now();

    let answer = graphql(&Api::new(&t.base_url), &bomb, json!({})).await?;

    refused("fragments doubling 30 times", &answer, "QUERY_TOO_COMPLEX")?;
    let took = started.elapsed();
    check::that(took < Duration::from_secs(5), || {
        format!("refused, but only after {took:?}: the server expanded the fragments")
    })
}

async fn an_empty_batch_and_other_bodies_that_are_not_graphql_requests_are_400(
    t: Target,
) -> Result<()> {
    let api = Api::new(&t.base_url);
    for body in [
        "[]",
        "{}",
        "null",
        "\"{ products { edges { cursor } } }\"",
        "[\"{ products(first: 1) { edges { cursor } } }\"]",
        "{\"query\": 7}",
        "{\"query\": \"{ products(first: 1) { edges { cursor } } }\", \"variables\": [1]}",
    ] {
        let reply = post_raw(&api, body).await?;
        let answer = reply.json()?;
        check::that(
            reply.status.as_u16() == 400
                && answer["errors"][0]["extensions"]["code"] == "MALFORMED_JSON"
                && answer["errors"][0]["message"].is_string(),
            || {
                format!(
                    "the body {body}: expected 400 MALFORMED_JSON in GraphQL's error shape, got {}",
                    reply.describe()
                )
            },
        )?;
    }
    Ok(())
}

/// The character as a GraphQL string escape, for the inline form of an argument.
fn escaped(c: char) -> String {
    format!("\\u{:04x}", u32::from(c))
}

async fn nul_and_control_characters_in_every_graphql_string_input_are_refused_naming_it(
    t: Target,
) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let (product, order) = fixtures::pending_order(&admin, &customer).await?;
    let listing = "query($filter: ProductFilterInput, $after: String) {
        products(first: 1, filter: $filter, after: $after) { edges { cursor } } }";
    for c in CONTROLS {
        let text = format!("mug{c}cup");
        let id = format!("{}{c}", product.id);
        let order_id = format!("{}{c}", order.id);
        // (what, query, variables, signed in, code, field)
        let inputs: Vec<(&str, &str, Value, bool, &str, &str)> = vec![
            (
                "filter.text",
                listing,
                json!({ "filter": { "text": text } }),
                false,
                "VALIDATION_FAILED",
                "filter.text",
            ),
            (
                "filter.category",
                listing,
                json!({ "filter": { "category": text } }),
                false,
                "VALIDATION_FAILED",
                "filter.category",
            ),
            (
                "filter.tags",
                listing,
                json!({ "filter": { "tags": ["mug", text] } }),
                false,
                "VALIDATION_FAILED",
                "filter.tags",
            ),
            (
                "after",
                listing,
                json!({ "after": text }),
                false,
                "VALIDATION_FAILED",
                "after",
            ),
            (
                "product(id)",
                "query($id: ID!) { product(id: $id) { id } }",
                json!({ "id": id }),
                false,
                "INVALID_PARAMETER",
                "id",
            ),
            (
                "order(id)",
                "query($id: ID!) { order(id: $id) { id } }",
                json!({ "id": order_id }),
                true,
                "INVALID_PARAMETER",
                "id",
            ),
            (
                "placeOrder(items.productId)",
                "mutation($items: [OrderItemInput!]!) { placeOrder(items: $items) { id } }",
                json!({ "items": [{ "productId": id, "quantity": 1 }] }),
                true,
                "VALIDATION_FAILED",
                "items[0].productId",
            ),
            (
                "payOrder(orderId)",
                "mutation($id: ID!) { payOrder(orderId: $id, cardToken: \"tok_success\") { id } }",
                json!({ "id": order_id }),
                true,
                "INVALID_PARAMETER",
                "orderId",
            ),
            (
                "payOrder(cardToken)",
                "mutation($id: ID!, $card: String!) { payOrder(orderId: $id, cardToken: $card) { id } }",
                json!({ "id": order.id, "card": format!("tok_success{c}") }),
                true,
                "VALIDATION_FAILED",
                "cardToken",
            ),
            (
                "addReview(productId)",
                "mutation($id: ID!) { addReview(productId: $id, rating: 5) { id } }",
                json!({ "id": id }),
                true,
                "INVALID_PARAMETER",
                "productId",
            ),
        ];
        for (what, query, variables, signed_in, code, field) in inputs {
            let api = if signed_in {
                customer.api.clone()
            } else {
                customer.api.anonymous()
            };
            let answer = graphql(&api, query, variables).await?;
            let what = format!("{what} with U+{:04X}", u32::from(c));
            refused(&what, &answer, code)?;
            check::eq(
                &format!("{what}: the field named"),
                named_fields(&answer),
                vec![field],
            )?;
        }
        // Inline rather than in a variable: the GraphQL escape is the same character.
        let inline = format!(
            "{{ products(filter: {{text: \"mug{}cup\"}}) {{ edges {{ cursor }} }} }}",
            escaped(c)
        );
        let answer = graphql(&customer.api, &inline, json!({})).await?;
        refused(
            &format!("inline filter.text with {}", escaped(c)),
            &answer,
            "VALIDATION_FAILED",
        )?;
    }
    // Nothing of it happened: the order is still pending, the product has its review count.
    let after = fixtures::get_order(&customer.api, &order.id).await?;
    check::eq(
        "the order after every attempt",
        after.status.as_str(),
        "pending",
    )?;
    let product = fixtures::get_product(&customer.api, &product.id).await?;
    check::eq("reviews after every attempt", product.rating_count, 0)?;
    Ok(())
}

async fn a_review_comment_with_control_characters_gets_the_answer_rest_gives(
    t: Target,
) -> Result<()> {
    let admin = fixtures::admin(&t).await?;
    let mutation = "mutation($id: ID!, $comment: String!) {
        addReview(productId: $id, rating: 4, comment: $comment) { comment } }";
    for c in CONTROLS {
        // A fresh pair each time: a product is reviewed once per customer.
        let (rest_customer, graphql_customer) =
            futures::try_join!(fixtures::customer(&t), fixtures::customer(&t))?;
        let (first, second) = futures::try_join!(
            fixtures::product(&admin, 100, 1),
            fixtures::product(&admin, 100, 1)
        )?;
        let comment = format!("good{c}mug");
        let what = format!("a comment with U+{:04X}", u32::from(c));

        let rest = rest_customer
            .api
            .post_review(&first.id, 4, &comment)
            .await?;
        let answer = graphql(
            &graphql_customer.api,
            mutation,
            json!({ "id": second.id, "comment": comment }),
        )
        .await?;

        same_answer(&what, &rest, &answer, &rest_customer, &first.id, &comment).await?;
    }
    Ok(())
}

/// REST's answer and GraphQL's agree: both stored the comment as sent, or both refused it
/// with the same code. Neither is a server error.
async fn same_answer(
    what: &str,
    rest: &Reply,
    answer: &Value,
    rest_customer: &Customer,
    product: &str,
    comment: &str,
) -> Result<()> {
    let status = rest.status.as_u16();
    if status >= 500 {
        bail!("{what}: REST answered a server error: {}", rest.describe());
    }
    let graphql_status = answer["errors"][0]["extensions"]["status"].as_u64();
    check::that(graphql_status.is_none_or(|s| s < 500), || {
        format!("{what}: GraphQL answered a server error: {answer}")
    })?;
    if status == 201 {
        check::that(answer.get("errors").is_none(), || {
            format!("{what}: REST stored it (201), GraphQL refused it: {answer}")
        })?;
        check::eq(
            &format!("{what}: the comment GraphQL stored"),
            &answer["data"]["addReview"]["comment"],
            &Value::from(comment),
        )?;
        let reviews = rest_customer
            .api
            .list_reviews(product, "")
            .await?
            .expect_value(200)?;
        check::eq(
            &format!("{what}: the comment REST stored"),
            &reviews["items"][0]["comment"],
            &Value::from(comment),
        )?;
    } else {
        let rest_code = rest.error_shape()?.code;
        check::eq(
            &format!("{what}: GraphQL's code for what REST refused ({status})"),
            codes(answer),
            vec![rest_code.as_str()],
        )?;
    }
    Ok(())
}

async fn another_customers_order_through_graphql_is_exactly_as_not_found_as_an_unknown_one(
    t: Target,
) -> Result<()> {
    let admin = fixtures::admin(&t).await?;
    let (owner, other) = futures::try_join!(fixtures::customer(&t), fixtures::customer(&t))?;
    let (_, order) = fixtures::pending_order(&admin, &owner).await?;
    let read = "query($id: ID!) { order(id: $id) { id userId totalMinor items { sku } } }";
    let pay =
        "mutation($id: ID!) { payOrder(orderId: $id, cardToken: \"tok_success\") { id status } }";

    for (what, query) in [("order(id)", read), ("payOrder", pay)] {
        let theirs = graphql(&other.api, query, json!({ "id": order.id })).await?;
        let unknown = graphql(&other.api, query, json!({ "id": fixtures::UNKNOWN_ID })).await?;
        refused(
            &format!("{what} of another customer's order"),
            &theirs,
            "NOT_FOUND",
        )?;
        // Only the position and path may differ: the message, code and status are the same.
        let strip = |answer: &Value| {
            let error = &answer["errors"][0];
            json!({
                "message": error["message"],
                "extensions": error["extensions"],
                "data": answer["data"],
            })
        };
        check::eq(
            &format!("{what}: another customer's order and an unknown id"),
            strip(&theirs),
            strip(&unknown),
        )?;
    }
    let mine = graphql(&other.api, "{ myOrders { total items { id } } }", json!({})).await?;
    check::eq(
        "the other customer's orders",
        &mine["data"]["myOrders"]["total"],
        &Value::from(0),
    )?;
    let after = fixtures::get_order(&owner.api, &order.id).await?;
    check::eq(
        "the order after another customer tried to pay it",
        after.status.as_str(),
        "pending",
    )?;
    Ok(())
}

async fn the_schema_holds_nothing_a_customer_must_not_reach(t: Target) -> Result<()> {
    let customer = fixtures::customer(&t).await?;
    // Fields an attacker guesses at: other users, secrets, the admin's operations.
    for guess in [
        "{ users { email } }",
        "{ me { passwordHash } }",
        "{ me { password } }",
        "{ orders { id } }",
        "mutation { createProduct(sku: \"X\") { id } }",
        "mutation { deleteProduct(id: \"0000000000000000000000ff\") }",
        "mutation { shipOrder(orderId: \"0000000000000000000000ff\") { id } }",
        "mutation { updateUserRole(role: \"admin\") { id } }",
    ] {
        let answer = graphql(&customer.api, guess, json!({})).await?;
        refused(guess, &answer, "GRAPHQL_VALIDATION_FAILED")?;
    }
    // Introspection is answered in development only; where it is, it shows no secret.
    let answer = graphql(
        &customer.api,
        "{ __schema { types { name fields { name } } mutationType { fields { name } } } }",
        json!({}),
    )
    .await?;
    let schema = &answer["data"]["__schema"];
    if schema.is_null() {
        return Ok(());
    }
    let text = schema.to_string().to_ascii_lowercase();
    for secret in ["password", "hash", "secret", "role\":\"admin"] {
        check::that(!text.contains(secret), || {
            format!("introspection shows `{secret}`: {schema}")
        })?;
    }
    let mutations: Vec<&str> = schema["mutationType"]["fields"]
        .as_array()
        .map(|fields| fields.iter().filter_map(|f| f["name"].as_str()).collect())
        .unwrap_or_default();
    check::eq(
        "the mutations a customer can see",
        mutations,
        vec!["addReview", "placeOrder", "payOrder"],
    )
}
