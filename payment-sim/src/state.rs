//! What the handlers and layers share. Each part is its own cheap-to-clone handle and is
//! reachable alone through `FromRef`, so a handler asks for the store, not for everything.

use axum::extract::FromRef;

use crate::{
    auth::ApiKey,
    config::SimConfig,
    faults::{Faults, Settings},
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
    /// If `config.failure_rate` is outside `0.0..=1.0` (see `Settings::new`).
    pub(crate) fn new(config: SimConfig) -> AppState {
        AppState {
            store: Store::default(),
            idempotency: Idempotency::default(),
            faults: Faults::new(
                Settings::new(config.latency, config.failure_rate)
                    .unwrap_or_else(|refused| panic!("{refused}")),
            ),
            api_key: ApiKey::new(config.api_key),
        }
    }
}
