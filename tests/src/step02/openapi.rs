//! The OpenAPI document and its UI, and the `RateLimit-*` headers of limited answers.

use anyhow::Result;

use crate::client::{API, Api};
use crate::{Case, Target, check};

pub(super) fn cases() -> Vec<Case> {
    crate::cases![
        the_openapi_document_is_3_1_and_describes_v1_and_v2,
        the_api_docs_ui_is_served_by_the_api_itself,
        api_answers_carry_the_ratelimit_headers,
    ]
}

async fn the_openapi_document_is_3_1_and_describes_v1_and_v2(t: Target) -> Result<()> {
    let document = Api::new(&t.base_url)
        .get("/api-docs/openapi.json")
        .await?
        .expect_value(200)?;
    let version = document["openapi"].as_str().unwrap_or_default();
    check::that(version.starts_with("3.1."), || {
        format!("expected OpenAPI 3.1.x, got {version:?}")
    })?;
    let paths = document["paths"].as_object().cloned().unwrap_or_default();
    for path in [
        "/api/v1/products",
        "/api/v1/orders",
        "/api/v1/auth/login",
        "/api/v2/products",
        "/api/v2/products/{id}",
        "/api/v2/orders/{id}",
    ] {
        check::that(paths.contains_key(path), || {
            format!("{path} in the document's paths")
        })?;
    }
    let login = &paths["/api/v1/auth/login"]["post"]["responses"];
    check::that(
        login.get("401").is_some() && login.get("429").is_some(),
        || format!("login documents its 401 and 429: {login}"),
    )?;
    Ok(())
}

async fn the_api_docs_ui_is_served_by_the_api_itself(t: Target) -> Result<()> {
    let page = Api::new(&t.base_url)
        .get("/api-docs/")
        .await?
        .expect_status(200)?;
    check::that(
        page.content_type
            .as_deref()
            .is_some_and(|c| c.starts_with("text/html")),
        || format!("expected an HTML page, got {}", page.describe()),
    )?;
    // Offline: no script or stylesheet from another origin.
    for marker in ["src=\"http", "href=\"http", "src='http", "href='http"] {
        check::that(!page.body.contains(marker), || {
            format!(
                "the UI page loads something from elsewhere ({marker}): {}",
                page.describe()
            )
        })?;
    }
    Ok(())
}

async fn api_answers_carry_the_ratelimit_headers(t: Target) -> Result<()> {
    let reply = Api::new(&t.base_url)
        .get(&format!("{API}/products?limit=1"))
        .await?
        .expect_status(200)?;
    for name in [
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
        "ratelimit-policy",
    ] {
        check::that(reply.header(name).is_some(), || {
            format!("header {name} on {}", reply.describe())
        })?;
    }
    let limit: u64 = reply
        .header("ratelimit-limit")
        .unwrap_or_default()
        .parse()
        .unwrap_or(0);
    let remaining: u64 = reply
        .header("ratelimit-remaining")
        .unwrap_or_default()
        .parse()
        .unwrap_or(u64::MAX);
    check::that(remaining < limit, || {
        format!("remaining ({remaining}) below the limit ({limit}) after a request")
    })?;
    Ok(())
}
