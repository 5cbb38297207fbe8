//! Passwords: argon2id for new accounts, step 0's bcrypt accounts upgraded at their next
//! login, bcrypt's 72-byte limit lifted, and sign-in throttling that does not reveal which
//! accounts exist.

use common::Step;
use common::domain::Email;
use common::services::Registration;
use mongodb::bson::{Document, doc};
use testkit::app::TEST_PASSWORD;
use testkit::{expect_error, expect_status, unique_email};

use crate::support::App;
use crate::support::Sessions as _;

async fn stored_hash(app: &App, email: &str) -> String {
    app.database()
        .collection::<Document>("users")
        .find_one(doc! { "email": email })
        .await
        .unwrap()
        .expect("the user document")
        .get_str("password_hash")
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_bcrypt_user_created_by_step_0_logs_in_on_step_1_and_is_upgraded_to_argon2id() {
    let app = App::spawn().await;
    // Step 0's own register path, with step 0's bcrypt scheme, on step 1's database.
    let step0 = common::AppState::build(&app.config.base).await.unwrap();
    let email = unique_email("legacy");
    step0
        .accounts
        .register(Registration {
            email: Email::parse(&email).unwrap(),
            name: "Legacy Customer".to_owned(),
            password: TEST_PASSWORD.to_owned(),
        })
        .await
        .unwrap();
    let before = stored_hash(&app, &email).await;
    assert!(
        before.starts_with("$2"),
        "step 0 stored bcrypt, got {before}"
    );

    expect_error(
        app.login(&email, "a-wrong-password").await,
        401,
        "UNAUTHORIZED",
    )
    .await;
    assert_eq!(
        stored_hash(&app, &email).await,
        before,
        "no upgrade on a failed login"
    );

    let body = expect_status(app.login(&email, TEST_PASSWORD).await, 200).await;
    assert_eq!(body["user"]["email"], email.as_str());
    let after = stored_hash(&app, &email).await;
    assert!(
        after.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "upgraded to argon2id with OWASP parameters, got {after}"
    );
    expect_status(app.login(&email, TEST_PASSWORD).await, 200).await;
    assert_eq!(stored_hash(&app, &email).await, after, "upgraded once");
}

#[tokio::test]
async fn new_accounts_get_argon2id_and_the_document_holds_no_plain_password() {
    let app = App::spawn().await;
    let (email, _) = app.customer_session().await;
    let raw = app
        .database()
        .collection::<Document>("users")
        .find_one(doc! { "email": &email })
        .await
        .unwrap()
        .unwrap();
    assert!(
        raw.get_str("password_hash")
            .unwrap()
            .starts_with("$argon2id$")
    );
    assert!(!format!("{raw:?}").contains(TEST_PASSWORD));
}

#[tokio::test]
async fn passwords_longer_than_bcrypts_72_bytes_count_in_full() {
    let app = App::spawn().await;
    let email = unique_email("long");
    let long = "x".repeat(100);
    expect_status(app.register(&email, &long, "Long Password").await, 201).await;
    // With bcrypt, anything sharing the first 72 bytes would have matched.
    let same_prefix = format!("{}y", "x".repeat(99));
    expect_error(app.login(&email, &same_prefix).await, 401, "UNAUTHORIZED").await;
    expect_status(app.login(&email, &long).await, 200).await;
    let too_long = app
        .register(&unique_email("huge"), &"x".repeat(1025), "Huge")
        .await;
    expect_error(too_long, 422, "VALIDATION_FAILED").await;
}

#[tokio::test]
async fn an_account_is_throttled_after_5_failures_even_with_the_right_password() {
    let app = App::spawn().await;
    let (email, _) = app.customer_session().await;
    for _ in 0..5 {
        expect_error(
            app.login(&email, "wrong-password").await,
            401,
            "UNAUTHORIZED",
        )
        .await;
    }
    let throttled = app.login(&email, TEST_PASSWORD).await;
    let retry_after: u64 = throttled.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=900).contains(&retry_after),
        "Retry-After {retry_after}"
    );
    expect_error(throttled, 429, "TOO_MANY_ATTEMPTS").await;
    // Another account from the same address is not affected.
    let (other, _) = app.customer_session().await;
    expect_status(app.login(&other, TEST_PASSWORD).await, 200).await;
}

#[tokio::test]
async fn unknown_emails_are_throttled_exactly_like_real_ones() {
    let app = App::spawn().await;
    let (known, _) = app.customer_session().await;
    let unknown = unique_email("nobody");
    let mut answers = Vec::new();
    for email in [&known, &unknown] {
        for _ in 0..5 {
            app.login(email, "wrong-password").await;
        }
        let body = expect_error(
            app.login(email, "wrong-password").await,
            429,
            "TOO_MANY_ATTEMPTS",
        )
        .await;
        answers.push(body["error"]["code"].clone());
    }
    assert_eq!(answers[0], answers[1]);
}

#[tokio::test]
async fn an_address_is_throttled_after_its_failures_over_many_accounts() {
    let app = App::spawn_with(|config| config.security.throttle.max_failures_per_ip = 3).await;
    let (victim, _) = app.customer_session().await;
    for _ in 0..3 {
        let sprayed = unique_email("spray");
        expect_error(
            app.login(&sprayed, "Summer2026!").await,
            401,
            "UNAUTHORIZED",
        )
        .await;
    }
    expect_error(
        app.login(&victim, TEST_PASSWORD).await,
        429,
        "TOO_MANY_ATTEMPTS",
    )
    .await;
}

#[tokio::test]
async fn registering_taken_emails_counts_against_the_address() {
    let app = App::spawn_with(|config| config.security.throttle.max_failures_per_ip = 2).await;
    let (taken, _) = app.customer_session().await;
    for _ in 0..2 {
        expect_error(
            app.register(&taken, TEST_PASSWORD, "Probe").await,
            409,
            "EMAIL_TAKEN",
        )
        .await;
    }
    let probe = app
        .register(&unique_email("next"), TEST_PASSWORD, "Probe")
        .await;
    expect_error(probe, 429, "TOO_MANY_ATTEMPTS").await;
}
