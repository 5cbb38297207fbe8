//! The RED metrics of every route: requests by matched route, method and status, their
//! durations, the requests in flight, and the 429s of the rate limits. A layer around every
//! route (`Router::layer`), so the router has matched before it runs and the route is the
//! template (`/api/v1/products/{id}`), never the raw path; a request no route matches is
//! `unmatched`. The method is one of HTTP's own or `other`: a client may send any token.
//! [`crate::observe`] serves it, with the trace context, in one layer.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{Method, StatusCode};
use axum::response::Response;

use super::Metrics;

/// One request being recorded: taken from the request before the routes run
/// ([`Recording::start`]), closed with their answer ([`Recording::finish`]). Served by
/// [`crate::observe`], the layer every route is wrapped in.
pub struct Recording {
    method: &'static str,
    route: String,
    _in_flight: InFlight,
}

impl Recording {
    /// The request's labels (the matched route's template, or `unmatched`; the method or
    /// `other`), and the request counted in flight until the recording is dropped.
    pub fn start(metrics: &Arc<Metrics>, request: &Request) -> Self {
        Self {
            method: method_label(request.method()),
            route: request
                .extensions()
                .get::<MatchedPath>()
                .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned()),
            _in_flight: InFlight::enter(metrics.clone()),
        }
    }

    /// Counts the answer by status, its duration from `started`, and a 429 as a refusal.
    pub fn finish(self, metrics: &Metrics, response: &Response, started: Instant) {
        let status = response.status();
        metrics
            .http_requests
            .with_label_values(&[self.method, &self.route, status.as_str()])
            .inc();
        metrics
            .http_duration
            .with_label_values(&[self.method, &self.route])
            .observe(started.elapsed().as_secs_f64());
        if status == StatusCode::TOO_MANY_REQUESTS {
            metrics.rate_limited.with_label_values(&[&self.route]).inc();
        }
    }
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
struct InFlight(Arc<Metrics>);

impl InFlight {
    fn enter(metrics: Arc<Metrics>) -> Self {
        metrics.http_in_flight.inc();
        Self(metrics)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.http_in_flight.dec();
    }
}
