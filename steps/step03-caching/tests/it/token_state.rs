//! Token and session state in Redis, seen from two app instances sharing one database and one
//! Redis prefix: a logout or a revoked family on one instance is refused on the other at once,
//! and the keys that say so live exactly as long as the tokens they refuse.

use redis::AsyncCommands;
use reqwest::Method;
use serde_json::{Value, json};
use testkit::app::TEST_PASSWORD;
use testkit::{expect_status, unique_email};

use crate::support::{App, Cached as _};

/// Registers a customer on `app`: the whole sign-in answer.
async fn sign_up(app: &App) -> Value {
    let response = app
        .register(&unique_email("tokens"), TEST_PASSWORD, "Token Tester")
        .await;
    expect_status(response, 201).await
}

async fn me_status(app: &App, token: &str) -> u16 {
    app.get("/api/v1/auth/me", Some(token))
        .await
        .status()
        .as_u16()
}

async fn graphql_me_status(app: &App, token: &str) -> u16 {
    app.post(
        "/graphql",
        Some(token),
        json!({ "query": "{ me { email } }" }),
    )
    .await
    .status()
    .as_u16()
}

async fn refresh(app: &App, refresh_token: &str) -> reqwest::Response {
    app.post(
        "/api/v1/auth/refresh",
        None,
        json!({ "refresh_token": refresh_token }),
    )
    .await
}

fn text<'a>(body: &'a Value, field: &str) -> &'a str {
    body[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} in {body}"))
}

#[tokio::test]
async fn a_logged_out_access_token_is_refused_at_once_on_both_instances() {
    let a = App::spawn().await;
    let b = a.beside().spawn().await;
    let signed_in = sign_up(&a).await;
    let access = text(&signed_in, "access_token");
    assert_eq!(me_status(&a, access).await, 200);
    assert_eq!(me_status(&b, access).await, 200);
    assert_eq!(graphql_me_status(&b, access).await, 200);

    let logout = a.post("/api/v1/auth/logout", Some(access), json!({})).await;
    assert_eq!(logout.status(), 204);

    // No waiting, no polling: the very next request on either instance is refused.
    assert_eq!(me_status(&b, access).await, 401);
    assert_eq!(me_status(&a, access).await, 401);
    assert_eq!(graphql_me_status(&b, access).await, 401);
    // Orders are behind step 0's extractor, which now asks the same list.
    assert_eq!(b.get("/api/v1/orders", Some(access)).await.status(), 401);
}

#[tokio::test]
async fn a_session_revoked_on_one_instance_ends_only_that_session_everywhere() {
    let a = App::spawn().await;
    let b = a.beside().spawn().await;
    let first = sign_up(&a).await;
    let email = text(&first["user"], "email").to_owned();
    let second = expect_status(b.login(&email, TEST_PASSWORD).await, 200).await;
    let path = format!("/api/v1/auth/sessions/{}", text(&second, "session_id"));

    let revoke = b
        .request(
            Method::DELETE,
            &path,
            Some(text(&first, "access_token")),
            None,
        )
        .await;
    assert_eq!(revoke.status(), 204);

    assert_eq!(me_status(&a, text(&second, "access_token")).await, 401);
    assert_eq!(me_status(&a, text(&first, "access_token")).await, 200);
    assert_eq!(me_status(&b, text(&first, "access_token")).await, 200);
}

#[tokio::test]
async fn naming_another_users_session_lists_nothing_in_redis() {
    let a = App::spawn().await;
    let victim = sign_up(&a).await;
    let attacker = sign_up(&a).await;
    let path = format!("/api/v1/auth/sessions/{}", text(&victim, "session_id"));

    let response = a
        .request(
            Method::DELETE,
            &path,
            Some(text(&attacker, "access_token")),
            None,
        )
        .await;
    assert_eq!(response.status(), 404);

    let mut redis = a.redis().connection().await.unwrap();
    let key = a
        .redis()
        .key(&format!("revoked:access:{}", text(&victim, "session_id")));
    let listed: bool = redis.exists(&key).await.unwrap();
    assert!(!listed, "{key} must not exist");
    assert_eq!(me_status(&a, text(&victim, "access_token")).await, 200);
}

#[tokio::test]
async fn a_revoked_refresh_family_is_refused_on_both_instances() {
    let a = App::spawn().await;
    let b = a.beside().spawn().await;
    let signed_in = sign_up(&a).await;
    // One rotation on B, so the family has a retired token and a live one.
    let rotated = expect_status(refresh(&b, text(&signed_in, "refresh_token")).await, 200).await;

    let logout = b
        .post(
            "/api/v1/auth/logout",
            Some(text(&rotated, "access_token")),
            json!({}),
        )
        .await;
    assert_eq!(logout.status(), 204);

    for app in [&a, &b] {
        let live = refresh(app, text(&rotated, "refresh_token")).await;
        assert_eq!(live.status(), 401);
    }
    let mut redis = a.redis().connection().await.unwrap();
    let family = a.redis().key(&format!(
        "revoked:family:{}",
        text(&signed_in, "session_id")
    ));
    let listed: bool = redis.exists(&family).await.unwrap();
    assert!(listed, "{family} is listed");
}

#[tokio::test]
async fn a_reused_refresh_token_on_one_instance_locks_the_thief_out_of_the_other() {
    let a = App::spawn().await;
    let b = a.beside().spawn().await;
    let signed_in = sign_up(&a).await;
    let stolen = text(&signed_in, "refresh_token");
    let legit = expect_status(refresh(&a, stolen).await, 200).await;

    // The thief replays the retired token on B: the whole family is revoked.
    assert_eq!(refresh(&b, stolen).await.status(), 401);

    assert_eq!(me_status(&a, text(&legit, "access_token")).await, 401);
    assert_eq!(
        refresh(&a, text(&legit, "refresh_token")).await.status(),
        401
    );
}

#[tokio::test]
async fn revocation_keys_live_exactly_as_long_as_the_tokens_they_refuse() {
    let a = App::spawn().await;
    let tokens = a.config.security.tokens.clone();
    let signed_in = sign_up(&a).await;
    let sid = text(&signed_in, "session_id");
    let logout = a
        .post(
            "/api/v1/auth/logout",
            Some(text(&signed_in, "access_token")),
            json!({}),
        )
        .await;
    assert_eq!(logout.status(), 204);

    let mut redis = a.redis().connection().await.unwrap();
    let access_ttl: i64 = redis
        .ttl(a.redis().key(&format!("revoked:access:{sid}")))
        .await
        .unwrap();
    let family_ttl: i64 = redis
        .ttl(a.redis().key(&format!("revoked:family:{sid}")))
        .await
        .unwrap();
    // An access token is accepted up to its lifetime plus the clock leeway; a refresh token
    // for its lifetime. A few seconds of slack for the time the test itself takes.
    let accepted = i64::try_from(tokens.access_ttl_secs + tokens.leeway_secs).unwrap();
    let refresh = i64::try_from(tokens.refresh_ttl_secs).unwrap();
    assert!(
        (accepted - 5..=accepted).contains(&access_ttl),
        "access deny-list TTL {access_ttl}, expected about {accepted}"
    );
    assert!(
        (refresh - 5..=refresh).contains(&family_ttl),
        "family TTL {family_ttl}, expected about {refresh}"
    );
}
