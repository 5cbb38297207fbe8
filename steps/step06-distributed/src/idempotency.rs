//! `Idempotency-Key` on placing and paying orders (`POST /api/v1/orders`,
//! `POST /api/v1/orders/{id}/pay`), after the IETF httpapi draft "The Idempotency-Key HTTP
//! Header Field": a client that did not hear the answer sends the same request with the same
//! key again and gets the first answer, not a second order. Every other route, and a request
//! without the header, is untouched. `/api/v2` has no writes, so it has nothing to guard.
//!
//! | the key, for this user | answer |
//! |---|---|
//! | new (or expired) | the request runs; its answer is stored, unless it is a 5xx |
//! | done, same request | the stored answer again, with `Idempotent-Replayed: true`; nothing runs |
//! | any state, another request (body, route or order) | 422 `IDEMPOTENCY_KEY_REUSED` |
//! | running, same request | 409 `IDEMPOTENCY_KEY_IN_USE`, `Retry-After: 1` |
//! | running, its lease run out (its process died) | taken over: the request runs |
//! | malformed | 400 `INVALID_PARAMETER` naming `Idempotency-Key` |
//!
//! - **The value** is a Structured Field String, `Idempotency-Key: "8e03978e-..."` (RFC 8941:
//!   printable ASCII, `\"` and `\\` escaped), as the draft says; a bare value of visible ASCII
//!   without quotes, backslashes or commas is accepted too, as Stripe's clients send it, and
//!   means the same key (`abc` is `"abc"`). 1 to [`MAX_KEY_LEN`] characters; one key, not a
//!   list; no parameters.
//! - **Whose**: a key belongs to the signed-in user (the bearer token's subject), so two
//!   users' equal keys never meet. A request without a valid token passes untouched, and the
//!   handler answers 401 as it always did.
//! - **Which request**: the key is bound to a fingerprint, SHA-256 of the method, the path
//!   and query and the body, so a key sent with another request is refused.
//! - **What is stored**: the status, the content type, `Location` and the few other headers
//!   a client reads again ([`REPLAYED_HEADERS`]), and the body. A 4xx is an answer like any
//!   other (a decline is still a decline); a 5xx is not stored, the key is released, and a
//!   retry runs again: paying again is safe because the saga charges with the same provider
//!   idempotency key (`order-{id}-{card}`), so the provider replays a charge it made.
//! - **Timeouts**: the request runs in a task of its own, so a request that step 0's timeout
//!   cut off (503 `TIMEOUT`) runs on and stores its answer, and the retry gets it.
//! - **Expiry**: a key is remembered `idempotency.ttl_secs` (a day) after its first use, then
//!   is as if new; a [`sweeper`] on each instance deletes expired keys every
//!   `idempotency.sweep_interval_secs`.
//!
//! What it cannot do: a process that dies after an order was placed but before its answer
//! was stored leaves a running key; once its lease has run out, the retry places a second
//! order (the first one stays pending until it expires). The same holds if PostgreSQL fails
//! just as the answer is stored.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use common::auth::{AuthUser, Verifier, bearer_token};
use common::error::{Error, ErrorDetail, FieldError, Result};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use tokio::task::AbortHandle;
use tracing::Instrument;
use uuid::Uuid;

use crate::config::Config;

/// The request header, and the name a refusal's field carries.
pub const HEADER: &str = "Idempotency-Key";

/// On a replayed answer: `true`.
pub const REPLAYED: &str = "Idempotent-Replayed";

/// The longest key, in characters (as Stripe's): a UUID is 36.
pub const MAX_KEY_LEN: usize = 255;

/// 422: the key was first used with another request.
pub const KEY_REUSED: &str = "IDEMPOTENCY_KEY_REUSED";

/// 409: the first request with the key is still running.
pub const KEY_IN_USE: &str = "IDEMPOTENCY_KEY_IN_USE";

/// What a 409 tells the client to wait: the request it waits for usually takes milliseconds.
const RETRY_AFTER_SECS: u64 = 1;

