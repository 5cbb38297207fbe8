//! `/auth`: register, login, me.

use axum::Router;
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use garde::Validate;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::rules;
use crate::auth::{AuthUser, Verifier};
use crate::domain::{Email, Role, User, UserId};
use crate::error::Result;
use crate::extract::Json;
use crate::services::IssuedToken;
use crate::services::{Accounts, Registration};

pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Accounts: FromRef<S>,
    Verifier: FromRef<S>,
{
    Router::new()
        .route("/auth/register", post(register))
        .route("/auth/login", post(login))
        .route("/auth/me", get(me))
}

/// A `role` in the body is not a field here, so it is ignored: registration makes customers.
#[derive(Debug, Deserialize, Validate)]
pub struct RegisterRequest {
    #[garde(custom(rules::email))]
    pub email: String,
    /// At least 8 characters; at most 72 bytes, bcrypt's limit (step 1's argon2id lifts it);
    /// no NUL.
    #[garde(
        length(chars, min = 8),
        length(bytes, max = 72),
        custom(rules::password)
    )]
    pub password: String,
    /// One line: no control characters.
    #[garde(
        length(chars, max = 100),
        custom(rules::not_blank),
        custom(rules::line)
    )]
    pub name: String,
}

impl RegisterRequest {
    pub fn parse(self) -> Result<Registration> {
        self.validate()?;
        Ok(Registration {
            email: Email::parse(&self.email)
                .map_err(|e| crate::Error::invalid_field("email", e))?,
            name: self.name.trim().to_owned(),
            password: self.password,
        })
    }
}

#[derive(Debug, Deserialize, Validate)]
pub struct LoginRequest {
    #[garde(length(max = 254))]
    pub email: String,
    #[garde(length(max = 1024))]
    pub password: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserResponse {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub role: Role,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<User> for UserResponse {
    fn from(user: User) -> Self {
        Self {
            id: user.id,
            email: user.email.as_str().to_owned(),
            name: user.name,
            role: user.role,
            created_at: user.created_at,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct AuthResponse {
    pub user: UserResponse,
    pub token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
}

impl AuthResponse {
    fn new(user: User, token: IssuedToken) -> Self {
        Self {
            user: user.into(),
            token: token.token,
            token_type: "Bearer",
            expires_in: token.expires_in,
        }
    }
}

#[tracing::instrument(skip_all)]
pub async fn register(
    State(accounts): State<Accounts>,
    Json(request): Json<RegisterRequest>,
) -> Result<(StatusCode, Json<AuthResponse>)> {
    let (user, token) = accounts.register(request.parse()?).await?;
    Ok((StatusCode::CREATED, Json(AuthResponse::new(user, token))))
}

#[tracing::instrument(skip_all)]
pub async fn login(
    State(accounts): State<Accounts>,
    Json(request): Json<LoginRequest>,
) -> Result<Json<AuthResponse>> {
    request.validate()?;
    let (user, token) = accounts.login(&request.email, request.password).await?;
    Ok(Json(AuthResponse::new(user, token)))
}

#[utoipa::path(
        get,
        path = "/api/v1/auth/me",
        tag = "auth",
        security(("bearer" = [])),
        responses(
            (status = 200, description = "the signed-in user", body = UserResponse),
            (status = 401, response = crate::openapi::Unauthorized),
        )
    )]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn me(State(accounts): State<Accounts>, user: AuthUser) -> Result<Json<UserResponse>> {
    Ok(Json(accounts.me(user.id).await?.into()))
}
