//! "Succeed, then lose the answer": a `POST` is carried out and stored while its client times
//! out, a retry with the same `Idempotency-Key` gets the stored answer, reads and refusals
//! never lose theirs, seeded fates replay, and a held answer whose client gave up does not
//! hold up stopping.

use std::time::{Duration, Instant};

use payment_sim::{SimConfig, tokens};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestSim, charge_body, spawn_sim_with};

/// How long a client waits where the answer should be held: a held answer never comes, so
/// any wait is enough, and a short one keeps the tests quick.
const HELD: Duration = Duration::from_millis(300);

/// How long a client waits where the answer should come: far longer than the simulator
/// needs with no latency, even on a loaded machine, so a timeout means the answer was held.
const ANSWERED: Duration = Duration::from_secs(5);

/// Where some answers come and some are held: long enough for one that comes, short enough
/// for a run with several held.
const EITHER: Duration = Duration::from_millis(700);

/// Sends `request` with a client timeout of `patience` and answers whether the client gave up
/// waiting (as opposed to getting an answer, or any other error).
async fn times_out(request: RequestBuilder, patience: Duration) -> bool {
    match request.timeout(patience).send().await {
        Ok(_) => false,
        Err(err) if err.is_timeout() => true,
        Err(err) => panic!("the request failed otherwise than by a timeout: {err}"),
    }
}

async fn forgetful_sim() -> TestSim {
    spawn_sim_with(SimConfig {
        lose_answer_rate: 1.0,
        ..SimConfig::default()
    })
    .await
}

/// Charges `body` under `key` and answers whether the client gave up waiting.
async fn charge_gives_up(app: &TestSim, body: &Value, key: &str) -> bool {
    let request = app
        .authed(Method::POST, "/v1/charges")
        .header("Idempotency-Key", key)
        .json(body);
    times_out(request, HELD).await
}

#[tokio::test]
async fn a_lost_answer_still_charges_and_a_retry_with_the_key_returns_that_charge() {
    let app = forgetful_sim().await;
    let body = charge_body(700, tokens::SUCCESS);

    let gave_up = charge_gives_up(&app, &body, "lost-1").await;
    let held = app.list_charges().await;
    app.sim.set_lose_answer_rate(0.0);
    let retry = app.create_charge_with_key(&body, "lost-1").await;

    assert!(gave_up, "the client got an answer");
    assert_eq!(held.len(), 1, "the provider holds the charge: {held:?}");
    assert_eq!(held[0]["amount"], 700);
    assert_eq!(held[0]["status"], "succeeded");
    retry.assert_status(StatusCode::CREATED);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(retry.body["id"], held[0]["id"]);
    assert_eq!(app.list_charges().await.len(), 1, "charged once");
}

#[tokio::test]
async fn a_lost_refund_answer_still_refunds_and_a_retry_with_the_key_refunds_nothing_more() {
    let app = spawn_sim_with(SimConfig::default()).await;
    let charge_id = app.successful_charge(1000).await;
    let path = format!("/v1/charges/{charge_id}/refunds");
    app.sim.set_lose_answer_rate(1.0);

    let gave_up = times_out(
        app.authed(Method::POST, &path)
            .header("Idempotency-Key", "refund-lost")
            .json(&json!({ "amount": 400 })),
        HELD,
    )
    .await;
    let refunded = app.get_charge(&charge_id).await.body["amount_refunded"].clone();
    app.sim.set_lose_answer_rate(0.0);
    let retry = app
        .refund(
            &charge_id,
            Some(&json!({ "amount": 400 })),
            Some("refund-lost"),
        )
        .await;

    assert!(gave_up, "the client got an answer");
    assert_eq!(refunded, 400);
    retry.assert_status(StatusCode::CREATED);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(retry.body["amount"], 400);
    assert_eq!(
        app.get_charge(&charge_id).await.body["amount_refunded"],
        400
    );
}

#[tokio::test]
async fn reads_refusals_and_the_controls_never_lose_their_answers() {
    let app = forgetful_sim().await;
    let unknown_token = charge_body(100, "tok_nonsense");

    let list = times_out(app.authed(Method::GET, "/v1/charges"), ANSWERED).await;
    let controls = times_out(app.authed(Method::GET, "/sim/faults"), ANSWERED).await;
    let refused = times_out(
        app.authed(Method::POST, "/v1/charges").json(&unknown_token),
        ANSWERED,
    )
    .await;

    assert!(!list, "GET /v1/charges lost its answer");
    assert!(!controls, "GET /sim/faults lost its answer");
    assert!(!refused, "a 400 that charged nothing lost its answer");
}

#[tokio::test]
async fn a_declined_charge_loses_its_answer_too_and_a_retry_gets_the_decline() {
    let app = forgetful_sim().await;
    let body = charge_body(100, tokens::DECLINE);

    let gave_up = charge_gives_up(&app, &body, "declined-lost").await;
    app.sim.set_lose_answer_rate(0.0);
    let retry = app.create_charge_with_key(&body, "declined-lost").await;

    assert!(gave_up, "the client got an answer");
    retry.assert_error(StatusCode::PAYMENT_REQUIRED, "card_error");
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(app.list_charges().await.len(), 1);
}

/// For `requests` charges in turn through a simulator with `seed` that loses half the
/// answers: whether each client got an answer. Every one is charged either way.
async fn answered(seed: u64, requests: usize) -> Vec<bool> {
    let app = spawn_sim_with(SimConfig {
        lose_answer_rate: 0.5,
        seed: Some(seed),
        ..SimConfig::default()
    })
    .await;
    let mut answered = Vec::with_capacity(requests);
    for _ in 0..requests {
        let request = app
            .authed(Method::POST, "/v1/charges")
            .json(&charge_body(100, tokens::SUCCESS));
        answered.push(!times_out(request, EITHER).await);
    }
    assert_eq!(app.list_charges().await.len(), requests, "seed {seed}");
    answered
}

#[tokio::test]
async fn seeded_lost_answers_replay_with_the_same_seed_and_differ_with_another() {
    let (first, again, other) = tokio::join!(answered(7, 8), answered(7, 8), answered(8, 8));

    assert_eq!(first, again);
    assert_ne!(first, other);
    assert!(first.contains(&true) && first.contains(&false), "{first:?}");
}

#[tokio::test]
async fn a_held_answer_whose_client_gave_up_does_not_hold_up_stopping() {
    let app = forgetful_sim().await;
    let gave_up = times_out(
        app.authed(Method::POST, "/v1/charges")
            .json(&charge_body(100, tokens::SUCCESS)),
        HELD,
    )
    .await;
    assert!(gave_up, "the client got an answer");

    let started = Instant::now();
    app.sim.stop().await;
    let took = started.elapsed();

    // Stopping waits up to ten seconds for requests in flight; the held one ended when its
    // client hung up.
    assert!(took < Duration::from_secs(5), "stopping took {took:?}");
}

#[test]
#[should_panic(expected = "lose_answer_rate")]
fn a_lose_answer_rate_above_one_is_refused() {
    let _ = payment_sim::router(SimConfig {
        lose_answer_rate: 1.5,
        ..SimConfig::default()
    });
}
