//! `/api/v2` against a client that probes other customers' orders, sends NUL and control
//! characters or MongoDB operators in query parameters, and edits the cursors it is handed.
//! The documented answers (docs/02-apis.md, `/api/v2`): every error is an RFC 9457 problem
//! (`application/problem+json`) with the API's `code`; a parameter it cannot read is a 400
//! `INVALID_PARAMETER` naming it; someone else's order is a 404 exactly like an order that
//! does not exist.

use anyhow::{Context, Result};
use serde_json::Value;

use crate::client::{Api, Reply};
use crate::fixtures::{self, unique_suffix};
use crate::{Case, Target, check};

pub(super) fn cases() -> Vec<Case> {
    crate::cases![
        another_customers_v2_order_is_a_404_problem_exactly_like_an_unknown_id,
        nul_and_control_characters_in_v2_query_parameters_are_400_problems_naming_them,
        operators_in_v2_query_parameter_names_are_400_problems_naming_them,
        operators_in_v2_query_parameter_values_are_literal_text_or_a_400,
        an_edited_or_borrowed_v2_cursor_is_a_400_problem_naming_cursor,
    ]
}

const V2: &str = "/api/v2";

/// A problem with `status`: its JSON, checked for RFC 9457's members and the API's `code`.
fn problem(reply: &Reply, status: u16, code: &str) -> Result<Value> {
    let content_type = reply.content_type.as_deref().unwrap_or_default();
    let body = reply.json()?;
    check::that(
        reply.status.as_u16() == status
            && content_type.starts_with("application/problem+json")
            && body["status"] == status
            && body["code"] == code
            && ["type", "title", "detail"]
                .iter()
                .all(|m| body[m].is_string()),
        || {
            format!(
                "expected a {status} {code} problem (application/problem+json with type, title, \
                 status, detail, code), got {}",
                reply.describe()
            )
        },
    )?;
    Ok(body)
}

/// A 400 `INVALID_PARAMETER` problem naming `parameter` in its `errors`.
fn names(reply: &Reply, parameter: &str) -> Result<()> {
    let body = problem(reply, 400, "INVALID_PARAMETER")?;
    let named = body["errors"]
        .as_array()
        .is_some_and(|errors| errors.iter().any(|e| e["field"] == parameter));
    check::that(named, || {
        format!(
            "expected the problem to name `{parameter}` in `errors`, got {}",
            reply.describe()
        )
    })
}

/// `value` percent-encoded for a query string, every byte outside unreserved characters.
fn encoded(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn another_customers_v2_order_is_a_404_problem_exactly_like_an_unknown_id(
    t: Target,
) -> Result<()> {
    let admin = fixtures::admin(&t).await?;
    let (owner, other) = futures::try_join!(fixtures::customer(&t), fixtures::customer(&t))?;
    let (_, order) = fixtures::pending_order(&admin, &owner).await?;

    let theirs = other.api.get(&format!("{V2}/orders/{}", order.id)).await?;
    let unknown = other
        .api
        .get(&format!("{V2}/orders/{}", fixtures::UNKNOWN_ID))
        .await?;

    let theirs = problem(&theirs, 404, "NOT_FOUND")?;
    let unknown = problem(&unknown, 404, "NOT_FOUND")?;
    // Everything but where it was asked and which request it was: the id reveals nothing.
    let without = |body: &Value| {
        let mut body = body.clone();
        if let Some(members) = body.as_object_mut() {
            members.remove("instance");
            members.remove("request_id");
        }
        body
    };
    check::eq(
        "another customer's order, next to an unknown id",
        without(&theirs),
        without(&unknown),
    )?;
    let listed = other
        .api
        .get(&format!("{V2}/orders"))
        .await?
        .expect_value(200)?;
    check::eq(
        "the other customer's v2 orders",
        &listed["total"],
        &Value::from(0),
    )?;
    Ok(())
}

async fn nul_and_control_characters_in_v2_query_parameters_are_400_problems_naming_them(
    t: Target,
) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let product = fixtures::product(&admin, 100, 1).await?;
    let reviews = format!("{V2}/products/{}/reviews", product.id);
    let orders = format!("{V2}/orders");
    let products = format!("{V2}/products");
    for c in ['\u{0}', '\u{1}', '\u{1b}', '\u{7f}', '\u{85}', '\u{9f}'] {
        for (path, parameter, value) in [
            (&products, "category", format!("kitchen{c}ware")),
            // Inside the text: at its ends, U+0085 is white space and trimmed.
            (&products, "tag", format!("mu{c}g")),
            (&products, "q", format!("steel{c}mug")),
            (&products, "sort", format!("price{c}")),
            (&products, "cursor", format!("abc{c}def")),
            (&products, "limit", format!("1{c}")),
            (&products, "min_price", format!("{c}100")),
            (&products, "in_stock", format!("true{c}")),
            (&reviews, "page", format!("1{c}")),
            (&orders, "limit", format!("{c}5")),
        ] {
            let url = format!("{path}?{parameter}={}", encoded(&value));
            let reply = customer.api.get(&url).await?;
            names(&reply, parameter)
                .with_context(|| format!("{parameter} with U+{:04X}", u32::from(c)))?;
        }
    }
    Ok(())
}

