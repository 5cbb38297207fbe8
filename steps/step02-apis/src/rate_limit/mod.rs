//! Rate limiting per client: every route but `/health` counts each request against a quota
//! for its caller (the user id when the request carries a valid bearer token, else the client
//! address), refuses with 429 `RATE_LIMITED` and `Retry-After` once the quota is spent, and
//! tells every caller where it stands with `RateLimit-Limit`, `RateLimit-Remaining`,
//! `RateLimit-Reset` (seconds) and `RateLimit-Policy` (`100;w=60`), the fields of
//! draft-ietf-httpapi-ratelimit-headers-06, the last revision with separate fields (-07 on
//! merge them into one structured `RateLimit` field, which few clients read yet). Sign-in and
//! the other credential routes have a stricter quota keyed by address; placing an order has
//! one keyed by user. An operation that runs inside another request counts on its own as the
//! route it does the work of ([`RateLimits::charge`]): each GraphQL mutation counts as its
//! REST twin, so `placeOrder` spends the orders quota however many aliases carry it.
//!
//! Why the middleware is ours and the algorithm is `governor`'s: the obvious crate,
//! `tower_governor` (0.8), writes `x-ratelimit-limit`/`-remaining`/`-after` rather than the
//! IETF fields, and its `KeyExtractor::extract` is synchronous and sees only the request, so
//! it could not ask an async store (step 3's Redis) and has no natural place for our token
//! verifier or trusted-proxy policy. The middleware here is small: pick the policy, find the
//! key, ask a [`RateLimiter`], write headers. The part worth not writing ourselves, GCRA with
//! per-key state, is `governor`'s ([`GovernorLimiter`]). The limiter is a trait object, so step
//! 3 plugs in a Redis one through [`RateLimits::with_limiter`].
//!
//! Defaults, and why a real deployment would accept them (a quota of N per window W is a
//! burst of N, refilled evenly over W):
//! - `default`: 600 per 60 s per user or address: a burst of 600 and 10 requests a second
//!   sustained, far above what a person clicking through a shop (or a page loading a dozen
//!   calls at once) sends, while a scraper or a runaway loop is stopped within a minute.
//! - `credentials`: 300 per 60 s per address, for login, register, refresh, password change
//!   and the Google callback: each costs an argon2id hash or a call to Google, so this bounds
//!   the CPU one address may spend on them (5 a second sustained), while a campus or a carrier
//!   NAT full of people still signs in. Guessing one account's password is stopped earlier by
//!   step 1's sign-in throttle (5 failures per account, 50 per address, per 15 minutes).
//! - `orders`: 60 per 60 s per user: no shopper places an order a second for a minute.
//!
//! Measured: the step-0 contract suite makes about 145 credential requests from 127.0.0.1 in
//! about 4.5 s and its admin about 135 requests; the step-1 suite about 45 credential
//! requests. Both suites, one after the other against one server, pass with the defaults.
//!
//! If the limiter fails (step 3: Redis down), the request goes through unlimited and the
//! failure is logged: the limiter protects the API and must not become the reason it is down.

mod limiter;
#[cfg(test)]
mod tests;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::ensure;
use axum::Router;
use axum::extract::{OriginalUri, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use common::auth::Verifier;
use common::domain::UserId;
use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize};
use step01_security::client_ip::{ClientIpPolicy, ForwardedHeader};

pub use limiter::{ClientKey, Decision, GovernorLimiter, Policy, RateLimiter};

/// `apis.rate_limit` (`APP__APIS__RATE_LIMIT__*`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct RateLimitConfig {
    /// Off: no route is limited and no `RateLimit-*` header is sent.
    pub enabled: bool,
    /// Proxies (addresses or CIDR networks) whose forwarding header is believed: a list, or
    /// one comma-separated string (`APP__APIS__RATE_LIMIT__TRUSTED_PROXIES=10.0.0.0/8,::1`).
    /// Empty: the peer address is the client. When set, it replaces step 1's
    /// `security.throttle.trust_forwarded_for`, for the sign-in throttle too.
    #[serde(deserialize_with = "networks")]
    pub trusted_proxies: Vec<IpNet>,
    /// The header those proxies write: `x-forwarded-for` or `forwarded` (RFC 7239).
    pub forwarded_header: ForwardedHeader,
    /// Every route without a stricter policy, per user or address.
    pub default: QuotaConfig,
    /// Login, register, refresh, password change, Google callback: per address.
    pub credentials: QuotaConfig,
    /// Placing an order: per user.
    pub orders: QuotaConfig,
    /// Forget keys whose quota is whole again every this many checks (bounds memory).
    pub sweep_every: u64,
}

