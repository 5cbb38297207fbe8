//! Product images in object storage: one image per product, uploaded by an admin as the raw
//! body of `PUT /api/v1/products/{id}/image`, kept in a bucket (a local directory, S3 or an
//! S3-compatible server, Google Cloud Storage, Azure Blob Storage, all through the
//! `object_store` crate), and downloaded by anyone through a short-lived signed URL that
//! `GET /api/v1/products/{id}/image` hands out, so the bytes never pass through the service
//! on a cloud backend. What the service knows of an image (its object key, type, size) is a
//! document in MongoDB's `product_images` collection, keyed by the product's id; the
//! product itself is unchanged.
//!
//! - [`config`]: the `storage` section;
//! - [`backend`]: the object store and the signer of download URLs for each backend (for the
//!   local backend, the service signs them itself with HMAC-SHA256 and serves them);
//! - [`images`]: [`ProductImages`], the upload, download-URL and delete rules, in the order
//!   that never leaves metadata pointing at nothing;
//! - [`metadata`]: the `product_images` collection;
//! - [`products`]: the product store decorator through which deleting a product deletes its
//!   image;
//! - [`routes`]: the HTTP surface;
//! - [`testing`]: the section in step 8's test configuration.

pub mod backend;
pub mod config;
pub mod images;
pub mod metadata;
pub mod products;
pub mod routes;
pub mod testing;

pub use config::{Backend, StorageConfig};
pub use images::{ImageError, ProductImages};
