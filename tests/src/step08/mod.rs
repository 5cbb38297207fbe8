//! The step-8 suite: a product's image, over HTTP, whatever object store keeps it.
//! - an admin uploads a product's image as the raw body of `PUT /api/v1/products/{id}/image`
//!   (200, its type and size back);
//! - anyone gets a signed download URL at `GET /api/v1/products/{id}/image` (`url`,
//!   `expires_at`, `content_type`, `bytes`), and the URL gives back the very bytes, with their
//!   type; `?ttl_secs=` makes it shorter-lived;
//! - a new upload replaces the image and its old URL stops working;
//! - `DELETE .../image` removes it (204, then 404), and so does deleting the product;
//! - the OpenAPI document describes the three operations.
//!
//! A URL is absolute when a cloud serves it, relative to the API's origin when the service
//! does; [`download`] resolves it either way.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use reqwest::Method;
use time::OffsetDateTime;

use crate::client::{API, Api, Reply};
use crate::fixtures::{self, UNKNOWN_ID};
use crate::{Case, Target, check};

pub fn cases() -> Vec<Case> {
    crate::cases![
        an_uploaded_image_comes_back_byte_for_byte_through_its_signed_url,
        a_download_url_can_be_asked_for_a_shorter_life_and_says_when_it_expires,
        a_new_upload_replaces_the_image_and_the_old_url_stops_working,
        deleting_the_image_makes_it_404_and_a_second_delete_is_404,
        deleting_the_product_deletes_its_image,
        a_product_without_an_image_has_no_download_url,
        the_document_describes_the_image_routes,
    ]
}

/// `/api/v1/products/{id}/image`.
pub fn image_path(product: &str) -> String {
    format!("{API}/products/{product}/image")
}

/// Bytes that are a PNG as far as a type sniffer reads (the signature, an IHDR chunk's
/// start), then `len` more.
pub fn png(len: usize) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    bytes.extend((0..len).map(|i| (i * 7 % 251) as u8));
    bytes
}

/// A JPEG (JFIF) as far as a type sniffer reads, then `len` more bytes.
pub fn jpeg(len: usize) -> Vec<u8> {
    let mut bytes = b"\xff\xd8\xff\xe0\0\x10JFIF\0".to_vec();
    bytes.extend((0..len).map(|i| (i * 13 % 251) as u8));
    bytes
}

/// `PUT .../image` with `bytes` as the body and `content_type` (none when `None`).
pub async fn upload(
    api: &Api,
    product: &str,
    content_type: Option<&str>,
    bytes: Vec<u8>,
) -> Result<Reply> {
    let mut request = api.request(Method::PUT, &image_path(product)).body(bytes);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    api.send(request).await
}

/// The answer of `GET .../image[query]`.
pub async fn download_url(api: &Api, product: &str, query: &str) -> Result<Reply> {
    api.get(&format!("{}{query}", image_path(product))).await
}

/// A download URL's answer, its body as bytes (images are not text).
#[derive(Debug)]
pub struct Download {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl Download {
    /// The body as text, for messages.
    pub fn describe(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        format!(
            "{} ({}): {}",
            self.status,
            self.content_type.as_deref().unwrap_or("no content-type"),
            text.chars().take(300).collect::<String>()
        )
    }

