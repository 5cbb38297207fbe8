//! `/sim/faults`: the simulator's own controls, which no real provider has. They let a client
//! that only has the simulator's URL and key (a contract suite run against a deployed shop)
//! make the provider slow, down or forgetful and healthy again, as a test in the same process
//! does with `RunningSimulator::set_latency` and the other setters; both change the same
//! settings through `Faults::change`.
//! The routes sit behind the API key but not behind the faults they control: an outage must
//! not lock out the request that lifts it.

use axum::{Json, Router, extract::State, routing::get};
use serde_json::{Value, json};

use crate::{
    domain::parse_faults,
    error::Result,
    extract::JsonBody,
    faults::{Faults, Settings},
    state::AppState,
};

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/sim/faults", get(get_faults).put(put_faults))
}

/// The settings on the wire; whole milliseconds, as they are set.
fn to_json(settings: Settings) -> Value {
    json!({
        "object": "faults",
        "latency_ms": u64::try_from(settings.latency().as_millis()).unwrap_or(u64::MAX),
        "failure_rate": settings.failure_rate(),
        "lose_answer_rate": settings.lose_answer_rate(),
        "seed": settings.seed(),
    })
}

async fn get_faults(State(faults): State<Faults>) -> Json<Value> {
    Json(to_json(faults.get()))
}

/// Replaces every setting for requests that arrive from now on (and starts a seed's sequence
/// again); a refused body changes nothing (`Faults::change` writes only what the parse
/// returns).
#[tracing::instrument(skip_all)]
async fn put_faults(State(faults): State<Faults>, JsonBody(body): JsonBody) -> Result<Json<Value>> {
    let now = faults.change(|_| parse_faults(body))?;
    tracing::info!(?now, "fault settings changed");
    Ok(Json(to_json(now)))
}
