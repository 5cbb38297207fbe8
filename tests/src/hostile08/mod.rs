//! Hostile clients against step 8's image routes. Uploads of what is not an accepted image
//! (a PDF, SVG, HTML, nothing), of bytes whose type is not the one declared, of bodies over the
//! limit (declared, and streamed without a length), by customers and anonymous clients, with
//! malformed and unknown product ids; download URLs forged, stripped, moved to another
//! product, expired; lifetimes out of range. Each answer is the documented error in the error
//! shape, and afterwards the product's image is what it was, byte for byte.
//!
//! The size cases assume the default limit, `storage.max_image_bytes` = 5 MiB.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use reqwest::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::client::Api;
use crate::fixtures::{self, UNKNOWN_ID};
use crate::step08::{
    download, download_url, has_no_image, image_is, image_path, jpeg, png, product_with_image,
    served_by_target, upload,
};
use crate::{Case, Target, check};

/// `storage.max_image_bytes`' default.
pub const MAX_IMAGE_BYTES: usize = 5 * 1024 * 1024;

pub fn cases() -> Vec<Case> {
    crate::case::all_of(families())
}

pub fn families() -> Vec<(&'static str, Vec<Case>)> {
    vec![
        (
            "uploads",
            crate::cases![
                bytes_that_are_no_accepted_image_are_415_and_change_nothing,
                bytes_of_another_type_than_declared_are_415_and_change_nothing,
                a_body_declared_over_the_limit_is_413_before_it_is_sent,
                a_body_streamed_past_the_limit_is_413_and_changes_nothing,
                customers_and_anonymous_clients_may_not_upload_or_delete_images,
                malformed_and_unknown_product_ids_are_400_and_404_on_every_image_route,
            ],
        ),
        (
            "download urls",
            crate::cases![
                a_forged_stripped_or_moved_download_url_is_refused,
                an_expired_download_url_is_refused,
                lifetimes_out_of_range_and_unknown_parameters_are_400,
            ],
        ),
    ]
}

async fn bytes_that_are_no_accepted_image_are_415_and_change_nothing(t: Target) -> Result<()> {
    let admin = fixtures::admin(&t).await?;
    let original = png(300);
    let product = product_with_image(&admin, "image/png", original.clone()).await?;
    let bodies: [(&str, &[u8]); 5] = [
        ("image/png", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj"),
        (
            "image/png",
            b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>",
        ),
        (
            "image/png",
            b"<!doctype html><html><script>alert(1)</script></html>",
        ),
        ("image/png", b""),
        (
            "image/svg+xml",
            b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
        ),
    ];
    for (content_type, body) in bodies {
        let error = upload(&admin, &product, Some(content_type), body.to_vec())
            .await?
            .expect_error(415, "UNSUPPORTED_MEDIA_TYPE")?;
        check::that(error.message.contains("image/"), || {
            format!("a 415 names the accepted types: {}", error.message)
        })?;
    }
    image_is(&t, &product, "image/png", &original).await
}

async fn bytes_of_another_type_than_declared_are_415_and_change_nothing(t: Target) -> Result<()> {
    let admin = fixtures::admin(&t).await?;
    let original = jpeg(300);
    let product = product_with_image(&admin, "image/jpeg", original.clone()).await?;
    let tries: [(Option<&str>, Vec<u8>); 6] = [
        (Some("image/jpeg"), png(50)),
        (Some("image/png"), jpeg(50)),
        (Some("image/gif"), png(50)),
        (None, png(50)),
        (Some("application/octet-stream"), png(50)),
        (Some("application/json"), png(50)),
    ];
    for (content_type, body) in tries {
        upload(&admin, &product, content_type, body)
            .await?
            .expect_error(415, "UNSUPPORTED_MEDIA_TYPE")
            .with_context(|| format!("declared {content_type:?}"))?;
    }
    image_is(&t, &product, "image/jpeg", &original).await
}

/// `host:port` of an `http://` base URL.
fn authority(t: &Target) -> Result<String> {
    let Some(rest) = t.base_url.strip_prefix("http://") else {
        bail!(
            "this case speaks HTTP/1.1 over plain TCP and needs an http:// base URL, got {}",
            t.base_url
        );
    };
    Ok(rest.split('/').next().unwrap_or(rest).to_owned())
}

async fn a_body_declared_over_the_limit_is_413_before_it_is_sent(t: Target) -> Result<()> {
    let admin = fixtures::admin(&t).await?;
    let original = png(200);
    let product = product_with_image(&admin, "image/png", original.clone()).await?;
    let token = admin.token().context("the admin's token")?.to_owned();
    let host = authority(&t)?;
    // The head declares one byte over the limit; only the first bytes follow. The answer
    // must come without the rest: the service may not wait for a body it will refuse.
    let head = format!(
        "PUT {} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: image/png\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        image_path(&product),
        MAX_IMAGE_BYTES + 1
    );
    let mut stream = tokio::net::TcpStream::connect(&host).await?;
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&png(16)).await?;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buffer = [0u8; 4096];
        loop {
            let n = stream.read(&mut buffer).await?;
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buffer[..n]);
            if answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.ends_with(b"}") {
                break;
            }
        }
        anyhow::Ok(())
    })
    .await;
    let text = String::from_utf8_lossy(&answer).into_owned();
    if read.is_err() && !text.starts_with("HTTP/1.1 413") {
        bail!(
            "no answer within 10 s to a body declared over the limit: the service waited for it ({text:?})"
        );
    }
    check::that(text.starts_with("HTTP/1.1 413"), || {
        format!("expected 413 for a body declared over the limit, got {text:?}")
    })?;
    check::that(text.contains("PAYLOAD_TOO_LARGE"), || {
        format!("a 413 in the error shape, got {text:?}")
    })?;
    image_is(&t, &product, "image/png", &original).await
}

