//! The image routes, with step 0's extractors, error envelope and admin check:
//!
//! - `PUT /api/v1/products/{id}/image` (admin): the raw image as the body. Its
//!   `Content-Type` must be an accepted image type and the bytes must be that type (sniffed
//!   with `infer`), else 415; a body declared larger than `storage.max_image_bytes` is 413
//!   before any of it is read, one that grows past it is 413 as soon as it does; an unknown
//!   product is 404.
//! - `GET /api/v1/products/{id}/image` (anyone): a signed download URL, `{url, expires_at,
//!   content_type, bytes}`; `?ttl_secs=` asks for a shorter-lived one. 404 without an image.
//! - `DELETE /api/v1/products/{id}/image` (admin): 204, or 404 without an image.
//! - `GET /api/v1/product-images/{product}/{upload}?expires=&signature=` (the local backend
//!   only): the bytes, for a URL this service signed; 403 `SIGNATURE_INVALID` for a missing,
//!   forged or changed one, 403 `SIGNED_URL_EXPIRED` past its expiry, 404 once the image was
//!   replaced or deleted.
//!
//! The object store down is 503 `STORAGE_UNAVAILABLE` with nothing changed.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{FromRef, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use common::auth::{AdminUser, Verifier};
use common::domain::ProductId;
use common::error::{Error, ErrorDetail, Result};
use common::extract::{Json, Path, Query};
use common::services::Catalog;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{OpenApi, ToSchema};

use super::backend::{LOCAL_DOWNLOADS, UrlRefusal};
use super::images::{ALLOWED_TYPES, ProductImages, essence, sniff};
use super::metadata::ImageMeta;

/// The image of a product.
pub const IMAGE_PATH: &str = "/api/v1/products/{id}/image";

/// What the image routes need.
#[derive(Clone)]
pub struct ImagesState {
    pub images: ProductImages,
    pub catalog: Catalog,
    pub verifier: Verifier,
}

impl FromRef<ImagesState> for Verifier {
    fn from_ref(state: &ImagesState) -> Self {
        state.verifier.clone()
    }
}

/// The image routes, bound to `state`; the local downloads only on the local backend.
pub fn router(state: ImagesState) -> Router {
    let mut router = Router::new().route(
        IMAGE_PATH,
        get(download_url).put(upload_image).delete(delete_image),
    );
    if state.images.objects().local_signer().is_some() {
        router = router.route(
            &format!("{LOCAL_DOWNLOADS}/{{product}}/{{upload}}"),
            get(download),
        );
    }
    router.with_state(state)
}

/// An image as stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImageResponse {
    pub product_id: ProductId,
    pub content_type: String,
    pub bytes: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub uploaded_at: OffsetDateTime,
}

impl From<ImageMeta> for ImageResponse {
    fn from(meta: ImageMeta) -> Self {
        Self {
            product_id: meta.product,
            content_type: meta.content_type,
            bytes: meta.bytes,
            uploaded_at: meta.uploaded_at,
        }
    }
}

/// A download URL.
#[derive(Debug, Serialize, ToSchema)]
pub struct DownloadResponse {
    /// Absolute for a cloud backend; for the local backend relative to the API's origin
    /// unless `storage.public_url` is set.
    pub url: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    pub content_type: String,
    pub bytes: u64,
}

fn refused(status: StatusCode, code: &'static str, message: String) -> Error {
    Error::Refused {
        status,
        detail: ErrorDetail {
            code,
            message,
            fields: Vec::new(),
            request_id: None,
        },
        retry_after_secs: None,
    }
}

fn unsupported(message: String) -> Error {
    refused(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_MEDIA_TYPE",
        message,
    )
}

fn too_large(max: u64) -> Error {
    refused(
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
        format!("an image may be at most {max} bytes"),
    )
}

fn accepted_types() -> String {
    ALLOWED_TYPES.join(", ")
}