    /// The `error.code` of a JSON error body.
    pub fn error_code(&self) -> Option<String> {
        let value: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
        value["error"]["code"].as_str().map(str::to_owned)
    }
}

/// Whether `url` is served by the target itself (relative, or on its origin).
pub fn served_by_target(t: &Target, url: &str) -> bool {
    url.starts_with('/') || url.starts_with(&format!("{}/", t.base_url))
}

/// Fetches `url` with no credentials: as it is when absolute, against the target when
/// relative.
pub async fn download(t: &Target, url: &str) -> Result<Download> {
    let absolute = if url.starts_with('/') {
        format!("{}{url}", t.base_url)
    } else {
        url.to_owned()
    };
    let response = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?
        .get(&absolute)
        .send()
        .await
        .with_context(|| format!("GET {absolute}: no answer"))?;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response.bytes().await?.to_vec();
    Ok(Download {
        status,
        content_type,
        body,
    })
}

/// A fresh product with an image of `bytes` (`content_type`), uploaded by `admin`.
pub async fn product_with_image(admin: &Api, content_type: &str, bytes: Vec<u8>) -> Result<String> {
    let product = fixtures::product(admin, 1500, 3).await?;
    upload(admin, &product.id, Some(content_type), bytes)
        .await?
        .expect_status(200)
        .context("uploading an image as admin")?;
    Ok(product.id)
}

/// The product's image is exactly `bytes` of `content_type`: its download URL says so and
/// gives them back.
pub async fn image_is(t: &Target, product: &str, content_type: &str, bytes: &[u8]) -> Result<()> {
    let signed = download_url(&Api::new(&t.base_url), product, "")
        .await?
        .expect_value(200)
        .context("the image's download URL")?;
    check::eq(
        "the image's content_type",
        &signed["content_type"],
        content_type,
    )?;
    check::eq("the image's bytes", &signed["bytes"], bytes.len())?;
    let url = signed["url"]
        .as_str()
        .with_context(|| format!("a url in {signed}"))?;
    let downloaded = download(t, url).await?;
    check::that(downloaded.status == 200, || {
        format!("GET {url}: expected 200, got {}", downloaded.describe())
    })?;
    check::eq(
        "the download's content-type",
        downloaded.content_type.as_deref(),
        Some(content_type),
    )?;
    check::that(downloaded.body == bytes, || {
        format!(
            "GET {url} gave {} bytes that differ from the {} uploaded",
            downloaded.body.len(),
            bytes.len()
        )
    })
}

/// The product has no image: its download URL is 404 `NOT_FOUND`.
pub async fn has_no_image(t: &Target, product: &str) -> Result<()> {
    download_url(&Api::new(&t.base_url), product, "")
        .await?
        .expect_error(404, "NOT_FOUND")
        .map(|_| ())
}

async fn an_uploaded_image_comes_back_byte_for_byte_through_its_signed_url(
    t: Target,
) -> Result<()> {
    let admin = fixtures::admin(&t).await?;
    let product = fixtures::product(&admin, 1500, 3).await?;
    let bytes = png(3000);
    let stored = upload(&admin, &product.id, Some("image/png"), bytes.clone())
        .await?
        .expect_value(200)?;
    check::eq("the stored type", &stored["content_type"], "image/png")?;
    check::eq("the stored size", &stored["bytes"], bytes.len())?;
    check::eq(
        "the stored product",
        &stored["product_id"],
        product.id.as_str(),
    )?;
    check::rfc3339(
        "uploaded_at",
        stored["uploaded_at"].as_str().unwrap_or_default(),
    )?;
    image_is(&t, &product.id, "image/png", &bytes).await
}

async fn a_download_url_can_be_asked_for_a_shorter_life_and_says_when_it_expires(
    t: Target,
) -> Result<()> {
    let admin = fixtures::admin(&t).await?;
    let product = product_with_image(&admin, "image/jpeg", jpeg(500)).await?;
    let anonymous = Api::new(&t.base_url);
    let before = OffsetDateTime::now_utc();
    let default = download_url(&anonymous, &product, "")
        .await?
        .expect_value(200)?;
    let short = download_url(&anonymous, &product, "?ttl_secs=30")
        .await?
        .expect_value(200)?;
    let default_at = check::rfc3339(
        "expires_at",
        default["expires_at"].as_str().unwrap_or_default(),
    )?;
    let short_at = check::rfc3339(
        "expires_at",
        short["expires_at"].as_str().unwrap_or_default(),
    )?;
    check::that(
        short_at > before && short_at <= before + Duration::from_secs(32),
        || format!("?ttl_secs=30 expires within 30 s: {short_at} (asked at {before})"),
    )?;
    check::that(default_at > short_at, || {
        format!("the default lifetime is longer than 30 s: {default_at} vs {short_at}")
    })?;
    let downloaded = download(&t, short["url"].as_str().unwrap_or_default()).await?;
    check::that(downloaded.status == 200, || {
        format!(
            "the short-lived URL works at once: {}",
            downloaded.describe()
        )
    })
}

async fn a_new_upload_replaces_the_image_and_the_old_url_stops_working(t: Target) -> Result<()> {
    let admin = fixtures::admin(&t).await?;
    let product = product_with_image(&admin, "image/png", png(800)).await?;
    let old = download_url(&admin, &product, "")
        .await?
        .expect_value(200)?;
    let old_url = old["url"].as_str().unwrap_or_default().to_owned();
    let replacement = jpeg(1200);
    upload(&admin, &product, Some("image/jpeg"), replacement.clone())
        .await?
        .expect_status(200)?;
    image_is(&t, &product, "image/jpeg", &replacement).await?;
    let stale = download(&t, &old_url).await?;
    if stale.status == 200 {
        bail!(
            "the replaced image's URL still answers 200: {}",
            stale.describe()
        );
    }
    Ok(())
}

async fn deleting_the_image_makes_it_404_and_a_second_delete_is_404(t: Target) -> Result<()> {
    let admin = fixtures::admin(&t).await?;
    let product = product_with_image(&admin, "image/png", png(100)).await?;
    let url = download_url(&admin, &product, "")
        .await?
        .expect_value(200)?["url"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    admin
        .delete(&image_path(&product))
        .await?
        .expect_status(204)?;
    has_no_image(&t, &product).await?;
    admin
        .delete(&image_path(&product))
        .await?
        .expect_error(404, "NOT_FOUND")?;
    let gone = download(&t, &url).await?;
    if gone.status == 200 {
        bail!(
            "a deleted image's URL still answers 200: {}",
            gone.describe()
        );
    }
    // The product itself is still there.
    fixtures::get_product(&admin, &product).await.map(|_| ())
}

async fn deleting_the_product_deletes_its_image(t: Target) -> Result<()> {
    let admin = fixtures::admin(&t).await?;
    let product = product_with_image(&admin, "image/png", png(100)).await?;
    admin.delete_product(&product).await?.expect_status(204)?;
    has_no_image(&t, &product).await?;
    // And a product made later has none of it.
    let other = fixtures::product(&admin, 1500, 3).await?;
    has_no_image(&t, &other.id).await
}

async fn a_product_without_an_image_has_no_download_url(t: Target) -> Result<()> {
    let admin = fixtures::admin(&t).await?;
    let product = fixtures::product(&admin, 1500, 3).await?;
    has_no_image(&t, &product.id).await?;
    has_no_image(&t, UNKNOWN_ID).await?;
    admin
        .delete(&image_path(&product.id))
        .await?
        .expect_error(404, "NOT_FOUND")
        .map(|_| ())
}

async fn the_document_describes_the_image_routes(t: Target) -> Result<()> {
    let document = Api::new(&t.base_url)
        .get("/api-docs/openapi.json")
        .await?
        .expect_value(200)?;
    let path = format!("{API}/products/{{id}}/image");
    for method in ["get", "put", "delete"] {
        check::that(document["paths"][&path][method].is_object(), || {
            format!("{} {path} in the OpenAPI document", method.to_uppercase())
        })?;
    }
    let put = &document["paths"][&path]["put"];
    check::that(
        put["requestBody"]["content"]["image/png"].is_object(),
        || format!("PUT {path} takes image/png bodies: {}", put["requestBody"]),
    )
}
