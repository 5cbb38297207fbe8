//! Every request's trace context (W3C Trace Context): the caller's `traceparent` continued,
//! or a trace started here, put where everything after this layer finds it. In the request's
//! extensions, for step 0's `request` span, whose `trace_id` field then sits beside its
//! `request_id` on every line the request logs; and in the task-local of [`common::trace`],
//! from which the payments client passes it on in gRPC metadata and the outbox stores it with
//! the events the request writes, so one order is followed by one trace id through the API,
//! the payments service and the event consumers. The answer carries this hop's `traceparent`,
//! and one line per request is logged with both ids, the status and the duration.
//!
//! A malformed `traceparent` is dropped and a trace started, as the specification asks: a
//! broken header from a proxy must not fail the customer's request. The request id is made
//! here when the caller sent none (step 0's layer, inside this one, keeps the one it finds),
//! so the task-local holds the id the answer will carry.

use std::time::Instant;

use axum::Router;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::Response;
use common::trace::{self, TRACEPARENT, TraceContext};

/// The request id's header, as step 0's layers set and answer it.
const REQUEST_ID: &str = "x-request-id";

/// `routes` with every request traced (see the module docs). Outermost, so the context is
/// in place before step 0's `request` span is made.
pub fn layer(routes: Router) -> Router {
    routes.layer(middleware::from_fn(traced))
}

async fn traced(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let context = request
        .headers()
        .get(TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| TraceContext::parse(v).ok())
        .map_or_else(TraceContext::new_root, |parent| parent.child());
    let request_id = match request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| !id.is_empty())
    {
        Some(id) => id.to_owned(),
        None => {
            let id = trace::new_request_id();
            if let Ok(value) = HeaderValue::from_str(&id) {
                request.headers_mut().insert(REQUEST_ID, value);
            }
            id
        }
    };
    request.extensions_mut().insert(context);
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let mut response =
        trace::scope_request(context, Some(request_id.clone()), next.run(request)).await;
    if let Ok(value) = HeaderValue::from_str(&context.to_string()) {
        response.headers_mut().insert(TRACEPARENT, value);
    }
    tracing::info!(
        request_id = %request_id,
        trace_id = %context.trace_id(),
        %method,
        path = %path,
        status = response.status().as_u16(),
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request finished"
    );
    response
}
