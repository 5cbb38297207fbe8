//! The admin listener's routes: `GET /metrics`, in Prometheus's text format. At each scrape
//! the figures read from their sources are refreshed first ([`crate::metrics::scrape`]),
//! then every family is rendered.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::metrics::Metrics;
use crate::metrics::scrape::Sources;

/// What `/metrics` reads.
#[derive(Clone)]
pub struct Admin {
    pub metrics: Metrics,
    pub sources: Sources,
}

pub fn router(admin: Admin) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(admin)
}

/// 200 with every family, `text/plain; version=0.0.4`.
async fn metrics(State(admin): State<Admin>) -> Response {
    admin.sources.refresh(&admin.metrics).await;
    match admin.metrics.render() {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "rendering the metrics failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "rendering the metrics failed",
            )
                .into_response()
        }
    }
}
