//! The OpenAPI 3.1 document of step 2 and its browsable UI, both generated from the code:
//! every handler of steps 0 and 1 carries a `utoipa::path` annotation (their `openapi`
//! feature), step 2's REST module contributes its own paths ([`crate::rest::openapi`]), and
//! this module adds what belongs to the whole API: info, servers, tags, the bearer-JWT
//! security scheme, the shared error responses, and the responses that layers (not handlers)
//! give: 429 from the rate limiter on every `/api` route and 503 `TIMEOUT` on every route.
//!
//! Served at `GET /api-docs/openapi.json`; Swagger UI at `/api-docs/`, from files compiled
//! into the binary (utoipa-swagger-ui's `vendored` feature): no CDN, works offline. The
//! document is an [`ApiDocument`] in the application state, so a later step serves its own
//! routes in it too ([`ApiDocument::with`]) and documents what it changes of an earlier
//! step's operations ([`ApiDocument::with_changed_operations`]).

use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::http::{HeaderValue, header};
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::openapi::path::{HttpMethod, Operation, PathItem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Components, OpenApi as Document, Ref, RefOr};
use utoipa::{Modify, OpenApi, ToResponse};
use utoipa_swagger_ui::SwaggerUi;

/// Where the document is served.
pub const DOCUMENT_PATH: &str = "/api-docs/openapi.json";

/// The name of the security scheme every signed-in operation refers to.
pub const BEARER: &str = "bearer";

/// The Content-Security-Policy of the documentation pages. Step 1's layers give every
/// response `default-src 'none'` unless it has a policy of its own; Swagger UI needs a little
/// more: its script and style files ('self'), inline style (it sets `style` attributes and
/// inserts `<style>` while rendering), SVG icons as `data:` images, and `fetch` to this
/// origin for the document and "Try it out". Nothing from another origin.
pub const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' \
                            'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
                            frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "stepwise-shop",
        description = "The shop's HTTP API as of step 2: step 0's resources and step 1's \
                       sessions under `/api/v1`, and `/api/v2`. Every error has one shape, \
                       `{\"error\":{\"code\",\"message\",\"fields\"?,\"request_id\"?}}`."
    ),
    servers((url = "/", description = "this server")),
    paths(
        common::routes::health::health,
        common::routes::auth::me,
        common::routes::products::get_product,
        common::routes::products::create_product,
        common::routes::products::update_product,
        common::routes::products::delete_product,
        common::routes::products::list_reviews,
        common::routes::products::create_review,
        common::routes::orders::place_order,
        common::routes::orders::list_orders,
        common::routes::orders::get_order,
        common::routes::orders::pay_order,
        common::routes::orders::ship_order,
        common::routes::orders::cancel_order,
        step01_security::routes::auth::register,
        step01_security::routes::auth::login,
        step01_security::routes::auth::refresh,
        step01_security::routes::auth::logout,
        step01_security::routes::auth::logout_all,
        step01_security::routes::auth::change_password,
        step01_security::routes::sessions::list_sessions,
        step01_security::routes::sessions::revoke_session,
        step01_security::routes::google::start_google_login,
        step01_security::routes::google::finish_google_login,
        step01_security::routes::profile::get_profile,
        step01_security::routes::profile::update_profile,
    ),
    components(schemas(common::error::ErrorBody, common::error::ErrorDetail)),
    tags(
        (name = "auth", description = "accounts, sign-in (password or Google) and tokens"),
        (name = "sessions", description = "the signed-in user's sessions"),
        (name = "profile", description = "the signed-in user's encrypted profile"),
        (name = "products", description = "the catalog: public reads, admin writes"),
        (name = "reviews", description = "product reviews: public reads, signed-in writes"),
        (name = "orders", description = "place, pay, ship and cancel orders"),
        (name = "health", description = "whether the service and its dependencies answer"),
    ),
    modifiers(&Security)
)]
struct StepsZeroAndOne;

/// The bearer-JWT scheme the `security(("bearer" = []))` annotations name.
struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "the access token from login, register or refresh (15 minutes)",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document a step serves: step 2's ([`ApiDocument::new`]), plus the paths a later step
/// adds ([`ApiDocument::with`]). It lives in the application state, so a later step replaces it
/// while wiring and `/api-docs` serves the whole API of the step that runs.
#[derive(Clone)]
pub struct ApiDocument(Arc<Document>);

