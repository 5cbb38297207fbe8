//! Registration, login and `/auth/me`: who may sign up, what a session looks like, and that
//! no malformed, tampered or forged token is ever accepted. Error answers for login are
//! deliberately indistinguishable, so an attacker cannot probe which emails exist.

use anyhow::{Context, Result, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Method;
use reqwest::header::AUTHORIZATION;
use serde_json::{Value, json};

use crate::client::{API, Api};
use crate::fixtures::{self, PASSWORD, unique_email};
use crate::model::{LoggedIn, Registered, User};
use crate::{Case, Target, check};

pub(super) fn cases() -> Vec<Case> {
    crate::cases![
        register_returns_201_with_a_customer_user_and_a_working_token,
        register_ignores_a_role_field_and_always_makes_a_customer,
        registering_a_taken_email_is_409_email_taken,
        registering_the_same_email_in_another_letter_case_is_409_email_taken,
        register_with_an_invalid_email_is_422_naming_email,
        register_with_a_password_shorter_than_8_chars_is_422_naming_password,
        register_with_an_empty_or_101_char_name_is_422_naming_name,
        register_accepts_an_8_char_password_and_a_100_char_name,
        login_returns_200_with_a_bearer_token_its_lifetime_and_the_user,
        login_with_a_wrong_password_is_401_with_the_same_message_as_an_unknown_email,
        login_accepts_the_email_in_another_letter_case,
        the_configured_admin_logs_in_with_role_admin,
        me_returns_the_signed_in_user,
        me_without_a_token_is_401,
        me_with_a_malformed_token_is_401,
        me_with_a_token_tampered_in_signature_or_payload_is_401,
        me_with_a_non_bearer_scheme_is_401,
        a_customer_token_edited_to_claim_admin_is_401_and_creates_nothing,
        an_unsigned_alg_none_token_is_401,
    ]
}

/// The checks every User object must pass, wherever it appears.
fn check_user(what: &str, user: &Value) -> Result<User> {
    check::no_secrets(what, user)?;
    let parsed: User = serde_json::from_value(user.clone())
        .with_context(|| format!("{what}: expected a User object, got {user}"))?;
    check::object_id(&format!("{what} id"), &parsed.id)?;
    check::rfc3339(&format!("{what} created_at"), &parsed.created_at)?;
    Ok(parsed)
}

async fn register_returns_201_with_a_customer_user_and_a_working_token(t: Target) -> Result<()> {
    let api = Api::new(&t.base_url);
    let email = unique_email();
    let body = api
        .register(&email, PASSWORD, "Ada Lovelace")
        .await?
        .expect_value(201)?;
    let user = check_user("registered user", &body["user"])?;
    check::eq("registered email", user.email.to_lowercase(), email.clone())?;
    check::eq("registered name", user.name.as_str(), "Ada Lovelace")?;
    check::eq("registered role", user.role.as_str(), "customer")?;
    let token = body["token"].as_str().unwrap_or_default();
    check::that(!token.is_empty(), || {
        format!("expected a token, got {body}")
    })?;

    let me: User = api.with_token(token).me().await?.expect_json(200)?;
    check::eq("/auth/me with the new token", me, user)
}

async fn register_ignores_a_role_field_and_always_makes_a_customer(t: Target) -> Result<()> {
    let api = Api::new(&t.base_url);
    let body = json!({
        "email": unique_email(), "password": PASSWORD, "name": "Mallory", "role": "admin",
    });
    let registered: Registered = api.register_raw(&body).await?.expect_json(201)?;
    check::eq(
        "role of a user who asked for admin",
        registered.user.role.as_str(),
        "customer",
    )?;
    let me: User = api
        .with_token(&registered.token)
        .me()
        .await?
        .expect_json(200)?;
    check::eq("role seen by /auth/me", me.role.as_str(), "customer")?;
    // And the token really carries no admin power.
    api.with_token(&registered.token)
        .create_product(&fixtures::product_body(100, 1))
        .await?
        .expect_error(403, "FORBIDDEN")?;
    Ok(())
}

async fn registering_a_taken_email_is_409_email_taken(t: Target) -> Result<()> {
    let customer = fixtures::customer(&t).await?;
    Api::new(&t.base_url)
        .register(&customer.email, "another-password-1", "Someone Else")
        .await?
        .expect_error(409, "EMAIL_TAKEN")?;
    Ok(())
}

async fn registering_the_same_email_in_another_letter_case_is_409_email_taken(
    t: Target,
) -> Result<()> {
    let api = Api::new(&t.base_url);
    let email = unique_email();
    api.register(&email.to_uppercase(), PASSWORD, "Upper")
        .await?
        .expect_status(201)?;
    api.register(&email, PASSWORD, "Lower")
        .await?
        .expect_error(409, "EMAIL_TAKEN")?;
    Ok(())
}

async fn register_with_an_invalid_email_is_422_naming_email(t: Target) -> Result<()> {
    let api = Api::new(&t.base_url);
    for email in ["not-an-email", "", "@example.test", "two@@example.test"] {
        api.register(email, PASSWORD, "Bad Email")
            .await?
            .expect_validation(&["email"])
            .with_context(|| format!("registering with email {email:?}"))?;
    }
    Ok(())
}

async fn register_with_a_password_shorter_than_8_chars_is_422_naming_password(
    t: Target,
) -> Result<()> {
    let api = Api::new(&t.base_url);
    for password in ["", "short", "1234567"] {
        api.register(&unique_email(), password, "Short Password")
            .await?
            .expect_validation(&["password"])
            .with_context(|| format!("registering with a {}-char password", password.len()))?;
    }
    Ok(())
}

async fn register_with_an_empty_or_101_char_name_is_422_naming_name(t: Target) -> Result<()> {
    let api = Api::new(&t.base_url);
    for name in [String::new(), "n".repeat(101)] {
        api.register(&unique_email(), PASSWORD, &name)
            .await?
            .expect_validation(&["name"])
            .with_context(|| format!("registering with a {}-char name", name.len()))?;
    }
    Ok(())
}

async fn register_accepts_an_8_char_password_and_a_100_char_name(t: Target) -> Result<()> {
    let api = Api::new(&t.base_url);
    let email = unique_email();
    let name = "n".repeat(100);
    let registered: Registered = api
        .register(&email, "12345678", &name)
        .await?
        .expect_json(201)?;
    check::eq("stored name", registered.user.name, name)?;
    api.login(&email, "12345678").await?.expect_status(200)?;
    Ok(())
}

async fn login_returns_200_with_a_bearer_token_its_lifetime_and_the_user(t: Target) -> Result<()> {
    let customer = fixtures::customer(&t).await?;
    let api = Api::new(&t.base_url);
    let body = api
        .login(&customer.email, &customer.password)
        .await?
        .expect_value(200)?;
    let user = check_user("logged-in user", &body["user"])?;
    let logged_in: LoggedIn = serde_json::from_value(body.clone())
        .with_context(|| format!("expected a login answer, got {body}"))?;
    check::eq("token_type", logged_in.token_type.as_str(), "Bearer")?;
    check::that(logged_in.expires_in > 0, || {
        format!(
            "expected a positive expires_in, got {}",
            logged_in.expires_in
        )
    })?;
    check::eq("logged-in user", &user, &customer.user)?;
    let me: User = api
        .with_token(&logged_in.token)
        .me()
        .await?
        .expect_json(200)?;
    check::eq("/auth/me with the login token", me, customer.user)
}

async fn login_with_a_wrong_password_is_401_with_the_same_message_as_an_unknown_email(
    t: Target,
) -> Result<()> {
    let customer = fixtures::customer(&t).await?;
    let api = Api::new(&t.base_url);
    let wrong_password = api
        .login(&customer.email, "not-the-password-1")
        .await?
        .expect_error(401, "UNAUTHORIZED")?;
    let unknown_email = api
        .login(&unique_email(), PASSWORD)
        .await?
        .expect_error(401, "UNAUTHORIZED")?;
    check::eq(
        "message for a wrong password vs. for an unknown email",
        wrong_password.message,
        unknown_email.message,
    )
}

async fn login_accepts_the_email_in_another_letter_case(t: Target) -> Result<()> {
    let customer = fixtures::customer(&t).await?;
    let logged_in: LoggedIn = Api::new(&t.base_url)
        .login(&customer.email.to_uppercase(), &customer.password)
        .await?
        .expect_json(200)?;
    check::eq("user id", logged_in.user.id, customer.user.id)
}

async fn the_configured_admin_logs_in_with_role_admin(t: Target) -> Result<()> {
    let logged_in: LoggedIn = Api::new(&t.base_url)
        .login(&t.admin_email, &t.admin_password)
        .await?
        .expect_json(200)
        .context("logging in with the target's admin credentials")?;
    check::eq("admin role", logged_in.user.role.as_str(), "admin")
}

async fn me_returns_the_signed_in_user(t: Target) -> Result<()> {
    let customer = fixtures::customer_named(&t, "Grace Hopper").await?;
    let body = customer.api.me().await?.expect_value(200)?;
    let me = check_user("/auth/me", &body)?;
    check::eq("/auth/me", &me, &customer.user)?;
    check::eq("name", me.name.as_str(), "Grace Hopper")
}

async fn me_without_a_token_is_401(t: Target) -> Result<()> {
    Api::new(&t.base_url)
        .me()
        .await?
        .expect_error(401, "UNAUTHORIZED")?;
    Ok(())
}

async fn me_with_authorization(t: &Target, authorization: &str) -> Result<()> {
    let api = Api::new(&t.base_url);
    let request = api
        .request(Method::GET, &format!("{API}/auth/me"))
        .header(AUTHORIZATION, authorization);
    api.send(request)
        .await?
        .expect_error(401, "UNAUTHORIZED")
        .with_context(|| format!("GET /auth/me with `Authorization: {authorization}`"))?;
    Ok(())
}

async fn me_with_a_malformed_token_is_401(t: Target) -> Result<()> {
    for authorization in ["Bearer abc", "Bearer ", "Bearer a.b.c", "Bearer ...."] {
        me_with_authorization(&t, authorization).await?;
    }
    Ok(())
}

/// `token` with the character in the middle of JWT segment `segment` replaced. Middle, not
/// last: the last base64url character of a segment may carry only padding bits.
fn flip_in_segment(token: &str, segment: usize) -> Result<String> {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    if parts.len() != 3 {
        bail!("expected a JWT with three segments, got {token:?}");
    }
    let part = &mut parts[segment];
    let middle = part.len() / 2;
    let replacement = if part.as_bytes()[middle] == b'A' {
        "B"
    } else {
        "A"
    };
    part.replace_range(middle..=middle, replacement);
    Ok(parts.join("."))
}

async fn me_with_a_token_tampered_in_signature_or_payload_is_401(t: Target) -> Result<()> {
    let customer = fixtures::customer(&t).await?;
    let token = customer.api.token().unwrap_or_default().to_owned();
    // The untouched token works, so a 401 below is caused by the tampering.
    customer.api.me().await?.expect_status(200)?;
    for (segment, what) in [(2, "signature"), (1, "payload")] {
        let tampered = flip_in_segment(&token, segment)?;
        me_with_authorization(&t, &format!("Bearer {tampered}"))
            .await
            .with_context(|| format!("a token with one character of its {what} changed"))?;
    }
    Ok(())
}

async fn me_with_a_non_bearer_scheme_is_401(t: Target) -> Result<()> {
    let customer = fixtures::customer(&t).await?;
    let token = customer.api.token().unwrap_or_default().to_owned();
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", customer.email, customer.password));
    for authorization in [format!("Basic {basic}"), format!("Token {token}"), token] {
        me_with_authorization(&t, &authorization).await?;
    }
    Ok(())
}

/// The token's payload, decoded, changed by `edit`, re-encoded; header and signature kept.
pub(crate) fn edit_payload(token: &str, edit: impl FnOnce(&mut Value)) -> Result<String> {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        bail!("expected a JWT with three segments, got {token:?}");
    }
    let mut payload: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(parts[1])
            .context("the token payload is not base64url")?,
    )
    .context("the token payload is not JSON")?;
    edit(&mut payload);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&payload)?);
    Ok(format!("{}.{}.{}", parts[0], payload, parts[2]))
}

async fn a_customer_token_edited_to_claim_admin_is_401_and_creates_nothing(
    t: Target,
) -> Result<()> {
    let customer = fixtures::customer(&t).await?;
    let forged = edit_payload(customer.api.token().unwrap_or_default(), |payload| {
        payload["role"] = json!("admin");
    })?;
    let forger = customer.api.with_token(forged);
    forger.me().await?.expect_error(401, "UNAUTHORIZED")?;
    let body = fixtures::product_body(100, 1);
    forger
        .create_product(&body)
        .await?
        .expect_error(401, "UNAUTHORIZED")
        .context("creating a product with a forged admin token")?;
    Ok(())
}

async fn an_unsigned_alg_none_token_is_401(t: Target) -> Result<()> {
    let customer = fixtures::customer(&t).await?;
    let token = customer.api.token().unwrap_or_default();
    let payload = token.split('.').nth(1).unwrap_or_default();
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    me_with_authorization(&t, &format!("Bearer {header}.{payload}."))
        .await
        .context("a token with alg none and no signature")
}
