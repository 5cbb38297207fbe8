//! Errors that happen before any handler runs: bodies that are not JSON, not declared as
//! JSON, or too large; routes and methods that do not exist. They must use the same JSON
//! error shape as every other error, not the framework's plain-text defaults.

use anyhow::{Context, Result};
use reqwest::Method;
use reqwest::header::CONTENT_TYPE;
use serde_json::json;

use crate::client::{API, Api};
use crate::fixtures::{PASSWORD, unique_email};
use crate::{Case, Target};

pub(super) fn cases() -> Vec<Case> {
    crate::cases![
        a_malformed_json_body_is_400_malformed_json,
        a_text_plain_body_on_a_json_route_is_415_unsupported_media_type,
        a_body_over_64_kib_is_413_payload_too_large,
        an_unknown_route_is_404_not_found_in_the_error_shape,
        a_wrong_method_is_405_method_not_allowed_in_the_error_shape,
    ]
}

async fn a_malformed_json_body_is_400_malformed_json(t: Target) -> Result<()> {
    let api = Api::new(&t.base_url);
    for (path, body) in [
        (
            "auth/register",
            r#"{"email": "a@example.test", "password": "#,
        ),
        ("auth/login", "not json at all"),
        ("auth/login", ""),
    ] {
        let request = api
            .request(Method::POST, &format!("{API}/{path}"))
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        api.send(request)
            .await?
            .expect_error(400, "MALFORMED_JSON")
            .with_context(|| format!("POST /{path} with body {body:?}"))?;
    }
    Ok(())
}

async fn a_text_plain_body_on_a_json_route_is_415_unsupported_media_type(t: Target) -> Result<()> {
    let api = Api::new(&t.base_url);
    let body = json!({ "email": unique_email(), "password": PASSWORD, "name": "Plain" });
    let request = api
        .request(Method::POST, &format!("{API}/auth/register"))
        .header(CONTENT_TYPE, "text/plain")
        .body(body.to_string());
    api.send(request)
        .await?
        .expect_error(415, "UNSUPPORTED_MEDIA_TYPE")?;
    Ok(())
}

async fn a_body_over_64_kib_is_413_payload_too_large(t: Target) -> Result<()> {
    let api = Api::new(&t.base_url);
    // Valid JSON, so the size is the only thing wrong with it.
    let body = json!({
        "email": unique_email(), "password": PASSWORD, "name": "x".repeat(80 * 1024),
    });
    api.register_raw(&body)
        .await?
        .expect_error(413, "PAYLOAD_TOO_LARGE")?;
    Ok(())
}

async fn an_unknown_route_is_404_not_found_in_the_error_shape(t: Target) -> Result<()> {
    let api = Api::new(&t.base_url);
    for path in [
        format!("{API}/nope"),
        format!("{API}/products/a/b/c"),
        "/nope".into(),
    ] {
        api.get(&path)
            .await?
            .expect_error(404, "NOT_FOUND")
            .with_context(|| format!("GET {path}"))?;
    }
    Ok(())
}

async fn a_wrong_method_is_405_method_not_allowed_in_the_error_shape(t: Target) -> Result<()> {
    let api = Api::new(&t.base_url);
    for (method, path) in [
        (Method::DELETE, "auth/login"),
        (Method::GET, "auth/register"),
    ] {
        api.send(api.request(method.clone(), &format!("{API}/{path}")))
            .await?
            .expect_error(405, "METHOD_NOT_ALLOWED")
            .with_context(|| format!("{method} /{path}"))?;
    }
    Ok(())
}
