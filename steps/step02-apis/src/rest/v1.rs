//! v1's side of step 2: `GET /api/v1/products` with filters and sorting (step 0's response
//! shape, defaults and order kept), and the deprecation headers every `/api/v1` response
//! carries from now on.

use axum::extract::{RawQuery, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use common::error::Result;
use common::extract::Json;
use common::routes::PageResponse;
use common::routes::products::ProductResponse;
use time::format_description::well_known::Rfc2822;

use super::RestConfig;
use super::params::ListingParams;
use crate::listing::{Listing, Window};

/// List products (v1): offset pages, every filter, a whitelisted sort. Deprecated in favour
/// of `GET /api/v2/products`.
#[utoipa::path(
    get,
    path = "/api/v1/products",
    tag = "v1",
    params(ListingParams),
    // The error statuses are the shared components every v1 route names (v1's errors are
    // step 0's `ErrorBody`); 429 and 503 are added to every route by `crate::openapi`.
    responses(
        (status = 200, description = "A page of products, oldest first unless `sort` says otherwise", body = PageResponse<ProductResponse>),
        (status = 400, response = common::openapi::BadRequest),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn list_products(
    State(listing): State<Listing>,
    RawQuery(query): RawQuery,
) -> Result<Json<PageResponse<ProductResponse>>> {
    let query = ListingParams::parse_v1(query.as_deref())?;
    let Window::Page(page) = query.window else {
        unreachable!("v1 parses into an offset window");
    };
    let found = listing.search(&query).await?;
    Ok(Json(PageResponse {
        items: found.items.into_iter().map(ProductResponse::from).collect(),
        page: page.page,
        limit: page.limit,
        total: found.total.unwrap_or_default(),
    }))
}

/// The header values, computed once from the configuration.
#[derive(Clone)]
pub struct DeprecationPolicy {
    deprecation: HeaderValue,
    sunset: HeaderValue,
}

impl DeprecationPolicy {
    /// `config` has been validated ([`RestConfig::validate`]); an invalid date here would be
    /// a bug, so it falls back to the defaults rather than sending a malformed header.
    pub fn new(config: &RestConfig) -> Self {
        let defaults = RestConfig::default();
        let date = |value: &str, default: &str| {
            super::parse_date("date", value)
                .or_else(|_| super::parse_date("date", default))
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        };
        let deprecated = date(&config.v1_deprecated_at, &defaults.v1_deprecated_at);
        let sunset = date(&config.v1_sunset, &defaults.v1_sunset);
        Self {
            // RFC 9745: a structured-field date, `@` and seconds since the epoch.
            deprecation: header_value(format!("@{}", deprecated.unix_timestamp())),
            // RFC 8594: an HTTP date (IMF-fixdate).
            sunset: header_value(http_date(sunset)),
        }
    }
}

fn header_value(text: String) -> HeaderValue {
    HeaderValue::try_from(text).unwrap_or_else(|_| HeaderValue::from_static("@0"))
}

/// `Wed, 01 Dec 2027 00:00:00 GMT`: RFC 2822's form with `GMT` for the zone.
fn http_date(at: time::OffsetDateTime) -> String {
    let text = at.format(&Rfc2822).unwrap_or_default();
    match text.strip_suffix(" +0000") {
        Some(rest) => format!("{rest} GMT"),
        None => text,
    }
}

/// v2's equivalent of a v1 path, where there is one (reads only: v2 has no writes yet).
fn successor(method: &axum::http::Method, path: &str) -> Option<String> {
    if method != axum::http::Method::GET {
        return None;
    }
    let rest = path.strip_prefix("/api/v1/")?;
    let segments: Vec<&str> = rest.split('/').collect();
    let equivalent = matches!(
        segments.as_slice(),
        ["products"] | ["products", _] | ["products", _, "reviews"] | ["orders"] | ["orders", _]
    );
    equivalent.then(|| format!("/api/v2/{rest}"))
}

/// Adds `Deprecation`, `Sunset` and, where v2 has the same resource, `Link: <...>;
/// rel="successor-version"` to every `/api/v1` response, errors included.
pub async fn deprecation_headers(
    State(policy): State<DeprecationPolicy>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    if !(path == "/api/v1" || path.starts_with("/api/v1/")) {
        return next.run(request).await;
    }
    let link = successor(request.method(), &path)
        .and_then(|to| HeaderValue::try_from(format!("<{to}>; rel=\"successor-version\"")).ok());
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert("deprecation", policy.deprecation.clone());
    headers.insert("sunset", policy.sunset.clone());
    if let Some(link) = link {
        headers.append(axum::http::header::LINK, link);
    }
    response
}
