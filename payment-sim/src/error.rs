//! The simulator's one error type and the JSON shape it takes on the wire. Unlike the shop,
//! the simulator has no internal failures worth hiding: every error here *is* the provider's
//! answer to a client, so there is a single type and it carries exactly what the client sees,
//! in Stripe's shape (`{"error":{"type","code","param","message","charge"}}`).

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value, json};

/// A status and a JSON body: what a handler answers, and what idempotency records and replays.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) body: Value,
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// 401 `authentication_error`: the bearer token is missing or wrong.
    #[error("{0}")]
    Authentication(&'static str),
    /// `invalid_request_error` with the given status: 400 for bad input, 404 for an unknown
    /// charge or route, 405 for a wrong method, 413 for an oversized body.
    #[error("{message}")]
    InvalidRequest {
        status: StatusCode,
        code: &'static str,
        param: Option<String>,
        message: String,
    },
    /// 402 `card_error`: the simulated card was refused; `charge` is the stored failed charge.
    #[error("{message}")]
    Card {
        code: &'static str,
        message: &'static str,
        charge: String,
    },
    /// 409 `idempotency_error`: an `Idempotency-Key` reused with another route or body.
    #[error("idempotency key reused with different parameters")]
    IdempotencyKeyReused,
    /// 503 `api_error`: the injected outage (see `SimConfig::failure_rate`).
    #[error("simulated provider outage")]
    ProviderOutage,
}

pub(crate) type Result<T, E = ApiError> = std::result::Result<T, E>;

impl ApiError {
    /// A 400 about the request's content; `param` names the offending field when there is one.
    pub(crate) fn invalid(
        code: &'static str,
        param: Option<&str>,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError::InvalidRequest {
            status: StatusCode::BAD_REQUEST,
            code,
            param: param.map(str::to_owned),
            message: message.into(),
        }
    }

    /// A 404 for a charge id that names nothing.
    pub(crate) fn no_such_charge(id: &str) -> ApiError {
        ApiError::InvalidRequest {
            status: StatusCode::NOT_FOUND,
            code: "resource_missing",
            param: Some("id".to_owned()),
            message: format!("No such charge: '{id}'"),
        }
    }

    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ApiError::Authentication(_) => StatusCode::UNAUTHORIZED,
            ApiError::InvalidRequest { status, .. } => *status,
            ApiError::Card { .. } => StatusCode::PAYMENT_REQUIRED,
            ApiError::IdempotencyKeyReused => StatusCode::CONFLICT,
            ApiError::ProviderOutage => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// Whether an idempotent request that ended in this error is recorded for replay. As at
    /// Stripe, only a request that reached the card (a 402) is; one rejected before that (bad
    /// input, unknown charge) may be corrected and retried under the same key.
    pub(crate) fn is_recorded(&self) -> bool {
        matches!(self, ApiError::Card { .. })
    }

    pub(crate) fn to_reply(&self) -> Reply {
        let mut error = Map::new();
        let kind = match self {
            ApiError::Authentication(_) => "authentication_error",
            ApiError::InvalidRequest { .. } => "invalid_request_error",
            ApiError::Card { .. } => "card_error",
            ApiError::IdempotencyKeyReused => "idempotency_error",
            ApiError::ProviderOutage => "api_error",
        };
        error.insert("type".into(), kind.into());
        match self {
            ApiError::InvalidRequest { code, param, .. } => {
                error.insert("code".into(), (*code).into());
                if let Some(param) = param {
                    error.insert("param".into(), param.as_str().into());
                }
            }
            ApiError::Card { code, charge, .. } => {
                error.insert("code".into(), (*code).into());
                error.insert("charge".into(), charge.as_str().into());
            }
            ApiError::IdempotencyKeyReused => {
                error.insert("code".into(), "idempotency_key_reused".into());
            }
            ApiError::Authentication(_) | ApiError::ProviderOutage => {}
        }
        let message = match self {
            ApiError::IdempotencyKeyReused => "Keys for idempotent requests can only be used \
                with the same route and parameters they were first used with."
                .to_owned(),
            other => other.to_string(),
        };
        error.insert("message".into(), message.into());
        Reply {
            status: self.status(),
            body: json!({ "error": error }),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.to_reply().into_response();
        if matches!(self, ApiError::Authentication(_)) {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"payment-sim\""),
            );
        }
        response
    }
}