/// The `POST` routes that take a key (as the router matches them).
const GUARDED: [&str; 2] = ["/api/v1/orders", "/api/v1/orders/{id}/pay"];

/// The response headers stored with an answer, beside its content type: those that say
/// where the result is. The layers outside add the rest (request id, security headers) to
/// the replay as to any answer.
pub const REPLAYED_HEADERS: [HeaderName; 4] = [
    header::LOCATION,
    header::CONTENT_LOCATION,
    header::ETAG,
    header::LAST_MODIFIED,
];

/// A key as the client sent it, parsed: 1 to [`MAX_KEY_LEN`] printable ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key(String);

impl Key {
    /// Parses the header's values: `None` when there is none; more than one, or one that is
    /// not a key, is the reason it is refused.
    pub fn from_headers(headers: &HeaderMap) -> Option<std::result::Result<Key, String>> {
        let mut values = headers.get_all(HEADER).iter();
        let value = values.next()?;
        if values.next().is_some() {
            return Some(Err("send one key, not several".to_owned()));
        }
        Some(Key::parse(value.as_bytes()))
    }

    /// One header value: a Structured Field String, or a bare key.
    pub fn parse(value: &[u8]) -> std::result::Result<Key, String> {
        let value = value.trim_ascii();
        let key = match value.split_first() {
            None => return Err("must not be empty".to_owned()),
            Some((b'"', rest)) => sf_string(rest)?,
            Some(_) => bare(value)?,
        };
        if key.is_empty() {
            return Err("must not be empty".to_owned());
        }
        if key.len() > MAX_KEY_LEN {
            return Err(format!("must be at most {MAX_KEY_LEN} characters"));
        }
        Ok(Key(key))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The rest of an RFC 8941 String after its opening quote: printable ASCII, with `\"` and
/// `\\` the only escapes, then the closing quote and nothing after it.
fn sf_string(rest: &[u8]) -> std::result::Result<String, String> {
    let mut key = String::new();
    let mut bytes = rest.iter();
    while let Some(&byte) = bytes.next() {
        match byte {
            b'\\' => match bytes.next() {
                Some(&escaped @ (b'"' | b'\\')) => key.push(char::from(escaped)),
                _ => return Err("only \\\" and \\\\ may be escaped in a quoted key".to_owned()),
            },
            b'"' => {
                return match bytes.as_slice().trim_ascii_start().first() {
                    None => Ok(key),
                    Some(b',') => Err("send one key, not a list".to_owned()),
                    Some(b';') => Err("parameters are not supported".to_owned()),
                    Some(_) => Err("nothing may follow the closing quote".to_owned()),
                };
            }
            0x20..=0x7e => key.push(char::from(byte)),
            _ => return Err(not_printable()),
        }
    }
    Err("the quoted key has no closing quote".to_owned())
}

/// A key without quotes: visible ASCII, no quote, backslash, comma or white space.
fn bare(value: &[u8]) -> std::result::Result<String, String> {
    if value.contains(&b',') {
        return Err("send one key, not a list".to_owned());
    }
    if value.iter().any(|b| matches!(b, b'"' | b'\\')) {
        return Err("a key with quotes or backslashes must be a quoted string".to_owned());
    }
    if value.iter().any(|b| matches!(b, b' ' | b'\t')) {
        return Err("a key with spaces must be a quoted string".to_owned());
    }
    if !value.iter().all(|b| (0x21..=0x7e).contains(b)) {
        return Err(not_printable());
    }
    Ok(value.iter().map(|&b| char::from(b)).collect())
}

fn not_printable() -> String {
    "must be printable ASCII (no control characters, no other alphabets)".to_owned()
}

/// What a key is bound to: SHA-256 of the method, the path and query, and the body.
pub fn fingerprint(method: &Method, path_and_query: &str, body: &[u8]) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(method.as_str().as_bytes());
    hash.update(b" ");
    hash.update(path_and_query.as_bytes());
    hash.update(b"\n");
    hash.update(body);
    hash.finalize().into()
}

/// The layer's state: the keys' table, who signed in, and the settings. Cloned per request.
#[derive(Clone)]
pub struct Idempotency {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    verifier: Verifier,
    ttl_secs: i64,
    lease_ms: i64,
    /// Stopped when the last clone of the layer (the router) is dropped.
    sweeper: Option<AbortHandle>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(sweeper) = &self.sweeper {
            sweeper.abort();
        }
    }
}

