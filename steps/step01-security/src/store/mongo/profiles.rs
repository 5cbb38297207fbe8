//! Encrypted profiles (collection `profiles`): [`MongoProfiles`] stores one document per user,
//! every sensitive field a sealed ciphertext, written only if its version is still the one the
//! writer read.

use async_trait::async_trait;
use common::domain::UserId;
use common::store::StoreResult;
use common::store::mongo::{corrupt, date, from_bson_date, map_err, to_bson_date};
use mongodb::bson::{DateTime, doc, oid::ObjectId};
use mongodb::{Collection, Database};
use serde::{Deserialize, Serialize};

use crate::store::{ProfileStore, Sealed, StoredProfile};

#[derive(Debug, Serialize, Deserialize)]
struct ProfileDoc {
    /// The user's own id: one profile per user, and the id the ciphertexts are bound to.
    #[serde(rename = "_id")]
    id: ObjectId,
    kid: String,
    version: i64,
    phone: Option<Sealed>,
    shipping_addresses: Option<Sealed>,
    payment_method: Option<Sealed>,
    #[serde(deserialize_with = "date")]
    updated_at: DateTime,
}

impl ProfileDoc {
    fn from_profile(p: &StoredProfile) -> Self {
        Self {
            id: p.user_id.object_id(),
            kid: p.kid.clone(),
            version: p.version,
            phone: p.phone.clone(),
            shipping_addresses: p.shipping_addresses.clone(),
            payment_method: p.payment_method.clone(),
            updated_at: to_bson_date(p.updated_at),
        }
    }

    fn into_profile(self) -> StoredProfile {
        StoredProfile {
            user_id: UserId::from_object_id(self.id),
            kid: self.kid,
            version: self.version,
            phone: self.phone,
            shipping_addresses: self.shipping_addresses,
            payment_method: self.payment_method,
            updated_at: from_bson_date(self.updated_at),
        }
    }
}

pub struct MongoProfiles {
    profiles: Collection<ProfileDoc>,
}

impl MongoProfiles {
    pub fn new(db: &Database) -> Self {
        Self {
            profiles: db.collection("profiles"),
        }
    }
}

fn sealed_bson(sealed: &Option<Sealed>) -> StoreResult<mongodb::bson::Bson> {
    mongodb::bson::to_bson(sealed).map_err(|e| corrupt("profile", e))
}

#[async_trait]
impl ProfileStore for MongoProfiles {
    async fn get(&self, user: UserId) -> StoreResult<Option<StoredProfile>> {
        Ok(self
            .profiles
            .find_one(doc! { "_id": user.object_id() })
            .await
            .map_err(map_err("profile"))?
            .map(ProfileDoc::into_profile))
    }

    async fn put(&self, profile: &StoredProfile, expected: Option<i64>) -> StoreResult<bool> {
        let Some(expected) = expected else {
            return match self
                .profiles
                .insert_one(ProfileDoc::from_profile(profile))
                .await
                .map_err(map_err("profile"))
            {
                Ok(_) => Ok(true),
                // Someone created it first: the caller re-reads and retries.
                Err(common::store::StoreError::Duplicate(_)) => Ok(false),
                Err(e) => Err(e),
            };
        };
        let result = self
            .profiles
            .update_one(
                doc! { "_id": profile.user_id.object_id(), "version": expected },
                doc! { "$set": {
                    "kid": &profile.kid,
                    "version": profile.version,
                    "phone": sealed_bson(&profile.phone)?,
                    "shipping_addresses": sealed_bson(&profile.shipping_addresses)?,
                    "payment_method": sealed_bson(&profile.payment_method)?,
                    "updated_at": to_bson_date(profile.updated_at),
                } },
            )
            .await
            .map_err(map_err("profile"))?;
        Ok(result.matched_count == 1)
    }

    async fn not_sealed_with(
        &self,
        kid: &str,
        after: Option<UserId>,
        limit: u32,
    ) -> StoreResult<Vec<StoredProfile>> {
        use futures::TryStreamExt;
        let mut filter = doc! { "kid": { "$ne": kid } };
        if let Some(after) = after {
            filter.insert("_id", doc! { "$gt": after.object_id() });
        }
        let docs: Vec<ProfileDoc> = self
            .profiles
            .find(filter)
            .sort(doc! { "_id": 1 })
            .limit(i64::from(limit))
            .await
            .map_err(map_err("profile"))?
            .try_collect()
            .await
            .map_err(map_err("profile"))?;
        Ok(docs.into_iter().map(ProfileDoc::into_profile).collect())
    }
}
