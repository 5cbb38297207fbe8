//! `POST /graphql`: everything decided about a request before the schema runs it. In order,
//! cheapest first: the media type, the bearer token (a bad one is refused, never treated as
//! anonymous), the body size (read with a cap: a larger body is refused unread), the JSON,
//! the batch policy, and each query's size (refused before it is parsed). Then the request
//! gets its services, its own loaders and its user, and the schema (with its depth and
//! complexity limits) executes it.
//!
//! Refusals here answer with an HTTP error status and a GraphQL-shaped body
//! (`{"errors":[{"message","extensions":{"code"}}]}`); errors inside an operation answer 200
//! with `data` and `errors`, as GraphQL over HTTP does.

use async_graphql::{BatchRequest, BatchResponse, ErrorExtensionValues};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use common::auth::{AuthUser, Verifier};
use common::services::{Accounts, Catalog, Ordering};

use super::errors::{UNAUTHENTICATED, request_error};
use super::loaders::Loaders;
use super::schema::GraphqlSchema;
use crate::listing::Listing;

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
    request: Request,
) -> Response {
    match prepare(&graphql, &verifier, request).await {
        Ok((batch, user)) => {
            let loaders = Loaders::new(
                catalog.products.clone(),
                catalog.reviews.clone(),
                graphql.config.reviews_per_product,
            );
            let mut batch = batch
                .data(catalog)
                .data(ordering)
                .data(accounts)
                .data(listing)
                .data(loaders);
            if let Some(user) = user {
                batch = batch.data(user);
            }
            let mut response = graphql.schema.execute_batch(batch).await;
            match &mut response {
                BatchResponse::Single(one) => label_errors(one),
                BatchResponse::Batch(many) => many.iter_mut().for_each(label_errors),
            }
            axum::Json(response).into_response()
        }
        Err(refusal) => refusal.into_response(),
    }
}

/// The checks that need no schema, in order; the parsed batch and the signed-in user.
async fn prepare(
    graphql: &GraphqlSchema,
    verifier: &Verifier,
    request: Request,
) -> Result<(BatchRequest, Option<AuthUser>), Refusal> {
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

    let batch: BatchRequest = serde_json::from_slice(&bytes).map_err(|e| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            "MALFORMED_JSON",
            format!("the body is not a GraphQL request: {e}"),
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
        if operations.is_empty() || operations.len() > config.max_batch_size {
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
    Ok((batch, user))
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
                _ => "GRAPHQL_VALIDATION_FAILED",
            };
            extensions.set("code", code);
        }
    }
}