async fn a_body_streamed_past_the_limit_is_413_and_changes_nothing(t: Target) -> Result<()> {
    let admin = fixtures::admin(&t).await?;
    let original = png(200);
    let product = product_with_image(&admin, "image/png", original.clone()).await?;
    // No Content-Length: a PNG's first bytes, then zeros, in chunks, past the limit.
    let chunk = 64 * 1024;
    let chunks = MAX_IMAGE_BYTES / chunk + 2;
    let stream = futures::stream::iter(
        std::iter::once(png(chunk - 16))
            .chain((1..chunks).map(move |_| vec![0u8; chunk]))
            .map(Ok::<_, std::io::Error>),
    );
    let request = admin
        .request(Method::PUT, &image_path(&product))
        .header("content-type", "image/png")
        .body(reqwest::Body::wrap_stream(stream));
    admin
        .send(request)
        .await?
        .expect_error(413, "PAYLOAD_TOO_LARGE")?;
    image_is(&t, &product, "image/png", &original).await
}

async fn customers_and_anonymous_clients_may_not_upload_or_delete_images(t: Target) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let original = png(300);
    let product = product_with_image(&admin, "image/png", original.clone()).await?;
    let anonymous = Api::new(&t.base_url);
    let forged = anonymous.with_token("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4Iiwicm9sZSI6ImFkbWluIn0.");
    for (api, status, code) in [
        (&customer.api, 403, "FORBIDDEN"),
        (&anonymous, 401, "UNAUTHORIZED"),
        (&forged, 401, "UNAUTHORIZED"),
    ] {
        upload(api, &product, Some("image/jpeg"), jpeg(100))
            .await?
            .expect_error(status, code)
            .context("an upload")?;
        api.delete(&image_path(&product))
            .await?
            .expect_error(status, code)
            .context("a delete")?;
        // Not even for a product that does not exist: who may comes before what exists.
        upload(api, UNKNOWN_ID, Some("image/png"), png(10))
            .await?
            .expect_error(status, code)
            .context("an upload for an unknown product")?;
    }
    image_is(&t, &product, "image/png", &original).await
}

