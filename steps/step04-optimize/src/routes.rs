//! Step 4's own routes. `GET /internal/noop` is the reference endpoint of every load report:
//! it answers a tiny constant JSON body without touching MongoDB, Redis or the clock, through
//! the same layers as every other route (request id, tracing, timeouts, security headers,
//! versioning), and no rate limit counts it. Its throughput is the ceiling of this HTTP stack
//! on this machine, so any other figure can be read as a share of it.

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::startup::AppState;

/// The reference endpoint's path (exempted from rate limiting in [`crate::startup`]).
pub const NOOP_PATH: &str = "/internal/noop";

/// The reference endpoint's body: constant, so serialising it costs nothing.
pub const NOOP_BODY: &str = r#"{"status":"ok"}"#;

pub fn router() -> Router<AppState> {
    Router::new().route(NOOP_PATH, get(noop))
}

/// `{"status":"ok"}`, always 200: the cost of the HTTP stack and nothing else.
pub async fn noop() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], NOOP_BODY)
}
