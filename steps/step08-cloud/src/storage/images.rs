//! [`ProductImages`]: what an upload, a download URL and a delete do, in an order that keeps
//! metadata and objects in step when either store fails.
//!
//! - Upload: the object first, under a key of its own; the metadata only once the object is
//!   stored; the previous upload's object last. A failed object write changes nothing; a
//!   failed metadata write deletes the new object again; a failed delete of the previous
//!   object leaves an object nothing names (logged), never metadata naming nothing.
//! - Delete: the store is asked first whether it answers (nothing changes when it is down),
//!   then the metadata goes, then the object; if the object cannot be deleted after all, the
//!   metadata is put back (unless a newer upload took its place) and the client gets a 503.

use std::time::Duration;

use axum::body::Bytes;
use axum::http::StatusCode;
use common::config::Environment;
use common::domain::ProductId;
use common::error::{Error, ErrorDetail};
use common::store::StoreError;
use mongodb::Database;
use time::OffsetDateTime;

use super::backend::{ObjectError, Objects};
use super::config::StorageConfig;
use super::metadata::{ImageMeta, ImageMetadata};

/// The image types accepted, as the `infer` crate names what it sniffs: raster formats a
/// browser shows. Not SVG: it is a document that can carry script.
pub const ALLOWED_TYPES: &[&str] = &[
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "image/avif",
];

/// The code of a 503 from the object store.
pub const STORAGE_UNAVAILABLE: &str = "STORAGE_UNAVAILABLE";

/// Why an image operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The product has no image (or no longer this one).
    #[error("no image")]
    NotFound,
    /// The object store failed; nothing was changed.
    #[error("the object store failed")]
    Storage(#[source] ObjectError),
    /// MongoDB failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ImageError> for Error {
    fn from(error: ImageError) -> Self {
        match error {
            ImageError::NotFound => Error::NotFound("image"),
            ImageError::Store(e) => Error::Store(e),
            ImageError::Storage(e) => {
                // The cause stays in the log; the client learns only that it may retry.
                tracing::error!(error = ?anyhow::Error::new(e), "the object store failed");
                Error::Refused {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    detail: ErrorDetail {
                        code: STORAGE_UNAVAILABLE,
                        message: "the image store is unavailable; nothing was changed, try \
                                  again later"
                            .to_owned(),
                        fields: Vec::new(),
                        request_id: None,
                    },
                    retry_after_secs: None,
                }
            }
        }
    }
}

impl From<ImageError> for StoreError {
    fn from(error: ImageError) -> Self {
        match error {
            ImageError::Store(e) => e,
            ImageError::NotFound => StoreError::Other(anyhow::anyhow!("no image")),
            ImageError::Storage(e) => {
                StoreError::Unavailable(anyhow::Error::new(e).context("the image store failed"))
            }
        }
    }
}

/// A download URL and what it downloads.
#[derive(Debug, Clone)]
pub struct SignedUrl {
    pub url: String,
    pub expires_at: OffsetDateTime,
    pub meta: ImageMeta,
}

/// The images of the catalog: objects in the store, metadata in MongoDB.
#[derive(Clone, Debug)]
pub struct ProductImages {
    objects: Objects,
    metadata: ImageMetadata,
    max_image_bytes: u64,
    url_ttl_secs: u64,
}

impl ProductImages {
    /// The backend `config` names, the metadata in `db`.
    pub fn new(
        config: &StorageConfig,
        environment: Environment,
        db: &Database,
    ) -> anyhow::Result<Self> {
        config.validate(environment)?;
        Ok(Self {
            objects: Objects::from_config(config, environment)?,
            metadata: ImageMetadata::new(db),
            max_image_bytes: config.max_image_bytes,
            url_ttl_secs: config.url_ttl_secs,
        })
    }

    pub fn max_image_bytes(&self) -> u64 {
        self.max_image_bytes
    }

    /// The longest a download URL lives, and what it lives when the client does not say.
    pub fn url_ttl_secs(&self) -> u64 {
        self.url_ttl_secs
    }

    pub fn objects(&self) -> &Objects {
        &self.objects
    }

    /// Makes `bytes` (already checked to be an image of `content_type`) `product`'s image.
    pub async fn store(
        &self,
        product: ProductId,
        bytes: Bytes,
        content_type: &str,
    ) -> Result<ImageMeta, ImageError> {
        // Read first: a MongoDB that is down then fails the upload before anything is written.
        let previous = self.metadata.get(product).await?;
        let upload = uuid::Uuid::new_v4().simple().to_string();
        let key = self.objects.key(product, &upload);
        let meta = ImageMeta {
            product,
            upload,
            key,
            content_type: content_type.to_owned(),
            bytes: bytes.len() as u64,
            uploaded_at: common::store::mongo::now(),
        };
        self.objects
            .put(&meta.key, bytes, content_type)
            .await
            .map_err(ImageError::Storage)?;
        if let Err(e) = self.metadata.put(&meta).await {
            self.forget_object(&meta.key, "an upload whose metadata was not written")
                .await;
            return Err(e.into());
        }
        if let Some(previous) = previous.filter(|p| p.key != meta.key) {
            self.forget_object(&previous.key, "the image an upload replaced")
                .await;
        }
        Ok(meta)
    }

