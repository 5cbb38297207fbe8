//! `POST /graphql`: everything decided about a request before the schema runs it. In order,
//! cheapest first: the media type, the bearer token (a bad one is refused, never treated as
//! anonymous), the body size (read with a cap: a larger body is refused unread), the JSON
//! (a GraphQL request: an object with a `query`, or a non-empty array of them), the batch
//! policy, each query's size (refused before it is parsed), and what the parsed documents
//! hold (fields with fragments expanded, mutations). Then the request gets its services,
//! its own loaders, its user and its rate-limit caller, and the schema (with its depth and
//! complexity limits) executes it. An operation whose mutations were answered from an
//! earlier request with the same `idempotencyKey` says so ([`super::keyed`]).
//!
//! Two kinds of answer, as GraphQL over HTTP has them:
//! - A body that is not a GraphQL request at all (not JSON, not a JSON object with a `query`
//!   or a non-empty array of them, `[]`) gets an HTTP error status (400, or 413/415/401) and
//!   a GraphQL-shaped body, `{"errors":[{"message","extensions":{"code"}}]}`.
//! - A GraphQL request that fails as GraphQL (a syntax error, an unknown field, depth,
//!   complexity, too many mutations) or inside an operation answers 200 with `errors` (and
//!   `data` where an operation ran).

use async_graphql::{BatchRequest, BatchResponse, ErrorExtensionValues};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use common::auth::{AuthUser, Verifier};
use common::services::{Accounts, Catalog, Ordering};
use serde_json::Value;

use super::GraphqlConfig;
use super::document::{self, QUERY_TOO_COMPLEX, TOO_MANY_MUTATIONS};
use super::errors::{UNAUTHENTICATED, request_error};
use super::keyed::{REPLAYED_EXTENSION, REPLAYED_HEADER, Replays};
use super::loaders::Loaders;
use super::quota::MutationQuota;
use super::schema::GraphqlSchema;
use crate::listing::Listing;
use crate::rate_limit::{Caller, RateLimits};

