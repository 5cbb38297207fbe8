//! Our own `Json`, `Path` and `Query` extractors: axum's, with every rejection turned into the
//! API's error shape, and with the name of the offending field or parameter in it.
//!
//! - `Json<T>`: 415 without a JSON content type, 413 over the body limit, 400 `MALFORMED_JSON`
//!   for bytes that are not one JSON value (trailing bytes included), 422 `VALIDATION_FAILED`
//!   naming the field (`items[0].quantity`, a field given twice) for JSON of the wrong shape.
//! - `Path<T>` / `Query<T>`: 400 `INVALID_PARAMETER` naming the parameter.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, FieldError};

/// A JSON body, as a request extractor and as a response.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !has_json_content_type(&req) {
            return Err(Error::UnsupportedMediaType);
        }
        let bytes =
            Bytes::from_request(req, state)
                .await
                .map_err(|rejection: BytesRejection| {
                    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                        Error::PayloadTooLarge
                    } else {
                        Error::MalformedJson("the body could not be read".to_owned())
                    }
                })?;
        parse_json(&bytes).map(Json)
    }
}

/// Deserialises `bytes`, telling syntax errors (400) from shape errors (422, with the path).
///
/// The whole body must be the one JSON value: anything after it but white space is a syntax
/// error. Otherwise `{"card_token":"tok_decline"}{"card_token":"tok_success"}` would be taken
/// as its first object, while a proxy, firewall or audit log that reads the body differently
/// sees another request than the one the shop executes.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut *deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let reason = without_position(&inner);
                let field = match (path.as_str(), missing_field(&reason)) {
                    (".", Some(missing)) => missing.to_owned(),
                    (".", None) => "body".to_owned(),
                    (_, Some(missing)) => format!("{path}.{missing}"),
                    _ => path,
                };
                Error::Validation(vec![FieldError::new(field, reason)])
            }
            _ => Error::MalformedJson(without_position(&inner)),
        }
    })?;
    deserializer
        .end()
        .map_err(|trailing| Error::MalformedJson(without_position(&trailing)))?;
    Ok(value)
}

/// serde names a missing or repeated field in its message ("missing field `email`",
/// "duplicate field `email`"), not in the path.
fn missing_field(reason: &str) -> Option<&str> {
    ["missing field `", "duplicate field `"]
        .iter()
        .find_map(|prefix| reason.strip_prefix(prefix))?
        .strip_suffix('`')
}

/// serde_json appends "at line 1 column 9"; the client needs the reason only.
fn without_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

fn has_json_content_type(req: &Request) -> bool {
    let Some(content_type) = req.headers().get(axum::http::header::CONTENT_TYPE) else {
        return false;
    };
    let Ok(content_type) = content_type.to_str() else {
        return false;
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Path parameters; a value that does not parse is 400 `INVALID_PARAMETER`.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        use axum::extract::path::ErrorKind;
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(axum::extract::rejection::PathRejection::FailedToDeserializePathParams(e)) => {
                let (name, reason) = match e.into_kind() {
                    ErrorKind::ParseErrorAtKey { key, .. } => (key, "has the wrong format".into()),
                    ErrorKind::Message(message) => ("id".to_owned(), message),
                    ErrorKind::DeserializeError { key, message, .. } => (key, message),
                    other => ("path".to_owned(), other.to_string()),
                };
                Err(Error::InvalidParameter { name, reason })
            }
            Err(other) => Err(Error::Internal(anyhow::anyhow!("path extraction: {other}"))),
        }
    }
}

/// Query parameters; a value that does not parse is 400 `INVALID_PARAMETER` naming it.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(Query)
            .map_err(|error| {
                let name = error.path().to_string();
                let reason = error.into_inner().to_string();
                let name = if name == "." {
                    // serde names a missing or unknown field in the message, not the path.
                    "query".to_owned()
                } else {
                    name
                };
                Error::InvalidParameter { name, reason }
            })
    }
}