/// `requests` per `window_secs`. Both are required when a quota is configured, so that
/// overriding one never silently pairs it with another policy's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub struct QuotaConfig {
    pub requests: u32,
    pub window_secs: u64,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            trusted_proxies: Vec::new(),
            forwarded_header: ForwardedHeader::default(),
            default: QuotaConfig {
                requests: 600,
                window_secs: 60,
            },
            credentials: QuotaConfig {
                requests: 300,
                window_secs: 60,
            },
            orders: QuotaConfig {
                requests: 60,
                window_secs: 60,
            },
            sweep_every: 10_000,
        }
    }
}

/// A day: a longer window would make `Retry-After` a promise nobody keeps.
const MAX_WINDOW_SECS: u64 = 24 * 3600;

impl RateLimitConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        for (name, quota) in [
            ("DEFAULT", &self.default),
            ("CREDENTIALS", &self.credentials),
            ("ORDERS", &self.orders),
        ] {
            ensure!(
                quota.requests > 0,
                "APP__APIS__RATE_LIMIT__{name}__REQUESTS must be at least 1"
            );
            ensure!(
                (1..=MAX_WINDOW_SECS).contains(&quota.window_secs),
                "APP__APIS__RATE_LIMIT__{name}__WINDOW_SECS must be between 1 and {MAX_WINDOW_SECS}"
            );
        }
        ensure!(
            self.sweep_every > 0,
            "APP__APIS__RATE_LIMIT__SWEEP_EVERY must be at least 1"
        );
        Ok(())
    }

    /// The policies, by the names the limiter knows them by.
    /// The in-memory limiter for these policies: a [`GovernorLimiter`] per instance.
    pub fn in_memory_limiter(&self) -> anyhow::Result<GovernorLimiter> {
        GovernorLimiter::new(&self.policies().all(), self.sweep_every)
    }

    pub fn policies(&self) -> Policies {
        let policy = |name, quota: &QuotaConfig| Policy {
            name,
            requests: quota.requests,
            window: Duration::from_secs(quota.window_secs),
        };
        Policies {
            default: policy("default", &self.default),
            credentials: policy("credentials", &self.credentials),
            orders: policy("orders", &self.orders),
        }
    }

    /// The one client-address policy of step 2 (step 1's throttle uses it too): the trusted
    /// proxies when configured, else step 1's `trust_forwarded_for` flag.
    pub fn client_ip_policy(&self, step1: &step01_security::Config) -> ClientIpPolicy {
        if self.trusted_proxies.is_empty() {
            ClientIpPolicy::from_trust_flag(step1.security.throttle.trust_forwarded_for)
        } else {
            ClientIpPolicy::trusting(self.trusted_proxies.clone(), self.forwarded_header)
        }
    }
}

/// `trusted_proxies`: a list, or a comma-separated string; a bare address is a /32 or /128.
fn networks<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<IpNet>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        One(String),
        Many(Vec<String>),
    }
    let items = match Raw::deserialize(deserializer)? {
        Raw::One(s) => s.split(',').map(str::to_owned).collect(),
        Raw::Many(v) => v,
    };
    items
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    serde::de::Error::custom(format!(
                        "trusted proxy {s:?} is not an IP address or CIDR network"
                    ))
                })
        })
        .collect()
}

/// The three policies.
#[derive(Debug, Clone)]
pub struct Policies {
    pub default: Policy,
    pub credentials: Policy,
    pub orders: Policy,
}

impl Policies {
    fn all(&self) -> [Policy; 3] {
        [
            self.default.clone(),
            self.credentials.clone(),
            self.orders.clone(),
        ]
    }
}

/// How a policy's key is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyBy {
    /// The signed-in user, else the address.
    Client,
    /// The address, signed in or not (credential routes: the token is what they hand out).
    Ip,
}

