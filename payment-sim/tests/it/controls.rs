//! `/sim/faults`: the faults changed over HTTP are the ones the in-process setters change, bad
//! input is a 400 that changes nothing, the key is required, and the controls answer while
//! the provider they control is slow or down.

use std::time::{Duration, Instant};

use payment_sim::tokens;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{charge_body, send, spawn_sim};

fn faults(latency_ms: u64, failure_rate: f64) -> Value {
    json!({ "latency_ms": latency_ms, "failure_rate": failure_rate })
}

/// A body with the optional fields too.
fn all_faults(latency_ms: u64, failure_rate: f64, lose_answer_rate: f64, seed: u64) -> Value {
    let mut body = faults(latency_ms, failure_rate);
    body["lose_answer_rate"] = json!(lose_answer_rate);
    body["seed"] = json!(seed);
    body
}

#[tokio::test]
async fn put_sim_faults_makes_the_provider_slow_and_down_and_get_reads_them_back() {
    let app = spawn_sim().await;

    let put = app.put_faults(&faults(300, 1.0)).await;
    let started = Instant::now();
    let charge = app.create_charge(&charge_body(100, tokens::SUCCESS)).await;
    let took = started.elapsed();

    put.assert_status(StatusCode::OK);
    let expected = json!({
        "object": "faults",
        "latency_ms": 300,
        "failure_rate": 1.0,
        "lose_answer_rate": 0.0,
        "seed": null,
    });
    assert_eq!(put.body, expected);
    assert_eq!(app.faults().await.body, expected);
    charge.assert_error(StatusCode::SERVICE_UNAVAILABLE, "api_error");
    assert!(took >= Duration::from_millis(300), "took {took:?}");
    app.put_faults(&faults(0, 0.0))
        .await
        .assert_status(StatusCode::OK);
    app.create_charge(&charge_body(100, tokens::SUCCESS))
        .await
        .assert_status(StatusCode::CREATED);
    assert_eq!(
        app.list_charges().await.len(),
        1,
        "the outage charged nothing"
    );
}

#[tokio::test]
async fn the_route_and_the_in_process_setters_change_the_same_settings() {
    let app = spawn_sim().await;

    app.sim.set_latency(Duration::from_millis(250));
    app.sim.set_failure_rate(0.5);
    app.sim.set_lose_answer_rate(0.125);
    app.sim.set_seed(Some(u64::MAX));
    let read_over_http = app.faults().await;
    app.put_faults(&all_faults(40, 0.25, 0.75, 3))
        .await
        .assert_status(StatusCode::OK);

    assert_eq!(
        read_over_http.body,
        json!({
            "object": "faults",
            "latency_ms": 250,
            "failure_rate": 0.5,
            "lose_answer_rate": 0.125,
            "seed": u64::MAX,
        })
    );
    assert_eq!(app.sim.latency(), Duration::from_millis(40));
    assert_eq!(app.sim.failure_rate(), 0.25);
    assert_eq!(app.sim.lose_answer_rate(), 0.75);
    assert_eq!(app.sim.seed(), Some(3));
}

#[tokio::test]
async fn a_put_with_only_todays_two_fields_turns_the_newer_ones_back_to_their_defaults() {
    let app = spawn_sim().await;
    app.sim.set_lose_answer_rate(0.5);
    app.sim.set_seed(Some(11));

    let put = app.put_faults(&faults(0, 0.0)).await;

    put.assert_status(StatusCode::OK);
    assert_eq!(put.body["lose_answer_rate"], 0.0);
    assert_eq!(put.body["seed"], Value::Null);
    assert_eq!(app.sim.lose_answer_rate(), 0.0);
    assert_eq!(app.sim.seed(), None);
}