impl Idempotency {
    /// The layer's state over `pool`, with its [`sweeper`] started when there is a Tokio
    /// runtime to run it (there is wherever the router serves).
    pub fn new(pool: PgPool, verifier: Verifier, config: &Config) -> Self {
        let settings = &config.idempotency;
        let interval = Duration::from_secs(settings.sweep_interval_secs);
        let sweeper = tokio::runtime::Handle::try_current().ok().map(|runtime| {
            runtime
                .spawn(sweeper(pool.clone(), interval))
                .abort_handle()
        });
        Self {
            inner: Arc::new(Inner {
                pool,
                verifier,
                ttl_secs: i64::try_from(settings.ttl_secs).unwrap_or(i64::MAX),
                lease_ms: i64::try_from(settings.lease_ms).unwrap_or(i64::MAX),
                sweeper,
            }),
        }
    }
}

/// `routes` with the guard around every route; it acts on [`GUARDED`] alone.
pub fn layer(routes: Router, idempotency: Idempotency) -> Router {
    routes.layer(axum::middleware::from_fn_with_state(idempotency, guard))
}

/// The middleware: passes every request through but a keyed `POST` to a guarded route from
/// a signed-in user, which it runs at most once per key.
async fn guard(State(this): State<Idempotency>, request: Request, next: Next) -> Response {
    let guarded = request.method() == Method::POST
        && request
            .extensions()
            .get::<MatchedPath>()
            .is_some_and(|path| GUARDED.contains(&path.as_str()));
    if !guarded {
        return next.run(request).await;
    }
    let Some(key) = Key::from_headers(request.headers()) else {
        return next.run(request).await;
    };
    let (parts, body) = request.into_parts();
    let user = this.signed_in(&parts).await;
    let request = Request::from_parts(parts, body);
    let Some(user) = user else {
        return next.run(request).await;
    };
    let key = match key {
        Ok(key) => key,
        Err(reason) => {
            return Error::InvalidParameter {
                name: HEADER.to_owned(),
                reason,
            }
            .into_response();
        }
    };
    match this.keyed(user, key, request, next).await {
        Ok(response) | Err(response) => response,
    }
}

impl Idempotency {
    /// The bearer token's user, checked as the handler will check it; `None` lets the
    /// handler answer 401 (or 503) itself.
    async fn signed_in(&self, parts: &Parts) -> Option<AuthUser> {
        let token = bearer_token(parts)?;
        self.inner.verifier.authenticate(token).await.ok()
    }

    /// Runs a keyed request at most once; `Err` is the answer given instead of running it (a
    /// replay is `Ok`: it is the request's answer).
    async fn keyed(
        &self,
        user: AuthUser,
        key: Key,
        request: Request,
        next: Next,
    ) -> std::result::Result<Response, Response> {
        let (parts, body) = request.into_parts();
        let body = Bytes::from_request(Request::from_parts(parts.clone(), body), &())
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    Error::PayloadTooLarge.into_response()
                } else {
                    Error::MalformedJson("the body could not be read".to_owned()).into_response()
                }
            })?;
        let path = parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path(), |p| p.as_str());
        let claim = Claim {
            user: user.id.to_string(),
            key,
            fingerprint: fingerprint(&parts.method, path, &body),
            owner: Uuid::new_v4().to_string(),
        };
        match self
            .claim(&claim)
            .await
            .map_err(IntoResponse::into_response)?
        {
            Seen::Ours => {}
            Seen::Done(stored) => return Ok(stored.replay()),
            Seen::Reused => return Err(key_reused()),
            Seen::Running => return Err(key_in_use()),
        }
        // The request and the bookkeeping after it run in tasks of their own: a request the
        // timeout layer gives up on still finishes, and its answer is stored for the retry.
        let span = tracing::Span::current();
        let request = Request::from_parts(parts, Body::from(body));
        let run = tokio::spawn(next.run(request).instrument(span.clone()));
        let this = self.clone();
        let finish = tokio::spawn(
            async move {
                let response = run.await.unwrap_or_else(|_| {
                    Error::Internal(anyhow::anyhow!("a handler panicked")).into_response()
                });
                this.finish(&claim, response).await
            }
            .instrument(span),
        );
        Ok(finish.await.unwrap_or_else(|_| {
            Error::Internal(anyhow::anyhow!("storing an idempotent answer panicked"))
                .into_response()
        }))
    }
}

