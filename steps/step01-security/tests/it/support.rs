//! What step 1's tests share beyond testkit's `TestApp` (a real step-1 server per test, made
//! from step 1's test configuration): the sign-in flows, decoding tokens, the bare 401.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::Response;
use serde_json::{Value, json};
use testkit::TestApp;
use testkit::app::TEST_PASSWORD;
use testkit::{expect_status, unique_email};

/// A running step-1 app (testkit's, with step 1's test configuration).
pub type App = TestApp<step01_security::AppState>;

/// Base64 of 32 random bytes: an AES-256 key as configuration holds it.
pub fn random_key() -> String {
    STANDARD.encode(rand::random::<[u8; 32]>())
}

/// What login and register answer.
#[derive(Debug, Clone)]
pub struct Session {
    pub user_id: String,
    pub access: String,
    pub refresh: String,
    pub session_id: String,
}

impl Session {
    pub fn from_body(body: &Value) -> Self {
        let text = |key: &str| {
            body[key]
                .as_str()
                .unwrap_or_else(|| panic!("`{key}` in {body}"))
                .to_owned()
        };
        assert_eq!(
            body["token"], body["access_token"],
            "token is the access token"
        );
        Self {
            user_id: body["user"]["id"].as_str().expect("a user id").to_owned(),
            access: text("access_token"),
            refresh: text("refresh_token"),
            session_id: text("session_id"),
        }
    }
}

/// Step 1's sign-in flows, as a client uses them.
pub trait Sessions {
    /// Registers a fresh customer; returns the email and the session register started.
    async fn customer_session(&self) -> (String, Session);
    async fn sign_in(&self, email: &str) -> Session;
    async fn refresh(&self, refresh_token: &str) -> Response;
    async fn me(&self, access: &str) -> Response;
}

impl Sessions for App {
    async fn customer_session(&self) -> (String, Session) {
        let email = unique_email("c");
        let body = expect_status(self.register(&email, TEST_PASSWORD, "Customer").await, 201).await;
        (email, Session::from_body(&body))
    }

    async fn sign_in(&self, email: &str) -> Session {
        let body = expect_status(self.login(email, TEST_PASSWORD).await, 200).await;
        Session::from_body(&body)
    }

    async fn refresh(&self, refresh_token: &str) -> Response {
        self.post(
            "/api/v1/auth/refresh",
            None,
            json!({ "refresh_token": refresh_token }),
        )
        .await
    }

    async fn me(&self, access: &str) -> Response {
        self.get("/api/v1/auth/me", Some(access)).await
    }
}

/// A JWT's header and claims, decoded without any check (tests build hostile tokens from them).
pub fn decode_parts(token: &str) -> (Value, Value) {
    let mut parts = token.split('.');
    let mut next = || {
        let segment = parts.next().expect("a JWT segment");
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).expect("base64url")).expect("JSON")
    };
    let header = next();
    let claims = next();
    (header, claims)
}

/// The error body the API gives for "no credentials": every bad token must get exactly this
/// (apart from the request id), so the client learns nothing about what was wrong.
pub async fn bare_401(response: Response) -> Value {
    let mut body = testkit::expect_error(response, 401, "UNAUTHORIZED").await;
    assert!(
        body["error"].get("fields").is_none(),
        "a 401 names no field: {body}"
    );
    body["error"]["request_id"] = Value::Null;
    body
}
