//! The client of the external card payment provider, behind the [`PaymentGateway`] trait.
//!
//! [`HttpPaymentGateway`] speaks the provider's HTTP API (locally the `payment-sim` simulator):
//! `POST /v1/charges` with an `Idempotency-Key`, `POST /v1/charges/{id}/refunds`. Every call has
//! a timeout; a provider that is down, slow or answers garbage is [`PaymentError::Unavailable`],
//! which the API turns into 503 with the order unchanged. Step 2 puts a gRPC payments service
//! in front of this same trait; its `GetPayment` reads `GET /v1/charges/{id}` through
//! [`PaymentGateway::find_charge`].

use std::time::Duration;

use async_trait::async_trait;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::config::PaymentsConfig;
use crate::domain::Money;

#[derive(Debug, Clone)]
pub struct ChargeRequest {
    pub amount: Money,
    /// The card token from the client (`tok_...`); never a card number.
    pub card_token: String,
    /// The same key means the same charge: a retry after a timeout cannot charge twice.
    pub idempotency_key: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    pub id: String,
    pub amount_minor: i64,
    pub status: String,
}

/// A charge as the provider reports it when asked later (refunds included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeDetails {
    pub id: String,
    pub amount_minor: i64,
    pub currency: String,
    /// `succeeded` or `failed`.
    pub status: String,
    pub amount_refunded_minor: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// The provider refused the card (402). `reason` is its code, e.g. `insufficient_funds`.
    #[error("declined: {reason}")]
    Declined { reason: String },
    /// The provider refused the request itself (400/404/409): a bug or bad input on our side.
    #[error("rejected by the payment provider: {0}")]
    Rejected(String),
    /// Down, slow past the timeout, 5xx, or an answer we cannot read.
    #[error("payment provider unavailable")]
    Unavailable(#[source] anyhow::Error),
}

#[async_trait]
pub trait PaymentGateway: Send + Sync {
    async fn charge(&self, request: ChargeRequest) -> Result<Charge, PaymentError>;
    /// Refunds the whole charge. `idempotency_key` makes a retried refund safe.
    async fn refund(&self, charge_id: &str, idempotency_key: &str) -> Result<(), PaymentError>;
    /// The charge as the provider reports it now (refunds included); `None` when it has no
    /// such charge. What a caller asks when a refund's answer was lost: was it made?
    async fn find_charge(&self, charge_id: &str) -> Result<Option<ChargeDetails>, PaymentError>;
}

pub struct HttpPaymentGateway {
    http: reqwest::Client,
    base_url: String,
    api_key: SecretString,
}

#[derive(Deserialize)]
struct ChargeBody {
    id: String,
    amount: i64,
    status: String,
}

#[derive(Deserialize)]
struct ChargeDetailsBody {
    id: String,
    amount: i64,
    currency: String,
    status: String,
    amount_refunded: i64,
}

#[derive(Deserialize)]
struct ProviderError {
    error: ProviderErrorDetail,
}

#[derive(Deserialize)]
struct ProviderErrorDetail {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

impl HttpPaymentGateway {
    pub fn new(config: &PaymentsConfig) -> anyhow::Result<Self> {
        let timeout = Duration::from_millis(config.timeout_ms);
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()?;
        Ok(Self {
            http,
            base_url: config.base_url.trim_end_matches('/').to_owned(),
            api_key: config.api_key.clone(),
        })
    }

    async fn post(
        &self,
        path: &str,
        idempotency_key: &str,
        body: serde_json::Value,
    ) -> Result<(StatusCode, Vec<u8>), PaymentError> {
        let response = self
            .http
            .post(format!("{}{path}", self.base_url))
            .bearer_auth(self.api_key.expose_secret())
            .header("Idempotency-Key", idempotency_key)
            .json(&body)
            .send()
            .await
            .map_err(|e| PaymentError::Unavailable(e.into()))?;
        read(response).await
    }
}

/// The status and the whole body; a body cut off midway is the provider being unavailable.
async fn read(response: reqwest::Response) -> Result<(StatusCode, Vec<u8>), PaymentError> {
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| PaymentError::Unavailable(e.into()))?;
    Ok((status, body.to_vec()))
}