/// A request refused before execution.
struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl Refusal {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        tracing::debug!(code = self.code, status = %self.status, "graphql request refused");
        let mut response = (
            self.status,
            axum::Json(request_error(self.code, &self.message)),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

#[allow(clippy::too_many_arguments)]
#[tracing::instrument(skip_all)]
pub async fn execute(
    State(graphql): State<GraphqlSchema>,
    State(catalog): State<Catalog>,
    State(ordering): State<Ordering>,
    State(accounts): State<Accounts>,
    State(listing): State<Listing>,
    State(verifier): State<Verifier>,
    State(limits): State<RateLimits>,
    request: Request,
) -> Response {
    match prepare(&graphql, &verifier, &limits, request).await {
        Ok((mut batch, user, caller)) => {
            let measure = document::measure(&mut batch);
            // Development: a request for the schema alone (an IDE learning it) skips the limits.
            let schema = match &graphql.introspection {
                Some(lenient) if measure.introspection_only => lenient,
                _ => {
                    if let Some(refusal) = refuse_documents(&graphql.config, &batch, measure) {
                        return axum::Json(refusal).into_response();
                    }
                    &graphql.schema
                }
            };
            let loaders = Loaders::new(
                catalog.products.clone(),
                catalog.reviews.clone(),
                graphql.config.reviews_per_product,
                std::time::Duration::from_millis(graphql.config.loader_delay_ms),
            );
            let mut batch = batch
                .data(catalog)
                .data(ordering)
                .data(accounts)
                .data(listing)
                .data(loaders)
                .data(MutationQuota { limits, caller });
            if let Some(user) = user {
                batch = batch.data(user);
            }
            if let Some(keyed) = &graphql.keyed {
                batch = batch.data(keyed.clone());
            }
            // Each operation its own: its extensions list its own replays.
            let replays: Vec<Replays> = batch
                .iter_mut()
                .map(|operation| {
                    let replays = Replays::default();
                    operation.data.insert(replays.clone());
                    replays
                })
                .collect();
            let mut response = schema.execute_batch(batch).await;
            let responses = match &mut response {
                BatchResponse::Single(one) => std::slice::from_mut(one),
                BatchResponse::Batch(many) => many.as_mut_slice(),
            };
            let mut replayed = false;
            for (one, replays) in responses.iter_mut().zip(&replays) {
                label_errors(one);
                replayed |= mark_replays(one, replays);
            }
            let mut answer = axum::Json(response).into_response();
            if replayed {
                answer
                    .headers_mut()
                    .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
            }
            answer
        }
        Err(refusal) => refusal.into_response(),
    }
}

/// The checks that need no schema, in order; the parsed batch, the signed-in user and the
/// caller its mutations count against.
async fn prepare(
    graphql: &GraphqlSchema,
    verifier: &Verifier,
    limits: &RateLimits,
    request: Request,
) -> Result<(BatchRequest, Option<AuthUser>, Caller), Refusal> {
    let config = &graphql.config;
    let (parts, body) = request.into_parts();
    let json = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json {
        return Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "send the operation as JSON with Content-Type: application/json",
        ));
    }

    let user = if parts.headers.contains_key(header::AUTHORIZATION) {
        let unauthenticated = || {
            Refusal::new(
                StatusCode::UNAUTHORIZED,
                UNAUTHENTICATED,
                "missing or invalid credentials",
            )
        };
        let token = common::auth::bearer_token(&parts).ok_or_else(unauthenticated)?;
        // The same full check as the REST extractors: a revoked session is refused here too,
        // and a revocation list that cannot answer is a 503, never a pass.
        match verifier.authenticate(token).await {
            Ok(user) => Some(user),
            Err(error) if error.status() == StatusCode::SERVICE_UNAVAILABLE => {
                tracing::error!(error = %format!("{error:#}"), "could not check a token's session");
                return Err(Refusal::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "SERVICE_UNAVAILABLE",
                    "a backing service is unavailable; try again later",
                ));
            }
            Err(_) => return Err(unauthenticated()),
        }
    } else {
        None
    };
    let caller = limits.caller(&parts, user.map(|user| user.id));

    let too_large = || {
        Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            format!(
                "the request body is larger than {} bytes",
                config.max_body_bytes
            ),
        )
    };
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > config.max_body_bytes) {
        return Err(too_large());
    }
    // Chunked bodies have no declared length: the cap holds while reading.
    let bytes = axum::body::to_bytes(body, config.max_body_bytes)
        .await
        .map_err(|_| too_large())?;

    let batch = parse_body(&bytes).map_err(|reason| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            "MALFORMED_JSON",
            format!("the body is not a GraphQL request: {reason}"),
        )
    })?;

    if let BatchRequest::Batch(operations) = &batch {
        if config.max_batch_size == 0 {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "BATCH_NOT_ALLOWED",
                "batched requests are not accepted: send one operation per request",
            ));
        }
        if operations.len() > config.max_batch_size {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "BATCH_TOO_LARGE",
                format!(
                    "a batch holds 1 to {} operations, this one {}",
                    config.max_batch_size,
                    operations.len()
                ),
            ));
        }
    }

    if batch
        .iter()
        .any(|operation| operation.query.len() > config.max_query_bytes)
    {
        return Err(Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "QUERY_TOO_LARGE",
            format!(
                "a query document may hold at most {} bytes",
                config.max_query_bytes
            ),
        ));
    }
    Ok((batch, user, caller))
}

