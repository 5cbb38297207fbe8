//! The MongoDB side of step 1's stores: collections `sessions`, `refresh_tokens`,
//! `audit_events`, `oauth_attempts`, `identities` and `profiles`.
//!
//! The same conventions as step 0 (`common::store::mongo`), for the same reasons (they also
//! hold on the local stand-in server, nx-27017): references to other documents are hex
//! strings; dates are read with the tolerant `date` reader; ids that are not ObjectIds (a
//! token hash, `google:<sub>`) are strings; ciphertexts are base64 strings, not BSON binary.
//!
//! - `sessions`: [`MongoSessions`], sessions and their refresh tokens;
//! - `audit`: [`MongoAudit`], the audit log;
//! - `oauth`: [`MongoOAuth`], Google sign-in attempts and linked identities;
//! - `profiles`: [`MongoProfiles`], encrypted profiles;
//! - here: [`ensure_indexes`], for all of them.

mod audit;
mod oauth;
mod profiles;
mod sessions;

use std::time::Duration;

use anyhow::Context;
use mongodb::bson::{Document, doc};
use mongodb::options::IndexOptions;
use mongodb::{Database, IndexModel};

pub use audit::MongoAudit;
pub use oauth::MongoOAuth;
pub use profiles::MongoProfiles;
pub use sessions::MongoSessions;

/// Creates step 1's indexes (step 0's are made by `common::store::mongo::ensure_indexes`).
/// Idempotent. TTL indexes let the database delete what has expired; reads never rely on it.
pub async fn ensure_indexes(db: &Database) -> anyhow::Result<()> {
    let ttl = |field: &str| {
        IndexModel::builder()
            .keys(doc! { field: 1 })
            .options(
                IndexOptions::builder()
                    .expire_after(Duration::from_secs(0))
                    .build(),
            )
            .build()
    };
    let plain = |keys: Document| IndexModel::builder().keys(keys).build();
    let collection = |name: &str| db.collection::<Document>(name);
    collection("sessions")
        .create_index(ttl("expires_at"))
        .await
        .context("creating the sessions TTL index")?;
    collection("sessions")
        .create_index(plain(doc! { "user_id": 1 }))
        .await
        .context("creating the sessions user index")?;
    collection("refresh_tokens")
        .create_index(ttl("expires_at"))
        .await
        .context("creating the refresh-token TTL index")?;
    collection("refresh_tokens")
        .create_index(plain(doc! { "session_id": 1 }))
        .await
        .context("creating the refresh-token session index")?;
    collection("oauth_attempts")
        .create_index(ttl("expires_at"))
        .await
        .context("creating the sign-in attempt TTL index")?;
    collection("audit_events")
        .create_index(plain(doc! { "user_id": 1 }))
        .await
        .context("creating the audit user index")?;
    collection("profiles")
        .create_index(plain(doc! { "kid": 1 }))
        .await
        .context("creating the profile key-id index")?;
    Ok(())
}
