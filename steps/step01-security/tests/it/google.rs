//! Sign in with Google, end to end against the local OpenID provider: the happy paths
//! (new account, linking by verified email, returning user) and every refusal the issue lists:
//! missing or mismatched state, replayed state or code, wrong audience, wrong nonce, expired
//! ID token, unverified email matching an existing account, an external `next` target; plus
//! forged signatures, algorithm confusion, a callback from another browser, and a provider
//! that is down.

use std::sync::atomic::Ordering;

use mongodb::bson::{Document, doc};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use serde_json::Value;
use testkit::app::TEST_PASSWORD;
use testkit::{expect_error, expect_status, unique_email};

use crate::oidc::{self, Identity, Provider, REDIRECT_URI, Spoil};
use crate::support::Sessions as _;
use crate::support::{App, bare_401};

/// The app and the provider it trusts.
async fn spawn_google() -> (App, Provider) {
    let provider = Provider::start().await;
    let base = provider.base_url.clone();
    let app = App::spawn_with(move |config| oidc::configure(&base, config)).await;
    (app, provider)
}

/// A browser that does not follow redirects, so each hop can be looked at.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

/// One sign-in, stopped just before the browser returns to the app.
struct Pending {
    /// The callback's path and query, e.g. `/api/v1/auth/google/callback?code=..&state=..`.
    callback: String,
    cookie: String,
    authorize_url: String,
}

impl Pending {
    fn param(&self, name: &str) -> String {
        let url = reqwest::Url::parse(&format!("http://x{}", self.callback)).unwrap();
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    }
}

/// Starts a sign-in at the app and lets the provider approve it.
async fn begin(app: &App, query: &str) -> Pending {
    let browser = browser();
    let start = browser
        .get(app.url(&format!("/api/v1/auth/google/start{query}")))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 302, "start redirects to the provider");
    let authorize_url = start.headers()[LOCATION].to_str().unwrap().to_owned();
    let set_cookie = start.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"));
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let approved = browser.get(&authorize_url).send().await.unwrap();
    assert_eq!(approved.status(), 302, "the provider approves");
    let back = approved.headers()[LOCATION].to_str().unwrap().to_owned();
    let callback = back
        .strip_prefix("http://shop.localhost")
        .expect("back to the registered redirect URI")
        .to_owned();
    Pending {
        callback,
        cookie,
        authorize_url,
    }
}

/// Returns to the app with the browser's cookie.
async fn finish(app: &App, callback: &str, cookie: Option<&str>) -> reqwest::Response {
    let mut request = browser().get(app.url(callback));
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    request.send().await.unwrap()
}

async fn complete(app: &App, pending: &Pending) -> reqwest::Response {
    finish(app, &pending.callback, Some(&pending.cookie)).await
}

async fn identities(app: &App) -> u64 {
    app.database()
        .collection::<Document>("identities")
        .count_documents(doc! {})
        .await
        .unwrap()
}

#[tokio::test]
async fn a_new_google_user_gets_an_account_and_a_session_and_lands_on_next() {
    let (app, provider) = spawn_google().await;
    let email = unique_email("g");
    provider.sign_in_as(Identity::verified(&email));
    let pending = begin(&app, "?next=/orders%3Fpage%3D2").await;

    // What the app asked the provider for.
    let url = reqwest::Url::parse(&pending.authorize_url).unwrap();
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(
        q["redirect_uri"], REDIRECT_URI,
        "exactly the configured redirect URI"
    );
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["response_type"], "code");
    assert!(q["scope"].split(' ').any(|s| s == "openid"));
    for one_time in ["state", "nonce", "code_challenge"] {
        assert!(q[one_time].len() >= 43, "{one_time} carries 256 bits");
    }

    let body = expect_status(complete(&app, &pending).await, 200).await;
    assert_eq!(body["account"], "created");
    assert_eq!(body["next"], "/orders?page=2");
    assert_eq!(body["user"]["email"], email.as_str());
    assert_eq!(body["user"]["role"], "customer");
    let me = expect_status(app.me(body["token"].as_str().unwrap()).await, 200).await;
    assert_eq!(me["email"], email.as_str());
    assert_eq!(identities(&app).await, 1);

    // The same Google account again: the same user, no new account.
    let again = begin(&app, "").await;
    let body2 = expect_status(complete(&app, &again).await, 200).await;
    assert_eq!(body2["account"], "existing");
    assert_eq!(body2["user"]["id"], body["user"]["id"]);
    // The Google-only account has no password anyone knows.
    expect_error(app.login(&email, TEST_PASSWORD).await, 401, "UNAUTHORIZED").await;
}

