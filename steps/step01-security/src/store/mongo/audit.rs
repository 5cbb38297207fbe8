//! The audit log (collection `audit_events`): [`MongoAudit`] appends security-relevant events
//! and reads a user's back in the order they were recorded.

use async_trait::async_trait;
use common::domain::UserId;
use common::store::StoreResult;
use common::store::mongo::{date, from_bson_date, map_err, reference, to_bson_date};
use mongodb::bson::{DateTime, doc, oid::ObjectId};
use mongodb::{Collection, Database};
use serde::{Deserialize, Serialize};

use crate::store::{AuditEvent, AuditLog};

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
