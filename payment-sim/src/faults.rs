//! Injected latency, outages and lost answers, the reason a simulator beats a mock: the app's
//! timeouts, retries and compensations can be exercised against a provider that is slow, down,
//! or that takes the money and never says so. The settings sit behind a shared lock so a
//! running simulator can be made slow, then fast again, in the middle of a test. There is one
//! way to change them, [`Faults::change`], and one check of what they may be,
//! [`Settings::new`]: `SimConfig`, `RunningSimulator`'s setters and the `PUT /sim/faults`
//! route all go through both, so the three cannot disagree.

use std::{
    fmt,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use axum::{
    extract::{Request, State},
    http::{Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use rand::{Rng, RngCore, SeedableRng, rngs::StdRng};

use crate::error::ApiError;

/// A handle on the current fault settings and the random numbers drawn against them; clones
/// share both.
#[derive(Clone, Debug)]
pub(crate) struct Faults {
    inner: Arc<Mutex<Inner>>,
}

/// The settings and the seeded sequence under one lock, so a change of seed and the draws
/// cannot interleave.
#[derive(Debug)]
struct Inner {
    settings: Settings,
    /// `Some` exactly when `settings` has a seed. Started again from the seed at every change
    /// of the settings, so what follows a change depends only on the settings and the
    /// requests since, whatever came before.
    seeded: Option<StdRng>,
}

/// The fault settings as a caller asks for them, unchecked; [`Settings::new`] checks them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Knobs {
    pub(crate) latency: Duration,
    pub(crate) failure_rate: f64,
    pub(crate) lose_answer_rate: f64,
    pub(crate) seed: Option<u64>,
}

/// What the faults are at one moment. Only [`Settings::new`] makes one, so a rate outside
/// `0.0..=1.0` cannot be stored.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Settings(Knobs);

/// Why [`Settings::new`] refused: the field, so a 400 can name its `param`, and a message.
#[derive(Debug)]
pub(crate) struct Refused {
    pub(crate) field: &'static str,
    pub(crate) message: String,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Settings {
    /// Refuses a rate that is not a probability (NaN included), naming the field: a
    /// probability out of range is a bug in whoever set it, and clamping it silently would
    /// hide that.
    pub(crate) fn new(knobs: Knobs) -> Result<Settings, Refused> {
        let rates = [
            ("failure_rate", knobs.failure_rate),
            ("lose_answer_rate", knobs.lose_answer_rate),
        ];
        for (field, rate) in rates {
            if !(0.0..=1.0).contains(&rate) {
                return Err(Refused {
                    field,
                    message: format!(
                        "{field} is a probability and must be within 0.0..=1.0, got {rate}"
                    ),
                });
            }
        }
        Ok(Settings(knobs))
    }

    /// The settings as knobs, for a caller that changes one and checks the result again.
    pub(crate) fn knobs(self) -> Knobs {
        self.0
    }

    pub(crate) fn latency(self) -> Duration {
        self.0.latency
    }

    pub(crate) fn failure_rate(self) -> f64 {
        self.0.failure_rate
    }

    pub(crate) fn lose_answer_rate(self) -> f64 {
        self.0.lose_answer_rate
    }

    pub(crate) fn seed(self) -> Option<u64> {
        self.0.seed
    }
}

/// What one `/v1` request is in for, drawn once it has waited out the latency.
struct Fate {
    fail: bool,
    lose_answer: bool,
}

impl Faults {
    pub(crate) fn new(settings: Settings) -> Faults {
        Faults {
            inner: Arc::new(Mutex::new(Inner {
                settings,
                seeded: settings.seed().map(StdRng::seed_from_u64),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn get(&self) -> Settings {
        self.lock().settings
    }

    /// Replaces the settings with what `change` makes of the current ones, under one lock (so
    /// setting the latency cannot undo a failure rate set at the same moment), or leaves them
    /// as they were when `change` refuses. A seed in the new settings starts its sequence
    /// again. Returns the settings now in force.
    pub(crate) fn change<E>(
        &self,
        change: impl FnOnce(Settings) -> Result<Settings, E>,
    ) -> Result<Settings, E> {
        let mut inner = self.lock();
        let settings = change(inner.settings)?;
        *inner = Inner {
            settings,
            seeded: settings.seed().map(StdRng::seed_from_u64),
        };
        Ok(settings)
    }

    /// Draws a request's fate under one lock, so a seeded sequence is used up in the order
    /// requests get here: first whether it fails, then, for one that would change something
    /// and does not fail, whether its answer is lost. Without a seed, the thread's generator.
    fn fate(&self, changes_something: bool) -> Fate {
        let mut inner = self.lock();
        let settings = inner.settings;
        let mut unseeded = rand::rng();
        let rng: &mut dyn RngCore = match &mut inner.seeded {
            Some(seeded) => seeded,
            None => &mut unseeded,
        };
        let fail = settings.failure_rate() > 0.0 && rng.random_bool(settings.failure_rate());
        let lose_answer = !fail
            && changes_something
            && settings.lose_answer_rate() > 0.0
            && rng.random_bool(settings.lose_answer_rate());
        Fate { fail, lose_answer }
    }
}

/// Sleeps the configured latency, then fails with the configured probability, or carries the
/// request out and, with the lose-answer probability, never answers. Runs before
/// authentication: an outage does not care who is asking. The rates are read after the sleep,
/// so a test that lifts an outage during a slow request sees it lifted.
///
/// The request is carried out on a task of its own, which the client hanging up does not
/// cancel: a real provider that has received a charge cannot tell that the shop stopped
/// waiting, and takes the money anyway. That charge, made after the shop's timeout, is what
/// the shop's idempotency keys are for, so the simulator must make it too.
///
/// A lost answer is held, not sent: the charge or refund is stored and recorded under its
/// idempotency key, then this future waits forever, so the client sees its own timeout, the
/// one failure that leaves it unable to tell whether the money moved. (Dropping the
/// connection instead would tell it something went wrong on the wire, a different case.) The
/// wait ends when the client hangs up, which drops this future, or when the simulator stops.
/// Only answers to `POST`s that made something are lost (see `made_something`): a lost
/// answer to a read, or to a request refused with nothing done, would only slow a test down.
pub(crate) async fn inject_faults(
    State(faults): State<Faults>,
    request: Request,
    next: Next,
) -> Response {
    let changes_something = request.method() == Method::POST;
    let work = tokio::spawn(async move {
        let latency = faults.get().latency();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let fate = faults.fate(changes_something);
        if fate.fail {
            tracing::info!("injecting a simulated provider outage");
            return (ApiError::ProviderOutage.into_response(), false);
        }
        (next.run(request).await, fate.lose_answer)
    });
    match work.await {
        Ok((response, true)) if made_something(response.status()) => {
            tracing::info!(status = %response.status(), "losing the answer of a request carried out");
            std::future::pending().await
        }
        Ok((response, _)) => response,
        Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
        // Only a runtime shutting down cancels the task; nobody is left to read the answer.
        Err(_) => ApiError::ProviderOutage.into_response(),
    }
}

/// A charge or refund made (2xx), or a declined charge, which is stored as `failed` (402):
/// the answers the idempotency layer records, so a retry with the key gets them back.
fn made_something(status: StatusCode) -> bool {
    status.is_success() || status == StatusCode::PAYMENT_REQUIRED
}
