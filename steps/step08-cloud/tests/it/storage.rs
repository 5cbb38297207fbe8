//! Product images over HTTP, against the local backend (a temp directory, the test
//! configuration's) and against S3 on a real local S3-compatible server (moto, started per
//! test): upload, a signed URL fetched over HTTP gives back the same bytes, expiry and
//! tampering refused, delete, delete with the product, every refusal changing nothing, and
//! the store down (moto stopped) a 503 that changes nothing.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::{Method, Response};
use secrecy::SecretString;
use serde_json::{Value, json};
use step08_cloud::AppState;
use step08_cloud::storage::{Backend, StorageConfig};
use testkit::services::moto::{self, MotoServer};
use testkit::{TestApp, expect_error, expect_status};

/// A PNG as far as its signature goes, and some bytes after it: what `infer` reads.
fn png(len: usize) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    bytes.extend((0..len).map(|i| (i * 7 % 251) as u8));
    bytes
}

fn jpeg(len: usize) -> Vec<u8> {
    let mut bytes = b"\xff\xd8\xff\xe0\0\x10JFIF\0".to_vec();
    bytes.extend((0..len).map(|i| (i * 13 % 251) as u8));
    bytes
}

fn image_path(product: &str) -> String {
    format!("/api/v1/products/{product}/image")
}

async fn upload(
    app: &TestApp<AppState>,
    token: Option<&str>,
    product: &str,
    content_type: Option<&str>,
    bytes: Vec<u8>,
) -> Response {
    let mut request = app.http.put(app.url(&image_path(product))).body(bytes);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    request.send().await.expect("the upload reaches the app")
}

/// `GET .../image`: the download URL's answer.
async fn download_url(app: &TestApp<AppState>, product: &str, query: &str) -> Response {
    app.request(
        Method::GET,
        &format!("{}{query}", image_path(product)),
        None,
        None,
    )
    .await
}

/// The URL's bytes: an absolute URL as it is, a relative one against the app.
async fn fetch(app: &TestApp<AppState>, url: &str) -> Response {
    let absolute = if url.starts_with('/') {
        app.url(url)
    } else {
        url.to_owned()
    };
    reqwest::get(absolute)
        .await
        .expect("the download URL answers")
}

/// Every file under `dir`.
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

async fn product_id(app: &TestApp<AppState>, admin: &str) -> String {
    app.create_product(admin, json!({})).await["id"]
        .as_str()
        .expect("an id")
        .to_owned()
}

#[tokio::test]
async fn an_image_uploaded_to_the_local_backend_comes_back_byte_for_byte_through_its_signed_url() {
    let app = TestApp::<AppState>::spawn().await;
    let (_, admin) = app.admin().await;
    let product = product_id(&app, &admin).await;
    let bytes = png(4000);

    let stored = expect_status(
        upload(
            &app,
            Some(&admin),
            &product,
            Some("image/png"),
            bytes.clone(),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(stored["content_type"], "image/png");
    assert_eq!(stored["bytes"], bytes.len());

    let signed = expect_status(download_url(&app, &product, "").await, 200).await;
    assert_eq!(signed["content_type"], "image/png");
    assert_eq!(signed["bytes"], bytes.len());
    let url = signed["url"].as_str().expect("a url");
    assert!(url.starts_with("/api/v1/product-images/"), "{url}");
    let downloaded = fetch(&app, url).await;
    assert_eq!(downloaded.status(), 200);
    assert_eq!(downloaded.headers()["content-type"], "image/png");
    assert_eq!(
        downloaded.headers()["cross-origin-resource-policy"],
        "cross-origin",
        "another origin's <img> may show it"
    );
    assert_eq!(downloaded.bytes().await.unwrap().as_ref(), bytes.as_slice());
    assert_eq!(files_in(&app.config.storage.directory).len(), 1);

    // A new image replaces the old one: its URL stops working, its file is gone.
    let replacement = jpeg(2000);
    expect_status(
        upload(
            &app,
            Some(&admin),
            &product,
            Some("image/jpeg"),
            replacement.clone(),
        )
        .await,
        200,
    )
    .await;
    expect_error(fetch(&app, url).await, 404, "NOT_FOUND").await;
    let signed = expect_status(download_url(&app, &product, "").await, 200).await;
    let downloaded = fetch(&app, signed["url"].as_str().unwrap()).await;
    assert_eq!(downloaded.headers()["content-type"], "image/jpeg");
    assert_eq!(
        downloaded.bytes().await.unwrap().as_ref(),
        replacement.as_slice()
    );
    assert_eq!(files_in(&app.config.storage.directory).len(), 1);
}

#[tokio::test]
async fn an_expired_forged_or_unsigned_local_download_url_is_403_naming_why() {
    let app = TestApp::<AppState>::spawn().await;
    let (_, admin) = app.admin().await;
    let product = product_id(&app, &admin).await;
    expect_status(
        upload(&app, Some(&admin), &product, Some("image/png"), png(100)).await,
        200,
    )
    .await;
    let short = expect_status(download_url(&app, &product, "?ttl_secs=1").await, 200).await;
    let url = short["url"].as_str().unwrap().to_owned();
    let good = expect_status(download_url(&app, &product, "").await, 200).await;
    let good = good["url"].as_str().unwrap().to_owned();

    let (path, query) = good.split_once('?').unwrap();
    let signature = query.split("signature=").nth(1).unwrap();
    let forged = format!("{path}?expires=99999999999&signature={signature}");
    let unsigned = path.to_owned();
    let flipped = format!(
        "{path}?{}",
        query.replace(signature, &format!("A{}", &signature[1..]))
    );
    for url in [forged, unsigned, flipped] {
        let body = expect_error(fetch(&app, &url).await, 403, "SIGNATURE_INVALID").await;
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("signature"),
            "{body}"
        );
    }
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let body = expect_error(fetch(&app, &url).await, 403, "SIGNED_URL_EXPIRED").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
    // The URL with the default lifetime still works.
    assert_eq!(fetch(&app, &good).await.status(), 200);
    for ttl in ["0", "100000000", "x"] {
        expect_error(
            download_url(&app, &product, &format!("?ttl_secs={ttl}")).await,
            400,
            "INVALID_PARAMETER",
        )
        .await;
    }
}

/// An upload that is refused: token, product, Content-Type, body, status and code.
type Refusal<'a> = (
    Option<&'a str>,
    &'a str,
    Option<&'a str>,
    Vec<u8>,
    u16,
    &'a str,
);