#[tokio::test]
async fn a_verified_google_email_links_to_the_existing_account() {
    let (app, provider) = spawn_google().await;
    let (email, session) = app.customer_session().await;
    provider.sign_in_as(Identity::verified(&email));
    let body = expect_status(complete(&app, &begin(&app, "").await).await, 200).await;
    assert_eq!(body["account"], "linked");
    assert_eq!(body["user"]["id"], session.user_id.as_str());
    // The password still works too.
    expect_status(app.login(&email, TEST_PASSWORD).await, 200).await;
    let events = app
        .database()
        .collection::<Document>("audit_events")
        .count_documents(doc! { "user_id": &session.user_id, "kind": "google_linked" })
        .await
        .unwrap();
    assert_eq!(events, 1);
}

#[tokio::test]
async fn an_unverified_email_matching_an_existing_account_is_neither_linked_nor_signed_in() {
    let (app, provider) = spawn_google().await;
    let (email, _) = app.customer_session().await;
    provider.sign_in_as(Identity {
        email_verified: false,
        ..Identity::verified(&email)
    });
    let answer = complete(&app, &begin(&app, "").await).await;
    let body = expect_error(answer, 403, "EMAIL_NOT_VERIFIED").await;
    assert!(body.get("user").is_none() && body.get("token").is_none());
    assert_eq!(identities(&app).await, 0);
    // And an unverified email of nobody's account gets the very same answer: no enumeration,
    // and nobody can pre-claim an address they have not proven.
    provider.sign_in_as(Identity {
        email_verified: false,
        ..Identity::verified(&unique_email("unclaimed"))
    });
    let answer = complete(&app, &begin(&app, "").await).await;
    let other = expect_error(answer, 403, "EMAIL_NOT_VERIFIED").await;
    assert_eq!(other["error"]["message"], body["error"]["message"]);
    assert_eq!(identities(&app).await, 0);
}

