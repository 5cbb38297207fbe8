//! Sessions and their refresh tokens (collections `sessions` and `refresh_tokens`):
//! [`MongoSessions`]. A session's status is a string, and a refresh token is stored under its
//! SHA-256, so rotation is one atomic `find_one_and_update` from active to rotated.

use async_trait::async_trait;
use common::domain::UserId;
use common::store::StoreResult;
use common::store::mongo::{corrupt, date, from_bson_date, map_err, reference, to_bson_date};
use mongodb::bson::{DateTime, doc, oid::ObjectId};
use mongodb::options::ReturnDocument;
use mongodb::{Collection, Database};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::store::{RefreshRecord, RefreshStatus, SessionRecord, SessionStore};

fn object_id(id: &str) -> Option<ObjectId> {
    ObjectId::parse_str(id).ok()
}

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