#[tokio::test]
async fn a_bad_faults_body_is_400_naming_the_field_and_changes_nothing() {
    let app = spawn_sim().await;
    app.put_faults(&all_faults(120, 0.25, 0.5, 5))
        .await
        .assert_status(StatusCode::OK);
    let before = app.faults().await.body;

    let mut cases: Vec<(Value, Option<&str>, &str)> = vec![
        (
            faults(0, 1.5),
            Some("failure_rate"),
            "parameter_out_of_range",
        ),
        (
            faults(0, -0.1),
            Some("failure_rate"),
            "parameter_out_of_range",
        ),
        (
            json!({ "latency_ms": 0, "failure_rate": "0.5" }),
            Some("failure_rate"),
            "parameter_invalid_number",
        ),
        (
            json!({ "latency_ms": -1, "failure_rate": 0.0 }),
            Some("latency_ms"),
            "parameter_invalid_integer",
        ),
        (
            json!({ "latency_ms": 1.5, "failure_rate": 0.0 }),
            Some("latency_ms"),
            "parameter_invalid_integer",
        ),
        (
            json!({ "latency_ms": "100", "failure_rate": 0.0 }),
            Some("latency_ms"),
            "parameter_invalid_integer",
        ),
        (
            json!({ "failure_rate": 0.0 }),
            Some("latency_ms"),
            "parameter_missing",
        ),
        (
            json!({ "latency_ms": 0 }),
            Some("failure_rate"),
            "parameter_missing",
        ),
        (
            json!({ "latency_ms": 0, "failure_rate": 0.0, "jitter_ms": 5 }),
            Some("jitter_ms"),
            "parameter_unknown",
        ),
        (
            // The refusal names the rate that is out of range, not the other one.
            json!({ "latency_ms": 0, "failure_rate": 2.0, "lose_answer_rate": 0.5 }),
            Some("failure_rate"),
            "parameter_out_of_range",
        ),
        (json!([0, 0.0]), None, "invalid_json"),
        (json!(null), None, "invalid_json"),
    ];
    // The optional fields, each next to valid required ones.
    let optional = [
        ("lose_answer_rate", json!(1.5), "parameter_out_of_range"),
        ("lose_answer_rate", json!(-0.1), "parameter_out_of_range"),
        ("lose_answer_rate", json!("0.5"), "parameter_invalid_number"),
        ("seed", json!(-1), "parameter_invalid_integer"),
        ("seed", json!(1.5), "parameter_invalid_integer"),
        ("seed", json!("7"), "parameter_invalid_integer"),
    ];
    for (field, value, code) in optional {
        let mut body = faults(0, 0.0);
        body[field] = value;
        cases.push((body, Some(field), code));
    }
    for (body, param, code) in cases {
        let answer = app.put_faults(&body).await;

        let error = answer.assert_error(StatusCode::BAD_REQUEST, "invalid_request_error");
        assert_eq!(error["code"], code, "{body}");
        assert_eq!(error["param"].as_str(), param, "{body}");
    }
    let garbage = send(
        app.authed(Method::PUT, "/sim/faults")
            .header("content-type", "application/json")
            .body("{\"latency_ms\": 0,"),
    )
    .await;
    garbage.assert_error(StatusCode::BAD_REQUEST, "invalid_request_error");
    assert_eq!(app.faults().await.body, before);
    assert_eq!(app.sim.latency(), Duration::from_millis(120));
    assert_eq!(app.sim.failure_rate(), 0.25);
    assert_eq!(app.sim.lose_answer_rate(), 0.5);
    assert_eq!(app.sim.seed(), Some(5));
}

#[tokio::test]
async fn the_sim_routes_are_401_without_the_api_key_and_change_nothing() {
    let app = spawn_sim().await;

    for key in [None, Some("sk_test_wrong")] {
        for method in [Method::GET, Method::PUT] {
            let mut request = app
                .client
                .request(method.clone(), app.url("/sim/faults"))
                .json(&faults(5_000, 1.0));
            if let Some(key) = key {
                request = request.bearer_auth(key);
            }
            let answer = send(request).await;

            answer.assert_error(StatusCode::UNAUTHORIZED, "authentication_error");
            assert!(
                answer.header("www-authenticate").is_some(),
                "{method} {key:?}"
            );
        }
    }
    assert_eq!(app.sim.latency(), Duration::ZERO);
    assert_eq!(app.sim.failure_rate(), 0.0);
}

#[tokio::test]
async fn the_sim_routes_answer_at_once_while_the_provider_is_slow_and_down() {
    let app = spawn_sim().await;
    app.sim.set_latency(Duration::from_secs(5));
    app.sim.set_failure_rate(1.0);

    let started = Instant::now();
    let read = app.faults().await;
    let lifted = app.put_faults(&faults(0, 0.0)).await;
    let took = started.elapsed();

    read.assert_status(StatusCode::OK);
    lifted.assert_status(StatusCode::OK);
    assert!(
        took < Duration::from_secs(4),
        "the controls waited {took:?}"
    );
    app.create_charge(&charge_body(100, tokens::SUCCESS))
        .await
        .assert_status(StatusCode::CREATED);
}
