//! RFC 9457 problem details for every `/api/v2` error. One outer layer renders them, whoever
//! produced the error: our handlers and extractors, the router's 404 and 405, the timeout,
//! the rate limiter. It reads the [`ErrorDetail`] that common's errors (and its error
//! envelope, which adds the request id) leave in the response's extensions, so v1 and v2
//! tell the same error with the same code and message, each in its own shape. A bare error
//! status without a detail still becomes a problem, named after its status.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use common::error::ErrorDetail;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa::openapi::RefOr;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// Problem types are `<base><code in kebab case>`, e.g. `.../problems/invalid-parameter`.
/// They identify, they do not resolve (`.example` is reserved): a deployed API would point
/// them at its documentation.
pub const PROBLEM_TYPE_BASE: &str = "https://stepwise-shop.example/problems/";

/// An RFC 9457 problem, with this API's extensions `code`, `request_id` and `errors`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// Identifies the kind of problem; stable per `code`.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// The status's reason phrase: the same for every occurrence of the kind.
    pub title: String,
    pub status: u16,
    /// This occurrence, in words.
    pub detail: String,
    /// The path the request was for.
    pub instance: String,
    /// The same stable code v1's `error.code` carries (`INVALID_PARAMETER`, `NOT_FOUND`...).
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The offending fields or parameters, when there are any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemField>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProblemField {
    pub field: String,
    pub reason: String,
}

/// v2's 429: common's description and rate-limit headers, with a problem as the body.
pub struct TooManyRequestsProblem;

impl<'s> utoipa::ToResponse<'s> for TooManyRequestsProblem {
    fn response() -> (&'s str, RefOr<utoipa::openapi::Response>) {
        let response = common::openapi::with_rate_limit_headers(problem_response(
            common::openapi::TOO_MANY_REQUESTS,
        ));
        ("TooManyRequestsProblem", RefOr::T(response.build()))
    }
}

/// v2's 503 (database down or `TIMEOUT`): common's description, with a problem as the body.
pub struct ServiceUnavailableProblem;

impl<'s> utoipa::ToResponse<'s> for ServiceUnavailableProblem {
    fn response() -> (&'s str, RefOr<utoipa::openapi::Response>) {
        let response = problem_response(common::openapi::SERVICE_UNAVAILABLE);
        ("ServiceUnavailableProblem", RefOr::T(response.build()))
    }
}

fn problem_response(description: &str) -> utoipa::openapi::ResponseBuilder {
    common::openapi::error_response_as(description, PROBLEM_JSON, "Problem")
}

fn is_v2(path: &str) -> bool {
    path == "/api/v2" || path.starts_with("/api/v2/")
}

/// A code for an error status nothing described (only what an outer layer can produce).
fn code_for(status: StatusCode) -> String {
    match status {
        StatusCode::TOO_MANY_REQUESTS => "RATE_LIMITED".to_owned(),
        StatusCode::INTERNAL_SERVER_ERROR => "INTERNAL".to_owned(),
        other => other
            .canonical_reason()
            .unwrap_or("ERROR")
            .to_ascii_uppercase()
            .replace([' ', '-'], "_"),
    }
}

impl Problem {
    pub fn new(status: StatusCode, detail: &ErrorDetail, instance: &str) -> Self {
        Self {
            problem_type: format!(
                "{PROBLEM_TYPE_BASE}{}",
                detail.code.to_ascii_lowercase().replace('_', "-")
            ),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.message.clone(),
            instance: instance.to_owned(),
            code: detail.code.to_owned(),
            request_id: detail.request_id.clone(),
            errors: detail
                .fields
                .iter()
                .map(|f| ProblemField {
                    field: f.field.clone(),
                    reason: f.reason.clone(),
                })
                .collect(),
        }
    }

    /// A problem for a status that came without a detail.
    fn bare(status: StatusCode, instance: &str, request_id: Option<String>) -> Self {
        let code = code_for(status);
        Self {
            problem_type: format!(
                "{PROBLEM_TYPE_BASE}{}",
                code.to_ascii_lowercase().replace('_', "-")
            ),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: status
                .canonical_reason()
                .unwrap_or("the request failed")
                .to_owned(),
            instance: instance.to_owned(),
            code,
            request_id,
            errors: Vec::new(),
        }
    }
}

/// The outer layer: re-renders `/api/v2` error responses as problem+json, keeping their
/// status and headers (`Retry-After`, rate-limit and security headers, the request id).
pub async fn problem_json(request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    if !is_v2(&path) {
        return next.run(request).await;
    }
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let problem = match parts.extensions.remove::<ErrorDetail>() {
        Some(detail) => Problem::new(status, &detail, &path),
        None => {
            let is_json = parts
                .headers
                .get(header::CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
            if is_json {
                // A handler's own JSON answer, not an error the API describes: left alone.
                return Response::from_parts(parts, body);
            }
            let request_id = parts
                .headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            Problem::bare(status, &path, request_id)
        }
    };
    let mut rendered = axum::Json(problem).into_response();
    *rendered.status_mut() = status;
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_LENGTH && name != header::CONTENT_TYPE {
            rendered.headers_mut().append(name.clone(), value.clone());
        }
    }
    rendered
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    rendered
}
