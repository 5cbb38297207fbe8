//! What a hostile client tried at `/graphql`, and what it gets now: a NUL byte in a listing
//! filter that reached the database (a 500) where REST refused it, and bodies that are not
//! GraphQL requests at all (`[]`, `{}`, an array of strings) that were run as documents.

use serde_json::json;
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
