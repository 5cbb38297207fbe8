//! `Idempotency-Key` on placing and paying orders (`POST /api/v1/orders`,
//! `POST /api/v1/orders/{id}/pay`), after the IETF httpapi draft "The Idempotency-Key HTTP
//! Header Field": a client that did not hear the answer sends the same request with the same
//! key again and gets the first answer, not a second order. Every other route, and a request
//! without the header, is untouched. `/api/v2` has no writes, so it has nothing to guard.
//! GraphQL's `placeOrder` and `payOrder` take the same keys as their `idempotencyKey`
//! argument, with the same answers ([`graphql`]).
//!
//! | the key, for this user | answer |
//! |---|---|
//! | new (or expired) | the request runs; its answer is stored, unless it is a 5xx |
//! | done, same request | the stored answer again, with `Idempotent-Replayed: true`; nothing runs |
//! | any state, another request (body, route or order; a GraphQL mutation) | 422 `IDEMPOTENCY_KEY_REUSED` |
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
//! - **GraphQL**: the argument is the key itself, not header syntax (1 to [`MAX_KEY_LEN`]
//!   printable ASCII characters, quotes and backslashes included):
//!   `mutation { placeOrder(items: [...], idempotencyKey: "8e03978e-...") { id } }`. The same
//!   table and rows (a key is the user's whichever API sent it), bound to
//!   [`mutation_fingerprint`]; refusals are GraphQL errors with the same codes,
//!   `extensions.status` and, for 409, `retryAfter`; a replay is marked by
//!   `Idempotent-Replayed: true` and the response's `extensions.idempotentReplayed`.
//! - **One logic for both**: [`Keys::once`] claims, runs the work in a task, stores or
//!   releases, for any [`Answer`]: the HTTP layer's response, or a mutation's order or error.
//!   The refusals ([`key_reused`], [`key_in_use`]) are [`Error::Refused`] values, which REST
//!   and GraphQL each render.
//! - **The document**: [`document`] shows the header, its refusals and `Idempotent-Replayed`
//!   on the two operations of the OpenAPI document.
//!
//! What it cannot do: a process that dies after an order was placed but before its answer
//! was stored leaves a running key; once its lease has run out, the retry places a second
//! order (the first one stays pending until it expires). The same holds if PostgreSQL fails
//! just as the answer is stored.

use std::collections::HashSet;
use std::future::Future;
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
use step02_apis::openapi::ApiDocument;
use tokio::task::AbortHandle;
use tracing::Instrument;
use utoipa::openapi::RefOr;
use uuid::Uuid;

use crate::config::Config;

pub mod graphql;

/// The request header, and the name a refusal's field carries.
pub const HEADER: &str = "Idempotency-Key";

/// On a replayed answer: `true`. Step 2's name for it, which its GraphQL endpoint sets on a
/// replayed mutation's answer.
pub const REPLAYED: &str = step02_apis::graphql::keyed::REPLAYED_HEADER;

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
        Key::sized(key)
    }

    /// A GraphQL `idempotencyKey` argument: the key itself, not a header's syntax, so any
    /// printable ASCII (quotes, backslashes and spaces too) is taken as it is; the key
    /// `abc` is the header's `"abc"`.
    pub fn from_argument(value: &str) -> std::result::Result<Key, String> {
        if !value.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            return Err(not_printable());
        }
        Key::sized(value.to_owned())
    }

    /// `key`, if it is 1 to [`MAX_KEY_LEN`] characters.
    fn sized(key: String) -> std::result::Result<Key, String> {
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
    hash(method.as_str(), path_and_query, body)
}

/// What a key sent with a GraphQL mutation is bound to: SHA-256 of `GRAPHQL`, the mutation's
/// name and its arguments as JSON. Never a REST request's fingerprint (no HTTP method is
/// `GRAPHQL`), so a key used on one API is refused on the other.
pub fn mutation_fingerprint(mutation: &str, arguments: &serde_json::Value) -> [u8; 32] {
    hash("GRAPHQL", mutation, arguments.to_string().as_bytes())
}

