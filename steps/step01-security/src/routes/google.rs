//! `/auth/google/start` and `/auth/google/callback`: sign in with Google. The flow, and the
//! attack each check stops, are described in [`crate::google`].
//!
//! `start` answers 302 to Google's consent page and sets the browser-binding cookie; Google
//! sends the browser back to the configured redirect URI (the callback), which answers with
//! the same body as login, plus `next`.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use common::extract::{Json, Query};
use serde::{Deserialize, Serialize};

use super::auth::AuthResponse;
use crate::error::{Error, Result};
use crate::google::{GoogleLogin, Outcome};
use crate::sessions::{ClientInfo, Sessions};
use crate::startup::{AppState, CookiePolicy};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/google/start", get(start_google_login))
        .route("/auth/google/callback", get(finish_google_login))
}

/// The cookie that ties a sign-in attempt to the browser that started it.
pub const BINDING_COOKIE: &str = "shop_oauth_binding";
const COOKIE_PATH: &str = "/api/v1/auth/google";

/// Only `next`: anything else (say, a `redirect_uri` of the caller's choosing) is a 400.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StartQuery {
    pub next: Option<String>,
}

/// What the provider appends to the redirect URI. Google adds more (`scope`, `authuser`,
/// `prompt`, `hd`); those are ignored.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    /// Required unless `error` is present.
    #[param(min_length = 1, max_length = 2048)]
    pub code: Option<String>,
    /// Required unless `error` is present.
    #[param(min_length = 1, max_length = 2048)]
    pub state: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GoogleAuthResponse {
    #[serde(flatten)]
    pub auth: AuthResponse,
    /// Where the front end should go now: a path on this site, or null.
    pub next: Option<String>,
    /// Whether this sign-in created the account or linked Google to an existing one.
    #[schema(value_type = String, example = "existing")]
    pub account: &'static str,
}

#[utoipa::path(
        get,
        path = "/api/v1/auth/google/start",
        tag = "auth",
        params(StartQuery),
        responses(
            (status = 302, description = "to Google's consent page; sets the cookie that binds the attempt to this browser",
             headers(("Location" = String, description = "Google's authorization URL"), ("Set-Cookie" = String))),
            (status = 400, response = common::openapi::BadRequest),
            (status = 404, response = common::openapi::NotFound),
            (status = 503, response = common::openapi::ServiceUnavailable),
        )
    )]
#[tracing::instrument(skip_all)]
pub async fn start_google_login(
    State(google): State<GoogleLogin>,
    State(cookies): State<CookiePolicy>,
    Query(query): Query<StartQuery>,
) -> Result<Response> {
    let started = google.start(query.next).await?;
    let location = HeaderValue::try_from(started.authorize_url)
        .map_err(|e| anyhow::anyhow!("authorization URL is not a header value: {e}"))?;
    let cookie = cookie(&cookies, &started.binding, cookies.attempt_ttl_secs)?;
    Ok((
        StatusCode::FOUND,
        [(header::LOCATION, location), (header::SET_COOKIE, cookie)],
    )
        .into_response())
}

/// Longest `code` and `state` accepted; real ones are far shorter.
const MAX_PARAM_LEN: usize = 2048;

#[utoipa::path(
        get,
        path = "/api/v1/auth/google/callback",
        tag = "auth",
        params(CallbackQuery),
        responses(
            (status = 200, description = "signed in with Google", body = GoogleAuthResponse),
            (status = 400, response = common::openapi::BadRequest),
            (status = 401, response = common::openapi::Unauthorized),
            (status = 403, response = common::openapi::Forbidden),
            (status = 404, response = common::openapi::NotFound),
            (status = 503, response = common::openapi::ServiceUnavailable),
        )
    )]
#[tracing::instrument(skip_all)]
pub async fn finish_google_login(
    State(google): State<GoogleLogin>,
    State(sessions): State<Sessions>,
    State(cookies): State<CookiePolicy>,
    client: ClientInfo,
    headers: HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> Result<Response> {
    if query.error.is_some() {
        // The user declined, or the provider refused: nobody is signed in.
        return Err(Error::unauthorized());
    }
    let param = |name: &str, value: Option<String>| {
        value
            .filter(|v| !v.is_empty() && v.len() <= MAX_PARAM_LEN)
            .ok_or_else(|| Error::invalid_parameter(name, "is required"))
    };
    let state = param("state", query.state)?;
    let code = param("code", query.code)?;
    let binding = read_cookie(&headers, BINDING_COOKIE);
    let (user, outcome, next) = google.finish(&code, &state, binding.as_deref()).await?;
    if outcome != Outcome::Known {
        let what = if outcome == Outcome::Linked {
            "google_linked"
        } else {
            "google_account_created"
        };
        sessions
            .record(what, user.id, None, &client, "Google identity linked")
            .await;
    }
    let pair = sessions.start(&user, "google", &client).await?;
    let body = GoogleAuthResponse {
        auth: AuthResponse::new(user, pair),
        next,
        account: match outcome {
            Outcome::Known => "existing",
            Outcome::Linked => "linked",
            Outcome::Created => "created",
        },
    };
    // The attempt is used up: clear its cookie.
    let clear = cookie(&cookies, "", 0)?;
    Ok(([(header::SET_COOKIE, clear)], Json(body)).into_response())
}

fn cookie(policy: &CookiePolicy, value: &str, max_age: u64) -> Result<HeaderValue> {
    let secure = if policy.secure { "; Secure" } else { "" };
    // SameSite=Lax, not Strict: the callback is a top-level navigation coming from Google,
    // and a Strict cookie would not be sent with it.
    HeaderValue::try_from(format!(
        "{BINDING_COOKIE}={value}; Path={COOKIE_PATH}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"
    ))
    .map_err(|e| Error::from(anyhow::anyhow!("cookie header: {e}")))
}

fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
        .filter(|value| !value.is_empty())
}
