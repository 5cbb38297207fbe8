//! Accounts: registration, login, the current user, and the `create-admin` command.

use std::sync::Arc;

use tokio::sync::OnceCell;

use crate::auth::{JwtKeys, PasswordScheme};
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
    passwords: Arc<dyn PasswordScheme>,
    /// A hash of a random password, verified against when an email is unknown, so both login
    /// failures cost the same time and timing does not reveal which one it was.
    dummy_hash: Arc<OnceCell<String>>,
}

/// A token issued at register or login, with its lifetime.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: String,
    pub expires_in: u64,
}

impl Accounts {
    pub fn new(
        users: Arc<dyn UserStore>,
        keys: JwtKeys,
        passwords: Arc<dyn PasswordScheme>,
    ) -> Self {
        Self {
            users,
            keys,
            passwords,
            dummy_hash: Arc::new(OnceCell::new()),
        }
    }

    pub fn users(&self) -> &Arc<dyn UserStore> {
        &self.users
    }

    /// Step 0's token for a user: one HS256 access token.
    pub fn issue_token(&self, user: &User) -> Result<IssuedToken> {
        Ok(IssuedToken {
            token: self.keys.issue(user.id, user.role)?,
            expires_in: self.keys.ttl_secs(),
        })
    }

    /// Creates a customer. Admins come only from [`Accounts::create_admin`].
    #[tracing::instrument(skip_all, fields(email = %registration.email))]
    pub async fn create_customer(&self, registration: Registration) -> Result<User> {
        let password_hash = self.passwords.hash(registration.password).await?;
        self.users
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
            })
    }

    /// `POST /auth/register`: a customer and a token.
    pub async fn register(&self, registration: Registration) -> Result<(User, IssuedToken)> {
        let user = self.create_customer(registration).await?;
        let token = self.issue_token(&user)?;
        Ok((user, token))
    }

    /// Checks an email and password. One answer, 401, for an unknown email and a wrong
    /// password, after the same work (a hash is verified either way). A hash the password
    /// scheme wants replaced is upgraded here, while the plain password is at hand.
    #[tracing::instrument(skip_all)]
    pub async fn authenticate(&self, email: &str, password: String) -> Result<User> {
        let credentials = match Email::parse(email) {
            Ok(email) => self.users.credentials(&email).await?,
            Err(_) => None,
        };
        let Some(credentials) = credentials else {
            let dummy = self
                .dummy_hash
                .get_or_try_init(|| self.passwords.hash(uuid::Uuid::new_v4().to_string()))
                .await?
                .clone();
            self.passwords.verify(password, dummy).await?;
            return Err(Error::Unauthorized);
        };
        let hash = credentials.password_hash;
        if !self
            .passwords
            .verify(password.clone(), hash.clone())
            .await?
        {
            return Err(Error::Unauthorized);
        }
        if self.passwords.needs_rehash(&hash) {
            self.rehash(credentials.user.id, password).await;
        }
        Ok(credentials.user)
    }

    /// Best effort: a failed upgrade leaves the old, still valid hash for the next login.
    async fn rehash(&self, id: UserId, password: String) {
        let upgraded = match self.passwords.hash(password).await {
            Ok(hash) => self
                .users
                .set_password_hash(id, &hash)
                .await
                .map_err(anyhow::Error::from),
            Err(e) => Err(e),
        };
        if let Err(e) = upgraded {
            tracing::warn!(error = %e, user = %id, "password hash upgrade failed; will retry at next login");
        }
    }

    /// `POST /auth/login`: the user and a token.
    pub async fn login(&self, email: &str, password: String) -> Result<(User, IssuedToken)> {
        let user = self.authenticate(email, password).await?;
        let token = self.issue_token(&user)?;
        Ok((user, token))
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
        let password_hash = self.passwords.hash(password).await?;
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
