//! Order views under attack: without a token, with a forged one, or as another customer, an
//! order's view is refused (401, 401, 404: another customer's ids reveal nothing) and the body
//! carries none of the order; malformed, hostile and unbounded page parameters and ids are each
//! a 400 in the error shape, never a 500 and never a page.

use anyhow::{Context, Result};

use crate::client::Api;
use crate::{Case, Target, check, fixtures};

pub(super) fn cases() -> Vec<Case> {
    crate::cases![
        an_order_view_is_its_owners_and_an_admins_alone,
        hostile_order_view_parameters_are_400_and_never_a_page,
    ]
}

const VIEWS: &str = "/api/v2/order-views";

async fn an_order_view_is_its_owners_and_an_admins_alone(t: Target) -> Result<()> {
    let (admin, ann) = fixtures::admin_and_customer(&t).await?;
    let bob = fixtures::customer(&t).await?;
    let (_, order) = fixtures::pending_order(&admin, &ann).await?;
    let path = format!("{VIEWS}/{}", order.id);
    for (who, api, status) in [
        ("no token", Api::new(&t.base_url), 401),
        (
            "a forged token",
            Api::new(&t.base_url).with_token("eyJhbGciOiJub25lIn0.e30."),
            401,
        ),
        ("another customer", bob.api.clone(), 404),
    ] {
        let reply = api.get(&path).await?;
        let text = reply.describe();
        reply
            .expect_status(status)
            .with_context(|| who.to_owned())?;
        check::that(!text.contains(&ann.user.id), || {
            format!("{who}: nothing of the order in the refusal, got {text}")
        })?;
    }
    let listed = bob.api.get(VIEWS).await?.expect_value(200)?;
    check::eq(
        "another customer's page",
        &listed["total"],
        &serde_json::json!(0),
    )?;
    for (who, api) in [("the owner", &ann.api), ("an admin", &admin)] {
        let view = api.get(&path).await?.expect_value(200).context(who)?;
        check::eq(
            &format!("{who}: the order's id"),
            &view["id"],
            &serde_json::json!(order.id),
        )?;
    }
    Ok(())
}

async fn hostile_order_view_parameters_are_400_and_never_a_page(t: Target) -> Result<()> {
    let customer = fixtures::customer(&t).await?;
    let long = "9".repeat(10_000);
    let paths = [
        format!("{VIEWS}?limit=0"),
        format!("{VIEWS}?limit=100000"),
        format!("{VIEWS}?page=0"),
        format!("{VIEWS}?page=-1"),
        format!("{VIEWS}?page={long}"),
        format!("{VIEWS}?limit=1%00"),
        format!("{VIEWS}?page[$gt]=1"),
        format!("{VIEWS}?limit=1&limit=2"),
        format!("{VIEWS}?sort=total"),
        format!("{VIEWS}/not-an-order-id"),
        format!("{VIEWS}/zzzzzzzzzzzzzzzzzzzzzzzz"),
        format!("{VIEWS}/%7B%22$gt%22:%22%22%7D"),
    ];
    each_is_400_and_never_a_page(&customer.api, &paths).await
}

/// GETs each of `paths` and expects a 400 in the error shape, never a page of items.
pub(crate) async fn each_is_400_and_never_a_page(api: &Api, paths: &[String]) -> Result<()> {
    for path in paths {
        let shown: String = path.chars().take(80).collect();
        let reply = api.get(path).await?;
        let text = reply.describe();
        let body = reply
            .expect_status(400)
            .with_context(|| format!("GET {shown}"))?
            .json()?;
        check::that(
            body.get("items").is_none() && body.get("code").is_some(),
            || format!("GET {shown}: an error, not a page: {text}"),
        )?;
    }
    Ok(())
}