fn hash(verb: &str, target: &str, body: &[u8]) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(verb.as_bytes());
    hash.update(b" ");
    hash.update(target.as_bytes());
    hash.update(b"\n");
    hash.update(body);
    hash.finalize().into()
}

/// The keys' table and its settings: runs a keyed request at most once ([`Keys::once`]), for
/// the HTTP layer here and for GraphQL's mutations ([`graphql`]) alike. Cheap to clone.
#[derive(Clone)]
pub struct Keys {
    pool: PgPool,
    ttl_secs: i64,
    lease_ms: i64,
}

impl Keys {
    pub fn new(pool: PgPool, config: &Config) -> Self {
        let settings = &config.idempotency;
        Self {
            pool,
            ttl_secs: i64::try_from(settings.ttl_secs).unwrap_or(i64::MAX),
            lease_ms: i64::try_from(settings.lease_ms).unwrap_or(i64::MAX),
        }
    }
}

/// The layer's state: the keys, who signed in, and the sweeper. Cloned per request.
#[derive(Clone)]
pub struct Idempotency {
    inner: Arc<Inner>,
}

struct Inner {
    keys: Keys,
    verifier: Verifier,
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
        let interval = Duration::from_secs(config.idempotency.sweep_interval_secs);
        let sweeper = tokio::runtime::Handle::try_current().ok().map(|runtime| {
            runtime
                .spawn(sweeper(pool.clone(), interval))
                .abort_handle()
        });
        Self {
            inner: Arc::new(Inner {
                keys: Keys::new(pool, config),
                verifier,
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
        Ok(Outcome::Ran(response) | Outcome::Replayed(response)) => response,
        Err(refused) => refused.into_response(),
    }
}

impl Idempotency {
    /// The bearer token's user, checked as the handler will check it; `None` lets the
    /// handler answer 401 (or 503) itself.
    async fn signed_in(&self, parts: &Parts) -> Option<AuthUser> {
        let token = bearer_token(parts)?;
        self.inner.verifier.authenticate(token).await.ok()
    }

    /// Runs a keyed request at most once; `Err` is why it did not run and has no answer to
    /// give again (a body that cannot be read, a key in use or reused).
    async fn keyed(
        &self,
        user: AuthUser,
        key: Key,
        request: Request,
        next: Next,
    ) -> Result<Outcome<Response>> {
        let (parts, body) = request.into_parts();
        let body = Bytes::from_request(Request::from_parts(parts.clone(), body), &())
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    Error::PayloadTooLarge
                } else {
                    Error::MalformedJson("the body could not be read".to_owned())
                }
            })?;
        let path = parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path(), |p| p.as_str());
        let claim = Claim::new(&user, key, fingerprint(&parts.method, path, &body), HEADER);
        let request = Request::from_parts(parts, Body::from(body));
        self.inner.keys.once(claim, next.run(request)).await
    }
}

/// What a keyed request answers, as [`Keys::once`] stores and replays it: each API its own
/// (HTTP a response, GraphQL an order or an error), one table and one logic for both.
trait Answer: Sized + Send + 'static {
    /// The answer, and what of it to store; `None` for one that is not kept (a 5xx): the key
    /// is released, and a retry runs again.
    fn keep(self) -> impl Future<Output = (Self, Option<Stored>)> + Send;
    /// A stored answer, given again.
    fn replay(stored: Stored) -> Self;
    /// What a request answers whose work or bookkeeping failed (a panic).
    fn failed(error: Error) -> Self;
}

/// How a keyed request was answered.
pub enum Outcome<A> {
    /// It ran; this is its answer.
    Ran(A),
    /// An earlier request with the key and the same fingerprint ran; this is its answer.
    Replayed(A),
}

