//! Refresh tokens and sessions: rotation, reuse detection (the whole family revoked, an audit
//! event written), concurrent refreshes, logout, logout-all, the session list, and password
//! change ending every other session.

use futures::future::join_all;
use mongodb::bson::{DateTime, Document, doc};
use serde_json::{Value, json};
use step01_security::sessions::sha256_hex;
use testkit::app::TEST_PASSWORD;
use testkit::{expect_error, expect_status};

use crate::support::Sessions as _;
use crate::support::{App, Session, bare_401};

async fn audit_kinds(app: &App, user_id: &str) -> Vec<String> {
    use futures::TryStreamExt;
    let events: Vec<Document> = app
        .database()
        .collection::<Document>("audit_events")
        .find(doc! { "user_id": user_id })
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    events
        .iter()
        .map(|e| e.get_str("kind").unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn login_answers_step_0_fields_plus_a_refresh_token_and_its_session() {
    let app = App::spawn().await;
    let (email, _) = app.customer_session().await;
    let body = expect_status(app.login(&email, TEST_PASSWORD).await, 200).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["token"], body["access_token"]);
    assert_eq!(
        body["refresh_token"].as_str().unwrap().len(),
        43,
        "256 bits, base64url"
    );
    assert!(body["refresh_expires_in"].as_u64().unwrap() > 900);
    assert_eq!(body["user"]["email"], email.as_str());
}

#[tokio::test]
async fn a_refresh_returns_a_new_pair_and_retires_the_token_it_used() {
    let app = App::spawn().await;
    let (_, session) = app.customer_session().await;
    let body = expect_status(app.refresh(&session.refresh).await, 200).await;
    let next = Session::from_body(&body);
    assert_ne!(next.refresh, session.refresh);
    assert_ne!(next.access, session.access);
    assert_eq!(next.session_id, session.session_id, "the same family");
    expect_status(app.me(&next.access).await, 200).await;
    // The next token refreshes once more: rotation goes on.
    let body = expect_status(app.refresh(&next.refresh).await, 200).await;
    expect_status(app.me(body["access_token"].as_str().unwrap()).await, 200).await;
}

#[tokio::test]
async fn a_reused_refresh_token_revokes_the_whole_family_and_is_audited() {
    let app = App::spawn().await;
    let (email, stolen) = app.customer_session().await;
    let other_device = app.sign_in(&email).await;
    // The legitimate client refreshes; the thief then replays the old token.
    let legit = Session::from_body(&expect_status(app.refresh(&stolen.refresh).await, 200).await);
    bare_401(app.refresh(&stolen.refresh).await).await;

    // Both holders are out: the legitimate client's new tokens are dead too.
    bare_401(app.refresh(&legit.refresh).await).await;
    bare_401(app.me(&legit.access).await).await;
    bare_401(app.me(&stolen.access).await).await;
    // Another family of the same user is untouched.
    expect_status(app.me(&other_device.access).await, 200).await;
    expect_status(app.refresh(&other_device.refresh).await, 200).await;

    let kinds = audit_kinds(&app, &stolen.user_id).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "refresh_token_reuse").count(),
        1,
        "{kinds:?}"
    );
}

#[tokio::test]
async fn concurrent_refreshes_with_one_token_never_leave_two_live_branches() {
    let app = App::spawn().await;
    let (_, session) = app.customer_session().await;
    let answers = join_all((0..8).map(|_| app.refresh(&session.refresh))).await;
    let mut issued = Vec::new();
    for answer in answers {
        match answer.status().as_u16() {
            200 => issued.push(answer.json::<Value>().await.unwrap()),
            401 => {}
            other => panic!("a concurrent refresh answered {other}"),
        }
    }
    assert!(issued.len() <= 1, "{} refreshes succeeded", issued.len());
    // Whatever came out of the race, at most one token of the family can still refresh.
    let mut live = 0;
    for body in &issued {
        if app
            .refresh(body["refresh_token"].as_str().unwrap())
            .await
            .status()
            == 200
        {
            live += 1;
        }
    }
    assert!(live <= 1, "{live} live branches");
    // The losers looked like reuse: the family is gone and the event recorded.
    assert_eq!(live, 0, "the family was revoked by the losing refreshes");
    assert!(
        audit_kinds(&app, &session.user_id)
            .await
            .contains(&"refresh_token_reuse".to_owned())
    );
}