/// Classifies a non-success answer of the provider.
fn failure(status: StatusCode, body: &[u8]) -> PaymentError {
    let detail = serde_json::from_slice::<ProviderError>(body)
        .ok()
        .map(|e| e.error);
    let describe = || {
        detail
            .as_ref()
            .and_then(|d| d.message.clone().or_else(|| d.code.clone()))
            .unwrap_or_else(|| format!("HTTP {status}"))
    };
    match status {
        StatusCode::PAYMENT_REQUIRED => PaymentError::Declined {
            reason: detail
                .as_ref()
                .and_then(|d| d.code.clone())
                .unwrap_or_else(|| "card_declined".to_owned()),
        },
        s if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS => {
            PaymentError::Unavailable(anyhow::anyhow!("provider answered {s}: {}", describe()))
        }
        // 401 means our API key is wrong: a configuration fault, not the client's.
        StatusCode::UNAUTHORIZED => {
            PaymentError::Unavailable(anyhow::anyhow!("provider refused our API key"))
        }
        _ => PaymentError::Rejected(describe()),
    }
}

#[async_trait]
impl PaymentGateway for HttpPaymentGateway {
    #[tracing::instrument(skip_all, fields(amount = request.amount.minor, currency = %request.amount.currency))]
    async fn charge(&self, request: ChargeRequest) -> Result<Charge, PaymentError> {
        let body = serde_json::json!({
            "amount": request.amount.minor,
            "currency": request.amount.currency.as_str(),
            "source": request.card_token,
            "description": request.description,
        });
        let (status, body) = self
            .post("/v1/charges", &request.idempotency_key, body)
            .await?;
        if !status.is_success() {
            return Err(failure(status, &body));
        }
        let charge: ChargeBody = serde_json::from_slice(&body)
            .map_err(|e| PaymentError::Unavailable(anyhow::anyhow!("unreadable charge: {e}")))?;
        Ok(Charge {
            id: charge.id,
            amount_minor: charge.amount,
            status: charge.status,
        })
    }

    #[tracing::instrument(skip(self))]
    async fn refund(&self, charge_id: &str, idempotency_key: &str) -> Result<(), PaymentError> {
        let (status, body) = self
            .post(
                &format!("/v1/charges/{charge_id}/refunds"),
                idempotency_key,
                serde_json::json!({}),
            )
            .await?;
        if !status.is_success() {
            return Err(failure(status, &body));
        }
        Ok(())
    }

    /// The charge `charge_id`, or `None` when the provider knows no such charge.
    ///
    /// The id becomes part of the URL path, so anything but letters, digits and `_` is refused
    /// here ([`PaymentError::Rejected`]) rather than sent.
    #[tracing::instrument(skip(self))]
    async fn find_charge(&self, charge_id: &str) -> Result<Option<ChargeDetails>, PaymentError> {
        if charge_id.is_empty()
            || !charge_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(PaymentError::Rejected(format!(
                "{charge_id:?} is not a charge id"
            )));
        }
        let response = self
            .http
            .get(format!("{}/v1/charges/{charge_id}", self.base_url))
            .bearer_auth(self.api_key.expose_secret())
            .send()
            .await
            .map_err(|e| PaymentError::Unavailable(e.into()))?;
        let (status, body) = read(response).await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(failure(status, &body));
        }
        let charge: ChargeDetailsBody = serde_json::from_slice(&body)
            .map_err(|e| PaymentError::Unavailable(anyhow::anyhow!("unreadable charge: {e}")))?;
        Ok(Some(ChargeDetails {
            id: charge.id,
            amount_minor: charge.amount,
            currency: charge.currency,
            status: charge.status,
            amount_refunded_minor: charge.amount_refunded,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_answers_are_classified() {
        let declined = failure(
            StatusCode::PAYMENT_REQUIRED,
            br#"{"error":{"type":"card_error","code":"insufficient_funds"}}"#,
        );
        assert!(
            matches!(declined, PaymentError::Declined { reason } if reason == "insufficient_funds")
        );
        assert!(matches!(
            failure(StatusCode::SERVICE_UNAVAILABLE, b"oops"),
            PaymentError::Unavailable(_)
        ));
        assert!(matches!(
            failure(StatusCode::UNAUTHORIZED, b"{}"),
            PaymentError::Unavailable(_)
        ));
        assert!(matches!(
            failure(StatusCode::BAD_REQUEST, br#"{"error":{"message":"unknown token"}}"#),
            PaymentError::Rejected(m) if m == "unknown token"
        ));
    }
}