/// One request's hold on a key.
struct Claim {
    user: String,
    key: Key,
    fingerprint: [u8; 32],
    /// This request's token (a UUID): only it may store or release the key.
    owner: String,
}

/// What a claim found.
enum Seen {
    /// The key is this request's to run: new, expired, or left by a process that died.
    Ours,
    /// The same request ran: its answer.
    Done(Stored),
    /// The key was first used with another request.
    Reused,
    /// The same request is running.
    Running,
}

/// An answer as stored.
struct Stored {
    status: i16,
    content_type: Option<String>,
    headers: Option<String>,
    body: Vec<u8>,
}

fn db(what: &'static str) -> impl Fn(sqlx::Error) -> Error {
    move |e| Error::from(step05_hybrid_dbs::store::map_err(what)(e))
}

impl Idempotency {
    /// Takes the key for `claim`, or says who has it. The insert takes a key that is new,
    /// expired (and not running), or running with its lease run out and the same
    /// fingerprint; when it takes nothing, the row says why. A row that goes between the two
    /// statements (released, swept) is claimed again.
    async fn claim(&self, claim: &Claim) -> Result<Seen> {
        for _ in 0..3 {
            let taken = sqlx::query!(
                "INSERT INTO idempotency_keys \
                 (user_id, key, fingerprint, state, owner, lease_until, expires_at) \
                 VALUES ($1::bpchar, $2, $3, 'running', $4::text::uuid, \
                 now() + $5::bigint * interval '1 millisecond', \
                 now() + $6::bigint * interval '1 second') \
                 ON CONFLICT (user_id, key) DO UPDATE SET \
                 fingerprint = EXCLUDED.fingerprint, state = 'running', owner = EXCLUDED.owner, \
                 lease_until = EXCLUDED.lease_until, status = NULL, content_type = NULL, \
                 headers = NULL, body = NULL, created_at = now(), \
                 expires_at = EXCLUDED.expires_at \
                 WHERE (idempotency_keys.state = 'done' OR idempotency_keys.lease_until <= now()) \
                 AND (idempotency_keys.expires_at <= now() \
                 OR (idempotency_keys.state = 'running' \
                 AND idempotency_keys.fingerprint = EXCLUDED.fingerprint))",
                claim.user,
                claim.key.as_str(),
                &claim.fingerprint[..],
                claim.owner,
                self.inner.lease_ms,
                self.inner.ttl_secs,
            )
            .execute(&self.inner.pool)
            .await
            .map_err(db("idempotency keys"))?
            .rows_affected();
            if taken == 1 {
                return Ok(Seen::Ours);
            }
            let row = sqlx::query!(
                r#"SELECT fingerprint, state, status, content_type, headers::text AS headers,
                   body, lease_until > now() AS "live!", expires_at <= now() AS "expired!"
                   FROM idempotency_keys WHERE user_id = $1::bpchar AND key = $2"#,
                claim.user,
                claim.key.as_str(),
            )
            .fetch_optional(&self.inner.pool)
            .await
            .map_err(db("idempotency keys"))?;
            let Some(row) = row else { continue };
            let running = row.state == "running";
            if row.expired && !(running && row.live) {
                continue;
            }
            if row.fingerprint != claim.fingerprint {
                return Ok(Seen::Reused);
            }
            match (running, row.status, row.body) {
                (true, _, _) if row.live => return Ok(Seen::Running),
                (true, _, _) => continue,
                (false, Some(status), Some(body)) => {
                    return Ok(Seen::Done(Stored {
                        status,
                        content_type: row.content_type,
                        headers: row.headers,
                        body,
                    }));
                }
                (false, _, _) => {
                    return Err(Error::Internal(anyhow::anyhow!(
                        "a done idempotency key without its answer"
                    )));
                }
            }
        }
        // Three rounds of a key changing under us: another request is busy with it.
        Ok(Seen::Running)
    }