#[tokio::test]
async fn refresh_tokens_are_stored_only_as_their_sha256() {
    let app = App::spawn().await;
    let (_, session) = app.customer_session().await;
    let tokens = app.database().collection::<Document>("refresh_tokens");
    let stored = tokens
        .find_one(doc! { "_id": sha256_hex(&session.refresh) })
        .await
        .unwrap()
        .expect("the token's hash is the key");
    assert_eq!(stored.get_str("session_id").unwrap(), session.session_id);
    assert!(!format!("{stored:?}").contains(&session.refresh));
    assert!(
        tokens
            .find_one(doc! { "_id": &session.refresh })
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn malformed_unknown_and_expired_refresh_tokens_are_401() {
    let app = App::spawn().await;
    let (_, session) = app.customer_session().await;
    let unknown = "A".repeat(43);
    for token in [
        "",
        "not-a-token",
        unknown.as_str(),
        session.access.as_str(),
        "'; db.dropDatabase(); //",
    ] {
        bare_401(app.refresh(token).await).await;
    }
    let missing = app.post("/api/v1/auth/refresh", None, json!({})).await;
    expect_error(missing, 422, "VALIDATION_FAILED").await;
    let wrong_type = app
        .post("/api/v1/auth/refresh", None, json!({ "refresh_token": 42 }))
        .await;
    expect_error(wrong_type, 422, "VALIDATION_FAILED").await;

    // Expired: moved into the past directly in the database.
    app.database()
        .collection::<Document>("refresh_tokens")
        .update_one(
            doc! { "_id": sha256_hex(&session.refresh) },
            doc! { "$set": { "expires_at": DateTime::from_millis(1_000) } },
        )
        .await
        .unwrap();
    bare_401(app.refresh(&session.refresh).await).await;
}

#[tokio::test]
async fn logout_ends_only_this_device_and_logout_all_ends_every_session() {
    let app = App::spawn().await;
    let (email, phone) = app.customer_session().await;
    let laptop = app.sign_in(&email).await;
    let tablet = app.sign_in(&email).await;

    let logout = app
        .post("/api/v1/auth/logout", Some(&phone.access), json!({}))
        .await;
    expect_status(logout, 204).await;
    bare_401(app.refresh(&phone.refresh).await).await;
    bare_401(app.me(&phone.access).await).await;
    expect_status(app.me(&laptop.access).await, 200).await;

    let all = app
        .post("/api/v1/auth/logout-all", Some(&laptop.access), json!({}))
        .await;
    assert_eq!(expect_status(all, 200).await["revoked_sessions"], 2);
    for device in [&laptop, &tablet] {
        bare_401(app.refresh(&device.refresh).await).await;
        bare_401(app.me(&device.access).await).await;
    }
    bare_401(app.post("/api/v1/auth/logout", None, json!({})).await).await;
}

#[tokio::test]
async fn the_session_list_shows_each_sign_in_and_one_can_be_revoked() {
    let app = App::spawn().await;
    let (email, first) = app.customer_session().await;
    let second = app.sign_in(&email).await;
    let list = expect_status(
        app.get("/api/v1/auth/sessions", Some(&second.access)).await,
        200,
    )
    .await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{list}");
    let current: Vec<_> = items.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], second.session_id.as_str());
    assert_eq!(current[0]["method"], "password");

    let revoke = app
        .request(
            reqwest::Method::DELETE,
            &format!("/api/v1/auth/sessions/{}", first.session_id),
            Some(&second.access),
            None,
        )
        .await;
    expect_status(revoke, 204).await;
    bare_401(app.refresh(&first.refresh).await).await;
    let list = expect_status(
        app.get("/api/v1/auth/sessions", Some(&second.access)).await,
        200,
    )
    .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    // Someone else's session is "not found", like one that never existed; a bad id is 400.
    let (_, stranger) = app.customer_session().await;
    let foreign = app
        .request(
            reqwest::Method::DELETE,
            &format!("/api/v1/auth/sessions/{}", second.session_id),
            Some(&stranger.access),
            None,
        )
        .await;
    expect_error(foreign, 404, "NOT_FOUND").await;
    expect_status(app.me(&second.access).await, 200).await;
    let bad = app
        .request(
            reqwest::Method::DELETE,
            "/api/v1/auth/sessions/not-an-id",
            Some(&second.access),
            None,
        )
        .await;
    expect_error(bad, 400, "INVALID_PARAMETER").await;
}

#[tokio::test]
async fn a_password_change_ends_every_other_session_and_needs_the_current_password() {
    let app = App::spawn().await;
    let (email, here) = app.customer_session().await;
    let elsewhere = app.sign_in(&email).await;
    let change =
        |current: &str, new: &str| json!({ "current_password": current, "new_password": new });
    let wrong = app
        .post(
            "/api/v1/auth/password",
            Some(&here.access),
            change("not-the-password", "a-brand-new-password"),
        )
        .await;
    let body = expect_error(wrong, 422, "VALIDATION_FAILED").await;
    assert_eq!(body["error"]["fields"][0]["field"], "current_password");

    let changed = app
        .post(
            "/api/v1/auth/password",
            Some(&here.access),
            change(TEST_PASSWORD, "a-brand-new-password"),
        )
        .await;
    assert_eq!(expect_status(changed, 200).await["revoked_sessions"], 1);
    bare_401(app.refresh(&elsewhere.refresh).await).await;
    bare_401(app.me(&elsewhere.access).await).await;
    expect_status(app.me(&here.access).await, 200).await;
    expect_status(app.refresh(&here.refresh).await, 200).await;
    expect_error(app.login(&email, TEST_PASSWORD).await, 401, "UNAUTHORIZED").await;
    expect_status(app.login(&email, "a-brand-new-password").await, 200).await;
    assert!(
        audit_kinds(&app, &here.user_id)
            .await
            .contains(&"password_changed".to_owned())
    );
}
