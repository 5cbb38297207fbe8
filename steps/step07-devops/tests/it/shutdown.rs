//! SIGTERM to the real step-7 binary under load, as an orchestrator stops an instance: the
//! readiness probe fails at once while the server still serves, every request it accepted
//! is answered with success, the process exits 0 within its deadline, and it leaves no saga
//! running and nothing for the invariant checker to find.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use step06_distributed::invariants::{self, Expected};
use step06_distributed::testing::Child;

use crate::probes::App;

/// What the load saw.
#[derive(Default)]
struct Seen {
    /// Answered with success (201 placed, 200 paid).
    answered: usize,
    /// Of those, answered after the signal.
    answered_after_signal: usize,
    /// Refused at connect: the listener had closed, so nothing was accepted.
    refused: usize,
    /// Accepted and then failed: an error status, or the connection dropped mid-request.
    failed: Vec<String>,
}

impl Seen {
    /// Records `reply`, which should be `want`; its body when it was.
    async fn record(
        &mut self,
        what: &str,
        reply: reqwest::Result<reqwest::Response>,
        want: u16,
        signalled: &AtomicBool,
    ) -> Option<Value> {
        match reply {
            Ok(response) if response.status().as_u16() == want => {
                let after = signalled.load(Ordering::SeqCst);
                match response.json().await {
                    Ok(body) => {
                        self.answered += 1;
                        self.answered_after_signal += usize::from(after);
                        Some(body)
                    }
                    Err(e) => {
                        self.failed
                            .push(format!("{what}: the body was cut off: {e}"));
                        None
                    }
                }
            }
            Ok(response) => {
                let status = response.status();
                let body = response.text().await.unwrap_or_default();
                self.failed.push(format!("{what}: {status} {body}"));
                None
            }
            Err(e) if e.is_connect() => {
                self.refused += 1;
                None
            }
            Err(e) => {
                self.failed.push(format!("{what}: {e}"));
                None
            }
        }
    }
}

/// Places and pays orders one after another on `base` until `stop`, each request on a new
/// connection (a kept-alive connection the server closes just as a request is sent on it is
/// a race of HTTP/1.1 itself, which no drain can win; a load balancer retries those).
async fn load(
    base: String,
    token: String,
    product: String,
    signalled: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) -> Seen {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client");
    let mut seen = Seen::default();
    while !stop.load(Ordering::SeqCst) {
        let placed = http
            .post(format!("{base}/api/v1/orders"))
            .bearer_auth(&token)
            .json(&json!({ "items": [{ "product_id": product, "quantity": 1 }] }))
            .send()
            .await;
        let Some(order) = seen.record("place", placed, 201, &signalled).await else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let id = order["id"].as_str().unwrap_or_default();
        let paid = http
            .post(format!("{base}/api/v1/orders/{id}/pay"))
            .bearer_auth(&token)
            .json(&json!({ "card_token": "tok_success" }))
            .send()
            .await;
        seen.record("pay", paid, 200, &signalled).await;
    }
    seen
}