impl ApiDocument {
    /// Steps 0 and 1, step 2's REST paths, and the layer-given responses.
    pub fn new() -> Self {
        let mut doc = StepsZeroAndOne::openapi();
        doc.merge(crate::rest::openapi());
        Self(Arc::new(with_layer_responses(doc)))
    }

    /// This document plus `more` (a later step's `#[derive(OpenApi)]`), whose operations get
    /// the layer-given responses too: the layers that give them wrap every step's routes.
    pub fn with(&self, more: Document) -> Self {
        let mut doc = (*self.0).clone();
        doc.merge(more);
        Self(Arc::new(with_layer_responses(doc)))
    }

    /// This document with `change` made to each of `operations`, which it must hold: a later
    /// step that changes what an earlier step's route does (step 6 takes `Idempotency-Key` on
    /// placing and paying orders) says so on the same operation, rather than in a second one
    /// that [`ApiDocument::with`] would merge away. `change` sees the components too, to
    /// build on a shared response. The layer-given responses stay, and are given to anything
    /// `change` leaves without them.
    pub fn with_changed_operations(
        &self,
        operations: &[(HttpMethod, &str)],
        change: impl Fn(&mut Operation, &Components),
    ) -> anyhow::Result<Self> {
        let mut doc = (*self.0).clone();
        let components = doc.components.take().unwrap_or_default();
        for (method, path) in operations {
            let operation = doc
                .paths
                .paths
                .get_mut(*path)
                .and_then(|item| operation(item, method))
                .with_context(|| {
                    // utoipa's `HttpMethod` is `Debug` only with its `debug` feature.
                    let method = serde_json::to_value(method).unwrap_or_default();
                    format!("the document has no operation {method} {path}")
                })?;
            change(operation, &components);
        }
        doc.components = Some(components);
        Ok(Self(Arc::new(with_layer_responses(doc))))
    }

    pub fn document(&self) -> &Document {
        &self.0
    }
}

impl Default for ApiDocument {
    fn default() -> Self {
        Self::new()
    }
}

/// The responses layers give, not handlers: 429 on every `/api` operation (the rate limiter)
/// and 503 `TIMEOUT` on every operation; each where the operation does not describe its own.
fn with_layer_responses(mut doc: Document) -> Document {
    let components = doc.components.get_or_insert_with(Default::default);
    components
        .responses
        .extend(common::openapi::error_responses());
    let (too_many, _) = common::openapi::TooManyRequests::response();
    let (unavailable, _) = common::openapi::ServiceUnavailable::response();
    for (path, item) in doc.paths.paths.iter_mut() {
        for operation in operations(item) {
            let responses = &mut operation.responses.responses;
            if path.starts_with("/api/") {
                responses
                    .entry("429".to_owned())
                    .or_insert_with(|| response_ref(too_many));
            }
            responses
                .entry("503".to_owned())
                .or_insert_with(|| response_ref(unavailable));
        }
    }
    doc
}

/// The operation of `item` for `method`.
fn operation<'a>(item: &'a mut PathItem, method: &HttpMethod) -> Option<&'a mut Operation> {
    match method {
        HttpMethod::Get => item.get.as_mut(),
        HttpMethod::Put => item.put.as_mut(),
        HttpMethod::Post => item.post.as_mut(),
        HttpMethod::Delete => item.delete.as_mut(),
        HttpMethod::Options => item.options.as_mut(),
        HttpMethod::Head => item.head.as_mut(),
        HttpMethod::Patch => item.patch.as_mut(),
        HttpMethod::Trace => item.trace.as_mut(),
    }
}

fn response_ref(name: &str) -> RefOr<utoipa::openapi::Response> {
    RefOr::Ref(Ref::from_response_name(name))
}

/// Every operation of a path item, whatever its method.
fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// `GET /api-docs/openapi.json` (`document`) and Swagger UI under `/api-docs/`, with
/// [`DOCS_CSP`].
pub fn router<S>(document: &ApiDocument) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let docs: Router<S> = SwaggerUi::new("/api-docs")
        .url(DOCUMENT_PATH, document.document().clone())
        .into();
    docs.layer(SetResponseHeaderLayer::overriding(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(DOCS_CSP),
    ))
}