#[tokio::test]
async fn refused_uploads_are_401_403_404_413_or_415_and_store_nothing() {
    let app = TestApp::<AppState>::spawn_with(|c| c.storage.max_image_bytes = 64 * 1024).await;
    let (_, admin) = app.admin().await;
    let (_, customer) = app.customer().await;
    let product = product_id(&app, &admin).await;
    let admin_token = admin.clone();
    let admin = Some(admin.as_str());
    let cases: Vec<Refusal> = vec![
        (
            None,
            &product,
            Some("image/png"),
            png(10),
            401,
            "UNAUTHORIZED",
        ),
        (
            Some(&customer),
            &product,
            Some("image/png"),
            png(10),
            403,
            "FORBIDDEN",
        ),
        (
            admin,
            "0000000000000000000000ff",
            Some("image/png"),
            png(10),
            404,
            "NOT_FOUND",
        ),
        (
            admin,
            "not-an-id",
            Some("image/png"),
            png(10),
            400,
            "INVALID_PARAMETER",
        ),
        (
            admin,
            &product,
            None,
            png(10),
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            admin,
            &product,
            Some("image/svg+xml"),
            b"<svg/>".to_vec(),
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            admin,
            &product,
            Some("image/png"),
            b"%PDF-1.7\n".to_vec(),
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            admin,
            &product,
            Some("image/jpeg"),
            png(10),
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            admin,
            &product,
            Some("image/png"),
            Vec::new(),
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            admin,
            &product,
            Some("image/png"),
            png(64 * 1024),
            413,
            "PAYLOAD_TOO_LARGE",
        ),
    ];
    for (token, id, content_type, bytes, status, code) in cases {
        let body = expect_error(
            upload(&app, token, id, content_type, bytes).await,
            status,
            code,
        )
        .await;
        if status == 415 {
            let message = body["error"]["message"].as_str().unwrap();
            assert!(message.contains("image/"), "415 names the types: {message}");
        }
        expect_error(download_url(&app, &product, "").await, 404, "NOT_FOUND").await;
        assert!(files_in(&app.config.storage.directory).is_empty());
    }
    // A body without a length that grows past the limit is cut off at it.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = std::iter::once(Ok(png(100)))
        .chain((0..80).map(|_| Ok(vec![0u8; 1024])))
        .collect();
    let streamed = app
        .http
        .put(app.url(&image_path(&product)))
        .bearer_auth(&admin_token)
        .header("content-type", "image/png")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .expect("a streamed upload gets an answer");
    let body = expect_error(streamed, 413, "PAYLOAD_TOO_LARGE").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("65536"));
    assert!(files_in(&app.config.storage.directory).is_empty());
}

