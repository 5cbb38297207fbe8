//! Extractors whose rejections speak the simulator's error shape. axum's own `Json` answers
//! malformed input with a plain-text body and a 415 or 422; a client of a Stripe-like API
//! expects a 400 `invalid_request_error` in JSON, so the body is read as bytes and parsed here.

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request},
    http::{StatusCode, request::Parts},
};
use serde_json::{Map, Value};

use crate::error::ApiError;

/// The request body as JSON. An empty body counts as `{}`, so `POST .../refunds` with no body
/// means "refund what remains". The content type is not checked: curl's default
/// `application/x-www-form-urlencoded` would otherwise be a needless trap for learners.
pub(crate) struct JsonBody(pub(crate) Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            ApiError::InvalidRequest {
                status: rejection.status(),
                code: if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    "body_too_large"
                } else {
                    "body_unreadable"
                },
                param: None,
                message: rejection.body_text(),
            }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonBody(Value::Object(Map::new())));
        }
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|err| {
            ApiError::invalid(
                "invalid_json",
                None,
                format!("The request body is not valid JSON: {err}"),
            )
        })
    }
}

/// The longest `Idempotency-Key` accepted, as at Stripe; it bounds what a client can make the
/// simulator remember per key.
const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// The optional `Idempotency-Key` header.
pub(crate) struct IdempotencyKey(pub(crate) Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get("idempotency-key") else {
            return Ok(IdempotencyKey(None));
        };
        let invalid = || {
            ApiError::invalid(
                "idempotency_key_invalid",
                None,
                format!(
                    "The Idempotency-Key header must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} visible \
                     ASCII characters."
                ),
            )
        };
        let key = value.to_str().map_err(|_| invalid())?.trim();
        if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LEN {
            return Err(invalid());
        }
        Ok(IdempotencyKey(Some(key.to_owned())))
    }
}