/// Step 2's rate limiting, as a piece of state: what the middleware needs.
#[derive(Clone)]
pub struct RateLimits {
    enabled: bool,
    limiter: Arc<dyn RateLimiter>,
    policies: Arc<Policies>,
    client_ip: ClientIpPolicy,
    /// Finds the user of a bearer token; the same verifier the handlers use.
    verifier: Verifier,
    /// Paths besides `/health` that no quota counts (step 4's no-I/O reference endpoint,
    /// whose whole point is to measure the stack without anything that can refuse it).
    exempt: Arc<[&'static str]>,
}

impl RateLimits {
    /// The in-memory limiter ([`GovernorLimiter`]).
    pub fn new(
        config: &RateLimitConfig,
        client_ip: ClientIpPolicy,
        verifier: Verifier,
    ) -> anyhow::Result<Self> {
        let limiter = Arc::new(config.in_memory_limiter()?);
        Ok(Self::with_limiter(config, client_ip, verifier, limiter))
    }

    /// Any limiter: step 3 passes its Redis one here.
    pub fn with_limiter(
        config: &RateLimitConfig,
        client_ip: ClientIpPolicy,
        verifier: Verifier,
        limiter: Arc<dyn RateLimiter>,
    ) -> Self {
        Self {
            enabled: config.enabled,
            limiter,
            policies: Arc::new(config.policies()),
            client_ip,
            verifier,
            exempt: Arc::new([]),
        }
    }

    /// These limits, with `path` (matched exactly) counted by no quota, like `/health`.
    pub fn exempting(mut self, path: &'static str) -> Self {
        let mut exempt = self.exempt.to_vec();
        exempt.push(path);
        self.exempt = exempt.into();
        self
    }

    /// The policy a request falls under, and how it is keyed; `None` for `/health` and the
    /// paths added by [`RateLimits::exempting`].
    pub fn classify(&self, method: &Method, path: &str) -> Option<(&Policy, KeyBy)> {
        if path == "/health" || self.exempt.contains(&path) {
            return None;
        }
        let route = strip_api_version(path);
        let credential = (method == Method::POST
            && matches!(
                route,
                "/auth/login" | "/auth/register" | "/auth/refresh" | "/auth/password"
            ))
            || (method == Method::GET && route == "/auth/google/callback");
        Some(if credential {
            (&self.policies.credentials, KeyBy::Ip)
        } else if method == Method::POST && route == "/orders" {
            (&self.policies.orders, KeyBy::Client)
        } else {
            (&self.policies.default, KeyBy::Client)
        })
    }

    /// Who the request counts against. An invalid token falls back to the address (the
    /// handler will answer 401), so a forged token buys no fresh quota.
    pub fn key(&self, request: &Parts, by: KeyBy) -> ClientKey {
        if by == KeyBy::Client
            && let Some(user) = common::auth::bearer_token(request)
                .and_then(|token| self.verifier.verify(token).ok())
        {
            return ClientKey::User(user.id);
        }
        self.address(request)
    }

    fn address(&self, request: &Parts) -> ClientKey {
        self.client_ip
            .of_request(&request.extensions, &request.headers)
            .map_or(ClientKey::Unknown, ClientKey::Ip)
    }

    /// `request`'s caller, for operations inside it that count on their own
    /// ([`RateLimits::charge`]); `user` is who its token was verified to be.
    pub fn caller(&self, request: &Parts, user: Option<UserId>) -> Caller {
        Caller {
            user,
            address: self.address(request),
        }
    }

