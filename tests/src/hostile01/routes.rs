//! Step 1's routes under attack: bodies with trailing bytes, operator objects and control
//! characters on refresh, password change and the profile; another customer's session named
//! in a revocation. Each answer is the documented 4xx in the error shape, and nothing changes:
//! the refresh token still refreshes, the old password still signs in, the profile is as it
//! was, the other customer's session still works.

use anyhow::{Context, Result};
use reqwest::Method;
use serde_json::{Value, json};

use crate::client::{API, Api, Reply};
use crate::fixtures::{self, Customer, PASSWORD, UNKNOWN_ID};
use crate::hostile00::send_raw;
use crate::step01::profile::put_profile;
use crate::{Case, Target, check};

pub(super) fn cases() -> Vec<Case> {
    crate::cases![
        trailing_bytes_after_a_step_1_body_are_400_malformed_json_and_change_nothing,
        operator_objects_and_control_characters_in_step_1_bodies_are_422_naming_the_field,
        another_customers_session_answers_a_revocation_exactly_like_an_unknown_one,
    ]
}

/// A customer signed in once more, with that sign-in's refresh token and session id, and the
/// profile it saved.
struct SignedIn {
    customer: Customer,
    api: Api,
    refresh: String,
    session_id: String,
    profile: Value,
}

async fn signed_in(t: &Target) -> Result<SignedIn> {
    let customer = fixtures::customer(t).await?;
    let body = customer
        .api
        .anonymous()
        .login(&customer.email, PASSWORD)
        .await?
        .expect_value(200)?;
    let text = |key: &str| {
        body[key]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("`{key}` in the login answer {body}"))
    };
    let api = customer.api.with_token(text("access_token")?);
    let profile = put_profile(&api, &profile()).await?.expect_value(200)?;
    Ok(SignedIn {
        api,
        refresh: text("refresh_token")?,
        session_id: text("session_id")?,
        customer,
        profile,
    })
}

fn profile() -> Value {
    json!({
        "phone": "+44 20 7946 0958",
        "shipping_addresses": [{
            "name": "Hostile Customer", "line1": "1 Test Street", "city": "London",
            "postal_code": "EC1A 1BB", "country": "GB",
        }],
    })
}

async fn get_profile(api: &Api) -> Result<Reply> {
    api.get(&format!("{API}/profile")).await
}

impl SignedIn {
    /// Fails unless the refresh token still refreshes (once), the password still signs in and
    /// the profile reads as it was saved.
    async fn nothing_changed(&self) -> Result<()> {
        let read = get_profile(&self.api).await?.expect_value(200)?;
        check::eq("the profile", &read, &self.profile)?;
        self.api
            .anonymous()
            .login(&self.customer.email, PASSWORD)
            .await?
            .expect_status(200)
            .context("the password is unchanged")?;
        self.api
            .anonymous()
            .post(
                &format!("{API}/auth/refresh"),
                &json!({ "refresh_token": self.refresh }),
            )
            .await?
            .expect_status(200)
            .context("the refresh token was not used up")?;
        Ok(())
    }
}

async fn trailing_bytes_after_a_step_1_body_are_400_malformed_json_and_change_nothing(
    t: Target,
) -> Result<()> {
    let signed_in = signed_in(&t).await?;
    let routes = [
        (
            Method::POST,
            format!("{API}/auth/refresh"),
            json!({ "refresh_token": signed_in.refresh }),
        ),
        (
            Method::POST,
            format!("{API}/auth/password"),
            json!({ "current_password": PASSWORD, "new_password": "another-long-password" }),
        ),
        (
            Method::PUT,
            format!("{API}/profile"),
            fixtures::with(&profile(), "phone", json!("+44 20 7946 0000")),
        ),
    ];
    for (method, path, body) in routes {
        for tail in [" x", "{}", "\u{0}"] {
            send_raw(
                &signed_in.api,
                method.clone(),
                &path,
                Some("application/json"),
                format!("{body}{tail}"),
            )
            .await?
            .expect_error(400, "MALFORMED_JSON")
            .with_context(|| format!("{method} {path} with {tail:?} after the JSON"))?;
        }
    }
    signed_in.nothing_changed().await
}

async fn operator_objects_and_control_characters_in_step_1_bodies_are_422_naming_the_field(
    t: Target,
) -> Result<()> {
    let signed_in = signed_in(&t).await?;
    let api = &signed_in.api;
    // A refresh token matching "any token" would take over a session.
    api.anonymous()
        .post(
            &format!("{API}/auth/refresh"),
            &json!({ "refresh_token": { "$ne": "" } }),
        )
        .await?
        .expect_validation(&["refresh_token"])?;
    api.post(
        &format!("{API}/auth/password"),
        &json!({ "current_password": PASSWORD, "new_password": "another\u{0}long-password" }),
    )
    .await?
    .expect_validation(&["new_password"])?;
    api.post(
        &format!("{API}/auth/password"),
        &json!({ "current_password": { "$gt": "" }, "new_password": "another-long-password" }),
    )
    .await?
    .expect_validation(&["current_password"])?;
    for (field, value) in [
        ("name", "Hostile\u{1b}[2J Customer"),
        ("line1", "1 Test\u{0} Street"),
        ("city", "Lon\rdon"),
        ("postal_code", "EC1A\u{7f}1BB"),
    ] {
        let mut body = profile();
        body["shipping_addresses"][0][field] = json!(value);
        put_profile(api, &body)
            .await?
            .expect_validation(&[&format!("shipping_addresses[0].{field}")])
            .with_context(|| format!("an address whose {field} is {value:?}"))?;
    }
    signed_in.nothing_changed().await
}

async fn another_customers_session_answers_a_revocation_exactly_like_an_unknown_one(
    t: Target,
) -> Result<()> {
    let (victim, stranger) = futures::try_join!(signed_in(&t), fixtures::customer(&t))?;
    let theirs = stranger
        .api
        .delete(&format!("{API}/auth/sessions/{}", victim.session_id))
        .await?
        .expect_error(404, "NOT_FOUND")
        .context("revoking another customer's session")?;
    let unknown = stranger
        .api
        .delete(&format!("{API}/auth/sessions/{UNKNOWN_ID}"))
        .await?
        .expect_error(404, "NOT_FOUND")
        .context("revoking a session that does not exist")?;
    check::eq("the 404's message", theirs.message, unknown.message)?;
    victim
        .api
        .me()
        .await?
        .expect_status(200)
        .context("the victim's session still works")?;
    Ok(())
}