#[tokio::test]
async fn deleting_an_image_or_its_product_removes_it_and_only_admins_may_delete() {
    let app = TestApp::<AppState>::spawn().await;
    let (_, admin) = app.admin().await;
    let (_, customer) = app.customer().await;
    let product = product_id(&app, &admin).await;
    expect_status(
        upload(&app, Some(&admin), &product, Some("image/png"), png(50)).await,
        200,
    )
    .await;
    let path = image_path(&product);
    expect_error(
        app.request(Method::DELETE, &path, None, None).await,
        401,
        "UNAUTHORIZED",
    )
    .await;
    expect_error(
        app.request(Method::DELETE, &path, Some(&customer), None)
            .await,
        403,
        "FORBIDDEN",
    )
    .await;
    expect_status(download_url(&app, &product, "").await, 200).await;
    let url = expect_status(download_url(&app, &product, "").await, 200).await["url"]
        .as_str()
        .unwrap()
        .to_owned();
    expect_status(
        app.request(Method::DELETE, &path, Some(&admin), None).await,
        204,
    )
    .await;
    expect_error(
        app.request(Method::DELETE, &path, Some(&admin), None).await,
        404,
        "NOT_FOUND",
    )
    .await;
    expect_error(download_url(&app, &product, "").await, 404, "NOT_FOUND").await;
    expect_error(fetch(&app, &url).await, 404, "NOT_FOUND").await;
    assert!(files_in(&app.config.storage.directory).is_empty());

    // Deleting the product takes its image along.
    expect_status(
        upload(&app, Some(&admin), &product, Some("image/png"), png(50)).await,
        200,
    )
    .await;
    assert_eq!(files_in(&app.config.storage.directory).len(), 1);
    expect_status(
        app.request(
            Method::DELETE,
            &format!("/api/v1/products/{product}"),
            Some(&admin),
            None,
        )
        .await,
        204,
    )
    .await;
    expect_error(download_url(&app, &product, "").await, 404, "NOT_FOUND").await;
    assert!(files_in(&app.config.storage.directory).is_empty());
    let left = app
        .database()
        .collection::<mongodb::bson::Document>("product_images")
        .count_documents(mongodb::bson::doc! {})
        .await
        .unwrap();
    assert_eq!(left, 0, "no metadata is left behind");
}

/// A moto server with a bucket, and the storage section that uses it.
pub(crate) async fn moto_with_bucket() -> (MotoServer, StorageConfig) {
    let moto = tokio::task::spawn_blocking(MotoServer::start)
        .await
        .unwrap()
        .expect("moto starts");
    let bucket = format!("images-{}", uuid::Uuid::new_v4().simple());
    let created = reqwest::Client::new()
        .put(format!("{}/{bucket}", moto.url()))
        .send()
        .await
        .expect("moto answers");
    assert!(
        created.status().is_success(),
        "creating the bucket: {created:?}"
    );
    let config = StorageConfig {
        backend: Backend::S3,
        bucket,
        region: Some(moto::REGION.to_owned()),
        endpoint: Some(moto.url()),
        key_prefix: "shop".to_owned(),
        options: [
            ("aws_access_key_id", moto::ACCESS_KEY_ID),
            ("aws_secret_access_key", moto::SECRET_ACCESS_KEY),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), SecretString::from(v)))
        .collect(),
        request_timeout_ms: 2_000,
        max_retries: 1,
        ..StorageConfig::default()
    };
    (moto, config)
}

