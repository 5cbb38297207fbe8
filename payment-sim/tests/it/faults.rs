//! Injected latency and outages, configured at start and changed while running, and seeded
//! outages that replay. Timing assertions are lower bounds only: a slow machine may add time,
//! never remove it.

use std::time::{Duration, Instant};

use payment_sim::{SimConfig, tokens};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{TestSim, charge_body, send, spawn_sim, spawn_sim_with};

#[tokio::test]
async fn configured_latency_delays_every_v1_answer() {
    let latency = Duration::from_millis(300);
    let app = spawn_sim_with(SimConfig {
        latency,
        ..SimConfig::default()
    })
    .await;

    let started = Instant::now();
    let created = app.create_charge(&charge_body(100, tokens::SUCCESS)).await;
    let create_took = started.elapsed();
    let started = Instant::now();
    let looked_up = app.get_charge(created.str("id")).await;
    let lookup_took = started.elapsed();

    created.assert_status(StatusCode::CREATED);
    looked_up.assert_status(StatusCode::OK);
    assert!(create_took >= latency, "create took {create_took:?}");
    assert!(lookup_took >= latency, "lookup took {lookup_took:?}");
}

#[tokio::test]
async fn set_latency_slows_a_running_simulator() {
    let app = spawn_sim().await;
    let latency = Duration::from_millis(400);

    app.sim.set_latency(latency);
    let started = Instant::now();
    let answer = send(app.authed(Method::GET, "/v1/charges")).await;
    let took = started.elapsed();

    answer.assert_status(StatusCode::OK);
    assert!(took >= latency, "took {took:?}");
    app.sim.set_latency(Duration::ZERO);
    assert_eq!(app.sim.latency(), Duration::ZERO);
}

#[tokio::test]
async fn failure_rate_one_answers_503_api_error_and_creates_nothing() {
    let app = spawn_sim_with(SimConfig {
        failure_rate: 1.0,
        ..SimConfig::default()
    })
    .await;

    for _ in 0..5 {
        let answer = app.create_charge(&charge_body(100, tokens::SUCCESS)).await;

        let error = answer.assert_error(StatusCode::SERVICE_UNAVAILABLE, "api_error");
        assert_eq!(error["message"], "simulated provider outage");
    }
    app.sim.set_failure_rate(0.0);
    assert!(app.list_charges().await.is_empty());
}

#[tokio::test]
async fn setting_the_failure_rate_back_to_zero_recovers() {
    let app = spawn_sim().await;
    app.sim.set_failure_rate(1.0);
    app.create_charge(&charge_body(100, tokens::SUCCESS))
        .await
        .assert_error(StatusCode::SERVICE_UNAVAILABLE, "api_error");

    app.sim.set_failure_rate(0.0);
    let answer = app.create_charge(&charge_body(100, tokens::SUCCESS)).await;

    answer.assert_status(StatusCode::CREATED);
    assert_eq!(app.sim.failure_rate(), 0.0);
    assert_eq!(app.list_charges().await.len(), 1);
}

#[tokio::test]
async fn an_outage_during_a_refund_refunds_nothing() {
    let app = spawn_sim().await;
    let charge_id = app.successful_charge(1000).await;
    app.sim.set_failure_rate(1.0);

    let answer = app.refund(&charge_id, None, None).await;

    answer.assert_error(StatusCode::SERVICE_UNAVAILABLE, "api_error");
    app.sim.set_failure_rate(0.0);
    assert_eq!(app.get_charge(&charge_id).await.body["amount_refunded"], 0);
}

#[tokio::test]
async fn an_outage_is_not_recorded_under_the_idempotency_key() {
    let app = spawn_sim().await;
    let body = charge_body(100, tokens::SUCCESS);
    app.sim.set_failure_rate(1.0);
    app.create_charge_with_key(&body, "retry-me")
        .await
        .assert_status(StatusCode::SERVICE_UNAVAILABLE);

    app.sim.set_failure_rate(0.0);
    let retry = app.create_charge_with_key(&body, "retry-me").await;

    retry.assert_status(StatusCode::CREATED);
    assert_eq!(retry.header("idempotent-replayed"), None);
}

