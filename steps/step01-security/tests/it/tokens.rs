//! Access tokens: what a good one carries, and the hand-made hostile ones, each answered with
//! the same bare 401 as no token at all (RFC 8725: pin the algorithm, check every claim).

use axum::body::Body;
use axum::http::Request;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{Step, StepConfig};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::SecretString;
use serde_json::{Value, json};
use step01_security::Config;
use step01_security::config::DEFAULT_TOKEN_KID;
use step01_security::tokens::{AccessTokens, RevokedSessions};
use testkit::app::TEST_JWT_SECRET;
use testkit::expect_status;
use tower::ServiceExt;

use crate::support::Sessions as _;
use crate::support::{App, bare_401, decode_parts};

#[tokio::test]
async fn an_access_token_carries_every_required_claim_a_kid_and_lives_15_minutes() {
    let app = App::spawn().await;
    let (_, session) = app.customer_session().await;
    let (header, claims) = decode_parts(&session.access);
    assert_eq!(header["alg"], "HS256");
    assert_eq!(header["kid"], DEFAULT_TOKEN_KID);
    for claim in [
        "iss", "aud", "sub", "exp", "iat", "nbf", "jti", "sid", "role",
    ] {
        assert!(claims.get(claim).is_some(), "claim {claim} in {claims}");
    }
    assert_eq!(claims["iss"], "stepwise-shop");
    assert_eq!(claims["aud"], "stepwise-shop-api");
    assert_eq!(claims["sub"], session.user_id.as_str());
    assert_eq!(claims["sid"], session.session_id.as_str());
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );
    let (_, again) = decode_parts(&sign_in_fresh_token(&app, &session).await);
    assert_ne!(again["jti"], claims["jti"], "every token has its own jti");
    expect_status(app.me(&session.access).await, 200).await;
}

/// Another access token of the same session, through a refresh.
async fn sign_in_fresh_token(app: &App, session: &crate::support::Session) -> String {
    let body = expect_status(app.refresh(&session.refresh).await, 200).await;
    body["access_token"].as_str().unwrap().to_owned()
}

/// Claims of a valid token, re-signed with `alg` and `secret` under `kid`, after `edit`.
fn forge(
    claims: &Value,
    alg: Algorithm,
    secret: &[u8],
    kid: Option<&str>,
    edit: impl FnOnce(&mut Value),
) -> String {
    let mut claims = claims.clone();
    edit(&mut claims);
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret)).unwrap()
}

fn with_header(token: &str, header: Value) -> String {
    let rest = token.split_once('.').unwrap().1;
    format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header.to_string()))
}

/// The hostile list: (what, token). Every one is built from a genuine token's claims, so each
/// differs from an accepted token in exactly the way its name says.
fn hostile_tokens(genuine: &str) -> Vec<(&'static str, String)> {
    let (_, claims) = decode_parts(genuine);
    let secret = TEST_JWT_SECRET.as_bytes();
    let kid = Some(DEFAULT_TOKEN_KID);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let (head, rest) = genuine.split_once('.').unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();
    let ok = |_: &mut Value| {};
    vec![
        (
            "alg none, no signature",
            format!(
                "{}.{payload}.",
                URL_SAFE_NO_PAD
                    .encode(json!({"alg":"none","typ":"JWT","kid":"primary"}).to_string())
            ),
        ),
        (
            "alg None in another case",
            with_header(genuine, json!({"alg":"None","kid":"primary"})),
        ),
        ("an empty signature", format!("{head}.{payload}.")),
        (
            "a truncated signature",
            format!("{head}.{payload}.{}", &signature[..signature.len() / 2]),
        ),
        (
            "HS256 signed with the wrong key",
            forge(
                &claims,
                Algorithm::HS256,
                b"another-secret-that-is-long-enough!!",
                kid,
                ok,
            ),
        ),
        (
            "HS512 signed with the right key (algorithm swapped)",
            forge(&claims, Algorithm::HS512, secret, kid, ok),
        ),
        (
            "RS256 in the header over an HS256 signature",
            with_header(genuine, json!({"alg":"RS256","typ":"JWT","kid":"primary"})),
        ),
        (
            "no exp",
            forge(&claims, Algorithm::HS256, secret, kid, |c| {
                c.as_object_mut().unwrap().remove("exp");
            }),
        ),
        (
            "exp in the past",
            forge(&claims, Algorithm::HS256, secret, kid, |c| {
                c["iat"] = json!(now - 3600);
                c["nbf"] = json!(now - 3600);
                c["exp"] = json!(now - 600);
            }),
        ),
        (
            "nbf in the future",
            forge(&claims, Algorithm::HS256, secret, kid, |c| {
                c["nbf"] = json!(now + 600);
            }),
        ),
        (
            "iat in the future",
            forge(&claims, Algorithm::HS256, secret, kid, |c| {
                c["iat"] = json!(now + 600);
            }),
        ),
        (
            "the wrong aud",
            forge(&claims, Algorithm::HS256, secret, kid, |c| {
                c["aud"] = json!("another-api");
            }),
        ),
        (
            "no aud (a step-0 style token)",
            forge(&claims, Algorithm::HS256, secret, kid, |c| {
                c.as_object_mut().unwrap().remove("aud");
            }),
        ),
        (
            "the wrong iss",
            forge(&claims, Algorithm::HS256, secret, kid, |c| {
                c["iss"] = json!("https://evil.example");
            }),
        ),
        (
            "no jti",
            forge(&claims, Algorithm::HS256, secret, kid, |c| {
                c.as_object_mut().unwrap().remove("jti");
            }),
        ),
        (
            "a sub that is not a user id",
            forge(&claims, Algorithm::HS256, secret, kid, |c| {
                c["sub"] = json!("admin");
            }),
        ),
        (
            "role edited to admin",
            forge(
                &claims,
                Algorithm::HS256,
                b"guessing-the-secret-is-not-enough!!!",
                kid,
                |c| {
                    c["role"] = json!("admin");
                },
            ),
        ),
        (
            "an unknown kid",
            forge(&claims, Algorithm::HS256, secret, Some("k-unknown"), ok),
        ),
        ("no kid", forge(&claims, Algorithm::HS256, secret, None, ok)),
        ("two segments only", format!("{head}.{payload}")),
        ("not base64", "%%%.%%%.%%%".to_owned()),
        (
            "a 100 KB token",
            format!("{head}.{}.{signature}", "A".repeat(100 * 1024)),
        ),
    ]
}