    /// Counts one request of the route `method path` for `caller`, under that route's policy
    /// and key, exactly as the middleware counts the route's own requests. For an operation
    /// that runs inside another request: each GraphQL mutation counts as its REST twin, so
    /// that no number of them in one request gets more than REST allows.
    ///
    /// `Err` is 429 `RATE_LIMITED` with the wait. Nothing is counted when the limits are off
    /// or the route is exempt, and a limiter that fails lets the operation through (logged),
    /// as the middleware does.
    pub async fn charge(
        &self,
        method: &Method,
        path: &str,
        caller: &Caller,
    ) -> Result<(), common::Error> {
        if !self.enabled {
            return Ok(());
        }
        let Some((policy, by)) = self.classify(method, path) else {
            return Ok(());
        };
        let key = caller.key(by);
        match self.limiter.check(policy, &key).await {
            Ok(decision) if decision.allowed => Ok(()),
            Ok(decision) => {
                tracing::info!(
                    policy = policy.name,
                    %key,
                    route = path,
                    "rate limited inside a request"
                );
                Err(refusal(&decision))
            }
            Err(error) => {
                tracing::error!(
                    error = %format!("{error:#}"),
                    policy = policy.name,
                    "rate limiter failed; operation let through"
                );
                Ok(())
            }
        }
    }
}

/// Who a request comes from, in both of the ways a policy may key it: found once per request,
/// so that every operation inside it is keyed as its REST twin would be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// The user of a verified token; `None` when anonymous.
    user: Option<UserId>,
    /// The client address, or [`ClientKey::Unknown`].
    address: ClientKey,
}

impl Caller {
    /// The key a policy keyed `by` this way counts this caller under.
    pub fn key(&self, by: KeyBy) -> ClientKey {
        match (by, self.user) {
            (KeyBy::Client, Some(user)) => ClientKey::User(user),
            _ => self.address,
        }
    }
}

/// The 429 for a refused `decision`.
fn refusal(decision: &Decision) -> common::Error {
    common::Error::RateLimited {
        retry_after_secs: whole_seconds(decision.retry_after).max(1),
    }
}

/// `/api/v1/orders` -> `/orders`; any other path is returned as it is.
fn strip_api_version(path: &str) -> &str {
    let Some(rest) = path.strip_prefix("/api/v") else {
        return path;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    match rest[digits..].strip_prefix('/') {
        Some(_) if digits > 0 => &rest[digits..],
        _ => path,
    }
}

/// `routes` with rate limiting around every route in it (a no-op when disabled). Layer it
/// after the last route is added, and inside step 0's layers, so a 429 gets the error
/// envelope with its request id, and CORS.
pub fn layer<S>(routes: Router<S>, limits: &RateLimits) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    if !limits.enabled {
        return routes;
    }
    routes.layer(axum::middleware::from_fn_with_state(
        limits.clone(),
        enforce,
    ))
}

/// The middleware: classify, key, check, then either run the handler or answer 429, and put
/// the `RateLimit-*` fields on the answer either way.
pub async fn enforce(State(limits): State<RateLimits>, request: Request, next: Next) -> Response {
    // Inside a nested router the URI has lost its prefix; the original one has it.
    let path = request
        .extensions()
        .get::<OriginalUri>()
        .map_or_else(|| request.uri().path().to_owned(), |u| u.path().to_owned());
    let Some((policy, by)) = limits.classify(request.method(), &path) else {
        return next.run(request).await;
    };
    let (parts, body) = request.into_parts();
    let key = limits.key(&parts, by);
    let request = Request::from_parts(parts, body);
    let decision = match limits.limiter.check(policy, &key).await {
        Ok(decision) => decision,
        Err(error) => {
            tracing::error!(error = %format!("{error:#}"), policy = policy.name, "rate limiter failed; request let through");
            return next.run(request).await;
        }
    };
    let mut response = if decision.allowed {
        next.run(request).await
    } else {
        tracing::info!(policy = policy.name, %key, "rate limited");
        refusal(&decision).into_response()
    };
    write_headers(response.headers_mut(), policy, &decision);
    response
}

/// Rounded up: a client that waits the advertised time must find its quota back.
fn whole_seconds(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

pub const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
pub const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
pub const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");

/// The four `RateLimit-*` fields of `decision` under `policy`.
pub fn write_headers(headers: &mut HeaderMap, policy: &Policy, decision: &Decision) {
    headers.insert(RATELIMIT_LIMIT, HeaderValue::from(decision.limit));
    headers.insert(RATELIMIT_REMAINING, HeaderValue::from(decision.remaining));
    headers.insert(
        RATELIMIT_RESET,
        HeaderValue::from(whole_seconds(decision.reset)),
    );
    if let Ok(value) = HeaderValue::from_str(&policy.header_value()) {
        headers.insert(RATELIMIT_POLICY, value);
    }
}
