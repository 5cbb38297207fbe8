//! The GraphiQL page at `GET /graphql` and its assets at `/graphql/assets/{file}`, compiled
//! into the binary (`include_bytes!`): no CDN, nothing fetched at run time, and a
//! Content-Security-Policy for this page alone that allows only this server's own scripts.
//! Provenance and licences of the vendored files: `assets/graphiql/README.md`.

use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use common::error::Error;

/// The page's policy. Step 1's layers only set `default-src 'none'` where no policy is set,
/// so this one wins for the page. `'unsafe-inline'` for styles only: the editor (CodeMirror)
/// injects `<style>` elements; scripts stay `'self'`, so an injected script cannot run.
/// Fonts are `data:` URLs inside the stylesheet.
pub const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; font-src 'self' data:; img-src 'self' data:; \
    connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The assets change only with the binary; a day in the browser's cache is plenty.
const ASSET_CACHE: &str = "public, max-age=86400";

macro_rules! asset {
    ($name:literal, $type:literal) => {
        (
            $name,
            include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/assets/graphiql/",
                $name
            ))
            .as_slice(),
            $type,
        )
    };
}

/// `(file name, bytes, content type)` of every asset the page may load.
pub const ASSETS: [(&str, &[u8], &str); 6] = [
    asset!("graphiql.min.js", "text/javascript; charset=utf-8"),
    asset!("graphiql.min.css", "text/css; charset=utf-8"),
    asset!("react.production.min.js", "text/javascript; charset=utf-8"),
    asset!(
        "react-dom.production.min.js",
        "text/javascript; charset=utf-8"
    ),
    asset!("graphiql-init.js", "text/javascript; charset=utf-8"),
    asset!("page.css", "text/css; charset=utf-8"),
];

const PAGE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/graphiql/index.html"
));

/// `GET /graphql`: the GraphiQL page.
pub async fn page() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(PAGE_CSP),
            ),
            // Revalidate: a new binary may reference other assets.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        PAGE,
    )
        .into_response()
}

/// `GET /graphql/assets/{file}`: one vendored file, or the usual 404.
pub async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, bytes, content_type)) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
                (header::CACHE_CONTROL, HeaderValue::from_static(ASSET_CACHE)),
            ],
            *bytes,
        )
            .into_response(),
        None => Error::NotFound("asset").into_response(),
    }
}
