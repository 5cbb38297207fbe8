//! Forged credentials on every route family, not only on `/auth/me` (the contract suite checks
//! that one): tokens re-signed by nobody, claims edited to admin, another algorithm named in
//! the header; and credentials where they do not belong (a query string, a cookie, a custom
//! header). Each is the same bare 401 as no credentials at all, and does nothing.

use anyhow::{Context, Result};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Method;
use serde_json::json;

use super::Fixture;
use crate::client::{API, Api, Reply};
use crate::step00::auth::edit_payload;
use crate::{Case, Target, check};

pub(super) fn cases() -> Vec<Case> {
    crate::cases![
        forged_tokens_are_401_on_every_route_family_and_change_nothing,
        credentials_outside_the_authorization_header_are_ignored,
    ]
}

/// Tokens made from `token` by someone without the key.
fn forgeries(token: &str) -> Result<Vec<(&'static str, String)>> {
    let parts: Vec<&str> = token.split('.').collect();
    let (header, payload) = (parts[0], parts.get(1).copied().unwrap_or_default());
    let random = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let alg = |alg: &str| URL_SAFE_NO_PAD.encode(json!({ "alg": alg, "typ": "JWT" }).to_string());
    Ok(vec![
        ("a random signature", format!("{header}.{payload}.{random}")),
        ("alg none", format!("{}.{payload}.", alg("none"))),
        ("alg RS256", format!("{}.{payload}.{random}", alg("RS256"))),
        (
            "claims edited to admin",
            edit_payload(token, |claims| claims["role"] = json!("admin"))?,
        ),
        (
            "a subject edited to another user",
            edit_payload(token, |claims| {
                claims["sub"] = json!("0000000000000000000000ff")
            })?,
        ),
        ("two tokens glued together", format!("{token}.{token}")),
    ])
}

async fn forged_tokens_are_401_on_every_route_family_and_change_nothing(t: Target) -> Result<()> {
    let fixture = Fixture::new(&t).await?;
    let token = fixture
        .customer
        .api
        .token()
        .context("the customer's token")?
        .to_owned();
    let order = &fixture.order.id;
    for (what, forged) in forgeries(&token)? {
        let api = Api::new(&t.base_url).with_token(&forged);
        let attempts: Vec<(String, Reply)> = vec![
            ("GET /auth/me".into(), api.me().await?),
            ("GET /orders".into(), api.list_orders("").await?),
            (format!("GET /orders/{order}"), api.get_order(order).await?),
            (
                "POST /orders".into(),
                api.place_order(&crate::fixtures::order_body(&[(&fixture.product.id, 1)]))
                    .await?,
            ),
            (
                format!("POST /orders/{order}/pay"),
                api.pay_order(order, "tok_success").await?,
            ),
            (
                "POST /products".into(),
                api.create_product(&fixture.unused_product).await?,
            ),
            (
                format!("POST /products/{}/reviews", fixture.product.id),
                api.post_review(&fixture.product.id, 1, "forged").await?,
            ),
        ];
        for (route, reply) in attempts {
            let error = reply
                .expect_error(401, "UNAUTHORIZED")
                .with_context(|| format!("{route} with {what}"))?;
            check::that(error.fields.is_empty(), || {
                format!("{route} with {what}: a 401 names no field")
            })?;
        }
    }
    fixture.nothing_happened().await
}

async fn credentials_outside_the_authorization_header_are_ignored(t: Target) -> Result<()> {
    let fixture = Fixture::new(&t).await?;
    let token = fixture
        .customer
        .api
        .token()
        .context("the customer's token")?
        .to_owned();
    let anonymous = Api::new(&t.base_url);
    let me = format!("{API}/auth/me");
    let sent = [
        (
            "a query string",
            anonymous.request(Method::GET, &format!("{me}?access_token={token}")),
        ),
        (
            "a query string",
            anonymous.request(Method::GET, &format!("{me}?token={token}")),
        ),
        (
            "a cookie",
            anonymous
                .request(Method::GET, &me)
                .header("cookie", format!("token={token}; access_token={token}")),
        ),
        (
            "another header",
            anonymous
                .request(Method::GET, &me)
                .header("x-access-token", &token),
        ),
        (
            "another header",
            anonymous
                .request(Method::GET, &me)
                .header("proxy-authorization", format!("Bearer {token}")),
        ),
    ];
    for (place, request) in sent {
        anonymous
            .send(request)
            .await?
            .expect_error(401, "UNAUTHORIZED")
            .with_context(|| format!("a valid token in {place}"))?;
    }
    // In its place, the same token works: the 401s above are about the place.
    fixture.customer.api.me().await?.expect_status(200)?;
    Ok(())
}
