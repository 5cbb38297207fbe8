//! Step 1's error type: every step-0 error, plus the few answers step 1 adds. They render
//! through step 0's [`ErrorDetail`], so the JSON shape (and the request id the envelope layer
//! adds) is the same for every error of every step.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use common::error::{ErrorDetail, FieldError};
use common::store::StoreError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Whatever step 0 answers (401, 404, 409, 422, 503, ...).
    #[error(transparent)]
    Base(#[from] common::Error),
    /// 429 `TOO_MANY_ATTEMPTS`, with `Retry-After`: too many failed sign-ins for this account
    /// or from this address. The same answer whether the account exists or not.
    #[error("too many failed attempts")]
    TooManyAttempts { retry_after_secs: u64 },
    /// 403 `EMAIL_NOT_VERIFIED`: Google does not vouch for the email of this Google account,
    /// so it is neither linked to an account nor used to create one.
    #[error("the identity provider has not verified this email")]
    EmailNotVerified,
    /// 503 `IDENTITY_PROVIDER_UNAVAILABLE`: the provider's token or key endpoint is down,
    /// slow, or answering garbage. Nothing was created or linked.
    #[error("identity provider unavailable")]
    ProviderUnavailable(#[source] anyhow::Error),
    /// 500 `INTERNAL`: a stored ciphertext did not decrypt (unknown key id, wrong key,
    /// tampering). Logged with the document and field, never with any plaintext.
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
}

impl Error {
    pub fn unauthorized() -> Self {
        Self::Base(common::Error::Unauthorized)
    }

    pub fn invalid_parameter(name: &str, reason: impl Into<String>) -> Self {
        Self::Base(common::Error::InvalidParameter {
            name: name.to_owned(),
            reason: reason.into(),
        })
    }

    pub fn invalid_field(field: &str, reason: impl Into<String>) -> Self {
        Self::Base(common::Error::invalid_field(field, reason))
    }
}

impl From<StoreError> for Error {
    fn from(error: StoreError) -> Self {
        Self::Base(error.into())
    }
}

impl From<anyhow::Error> for Error {
    fn from(error: anyhow::Error) -> Self {
        Self::Base(error.into())
    }
}

impl From<garde::Report> for Error {
    fn from(report: garde::Report) -> Self {
        Self::Base(report.into())
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, detail) = match self {
            Error::Base(error) => return error.into_response(),
            Error::TooManyAttempts { retry_after_secs } => {
                let mut response = ErrorDetail {
                    code: "TOO_MANY_ATTEMPTS",
                    message: format!(
                        "too many failed attempts; try again in {retry_after_secs} seconds"
                    ),
                    fields: vec![],
                    request_id: None,
                }
                .into_response_with(StatusCode::TOO_MANY_REQUESTS);
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
                tracing::debug!(retry_after_secs, "sign-in throttled");
                return response;
            }
            Error::EmailNotVerified => (
                StatusCode::FORBIDDEN,
                ErrorDetail {
                    code: "EMAIL_NOT_VERIFIED",
                    message: "the identity provider has not verified this account's email; \
                              sign in another way"
                        .to_owned(),
                    fields: vec![FieldError::new("email", "not verified by the provider")],
                    request_id: None,
                },
            ),
            Error::ProviderUnavailable(source) => {
                tracing::error!(error = %format!("{source:#}"), "identity provider unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorDetail {
                        code: "IDENTITY_PROVIDER_UNAVAILABLE",
                        message: "the sign-in provider is unavailable; try again later".to_owned(),
                        fields: vec![],
                        request_id: None,
                    },
                )
            }
            Error::Crypto(error) => {
                return common::Error::Internal(anyhow::Error::new(error)).into_response();
            }
        };
        detail.into_response_with(status)
    }
}
