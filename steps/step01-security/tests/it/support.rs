//! The step-1 harness: `testkit`'s real server per test (port 0, a fresh database, its own
//! payment simulator), serving step 1's router, plus the helpers the tests share.

use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::Response;
use serde_json::{Value, json};
use step01_security::Config;
use step01_security::config::SecurityConfig;
use testkit::TestApp;
use testkit::app::TEST_PASSWORD;
use testkit::{expect_status, unique_email};

/// A running step-1 app and the full configuration it was built with.
pub struct App {
    pub app: TestApp,
    pub config: Config,
}

impl std::ops::Deref for App {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.app
    }
}

/// Base64 of 32 random bytes: an AES-256 key as configuration holds it.
pub fn random_key() -> String {
    STANDARD.encode(rand::random::<[u8; 32]>())
}

pub async fn spawn() -> App {
    spawn_with(|_| {}).await
}

/// Step 1 with `customize` applied to the test configuration.
pub async fn spawn_with(customize: impl FnOnce(&mut Config) + Send + 'static) -> App {
    let used = Arc::new(Mutex::new(None));
    let keep = used.clone();
    let app = TestApp::spawn(
        |_| {},
        move |base| async move {
            let mut config = Config {
                base,
                security: SecurityConfig::with_random_key(),
            };
            customize(&mut config);
            config.validate()?;
            let state = step01_security::AppState::build(&config).await?;
            let router = step01_security::router(state, &config);
            *keep.lock().unwrap() = Some(config);
            Ok(router)
        },
    )
    .await
    .expect("the step-1 test app starts");
    let config = used.lock().unwrap().take().expect("the config was kept");
    App { app, config }
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

impl App {
    /// Registers a fresh customer; returns the email and the session register started.
    pub async fn customer(&self) -> (String, Session) {
        let email = unique_email("c");
        let body = expect_status(self.register(&email, TEST_PASSWORD, "Customer").await, 201).await;
        (email, Session::from_body(&body))
    }

    pub async fn sign_in(&self, email: &str) -> Session {
        let body = expect_status(self.login(email, TEST_PASSWORD).await, 200).await;
        Session::from_body(&body)
    }

    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.post(
            "/api/v1/auth/refresh",
            None,
            json!({ "refresh_token": refresh_token }),
        )
        .await
    }

    pub async fn me(&self, access: &str) -> Response {
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
