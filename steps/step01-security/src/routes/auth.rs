//! `/auth`: step 0's register, login and me, now answering with an access token *and* a
//! refresh token, plus refresh, logout, logout-all and password change.
//!
//! Step-0 clients keep working: `token` is still there (it is the access token, now valid
//! for 15 minutes instead of an hour), beside the new fields `access_token`, `refresh_token`,
//! `refresh_expires_in` and `session_id`.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use common::domain::{Email, User};
use common::extract::Json;
use common::routes::auth::UserResponse;
use common::routes::rules;
use common::services::{Accounts, Registration};
use garde::Validate;
use serde::{Deserialize, Serialize};

use super::AuthSession;
use crate::error::{Error, Result};
use crate::sessions::{ClientInfo, Sessions, TokenPair};
use crate::startup::{AppState, Passwords};
use crate::throttle::LoginThrottle;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/register", post(register))
        .route("/auth/login", post(login))
        .route("/auth/me", get(common::routes::auth::me))
        .route("/auth/refresh", post(refresh))
        .route("/auth/logout", post(logout))
        .route("/auth/logout-all", post(logout_all))
        .route("/auth/password", post(change_password))
}

/// argon2id has no 72-byte limit, so step 1 lifts bcrypt's; the upper bound only keeps
/// absurd bodies from being hashed. (The document says `maxLength: 1024`: JSON Schema counts
/// characters, the rule counts UTF-8 bytes, so a password of many multi-byte characters can
/// be refused below the documented length.)
const MAX_PASSWORD_BYTES: usize = 1024;

/// Step 0's rules, with the password's upper limit raised. A `role` field is ignored.
#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
pub struct RegisterRequest {
    #[garde(custom(rules::email))]
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    /// 8 characters or more; no NUL.
    #[garde(
        length(chars, min = 8),
        length(bytes, max = MAX_PASSWORD_BYTES),
        custom(rules::password)
    )]
    #[schema(min_length = 8, max_length = 1024, pattern = "^[^\\u0000]*$")]
    pub password: String,
    /// One line: no control characters.
    #[garde(
        length(chars, min = 1, max = 100),
        custom(rules::not_blank),
        custom(rules::line)
    )]
    #[schema(
        max_length = 100,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub name: String,
}

#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
pub struct LoginRequest {
    #[garde(length(max = 254))]
    #[schema(max_length = 254)]
    pub email: String,
    #[garde(length(bytes, max = MAX_PASSWORD_BYTES))]
    #[schema(max_length = 1024)]
    pub password: String,
}

/// No length rule: any string that is not a live refresh token gets the same bare 401 (the
/// body limit bounds it).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
pub struct ChangePasswordRequest {
    #[garde(length(bytes, max = MAX_PASSWORD_BYTES))]
    #[schema(max_length = 1024)]
    pub current_password: String,
    #[garde(
        length(chars, min = 8),
        length(bytes, max = MAX_PASSWORD_BYTES),
        custom(rules::password)
    )]
    #[schema(min_length = 8, max_length = 1024, pattern = "^[^\\u0000]*$")]
    pub new_password: String,
}

/// Register, login, refresh and Google sign-in all answer this.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuthResponse {
    pub user: UserResponse,
    /// Step 0's field, kept for old clients: the access token.
    pub token: String,
    pub access_token: String,
    #[schema(value_type = String, example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds the access token is valid.
    pub expires_in: u64,
    pub refresh_token: String,
    pub refresh_expires_in: u64,
    pub session_id: String,
}

