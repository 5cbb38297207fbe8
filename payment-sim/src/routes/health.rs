//! `GET /health`: answers as long as the process serves, with no auth, latency or injected
//! failures, so orchestration (compose, xtask) can wait for the simulator without a key and
//! without being fooled by a deliberately failing provider.

use axum::{Json, Router, routing::get};
use serde_json::{Value, json};

use crate::state::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/health", get(health))
}

async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}
