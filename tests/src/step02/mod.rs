//! # The step-2 contract: the listing, `/api/v2`, GraphQL, OpenAPI and rate-limit headers
//!
//! What step 2 adds to the public API, and every later step (and the step-10 gateway) must
//! keep: the product listing filters, sorts and pages by cursor, and refuses a parameter it
//! does not know; v1 answers say they are deprecated and name their successor; v2 speaks money
//! as objects and errors as RFC 9457 problems; `/graphql` answers the same data with the same
//! rules; the OpenAPI document describes v1 and v2; limited answers carry `RateLimit-*`.
//!
//! Black-box like the earlier suites. Every case makes its own products in a category of its
//! own, so filters isolate its data from every other case running at the same time.

mod graphql;
mod listing;
mod openapi;
mod v2;

use anyhow::Result;
use serde_json::Value;

use crate::Case;
use crate::client::Api;
use crate::fixtures::{self, unique_suffix};

/// Every step-2 case.
pub fn cases() -> Vec<Case> {
    [
        listing::cases(),
        v2::cases(),
        graphql::cases(),
        openapi::cases(),
    ]
    .concat()
}

/// A category no other case uses.
fn unique_category() -> String {
    format!("ct-cat-{}", unique_suffix())
}

/// Creates a product in `category` with this price, stock and tags; returns its id.
async fn product_in(
    admin: &Api,
    category: &str,
    price_minor: i64,
    stock: i64,
    tags: &[&str],
) -> Result<String> {
    let body = fixtures::with(
        &fixtures::with(
            &fixtures::product_body(price_minor, stock),
            "category",
            Value::from(category),
        ),
        "tags",
        Value::from(tags.to_vec()),
    );
    Ok(fixtures::create_product(admin, &body).await?.id)
}

/// The ids of a listing answer's `items`, in order.
fn ids(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
