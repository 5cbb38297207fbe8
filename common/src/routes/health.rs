//! `GET /health`: 200 when every dependency answers, 503 naming the ones that do not.

use std::collections::BTreeMap;

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::services::HealthChecks;

pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    HealthChecks: FromRef<S>,
{
    Router::new().route("/health", get(health))
}

/// `{"status":"ok"|"unavailable","checks":{"mongodb":"ok"|"unavailable",...}}`, and
/// `"details":{"<check>":{...}}` for the checks that measure something (step 6's replica lag).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // only a schema: the handler builds the same shape with `json!`
pub struct HealthResponse {
    #[schema(pattern = "^(ok|unavailable)$")]
    status: String,
    checks: BTreeMap<String, String>,
    #[schema(value_type = Option<Object>)]
    details: Option<BTreeMap<String, serde_json::Value>>,
}

#[utoipa::path(
        get,
        path = "/health",
        tag = "health",
        responses(
            (status = 200, description = "every dependency answers", body = HealthResponse),
            (status = 503, description = "some dependency does not; `checks` names it", body = HealthResponse),
        )
    )]
pub async fn health(State(checks): State<HealthChecks>) -> impl IntoResponse {
    let results = checks.run().await;
    let state_details = checks.details();
    let healthy = results.iter().all(|(_, r)| r.is_ok());
    let checks: BTreeMap<_, _> = results
        .into_iter()
        .map(|(name, result)| match result {
            Ok(()) => (name, "ok"),
            Err(reason) => {
                tracing::warn!(check = name, %reason, "health check failed");
                (name, "unavailable")
            }
        })
        .collect();
    let (status, word) = if healthy {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    };
    let details = state_details;
    let mut body = json!({ "status": word, "checks": checks });
    if !details.is_empty() {
        body["details"] = json!(details);
    }
    (status, Json(body))
}