#[tokio::test]
async fn a_failure_rate_of_one_half_fails_some_requests_and_not_others() {
    let app = spawn_sim_with(SimConfig {
        failure_rate: 0.5,
        ..SimConfig::default()
    })
    .await;

    let mut statuses = Vec::new();
    for _ in 0..100 {
        statuses.push(send(app.authed(Method::GET, "/v1/charges")).await.status);
    }

    // Each outcome has probability 2^-100 of never showing up: not a flaky test.
    assert!(statuses.contains(&StatusCode::OK));
    assert!(statuses.contains(&StatusCode::SERVICE_UNAVAILABLE));
}

/// The statuses of `requests` reads in turn from `app`, which fails half of them.
async fn statuses(app: &TestSim, requests: usize) -> Vec<StatusCode> {
    let mut statuses = Vec::with_capacity(requests);
    for _ in 0..requests {
        statuses.push(send(app.authed(Method::GET, "/v1/charges")).await.status);
    }
    statuses
}

async fn seeded_sim(seed: u64) -> TestSim {
    spawn_sim_with(SimConfig {
        failure_rate: 0.5,
        seed: Some(seed),
        ..SimConfig::default()
    })
    .await
}

#[tokio::test]
async fn the_same_seed_fails_the_same_requests_and_another_seed_others() {
    let (first, again, other) = tokio::join!(seeded_sim(42), seeded_sim(42), seeded_sim(43));

    let (first, again, other) = tokio::join!(
        statuses(&first, 64),
        statuses(&again, 64),
        statuses(&other, 64)
    );

    assert_eq!(first, again);
    assert_ne!(first, other);
    assert!(first.contains(&StatusCode::OK), "{first:?}");
    assert!(
        first.contains(&StatusCode::SERVICE_UNAVAILABLE),
        "{first:?}"
    );
}

#[tokio::test]
async fn putting_the_faults_with_a_seed_starts_its_sequence_again() {
    let configured = seeded_sim(9).await;
    let app = spawn_sim().await;
    let seeded = json!({ "latency_ms": 0, "failure_rate": 0.5, "seed": 9 });

    app.put_faults(&seeded).await.assert_status(StatusCode::OK);
    let first = statuses(&app, 32).await;
    app.put_faults(&seeded).await.assert_status(StatusCode::OK);
    let again = statuses(&app, 32).await;
    let from_config = statuses(&configured, 32).await;

    assert_eq!(first, again);
    assert_eq!(first, from_config);
    assert_eq!(app.sim.seed(), Some(9));
}

#[tokio::test]
async fn health_ignores_the_failure_rate() {
    let app = spawn_sim_with(SimConfig {
        failure_rate: 1.0,
        ..SimConfig::default()
    })
    .await;

    let answer = send(app.client.get(app.url("/health"))).await;

    answer.assert_status(StatusCode::OK);
    assert_eq!(answer.body, json!({ "status": "ok" }));
}

#[test]
#[should_panic(expected = "failure_rate")]
fn a_failure_rate_above_one_is_refused() {
    let _ = payment_sim::router(SimConfig {
        failure_rate: 1.5,
        ..SimConfig::default()
    });
}

#[tokio::test]
async fn a_charge_whose_client_stopped_waiting_is_still_made() {
    let latency = Duration::from_millis(600);
    let app = spawn_sim_with(SimConfig {
        latency,
        ..SimConfig::default()
    })
    .await;

    let impatient = app
        .authed(Method::POST, "/v1/charges")
        .timeout(Duration::from_millis(100))
        .json(&charge_body(700, tokens::SUCCESS))
        .send()
        .await;
    assert!(
        impatient.as_ref().is_err_and(reqwest::Error::is_timeout),
        "the client gave up first: {impatient:?}"
    );
    app.sim.set_latency(Duration::ZERO);

    let deadline = Instant::now() + latency + Duration::from_secs(5);
    let charges = loop {
        let charges = app.list_charges().await;
        if !charges.is_empty() || Instant::now() > deadline {
            break charges;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        charges.len(),
        1,
        "the provider carried the request out: {charges:?}"
    );
    assert_eq!(charges[0]["amount"], 700);
}
