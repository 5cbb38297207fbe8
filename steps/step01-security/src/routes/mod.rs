//! Step 1's HTTP surface, merged into step 0's `/api/v1` in place of its `/auth` router
//! (`common::routes::router_with_auth`): every other step-0 route stays as it is.
//!
//! - [`auth`]: register, login (now access + refresh tokens), me, refresh, logout, logout-all,
//!   password change;
//! - [`sessions`]: the signed-in user's sessions, and revoking one;
//! - [`google`]: sign in with Google;
//! - [`profile`]: the encrypted profile fields.
//!
//! Also here: the two extractors step 1 adds, [`ClientInfo`] (who is calling, for throttling
//! and session records) and [`AuthSession`] (a signed-in user *and* the session their token
//! belongs to).

pub mod auth;
pub mod google;
pub mod profile;
pub mod sessions;

use axum::Router;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use common::auth::AuthUser;
use common::domain::UserId;

use crate::error::Error;
use crate::sessions::ClientInfo;
use crate::startup::AppState;
use crate::tokens::AccessTokens;

/// Step 1's routes, unprefixed: merged into `/api/v1` beside step 0's.
pub fn api_v1() -> Router<AppState> {
    Router::new()
        .merge(auth::router())
        .merge(sessions::router())
        .merge(google::router())
        .merge(profile::router())
}

pub use crate::client_ip::{ClientIpPolicy, ForwardedHeader};

/// Longest user agent kept in a session record.
const MAX_USER_AGENT: usize = 256;

impl<S> FromRequestParts<S> for ClientInfo
where
    ClientIpPolicy: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // Without ConnectInfo (an in-process `oneshot` test) the address is unknown; all
        // such requests then share one throttle key, which errs on the safe side.
        let ip = ClientIpPolicy::from_ref(state).of_request(&parts.extensions, &parts.headers);
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(MAX_USER_AGENT).collect());
        Ok(ClientInfo {
            ip: ip.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string()),
            user_agent,
        })
    }
}

/// A signed-in user and the session (refresh-token family) of their access token. Rejects
/// with the same bare 401 as step 0's `AuthUser`.
#[derive(Debug, Clone)]
pub struct AuthSession {
    pub user: AuthUser,
    pub session_id: String,
}

impl<S> FromRequestParts<S> for AuthSession
where
    AccessTokens: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = common::auth::bearer_token(parts).ok_or_else(Error::unauthorized)?;
        let claims = AccessTokens::from_ref(state).check(token).await?;
        let id = claims
            .sub
            .parse::<UserId>()
            .map_err(|_| Error::unauthorized())?;
        Ok(AuthSession {
            user: AuthUser {
                id,
                role: claims.role,
            },
            session_id: claims.sid,
        })
    }
}
