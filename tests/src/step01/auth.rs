//! Access and refresh tokens, sessions, logout and password change, seen from a client.

use anyhow::{Context, Result};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Method;
use serde_json::{Value, json};

use crate::client::{API, Api};
use crate::fixtures::{self, Customer, PASSWORD};
use crate::{Case, Target, check};

pub(super) fn cases() -> Vec<Case> {
    crate::cases![
        login_returns_an_access_token_a_refresh_token_and_a_session_id,
        an_access_token_carries_kid_iss_aud_sub_jti_and_lives_at_most_15_minutes,
        refresh_returns_a_new_pair_that_works,
        a_refresh_token_used_twice_ends_its_whole_session,
        an_unknown_or_malformed_refresh_token_is_401,
        logout_ends_the_session_of_its_token_only,
        logout_all_ends_every_session_of_the_user,
        the_session_list_marks_the_current_session_and_can_revoke_another,
        a_password_change_ends_every_other_session,
        tokens_forged_without_the_key_are_401_without_detail,
    ]
}

/// The step-1 fields of a login or register answer.
struct Pair {
    access: String,
    refresh: String,
    session_id: String,
}

fn pair(body: &Value) -> Result<Pair> {
    let text = |key: &str| -> Result<String> {
        body[key]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .with_context(|| format!("expected a non-empty `{key}` in {body}"))
    };
    check::eq(
        "`token` (step 0's field) and `access_token`",
        &body["token"],
        &body["access_token"],
    )?;
    Ok(Pair {
        access: text("access_token")?,
        refresh: text("refresh_token")?,
        session_id: text("session_id")?,
    })
}

async fn login(t: &Target, customer: &Customer) -> Result<Pair> {
    let body = Api::new(&t.base_url)
        .login(&customer.email, &customer.password)
        .await?
        .expect_value(200)?;
    pair(&body)
}

async fn refresh(t: &Target, token: &str) -> Result<crate::client::Reply> {
    Api::new(&t.base_url)
        .post(
            &format!("{API}/auth/refresh"),
            &json!({ "refresh_token": token }),
        )
        .await
}

async fn me_status(t: &Target, access: &str) -> Result<u16> {
    Ok(Api::new(&t.base_url)
        .with_token(access)
        .me()
        .await?
        .status
        .as_u16())
}

fn jwt_part(token: &str, index: usize) -> Result<Value> {
    let segment = token
        .split('.')
        .nth(index)
        .with_context(|| format!("a JWT has three segments, got {token:?}"))?;
    Ok(serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment)?)?)
}

async fn login_returns_an_access_token_a_refresh_token_and_a_session_id(t: Target) -> Result<()> {
    let customer = fixtures::customer(&t).await?;
    let body = Api::new(&t.base_url)
        .login(&customer.email, &customer.password)
        .await?
        .expect_value(200)?;
    pair(&body)?;
    check::eq("token_type", body["token_type"].as_str(), Some("Bearer"))?;
    check::that(body["refresh_expires_in"].as_u64().unwrap_or(0) > 0, || {
        format!("expected a positive refresh_expires_in, got {body}")
    })
}

async fn an_access_token_carries_kid_iss_aud_sub_jti_and_lives_at_most_15_minutes(
    t: Target,
) -> Result<()> {
    let customer = fixtures::customer(&t).await?;
    let pair = login(&t, &customer).await?;
    let header = jwt_part(&pair.access, 0)?;
    check::that(header["kid"].is_string(), || {
        format!("expected a kid in the header, got {header}")
    })?;
    let claims = jwt_part(&pair.access, 1)?;
    for claim in ["iss", "aud", "sub", "exp", "iat", "jti"] {
        check::that(claims.get(claim).is_some(), || {
            format!("expected claim `{claim}`, got {claims}")
        })?;
    }
    check::eq(
        "sub",
        claims["sub"].as_str(),
        Some(customer.user.id.as_str()),
    )?;
    let lifetime = claims["exp"].as_i64().unwrap_or(i64::MAX) - claims["iat"].as_i64().unwrap_or(0);
    check::that((1..=900).contains(&lifetime), || {
        format!("expected an access token of at most 15 minutes, got {lifetime} s")
    })
}

async fn refresh_returns_a_new_pair_that_works(t: Target) -> Result<()> {
    let customer = fixtures::customer(&t).await?;
    let first = login(&t, &customer).await?;
    let next = pair(&refresh(&t, &first.refresh).await?.expect_value(200)?)?;
    check::that(next.refresh != first.refresh, || {
        "a refresh must hand out a new refresh token".to_owned()
    })?;
    check::eq(
        "session of the refreshed pair",
        &next.session_id,
        &first.session_id,
    )?;
    check::eq(
        "/auth/me with the refreshed token",
        me_status(&t, &next.access).await?,
        200,
    )
}

async fn a_refresh_token_used_twice_ends_its_whole_session(t: Target) -> Result<()> {
    let customer = fixtures::customer(&t).await?;
    let first = login(&t, &customer).await?;
    let next = pair(&refresh(&t, &first.refresh).await?.expect_value(200)?)?;
    refresh(&t, &first.refresh)
        .await?
        .expect_error(401, "UNAUTHORIZED")
        .context("replaying a used refresh token")?;
    refresh(&t, &next.refresh)
        .await?
        .expect_error(401, "UNAUTHORIZED")
        .context("the newest token of a family whose old token was replayed")?;
    Ok(())
}

async fn an_unknown_or_malformed_refresh_token_is_401(t: Target) -> Result<()> {
    let unknown = "A".repeat(43);
    for token in ["", "garbage", unknown.as_str()] {
        refresh(&t, token)
            .await?
            .expect_error(401, "UNAUTHORIZED")
            .with_context(|| format!("refreshing with {token:?}"))?;
    }
    Ok(())
}

