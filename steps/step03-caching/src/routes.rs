//! `GET /internal/cache`: the cache's and the Redis connection's counters, and whether Redis
//! answers now. Read-only and free of secrets; a production deployment would serve it (and
//! step 9's `/metrics`) only on an internal port or network.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::startup::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/internal/cache", get(cache_counters))
}

/// `{"cache":{"enabled":true,"hits":..,...},"redis":{"status":"ok"|"unavailable","calls":..}}`.
/// Always 200: a Redis outage is something this endpoint reports, not a failure of it.
pub async fn cache_counters(State(state): State<AppState>) -> Json<Value> {
    let status = match state.redis.ping().await {
        Ok(()) => "ok",
        Err(_) => "unavailable",
    };
    let mut redis = serde_json::to_value(state.redis.counters()).unwrap_or_default();
    redis["status"] = json!(status);
    Json(json!({
        "cache": state.cache_stats.snapshot(),
        "redis": redis,
    }))
}