/// The keys in `bucket`, listed around the service (moto lists a bucket to anyone).
async fn keys_in(moto: &MotoServer, bucket: &str) -> Vec<String> {
    let listing = reqwest::get(format!("{}/{bucket}?list-type=2", moto.url()))
        .await
        .expect("moto answers")
        .text()
        .await
        .unwrap();
    listing
        .split("<Key>")
        .skip(1)
        .filter_map(|part| part.split("</Key>").next())
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn on_s3_an_image_is_uploaded_presigned_downloaded_replaced_and_deleted_with_its_product() {
    let (moto, storage) = moto_with_bucket().await;
    let bucket = storage.bucket.clone();
    let app = TestApp::<AppState>::spawn_with(move |c| c.storage = storage).await;
    let (_, admin) = app.admin().await;
    let product = product_id(&app, &admin).await;
    let bytes = png(3000);
    expect_status(
        upload(
            &app,
            Some(&admin),
            &product,
            Some("image/png"),
            bytes.clone(),
        )
        .await,
        200,
    )
    .await;
    let keys = keys_in(&moto, &bucket).await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(
        keys[0].starts_with(&format!("shop/products/{product}/")),
        "{keys:?}"
    );

    let signed = expect_status(download_url(&app, &product, "?ttl_secs=60").await, 200).await;
    let url = signed["url"].as_str().unwrap();
    assert!(
        url.starts_with(&moto.url()),
        "a URL of the store itself: {url}"
    );
    // moto does not enforce a presigned URL's expiry: that it is signed in is what can be
    // checked here (the local backend's tests refuse expired URLs for real).
    assert!(url.contains("X-Amz-Expires=60"), "{url}");
    assert!(url.contains("X-Amz-Signature="), "{url}");
    let downloaded = fetch(&app, url).await;
    assert_eq!(downloaded.status(), 200);
    assert_eq!(downloaded.headers()["content-type"], "image/png");
    assert_eq!(downloaded.bytes().await.unwrap().as_ref(), bytes.as_slice());

    let replacement = jpeg(1000);
    expect_status(
        upload(
            &app,
            Some(&admin),
            &product,
            Some("image/jpeg"),
            replacement.clone(),
        )
        .await,
        200,
    )
    .await;
    let after = keys_in(&moto, &bucket).await;
    assert_eq!(after.len(), 1, "the replaced object is deleted: {after:?}");
    assert_ne!(after, keys);
    let signed = expect_status(download_url(&app, &product, "").await, 200).await;
    let downloaded = fetch(&app, signed["url"].as_str().unwrap()).await;
    assert_eq!(downloaded.headers()["content-type"], "image/jpeg");
    assert_eq!(
        downloaded.bytes().await.unwrap().as_ref(),
        replacement.as_slice()
    );

    // Refusals store nothing on S3 either.
    expect_error(
        upload(
            &app,
            Some(&admin),
            &product,
            Some("image/png"),
            replacement.clone(),
        )
        .await,
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    )
    .await;
    assert_eq!(keys_in(&moto, &bucket).await, after);

    expect_status(
        app.request(Method::DELETE, &image_path(&product), Some(&admin), None)
            .await,
        204,
    )
    .await;
    assert!(keys_in(&moto, &bucket).await.is_empty());
    expect_error(download_url(&app, &product, "").await, 404, "NOT_FOUND").await;

    expect_status(
        upload(&app, Some(&admin), &product, Some("image/png"), bytes).await,
        200,
    )
    .await;
    assert_eq!(keys_in(&moto, &bucket).await.len(), 1);
    expect_status(
        app.request(
            Method::DELETE,
            &format!("/api/v1/products/{product}"),
            Some(&admin),
            None,
        )
        .await,
        204,
    )
    .await;
    assert!(keys_in(&moto, &bucket).await.is_empty());
    expect_error(download_url(&app, &product, "").await, 404, "NOT_FOUND").await;
}

#[tokio::test]
async fn with_s3_down_uploads_and_deletes_are_503_and_change_nothing() {
    let (mut moto, storage) = moto_with_bucket().await;
    let app = TestApp::<AppState>::spawn_with(move |c| c.storage = storage).await;
    let (_, admin) = app.admin().await;
    let product = product_id(&app, &admin).await;
    let first = expect_status(
        upload(&app, Some(&admin), &product, Some("image/png"), png(500)).await,
        200,
    )
    .await;

    moto.stop();
    let started = std::time::Instant::now();
    let body = expect_error(
        upload(&app, Some(&admin), &product, Some("image/jpeg"), jpeg(800)).await,
        503,
        "STORAGE_UNAVAILABLE",
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "a 503 within seconds"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nothing was changed")
    );
    let meta = |signed: &Value| (signed["content_type"].clone(), signed["bytes"].clone());
    let still = expect_status(download_url(&app, &product, "").await, 200).await;
    assert_eq!(
        meta(&still),
        (first["content_type"].clone(), first["bytes"].clone())
    );

    expect_error(
        app.request(Method::DELETE, &image_path(&product), Some(&admin), None)
            .await,
        503,
        "STORAGE_UNAVAILABLE",
    )
    .await;
    let still = expect_status(download_url(&app, &product, "").await, 200).await;
    assert_eq!(
        meta(&still),
        (first["content_type"].clone(), first["bytes"].clone())
    );

    expect_error(
        app.request(
            Method::DELETE,
            &format!("/api/v1/products/{product}"),
            Some(&admin),
            None,
        )
        .await,
        503,
        "SERVICE_UNAVAILABLE",
    )
    .await;
    expect_status(
        app.request(
            Method::GET,
            &format!("/api/v1/products/{product}"),
            None,
            None,
        )
        .await,
        200,
    )
    .await;
    let still = expect_status(download_url(&app, &product, "").await, 200).await;
    assert_eq!(
        meta(&still),
        (first["content_type"].clone(), first["bytes"].clone())
    );
    let stored = app
        .database()
        .collection::<mongodb::bson::Document>("product_images")
        .count_documents(mongodb::bson::doc! {})
        .await
        .unwrap();
    assert_eq!(stored, 1);
}