impl Keys {
    /// Runs `work` at most once for `claim`'s user and key: when the key is new (or expired,
    /// or left by a process that died), `work` runs and its answer is stored; when the same
    /// request ran, its answer is given again; else the key is refused (`Err`).
    async fn once<A: Answer>(
        &self,
        claim: Claim,
        work: impl Future<Output = A> + Send + 'static,
    ) -> Result<Outcome<A>> {
        match self.claim(&claim).await? {
            Seen::Ours => {}
            Seen::Done(stored) => return Ok(Outcome::Replayed(A::replay(stored))),
            Seen::Reused => return Err(key_reused(claim.named)),
            Seen::Running => return Err(key_in_use(claim.named)),
        }
        // The work and the bookkeeping after it run in tasks of their own: a request the
        // timeout layer gives up on still finishes, and its answer is stored for the retry.
        let span = tracing::Span::current();
        // `propagate`: the trace context is task-local, and the work's payment call and
        // events carry it.
        let run = tokio::spawn(common::trace::propagate(work).instrument(span.clone()));
        let keys = self.clone();
        let finish = tokio::spawn(
            async move {
                let answer = run.await.unwrap_or_else(|_| {
                    A::failed(Error::Internal(anyhow::anyhow!("a keyed request panicked")))
                });
                keys.finish(&claim, answer).await
            }
            .instrument(span),
        );
        Ok(Outcome::Ran(finish.await.unwrap_or_else(|_| {
            A::failed(Error::Internal(anyhow::anyhow!(
                "storing an idempotent answer panicked"
            )))
        })))
    }
}

/// One request's hold on a key.
struct Claim {
    user: String,
    key: Key,
    fingerprint: [u8; 32],
    /// This request's token (a UUID): only it may store or release the key.
    owner: String,
    /// What the refusals name: the header, or GraphQL's argument.
    named: &'static str,
}

impl Claim {
    fn new(user: &AuthUser, key: Key, fingerprint: [u8; 32], named: &'static str) -> Self {
        Self {
            user: user.id.to_string(),
            key,
            fingerprint,
            owner: Uuid::new_v4().to_string(),
            named,
        }
    }
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

/// An answer as stored: a response's status, content type, [`REPLAYED_HEADERS`] (as
/// `[[name, value], ...]`) and body.
struct Stored {
    status: i16,
    content_type: Option<String>,
    headers: Option<String>,
    body: Vec<u8>,
}

fn db(what: &'static str) -> impl Fn(sqlx::Error) -> Error {
    move |e| Error::from(step05_hybrid_dbs::store::map_err(what)(e))
}

impl Keys {
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
                self.lease_ms,
                self.ttl_secs,
            )
            .execute(&self.pool)
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
            .fetch_optional(&self.pool)
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

    /// Stores `answer` for the key, or releases the key for an answer not kept; gives it.
    async fn finish<A: Answer>(&self, claim: &Claim, answer: A) -> A {
        let (answer, stored) = answer.keep().await;
        let Some(stored) = stored else {
            self.release(claim).await;
            return answer;
        };
        let done = sqlx::query!(
            "UPDATE idempotency_keys SET state = 'done', status = $4, content_type = $5, \
             headers = $6::text::jsonb, body = $7 \
             WHERE user_id = $1::bpchar AND key = $2 AND owner = $3::text::uuid \
             AND state = 'running'",
            claim.user,
            claim.key.as_str(),
            claim.owner,
            stored.status,
            stored.content_type.as_deref(),
            stored.headers.as_deref().unwrap_or("[]"),
            &stored.body[..],
        )
        .execute(&self.pool)
        .await;
        match done {
            Ok(done) if done.rows_affected() == 1 => {}
            // Taken over after the lease ran out, or expired and swept: the answer goes to
            // this client, and the key is the other request's (or nobody's).
            Ok(_) => tracing::warn!("an idempotency key was lost while its request ran"),
            Err(e) => {
                tracing::error!(error = %e, "storing an idempotent answer failed; key released");
                self.release(claim).await;
            }
        }
        answer
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
        .execute(&self.pool)
        .await;
        if let Err(e) = released {
            // It stays running until its lease runs out, then the next request takes it over.
            tracing::error!(error = %e, "releasing an idempotency key failed");
        }
    }
}

