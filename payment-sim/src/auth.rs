//! The bearer-token check in front of every `/v1` route. The simulator has one key and no
//! accounts: the check exists so a test can prove the app sends the key it was configured
//! with, and so a misconfigured app fails with the same 401 a real provider would give.

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::{HeaderMap, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::error::ApiError;

/// The accepted key. Never logged, never echoed in an error.
#[derive(Clone)]
pub(crate) struct ApiKey(Arc<str>);

impl ApiKey {
    pub(crate) fn new(key: String) -> ApiKey {
        ApiKey(key.into())
    }

    /// Compares in time independent of where the first difference is, the habit a real
    /// provider needs against timing attacks (harmless here, and worth showing).
    fn matches(&self, candidate: &str) -> bool {
        let expected = self.0.as_bytes();
        let candidate = candidate.as_bytes();
        expected.len() == candidate.len()
            && expected
                .iter()
                .zip(candidate)
                .fold(0u8, |diff, (a, b)| diff | (a ^ b))
                == 0
    }
}

pub(crate) async fn require_api_key(
    State(api_key): State<ApiKey>,
    request: Request,
    next: Next,
) -> Response {
    match bearer_token(request.headers()) {
        None => ApiError::Authentication(
            "No API key provided. Send it as `Authorization: Bearer <api key>`.",
        )
        .into_response(),
        Some(token) if api_key.matches(token) => next.run(request).await,
        Some(_) => ApiError::Authentication("Invalid API key provided.").into_response(),
    }
}

/// The token of an `Authorization: Bearer <token>` header; the scheme is case-insensitive
/// (RFC 7235). An empty token counts as none.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}
