//! Google sign-in (collections `oauth_attempts` and `identities`): [`MongoOAuth`] keeps the
//! started attempts by the hash of their `state`, each taken at most once, and the external
//! identities linked to users, keyed `google:<sub>`.

use async_trait::async_trait;
use common::domain::UserId;
use common::store::StoreResult;
use common::store::mongo::{date, from_bson_date, map_err, reference, to_bson_date};
use mongodb::bson::{DateTime, doc};
use mongodb::{Collection, Database};
use serde::{Deserialize, Serialize};

use crate::store::{OAuthAttempt, OAuthStore};

#[derive(Debug, Serialize, Deserialize)]
struct AttemptDoc {
    #[serde(rename = "_id")]
    state_hash: String,
    binding_hash: String,
    pkce_verifier: String,
    nonce: String,
    next: Option<String>,
    #[serde(deserialize_with = "date")]
    expires_at: DateTime,
}

#[derive(Debug, Serialize, Deserialize)]
struct IdentityDoc {
    /// `google:<sub>`: unique by construction, no extra index needed.
    #[serde(rename = "_id")]
    id: String,
    provider: String,
    subject: String,
    user_id: String,
    email: String,
    #[serde(deserialize_with = "date")]
    linked_at: DateTime,
}

pub struct MongoOAuth {
    attempts: Collection<AttemptDoc>,
    identities: Collection<IdentityDoc>,
}

impl MongoOAuth {
    pub fn new(db: &Database) -> Self {
        Self {
            attempts: db.collection("oauth_attempts"),
            identities: db.collection("identities"),
        }
    }
}

#[async_trait]
impl OAuthStore for MongoOAuth {
    async fn insert_attempt(&self, attempt: &OAuthAttempt) -> StoreResult<()> {
        let doc = AttemptDoc {
            state_hash: attempt.state_hash.clone(),
            binding_hash: attempt.binding_hash.clone(),
            pkce_verifier: attempt.pkce_verifier.clone(),
            nonce: attempt.nonce.clone(),
            next: attempt.next.clone(),
            expires_at: to_bson_date(attempt.expires_at),
        };
        self.attempts
            .insert_one(doc)
            .await
            .map_err(map_err("state"))?;
        Ok(())
    }

    async fn take_attempt(&self, state_hash: &str) -> StoreResult<Option<OAuthAttempt>> {
        Ok(self
            .attempts
            .find_one_and_delete(doc! { "_id": state_hash })
            .await
            .map_err(map_err("state"))?
            .map(|d| OAuthAttempt {
                state_hash: d.state_hash,
                binding_hash: d.binding_hash,
                pkce_verifier: d.pkce_verifier,
                nonce: d.nonce,
                next: d.next,
                expires_at: from_bson_date(d.expires_at),
            }))
    }

    async fn find_identity(&self, provider: &str, subject: &str) -> StoreResult<Option<UserId>> {
        self.identities
            .find_one(doc! { "_id": format!("{provider}:{subject}") })
            .await
            .map_err(map_err("identity"))?
            .map(|d| reference("identity", &d.user_id))
            .transpose()
    }

    async fn link_identity(
        &self,
        provider: &str,
        subject: &str,
        user: UserId,
        email: &str,
    ) -> StoreResult<()> {
        let doc = IdentityDoc {
            id: format!("{provider}:{subject}"),
            provider: provider.to_owned(),
            subject: subject.to_owned(),
            user_id: user.to_string(),
            email: email.to_owned(),
            linked_at: DateTime::now(),
        };
        self.identities
            .insert_one(doc)
            .await
            .map_err(map_err("identity"))?;
        Ok(())
    }
}
