//! Registration, login and tokens, including what only the server side can check: the stored
//! hash, expired and forged tokens.

use common::domain::Role;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mongodb::bson::{Document, doc};
use serde_json::json;
use testkit::app::{TEST_JWT_SECRET, TEST_PASSWORD};
use testkit::{expect_error, expect_status, spawn_app, unique_email};

#[tokio::test]
async fn passwords_are_stored_as_bcrypt_hashes_never_in_plain_text() {
    let app = spawn_app().await;
    let email = unique_email("hash");
    expect_status(app.register(&email, TEST_PASSWORD, "Hash").await, 201).await;

    let raw: Document = app
        .database()
        .collection("users")
        .find_one(doc! { "email": &email })
        .await
        .unwrap()
        .expect("the user document");
    let hash = raw.get_str("password_hash").unwrap();
    assert!(hash.starts_with("$2"), "a bcrypt hash, got {hash}");
    assert!(!format!("{raw:?}").contains(TEST_PASSWORD));
}

#[tokio::test]
async fn registering_never_creates_an_admin_even_when_asked() {
    let app = spawn_app().await;
    let body = expect_status(
        app.post(
            "/api/v1/auth/register",
            None,
            json!({"email": unique_email("sneaky"), "password": TEST_PASSWORD, "name": "S", "role": "admin"}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(body["user"]["role"], "customer");
    let token = body["token"].as_str().unwrap();
    let response = app.post("/api/v1/products", Some(token), json!({})).await;
    expect_error(response, 403, "FORBIDDEN").await;
}

fn sign(claims: serde_json::Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn expired_foreign_and_forged_tokens_are_refused_with_401() {
    let app = spawn_app().await;
    let (email, token) = app.customer().await;
    let me = expect_status(app.get("/api/v1/auth/me", Some(&token)).await, 200).await;
    assert_eq!(me["email"], email);
    let sub = me["id"].as_str().unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();

    let expired = sign(
        json!({"sub": sub, "role": "customer", "iss": "stepwise-shop", "iat": now - 7200, "exp": now - 3600}),
        TEST_JWT_SECRET,
    );
    let wrong_key = sign(
        json!({"sub": sub, "role": "admin", "iss": "stepwise-shop", "iat": now, "exp": now + 3600}),
        "another-secret-that-is-long-enough-to-sign",
    );
    let wrong_issuer = sign(
        json!({"sub": sub, "role": "customer", "iss": "evil", "iat": now, "exp": now + 3600}),
        TEST_JWT_SECRET,
    );
    let no_exp = sign(
        json!({"sub": sub, "role": "customer", "iss": "stepwise-shop", "iat": now}),
        TEST_JWT_SECRET,
    );
    let (header, rest) = token.split_once('.').unwrap();
    let payload = rest.split('.').next().unwrap();
    let alg_none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
    let truncated = token[..token.len() - 5].to_owned();
    let unsigned = format!("{header}.{payload}.");
    let huge = "a".repeat(1024 * 1024);

    for (what, bad) in [
        ("expired", expired),
        ("signed with another key", wrong_key),
        ("from another issuer", wrong_issuer),
        ("without exp", no_exp),
        ("alg none", alg_none),
        ("truncated signature", truncated),
        ("empty signature", unsigned),
        ("not a JWT", "abc".to_owned()),
    ] {
        let response = app.get("/api/v1/auth/me", Some(&bad)).await;
        let body = expect_error(response, 401, "UNAUTHORIZED").await;
        assert_eq!(
            body["error"]["message"], "missing or invalid credentials",
            "{what}: no detail about why"
        );
    }
    // A 1 MB header is refused before any parsing (by the server's header limit or by us).
    let response = app.get("/api/v1/auth/me", Some(&huge)).await;
    assert!(
        [401, 431].contains(&response.status().as_u16()),
        "got {}",
        response.status()
    );
}

#[tokio::test]
async fn a_token_keeps_its_role_claim_in_the_admin_check() {
    let app = spawn_app().await;
    let (_, admin) = app.admin().await;
    let me = expect_status(app.get("/api/v1/auth/me", Some(&admin)).await, 200).await;
    assert_eq!(me["role"], serde_json::to_value(Role::Admin).unwrap());
}

#[tokio::test]
async fn a_token_of_a_deleted_account_is_refused() {
    let app = spawn_app().await;
    let (email, token) = app.customer().await;
    app.database()
        .collection::<Document>("users")
        .delete_one(doc! { "email": &email })
        .await
        .unwrap();
    expect_error(
        app.get("/api/v1/auth/me", Some(&token)).await,
        401,
        "UNAUTHORIZED",
    )
    .await;
}

#[tokio::test]
async fn raising_the_bcrypt_cost_upgrades_a_hash_at_the_next_login() {
    let app = spawn_app().await;
    let email = unique_email("upgrade");
    expect_status(app.register(&email, TEST_PASSWORD, "Up").await, 201).await;
    let stored_hash = |app: &testkit::TestApp| {
        let users = app.database().collection::<Document>("users");
        let email = email.clone();
        async move {
            users
                .find_one(doc! { "email": email })
                .await
                .unwrap()
                .unwrap()
                .get_str("password_hash")
                .unwrap()
                .to_owned()
        }
    };
    assert!(stored_hash(&app).await.starts_with("$2b$04$"));

    // The same database, served with a higher cost.
    let stronger = app
        .beside()
        .config(|config| config.auth.bcrypt_cost = 5)
        .spawn()
        .await;
    expect_error(
        stronger.login(&email, "wrong-password").await,
        401,
        "UNAUTHORIZED",
    )
    .await;
    assert!(
        stored_hash(&app).await.starts_with("$2b$04$"),
        "no upgrade on a failed login"
    );
    expect_status(stronger.login(&email, TEST_PASSWORD).await, 200).await;
    assert!(
        stored_hash(&app).await.starts_with("$2b$05$"),
        "upgraded on success"
    );
    expect_status(app.login(&email, TEST_PASSWORD).await, 200).await;
}

#[tokio::test]
async fn a_missing_field_is_named_in_the_422() {
    let app = spawn_app().await;
    let response = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"password": TEST_PASSWORD, "name": "N"}),
        )
        .await;
    let body = expect_error(response, 422, "VALIDATION_FAILED").await;
    assert_eq!(body["error"]["fields"][0]["field"], "email");

    let response = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"email": unique_email("e"), "password": TEST_PASSWORD, "name": ""}),
        )
        .await;
    let body = expect_error(response, 422, "VALIDATION_FAILED").await;
    assert_eq!(
        body["error"]["fields"].as_array().unwrap().len(),
        1,
        "one error for one field: {body}"
    );
}