    /// Stores `response` as the key's answer, or releases the key for a 5xx; answers it.
    async fn finish(&self, claim: &Claim, response: Response) -> Response {
        let (parts, body) = response.into_parts();
        if parts.status.is_server_error() {
            self.release(claim).await;
            return Response::from_parts(parts, body);
        }
        // The guarded routes answer JSON their handlers built in memory: reading it whole
        // costs nothing more.
        let body = match axum::body::to_bytes(body, usize::MAX).await {
            Ok(body) => body,
            Err(e) => {
                self.release(claim).await;
                return Error::Internal(
                    anyhow::Error::new(e).context("reading an answer to store"),
                )
                .into_response();
            }
        };
        let headers: Vec<(&str, &str)> = REPLAYED_HEADERS
            .iter()
            .filter_map(|name| {
                let value = parts.headers.get(name)?.to_str().ok()?;
                Some((name.as_str(), value))
            })
            .collect();
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let stored = sqlx::query!(
            "UPDATE idempotency_keys SET state = 'done', status = $4, content_type = $5, \
             headers = $6::text::jsonb, body = $7 \
             WHERE user_id = $1::bpchar AND key = $2 AND owner = $3::text::uuid \
             AND state = 'running'",
            claim.user,
            claim.key.as_str(),
            claim.owner,
            i16::try_from(parts.status.as_u16()).unwrap_or(i16::MAX),
            content_type,
            serde_json::to_string(&headers).unwrap_or_else(|_| "[]".to_owned()),
            &body[..],
        )
        .execute(&self.inner.pool)
        .await;
        match stored {
            Ok(done) if done.rows_affected() == 1 => {}
            // Taken over after the lease ran out, or expired and swept: the answer goes to
            // this client, and the key is the other request's (or nobody's).
            Ok(_) => tracing::warn!("an idempotency key was lost while its request ran"),
            Err(e) => {
                tracing::error!(error = %e, "storing an idempotent answer failed; key released");
                self.release(claim).await;
            }
        }
        Response::from_parts(parts, Body::from(body))
    }

    /// Deletes the key this request holds, so a retry runs again.
    async fn release(&self, claim: &Claim) {
        let released = sqlx::query!(
            "DELETE FROM idempotency_keys \
             WHERE user_id = $1::bpchar AND key = $2 AND owner = $3::text::uuid \
             AND state = 'running'",
            claim.user,
            claim.key.as_str(),
            claim.owner,
        )
        .execute(&self.inner.pool)
        .await;
        if let Err(e) = released {
            // It stays running until its lease runs out, then the next request takes it over.
            tracing::error!(error = %e, "releasing an idempotency key failed");
        }
    }
}

impl Stored {
    /// The stored answer again. A stored error gets its [`ErrorDetail`] back, so the error
    /// envelope outside puts this request's id in it (and a v2 route would render it as
    /// problem+json), as for an error just made.
    fn replay(self) -> Response {
        let status = u16::try_from(self.status)
            .ok()
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(StatusCode::OK);
        let detail = status
            .is_client_error()
            .then(|| error_detail(&self.body))
            .flatten();
        let mut response = Response::new(Body::from(self.body));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        if let Some(value) = self
            .content_type
            .and_then(|v| HeaderValue::from_str(&v).ok())
        {
            headers.insert(header::CONTENT_TYPE, value);
        }
        let stored: Vec<(String, String)> = self
            .headers
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        for (name, value) in stored {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&value),
            ) {
                headers.append(name, value);
            }
        }
        headers.insert(REPLAYED, HeaderValue::from_static("true"));
        if let Some(detail) = detail {
            response.extensions_mut().insert(detail);
        }
        response
    }
}