impl Stored {
    fn status(&self) -> StatusCode {
        u16::try_from(self.status)
            .ok()
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(StatusCode::OK)
    }

    /// A stored error's [`ErrorDetail`].
    fn error_detail(&self) -> Option<ErrorDetail> {
        self.status()
            .is_client_error()
            .then(|| error_detail(&self.body))
            .flatten()
    }
}

/// The HTTP layer's answer: the handler's response.
impl Answer for Response {
    /// A response as it is stored: its status, content type, [`REPLAYED_HEADERS`] and body.
    async fn keep(self) -> (Response, Option<Stored>) {
        let (parts, body) = self.into_parts();
        if parts.status.is_server_error() {
            return (Response::from_parts(parts, body), None);
        }
        // The guarded routes answer JSON their handlers built in memory: reading it whole
        // costs nothing more.
        let body = match axum::body::to_bytes(body, usize::MAX).await {
            Ok(body) => body,
            Err(e) => {
                let error =
                    Error::Internal(anyhow::Error::new(e).context("reading an answer to store"));
                return (error.into_response(), None);
            }
        };
        let headers: Vec<(&str, &str)> = REPLAYED_HEADERS
            .iter()
            .filter_map(|name| {
                let value = parts.headers.get(name)?.to_str().ok()?;
                Some((name.as_str(), value))
            })
            .collect();
        let stored = Stored {
            status: i16::try_from(parts.status.as_u16()).unwrap_or(i16::MAX),
            content_type: parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            headers: serde_json::to_string(&headers).ok(),
            body: body.to_vec(),
        };
        (Response::from_parts(parts, Body::from(body)), Some(stored))
    }

