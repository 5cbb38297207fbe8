//! `/profile`: the encrypted fields round-trip for their owner, are validated, and are
//! nobody else's business.

use anyhow::Result;
use reqwest::Method;
use serde_json::{Value, json};

use crate::client::{API, Api};
use crate::fixtures;
use crate::{Case, Target, check};

pub(super) fn cases() -> Vec<Case> {
    crate::cases![
        a_profile_round_trips_through_put_and_get,
        a_profile_field_that_breaks_its_rule_is_422_naming_it,
        the_profile_needs_a_signed_in_user,
    ]
}

pub(crate) async fn put_profile(api: &Api, body: &Value) -> Result<crate::client::Reply> {
    api.send(
        api.request(Method::PUT, &format!("{API}/profile"))
            .json(body),
    )
    .await
}

async fn a_profile_round_trips_through_put_and_get(t: Target) -> Result<()> {
    let customer = fixtures::customer(&t).await?;
    let body = json!({
        "phone": "+44 20 7946 0958",
        "shipping_addresses": [{
            "name": "Contract Customer", "line1": "1 Test Street", "city": "London",
            "postal_code": "EC1A 1BB", "country": "GB",
        }],
        "payment_method": "pm_contract_test",
    });
    let saved = put_profile(&customer.api, &body).await?.expect_value(200)?;
    let read = customer
        .api
        .get(&format!("{API}/profile"))
        .await?
        .expect_value(200)?;
    check::eq("profile read back", &read, &saved)?;
    check::eq(
        "payment method",
        read["payment_method"].as_str(),
        Some("pm_contract_test"),
    )?;
    check::eq(
        "first address line",
        read["shipping_addresses"][0]["line1"].as_str(),
        Some("1 Test Street"),
    )?;
    // Another customer sees their own (empty) profile, not this one.
    let stranger = fixtures::customer(&t).await?;
    let theirs = stranger
        .api
        .get(&format!("{API}/profile"))
        .await?
        .expect_value(200)?;
    check::eq("a stranger's phone", &theirs["phone"], &Value::Null)
}

async fn a_profile_field_that_breaks_its_rule_is_422_naming_it(t: Target) -> Result<()> {
    let customer = fixtures::customer(&t).await?;
    for (body, field) in [
        (json!({ "phone": "not a number" }), "phone"),
        (
            json!({ "payment_method": "4111 1111 1111 1111" }),
            "payment_method",
        ),
    ] {
        put_profile(&customer.api, &body)
            .await?
            .expect_validation(&[field])?;
    }
    Ok(())
}

async fn the_profile_needs_a_signed_in_user(t: Target) -> Result<()> {
    Api::new(&t.base_url)
        .get(&format!("{API}/profile"))
        .await?
        .expect_error(401, "UNAUTHORIZED")?;
    Ok(())
}
