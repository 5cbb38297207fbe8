//! The mailbox under attack: without a token or with a forged one it is 401 with no message
//! in the body; another customer sees none of a customer's messages; malformed, hostile and
//! unbounded page parameters are each a 400 in the error shape, never a page.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::client::Api;
use crate::step06::MAILBOX;
use crate::{Case, Target, check, fixtures};

pub(super) fn cases() -> Vec<Case> {
    crate::cases![
        a_mailbox_is_its_customers_alone,
        hostile_mailbox_parameters_are_400_and_never_a_page,
    ]
}

async fn a_mailbox_is_its_customers_alone(t: Target) -> Result<()> {
    let (admin, ann) = fixtures::admin_and_customer(&t).await?;
    let bob = fixtures::customer(&t).await?;
    let (_, order) = fixtures::paid_order(&admin, &ann).await?;
    // Wait for Ann's confirmation, so the refusals below have something to leak.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let page = ann.api.get(MAILBOX).await?.expect_value(200)?;
        if page["total"] == 1 {
            break;
        }
        check::that(Instant::now() < deadline, || {
            format!("Ann's confirmation never arrived: {page}")
        })?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (who, api) in [
        ("no token", Api::new(&t.base_url)),
        (
            "a forged token",
            Api::new(&t.base_url).with_token("eyJhbGciOiJub25lIn0.e30."),
        ),
    ] {
        let reply = api.get(MAILBOX).await?;
        let text = reply.describe();
        reply.expect_status(401).with_context(|| who.to_owned())?;
        check::that(!text.contains(&order.id), || {
            format!("{who}: nothing of the mailbox in the refusal, got {text}")
        })?;
    }
    let bobs = bob.api.get(MAILBOX).await?.expect_value(200)?;
    check::eq(
        "another customer's mailbox",
        &bobs["total"],
        &serde_json::json!(0),
    )
}

async fn hostile_mailbox_parameters_are_400_and_never_a_page(t: Target) -> Result<()> {
    let customer = fixtures::customer(&t).await?;
    let long = "9".repeat(10_000);
    let paths = [
        format!("{MAILBOX}?limit=0"),
        format!("{MAILBOX}?limit=100000"),
        format!("{MAILBOX}?page=0"),
        format!("{MAILBOX}?page=-1"),
        format!("{MAILBOX}?page={long}"),
        format!("{MAILBOX}?limit=1%00"),
        format!("{MAILBOX}?page[$gt]=1"),
        format!("{MAILBOX}?limit=1&limit=2"),
        format!("{MAILBOX}?user_id=000000000000000000000000"),
    ];
    crate::hostile05::views::each_is_400_and_never_a_page(&customer.api, &paths).await
}