    /// The stored answer again. A stored error gets its [`ErrorDetail`] back, so the error
    /// envelope outside puts this request's id in it (and a v2 route would render it as
    /// problem+json), as for an error just made.
    fn replay(stored: Stored) -> Response {
        let status = stored.status();
        let detail = stored.error_detail();
        let mut response = Response::new(Body::from(stored.body));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        if let Some(value) = stored
            .content_type
            .and_then(|v| HeaderValue::from_str(&v).ok())
        {
            headers.insert(header::CONTENT_TYPE, value);
        }
        let stored: Vec<(String, String)> = stored
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

    fn failed(error: Error) -> Response {
        error.into_response()
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

/// 422 [`KEY_REUSED`], naming `named` (the header or the argument).
pub fn key_reused(named: &str) -> Error {
    Error::Refused {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        detail: ErrorDetail {
            code: KEY_REUSED,
            message: "this idempotency key was first used with another request (another \
                      body, route, order or mutation); use a new key for a new request"
                .to_owned(),
            fields: vec![FieldError::new(named, "used with another request")],
            request_id: None,
        },
        retry_after_secs: None,
    }
}

/// 409 [`KEY_IN_USE`], naming `named`, with `Retry-After` (GraphQL's `retryAfter`).
pub fn key_in_use(named: &str) -> Error {
    Error::Refused {
        status: StatusCode::CONFLICT,
        detail: ErrorDetail {
            code: KEY_IN_USE,
            message: format!(
                "a request with this idempotency key is still running; send it again in \
                 {RETRY_AFTER_SECS} second(s) for its answer"
            ),
            fields: vec![FieldError::new(named, "a request with it is running")],
            request_id: None,
        },
        retry_after_secs: Some(RETRY_AFTER_SECS),
    }
}

/// What the document says of the header, on each guarded operation.
const HEADER_DESCRIPTION: &str = "Makes this request safe to send again (the IETF httpapi \
    Idempotency-Key draft): a Structured Field String (`\"8e03978e-...\"`) or the bare key, 1 \
    to 255 printable ASCII characters, the signed-in user's own and bound to this request's \
    method, path and body. The same request sent again with the key gets the first answer \
    again, errors included, with `Idempotent-Replayed: true`, and runs nothing (no second \
    order, no second charge); a 5xx is not kept, so a retry runs again. Another request with \
    the key is 422 `IDEMPOTENCY_KEY_REUSED`; while the first runs, 409 \
    `IDEMPOTENCY_KEY_IN_USE`; a malformed key, 400 `INVALID_PARAMETER`. A key is remembered \
    for `idempotency.ttl_secs` (a day) after its first use. GraphQL's `placeOrder` and \
    `payOrder` take the same keys as their `idempotencyKey` argument.";

/// `api` with the header on the [`GUARDED`] operations: the parameter, the refusals it adds
/// to their 400, 409 and 422 (described after the shared responses' own words), and
/// `Idempotent-Replayed` on their success responses.
pub fn document(api: &ApiDocument) -> anyhow::Result<ApiDocument> {
    use utoipa::openapi::path::{HttpMethod, ParameterBuilder, ParameterIn};
    use utoipa::openapi::{ObjectBuilder, Required, Type};

    let operations = GUARDED.map(|path| (HttpMethod::Post, path));
    api.with_changed_operations(&operations, |operation, components| {
        operation.parameters.get_or_insert_with(Vec::new).push(
            ParameterBuilder::new()
                .name(HEADER)
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some(HEADER_DESCRIPTION))
                .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                .build(),
        );
        let responses = &mut operation.responses.responses;
        for (status, response) in responses.iter_mut() {
            if status.starts_with('2') {
                let mut success = resolved(response, components);
                success.headers.insert(
                    REPLAYED.to_owned(),
                    document_header(
                        "`true` when this is the stored answer of an earlier request with the \
                         same `Idempotency-Key` (a replayed error carries it too)",
                    ),
                );
                *response = RefOr::T(success);
            }
        }
        let refusals = [
            (
                "400",
                "`INVALID_PARAMETER` naming `Idempotency-Key`: a malformed key (empty, over \
                 255 characters, not printable ASCII, a list, or two headers)",
            ),
            (
                "409",
                "`IDEMPOTENCY_KEY_IN_USE`: a request with this key is still running; send it \
                 again after `Retry-After` seconds for its answer",
            ),
            (
                "422",
                "`IDEMPOTENCY_KEY_REUSED`: this key was first used with another request \
                 (another body, route or order, or a GraphQL mutation); use a new key",
            ),
        ];
        for (status, words) in refusals {
            let mut refusal = responses
                .get(status)
                .map(|shared| resolved(shared, components))
                .unwrap_or_else(|| {
                    common::openapi::error_response_as(
                        "",
                        "application/json",
                        common::openapi::ERROR_SCHEMA,
                    )
                    .build()
                });
            refusal.description = if refusal.description.is_empty() {
                words.to_owned()
            } else {
                format!("{}; or {words}", refusal.description)
            };
            if status == "409" {
                refusal.headers.insert(
                    "Retry-After".to_owned(),
                    document_header("for `IDEMPOTENCY_KEY_IN_USE`: seconds to wait"),
                );
            }
            responses.insert(status.to_owned(), RefOr::T(refusal));
        }
    })
}

/// `response` itself, or the component it refers to (empty when there is none).
fn resolved(
    response: &RefOr<utoipa::openapi::Response>,
    components: &utoipa::openapi::Components,
) -> utoipa::openapi::Response {
    match response {
        RefOr::T(response) => response.clone(),
        RefOr::Ref(reference) => reference
            .ref_location
            .rsplit('/')
            .next()
            .and_then(|name| components.responses.get(name))
            .and_then(|component| match component {
                RefOr::T(response) => Some(response.clone()),
                RefOr::Ref(_) => None,
            })
            .unwrap_or_default(),
    }
}

fn document_header(description: &str) -> utoipa::openapi::header::Header {
    utoipa::openapi::header::HeaderBuilder::new()
        .schema(utoipa::openapi::ObjectBuilder::new().schema_type(utoipa::openapi::Type::String))
        .description(Some(description))
        .build()
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
