//! The near cache as a route layer: `GET` product detail and listing pages of REST v1 and v2
//! are answered from [`NearCache`] when it holds them, and stored there when it does not,
//! body bytes, headers and ETag together. Every answer of those routes carries a strong
//! `ETag`, and an `If-None-Match` that matches it gets `304 Not Modified` with no body.
//!
//! It sits inside step 2's rate limits (a near hit still counts against its client's quota)
//! and under every outer layer (request id, security and versioning headers are added to a
//! near hit as to any answer). Only `200` answers are stored; one that sets a cookie or says
//! `no-store`/`private` never is. GraphQL is not cached here: its requests are `POST`s, and its
//! loaders read through the Redis tier.

use axum::body::{Body, to_bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_LENGTH, ETAG, SET_COOKIE, VARY};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use common::domain::ProductId;
use headers::{HeaderMapExt, IfNoneMatch};

use super::CatalogCache;
use super::near::{NearCache, NearEntry};

/// What a cached route's answer depends on.
#[derive(Clone, Copy)]
enum DependsOn {
    /// One product: `gen:product:<id>`, the id being the path's last segment.
    Product,
    /// Any product: `gen:catalog`.
    Catalog,
}

/// The routes whose answers are kept, by matched path.
const ROUTES: [(&str, DependsOn); 4] = [
    ("/api/v1/products", DependsOn::Catalog),
    ("/api/v1/products/{id}", DependsOn::Product),
    ("/api/v2/products", DependsOn::Catalog),
    ("/api/v2/products/{id}", DependsOn::Product),
];

/// The state of the layer: the Redis tier (for counter names and its bypass state) and the
/// near cache, if enabled.
#[derive(Clone)]
pub struct ResponseCache {
    cache: CatalogCache,
    near: Option<NearCache>,
}

impl ResponseCache {
    pub fn new(cache: CatalogCache, near: Option<NearCache>) -> Self {
        Self { cache, near }
    }

    /// The counter the answer to `path` (matched as `matched`) depends on; `None` for a route
    /// that is not cached or a path whose id does not parse (the handler answers 400).
    fn depends_on(&self, matched: &str, path: &str) -> Option<String> {
        let (_, depends) = ROUTES.iter().find(|(route, _)| *route == matched)?;
        match depends {
            DependsOn::Catalog => Some(self.cache.catalog_gen()),
            DependsOn::Product => {
                let id: ProductId = path.rsplit('/').next()?.parse().ok()?;
                Some(self.cache.product_gen(&id))
            }
        }
    }

    /// The near cache, when it may serve now.
    fn serving(&self) -> Option<&NearCache> {
        let near = self.near.as_ref()?;
        // Until this instance's own invalidations have reached Redis, nothing is served near.
        (near.is_serving() && !self.cache.bypassing()).then_some(near)
    }
}

/// Puts the layer around every route of `routes` (it acts on the cached ones only).
pub fn layer(routes: axum::Router, cache: ResponseCache) -> axum::Router {
    routes.route_layer(axum::middleware::from_fn_with_state(cache, serve))
}

async fn serve(State(cache): State<ResponseCache>, request: Request, next: Next) -> Response {
    if request.method() != Method::GET {
        return next.run(request).await;
    }
    let depends_on = request
        .extensions()
        .get::<MatchedPath>()
        .and_then(|matched| cache.depends_on(matched.as_str(), request.uri().path()));
    let Some(depends_on) = depends_on else {
        return next.run(request).await;
    };
    let key = request.uri().path_and_query().map_or_else(
        || request.uri().path().to_owned(),
        |pq| pq.as_str().to_owned(),
    );
    let condition = request.headers().typed_get::<IfNoneMatch>();
    if let Some(near) = cache.serving() {
        if let Some(entry) = near.get(&key) {
            near.stats().add_near_hit();
            return answer(&entry, condition.as_ref());
        }
        near.stats().add_near_miss();
    }
    // Taken before the read, so a write that lands during it makes this fill invalid.
    let ticket = cache.near.as_ref().map(NearCache::ticket);
    let response = next.run(request).await;
    if response.status() != StatusCode::OK {
        return response;
    }
    let (parts, body) = response.into_parts();
    // Our handlers' bodies are in memory already; this only joins them.
    let body = match to_bytes(body, usize::MAX).await {
        Ok(body) => body,
        Err(error) => {
            tracing::error!(%error, "a cached route's body could not be read");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let mut headers = parts.headers;
    headers.remove(CONTENT_LENGTH);
    let storable = storable(&headers);
    let entry = NearEntry::new(depends_on, ticket.unwrap_or(0), headers, body);
    let response = answer(&entry, condition.as_ref());
    if let (Some(near), Some(_), true) = (cache.serving(), ticket, storable) {
        near.insert(key, entry);
    }
    response
}

/// Whether an answer with these headers may be kept and served to anyone.
fn storable(headers: &HeaderMap) -> bool {
    if headers.contains_key(SET_COOKIE) {
        return false;
    }
    !headers
        .get_all(CACHE_CONTROL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| {
            let value = value.to_ascii_lowercase();
            value.contains("no-store") || value.contains("private")
        })
}

/// `entry` as an answer: `304` with its ETag when `condition` matches it, else `200` with
/// its bytes.
fn answer(entry: &NearEntry, condition: Option<&IfNoneMatch>) -> Response {
    if condition.is_some_and(|condition| !condition.precondition_passes(&entry.etag)) {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        let headers = response.headers_mut();
        headers.insert(ETAG, entry.etag_value.clone());
        // What a 304 must repeat of the 200 it stands for (RFC 9110, 15.4.5).
        for name in [CACHE_CONTROL, VARY] {
            for value in entry.headers.get_all(&name) {
                headers.append(name.clone(), value.clone());
            }
        }
        return response;
    }
    let mut response = Response::new(Body::from(entry.body.clone()));
    *response.headers_mut() = entry.headers.clone();
    response
        .headers_mut()
        .insert(ETAG, entry.etag_value.clone());
    response
}