#[tokio::test]
async fn every_hand_made_hostile_token_is_answered_401_without_detail() {
    let app = App::spawn().await;
    let (_, session) = app.customer_session().await;
    let reference = bare_401(app.me("").await).await;
    // The genuine token works, so every 401 below is the forgery's doing.
    expect_status(app.me(&session.access).await, 200).await;
    for (what, token) in hostile_tokens(&session.access) {
        let body = bare_401(app.me(&token).await).await;
        assert_eq!(
            body, reference,
            "{what}: the 401 must not say what was wrong"
        );
        // Also on an admin route: a forged token never reaches the role check (403).
        let admin_route = app.post("/api/v1/products", Some(&token), json!({})).await;
        assert_eq!(admin_route.status(), 401, "{what} on an admin route");
    }
}

#[tokio::test]
async fn a_1_mb_token_is_refused_unread() {
    let app = App::spawn().await;
    let (_, session) = app.customer_session().await;
    let huge = format!("{}{}", session.access, "A".repeat(1024 * 1024));
    // Over the wire, the HTTP server refuses a 1 MB header before any handler runs (431);
    // whatever answers, it is never a success or a server error.
    let over_the_wire = app.me(&huge).await.status().as_u16();
    assert!(
        matches!(over_the_wire, 401 | 431),
        "a 1 MB bearer header got {over_the_wire}"
    );
    // In-process, past the HTTP parser: the app itself answers the bare 401.
    let router = app.state.router(&app.config);
    let response = router
        .oneshot(
            Request::get("/api/v1/auth/me")
                .header("authorization", format!("Bearer {huge}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["error"]["code"], "UNAUTHORIZED");
    assert!(
        !body.to_string().contains("AAAA"),
        "nothing of the token is echoed"
    );
}

fn ring(keys: &[(&str, &str)], signing: &str) -> AccessTokens {
    let mut config = Config::default();
    config.base.auth.jwt_secret = Some(SecretString::from(TEST_JWT_SECRET));
    for (kid, secret) in keys {
        config
            .security
            .tokens
            .keys
            .insert((*kid).to_owned(), SecretString::from(*secret));
    }
    config.security.tokens.signing_kid = Some(signing.to_owned());
    config.validate().unwrap();
    AccessTokens::new(&config, RevokedSessions::new(900, 5)).unwrap()
}

#[tokio::test]
async fn after_key_rotation_old_tokens_verify_until_their_key_is_retired() {
    use common::auth::TokenVerifier;
    use common::domain::{Role, UserId};
    const OLD: &str = "old-secret-old-secret-old-secret-xx";
    const NEW: &str = "new-secret-new-secret-new-secret-xx";
    let user = UserId::new();
    let before = ring(&[("k2025", OLD)], "k2025");
    let old_token = before
        .issue(user, Role::Customer, "65f000000000000000000001")
        .unwrap();

    // Rotation: the new key signs, the old one still verifies.
    let during = ring(&[("k2025", OLD), ("k2026", NEW)], "k2026");
    assert_eq!(during.verify(&old_token.token).unwrap().id, user);
    let new_token = during
        .issue(user, Role::Customer, "65f000000000000000000001")
        .unwrap();
    assert_eq!(decode_parts(&new_token.token).0["kid"], "k2026");

    // Retirement: the old key leaves the ring, and its tokens are refused.
    let after = ring(&[("k2026", NEW)], "k2026");
    assert!(after.verify(&old_token.token).is_err());
    assert_eq!(after.verify(&new_token.token).unwrap().id, user);
    // A token signed with the retired key's secret under the new kid is a forgery too.
    let (_, claims) = decode_parts(&old_token.token);
    let relabelled = forge(
        &claims,
        Algorithm::HS256,
        OLD.as_bytes(),
        Some("k2026"),
        |_| {},
    );
    assert!(after.verify(&relabelled).is_err());
}

#[tokio::test]
async fn a_token_of_a_revoked_session_is_refused_at_once() {
    let app = App::spawn().await;
    let (email, first) = app.customer_session().await;
    let second = app.sign_in(&email).await;
    let logout = app
        .post("/api/v1/auth/logout", Some(&first.access), json!({}))
        .await;
    expect_status(logout, 204).await;
    bare_401(app.me(&first.access).await).await;
    expect_status(app.me(&second.access).await, 200).await;
}
