//! Bodies that are not what they claim to be, on every route of step 0 that takes one: JSON
//! followed by more bytes, two objects in one body, another content type, nesting past the
//! parser's limit, bytes that are not UTF-8, a field given twice. Each is refused with its
//! documented 4xx in the error shape, and nothing happens: no account, product, review, order
//! or charge comes of it.

use anyhow::{Context, Result};
use reqwest::Method;
use serde_json::{Value, json};

use super::{BodyRoute, Fixture, send_raw};
use crate::client::API;
use crate::fixtures::{self, PASSWORD, unique_email};
use crate::{Case, Target, check};

pub(super) fn cases() -> Vec<Case> {
    crate::cases![
        trailing_bytes_after_the_json_body_are_400_malformed_json_on_every_body_route,
        two_json_objects_in_one_pay_body_are_400_and_charge_nothing,
        a_body_declared_as_another_media_type_is_415_on_every_body_route,
        deeply_nested_json_is_422_in_a_known_field_ignored_in_an_unknown_one_never_a_crash,
        a_body_that_is_not_utf8_is_400_malformed_json,
        a_field_given_twice_is_422_naming_it_and_creates_nothing,
    ]
}

async fn trailing_bytes_after_the_json_body_are_400_malformed_json_on_every_body_route(
    t: Target,
) -> Result<()> {
    let fixture = Fixture::new(&t).await?;
    for route in fixture.body_routes() {
        for tail in [" not json {{{", "}", "\u{0}", "{\"again\":true}", " 1"] {
            let body = format!("{}{tail}", route.body);
            send_raw(
                &route.api,
                route.method.clone(),
                &route.path,
                Some("application/json"),
                body,
            )
            .await?
            .expect_error(400, "MALFORMED_JSON")
            .with_context(|| {
                format!(
                    "{} {} with {tail:?} after the JSON",
                    route.method, route.path
                )
            })?;
        }
    }
    // White space after the value is still one JSON value.
    let login = json!({ "email": fixture.customer.email, "password": PASSWORD });
    send_raw(
        &fixture.customer.api.anonymous(),
        Method::POST,
        &format!("{API}/auth/login"),
        Some("application/json"),
        format!("{login} \r\n\t "),
    )
    .await?
    .expect_status(200)
    .context("white space after the JSON value")?;
    fixture.nothing_happened().await
}

async fn two_json_objects_in_one_pay_body_are_400_and_charge_nothing(t: Target) -> Result<()> {
    let fixture = Fixture::new(&t).await?;
    let path = format!("{API}/orders/{}/pay", fixture.order.id);
    // A proxy that reads the second object sees a successful card; the shop must not pick one.
    for body in [
        r#"{"card_token":"tok_decline"}{"card_token":"tok_success"}"#,
        r#"{"card_token":"tok_success"}{"card_token":"tok_success"}"#,
        r#"{"card_token":"tok_success"}[]"#,
    ] {
        send_raw(
            &fixture.customer.api,
            Method::POST,
            &path,
            Some("application/json"),
            body,
        )
        .await?
        .expect_error(400, "MALFORMED_JSON")
        .with_context(|| format!("POST {path} with {body}"))?;
    }
    fixture.nothing_happened().await
}

async fn a_body_declared_as_another_media_type_is_415_on_every_body_route(t: Target) -> Result<()> {
    let fixture = Fixture::new(&t).await?;
    for route in fixture.body_routes() {
        for content_type in [
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("multipart/form-data; boundary=x"),
            Some("application/jsonx"),
            Some("application/xml"),
            None,
        ] {
            send_raw(
                &route.api,
                route.method.clone(),
                &route.path,
                content_type,
                route.body.clone(),
            )
            .await?
            .expect_error(415, "UNSUPPORTED_MEDIA_TYPE")
            .with_context(|| format!("{} {} as {content_type:?}", route.method, route.path))?;
        }
    }
    fixture.nothing_happened().await
}

