//! The MongoDB side of step 1's stores: collections `sessions`, `refresh_tokens`,
//! `audit_events`, `oauth_attempts`, `identities` and `profiles`.
//!
//! The same conventions as step 0 (`common::store::mongo`), for the same reasons (they also
//! hold on the local stand-in server, nx-27017): references to other documents are hex
//! strings; dates are read with the tolerant `date` reader; ids that are not ObjectIds (a
//! token hash, `google:<sub>`) are strings; ciphertexts are base64 strings, not BSON binary.

use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use common::domain::UserId;
use common::store::StoreResult;
use common::store::mongo::{corrupt, date, from_bson_date, map_err, reference, to_bson_date};
use mongodb::bson::{DateTime, Document, doc, oid::ObjectId};
use mongodb::options::{IndexOptions, ReturnDocument};
use mongodb::{Collection, Database, IndexModel};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{
    AuditEvent, AuditLog, OAuthAttempt, OAuthStore, ProfileStore, RefreshRecord, RefreshStatus,
    Sealed, SessionRecord, SessionStore, StoredProfile,
};

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

fn object_id(id: &str) -> Option<ObjectId> {
    ObjectId::parse_str(id).ok()
}

// --- sessions and refresh tokens ---------------------------------------------------------------

#[derive(Debug, Serialize, Deserialize)]
struct SessionDoc {
    #[serde(rename = "_id")]
    id: ObjectId,
    user_id: String,
    #[serde(deserialize_with = "date")]
    created_at: DateTime,
    #[serde(deserialize_with = "date")]
    last_used_at: DateTime,
    #[serde(deserialize_with = "date")]
    expires_at: DateTime,
    /// `active` or `revoked`: a string, because filters on it must work everywhere.
    status: String,
    method: String,
    user_agent: Option<String>,
    ip: Option<String>,
}