async fn malformed_and_unknown_product_ids_are_400_and_404_on_every_image_route(
    t: Target,
) -> Result<()> {
    let admin = fixtures::admin(&t).await?;
    for id in [
        "not-an-id",
        "zzzzzzzzzzzzzzzzzzzzzzzz",
        "0000000000000000000000ff0",
        "%00",
    ] {
        upload(&admin, id, Some("image/png"), png(10))
            .await?
            .expect_error(400, "INVALID_PARAMETER")
            .with_context(|| format!("PUT with id {id:?}"))?;
        download_url(&admin, id, "")
            .await?
            .expect_error(400, "INVALID_PARAMETER")
            .with_context(|| format!("GET with id {id:?}"))?;
        admin
            .delete(&image_path(id))
            .await?
            .expect_error(400, "INVALID_PARAMETER")
            .with_context(|| format!("DELETE with id {id:?}"))?;
    }
    upload(&admin, UNKNOWN_ID, Some("image/png"), png(10))
        .await?
        .expect_error(404, "NOT_FOUND")?;
    has_no_image(&t, UNKNOWN_ID).await?;
    admin
        .delete(&image_path(UNKNOWN_ID))
        .await?
        .expect_error(404, "NOT_FOUND")
        .map(|_| ())
}

/// `url` with its query parameter `name` set to `value` (added when absent).
fn with_param(url: &str, name: &str, value: &str) -> String {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let mut pairs: Vec<String> = query
        .split('&')
        .filter(|pair| !pair.is_empty() && pair.split('=').next() != Some(name))
        .map(str::to_owned)
        .collect();
    pairs.push(format!("{name}={value}"));
    format!("{path}?{}", pairs.join("&"))
}

fn without_query(url: &str) -> String {
    url.split_once('?').map_or(url, |(path, _)| path).to_owned()
}

/// A refused download: 403, and in the error shape with `code` when the target serves it.
fn refused(t: &Target, url: &str, got: &crate::step08::Download, code: &str) -> Result<()> {
    check::that(got.status == 403, || {
        format!("GET {url}: expected 403, got {}", got.describe())
    })?;
    if served_by_target(t, url) {
        check::eq(
            &format!("GET {url}: the error code"),
            got.error_code().as_deref(),
            Some(code),
        )?;
    }
    Ok(())
}

async fn a_forged_stripped_or_moved_download_url_is_refused(t: Target) -> Result<()> {
    let admin = fixtures::admin(&t).await?;
    let original = png(400);
    let product = product_with_image(&admin, "image/png", original.clone()).await?;
    let other = product_with_image(&admin, "image/png", png(10)).await?;
    let url = download_url(&admin, &product, "")
        .await?
        .expect_value(200)?["url"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let signature_name = if served_by_target(&t, &url) {
        "signature"
    } else {
        "X-Amz-Signature"
    };
    let mut tries = vec![
        without_query(&url),
        with_param(
            &url,
            signature_name,
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ),
        with_param(&url, signature_name, ""),
    ];
    if served_by_target(&t, &url) {
        tries.push(with_param(&url, "expires", "99999999999"));
        tries.push(with_param(&url, "expires", "-1"));
        tries.push(url.replace(&product, &other));
    }
    for forged in tries {
        let got = download(&t, &forged).await?;
        refused(&t, &forged, &got, "SIGNATURE_INVALID")?;
    }
    image_is(&t, &product, "image/png", &original).await
}

async fn an_expired_download_url_is_refused(t: Target) -> Result<()> {
    let admin = fixtures::admin(&t).await?;
    let original = jpeg(200);
    let product = product_with_image(&admin, "image/jpeg", original.clone()).await?;
    let short = download_url(&admin, &product, "?ttl_secs=1")
        .await?
        .expect_value(200)?;
    let url = short["url"].as_str().unwrap_or_default().to_owned();
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let got = download(&t, &url).await?;
    refused(&t, &url, &got, "SIGNED_URL_EXPIRED")?;
    image_is(&t, &product, "image/jpeg", &original).await
}

async fn lifetimes_out_of_range_and_unknown_parameters_are_400(t: Target) -> Result<()> {
    let admin = fixtures::admin(&t).await?;
    let original = png(100);
    let product = product_with_image(&admin, "image/png", original.clone()).await?;
    let anonymous = Api::new(&t.base_url);
    for query in [
        "?ttl_secs=0",
        "?ttl_secs=-1",
        "?ttl_secs=99999999999",
        "?ttl_secs=abc",
        "?ttl_secs=1.5",
        "?expires=1",
    ] {
        download_url(&anonymous, &product, query)
            .await?
            .expect_error(400, "INVALID_PARAMETER")
            .with_context(|| format!("GET .../image{query}"))?;
    }
    image_is(&t, &product, "image/png", &original).await
}