async fn deeply_nested_json_is_422_in_a_known_field_ignored_in_an_unknown_one_never_a_crash(
    t: Target,
) -> Result<()> {
    let fixture = Fixture::new(&t).await?;
    // 2,000 levels in 4 KiB, under the body limit; serde_json walks an unknown field's value
    // without recursion, and a known field refuses an array at its first bracket.
    let deep = format!("{}{}", "[".repeat(2_000), "]".repeat(2_000));
    let nested = |value: &Value, field: &str| {
        let mut value = value.clone();
        value[field] = json!("PLACEHOLDER");
        value.to_string().replace("\"PLACEHOLDER\"", &deep)
    };
    let register = json!({ "email": fixture.unused_email, "password": PASSWORD, "name": "Deep" });
    let pay = json!({ "card_token": "tok_success" });
    let order = fixtures::order_body(&[(&fixture.product.id, 1)]);
    for (api, path, body, field) in [
        (
            &fixture.customer.api.anonymous(),
            format!("{API}/auth/register"),
            nested(&register, "name"),
            "name",
        ),
        (
            &fixture.customer.api,
            format!("{API}/orders"),
            nested(&order, "items"),
            "items",
        ),
        (
            &fixture.customer.api,
            format!("{API}/orders/{}/pay", fixture.order.id),
            nested(&pay, "card_token"),
            "card_token",
        ),
    ] {
        let error = send_raw(api, Method::POST, &path, Some("application/json"), body)
            .await?
            .expect_error(422, "VALIDATION_FAILED")
            .with_context(|| format!("POST {path} with `{field}` nested 2,000 deep"))?;
        check::that(
            error.field_names().iter().any(|f| f.starts_with(field)),
            || {
                format!(
                    "POST {path}: the error names `{field}`, got {:?}",
                    error.field_names()
                )
            },
        )?;
    }
    let login = json!({ "email": fixture.customer.email, "password": PASSWORD });
    send_raw(
        &fixture.customer.api.anonymous(),
        Method::POST,
        &format!("{API}/auth/login"),
        Some("application/json"),
        nested(&login, "nested"),
    )
    .await?
    .expect_status(200)
    .context("an unknown field nested 2,000 deep is ignored like any unknown field")?;
    // 100,000 levels do not fit the body limit at all.
    let huge = format!(
        "{{\"nested\":{}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    send_raw(
        &fixture.customer.api.anonymous(),
        Method::POST,
        &format!("{API}/auth/login"),
        Some("application/json"),
        huge,
    )
    .await?
    .expect_error(413, "PAYLOAD_TOO_LARGE")?;
    fixture.nothing_happened().await
}

async fn a_body_that_is_not_utf8_is_400_malformed_json(t: Target) -> Result<()> {
    let fixture = Fixture::new(&t).await?;
    for route in fixture.body_routes() {
        // The route's own body with one string's first byte replaced by a lone 0xFF.
        let mut bytes = route.body.clone().into_bytes();
        let quote = bytes
            .iter()
            .position(|&b| b == b'"')
            .context("a string in the body")?;
        bytes.insert(quote + 1, 0xFF);
        send_raw(
            &route.api,
            route.method.clone(),
            &route.path,
            Some("application/json"),
            bytes,
        )
        .await?
        .expect_error(400, "MALFORMED_JSON")
        .with_context(|| {
            format!(
                "{} {} with a byte that is not UTF-8",
                route.method, route.path
            )
        })?;
    }
    fixture.nothing_happened().await
}

async fn a_field_given_twice_is_422_naming_it_and_creates_nothing(t: Target) -> Result<()> {
    let api = crate::client::Api::new(&t.base_url);
    let (first, second) = (unique_email(), unique_email());
    // Which of the two would a proxy, a log or a WAF take? Neither: the body is refused.
    let body = format!(
        r#"{{"email":"{first}","email":"{second}","password":"{PASSWORD}","name":"Twice"}}"#
    );
    send_raw(
        &api,
        Method::POST,
        &format!("{API}/auth/register"),
        Some("application/json"),
        body,
    )
    .await?
    .expect_validation(&["email"])?;
    for email in [&first, &second] {
        api.login(email, PASSWORD)
            .await?
            .expect_error(401, "UNAUTHORIZED")
            .with_context(|| format!("no account {email} was made"))?;
    }
    Ok(())
}

impl Fixture {
    /// Every step-0 route that takes a body, each with a valid body for this fixture.
    fn body_routes(&self) -> Vec<BodyRoute> {
        let anonymous = self.customer.api.anonymous();
        let product = &self.product.id;
        let order = &self.order.id;
        let route =
            |api: &crate::client::Api, method: Method, path: String, body: Value| BodyRoute {
                api: api.clone(),
                method,
                path,
                body: body.to_string(),
            };
        vec![
            route(
                &anonymous,
                Method::POST,
                format!("{API}/auth/register"),
                json!({ "email": self.unused_email, "password": PASSWORD, "name": "Hostile" }),
            ),
            route(
                &anonymous,
                Method::POST,
                format!("{API}/auth/login"),
                json!({ "email": self.customer.email, "password": PASSWORD }),
            ),
            route(
                &self.admin,
                Method::POST,
                format!("{API}/products"),
                self.unused_product.clone(),
            ),
            route(
                &self.admin,
                Method::PUT,
                format!("{API}/products/{product}"),
                fixtures::with(
                    &self.unused_product,
                    "name",
                    json!("Renamed by a hostile body"),
                ),
            ),
            route(
                &self.customer.api,
                Method::POST,
                format!("{API}/products/{product}/reviews"),
                json!({ "rating": 1, "comment": "hostile" }),
            ),
            route(
                &self.customer.api,
                Method::POST,
                format!("{API}/orders"),
                fixtures::order_body(&[(product, 1)]),
            ),
            route(
                &self.customer.api,
                Method::POST,
                format!("{API}/orders/{order}/pay"),
                json!({ "card_token": "tok_success" }),
            ),
        ]
    }
}
