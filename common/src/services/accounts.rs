//! Accounts: registration, login, the current user, and the `create-admin` command.

use std::sync::Arc;

use tokio::sync::OnceCell;

use crate::auth::{JwtKeys, PasswordHasher};
use crate::domain::{Email, NewUser, Role, User, UserId};
use crate::error::{Error, Result};
use crate::store::{StoreError, UserStore};

/// A validated registration.
#[derive(Debug, Clone)]
pub struct Registration {
    pub email: Email,
    pub name: String,
    pub password: String,
}

#[derive(Clone)]
pub struct Accounts {
    users: Arc<dyn UserStore>,
    keys: JwtKeys,
    hasher: PasswordHasher,
    /// Verified against when an email is unknown, so both login failures cost the same time.
    dummy_hash: Arc<OnceCell<String>>,
}

/// A token issued at register or login, with its lifetime.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: String,
    pub expires_in: u64,
}

impl Accounts {
    pub fn new(users: Arc<dyn UserStore>, keys: JwtKeys, hasher: PasswordHasher) -> Self {
        Self {
            users,
            keys,
            hasher,
            dummy_hash: Arc::new(OnceCell::new()),
        }
    }

    pub fn users(&self) -> &Arc<dyn UserStore> {
        &self.users
    }

    fn issue(&self, user: &User) -> Result<IssuedToken> {
        Ok(IssuedToken {
            token: self.keys.issue(user.id, user.role)?,
            expires_in: self.keys.ttl_secs(),
        })
    }

    /// Always creates a customer: admins come only from [`Accounts::create_admin`].
    #[tracing::instrument(skip_all, fields(email = %registration.email))]
    pub async fn register(&self, registration: Registration) -> Result<(User, IssuedToken)> {
        let password_hash = self.hasher.hash(registration.password).await?;
        let user = self
            .users
            .insert(NewUser {
                email: registration.email,
                name: registration.name,
                role: Role::Customer,
                password_hash,
            })
            .await
            .map_err(|e| match e {
                StoreError::Duplicate(_) => {
                    Error::conflict("EMAIL_TAKEN", "an account with this email already exists")
                }
                other => other.into(),
            })?;
        let token = self.issue(&user)?;
        Ok((user, token))
    }

    /// One answer, 401, for an unknown email and a wrong password, after the same work.
    #[tracing::instrument(skip_all)]
    pub async fn login(&self, email: &str, password: String) -> Result<(User, IssuedToken)> {
        let credentials = match Email::parse(email) {
            Ok(email) => self.users.credentials(&email).await?,
            Err(_) => None,
        };
        let Some(credentials) = credentials else {
            let dummy = self
                .dummy_hash
                .get_or_try_init(|| self.hasher.dummy_hash())
                .await?
                .clone();
            self.hasher.verify(password, dummy).await?;
            return Err(Error::Unauthorized);
        };
        if !self
            .hasher
            .verify(password, credentials.password_hash)
            .await?
        {
            return Err(Error::Unauthorized);
        }
        let token = self.issue(&credentials.user)?;
        Ok((credentials.user, token))
    }

    /// The signed-in user; 401 when the account no longer exists.
    pub async fn me(&self, id: UserId) -> Result<User> {
        self.users.find_by_id(id).await?.ok_or(Error::Unauthorized)
    }

    /// Creates an admin account, or promotes an existing account with this email (keeping its
    /// password). Returns the user and whether it was newly created.
    #[tracing::instrument(skip_all, fields(%email))]
    pub async fn create_admin(
        &self,
        email: Email,
        name: String,
        password: String,
    ) -> Result<(User, bool)> {
        if let Some(existing) = self.users.credentials(&email).await? {
            self.users.set_role(existing.user.id, Role::Admin).await?;
            let user = User {
                role: Role::Admin,
                ..existing.user
            };
            return Ok((user, false));
        }
        let password_hash = self.hasher.hash(password).await?;
        let user = self
            .users
            .insert(NewUser {
                email,
                name,
                role: Role::Admin,
                password_hash,
            })
            .await?;
        Ok((user, true))
    }
}