#[utoipa::path(
    put,
    path = IMAGE_PATH,
    tag = "products",
    security(("bearer" = [])),
    params(("id" = ProductId, Path, description = "the product")),
    request_body(
        description = "the image's bytes, at most `storage.max_image_bytes` (5 MiB); the type \
                       is read from them and must be the one declared",
        content(("image/jpeg"), ("image/png"), ("image/gif"), ("image/webp"), ("image/avif")),
    ),
    responses(
        (status = 200, description = "stored (admins only); a previous image is replaced", body = ImageResponse),
        (status = 400, response = common::openapi::BadRequest),
        (status = 401, response = common::openapi::Unauthorized),
        (status = 403, response = common::openapi::Forbidden),
        (status = 404, response = common::openapi::NotFound),
        (status = 413, description = "`PAYLOAD_TOO_LARGE`: over `storage.max_image_bytes`, refused before the body is read when its length says so"),
        (status = 415, description = "`UNSUPPORTED_MEDIA_TYPE`: not an accepted image type, or bytes of another type than the Content-Type"),
        (status = 503, description = "`STORAGE_UNAVAILABLE`: the object store failed; nothing was changed"),
    )
)]
#[tracing::instrument(skip_all, fields(admin = %admin.0.id, product = %id))]
async fn upload_image(
    State(state): State<ImagesState>,
    admin: AdminUser,
    Path(id): Path<ProductId>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<ImageResponse>> {
    let declared = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(essence)
        .unwrap_or_default();
    if !ALLOWED_TYPES.contains(&declared.as_str()) {
        return Err(unsupported(format!(
            "expected a body with Content-Type one of {}, got {}",
            accepted_types(),
            if declared.is_empty() {
                "none".to_owned()
            } else {
                format!("{declared:?}")
            }
        )));
    }
    let max = state.images.max_image_bytes();
    // Declared too large: refused before a byte of the body is read.
    if let Some(length) = headers.get(header::CONTENT_LENGTH) {
        let length = length
            .to_str()
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| Error::InvalidParameter {
                name: "Content-Length".to_owned(),
                reason: "must be a number of bytes".to_owned(),
            })?;
        if length > max {
            return Err(too_large(max));
        }
    }
    state.catalog.get_product(id).await?;
    let bytes = read_at_most(body, max).await?;
    let Some(sniffed) = sniff(&bytes) else {
        return Err(unsupported(format!(
            "the body is not an image of an accepted type ({})",
            accepted_types()
        )));
    };
    if sniffed != declared {
        return Err(unsupported(format!(
            "the body is {sniffed} but Content-Type says {declared}"
        )));
    }
    let meta = state.images.store(id, bytes, sniffed).await?;
    // A delete of the product between the check above and now found no image to delete:
    // look again, and take the image back out rather than leave it to a product that is gone.
    if let Err(Error::NotFound(_)) = state.catalog.get_product(id).await {
        state.images.delete(id).await?;
        return Err(Error::NotFound("product"));
    }
    tracing::info!(bytes = meta.bytes, content_type = %meta.content_type, "image stored");
    Ok(Json(meta.into()))
}

/// The body, read until it passes `max` bytes (then 413, the rest unread): a body without a
/// length, or with a false one, is bounded too.
async fn read_at_most(body: Body, max: u64) -> Result<Bytes> {
    let mut stream = body.into_data_stream();
    let mut buffer = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| Error::InvalidParameter {
            name: "body".to_owned(),
            reason: "the body could not be read".to_owned(),
        })?;
        if (buffer.len() + chunk.len()) as u64 > max {
            return Err(too_large(max));
        }
        buffer.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(buffer))
}

/// `?ttl_secs=`: how long the URL lives, at most `storage.url_ttl_secs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UrlQuery {
    ttl_secs: Option<u64>,
}

#[utoipa::path(
    get,
    path = IMAGE_PATH,
    tag = "products",
    params(
        ("id" = ProductId, Path, description = "the product"),
        ("ttl_secs" = Option<u64>, Query, description = "how long the URL lives, 1 to `storage.url_ttl_secs` (the default)"),
    ),
    responses(
        (status = 200, description = "a signed download URL", body = DownloadResponse),
        (status = 400, response = common::openapi::BadRequest),
        (status = 404, response = common::openapi::NotFound),
        (status = 503, description = "`STORAGE_UNAVAILABLE`: the object store could not sign"),
    )
)]
#[tracing::instrument(skip(state))]
async fn download_url(
    State(state): State<ImagesState>,
    Path(id): Path<ProductId>,
    Query(query): Query<UrlQuery>,
) -> Result<Json<DownloadResponse>> {
    let longest = state.images.url_ttl_secs();
    if let Some(ttl) = query.ttl_secs
        && !(1..=longest).contains(&ttl)
    {
        return Err(Error::InvalidParameter {
            name: "ttl_secs".to_owned(),
            reason: format!("must be between 1 and {longest}"),
        });
    }
    let signed = state.images.download_url(id, query.ttl_secs).await?;
    Ok(Json(DownloadResponse {
        url: signed.url,
        expires_at: signed.expires_at,
        content_type: signed.meta.content_type,
        bytes: signed.meta.bytes,
    }))
}

