//! `POST /v1/charges/{id}/refunds`: give back part or all of a succeeded charge. What remains
//! to refund is checked and reduced under the store's lock, so concurrent refunds cannot
//! together exceed the charge; an `Idempotency-Key` makes a retried refund safe.

use axum::{
    Router,
    extract::{Path, State},
    http::StatusCode,
    response::Response,
    routing::post,
};
use serde::Serialize;
use serde_json::json;

use crate::{
    domain::NewRefund,
    error::Reply,
    extract::{IdempotencyKey, JsonBody},
    idempotency::{Fingerprint, Idempotency},
    state::AppState,
    store::{Refund, Store},
};

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/v1/charges/{id}/refunds", post(create_refund))
}

/// A refund on the wire.
#[derive(Serialize)]
struct RefundResponse<'a> {
    id: &'a str,
    object: &'static str,
    charge: &'a str,
    amount: i64,
    currency: &'a str,
    status: &'static str,
    created: i64,
}

impl<'a> From<&'a Refund> for RefundResponse<'a> {
    fn from(refund: &'a Refund) -> Self {
        RefundResponse {
            id: &refund.id,
            object: "refund",
            charge: &refund.charge,
            amount: refund.amount,
            currency: &refund.currency,
            // Simulated refunds settle at once; a real one may stay `pending` for days.
            status: "succeeded",
            created: refund.created,
        }
    }
}

#[tracing::instrument(skip(store, idempotency, key, body))]
async fn create_refund(
    State(store): State<Store>,
    State(idempotency): State<Idempotency>,
    Path(id): Path<String>,
    IdempotencyKey(key): IdempotencyKey,
    JsonBody(body): JsonBody,
) -> Response {
    let fingerprint = Fingerprint {
        route: format!("POST /v1/charges/{id}/refunds"),
        body: body.clone(),
    };
    idempotency
        .run(key, fingerprint, || {
            let refund = store.refund(&id, NewRefund::try_from(body)?)?;
            tracing::info!(refund = %refund.id, amount = refund.amount, "refund created");
            Ok(Reply {
                status: StatusCode::CREATED,
                body: json!(RefundResponse::from(&refund)),
            })
        })
        .await
}
