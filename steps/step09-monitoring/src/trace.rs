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
//! so the task-local holds the id the answer will carry. [`crate::observe`] serves it, with
//! the RED metrics, in one layer.

use std::time::Instant;

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::response::Response;
use common::trace::{self, TRACEPARENT, TraceContext};

/// The request id's header, as step 0's layers set and answer it.
const REQUEST_ID: &str = "x-request-id";

/// One request's trace: its context and request id, taken from the request (or made) before
/// the routes run ([`Traced::start`]), and its closing line ([`Traced::finish`]). Served by
/// [`crate::observe`], outermost, so the context is in place before step 0's `request` span
/// is made.
pub struct Traced {
    pub context: TraceContext,
    pub request_id: String,
    method: axum::http::Method,
    path: String,
}

impl Traced {
    /// The caller's `traceparent` continued (a child span) or a trace started; the caller's
    /// request id or a new one, put in the request's header for step 0's layer; the context
    /// put in the request's extensions for step 0's span.
    pub fn start(request: &mut Request) -> Self {
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
        Self {
            context,
            request_id,
            method: request.method().clone(),
            path: request.uri().path().to_owned(),
        }
    }

    /// The answer's `traceparent` (this hop's span), and the request's one line: both ids,
    /// the method, path, status and the duration from `started`.
    pub fn finish(self, response: &mut Response, started: Instant) {
        if let Ok(value) = HeaderValue::from_str(&self.context.to_string()) {
            response.headers_mut().insert(TRACEPARENT, value);
        }
        tracing::info!(
            request_id = %self.request_id,
            trace_id = %self.context.trace_id(),
            method = %self.method,
            path = %self.path,
            status = response.status().as_u16(),
            duration_ms = started.elapsed().as_secs_f64() * 1000.0,
            "request finished"
        );
    }
}
