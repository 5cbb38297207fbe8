//! [`TestApp`]: a real server of any step for one test, on port 0, with a fresh MongoDB
//! database, its own payment simulator and whatever the step's test configuration asks for
//! (`common::testing::TestStep`: step 2 a payments service, step 3 a Redis key prefix, ...),
//! and one method per endpoint. `TestApp::<step03_caching::AppState>::spawn()` starts step 3;
//! step 0 is the default (`spawn_app()`). The state comes back too (`app.state`), so a test
//! reads a step's counters or handles directly.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use common::Step;
use common::config::{Config, Environment, StepConfig};
use common::domain::Email;
use common::testing::{Fixture, Services, Slot, TestEnv, TestStep};
use futures::future::BoxFuture;
use payment_sim::{RunningSimulator, SimConfig};
use reqwest::{Method, Response};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::services::mongo::{TestDatabase, test_database};
use crate::services::postgres::test_postgres_database;
use crate::services::redis::{TestRedis, test_redis};

/// The JWT secret every test app signs with.
pub const TEST_JWT_SECRET: &str = "test-secret-that-is-long-enough-for-hs256!";
/// The password of every account the harness creates.
pub const TEST_PASSWORD: &str = "correct-horse-battery";

/// A running app of step `S` and everything it talks to, owned by one test; dropping it stops
/// the server. The database, the payment simulator and the step's fixtures belong to the
/// deployment, shared with the instances started [beside](TestApp::beside) it, and go with the
/// last of them (the database is dropped).
pub struct TestApp<S: Step = common::AppState> {
    /// `http://127.0.0.1:PORT`
    pub address: String,
    pub addr: SocketAddr,
    /// The full configuration the app was built with.
    pub config: S::Config,
    /// The app's state, as built: its services, handles and counters.
    pub state: S,
    pub http: reqwest::Client,
    pub payments: Arc<RunningSimulator>,
    pub db: Arc<TestDatabase>,
    /// What the step's test configuration keeps beside the app (a payments service, a Redis
    /// key prefix): [`TestApp::fixture`] finds one by its type.
    fixtures: Arc<Vec<Fixture>>,
    stop: Option<oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<()>,
}

/// Step 0 with default test settings.
pub async fn spawn_app() -> TestApp {
    TestApp::spawn().await
}

/// Step 0 with the test settings adjusted by `customize` (e.g. a short payment timeout).
pub async fn spawn_app_with(customize: impl FnOnce(&mut Config) + Send + 'static) -> TestApp {
    TestApp::spawn_with(customize).await
}

/// The configuration every test app starts from: test environment, port 0, cheap bcrypt, a
/// short header-read timeout, the given database and payment provider. Each step's
/// `TestStep::test_config` builds on it.
pub fn test_config(db: &TestDatabase, payments_url: &str) -> Config {
    let mut config = Config {
        environment: Environment::Test,
        ..Config::default()
    };
    config.server.port = 0;
    // Short, so the hostile suites' slow connections are cut within seconds; still ample for
    // a test client, which sends its head in one write right after connecting.
    config.server.header_read_timeout_ms = 2_000;
    config.mongodb.uri = SecretString::from(db.uri.clone());
    config.mongodb.database = db.name.clone();
    config.mongodb.timeout_ms = 2_000;
    config.auth.jwt_secret = Some(SecretString::from(TEST_JWT_SECRET));
    config.auth.bcrypt_cost = 4;
    config.payments.base_url = payments_url.to_owned();
    config.payments.timeout_ms = 2_000;
    config
}

type Customize<T> = Box<dyn FnOnce(&mut T) + Send>;
type CustomizeParts<T> = Box<dyn FnOnce(&mut T) -> anyhow::Result<()> + Send>;
type Wrap = Box<dyn FnOnce(Router) -> Router + Send>;

/// How a [`TestApp`] is started: [`TestApp::builder`] for a new deployment,
/// [`TestApp::beside`] for another instance of an existing one.
pub struct Spawn<S: TestStep> {
    config: Vec<Customize<S::Config>>,
    parts: Option<CustomizeParts<S::Parts>>,
    wrap: Option<Wrap>,
    redis: Option<TestRedis>,
    unprepared: bool,
    beside: Option<Deployment<S>>,
}

