//! The test harness: `spawn_sim` starts a fresh simulator and returns a `TestSim` with one
//! method per endpoint, and `Answer` keeps status, headers and the JSON body together. Every
//! answer is parsed as JSON, so every test also checks that the simulator never answers
//! anything else.

use std::sync::Once;

use payment_sim::{RunningSimulator, SimConfig, tokens};
use reqwest::{RequestBuilder, StatusCode, header::HeaderMap};
use serde_json::{Value, json};

pub struct TestSim {
    pub sim: RunningSimulator,
    pub client: reqwest::Client,
    api_key: String,
}

pub async fn spawn_sim() -> TestSim {
    spawn_sim_with(SimConfig::default()).await
}

pub async fn spawn_sim_with(config: SimConfig) -> TestSim {
    init_test_log();
    let api_key = config.api_key.clone();
    let sim = RunningSimulator::start(config)
        .await
        .expect("start the payment simulator");
    TestSim {
        sim,
        client: reqwest::Client::new(),
        api_key,
    }
}

/// Logs only when asked for: parallel tests' logs are noise unless one is being debugged.
fn init_test_log() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            tracing_subscriber::fmt()
                .with_env_filter("info")
                .with_test_writer()
                .init();
        }
    });
}

/// A charge body for `amount` minor units of EUR with `source`.
pub fn charge_body(amount: i64, source: &str) -> Value {
    json!({ "amount": amount, "currency": "EUR", "source": source })
}

impl TestSim {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sim.base_url())
    }

    /// A request with the right API key already set.
    pub fn authed(&self, method: reqwest::Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(&self.api_key)
    }

    pub async fn create_charge(&self, body: &Value) -> Answer {
        send(self.authed(reqwest::Method::POST, "/v1/charges").json(body)).await
    }

    pub async fn create_charge_with_key(&self, body: &Value, key: &str) -> Answer {
        send(
            self.authed(reqwest::Method::POST, "/v1/charges")
                .header("Idempotency-Key", key)
                .json(body),
        )
        .await
    }

    /// Creates a charge that must succeed and returns its id.
    pub async fn successful_charge(&self, amount: i64) -> String {
        let answer = self
            .create_charge(&charge_body(amount, tokens::SUCCESS))
            .await;
        answer.assert_status(StatusCode::CREATED);
        answer.str("id").to_owned()
    }

    pub async fn get_charge(&self, id: &str) -> Answer {
        send(self.authed(reqwest::Method::GET, &format!("/v1/charges/{id}"))).await
    }

    /// Every charge the simulator holds, newest first.
    pub async fn list_charges(&self) -> Vec<Value> {
        let answer = send(self.authed(reqwest::Method::GET, "/v1/charges")).await;
        answer.assert_status(StatusCode::OK);
        answer.body["data"]
            .as_array()
            .unwrap_or_else(|| panic!("charge list without data: {}", answer.body))
            .clone()
    }

    /// `GET /sim/faults`.
    pub async fn faults(&self) -> Answer {
        send(self.authed(reqwest::Method::GET, "/sim/faults")).await
    }

    /// `PUT /sim/faults` with `body`.
    pub async fn put_faults(&self, body: &Value) -> Answer {
        send(self.authed(reqwest::Method::PUT, "/sim/faults").json(body)).await
    }

    /// `body: None` sends no body at all.
    pub async fn refund(&self, charge_id: &str, body: Option<&Value>, key: Option<&str>) -> Answer {
        let mut request = self.authed(
            reqwest::Method::POST,
            &format!("/v1/charges/{charge_id}/refunds"),
        );
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        send(request).await
    }
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

pub async fn send(request: RequestBuilder) -> Answer {
    let response = request
        .send()
        .await
        .expect("send a request to the simulator");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("read the simulator's answer");
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|err| panic!("answer {status} is not JSON ({err}): {text:?}"));
    Answer {
        status,
        headers,
        body,
    }
}

impl Answer {
    #[track_caller]
    pub fn assert_status(&self, expected: StatusCode) {
        assert_eq!(self.status, expected, "unexpected answer: {}", self.body);
    }

    /// Asserts the status and the error's `type`, and returns the error object.
    #[track_caller]
    pub fn assert_error(&self, status: StatusCode, kind: &str) -> &Value {
        self.assert_status(status);
        let error = &self.body["error"];
        assert_eq!(error["type"], kind, "unexpected error: {}", self.body);
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "an error without a message: {}",
            self.body
        );
        error
    }

    #[track_caller]
    pub fn str(&self, field: &str) -> &str {
        self.body[field]
            .as_str()
            .unwrap_or_else(|| panic!("no string `{field}` in {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}
