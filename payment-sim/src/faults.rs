//! Injected latency and outages, the reason a simulator beats a mock: the app's timeouts,
//! retries and compensations can be exercised against a provider that is slow or down. The
//! settings sit behind a shared `RwLock` so a running simulator can be made slow, then fast
//! again, in the middle of a test.

use std::{
    sync::{Arc, PoisonError, RwLock},
    time::Duration,
};

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use rand::Rng;

use crate::error::ApiError;

/// A handle on the current fault settings; clones share them.
#[derive(Clone, Debug)]
pub(crate) struct Faults {
    settings: Arc<RwLock<Settings>>,
}

#[derive(Clone, Copy, Debug)]
struct Settings {
    latency: Duration,
    failure_rate: f64,
}

impl Faults {
    /// # Panics
    /// If `failure_rate` is outside `0.0..=1.0` (see `set_failure_rate`).
    pub(crate) fn new(latency: Duration, failure_rate: f64) -> Faults {
        check_failure_rate(failure_rate);
        Faults {
            settings: Arc::new(RwLock::new(Settings {
                latency,
                failure_rate,
            })),
        }
    }

    pub(crate) fn latency(&self) -> Duration {
        self.read().latency
    }

    pub(crate) fn failure_rate(&self) -> f64 {
        self.read().failure_rate
    }

    pub(crate) fn set_latency(&self, latency: Duration) {
        self.write().latency = latency;
    }

    /// # Panics
    /// If `failure_rate` is outside `0.0..=1.0`: a probability out of range is a bug in the
    /// test that set it, and clamping it silently would hide that.
    pub(crate) fn set_failure_rate(&self, failure_rate: f64) {
        check_failure_rate(failure_rate);
        self.write().failure_rate = failure_rate;
    }

    fn read(&self) -> Settings {
        *self.settings.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Settings> {
        self.settings
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

fn check_failure_rate(failure_rate: f64) {
    assert!(
        (0.0..=1.0).contains(&failure_rate),
        "failure_rate is a probability and must be within 0.0..=1.0, got {failure_rate}"
    );
}

/// Sleeps the configured latency, then fails with the configured probability. Runs before
/// authentication: an outage does not care who is asking. The failure rate is read after the
/// sleep, so a test that lifts an outage during a slow request sees it lifted.
pub(crate) async fn inject_faults(
    State(faults): State<Faults>,
    request: Request,
    next: Next,
) -> Response {
    let latency = faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let failure_rate = faults.failure_rate();
    if failure_rate > 0.0 && rand::rng().random_bool(failure_rate) {
        tracing::info!(failure_rate, "injecting a simulated provider outage");
        return ApiError::ProviderOutage.into_response();
    }
    next.run(request).await
}
