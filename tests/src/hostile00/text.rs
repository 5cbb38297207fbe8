//! NUL and control characters in every text field and query parameter of step 0. A NUL ends a
//! string for every C library downstream, an escape sequence rewrites an operator's terminal,
//! a bare CR forges a log line: one-line fields refuse every control character, descriptions
//! and comments every one but line breaks and tabs, passwords only NUL. A field is refused
//! with 422 naming it, a parameter with 400 naming it, and nothing is stored.

use anyhow::{Context, Result};
use serde_json::json;

use super::Fixture;
use crate::client::{API, Api};
use crate::fixtures::{self, PASSWORD, unique_email};
use crate::{Case, Target, check};

/// Characters no one-line field may hold: NUL, other C0 controls, DEL, a C1 control.
const CONTROLS: [char; 6] = ['\u{0}', '\u{1b}', '\r', '\n', '\u{7f}', '\u{85}'];

pub(super) fn cases() -> Vec<Case> {
    crate::cases![
        control_characters_in_a_name_are_422_naming_it_and_make_no_account,
        control_characters_in_a_product_s_one_line_fields_are_422_naming_each,
        nul_in_a_description_or_a_comment_is_422_while_line_breaks_are_kept,
        nul_in_a_password_is_422_and_makes_no_account,
        control_characters_in_query_parameters_and_ids_are_400_naming_them,
    ]
}

async fn control_characters_in_a_name_are_422_naming_it_and_make_no_account(
    t: Target,
) -> Result<()> {
    let api = Api::new(&t.base_url);
    for c in CONTROLS {
        let email = unique_email();
        api.register(&email, PASSWORD, &format!("Ann{c}Smith"))
            .await?
            .expect_validation(&["name"])
            .with_context(|| format!("a name holding {c:?}"))?;
        api.login(&email, PASSWORD)
            .await?
            .expect_error(401, "UNAUTHORIZED")
            .with_context(|| format!("no account after a name holding {c:?}"))?;
    }
    Ok(())
}

async fn control_characters_in_a_product_s_one_line_fields_are_422_naming_each(
    t: Target,
) -> Result<()> {
    let fixture = Fixture::new(&t).await?;
    for c in CONTROLS {
        for (field, value) in [
            ("name", json!(format!("Mug{c}"))),
            ("category", json!(format!("kitchen{c}"))),
            ("tags", json!([format!("blue{c}")])),
            ("sku", json!(format!("SKU{c}1"))),
        ] {
            let body = fixtures::with(&fixture.unused_product, field, value);
            fixture
                .admin
                .create_product(&body)
                .await?
                .expect_validation(&[field])
                .with_context(|| format!("creating a product whose {field} holds {c:?}"))?;
            fixture
                .admin
                .update_product(&fixture.product.id, &body)
                .await?
                .expect_validation(&[field])
                .with_context(|| format!("updating a product's {field} to hold {c:?}"))?;
        }
    }
    fixture.nothing_happened().await
}

async fn nul_in_a_description_or_a_comment_is_422_while_line_breaks_are_kept(
    t: Target,
) -> Result<()> {
    let fixture = Fixture::new(&t).await?;
    for c in ['\u{0}', '\u{1b}', '\u{7f}'] {
        let body = fixtures::with(
            &fixture.unused_product,
            "description",
            json!(format!("line one{c}line two")),
        );
        fixture
            .admin
            .create_product(&body)
            .await?
            .expect_validation(&["description"])
            .with_context(|| format!("a description holding {c:?}"))?;
        fixture
            .customer
            .api
            .post_review(&fixture.product.id, 4, &format!("good{c}mug"))
            .await?
            .expect_validation(&["comment"])
            .with_context(|| format!("a comment holding {c:?}"))?;
    }
    fixture.nothing_happened().await?;
    // Line breaks and tabs are text in a description or a comment.
    let text = "first line\r\nsecond line\n\tindented";
    let product = fixtures::create_product(
        &fixture.admin,
        &fixtures::with(&fixtures::product_body(300, 2), "description", json!(text)),
    )
    .await?;
    check::eq("the stored description", product.description.as_str(), text)?;
    let review = fixture
        .customer
        .api
        .post_review(&product.id, 5, text)
        .await?
        .expect_value(201)?;
    check::eq("the stored comment", review["comment"].as_str(), Some(text))
}

async fn nul_in_a_password_is_422_and_makes_no_account(t: Target) -> Result<()> {
    let api = Api::new(&t.base_url);
    let email = unique_email();
    let password = format!("{PASSWORD}\u{0}tail");
    api.register(&email, &password, "Nul Password")
        .await?
        .expect_validation(&["password"])?;
    for attempt in [password.as_str(), PASSWORD] {
        api.login(&email, attempt)
            .await?
            .expect_error(401, "UNAUTHORIZED")
            .context("no account was made")?;
    }
    Ok(())
}

async fn control_characters_in_query_parameters_and_ids_are_400_naming_them(
    t: Target,
) -> Result<()> {
    let fixture = Fixture::new(&t).await?;
    let api = &fixture.customer.api;
    for encoded in ["%00", "%1B", "%0D%0A", "%7F"] {
        for (path, parameter) in [
            (format!("{API}/products?page=1{encoded}"), "page"),
            (format!("{API}/products?limit={encoded}5"), "limit"),
            (
                format!("{API}/products/{}{encoded}", fixture.product.id),
                "id",
            ),
            (format!("{API}/products/{encoded}/reviews"), "id"),
            (format!("{API}/orders/{}{encoded}", fixture.order.id), "id"),
            (format!("{API}/orders?page={encoded}"), "page"),
        ] {
            let error = api
                .get(&path)
                .await?
                .expect_error(400, "INVALID_PARAMETER")
                .with_context(|| format!("GET {path}"))?;
            check::that(error.names_field(parameter), || {
                format!(
                    "GET {path}: the error names `{parameter}`, got {:?}",
                    error.field_names()
                )
            })?;
        }
    }
    fixture.nothing_happened().await
}