impl SessionDoc {
    fn into_record(self) -> StoreResult<SessionRecord> {
        Ok(SessionRecord {
            id: self.id.to_hex(),
            user_id: reference("session", &self.user_id)?,
            created_at: from_bson_date(self.created_at),
            last_used_at: from_bson_date(self.last_used_at),
            expires_at: from_bson_date(self.expires_at),
            revoked: self.status != "active",
            method: self.method,
            user_agent: self.user_agent,
            ip: self.ip,
        })
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct RefreshDoc {
    /// The token's SHA-256, hex.
    #[serde(rename = "_id")]
    hash: String,
    session_id: String,
    user_id: String,
    status: String,
    #[serde(deserialize_with = "date")]
    issued_at: DateTime,
    #[serde(deserialize_with = "date")]
    expires_at: DateTime,
}

impl RefreshDoc {
    fn into_record(self) -> StoreResult<RefreshRecord> {
        Ok(RefreshRecord {
            status: RefreshStatus::parse(&self.status)
                .ok_or_else(|| corrupt("refresh token", format!("status {:?}", self.status)))?,
            user_id: reference("refresh token", &self.user_id)?,
            hash: self.hash,
            session_id: self.session_id,
            issued_at: from_bson_date(self.issued_at),
            expires_at: from_bson_date(self.expires_at),
        })
    }
}

pub struct MongoSessions {
    sessions: Collection<SessionDoc>,
    tokens: Collection<RefreshDoc>,
}

impl MongoSessions {
    pub fn new(db: &Database) -> Self {
        Self {
            sessions: db.collection("sessions"),
            tokens: db.collection("refresh_tokens"),
        }
    }
}

#[async_trait]
impl SessionStore for MongoSessions {
    #[tracing::instrument(skip_all, fields(session = %session.id))]
    async fn create_session(&self, session: &SessionRecord) -> StoreResult<()> {
        let id = object_id(&session.id).ok_or_else(|| corrupt("session", "bad id"))?;
        let doc = SessionDoc {
            id,
            user_id: session.user_id.to_string(),
            created_at: to_bson_date(session.created_at),
            last_used_at: to_bson_date(session.last_used_at),
            expires_at: to_bson_date(session.expires_at),
            status: if session.revoked { "revoked" } else { "active" }.to_owned(),
            method: session.method.clone(),
            user_agent: session.user_agent.clone(),
            ip: session.ip.clone(),
        };
        self.sessions
            .insert_one(doc)
            .await
            .map_err(map_err("session id"))?;
        Ok(())
    }

    #[tracing::instrument(skip(self))]
    async fn get_session(&self, id: &str) -> StoreResult<Option<SessionRecord>> {
        let Some(oid) = object_id(id) else {
            return Ok(None);
        };
        self.sessions
            .find_one(doc! { "_id": oid })
            .await
            .map_err(map_err("session id"))?
            .map(SessionDoc::into_record)
            .transpose()
    }

    async fn touch_session(&self, id: &str, at: OffsetDateTime) -> StoreResult<()> {
        let Some(oid) = object_id(id) else {
            return Ok(());
        };
        self.sessions
            .update_one(
                doc! { "_id": oid },
                doc! { "$set": { "last_used_at": to_bson_date(at) } },
            )
            .await
            .map_err(map_err("session id"))?;
        Ok(())
    }

    #[tracing::instrument(skip(self))]
    async fn active_sessions(&self, user: UserId) -> StoreResult<Vec<SessionRecord>> {
        use futures::TryStreamExt;
        let docs: Vec<SessionDoc> = self
            .sessions
            .find(doc! { "user_id": user.to_string(), "status": "active" })
            .sort(doc! { "created_at": -1 })
            .await
            .map_err(map_err("session id"))?
            .try_collect()
            .await
            .map_err(map_err("session id"))?;
        let now = OffsetDateTime::now_utc();
        let mut sessions = docs
            .into_iter()
            .map(SessionDoc::into_record)
            .collect::<StoreResult<Vec<_>>>()?;
        // Compared here, not in the filter: TTL deletion runs lazily.
        sessions.retain(|s| s.expires_at > now);
        Ok(sessions)
    }

    #[tracing::instrument(skip(self))]
    async fn revoke_session(&self, user: UserId, id: &str) -> StoreResult<bool> {
        let Some(oid) = object_id(id) else {
            return Ok(false);
        };
        let result = self
            .sessions
            .update_one(
                doc! { "_id": oid, "user_id": user.to_string(), "status": "active" },
                doc! { "$set": { "status": "revoked", "revoked_at": DateTime::now() } },
            )
            .await
            .map_err(map_err("session id"))?;
        // Whether or not the session was still active: its tokens must not be.
        self.tokens
            .update_many(
                doc! { "session_id": id, "status": RefreshStatus::Active.as_str() },
                doc! { "$set": { "status": RefreshStatus::Revoked.as_str() } },
            )
            .await
            .map_err(map_err("refresh token"))?;
        Ok(result.matched_count == 1)
    }

    async fn insert_refresh(&self, token: &RefreshRecord) -> StoreResult<()> {
        let doc = RefreshDoc {
            hash: token.hash.clone(),
            session_id: token.session_id.clone(),
            user_id: token.user_id.to_string(),
            status: token.status.as_str().to_owned(),
            issued_at: to_bson_date(token.issued_at),
            expires_at: to_bson_date(token.expires_at),
        };
        self.tokens
            .insert_one(doc)
            .await
            .map_err(map_err("refresh token"))?;
        Ok(())
    }

    async fn take_refresh(&self, hash: &str) -> StoreResult<Option<RefreshRecord>> {
        self.tokens
            .find_one_and_update(
                doc! { "_id": hash, "status": RefreshStatus::Active.as_str() },
                doc! { "$set": {
                    "status": RefreshStatus::Rotated.as_str(),
                    "rotated_at": DateTime::now(),
                } },
            )
            .return_document(ReturnDocument::Before)
            .await
            .map_err(map_err("refresh token"))?
            .map(RefreshDoc::into_record)
            .transpose()
    }

    async fn find_refresh(&self, hash: &str) -> StoreResult<Option<RefreshRecord>> {
        self.tokens
            .find_one(doc! { "_id": hash })
            .await
            .map_err(map_err("refresh token"))?
            .map(RefreshDoc::into_record)
            .transpose()
    }
}

// --- audit log -----------------------------------------------------------------------------------

#[derive(Debug, Serialize, Deserialize)]
struct AuditDoc {
    #[serde(rename = "_id")]
    id: ObjectId,
    kind: String,
    user_id: Option<String>,
    session_id: Option<String>,
    ip: Option<String>,
    #[serde(deserialize_with = "date")]
    at: DateTime,
    detail: String,
}

pub struct MongoAudit {
    events: Collection<AuditDoc>,
}

impl MongoAudit {
    pub fn new(db: &Database) -> Self {
        Self {
            events: db.collection("audit_events"),
        }
    }
}

#[async_trait]
impl AuditLog for MongoAudit {
    async fn record(&self, event: AuditEvent) -> StoreResult<()> {
        let doc = AuditDoc {
            id: ObjectId::new(),
            kind: event.kind,
            user_id: event.user_id.map(|u| u.to_string()),
            session_id: event.session_id,
            ip: event.ip,
            at: to_bson_date(event.at),
            detail: event.detail,
        };
        self.events
            .insert_one(doc)
            .await
            .map_err(map_err("audit event"))?;
        Ok(())
    }

    async fn for_user(&self, user: UserId) -> StoreResult<Vec<AuditEvent>> {
        use futures::TryStreamExt;
        let docs: Vec<AuditDoc> = self
            .events
            .find(doc! { "user_id": user.to_string() })
            .sort(doc! { "_id": 1 })
            .await
            .map_err(map_err("audit event"))?
            .try_collect()
            .await
            .map_err(map_err("audit event"))?;
        docs.into_iter()
            .map(|d| {
                Ok(AuditEvent {
                    kind: d.kind,
                    user_id: d
                        .user_id
                        .as_deref()
                        .map(|u| reference("audit event", u))
                        .transpose()?,
                    session_id: d.session_id,
                    ip: d.ip,
                    at: from_bson_date(d.at),
                    detail: d.detail,
                })
            })
            .collect()
    }
}

// --- Google sign-in ------------------------------------------------------------------------------

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

// --- encrypted profiles --------------------------------------------------------------------------

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