/// What the instances of one deployment share.
struct Deployment<S: Step> {
    config: S::Config,
    payments: Arc<RunningSimulator>,
    db: Arc<TestDatabase>,
    fixtures: Arc<Vec<Fixture>>,
}

impl<S: TestStep> Spawn<S> {
    /// Adjusts the test configuration after the step made it (run in the order given).
    pub fn config(mut self, customize: impl FnOnce(&mut S::Config) + Send + 'static) -> Self {
        self.config.push(Box::new(customize));
        self
    }

    /// Wraps or replaces parts of the state before it is wired (`Step::build_with`): a store
    /// that counts its calls, say.
    pub fn parts(
        mut self,
        customize: impl FnOnce(&mut S::Parts) -> anyhow::Result<()> + Send + 'static,
    ) -> Self {
        self.parts = Some(Box::new(customize));
        self
    }

    /// Passes the finished router through `wrap` before it serves (a test makes one instance
    /// fail the way it chooses).
    pub fn router(mut self, wrap: impl FnOnce(Router) -> Router + Send + 'static) -> Self {
        self.wrap = Some(Box::new(wrap));
        self
    }

    /// Gives the step this Redis key prefix (on a server the test started) instead of one on
    /// the shared test Redis.
    pub fn redis(mut self, redis: TestRedis) -> Self {
        self.redis = Some(redis);
        self
    }

    /// Serves without preparing the database (`Step::assemble`): what an instance is when its
    /// database went away after it started. For tests of that case, whose database is not
    /// there to prepare.
    pub fn unprepared(mut self) -> Self {
        self.unprepared = true;
        self
    }

    /// Starts the app; panics with the reason when it cannot.
    pub async fn spawn(self) -> TestApp<S> {
        self.try_spawn().await.expect("the test app starts")
    }

    /// Starts the app.
    pub async fn try_spawn(self) -> anyhow::Result<TestApp<S>> {
        if std::env::var_os("TEST_LOG").is_some() {
            common::telemetry::init();
        }
        let deployment = match self.beside {
            Some(deployment) => deployment,
            None => {
                let db = Arc::new(test_database().await?);
                let payments = Arc::new(
                    RunningSimulator::start(SimConfig::default())
                        .await
                        .context("starting the payment simulator")?,
                );
                let services = Arc::new(Provided {
                    redis: std::sync::Mutex::new(self.redis),
                });
                let mut env = TestEnv::new(test_config(&db, &payments.base_url()), services);
                let config = S::test_config(&mut env).await?;
                Deployment {
                    config,
                    payments,
                    db,
                    fixtures: Arc::new(env.into_fixtures()),
                }
            }
        };
        let mut config = deployment.config.clone();
        for customize in self.config {
            customize(&mut config);
        }
        config.validate()?;
        let parts = self.parts;
        let customize = move |p: &mut S::Parts| match parts {
            Some(customize) => customize(p),
            None => Ok(()),
        };
        let state = if self.unprepared {
            let db = common::store::mongo::Mongo::connect(&config.common().mongodb, |options| {
                S::tune_mongo(&config, options)
            })
            .await?;
            S::assemble(&db, &config, customize).await?
        } else {
            S::build_with(&config, customize).await?
        };
        let mut router = state.router(&config);
        if let Some(wrap) = self.wrap {
            router = wrap(router);
        }
        let app = common::Application::bind(&config.common().server, router).await?;
        let addr = app.local_addr()?;
        let (stop, stopped) = oneshot::channel();
        let server = tokio::spawn(async move {
            let _ = app
                .run_until(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(TestApp {
            address: format!("http://{addr}"),
            addr,
            config,
            state,
            http: reqwest::Client::new(),
            payments: deployment.payments,
            db: deployment.db,
            fixtures: deployment.fixtures,
            stop: Some(stop),
            server,
        })
    }
}

/// The services a step's test configuration asks for, from testkit's provisioning.
struct Provided {
    /// A prefix the test brought (on a Redis it started), handed out instead of a new one.
    redis: std::sync::Mutex<Option<TestRedis>>,
}

impl Services for Provided {
    fn redis(&self) -> BoxFuture<'_, anyhow::Result<(Slot, Fixture)>> {
        let brought = self.redis.lock().expect("not poisoned").take();
        Box::pin(async move {
            let redis = match brought {
                Some(redis) => redis,
                None => test_redis().await?,
            };
            let slot = Slot {
                url: redis.url.clone(),
                namespace: redis.prefix.clone(),
            };
            Ok((slot, Arc::new(redis) as Fixture))
        })
    }

    fn postgres(&self) -> BoxFuture<'_, anyhow::Result<(Slot, Fixture)>> {
        Box::pin(async move {
            let database = test_postgres_database().await?;
            let slot = Slot {
                url: database.url.clone(),
                namespace: database.name.clone(),
            };
            Ok((slot, Arc::new(database) as Fixture))
        })
    }
}

impl<S: TestStep> TestApp<S> {
    /// Step `S` with its default test configuration.
    pub async fn spawn() -> Self {
        Self::builder().spawn().await
    }