impl AuthResponse {
    pub fn new(user: User, pair: TokenPair) -> Self {
        Self {
            user: user.into(),
            token: pair.access.token.clone(),
            access_token: pair.access.token,
            token_type: "Bearer",
            expires_in: pair.access.expires_in,
            refresh_token: pair.refresh_token,
            refresh_expires_in: pair.refresh_expires_in,
            session_id: pair.session_id,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RevokedResponse {
    pub revoked_sessions: usize,
}

#[utoipa::path(
        post,
        path = "/api/v1/auth/register",
        tag = "auth",
        request_body = RegisterRequest,
        responses(
            (status = 201, description = "a customer account, signed in", body = AuthResponse),
            (status = 400, response = common::openapi::BadRequest),
            (status = 409, response = common::openapi::Conflict),
            (status = 413, response = common::openapi::PayloadTooLarge),
            (status = 415, response = common::openapi::UnsupportedMediaType),
            (status = 422, response = common::openapi::ValidationFailed),
        )
    )]
#[tracing::instrument(skip_all)]
pub async fn register(
    State(accounts): State<Accounts>,
    State(sessions): State<Sessions>,
    State(throttle): State<LoginThrottle>,
    client: ClientInfo,
    Json(request): Json<RegisterRequest>,
) -> Result<(StatusCode, Json<AuthResponse>)> {
    request.validate()?;
    throttle.check_ip(&client.ip)?;
    let registration = Registration {
        email: Email::parse(&request.email).map_err(|e| Error::invalid_field("email", e))?,
        name: request.name.trim().to_owned(),
        password: request.password,
    };
    let user = match accounts.create_customer(registration).await {
        Ok(user) => user,
        Err(error) => {
            // A taken email is what someone enumerating accounts through register sees:
            // it counts against their address like a failed login.
            if matches!(error, common::Error::Conflict { .. }) {
                throttle.failed_ip(&client.ip);
            }
            return Err(error.into());
        }
    };
    let pair = sessions.start(&user, "password", &client).await?;
    Ok((StatusCode::CREATED, Json(AuthResponse::new(user, pair))))
}

#[utoipa::path(
        post,
        path = "/api/v1/auth/login",
        tag = "auth",
        request_body = LoginRequest,
        responses(
            (status = 200, description = "signed in: an access token and a refresh token", body = AuthResponse),
            (status = 400, response = common::openapi::BadRequest),
            (status = 401, response = common::openapi::Unauthorized),
            (status = 413, response = common::openapi::PayloadTooLarge),
            (status = 415, response = common::openapi::UnsupportedMediaType),
            (status = 422, response = common::openapi::ValidationFailed),
        )
    )]
#[tracing::instrument(skip_all)]
pub async fn login(
    State(accounts): State<Accounts>,
    State(sessions): State<Sessions>,
    State(throttle): State<LoginThrottle>,
    client: ClientInfo,
    Json(request): Json<LoginRequest>,
) -> Result<Json<AuthResponse>> {
    request.validate()?;
    throttle.check(&request.email, &client.ip)?;
    let user = match accounts
        .authenticate(&request.email, request.password)
        .await
    {
        Ok(user) => user,
        Err(common::Error::Unauthorized) => {
            throttle.failed(&request.email, &client.ip);
            return Err(Error::unauthorized());
        }
        Err(other) => return Err(other.into()),
    };
    throttle.succeeded(&request.email);
    let pair = sessions.start(&user, "password", &client).await?;
    Ok(Json(AuthResponse::new(user, pair)))
}

#[utoipa::path(
        post,
        path = "/api/v1/auth/refresh",
        tag = "auth",
        request_body = RefreshRequest,
        responses(
            (status = 200, description = "a new token pair; the refresh token sent is used up (sending it again revokes the whole session)", body = AuthResponse),
            (status = 400, response = common::openapi::BadRequest),
            (status = 401, response = common::openapi::Unauthorized),
            (status = 413, response = common::openapi::PayloadTooLarge),
            (status = 415, response = common::openapi::UnsupportedMediaType),
            (status = 422, response = common::openapi::ValidationFailed),
        )
    )]
#[tracing::instrument(skip_all)]
pub async fn refresh(
    State(sessions): State<Sessions>,
    client: ClientInfo,
    Json(request): Json<RefreshRequest>,
) -> Result<Json<AuthResponse>> {
    let (user, pair) = sessions.refresh(&request.refresh_token, &client).await?;
    Ok(Json(AuthResponse::new(user, pair)))
}

