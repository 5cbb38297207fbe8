//! `/v1/charges`: create a charge (the token decides the outcome), look one up, list them.
//! A declined charge is still a charge: it is stored as `failed` and the 402 names it, as a
//! real provider does, so the app can record which attempt failed and why.

use std::collections::BTreeMap;

use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    response::Response,
    routing::{get, post},
};
use serde::Serialize;
use serde_json::{Value, json};

use crate::{
    domain::NewCharge,
    error::{ApiError, Reply, Result},
    extract::{IdempotencyKey, JsonBody},
    idempotency::{Fingerprint, Idempotency},
    state::AppState,
    store::{Charge, ChargeStatus, Store},
};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/charges", post(create_charge).get(list_charges))
        .route("/v1/charges/{id}", get(get_charge))
}

/// A charge on the wire.
#[derive(Serialize)]
struct ChargeResponse<'a> {
    id: &'a str,
    object: &'static str,
    amount: i64,
    currency: &'a str,
    source: &'a str,
    status: ChargeStatus,
    amount_refunded: i64,
    refunded: bool,
    description: Option<&'a str>,
    metadata: &'a BTreeMap<String, String>,
    failure_code: Option<&'static str>,
    failure_message: Option<&'static str>,
    created: i64,
}

impl<'a> From<&'a Charge> for ChargeResponse<'a> {
    fn from(charge: &'a Charge) -> Self {
        ChargeResponse {
            id: &charge.id,
            object: "charge",
            amount: charge.amount,
            currency: &charge.currency,
            source: charge.source,
            status: charge.status,
            amount_refunded: charge.amount_refunded,
            refunded: charge.amount_refunded == charge.amount,
            description: charge.description.as_deref(),
            metadata: &charge.metadata,
            failure_code: charge.failure.map(|failure| failure.code),
            failure_message: charge.failure.map(|failure| failure.message),
            created: charge.created,
        }
    }
}

fn to_json(charge: &Charge) -> Value {
    json!(ChargeResponse::from(charge))
}

#[tracing::instrument(skip_all)]
async fn create_charge(
    State(store): State<Store>,
    State(idempotency): State<Idempotency>,
    IdempotencyKey(key): IdempotencyKey,
    JsonBody(body): JsonBody,
) -> Response {
    let fingerprint = Fingerprint {
        route: "POST /v1/charges".to_owned(),
        body: body.clone(),
    };
    idempotency
        .run(key, fingerprint, || {
            let charge = store.create_charge(NewCharge::try_from(body)?);
            tracing::info!(charge = %charge.id, status = ?charge.status, "charge created");
            match charge.failure {
                None => Ok(Reply {
                    status: StatusCode::CREATED,
                    body: to_json(&charge),
                }),
                Some(failure) => Err(ApiError::Card {
                    code: failure.code,
                    message: failure.message,
                    charge: charge.id,
                }),
            }
        })
        .await
}

#[tracing::instrument(skip(store))]
async fn get_charge(State(store): State<Store>, Path(id): Path<String>) -> Result<Json<Value>> {
    let charge = store
        .charge(&id)
        .ok_or_else(|| ApiError::no_such_charge(&id))?;
    Ok(Json(to_json(&charge)))
}

/// A simulator extra (Stripe has it too, with pagination this one lacks): lets a test check
/// how many charges a scenario really created.
async fn list_charges(State(store): State<Store>) -> Json<Value> {
    let charges = store.charges();
    Json(json!({
        "object": "list",
        "data": charges.iter().map(to_json).collect::<Vec<_>>(),
        "has_more": false,
    }))
}
