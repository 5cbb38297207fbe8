//! `/auth/sessions`: the signed-in user's active sessions (one per sign-in, on whatever
//! device), and revoking one, e.g. a phone that was lost (ASVS V3.3.4: users can see and end
//! their sessions).

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get};
use common::extract::{Json, Path};
use serde::Serialize;
use time::OffsetDateTime;

use super::AuthSession;
use crate::error::{Error, Result};
use crate::sessions::Sessions;
use crate::startup::AppState;
use crate::store::SessionRecord;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/sessions", get(list_sessions))
        .route("/auth/sessions/{id}", delete(revoke_session))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionResponse {
    pub id: String,
    /// `password` or `google`.
    pub method: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_used_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    /// The session of the token making this request.
    pub current: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionsResponse {
    pub items: Vec<SessionResponse>,
}

fn response(session: SessionRecord, current: &str) -> SessionResponse {
    SessionResponse {
        current: session.id == current,
        id: session.id,
        method: session.method,
        created_at: session.created_at,
        last_used_at: session.last_used_at,
        expires_at: session.expires_at,
        user_agent: session.user_agent,
        ip: session.ip,
    }
}

#[utoipa::path(
        get,
        path = "/api/v1/auth/sessions",
        tag = "sessions",
        security(("bearer" = [])),
        responses(
            (status = 200, description = "the user's active sessions", body = SessionsResponse),
            (status = 401, response = common::openapi::Unauthorized),
        )
    )]
#[tracing::instrument(skip_all, fields(user = %auth.user.id))]
pub async fn list_sessions(
    State(sessions): State<Sessions>,
    auth: AuthSession,
) -> Result<Json<SessionsResponse>> {
    let items = sessions
        .list(auth.user.id)
        .await?
        .into_iter()
        .map(|s| response(s, &auth.session_id))
        .collect();
    Ok(Json(SessionsResponse { items }))
}

#[utoipa::path(
        delete,
        path = "/api/v1/auth/sessions/{id}",
        tag = "sessions",
        security(("bearer" = [])),
        params(("id" = String, Path, description = "a session id: 24 hexadecimal characters", pattern = "^[0-9a-fA-F]{24}$")),
        responses(
            (status = 204, description = "revoked"),
            (status = 400, response = common::openapi::BadRequest),
            (status = 401, response = common::openapi::Unauthorized),
            (status = 404, response = common::openapi::NotFound),
        )
    )]
/// 204, or 404 for a session that is not the caller's, or not active: the same answer, so
/// nobody learns whether another user's session id exists.
#[tracing::instrument(skip_all, fields(user = %auth.user.id))]
pub async fn revoke_session(
    State(sessions): State<Sessions>,
    auth: AuthSession,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    if id.len() != 24 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::invalid_parameter(
            "id",
            "expected a 24-character hexadecimal id",
        ));
    }
    if sessions
        .revoke(auth.user.id, &id.to_ascii_lowercase())
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(common::Error::NotFound("session").into())
    }
}