    /// Step `S` with `customize` applied to its test configuration.
    pub async fn spawn_with(customize: impl FnOnce(&mut S::Config) + Send + 'static) -> Self {
        Self::builder().config(customize).spawn().await
    }

    /// A new deployment of step `S`, configured step by step before it starts.
    pub fn builder() -> Spawn<S> {
        Spawn {
            config: Vec::new(),
            parts: None,
            wrap: None,
            redis: None,
            unprepared: false,
            beside: None,
        }
    }

    /// Another instance of this app's deployment: the same configuration, database, payment
    /// simulator and fixtures (the same Redis prefix, the same payments service), with a
    /// state and a port of its own: several instances of one shop.
    pub fn beside(&self) -> Spawn<S> {
        Spawn {
            beside: Some(Deployment {
                config: self.config.clone(),
                payments: self.payments.clone(),
                db: self.db.clone(),
                fixtures: self.fixtures.clone(),
            }),
            ..Self::builder()
        }
    }
}

impl<S: Step> TestApp<S> {
    /// The fixture of type `T` the step's test configuration kept (its payments service, its
    /// Redis prefix); panics if there is none.
    pub fn fixture<T: std::any::Any + Send + Sync>(&self) -> &T {
        common::testing::find(&self.fixtures).unwrap_or_else(|| {
            panic!(
                "step {} keeps no fixture of type {}",
                S::NUMBER,
                std::any::type_name::<T>()
            )
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
        // Step 0's code, whatever the step: a bcrypt hash, as an upgraded deployment has it
        // (step 1 upgrades it to argon2id at the first login).
        let state = common::AppState::build(self.config.common())
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

    /// `GET path` as an anonymous client, expecting 200; the JSON body.
    pub async fn get_ok(&self, path: &str) -> Value {
        expect_status(self.get(path, None).await, 200).await
    }

    /// Where the contract suites (`tests/`) run against this app: its address, a fresh
    /// admin's credentials, and the app's own payment simulator with the app's payment timeout
    /// (for `ordering00`, which makes the provider slow or down).
    ///
    /// The timeout is step 0's `payments.timeout_ms` at every step: from step 2 the provider is
    /// called by the payments service, which is started with that same section, and the app's
    /// gRPC deadline is longer, so the provider's timeout is still the one that gives up first.
    /// The suites run with the app's test configuration as it is, not a shortened one, so what
    /// they check is the configuration every other test of the step runs.
    pub async fn contract_target(&self) -> contract::Target {
        let (admin_email, _) = self.admin().await;
        let provider = contract::Provider::new(
            self.payments.base_url(),
            payment_sim::config::DEFAULT_API_KEY,
            std::time::Duration::from_millis(self.config.common().payments.timeout_ms),
        );
        contract::Target::new(self.address.clone(), admin_email, TEST_PASSWORD)
            .with_provider(provider)
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

impl<S: Step> Drop for TestApp<S> {
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
