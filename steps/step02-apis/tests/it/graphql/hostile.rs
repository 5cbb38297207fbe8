//! What a hostile client tried at `/graphql`, and what it gets now: a NUL byte in a listing
//! filter that reached the database (a 500) where REST refused it, bodies that are not
//! GraphQL requests at all (`[]`, `{}`, an array of strings) that were run as documents,
//! aliased mutations that placed more orders in one request than REST allows in a minute, and
//! fragments that double at every level, which held a worker for as long as they liked.

use std::time::Duration;

use serde_json::{Value, json};
use step02_apis::rate_limit::QuotaConfig;
use testkit::app::{expect_error, expect_status};

use super::{code, counting, fields, gql, post_raw};
use crate::support::App;

const LISTING: &str = "query($filter: ProductFilterInput) {
    products(first: 1, filter: $filter) { edges { cursor } } }";

#[tokio::test]
async fn a_nul_or_control_character_in_a_listing_filter_is_refused_as_rest_refuses_it() {
    let app = App::spawn().await;
    for bad in [
        "mug\u{0}",
        "\u{0}",
        "m\u{1}ug",
        "mug\u{1b}[31m",
        "m\u{7f}",
        "a\u{85}b",
    ] {
        for (filter, field) in [
            (json!({ "text": bad }), "filter.text"),
            (json!({ "category": bad }), "filter.category"),
            (json!({ "tags": ["ok", bad] }), "filter.tags"),
        ] {
            let (status, body) = gql(&app, None, LISTING, json!({ "filter": filter })).await;
            assert_eq!(status, 200, "{filter}: {body}");
            assert_eq!(code(&body), "VALIDATION_FAILED", "{filter}: {body}");
            assert_eq!(fields(&body), [field], "{filter}: {body}");
        }
    }
    // Inline, as the attack sent it: the GraphQL escape is the same character.
    let inline = r#"{ products(filter: {text: "mug\u0000"}) { edges { cursor } } }"#;
    let (_, body) = gql(&app, None, inline, json!({})).await;
    assert_eq!(code(&body), "VALIDATION_FAILED", "{body}");
    assert_eq!(fields(&body), ["filter.text"]);

    // REST refuses the same characters in the same parameters, by the same rule.
    for parameter in ["q", "category", "tag"] {
        for bad in ["mug%00", "m%01ug", "m%7F", "a%C2%85b"] {
            let path = format!("/api/v1/products?{parameter}={bad}");
            let body = expect_error(app.get(&path, None).await, 400, "INVALID_PARAMETER").await;
            assert_eq!(
                body["error"]["fields"][0]["field"], parameter,
                "{path}: {body}"
            );
        }
    }
    // Trimmed first, as before: a trailing newline is white space, not a control character
    // inside the text.
    let (_, body) = gql(
        &app,
        None,
        LISTING,
        json!({ "filter": { "text": "mug\n" } }),
    )
    .await;
    assert!(body.get("errors").is_none(), "{body}");
}

#[tokio::test]
async fn a_body_that_is_not_a_graphql_request_is_400_whatever_the_batch_policy() {
    let one = json!({ "query": "{ products(first: 1) { edges { cursor } } }" });
    let strict = App::spawn().await;
    let (batching, _) = counting::spawn_counted_with(|c| c.apis.graphql.max_batch_size = 2).await;
    for app in [&strict, &batching] {
        for body in [
            "[]",
            "{}",
            "null",
            "7",
            "\"{ products { edges { cursor } } }\"",
            // An array of strings once ran as one operation, past the batch policy.
            "[\"{ products(first: 1) { edges { cursor } } }\"]",
            "[{\"query\": \"{ products(first: 1) { edges { cursor } } }\"}, 7]",
            "{\"query\": 7}",
            "{\"query\": \"{ products(first: 1) { edges { cursor } } }\", \"variables\": [1]}",
        ] {
            let (status, answer) = post_raw(app, None, body.to_owned()).await;
            assert_eq!(
                (status, code(&answer)),
                (400, "MALFORMED_JSON"),
                "{body}: {answer}"
            );
        }
    }
    // A GraphQL request whose document is wrong is a GraphQL-level failure: 200 with errors.
    let (status, answer) = post_raw(&strict, None, json!({ "query": "" }).to_string()).await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        answer["errors"].as_array().is_some_and(|e| !e.is_empty()),
        "{answer}"
    );
    // And the one-element batch that is a batch gets the batch policy.
    let (status, answer) = post_raw(&strict, None, json!([one]).to_string()).await;
    assert_eq!(
        (status, code(&answer)),
        (400, "BATCH_NOT_ALLOWED"),
        "{answer}"
    );
    let answer = expect_status(
        batching
            .http
            .post(batching.url("/graphql"))
            .json(&json!([one]))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(answer.as_array().map(Vec::len), Some(1), "{answer}");
}
fn quota(requests: u32, window_secs: u64) -> QuotaConfig {
    QuotaConfig {
        requests,
        window_secs,
    }
}

