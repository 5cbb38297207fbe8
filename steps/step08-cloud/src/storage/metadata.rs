//! The `product_images` collection: one document per product that has an image, keyed by the
//! product's id (`_id`), naming the upload's object key, its type, size and time. Step 8's own
//! collection: step 0's products are left as they are, so every earlier step reads them
//! unchanged.

use common::domain::ProductId;
use common::store::StoreResult;
use common::store::mongo::{date, from_bson_date, map_err, to_bson_date};
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{DateTime, doc};
use mongodb::{Collection, Database};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub const COLLECTION: &str = "product_images";

/// What the service knows of one product's image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageMeta {
    pub product: ProductId,
    /// The upload's id, the last part of its key.
    pub upload: String,
    /// The object's key in the bucket.
    pub key: String,
    pub content_type: String,
    pub bytes: u64,
    pub uploaded_at: OffsetDateTime,
}

#[derive(Debug, Serialize, Deserialize)]
struct Document {
    #[serde(rename = "_id")]
    id: ObjectId,
    upload: String,
    key: String,
    content_type: String,
    bytes: i64,
    #[serde(deserialize_with = "date")]
    uploaded_at: DateTime,
}

impl From<&ImageMeta> for Document {
    fn from(meta: &ImageMeta) -> Self {
        Self {
            id: meta.product.object_id(),
            upload: meta.upload.clone(),
            key: meta.key.clone(),
            content_type: meta.content_type.clone(),
            bytes: i64::try_from(meta.bytes).unwrap_or(i64::MAX),
            uploaded_at: to_bson_date(meta.uploaded_at),
        }
    }
}

impl From<Document> for ImageMeta {
    fn from(doc: Document) -> Self {
        Self {
            product: ProductId::from_object_id(doc.id),
            upload: doc.upload,
            key: doc.key,
            content_type: doc.content_type,
            bytes: u64::try_from(doc.bytes).unwrap_or(0),
            uploaded_at: from_bson_date(doc.uploaded_at),
        }
    }
}

/// The collection, on the primary: a download URL asked for right after an upload must see
/// it.
#[derive(Clone, Debug)]
pub struct ImageMetadata {
    collection: Collection<Document>,
}

impl ImageMetadata {
    pub fn new(db: &Database) -> Self {
        Self {
            collection: db.collection(COLLECTION),
        }
    }

    pub async fn get(&self, product: ProductId) -> StoreResult<Option<ImageMeta>> {
        Ok(self
            .collection
            .find_one(doc! { "_id": product.object_id() })
            .await
            .map_err(map_err("_id"))?
            .map(ImageMeta::from))
    }

    /// Makes `meta` the product's image, whatever it was before.
    pub async fn put(&self, meta: &ImageMeta) -> StoreResult<()> {
        self.collection
            .replace_one(
                doc! { "_id": meta.product.object_id() },
                Document::from(meta),
            )
            .upsert(true)
            .await
            .map_err(map_err("_id"))?;
        Ok(())
    }

    /// Puts `meta` back unless the product has another image meanwhile (a restore after a
    /// failed delete must not undo a newer upload): true when it was put back.
    pub async fn restore(&self, meta: &ImageMeta) -> StoreResult<bool> {
        match self.collection.insert_one(Document::from(meta)).await {
            Ok(_) => Ok(true),
            Err(e) => match map_err("_id")(e) {
                common::store::StoreError::Duplicate(_) => Ok(false),
                other => Err(other),
            },
        }
    }

    /// Deletes the product's image document if it still names `upload`: true when it did.
    pub async fn delete(&self, product: ProductId, upload: &str) -> StoreResult<bool> {
        let deleted = self
            .collection
            .delete_one(doc! { "_id": product.object_id(), "upload": upload })
            .await
            .map_err(map_err("_id"))?;
        Ok(deleted.deleted_count == 1)
    }
}
