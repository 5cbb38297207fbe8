//! `spawn_app()`: a real server for one test, on port 0, with a fresh MongoDB database and its
//! own payment simulator, and a [`TestApp`] with one method per endpoint.
//!
//! Later steps reuse [`TestApp::spawn`] with their own router builder: the environment (config
//! pointing at the test database and simulator) is prepared the same way for every step.

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context;
use axum::Router;
use common::config::{Config, Environment};
use common::domain::Email;
use payment_sim::{RunningSimulator, SimConfig};
use reqwest::{Method, Response};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::services::mongo::{TestDatabase, test_database};

/// The JWT secret every test app signs with.
pub const TEST_JWT_SECRET: &str = "test-secret-that-is-long-enough-for-hs256!";
/// The password of every account the harness creates.
pub const TEST_PASSWORD: &str = "correct-horse-battery";

/// A running app and everything it talks to, owned by one test; dropping it stops them all
/// and drops the database.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`
    pub address: String,
    pub addr: SocketAddr,
    pub config: Config,
    pub http: reqwest::Client,
    pub payments: RunningSimulator,
    pub db: TestDatabase,
    stop: Option<oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<()>,
}

/// Step 0 with default test settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Step 0 with the test settings adjusted by `customize` (e.g. a short payment timeout).
pub async fn spawn_app_with(customize: impl FnOnce(&mut Config)) -> TestApp {
    TestApp::spawn(customize, |config| async move {
        let state = common::AppState::build(&config).await?;
        Ok(common::startup::router(state, &config.server))
    })
    .await
    .expect("the test app starts")
}

/// The configuration every test app starts from: test environment, port 0, cheap bcrypt, the
/// given database and payment provider.
pub fn test_config(db: &TestDatabase, payments_url: &str) -> Config {
    let mut config = Config {
        environment: Environment::Test,
        ..Config::default()
    };
    config.server.port = 0;
    config.mongodb.uri = SecretString::from(db.uri.clone());
    config.mongodb.database = db.name.clone();
    config.mongodb.timeout_ms = 2_000;
    config.auth.jwt_secret = Some(SecretString::from(TEST_JWT_SECRET));
    config.auth.bcrypt_cost = 4;
    config.payments.base_url = payments_url.to_owned();
    config.payments.timeout_ms = 2_000;
    config
}