/// The limits measured on the parsed documents, before the schema sees them: the answer that
/// refuses `batch`, if it passes one. A refusal is a GraphQL-level answer (200 with errors),
/// like the schema's own limits.
fn refuse_documents(
    config: &GraphqlConfig,
    batch: &BatchRequest,
    measure: document::Measure,
) -> Option<BatchResponse> {
    let (code, message, limit, count) = if measure.fields > config.max_complexity {
        let message = format!(
            "this query holds {} fields once its fragments are expanded; at most {} are accepted",
            measure.fields, config.max_complexity
        );
        (
            QUERY_TOO_COMPLEX,
            message,
            config.max_complexity,
            measure.fields,
        )
    } else if measure.mutations > config.max_mutations {
        let message = format!(
            "this request holds {} mutations; at most {} run in one request",
            measure.mutations, config.max_mutations
        );
        (
            TOO_MANY_MUTATIONS,
            message,
            config.max_mutations,
            measure.mutations,
        )
    } else {
        return None;
    };
    tracing::info!(
        code,
        count,
        limit,
        "graphql request refused before execution"
    );
    Some(document::refusal(batch, code, &message, limit, count))
}

/// The body as one operation (a JSON object) or a batch (a non-empty JSON array of objects),
/// or why it is neither.
///
/// Not async-graphql's own `BatchRequest` deserialiser: it is untagged, and serde reads a
/// struct from a JSON array too (its fields in order), so `[]` became one operation without a
/// query (answered 200 with a parse error) and `["{ me { id } }"]` one operation that no batch
/// policy saw. Here the JSON's kind decides, and `query` is required, as GraphQL over HTTP
/// asks: a body without one is not a GraphQL request, however GraphQL-like.
fn parse_body(bytes: &[u8]) -> Result<BatchRequest, String> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    match value {
        Value::Array(items) if items.is_empty() => {
            Err("a batch must hold at least one operation".to_owned())
        }
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| operation(item).map_err(|e| format!("operation {i}: {e}")))
            .collect::<Result<Vec<_>, _>>()
            .map(BatchRequest::Batch),
        other => operation(other).map(BatchRequest::Single),
    }
}

/// One operation: a JSON object with a string `query` (and optionally `operationName`,
/// `variables`, `extensions`, of the types GraphQL over HTTP gives them).
fn operation(value: Value) -> Result<async_graphql::Request, String> {
    let Value::Object(members) = &value else {
        return Err(format!(
            "an operation is a JSON object with a `query`, not {}",
            json_kind(&value)
        ));
    };
    if !members.get("query").is_some_and(Value::is_string) {
        return Err("an operation needs a `query` string".to_owned());
    }
    // An object, so serde reads it as a map: never the by-position form of a struct.
    serde_json::from_value(value).map_err(|e| e.to_string())
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Lists the operation's replayed mutations in its `extensions` ([`super::keyed`]); whether
/// there was one.
fn mark_replays(response: &mut async_graphql::Response, replays: &Replays) -> bool {
    let keys = replays.keys();
    if keys.is_empty() {
        return false;
    }
    response.extensions.insert(
        REPLAYED_EXTENSION.to_owned(),
        async_graphql::Value::List(keys.into_iter().map(Into::into).collect()),
    );
    true
}

/// Errors the schema raises before any resolver runs (a parse error, an unknown field, a
/// limit) carry no code of their own; they get one, so clients can tell them apart.
fn label_errors(response: &mut async_graphql::Response) {
    for error in &mut response.errors {
        let extensions = error
            .extensions
            .get_or_insert_with(ErrorExtensionValues::default);
        if extensions.get("code").is_none() {
            let code = match error.message.as_str() {
                "Query is too complex." => "QUERY_TOO_COMPLEX",
                "Query is nested too deep." => "QUERY_TOO_DEEP",
                // async-graphql's own bound (32 levels, fragments included), checked before
                // `max_depth`: to a client, the same refusal.
                m if m.starts_with("The recursion depth of the query cannot be greater than") => {
                    "QUERY_TOO_DEEP"
                }
                _ => "GRAPHQL_VALIDATION_FAILED",
            };
            extensions.set("code", code);
        }
    }
}