#[tokio::test]
async fn a_missing_or_mismatched_state_is_400_and_reaches_no_provider() {
    let (app, provider) = spawn_google().await;
    provider.sign_in_as(Identity::verified(&unique_email("g")));
    let pending = begin(&app, "").await;
    let code = pending.param("code");
    let no_state = finish(
        &app,
        &format!("/api/v1/auth/google/callback?code={code}"),
        Some(&pending.cookie),
    )
    .await;
    let body = expect_error(no_state, 400, "INVALID_PARAMETER").await;
    assert_eq!(body["error"]["fields"][0]["field"], "state");
    let forged = finish(
        &app,
        &format!("/api/v1/auth/google/callback?code={code}&state=forged-state-value"),
        Some(&pending.cookie),
    )
    .await;
    let body = expect_error(forged, 400, "INVALID_PARAMETER").await;
    assert_eq!(body["error"]["fields"][0]["field"], "state");
    let no_code = finish(
        &app,
        &format!(
            "/api/v1/auth/google/callback?state={}",
            pending.param("state")
        ),
        Some(&pending.cookie),
    )
    .await;
    expect_error(no_code, 400, "INVALID_PARAMETER").await;
    assert_eq!(provider.state.token_calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_replayed_state_is_400_and_a_replayed_code_is_401() {
    let (app, provider) = spawn_google().await;
    provider.sign_in_as(Identity::verified(&unique_email("g")));
    let first = begin(&app, "").await;
    expect_status(complete(&app, &first).await, 200).await;
    // The very same callback again: its state was used up.
    let replay = complete(&app, &first).await;
    expect_error(replay, 400, "INVALID_PARAMETER").await;

    // A fresh attempt carrying the old code: the provider refuses a code it gave before.
    let second = begin(&app, "").await;
    let spliced = format!(
        "/api/v1/auth/google/callback?code={}&state={}",
        first.param("code"),
        second.param("state")
    );
    bare_401(finish(&app, &spliced, Some(&second.cookie)).await).await;
}

#[tokio::test]
async fn a_callback_from_another_browser_is_refused() {
    let (app, provider) = spawn_google().await;
    provider.sign_in_as(Identity::verified(&unique_email("attacker")));
    // The attacker starts a sign-in and sends the victim the callback link (login CSRF).
    let pending = begin(&app, "").await;
    let without_cookie = finish(&app, &pending.callback, None).await;
    expect_error(without_cookie, 400, "INVALID_PARAMETER").await;
    let other_cookie = finish(
        &app,
        &pending.callback,
        Some("shop_oauth_binding=someone-elses-browser"),
    )
    .await;
    expect_error(other_cookie, 400, "INVALID_PARAMETER").await;
}

#[tokio::test]
async fn spoiled_id_tokens_are_401_and_sign_nobody_in() {
    let (app, provider) = spawn_google().await;
    for spoil in [
        Spoil::WrongAudience,
        Spoil::WrongNonce,
        Spoil::NoNonce,
        Spoil::Expired,
        Spoil::WrongIssuer,
        Spoil::UnpublishedKey,
        Spoil::ForgedSignature,
        Spoil::Unsigned,
        Spoil::Hs256WithPublicKey,
    ] {
        provider.sign_in_as(Identity::verified(&unique_email("spoiled")));
        let pending = begin(&app, "").await;
        provider.spoil_next(spoil);
        let answer = complete(&app, &pending).await;
        assert_eq!(answer.status(), 401, "{spoil:?}");
        bare_401(answer).await;
    }
    assert_eq!(identities(&app).await, 0);
    let users = app
        .database()
        .collection::<Document>("users")
        .count_documents(doc! {})
        .await
        .unwrap();
    assert_eq!(users, 0, "no account was created");
}

#[tokio::test]
async fn an_external_next_or_a_chosen_redirect_uri_is_refused_at_the_start() {
    let (app, _provider) = spawn_google().await;
    for query in [
        "?next=https://evil.example/",
        "?next=//evil.example",
        "?next=/%5Cevil.example",
        "?next=javascript:alert(1)",
        "?redirect_uri=https://evil.example/callback",
        "?next=/ok&redirect=https://evil.example",
    ] {
        let answer = browser()
            .get(app.url(&format!("/api/v1/auth/google/start{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 400, "{query}");
        assert!(
            answer.headers().get(LOCATION).is_none(),
            "{query}: no redirect"
        );
        let body: Value = answer.json().await.unwrap();
        assert_eq!(body["error"]["code"], "INVALID_PARAMETER", "{query}");
    }
}

#[tokio::test]
async fn a_sign_in_that_took_too_long_is_refused() {
    let provider = Provider::start().await;
    let base = provider.base_url.clone();
    let app = App::spawn_with(move |config| {
        oidc::configure(&base, config);
        config.security.google.attempt_ttl_secs = 1;
    })
    .await;
    provider.sign_in_as(Identity::verified(&unique_email("slow")));
    let pending = begin(&app, "").await;
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    expect_error(complete(&app, &pending).await, 400, "INVALID_PARAMETER").await;
}

#[tokio::test]
async fn a_provider_that_is_down_is_503_and_creates_nothing() {
    let (app, provider) = spawn_google().await;
    provider.sign_in_as(Identity::verified(&unique_email("g")));
    let pending = begin(&app, "").await;
    provider
        .state
        .token_endpoint_down
        .store(true, Ordering::SeqCst);
    let answer = complete(&app, &pending).await;
    expect_error(answer, 503, "IDENTITY_PROVIDER_UNAVAILABLE").await;
    assert_eq!(identities(&app).await, 0);
}

#[tokio::test]
async fn a_provider_error_or_a_declined_consent_is_401() {
    let (app, _provider) = spawn_google().await;
    let declined = finish(
        &app,
        "/api/v1/auth/google/callback?error=access_denied&state=whatever",
        None,
    )
    .await;
    bare_401(declined).await;
}

#[tokio::test]
async fn without_a_client_id_the_google_routes_are_404() {
    let app = App::spawn().await;
    let answer = browser()
        .get(app.url("/api/v1/auth/google/start"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 404);
    let callback = finish(&app, "/api/v1/auth/google/callback?code=a&state=b", None).await;
    expect_error(callback, 404, "NOT_FOUND").await;
}
