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

/// `{"cache":{"enabled":true,"hits":..,...},"near":{"status":"serving"|"suspended"|"disabled",
/// "entries":..,"bytes":..},"redis":{"status":"ok"|"unavailable","calls":..}}`.
/// Always 200: a Redis outage is something this endpoint reports, not a failure of it.
pub async fn cache_counters(State(state): State<AppState>) -> Json<Value> {
    let status = match state.redis.ping().await {
        Ok(()) => "ok",
        Err(_) => "unavailable",
    };
    let mut redis = serde_json::to_value(state.redis.counters()).unwrap_or_default();
    redis["status"] = json!(status);
    let near = match &state.near {
        None => json!({ "status": "disabled" }),
        Some(near) => {
            let (entries, bytes) = near.size();
            let status = if near.is_serving() {
                "serving"
            } else {
                "suspended"
            };
            json!({ "status": status, "entries": entries, "bytes": bytes })
        }
    };
    Json(json!({
        "cache": state.cache_stats.snapshot(),
        "near": near,
        "redis": redis,
    }))
}