#[utoipa::path(
    delete,
    path = IMAGE_PATH,
    tag = "products",
    security(("bearer" = [])),
    params(("id" = ProductId, Path, description = "the product")),
    responses(
        (status = 204, description = "deleted (admins only)"),
        (status = 400, response = common::openapi::BadRequest),
        (status = 401, response = common::openapi::Unauthorized),
        (status = 403, response = common::openapi::Forbidden),
        (status = 404, response = common::openapi::NotFound),
        (status = 503, description = "`STORAGE_UNAVAILABLE`: the object store failed; nothing was changed"),
    )
)]
#[tracing::instrument(skip_all, fields(admin = %admin.0.id, product = %id))]
async fn delete_image(
    State(state): State<ImagesState>,
    admin: AdminUser,
    Path(id): Path<ProductId>,
) -> Result<StatusCode> {
    if state.images.delete(id).await? {
        tracing::info!("image deleted");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::NotFound("image"))
    }
}

/// A local download's parameters; both are checked by the signature, so neither is
/// validated on its own.
#[derive(Debug, Deserialize)]
struct DownloadQuery {
    expires: Option<String>,
    signature: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/product-images/{product}/{upload}",
    tag = "products",
    params(
        ("product" = ProductId, Path, description = "the product"),
        ("upload" = String, Path, description = "the upload, as the signed URL names it"),
        ("expires" = i64, Query, description = "the URL's expiry, Unix seconds"),
        ("signature" = String, Query, description = "HMAC-SHA256 of the product, upload and expiry, base64url"),
    ),
    responses(
        (status = 200, description = "the image's bytes, with their type (local backend only)"),
        (status = 400, response = common::openapi::BadRequest),
        (status = 403, description = "`SIGNATURE_INVALID`: missing, forged or changed; `SIGNED_URL_EXPIRED`: past its expiry"),
        (status = 404, response = common::openapi::NotFound),
        (status = 503, description = "`STORAGE_UNAVAILABLE`: the object store failed"),
    )
)]
#[tracing::instrument(skip(state, query))]
async fn download(
    State(state): State<ImagesState>,
    Path((product, upload)): Path<(ProductId, String)>,
    Query(query): Query<DownloadQuery>,
) -> Result<Response> {
    let signer = state
        .images
        .objects()
        .local_signer()
        .ok_or(Error::NotFound("route"))?;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    signer
        .check(
            product,
            &upload,
            query.expires.as_deref(),
            query.signature.as_deref(),
            now,
        )
        .map_err(|refusal| match refusal {
            UrlRefusal::BadSignature => refused(
                StatusCode::FORBIDDEN,
                "SIGNATURE_INVALID",
                "the download URL's signature is missing or does not match it; ask for a new \
                 URL at GET /api/v1/products/{id}/image"
                    .to_owned(),
            ),
            UrlRefusal::Expired { at } => refused(
                StatusCode::FORBIDDEN,
                "SIGNED_URL_EXPIRED",
                format!(
                    "the download URL expired {} seconds ago; ask for a new URL at GET \
                     /api/v1/products/{{id}}/image",
                    now - at
                ),
            ),
        })?;
    let expires: i64 = query
        .expires
        .as_deref()
        .and_then(|e| e.parse().ok())
        .unwrap_or(now);
    let (meta, bytes) = state.images.read(product, &upload).await?;
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&meta.content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    // The URL is the permission: a shop front on another origin may show it in an `<img>`,
    // as it may a cloud's signed URL (step 1's default is `same-origin`).
    headers.insert(
        HeaderName::from_static("cross-origin-resource-policy"),
        HeaderValue::from_static("cross-origin"),
    );
    // Cacheable by the browser that holds the URL, for as long as the URL is valid.
    if let Ok(value) = HeaderValue::from_str(&format!("private, max-age={}", expires - now)) {
        headers.insert(header::CACHE_CONTROL, value);
    }
    Ok(response)
}

#[derive(OpenApi)]
#[openapi(
    paths(upload_image, download_url, delete_image),
    components(schemas(ImageResponse, DownloadResponse))
)]
struct ImagesDoc;

#[derive(OpenApi)]
#[openapi(paths(download))]
struct LocalDownloadsDoc;

/// The image routes' part of the OpenAPI document; the local downloads only when `local`.
pub fn openapi(local: bool) -> utoipa::openapi::OpenApi {
    let mut doc = ImagesDoc::openapi();
    if local {
        doc.merge(LocalDownloadsDoc::openapi());
    }
    doc
}
