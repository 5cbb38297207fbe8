//! What the handlers and layers share. Each part is its own cheap-to-clone handle and is
//! reachable alone through `FromRef`, so a handler asks for the store, not for everything.

use axum::extract::FromRef;

use crate::{
    auth::ApiKey,
    config::SimConfig,
    faults::{Faults, Knobs, Settings},
    idempotency::Idempotency,
    store::Store,
};

#[derive(Clone, FromRef)]
pub(crate) struct AppState {
    pub(crate) store: Store,
    pub(crate) idempotency: Idempotency,
    /// Shared with `RunningSimulator`, which changes it while the server runs.
    pub(crate) faults: Faults,
    pub(crate) api_key: ApiKey,
}

impl AppState {
    /// # Panics
    /// If `config.failure_rate` or `config.lose_answer_rate` is outside `0.0..=1.0` (see
    /// `Settings::new`).
    pub(crate) fn new(config: SimConfig) -> AppState {
        let settings = Settings::new(Knobs {
            latency: config.latency,
            failure_rate: config.failure_rate,
            lose_answer_rate: config.lose_answer_rate,
            seed: config.seed,
        })
        .unwrap_or_else(|refused| panic!("{refused}"));
        AppState {
            store: Store::default(),
            idempotency: Idempotency::default(),
            faults: Faults::new(settings),
            api_key: ApiKey::new(config.api_key),
        }
    }
}