#[utoipa::path(
        post,
        path = "/api/v1/auth/logout",
        tag = "auth",
        security(("bearer" = [])),
        responses(
            (status = 204, description = "this session ended"),
            (status = 401, response = common::openapi::Unauthorized),
        )
    )]
/// Ends this device's session: its refresh tokens stop working, and its access tokens too
/// (at once wherever the revocation list reaches: this instance in step 1, all in step 3).
#[tracing::instrument(skip_all, fields(user = %auth.user.id))]
pub async fn logout(State(sessions): State<Sessions>, auth: AuthSession) -> Result<StatusCode> {
    sessions.revoke(auth.user.id, &auth.session_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
        post,
        path = "/api/v1/auth/logout-all",
        tag = "auth",
        security(("bearer" = [])),
        responses(
            (status = 200, description = "every session of the user ended, this one included", body = RevokedResponse),
            (status = 401, response = common::openapi::Unauthorized),
        )
    )]
/// Ends every session of the user, this one included.
#[tracing::instrument(skip_all, fields(user = %auth.user.id))]
pub async fn logout_all(
    State(sessions): State<Sessions>,
    client: ClientInfo,
    auth: AuthSession,
) -> Result<Json<RevokedResponse>> {
    let revoked = sessions.revoke_all(auth.user.id, None).await?;
    sessions
        .record(
            "sessions_revoked",
            auth.user.id,
            Some(&auth.session_id),
            &client,
            &format!("logout-all revoked {revoked} sessions"),
        )
        .await;
    Ok(Json(RevokedResponse {
        revoked_sessions: revoked,
    }))
}

#[utoipa::path(
        post,
        path = "/api/v1/auth/password",
        tag = "auth",
        security(("bearer" = [])),
        request_body = ChangePasswordRequest,
        responses(
            (status = 200, description = "changed; every other session ended", body = RevokedResponse),
            (status = 400, response = common::openapi::BadRequest),
            (status = 401, response = common::openapi::Unauthorized),
            (status = 413, response = common::openapi::PayloadTooLarge),
            (status = 415, response = common::openapi::UnsupportedMediaType),
            (status = 422, response = common::openapi::ValidationFailed),
        )
    )]
/// Changes the password (the current one is required, and failures count towards the
/// throttle like failed logins) and ends every *other* session: whoever else held one, for
/// instance with a stolen password, is signed out.
#[tracing::instrument(skip_all, fields(user = %auth.user.id))]
pub async fn change_password(
    State(accounts): State<Accounts>,
    State(sessions): State<Sessions>,
    State(throttle): State<LoginThrottle>,
    State(Passwords(passwords)): State<Passwords>,
    client: ClientInfo,
    auth: AuthSession,
    Json(request): Json<ChangePasswordRequest>,
) -> Result<Json<RevokedResponse>> {
    request.validate()?;
    let user = accounts.me(auth.user.id).await?;
    let email = user.email.as_str();
    throttle.check(email, &client.ip)?;
    match accounts.authenticate(email, request.current_password).await {
        Ok(_) => throttle.succeeded(email),
        Err(common::Error::Unauthorized) => {
            throttle.failed(email, &client.ip);
            return Err(Error::invalid_field("current_password", "is not correct"));
        }
        Err(other) => return Err(other.into()),
    }
    let hash = passwords.hash(request.new_password).await?;
    accounts.users().set_password_hash(user.id, &hash).await?;
    let revoked = sessions.revoke_all(user.id, Some(&auth.session_id)).await?;
    sessions
        .record(
            "password_changed",
            user.id,
            Some(&auth.session_id),
            &client,
            &format!("password changed; {revoked} other sessions revoked"),
        )
        .await;
    Ok(Json(RevokedResponse {
        revoked_sessions: revoked,
    }))
}