async fn operators_in_v2_query_parameter_names_are_400_problems_naming_them(
    t: Target,
) -> Result<()> {
    let api = Api::new(&t.base_url);
    // What some frameworks turn into `{category: {$ne: "x"}}`: here no name is ever read as
    // anything but itself, and none of these is a parameter of the route.
    for (query, parameter) in [
        ("category[$ne]=x", "category[$ne]"),
        ("tag[$in][]=mug", "tag[$in][]"),
        ("q[$regex]=.*", "q[$regex]"),
        ("min_price[$gt]=0", "min_price[$gt]"),
        ("$where=1", "$where"),
        ("sort[$natural]=1", "sort[$natural]"),
        ("cursor[$gt]=", "cursor[$gt]"),
    ] {
        let reply = api.get(&format!("{V2}/products?{query}")).await?;
        names(&reply, parameter).with_context(|| format!("?{query}"))?;
    }
    Ok(())
}

async fn operators_in_v2_query_parameter_values_are_literal_text_or_a_400(t: Target) -> Result<()> {
    let admin = fixtures::admin(&t).await?;
    let api = Api::new(&t.base_url);
    let category = format!("hostile-{}", unique_suffix());
    let operator = format!("{{\"$ne\":\"{category}\"}}");
    let make = |category: &str| {
        fixtures::with(
            &fixtures::product_body(700, 2),
            "category",
            Value::from(category),
        )
    };
    let plain = fixtures::create_product(&admin, &make(&category)).await?;
    // A product whose category is, literally, the operator's text.
    let literal = fixtures::create_product(&admin, &make(&operator)).await?;

    let found = api
        .get(&format!(
            "{V2}/products?category={}&limit=100",
            encoded(&operator)
        ))
        .await?
        .expect_value(200)?;

    let ids: Vec<&str> = found["items"]
        .as_array()
        .map(|items| items.iter().filter_map(|i| i["id"].as_str()).collect())
        .unwrap_or_default();
    check::eq(
        &format!(
            "?category={operator}: the one product of that literal category, not every other \
             (the plain one is {})",
            plain.id
        ),
        ids,
        vec![literal.id.as_str()],
    )?;
    // Numbers and flags are numbers and flags: an operator there is not one.
    for (parameter, value) in [
        ("min_price", "{\"$gt\":0}"),
        ("limit", "{\"$gt\":0}"),
        ("in_stock", "{\"$exists\":true}"),
        ("sort", "{\"price\":1}"),
    ] {
        let reply = api
            .get(&format!("{V2}/products?{parameter}={}", encoded(value)))
            .await?;
        names(&reply, parameter).with_context(|| format!("{parameter}={value}"))?;
    }
    Ok(())
}

async fn an_edited_or_borrowed_v2_cursor_is_a_400_problem_naming_cursor(t: Target) -> Result<()> {
    let admin = fixtures::admin(&t).await?;
    let api = Api::new(&t.base_url);
    let category = format!("hostile-{}", unique_suffix());
    for price in [100, 200, 300] {
        let body = fixtures::with(
            &fixtures::product_body(price, 1),
            "category",
            Value::from(category.as_str()),
        );
        fixtures::create_product(&admin, &body).await?;
    }
    let first = api
        .get(&format!(
            "{V2}/products?category={category}&sort=price&limit=1"
        ))
        .await?
        .expect_value(200)?;
    let cursor = first["next_cursor"]
        .as_str()
        .with_context(|| format!("a next_cursor on the first page: {first}"))?
        .to_owned();
    // The real cursor is accepted: the edits below are what is refused.
    api.get(&format!(
        "{V2}/products?category={category}&sort=price&limit=1&cursor={cursor}"
    ))
    .await?
    .expect_status(200)?;

    let middle = cursor.len() / 2;
    let flipped: String = cursor
        .char_indices()
        .map(|(i, c)| match (i == middle, c) {
            (true, 'A') => 'B',
            (true, _) => 'A',
            (false, c) => c,
        })
        .collect();
    for (what, edited, sort) in [
        ("one character changed", flipped, "price"),
        ("cut short", cursor[..cursor.len() - 4].to_owned(), "price"),
        ("made for another sort", cursor.clone(), "-price"),
        ("made up", "eyIkZ3QiOnsiX2lkIjoiMCJ9fQ".to_owned(), "price"),
    ] {
        let reply = api
            .get(&format!(
                "{V2}/products?category={category}&sort={sort}&limit=1&cursor={}",
                encoded(&edited)
            ))
            .await?;
        names(&reply, "cursor").with_context(|| format!("a cursor {what}"))?;
    }
    Ok(())
}
