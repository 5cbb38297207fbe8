//! The simulator's knobs. A plain struct with public fields and a `Default`, because its users
//! are tests that want `SimConfig { latency, ..Default::default() }`; the binary fills it from
//! flags and environment variables in `main.rs`.

use std::time::Duration;

/// The API key the simulator accepts unless told otherwise. It is public on purpose (it is in
/// the docs): it guards nothing, it only lets tests check that the app sends a key at all.
pub const DEFAULT_API_KEY: &str = "sk_test_simulator";

/// How the simulated provider behaves.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The bearer token every `/v1` request must carry; default [`DEFAULT_API_KEY`]. Lets a test
    /// prove that the app authenticates (a wrong key in the app's config must surface as 401).
    pub api_key: String,
    /// Slept before answering every `/v1` request; default zero. Lets a test exercise the app's
    /// timeouts and see what a slow provider does to it.
    pub latency: Duration,
    /// Probability, within `0.0..=1.0`, that a `/v1` request answers 503 `api_error` without
    /// doing anything; default 0. Lets a test exercise retries, circuit breakers and sagas.
    pub failure_rate: f64,
    /// Probability, within `0.0..=1.0`, that a `/v1` `POST` that makes a charge or refund (or
    /// a declined charge) is carried out and stored, then never answered, so the client times
    /// out while the provider holds the money; default 0. Lets a test exercise the shop's idempotent retries and its
    /// reconciliation against a provider that did what it was asked and did not say so.
    pub lose_answer_rate: f64,
    /// Seeds the failure and lost-answer draws, so the same requests in the same order meet
    /// the same fates in every run; default `None`, fresh randomness each run.
    pub seed: Option<u64>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            api_key: DEFAULT_API_KEY.to_owned(),
            latency: Duration::ZERO,
            failure_rate: 0.0,
            lose_answer_rate: 0.0,
            seed: None,
        }
    }
}