#[tokio::test]
async fn sigterm_under_load_answers_every_accepted_request_leaves_no_saga_running_and_exits_0() {
    let app = App::spawn().await;
    // Only the child drives sagas: what it leaves is what its shutdown left.
    app.state.workers.stop().await;
    let (_, admin) = app.admin().await;
    let product = app
        .create_product(&admin, json!({ "stock": 10_000, "price_minor": 500 }))
        .await;
    let product = product["id"].as_str().expect("an id").to_owned();
    // Payments take a while, so some are in flight when the signal comes.
    app.payments.set_latency(Duration::from_millis(150));
    let drain_delay = Duration::from_millis(1_500);
    let mut child = Child::spawn(
        env!("CARGO_BIN_EXE_step07-devops"),
        &app.config,
        &[],
        &[
            (
                "APP__SHUTDOWN__DRAIN_DELAY_MS",
                drain_delay.as_millis().to_string(),
            ),
            ("APP__SHUTDOWN__DEADLINE_MS", "20000".to_owned()),
        ],
    )
    .await
    .expect("the step-7 binary starts");

    let signalled = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (_, token) = app.customer().await;
        workers.spawn(load(
            child.base.clone(),
            token,
            product.clone(),
            signalled.clone(),
            stop.clone(),
        ));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    signalled.store(true, Ordering::SeqCst);
    let sent = Instant::now();
    child.terminate().expect("SIGTERM sent");
    let http = reqwest::Client::new();
    let readyz = format!("{}{}", child.base, step07_devops::probes::READINESS);
    let not_ready = loop {
        let answer = http
            .get(&readyz)
            .send()
            .await
            .expect("/readyz answers while draining");
        if answer.status() == 503 {
            break answer.json::<Value>().await.expect("a JSON body");
        }
        assert!(
            sent.elapsed() < drain_delay,
            "/readyz was still ready after the drain delay"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(not_ready, json!({ "status": "stopping" }));

    let exit = child
        .exited_within(Duration::from_secs(30))
        .await
        .expect("the child exits");
    stop.store(true, Ordering::SeqCst);
    let mut seen = Seen::default();
    for one in workers.join_all().await {
        seen.answered += one.answered;
        seen.answered_after_signal += one.answered_after_signal;
        seen.refused += one.refused;
        seen.failed.extend(one.failed);
    }
    let said = child.said_to_the_end().await.join("\n");
    assert!(exit.success(), "the child exited {exit}:\n{said}");
    assert!(
        said.contains("stopped cleanly"),
        "the child's logs:\n{said}"
    );
    assert!(
        seen.failed.is_empty(),
        "requests the server accepted and did not answer with success: {:#?}",
        seen.failed
    );
    eprintln!(
        "load: {} answered ({} after SIGTERM), {} refused at connect once the listener closed",
        seen.answered, seen.answered_after_signal, seen.refused
    );
    assert!(seen.answered > 0, "the load ran");
    assert!(
        seen.answered_after_signal > 0,
        "requests sent during the drain delay were served"
    );

    let pool = app.state.sagas.pool.clone();
    let running: i64 = sqlx::query_scalar("SELECT count(*) FROM sagas WHERE state = 'running'")
        .fetch_one(&pool)
        .await
        .expect("counting the sagas");
    assert_eq!(running, 0, "a saga the stopped instance left running");
    // The events it published wait in the stream for the next instance's consumers.
    let _next = app.beside().spawn().await;
    let initial_stock = HashMap::from([(product, 10_000)]);
    let report = invariants::after_run(
        &pool,
        &app.database(),
        app.provider_charges(),
        Expected {
            initial_stock: &initial_stock,
            pending_bound: Duration::from_secs(app.config.saga.order_expiry_secs + 5),
        },
        Duration::from_secs(30),
    )
    .await
    .expect("the checker runs");
    assert!(
        report.violations.is_empty(),
        "violations: {:#?}",
        report.violations
    );
}

#[tokio::test]
async fn a_stop_that_overruns_its_deadline_exits_1_and_says_so() {
    let app = App::spawn().await;
    // A payment slower than the whole deadline keeps the server draining past it.
    app.payments.set_latency(Duration::from_secs(4));
    let (_, admin) = app.admin().await;
    let product = app.create_product(&admin, json!({ "stock": 10 })).await;
    let (_, token) = app.customer().await;
    let mut child = Child::spawn(
        env!("CARGO_BIN_EXE_step07-devops"),
        &app.config,
        &[],
        &[
            ("APP__SHUTDOWN__DRAIN_DELAY_MS", "0".to_owned()),
            ("APP__SHUTDOWN__DEADLINE_MS", "1000".to_owned()),
        ],
    )
    .await
    .expect("the step-7 binary starts");
    let http = reqwest::Client::new();
    let placed: Value = http
        .post(format!("{}/api/v1/orders", child.base))
        .bearer_auth(&token)
        .json(&json!({ "items": [{ "product_id": product["id"], "quantity": 1 }] }))
        .send()
        .await
        .expect("placed")
        .json()
        .await
        .expect("an order");
    let pay = tokio::spawn(
        http.post(format!(
            "{}/api/v1/orders/{}/pay",
            child.base,
            placed["id"].as_str().unwrap_or_default()
        ))
        .bearer_auth(&token)
        .json(&json!({ "card_token": "tok_success" }))
        .send(),
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    child.terminate().expect("SIGTERM sent");
    let exit = child
        .exited_within(Duration::from_secs(15))
        .await
        .expect("the child exits");
    let said = child.said_to_the_end().await.join("\n");
    assert_eq!(exit.code(), Some(1), "{said}");
    assert!(said.contains("deadline"), "the child's logs:\n{said}");
    let _ = pay.await;
}
