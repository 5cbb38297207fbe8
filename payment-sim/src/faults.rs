//! Injected latency and outages, the reason a simulator beats a mock: the app's timeouts,
//! retries and compensations can be exercised against a provider that is slow or down. The
//! settings sit behind a shared `RwLock` so a running simulator can be made slow, then fast
//! again, in the middle of a test. There is one way to change them, [`Faults::change`], and one
//! check of what they may be, [`Settings::new`]: `SimConfig`, `RunningSimulator`'s setters and
//! the `PUT /sim/faults` route all go through both, so the three cannot disagree.

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

/// What the faults are at one moment. Only [`Settings::new`] makes one, so a failure rate
/// outside `0.0..=1.0` cannot be stored.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Settings {
    latency: Duration,
    failure_rate: f64,
}

impl Settings {
    /// Refuses a failure rate that is not a probability (NaN included), with a message that
    /// names the field: a probability out of range is a bug in whoever set it, and clamping it
    /// silently would hide that.
    pub(crate) fn new(latency: Duration, failure_rate: f64) -> Result<Settings, String> {
        if (0.0..=1.0).contains(&failure_rate) {
            Ok(Settings {
                latency,
                failure_rate,
            })
        } else {
            Err(format!(
                "failure_rate is a probability and must be within 0.0..=1.0, got {failure_rate}"
            ))
        }
    }

    pub(crate) fn latency(self) -> Duration {
        self.latency
    }

    pub(crate) fn failure_rate(self) -> f64 {
        self.failure_rate
    }
}

impl Faults {
    pub(crate) fn new(settings: Settings) -> Faults {
        Faults {
            settings: Arc::new(RwLock::new(settings)),
        }
    }

    pub(crate) fn get(&self) -> Settings {
        *self.settings.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Replaces the settings with what `change` makes of the current ones, under one write
    /// lock (so setting the latency cannot undo a failure rate set at the same moment), or
    /// leaves them as they were when `change` refuses. Returns the settings now in force.
    pub(crate) fn change<E>(
        &self,
        change: impl FnOnce(Settings) -> Result<Settings, E>,
    ) -> Result<Settings, E> {
        let mut settings = self
            .settings
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        *settings = change(*settings)?;
        Ok(*settings)
    }
}

/// Sleeps the configured latency, then fails with the configured probability. Runs before
/// authentication: an outage does not care who is asking. The failure rate is read after the
/// sleep, so a test that lifts an outage during a slow request sees it lifted.
///
/// The request is carried out on a task of its own, which the client hanging up does not
/// cancel: a real provider that has received a charge cannot tell that the shop stopped
/// waiting, and takes the money anyway. That charge, made after the shop's timeout, is what
/// the shop's idempotency keys are for, so the simulator must make it too.
pub(crate) async fn inject_faults(
    State(faults): State<Faults>,
    request: Request,
    next: Next,
) -> Response {
    let work = tokio::spawn(async move {
        let latency = faults.get().latency;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let failure_rate = faults.get().failure_rate;
        if failure_rate > 0.0 && rand::rng().random_bool(failure_rate) {
            tracing::info!(failure_rate, "injecting a simulated provider outage");
            return ApiError::ProviderOutage.into_response();
        }
        next.run(request).await
    });
    match work.await {
        Ok(response) => response,
        Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
        // Only a runtime shutting down cancels the task; nobody is left to read the answer.
        Err(_) => ApiError::ProviderOutage.into_response(),
    }
}
