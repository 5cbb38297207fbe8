//! The whole HTTP surface assembled in one place: the `/v1` resource routes behind fault
//! injection and authentication, the `/sim` controls behind authentication only, `/health` in
//! front of all of them, and JSON fallbacks for unknown routes and wrong methods, so a client
//! never has to parse a plain-text error.

mod charges;
mod controls;
mod health;
mod refunds;

use axum::{
    Router,
    extract::DefaultBodyLimit,
    http::{Method, StatusCode, Uri},
    middleware::{from_fn, from_fn_with_state},
};

use crate::{auth, error::ApiError, faults, state::AppState, telemetry};

/// Bodies here are a handful of fields; a small cap keeps a runaway client from making the
/// simulator buffer megabytes (and the 413 it gets is JSON like every other error).
const MAX_BODY_BYTES: usize = 64 * 1024;

pub(crate) fn router(state: AppState) -> Router {
    // `route_layer`, so the layers run for matched routes only: an unknown path is a 404, not
    // a 401. The last layer added runs first: faults, then authentication.
    let v1 = charges::router()
        .merge(refunds::router())
        .route_layer(from_fn_with_state(state.clone(), auth::require_api_key))
        .route_layer(from_fn_with_state(state.clone(), faults::inject_faults));
    let sim =
        controls::router().route_layer(from_fn_with_state(state.clone(), auth::require_api_key));
    health::router()
        .merge(v1)
        .merge(sim)
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(from_fn(telemetry::log_requests))
        .with_state(state)
}

async fn route_not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::InvalidRequest {
        status: StatusCode::NOT_FOUND,
        code: "route_not_found",
        param: None,
        message: format!(
            "Unrecognized request URL ({method} {}). This simulator serves /v1/charges, \
             /v1/charges/{{id}}, /v1/charges/{{id}}/refunds, /sim/faults and /health.",
            uri.path()
        ),
    }
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::InvalidRequest {
        status: StatusCode::METHOD_NOT_ALLOWED,
        code: "method_not_allowed",
        param: None,
        message: format!("{} does not accept {method}.", uri.path()),
    }
}