    /// Deletes an object nothing names any more; a failure leaves it behind, logged, and
    /// harms nothing (no metadata names it).
    async fn forget_object(&self, key: &str, what: &str) {
        if let Err(e) = self.objects.delete(key).await {
            tracing::warn!(error = ?anyhow::Error::new(e), %key, "could not delete {what}; the object stays behind, unnamed");
        }
    }

    pub async fn get(&self, product: ProductId) -> Result<Option<ImageMeta>, ImageError> {
        Ok(self.metadata.get(product).await?)
    }

    /// A URL that downloads `product`'s image for `ttl_secs` (at most, and by default,
    /// `storage.url_ttl_secs`).
    pub async fn download_url(
        &self,
        product: ProductId,
        ttl_secs: Option<u64>,
    ) -> Result<SignedUrl, ImageError> {
        let meta = self
            .metadata
            .get(product)
            .await?
            .ok_or(ImageError::NotFound)?;
        let ttl = ttl_secs.unwrap_or(self.url_ttl_secs).min(self.url_ttl_secs);
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let expires = now + i64::try_from(ttl).unwrap_or(i64::MAX / 2);
        let url = self
            .objects
            .signed_url(
                product,
                &meta.upload,
                &meta.key,
                Duration::from_secs(ttl),
                expires,
            )
            .await
            .map_err(ImageError::Storage)?;
        Ok(SignedUrl {
            url,
            expires_at: OffsetDateTime::from_unix_timestamp(expires)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH),
            meta,
        })
    }

    /// The bytes of upload `upload` of `product`'s image while it is the product's image
    /// (the local backend's downloads: a replaced or deleted image is gone at once, even for
    /// a URL signed before).
    pub async fn read(
        &self,
        product: ProductId,
        upload: &str,
    ) -> Result<(ImageMeta, Bytes), ImageError> {
        let meta = self
            .metadata
            .get(product)
            .await?
            .filter(|meta| meta.upload == upload)
            .ok_or(ImageError::NotFound)?;
        match self.objects.get(&meta.key).await {
            Ok(bytes) => Ok((meta, bytes)),
            Err(ObjectError::NotFound) => Err(ImageError::NotFound),
            Err(e) => Err(ImageError::Storage(e)),
        }
    }

    /// Deletes `product`'s image: false when it had none. With the store down, nothing
    /// changes (a 503).
    pub async fn delete(&self, product: ProductId) -> Result<bool, ImageError> {
        let Some(meta) = self.metadata.get(product).await? else {
            return Ok(false);
        };
        // Does the store answer? If not, stop here, with nothing changed. A refusal is an
        // answer too: S3 says 403, not 404, for a missing object to a role that may not list
        // the bucket (deploy/terraform/aws grants no listing), and the delete goes on.
        match self.objects.exists(&meta.key).await {
            Ok(_) | Err(ObjectError::Failed(object_store::Error::PermissionDenied { .. })) => {}
            Err(e) => return Err(ImageError::Storage(e)),
        }
        if !self.metadata.delete(product, &meta.upload).await? {
            // Replaced or deleted meanwhile by another request, which deals with the object.
            return Ok(true);
        }
        if let Err(e) = self.objects.delete(&meta.key).await {
            match self.metadata.restore(&meta).await {
                Ok(true) => {}
                Ok(false) => tracing::warn!(
                    key = %meta.key,
                    "an image whose object could not be deleted was replaced meanwhile; the \
                     object stays behind, unnamed"
                ),
                Err(undo) => tracing::error!(
                    error = %undo,
                    key = %meta.key,
                    "could not restore the metadata of an image whose object could not be \
                     deleted; the object stays behind, unnamed"
                ),
            }
            return Err(ImageError::Storage(e));
        }
        Ok(true)
    }
}

/// The essence of a `Content-Type` value (`image/png; q=1` is `image/png`), lower case.
pub fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// What the bytes are, as far as the accepted types go: `Some(type)` for an allowed image,
/// `None` for anything else (including nothing at all).
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    let kind = infer::get(bytes)?;
    ALLOWED_TYPES
        .iter()
        .copied()
        .find(|allowed| *allowed == kind.mime_type())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_type_is_read_from_the_bytes_and_only_allowed_images_pass() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        assert_eq!(sniff(png), Some("image/png"));
        assert_eq!(sniff(b"\xff\xd8\xff\xe0\0\x10JFIF\0"), Some("image/jpeg"));
        assert_eq!(sniff(b"GIF89a\x01\0\x01\0"), Some("image/gif"));
        assert_eq!(sniff(b"%PDF-1.7\n"), None, "a PDF");
        assert_eq!(sniff(b"<svg xmlns='http://www.w3.org/2000/svg'/>"), None);
        assert_eq!(sniff(b""), None, "nothing at all");
        assert_eq!(essence(" Image/PNG ; charset=x"), "image/png");
    }
}
