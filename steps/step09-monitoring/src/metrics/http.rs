//! The RED metrics of every route: requests by matched route, method and status, their
//! durations, the requests in flight, and the 429s of the rate limits. A layer around every
//! route (`Router::layer`), so the router has matched before it runs and the route is the
//! template (`/api/v1/products/{id}`), never the raw path; a request no route matches is
//! `unmatched`. The method is one of HTTP's own or `other`: a client may send any token.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;

use super::Metrics;

/// `routes`, each recorded. The state is shared behind one `Arc`: axum clones a
/// middleware's state for every request, and [`Metrics`] is a score of handles.
pub fn layer(routes: Router, metrics: Metrics) -> Router {
    routes.layer(middleware::from_fn_with_state(Arc::new(metrics), record))
}

async fn record(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let _in_flight = InFlight::enter(&metrics);
    let response = next.run(request).await;
    let status = response.status();
    metrics
        .http_requests
        .with_label_values(&[method, &route, status.as_str()])
        .inc();
    metrics
        .http_duration
        .with_label_values(&[method, &route])
        .observe(started.elapsed().as_secs_f64());
    if status == StatusCode::TOO_MANY_REQUESTS {
        metrics.rate_limited.with_label_values(&[&route]).inc();
    }
    response
}

/// The method as a label: HTTP's methods by name, any other token as `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}

/// One request in flight; leaving it (the answer sent, or the client gone and the request
/// dropped) counts it out.
struct InFlight<'a>(&'a Metrics);

impl<'a> InFlight<'a> {
    fn enter(metrics: &'a Metrics) -> Self {
        metrics.http_in_flight.inc();
        Self(metrics)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.http_in_flight.dec();
    }
}