async fn logout_ends_the_session_of_its_token_only(t: Target) -> Result<()> {
    let customer = fixtures::customer(&t).await?;
    let (a, b) = (login(&t, &customer).await?, login(&t, &customer).await?);
    Api::new(&t.base_url)
        .with_token(&a.access)
        .post(&format!("{API}/auth/logout"), &json!({}))
        .await?
        .expect_status(204)?;
    refresh(&t, &a.refresh)
        .await?
        .expect_error(401, "UNAUTHORIZED")
        .context("the refresh token of a logged-out session")?;
    check::eq(
        "/auth/me in the other session",
        me_status(&t, &b.access).await?,
        200,
    )?;
    refresh(&t, &b.refresh).await?.expect_status(200)?;
    Ok(())
}

async fn logout_all_ends_every_session_of_the_user(t: Target) -> Result<()> {
    let customer = fixtures::customer(&t).await?;
    let (a, b) = (login(&t, &customer).await?, login(&t, &customer).await?);
    Api::new(&t.base_url)
        .with_token(&a.access)
        .post(&format!("{API}/auth/logout-all"), &json!({}))
        .await?
        .expect_status(200)?;
    for (what, session) in [("this", &a), ("the other", &b)] {
        refresh(&t, &session.refresh)
            .await?
            .expect_error(401, "UNAUTHORIZED")
            .with_context(|| format!("refreshing {what} session after logout-all"))?;
    }
    Ok(())
}

async fn the_session_list_marks_the_current_session_and_can_revoke_another(
    t: Target,
) -> Result<()> {
    let customer = fixtures::customer(&t).await?;
    let (old, current) = (login(&t, &customer).await?, login(&t, &customer).await?);
    let api = Api::new(&t.base_url).with_token(&current.access);
    let list = api
        .get(&format!("{API}/auth/sessions"))
        .await?
        .expect_value(200)?;
    let items = list["items"].as_array().cloned().unwrap_or_default();
    let marked: Vec<&Value> = items.iter().filter(|s| s["current"] == true).collect();
    check::eq("sessions marked current", marked.len(), 1)?;
    check::eq(
        "the current session",
        marked[0]["id"].as_str(),
        Some(current.session_id.as_str()),
    )?;
    check::that(
        items.iter().any(|s| s["id"] == old.session_id.as_str()),
        || format!("expected the older session {} in {list}", old.session_id),
    )?;
    api.send(api.request(
        Method::DELETE,
        &format!("{API}/auth/sessions/{}", old.session_id),
    ))
    .await?
    .expect_status(204)?;
    refresh(&t, &old.refresh)
        .await?
        .expect_error(401, "UNAUTHORIZED")
        .context("the refresh token of a revoked session")?;
    Ok(())
}

async fn a_password_change_ends_every_other_session(t: Target) -> Result<()> {
    let customer = fixtures::customer(&t).await?;
    let (other, here) = (login(&t, &customer).await?, login(&t, &customer).await?);
    let new_password = format!("{PASSWORD}-changed");
    Api::new(&t.base_url)
        .with_token(&here.access)
        .post(
            &format!("{API}/auth/password"),
            &json!({ "current_password": customer.password, "new_password": new_password }),
        )
        .await?
        .expect_status(200)?;
    refresh(&t, &other.refresh)
        .await?
        .expect_error(401, "UNAUTHORIZED")
        .context("another session after a password change")?;
    refresh(&t, &here.refresh).await?.expect_status(200)?;
    Api::new(&t.base_url)
        .login(&customer.email, &new_password)
        .await?
        .expect_status(200)?;
    Ok(())
}

async fn tokens_forged_without_the_key_are_401_without_detail(t: Target) -> Result<()> {
    let customer = fixtures::customer(&t).await?;
    let token = login(&t, &customer).await?.access;
    let mut parts = token.split('.');
    let (head, payload, signature) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let header = jwt_part(&token, 0)?;
    let encode = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    // The same payload and signature under an edited header: the signature covers the
    // header, so none of these can verify, whatever the server's key.
    let with_header = |edit: &dyn Fn(&mut Value)| {
        let mut h = header.clone();
        edit(&mut h);
        format!("{}.{payload}.{signature}", encode(&h))
    };
    let reference = Api::new(&t.base_url)
        .me()
        .await?
        .expect_error(401, "UNAUTHORIZED")?;
    let forged = [
        ("alg none", {
            let mut h = header.clone();
            h["alg"] = json!("none");
            format!("{}.{payload}.", encode(&h))
        }),
        (
            "alg swapped to HS512",
            with_header(&|h| h["alg"] = json!("HS512")),
        ),
        (
            "alg swapped to RS256",
            with_header(&|h| h["alg"] = json!("RS256")),
        ),
        (
            "an unknown kid",
            with_header(&|h| h["kid"] = json!("kid-that-does-not-exist")),
        ),
        ("an empty signature", format!("{head}.{payload}.")),
        (
            "a truncated signature",
            format!("{head}.{payload}.{}", &signature[..signature.len() / 2]),
        ),
    ];
    for (what, token) in forged {
        let error = Api::new(&t.base_url)
            .with_token(&token)
            .me()
            .await?
            .expect_error(401, "UNAUTHORIZED")
            .with_context(|| format!("a token with {what}"))?;
        check::eq(
            &format!("the 401 message for a token with {what}"),
            &error.message,
            &reference.message,
        )?;
        check::that(error.fields.is_empty(), || {
            format!("a 401 for {what} names no field")
        })?;
    }
    Ok(())
}
