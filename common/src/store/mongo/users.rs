//! The `users` collection.

use async_trait::async_trait;
use mongodb::bson::{DateTime, doc, oid::ObjectId};
use mongodb::{Collection, Database};
use serde::{Deserialize, Serialize};

use super::{corrupt, from_bson_date, map_err, now, to_bson_date};
use crate::domain::{Email, NewUser, Role, User, UserId};
use crate::store::{Credentials, StoreResult, UserStore};

#[derive(Debug, Serialize, Deserialize)]
struct UserDoc {
    #[serde(rename = "_id")]
    id: ObjectId,
    email: String,
    name: String,
    role: Role,
    password_hash: String,
    #[serde(deserialize_with = "super::date")]
    created_at: DateTime,
}

impl UserDoc {
    fn into_user(self) -> StoreResult<User> {
        Ok(User {
            id: UserId::from_object_id(self.id),
            email: Email::parse(&self.email).map_err(|e| corrupt("user", e))?,
            name: self.name,
            role: self.role,
            created_at: from_bson_date(self.created_at),
        })
    }
}

pub struct MongoUsers {
    users: Collection<UserDoc>,
}

impl MongoUsers {
    pub fn new(db: &Database) -> Self {
        Self {
            users: db.collection("users"),
        }
    }
}

#[async_trait]
impl UserStore for MongoUsers {
    #[tracing::instrument(skip_all, fields(email = %user.email))]
    async fn insert(&self, user: NewUser) -> StoreResult<User> {
        let doc = UserDoc {
            id: ObjectId::new(),
            email: user.email.as_str().to_owned(),
            name: user.name,
            role: user.role,
            password_hash: user.password_hash,
            created_at: to_bson_date(now()),
        };
        self.users
            .insert_one(&doc)
            .await
            .map_err(map_err("email"))?;
        doc.into_user()
    }

    #[tracing::instrument(skip(self))]
    async fn find_by_id(&self, id: UserId) -> StoreResult<Option<User>> {
        self.users
            .find_one(doc! { "_id": id.object_id() })
            .await
            .map_err(map_err("id"))?
            .map(UserDoc::into_user)
            .transpose()
    }

    #[tracing::instrument(skip_all, fields(%email))]
    async fn credentials(&self, email: &Email) -> StoreResult<Option<Credentials>> {
        let Some(doc) = self
            .users
            .find_one(doc! { "email": email.as_str() })
            .await
            .map_err(map_err("email"))?
        else {
            return Ok(None);
        };
        let password_hash = doc.password_hash.clone();
        Ok(Some(Credentials {
            user: doc.into_user()?,
            password_hash,
        }))
    }

    #[tracing::instrument(skip(self))]
    async fn set_role(&self, id: UserId, role: Role) -> StoreResult<bool> {
        let result = self
            .users
            .update_one(
                doc! { "_id": id.object_id() },
                doc! { "$set": { "role": role.as_str() } },
            )
            .await
            .map_err(map_err("id"))?;
        Ok(result.matched_count == 1)
    }

    #[tracing::instrument(skip(self, hash))]
    async fn set_password_hash(&self, id: UserId, hash: &str) -> StoreResult<bool> {
        let result = self
            .users
            .update_one(
                doc! { "_id": id.object_id() },
                doc! { "$set": { "password_hash": hash } },
            )
            .await
            .map_err(map_err("id"))?;
        Ok(result.matched_count == 1)
    }
}
