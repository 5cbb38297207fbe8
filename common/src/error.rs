//! The one error type of the API and the one JSON shape every client sees.
//!
//! Server-side, [`Error`] carries everything needed to understand a failure (the source chain of
//! a MongoDB or HTTP error). Client-side, only a small, stable [`ErrorDetail`] goes out:
//! `{"error":{"code","message","fields"?,"request_id"?}}`. Internal details are logged once, in
//! the request's span (which carries the request id), and never sent to the client.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::store::StoreError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a request can fail with. Each variant's doc names the status it becomes.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 422 `VALIDATION_FAILED`: the body parsed but its values break the rules.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// 400 `MALFORMED_JSON`: the body is not JSON.
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    /// 400 `INVALID_PARAMETER`: a path or query value does not parse.
    #[error("invalid parameter {name}: {reason}")]
    InvalidParameter { name: String, reason: String },
    /// 415 `UNSUPPORTED_MEDIA_TYPE`.
    #[error("expected Content-Type: application/json")]
    UnsupportedMediaType,
    /// 413 `PAYLOAD_TOO_LARGE`.
    #[error("request body too large")]
    PayloadTooLarge,
    /// 401 `UNAUTHORIZED`: no valid credentials. Deliberately carries no detail.
    #[error("unauthorized")]
    Unauthorized,
    /// 403 `FORBIDDEN`: signed in, but not allowed.
    #[error("forbidden")]
    Forbidden,
    /// 404 `NOT_FOUND`: `what` names the missing thing ("product", "order", "route").
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 405 `METHOD_NOT_ALLOWED`.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409 with a specific code (`EMAIL_TAKEN`, `OUT_OF_STOCK`, `INVALID_STATE`, ...).
    #[error("{code}: {message}")]
    Conflict {
        code: &'static str,
        message: String,
        fields: Vec<FieldError>,
    },
    /// 402 `PAYMENT_DECLINED`: the provider refused the card; `reason` is the provider's code.
    #[error("payment declined: {reason}")]
    PaymentDeclined { reason: String },
    /// 503 `PAYMENT_PROVIDER_UNAVAILABLE`: down, too slow, or answering garbage.
    #[error("payment provider unavailable")]
    PaymentUnavailable(#[source] anyhow::Error),
    /// 429 `RATE_LIMITED`, with `Retry-After`: this client sent more requests than its rate
    /// limit allows (step 2); nothing was done, and it may try again after that many seconds.
    #[error("rate limited; retry after {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// 503 `MAINTENANCE`, with `Retry-After`: this kind of write is paused for a short
    /// maintenance (step 5 pauses order writes while it moves orders to PostgreSQL); nothing
    /// was done, and the same request may be sent again after that many seconds.
    #[error("{what} paused for maintenance; retry after {retry_after_secs} s")]
    Maintenance {
        what: &'static str,
        retry_after_secs: u64,
    },
    /// 503 `TIMEOUT`: the request ran past `server.request_timeout_ms`. Work that must not be
    /// abandoned half-way (placing, paying, cancelling orders) runs on; the client should look
    /// at the result before retrying.
    #[error("request timed out")]
    Timeout,
    /// `status` (a 4xx), as `detail` says, with `Retry-After` when the client is to wait: a
    /// refusal a later step defines whose code this enum does not know (step 6's
    /// `IDEMPOTENCY_KEY_REUSED` and `IDEMPOTENCY_KEY_IN_USE`), or an error answered earlier
    /// and given again (step 6's stored answers). An `Error` rather than a response, so REST
    /// (`into_response`) and GraphQL (step 2's `to_graphql`) render the one definition alike.
    #[error("{status}: {}: {}", .detail.code, .detail.message)]
    Refused {
        status: StatusCode,
        detail: ErrorDetail,
        retry_after_secs: Option<u64>,
    },
    /// 503 `SERVICE_UNAVAILABLE` when the database cannot be reached, else 500 `INTERNAL`.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// 500 `INTERNAL`: a bug or an unexpected failure; details stay in the log.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// One rejected field: `{"field":"items[0].quantity","reason":"must be at least 1"}`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl Error {
    /// A 422 for a single field.
    pub fn invalid_field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, reason)])
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
            fields: Vec::new(),
        }
    }

    /// How long the client is to wait before it sends the request again (REST's
    /// `Retry-After`), for the errors that say.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Error::RateLimited { retry_after_secs }
            | Error::Maintenance {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            Error::Refused {
                retry_after_secs, ..
            } => *retry_after_secs,
            _ => None,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Error::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::MalformedJson(_) | Error::InvalidParameter { .. } => StatusCode::BAD_REQUEST,
            Error::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Error::Unauthorized => StatusCode::UNAUTHORIZED,
            Error::Forbidden => StatusCode::FORBIDDEN,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Error::Conflict { .. } => StatusCode::CONFLICT,
            Error::PaymentDeclined { .. } => StatusCode::PAYMENT_REQUIRED,
            Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::Refused { status, .. } => *status,
            Error::PaymentUnavailable(_) | Error::Timeout | Error::Maintenance { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Error::Store(StoreError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Store(StoreError::Duplicate(_)) => StatusCode::CONFLICT,
            Error::Store(StoreError::MissingReference(_) | StoreError::Invalid(_)) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Error::Store(_) | Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The client-facing part: a stable code and a message that leaks nothing internal.
    pub fn detail(&self) -> ErrorDetail {
        let (code, message, fields) = match self {
            Error::Validation(fields) => (
                "VALIDATION_FAILED",
                "the request has invalid fields".to_owned(),
                fields.clone(),
            ),
            Error::MalformedJson(reason) => (
                "MALFORMED_JSON",
                format!("the body is not valid JSON: {reason}"),
                vec![],
            ),
            Error::InvalidParameter { name, reason } => (
                "INVALID_PARAMETER",
                format!("invalid parameter `{name}`: {reason}"),
                vec![FieldError::new(name.clone(), reason.clone())],
            ),
            Error::UnsupportedMediaType => (
                "UNSUPPORTED_MEDIA_TYPE",
                "expected a body with Content-Type: application/json".to_owned(),
                vec![],
            ),
            Error::PayloadTooLarge => (
                "PAYLOAD_TOO_LARGE",
                "the request body is too large".to_owned(),
                vec![],
            ),
            Error::Unauthorized => (
                "UNAUTHORIZED",
                "missing or invalid credentials".to_owned(),
                vec![],
            ),
            Error::Forbidden => (
                "FORBIDDEN",
                "you are not allowed to do this".to_owned(),
                vec![],
            ),
            Error::NotFound(what) => ("NOT_FOUND", format!("{what} not found"), vec![]),
            Error::MethodNotAllowed => (
                "METHOD_NOT_ALLOWED",
                "this method is not allowed on this route".to_owned(),
                vec![],
            ),
            Error::Conflict {
                code,
                message,
                fields,
            } => (*code, message.clone(), fields.clone()),
            Error::PaymentDeclined { reason } => (
                "PAYMENT_DECLINED",
                format!("the payment was declined ({reason})"),
                vec![FieldError::new("card_token", reason.clone())],
            ),
            Error::PaymentUnavailable(_) => (
                "PAYMENT_PROVIDER_UNAVAILABLE",
                "the payment provider is unavailable; the order is unchanged, try again later"
                    .to_owned(),
                vec![],
            ),
            Error::RateLimited { retry_after_secs } => (
                "RATE_LIMITED",
                format!("too many requests; try again in {retry_after_secs} seconds"),
                vec![],
            ),
            Error::Maintenance {
                what,
                retry_after_secs,
            } => (
                "MAINTENANCE",
                format!(
                    "{what} are paused for a short maintenance; nothing was changed, try again in {retry_after_secs} seconds"
                ),
                vec![],
            ),
            Error::Timeout => (
                "TIMEOUT",
                "the request took too long; it may still complete, so check before retrying"
                    .to_owned(),
                vec![],
            ),
            Error::Refused { detail, .. } => return detail.clone(),
            // Every constraint violation a store reports, mapped here once: a duplicate is a
            // conflict with what exists, a broken reference or rule is a bad request body.
            Error::Store(StoreError::Duplicate(what)) => (
                "CONFLICT",
                format!("a record with this {what} exists already"),
                vec![],
            ),
            Error::Store(StoreError::MissingReference(what)) => (
                "VALIDATION_FAILED",
                "the request refers to something that does not exist".to_owned(),
                vec![FieldError {
                    field: what.clone(),
                    reason: "refers to something that does not exist".to_owned(),
                }],
            ),
            Error::Store(StoreError::Invalid(what)) => (
                "VALIDATION_FAILED",
                "the request breaks a rule of the store".to_owned(),
                vec![FieldError {
                    field: what.clone(),
                    reason: "breaks a rule of the store".to_owned(),
                }],
            ),
            Error::Store(StoreError::Unavailable(_)) => (
                "SERVICE_UNAVAILABLE",
                "a backing service is unavailable; nothing was changed, try again later".to_owned(),
                vec![],
            ),
            Error::Store(_) | Error::Internal(_) => {
                ("INTERNAL", "an internal error occurred".to_owned(), vec![])
            }
        };
        ErrorDetail {
            code,
            message,
            fields,
            request_id: None,
        }
    }
}

/// The `error` object of every error response.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable and machine-readable: `VALIDATION_FAILED`, `NOT_FOUND`, `OUT_OF_STOCK`, ...
    #[schema(value_type = String, example = "NOT_FOUND")]
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
    /// The `x-request-id` of the request, to quote when reporting a problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// The body of every error response: `{"error":{...}}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody<'a> {
    #[schema(value_type = ErrorDetail)]
    pub error: &'a ErrorDetail,
}

impl ErrorDetail {
    /// Renders the detail as a full JSON response. The detail also travels in the response's
    /// extensions so the outermost layer can add the request id (see `startup::error_envelope`).
    pub fn into_response_with(self, status: StatusCode) -> Response {
        let body = axum::Json(ErrorBody { error: &self })
            .into_response()
            .into_body();
        let mut response = Response::new(body);
        *response.status_mut() = status;
        response.headers_mut().insert(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        );
        response.extensions_mut().insert(self);
        response
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            // Logged once, here, inside the request span that carries the request id.
            tracing::error!(error = ?anyhow_chain(&self), %status, "request failed");
        } else {
            tracing::debug!(error = %self, %status, "request rejected");
        }
        let mut response = self.detail().into_response_with(status);
        if let Some(retry_after_secs) = self.retry_after_secs() {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(retry_after_secs),
            );
        }
        response
    }
}

/// `a: b: c` for an error and its sources, so one log line holds the whole story.
fn anyhow_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

impl From<garde::Report> for Error {
    fn from(report: garde::Report) -> Self {
        let fields = report
            .iter()
            .map(|(path, error)| FieldError::new(path.to_string(), error.message().to_string()))
            .collect();
        Error::Validation(fields)
    }
}
