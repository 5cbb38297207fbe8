//! `Idempotency-Key` handling: the first request with a key runs and its answer is recorded;
//! later requests with that key and the same route and body get the recorded answer again,
//! marked `Idempotent-Replayed: true`; with anything else, a 409. Each key has its own async
//! mutex held while the first request runs, so concurrent retries wait for it and then
//! replay, instead of racing to create two charges. (Stripe answers such a concurrent retry
//! with a 409; waiting is friendlier to the app under test and observably just as safe.)

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use axum::{
    http::{HeaderName, HeaderValue},
    response::{IntoResponse, Response},
};
use serde_json::Value;

use crate::error::{ApiError, Reply};

/// Marks a replayed answer, as Stripe does.
pub(crate) const REPLAYED_HEADER: HeaderName = HeaderName::from_static("idempotent-replayed");

/// What makes two requests "the same": route and body. The body is compared as parsed JSON,
/// so whitespace and key order do not matter (`serde_json::Map` is sorted).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Fingerprint {
    pub(crate) route: String,
    pub(crate) body: Value,
}

struct Recorded {
    fingerprint: Fingerprint,
    reply: Reply,
}

/// One slot per key ever used. `None` inside means "no answer recorded yet" (never run, or
/// the earlier run was not recordable). A teaching shortcut: keys are kept forever, where
/// Stripe forgets them after 24 hours.
type Slot = Arc<tokio::sync::Mutex<Option<Recorded>>>;

#[derive(Clone, Default)]
pub(crate) struct Idempotency {
    slots: Arc<Mutex<HashMap<String, Slot>>>,
}

impl Idempotency {
    /// Runs `operation` at most once per key and fingerprint (unless it ends unrecordably, see
    /// `ApiError::is_recorded`), and answers for it.
    pub(crate) async fn run(
        &self,
        key: Option<String>,
        fingerprint: Fingerprint,
        operation: impl FnOnce() -> Result<Reply, ApiError>,
    ) -> Response {
        let Some(key) = key else {
            return answer(operation());
        };
        let slot = self.slot(key);
        let mut recorded = slot.lock().await;
        if let Some(earlier) = recorded.as_ref() {
            if earlier.fingerprint != fingerprint {
                return ApiError::IdempotencyKeyReused.into_response();
            }
            let mut response = earlier.reply.clone().into_response();
            response
                .headers_mut()
                .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
            return response;
        }
        let outcome = operation();
        let reply = match &outcome {
            Ok(reply) => Some(reply.clone()),
            Err(err) if err.is_recorded() => Some(err.to_reply()),
            Err(_) => None,
        };
        if let Some(reply) = reply {
            *recorded = Some(Recorded { fingerprint, reply });
        }
        answer(outcome)
    }

    fn slot(&self, key: String) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots.entry(key).or_default().clone()
    }
}

fn answer(outcome: Result<Reply, ApiError>) -> Response {
    match outcome {
        Ok(reply) => reply.into_response(),
        Err(err) => err.into_response(),
    }
}