/// The [`ErrorDetail`] of a stored error body (`{"error":{"code","message","fields"}}`).
fn error_detail(body: &[u8]) -> Option<ErrorDetail> {
    #[derive(Deserialize)]
    struct Body {
        error: Detail,
    }
    #[derive(Deserialize)]
    struct Detail {
        code: String,
        message: String,
        #[serde(default)]
        fields: Vec<Field>,
    }
    #[derive(Deserialize)]
    struct Field {
        field: String,
        reason: String,
    }
    let Body { error } = serde_json::from_slice(body).ok()?;
    Some(ErrorDetail {
        code: intern(&error.code)?,
        message: error.message,
        fields: error
            .fields
            .into_iter()
            .map(|f| FieldError::new(f.field, f.reason))
            .collect(),
        request_id: None,
    })
}

/// `code` as the `&'static str` an [`ErrorDetail`] holds. Error codes are a small, fixed
/// set (this API's own); each is leaked once, and past [`MAX_CODES`] of them, or for a code
/// that is not one (SCREAMING_SNAKE_CASE, at most 64 characters), none is made and the
/// stored body is replayed as it is.
fn intern(code: &str) -> Option<&'static str> {
    const MAX_CODES: usize = 256;
    static CODES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let is_code = !code.is_empty()
        && code.len() <= 64
        && code.bytes().all(|b| b.is_ascii_uppercase() || b == b'_');
    if !is_code {
        return None;
    }
    let mut codes = CODES.get_or_init(Default::default).lock().ok()?;
    if let Some(&known) = codes.get(code) {
        return Some(known);
    }
    if codes.len() >= MAX_CODES {
        return None;
    }
    let leaked: &'static str = Box::leak(code.to_owned().into_boxed_str());
    codes.insert(leaked);
    Some(leaked)
}

/// 422 [`KEY_REUSED`].
fn key_reused() -> Response {
    ErrorDetail {
        code: KEY_REUSED,
        message: "this Idempotency-Key was first used with another request (another body, \
                  route or order); use a new key for a new request"
            .to_owned(),
        fields: vec![FieldError::new(HEADER, "used with another request")],
        request_id: None,
    }
    .into_response_with(StatusCode::UNPROCESSABLE_ENTITY)
}

/// 409 [`KEY_IN_USE`], with `Retry-After`.
fn key_in_use() -> Response {
    let mut response = ErrorDetail {
        code: KEY_IN_USE,
        message: format!(
            "a request with this Idempotency-Key is still running; send it again in \
             {RETRY_AFTER_SECS} second(s) for its answer"
        ),
        fields: vec![FieldError::new(HEADER, "a request with it is running")],
        request_id: None,
    }
    .into_response_with(StatusCode::CONFLICT);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    response
}

/// Deletes expired keys (but none whose request still runs), every `interval`, for as long
/// as the layer lives.
pub async fn sweeper(pool: PgPool, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match sweep(&pool).await {
            Ok(0) => {}
            Ok(deleted) => tracing::debug!(deleted, "expired idempotency keys deleted"),
            Err(e) => tracing::warn!(error = %e, "deleting expired idempotency keys failed"),
        }
    }
}

/// One sweep: deletes every expired key that is not running under a live lease.
pub async fn sweep(pool: &PgPool) -> Result<u64> {
    let deleted = sqlx::query!(
        "DELETE FROM idempotency_keys WHERE expires_at <= now() \
         AND (state = 'done' OR lease_until <= now())"
    )
    .execute(pool)
    .await
    .map_err(db("idempotency keys"))?
    .rows_affected();
    Ok(deleted)
}