impl TestApp {
    /// Prepares the environment, lets `customize` adjust the config, builds the router with
    /// `build`, and serves it in the background.
    pub async fn spawn<F, Fut>(
        customize: impl FnOnce(&mut Config),
        build: F,
    ) -> anyhow::Result<Self>
    where
        F: FnOnce(Config) -> Fut,
        Fut: Future<Output = anyhow::Result<Router>>,
    {
        if std::env::var_os("TEST_LOG").is_some() {
            common::telemetry::init();
        }
        let db = test_database().await?;
        let payments = RunningSimulator::start(SimConfig::default())
            .await
            .context("starting the payment simulator")?;
        let mut config = test_config(&db, &payments.base_url());
        customize(&mut config);
        let router = build(config.clone()).await?;
        let app = common::Application::bind(&config.server, router).await?;
        let addr = app.local_addr()?;
        let (stop, stopped) = oneshot::channel();
        let server = tokio::spawn(async move {
            let _ = app
                .run_until(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Self {
            address: format!("http://{addr}"),
            addr,
            config,
            http: reqwest::Client::new(),
            payments,
            db,
            stop: Some(stop),
            server,
        })
    }

    /// The database handle the app uses, to look at raw documents.
    pub fn database(&self) -> mongodb::Database {
        self.db.db()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Any request; `token` becomes a bearer header, `body` a JSON body.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("the request reaches the app")
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        self.request(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Response {
        self.request(Method::POST, path, token, Some(body)).await
    }

    pub async fn register(&self, email: &str, password: &str, name: &str) -> Response {
        self.post(
            "/api/v1/auth/register",
            None,
            json!({ "email": email, "password": password, "name": name }),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post(
            "/api/v1/auth/login",
            None,
            json!({ "email": email, "password": password }),
        )
        .await
    }

    /// Registers a fresh customer and returns `(email, token)`.
    pub async fn customer(&self) -> (String, String) {
        let email = unique_email("customer");
        let response = self.register(&email, TEST_PASSWORD, "Test Customer").await;
        let body = expect_status(response, 201).await;
        (email, body["token"].as_str().expect("a token").to_owned())
    }

    /// Creates an admin through the same code as `shop create-admin`, signs in, returns
    /// `(email, token)`.
    pub async fn admin(&self) -> (String, String) {
        let email = unique_email("admin");
        let state = common::AppState::build(&self.config)
            .await
            .expect("state for create-admin");
        state
            .accounts
            .create_admin(
                Email::parse(&email).expect("valid email"),
                "Test Admin".to_owned(),
                TEST_PASSWORD.to_owned(),
            )
            .await
            .expect("admin created");
        let body = expect_status(self.login(&email, TEST_PASSWORD).await, 200).await;
        (email, body["token"].as_str().expect("a token").to_owned())
    }

    /// Creates a product as `admin_token`; `overrides` replace fields of a valid default.
    pub async fn create_product(&self, admin_token: &str, overrides: Value) -> Value {
        let mut body = json!({
            "sku": format!("SKU-{}", uuid::Uuid::new_v4().simple()),
            "name": "Test Product",
            "description": "A product made by a test",
            "price_minor": 1250,
            "currency": "EUR",
            "stock": 10,
            "category": "tests",
            "tags": ["test"],
        });
        merge(&mut body, overrides);
        expect_status(
            self.post("/api/v1/products", Some(admin_token), body).await,
            201,
        )
        .await
    }

    pub async fn place_order(&self, token: &str, items: Value) -> Response {
        self.post("/api/v1/orders", Some(token), json!({ "items": items }))
            .await
    }

    pub async fn pay_order(&self, token: &str, order_id: &str, card_token: &str) -> Response {
        self.post(
            &format!("/api/v1/orders/{order_id}/pay"),
            Some(token),
            json!({ "card_token": card_token }),
        )
        .await
    }

    /// `POST /orders/{id}/ship` as `token` (an admin's, to succeed).
    pub async fn ship_order(&self, token: &str, order_id: &str) -> Response {
        self.post(
            &format!("/api/v1/orders/{order_id}/ship"),
            Some(token),
            json!({}),
        )
        .await
    }

    /// `POST /orders/{id}/cancel` as `token` (an admin's, to succeed).
    pub async fn cancel_order(&self, token: &str, order_id: &str) -> Response {
        self.post(
            &format!("/api/v1/orders/{order_id}/cancel"),
            Some(token),
            json!({}),
        )
        .await
    }

    /// `GET /orders/{id}` as `token`, expecting 200.
    pub async fn order(&self, token: &str, order_id: &str) -> Value {
        expect_status(
            self.get(&format!("/api/v1/orders/{order_id}"), Some(token))
                .await,
            200,
        )
        .await
    }

    /// A fresh customer places an order for `quantity` of a new product made from
    /// `product_overrides` (see [`TestApp::create_product`]).
    pub async fn place_new_order(
        &self,
        admin_token: &str,
        product_overrides: Value,
        quantity: i64,
    ) -> PlacedOrder {
        let product = self.create_product(admin_token, product_overrides).await;
        let (_, token) = self.customer().await;
        let order = expect_status(
            self.place_order(
                &token,
                json!([{ "product_id": product["id"], "quantity": quantity }]),
            )
            .await,
            201,
        )
        .await;
        PlacedOrder {
            id: order["id"].as_str().expect("an order id").to_owned(),
            product_id: product["id"].as_str().expect("a product id").to_owned(),
            token,
            order,
        }
    }

    /// One charge as the payment provider (simulator) sees it.
    pub async fn provider_charge(&self, id: &str) -> Value {
        self.provider_get(&format!("/v1/charges/{id}")).await
    }

    /// Every charge the payment provider (simulator) holds, newest first.
    pub async fn provider_charges(&self) -> Vec<Value> {
        self.provider_get("/v1/charges").await["data"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    async fn provider_get(&self, path: &str) -> Value {
        let response = self
            .http
            .get(format!("{}{path}", self.payments.base_url()))
            .bearer_auth(payment_sim::config::DEFAULT_API_KEY)
            .send()
            .await
            .expect("the payment simulator answers");
        expect_status(response, 200).await
    }

    pub async fn product(&self, id: &str) -> Value {
        expect_status(self.get(&format!("/api/v1/products/{id}"), None).await, 200).await
    }

    /// Stops the server and waits until it has stopped.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.server).await;
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// An order placed by [`TestApp::place_new_order`].
pub struct PlacedOrder {
    pub id: String,
    pub product_id: String,
    /// The buyer's token.
    pub token: String,
    /// The 201 body.
    pub order: Value,
}

/// `{prefix}-{uuid}@example.test`: unique across parallel tests.
pub fn unique_email(prefix: &str) -> String {
    format!("{prefix}-{}@example.test", uuid::Uuid::new_v4().simple())
}

/// Asserts the status and returns the JSON body, showing the body when the status is wrong.
pub async fn expect_status(response: Response, status: u16) -> Value {
    let actual = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    assert_eq!(actual, status, "unexpected status; body: {text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    }
}

/// Asserts an error response: status, the JSON error shape, and its code. Returns the body.
pub async fn expect_error(response: Response, status: u16, code: &str) -> Value {
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = expect_status(response, status).await;
    assert!(
        content_type.starts_with("application/json"),
        "error responses are JSON, got {content_type:?}"
    );
    assert_eq!(body["error"]["code"], code, "error code; body: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "an error message; body: {body}"
    );
    body
}

fn merge(base: &mut Value, overrides: Value) {
    if let (Some(base), Value::Object(overrides)) = (base.as_object_mut(), overrides) {
        for (key, value) in overrides {
            base.insert(key, value);
        }
    }
}
