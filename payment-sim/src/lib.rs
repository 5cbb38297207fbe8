//! # payment-sim: a payment provider SIMULATOR
//!
//! This crate is a **test double**. It pretends to be an external card payment provider
//! (shaped after Stripe's charges API) so the shop can be run and tested on a laptop without
//! an account, a network connection or real money. It is not a payment provider, it talks to no
//! bank, and nothing it says about a "card" means anything outside this process. The shop's app
//! reaches it over HTTP at a base URL that is configuration on the app side, exactly as it would
//! reach the real provider.
//!
//! ## What it answers
//! JSON in, JSON out, errors included. Every `/v1` and `/sim` route needs
//! `Authorization: Bearer <api_key>`; `/sim` routes are the simulator's own controls, which a
//! real provider does not have.
//!
//! | Route | Answer |
//! |---|---|
//! | `POST /v1/charges` | `{"amount", "currency", "source", "description"?, "metadata"?}`: 201 charge, 402 card error, 400 bad input |
//! | `GET /v1/charges` | 200 `{"object":"list","data":[..]}`, newest first (a simulator extra, so tests can count charges) |
//! | `GET /v1/charges/{id}` | 200 charge with `amount_refunded` and `refunded`, 404 unknown id |
//! | `POST /v1/charges/{id}/refunds` | `{"amount"?}` (default: what remains): 201 refund, 404, 400 |
//! | `GET /sim/faults` | 200 `{"object":"faults","latency_ms","failure_rate","lose_answer_rate","seed"}` (`seed` is `null` when unset): the injected faults now (a simulator extra) |
//! | `PUT /sim/faults` | `{"latency_ms","failure_rate","lose_answer_rate"?,"seed"?}`, the first two required, the others 0 and `null` when left out: 200 the new settings, 400 bad input naming the field (nothing changes); a simulator extra, so a client with only the URL and key can make the provider slow, down or forgetful |
//! | `GET /health` | 200 `{"status":"ok"}`; no auth, no latency, no failures |
//!
//! Errors look like `{"error":{"type":"card_error","code":"card_declined","message":"..",..}}`
//! with `type` one of `authentication_error` (401), `invalid_request_error` (400/404/405/413,
//! with `param` naming the field where there is one), `card_error` (402, with `charge`),
//! `idempotency_error` (409) and `api_error` (503). Every response carries a `Request-Id` header.
//!
//! `POST` routes honour an `Idempotency-Key` header: the same key with the same route and body
//! replays the recorded answer (same status and body, plus `Idempotent-Replayed: true`) and
//! creates nothing; the same key with a different route or body is a 409. Requests with one key
//! are serialised, so concurrent retries cannot create two charges. As at Stripe, only answers
//! from requests that got as far as touching a card (201 and 402) are recorded; a 400 is not,
//! so a corrected retry may reuse its key.
//!
//! ## Test tokens
//! The `source` of a charge is one of the tokens in [`tokens`]:
//! - [`tokens::SUCCESS`] (`tok_success`): 201, status `succeeded`.
//! - [`tokens::DECLINE`] (`tok_decline`): 402 `card_declined`; the charge is stored as `failed`.
//! - [`tokens::INSUFFICIENT_FUNDS`] (`tok_insufficient_funds`): 402 `insufficient_funds`, stored
//!   as `failed`.
//!
//! Any other token is a 400 (`resource_missing`, param `source`).
//!
//! ## Faults on purpose
//! [`SimConfig::latency`] is slept before every `/v1` answer and [`SimConfig::failure_rate`] is
//! the probability that a `/v1` request gets 503 `api_error` with no side effects.
//! [`SimConfig::lose_answer_rate`] is the probability that a `/v1` `POST` that did not fail is
//! carried out (the charge or refund stored, the answer recorded under its idempotency key)
//! and then, if it made a charge or refund (201) or a declined charge (402), never answered:
//! the request is held open until the client gives up, so the client sees its own timeout
//! while the provider holds the money. A retry with the same
//! `Idempotency-Key` then replays the stored answer. A running simulator can change all of
//! them, in the same process ([`RunningSimulator::set_latency`],
//! [`RunningSimulator::set_failure_rate`], [`RunningSimulator::set_lose_answer_rate`]) or over
//! HTTP (`PUT /sim/faults`, through the same code), so a test can make the provider slow,
//! down or forgetful, then healthy again. The settings are the simulator's, not a client's:
//! every client sees them.
//!
//! The draws are random unless [`SimConfig::seed`] (or [`RunningSimulator::set_seed`], or
//! `"seed"` in `PUT /sim/faults`) is set: then they come from a generator seeded with it, so
//! the same requests in the same order meet the same fates in every run. Every change of the
//! settings starts the seed's sequence again.
//!
//! A `/v1` request that has arrived is carried out even if its client stops waiting (times
//! out, hangs up): a charge the shop gave up on still lands a latency later, as it would at a
//! real provider, which is the case the shop's idempotency keys exist for.
//!
//! ## Run it
//! ```text
//! cargo run -p payment-sim -- --port 4242 --latency-ms 200 --failure-rate 0.1
//! curl -s localhost:4242/v1/charges -H 'Authorization: Bearer sk_test_simulator' \
//!      -d '{"amount":1999,"currency":"EUR","source":"tok_success"}'
//! curl -s -X PUT localhost:4242/sim/faults -H 'Authorization: Bearer sk_test_simulator' \
//!      -d '{"latency_ms":0,"failure_rate":1}'     # the provider is down until set back
//! curl -s -X PUT localhost:4242/sim/faults -H 'Authorization: Bearer sk_test_simulator' \
//!      -d '{"latency_ms":0,"failure_rate":0.2,"lose_answer_rate":0.2,"seed":7}'  # replayable
//! ```
//! Every flag has an environment variable (`PAYMENT_SIM_HOST`, `PAYMENT_SIM_PORT`,
//! `PAYMENT_SIM_API_KEY`, `PAYMENT_SIM_LATENCY_MS`, `PAYMENT_SIM_FAILURE_RATE`,
//! `PAYMENT_SIM_LOSE_ANSWER_RATE`, `PAYMENT_SIM_SEED`).
//! In a test, start one in-process on a free port:
//! ```text
//! let sim = payment_sim::RunningSimulator::start(SimConfig::default()).await?;
//! let base_url = sim.base_url(); // hand this to the app's configuration
//! ```
//!
//! ## Teaching shortcuts
//! Everything lives in memory and is lost on exit; there is no pagination, no capture step, no
//! webhooks and no currency list (any three capital letters will do). Request bodies are JSON,
//! where the real Stripe API takes form encoding.
//!
//! ## Map of the crate
//! - [`config`]: [`SimConfig`], the knobs.
//! - `startup`: [`RunningSimulator`], serving the router on a socket and stopping it.
//! - `routes/`: one module per resource (`charges`, `refunds`, `health`, and `controls` for
//!   `/sim/faults`) plus fallbacks.
//! - `domain`: parsing request bodies into valid inputs; `store`: the in-memory charges.
//! - `idempotency`, `auth`, `faults`, `telemetry`: the cross-cutting layers.
//! - `error`: the one error type and its JSON shape; `extract`: body and header extractors.

pub mod config;
pub mod tokens;

mod auth;
mod domain;
mod error;
mod extract;
mod faults;
mod idempotency;
mod routes;
mod startup;
mod state;
mod store;
mod telemetry;

pub use config::SimConfig;
pub use startup::RunningSimulator;

/// The simulator as an axum [`Router`](axum::Router) with a fresh, empty in-memory store.
///
/// Serve it anywhere (`axum::serve`), or drive it with `tower::ServiceExt::oneshot`. Use
/// [`RunningSimulator`] instead when a test needs a real socket or needs to change faults
/// while the simulator runs.
///
/// # Panics
/// If `config.failure_rate` or `config.lose_answer_rate` is not within `0.0..=1.0`: that is a
/// bug in the caller's test setup, not something to limp along with.
pub fn router(config: SimConfig) -> axum::Router {
    routes::router(state::AppState::new(config))
}