/// `n` aliased orders, `o0: placeOrder(items: $items) { id } o1: ...`, as the attack sent them:
/// the items in a variable, so that 100 orders fit in the query size limit.
fn aliased_orders(n: usize) -> String {
    format!("mutation($items: [OrderItemInput!]!) {{ {}}}", aliases(n))
}

fn aliases(n: usize) -> String {
    (0..n)
        .map(|i| format!("o{i}: placeOrder(items: $items) {{ id }} "))
        .collect()
}

/// The variables of [`aliased_orders`]: one unit of `product` per order.
fn one_of(product: &str) -> Value {
    json!({ "items": [{ "productId": product, "quantity": 1 }] })
}

/// The errors of an answer, by their codes.
fn codes(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["extensions"]["code"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The orders an answer placed: its `o0`.. members that hold an order.
fn placed(body: &Value) -> usize {
    body["data"]
        .as_object()
        .map(|data| data.values().filter(|v| v["id"].is_string()).count())
        .unwrap_or(0)
}

#[tokio::test]
async fn aliased_orders_count_one_by_one_against_the_rest_orders_policy_and_its_user() {
    let app = App::spawn_with(|c| c.apis.rate_limit.orders = quota(3, 3600)).await;
    let (_, admin) = app.admin().await;
    let product = app.create_product(&admin, json!({ "stock": 25 })).await;
    let id = product["id"].as_str().unwrap();
    let (_, token) = app.customer().await;

    let (status, body) = gql(&app, Some(&token), &aliased_orders(5), one_of(id)).await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(
        placed(&body),
        3,
        "the orders quota, not one request: {body}"
    );
    assert_eq!(codes(&body), ["RATE_LIMITED", "RATE_LIMITED"], "{body}");
    let refused = &body["errors"][0]["extensions"];
    assert_eq!(refused["status"], 429, "{body}");
    let retry_after = refused["retryAfter"].as_u64().expect("retryAfter seconds");
    // One order comes back every 1200 s.
    assert!((1..=1200).contains(&retry_after), "{body}");
    assert_eq!(app.product(id).await["stock"], 22);

    // The same policy and the same key as REST's: the user has no order left anywhere.
    let rest = app
        .place_order(&token, json!([{ "product_id": id, "quantity": 1 }]))
        .await;
    expect_error(rest, 429, "RATE_LIMITED").await;
    let (_, other) = app.customer().await;
    let (_, body) = gql(&app, Some(&other), &aliased_orders(1), one_of(id)).await;
    assert_eq!(
        placed(&body),
        1,
        "another user has a quota of their own: {body}"
    );
}

#[tokio::test]
async fn every_mutation_counts_against_its_rest_twins_policy_the_default_one_included() {
    let app = App::spawn_with(|c| c.apis.rate_limit.default = quota(4, 3600)).await;
    let (_, token) = app.customer().await;
    let pays: String = (0..5)
        .map(|i| {
            format!(
                "p{i}: payOrder(orderId: \"0000000000000000000000ff\", cardToken: \"tok_success\") {{ id }} "
            )
        })
        .collect();

    let (status, body) = gql(
        &app,
        Some(&token),
        &format!("mutation {{ {pays}}}"),
        json!({}),
    )
    .await;

    // The request is one request of the default policy, like any; each payment one more,
    // as five `POST /orders/{id}/pay` would be.
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        codes(&body),
        [
            "NOT_FOUND",
            "NOT_FOUND",
            "NOT_FOUND",
            "RATE_LIMITED",
            "RATE_LIMITED"
        ],
        "{body}"
    );
}

#[tokio::test]
async fn more_mutations_than_the_cap_are_refused_before_any_of_them_runs() {
    let app = App::spawn().await;
    assert_eq!(app.config.apis.graphql.max_mutations, 10, "the default cap");
    let (_, admin) = app.admin().await;
    let product = app.create_product(&admin, json!({ "stock": 25 })).await;
    let id = product["id"].as_str().unwrap();
    let (_, token) = app.customer().await;

    let (status, body) = gql(&app, Some(&token), &aliased_orders(100), one_of(id)).await;

    assert_eq!(
        status, 200,
        "a GraphQL-level refusal, like depth and complexity: {body}"
    );
    assert_eq!(codes(&body), ["TOO_MANY_MUTATIONS"], "{body}");
    assert_eq!(body["errors"][0]["extensions"]["limit"], 10, "{body}");
    assert!(body["data"].is_null(), "{body}");
    assert_eq!(app.product(id).await["stock"], 25, "nothing was reserved");

    // Spread through fragments, counted the same.
    let spread = format!(
        "mutation($items: [OrderItemInput!]!) {{ ...A ...A }} fragment A on Mutation {{ {} }}",
        aliases(6)
    );
    let (_, body) = gql(&app, Some(&token), &spread, one_of(id)).await;
    assert_eq!(codes(&body), ["TOO_MANY_MUTATIONS"], "{body}");
    assert_eq!(app.product(id).await["stock"], 25, "nothing was reserved");

    // At the cap, all of them run.
    let (_, body) = gql(&app, Some(&token), &aliased_orders(10), one_of(id)).await;
    assert_eq!(placed(&body), 10, "{body}");
    assert_eq!(app.product(id).await["stock"], 15);
}

#[tokio::test]
async fn the_mutation_cap_holds_across_the_operations_of_a_batch() {
    let (app, _) = counting::spawn_counted_with(|c| {
        c.apis.graphql.max_batch_size = 3;
        c.apis.graphql.max_mutations = 4;
    })
    .await;
    let (_, admin) = app.admin().await;
    let product = app.create_product(&admin, json!({ "stock": 25 })).await;
    let id = product["id"].as_str().unwrap();
    let (_, token) = app.customer().await;
    let three = json!({ "query": aliased_orders(3), "variables": one_of(id) });

    let (status, body) = post_raw(&app, Some(&token), json!([three, three]).to_string()).await;

    assert_eq!(status, 200, "{body}");
    let answers = body.as_array().expect("one answer per operation");
    assert_eq!(answers.len(), 2, "{body}");
    for answer in answers {
        assert_eq!(codes(answer), ["TOO_MANY_MUTATIONS"], "{body}");
    }
    assert_eq!(app.product(id).await["stock"], 25, "nothing was reserved");
}

#[tokio::test]
async fn fragments_that_double_at_every_level_are_refused_before_the_schema_walks_them() {
    let app = App::spawn().await;
    // 2^30 fields once expanded, in 1.3 KiB: the schema's checks expand every spread, and 22
    // levels took 11 s. It refuses fragments nested deeper than 32 on its own.
    let bomb = contract::hostile02::doubling_fragments(30);

    let answer = tokio::time::timeout(Duration::from_secs(10), gql(&app, None, &bomb, json!({})));
    let (status, body) = answer.await.expect("an answer within 10 s");

    assert_eq!(status, 200, "{body}");
    assert_eq!(codes(&body), ["QUERY_TOO_COMPLEX"], "{body}");
    assert_eq!(body["errors"][0]["extensions"]["limit"], 2000, "{body}");
    assert!(body["data"].is_null(), "{body}");
    // Fragments as clients use them are measured the same way, and pass.
    let fine = "{ ...P ...P } fragment P on Query { products(first: 2) { edges { ...E } } }
                fragment E on ProductEdge { cursor node { id name } }";
    let (status, body) = gql(&app, None, fine, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
}
