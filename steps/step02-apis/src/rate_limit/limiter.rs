//! The seam between the rate-limit middleware and the algorithm: [`RateLimiter`] counts one
//! request of a client against a policy and answers a [`Decision`] (limit, remaining, reset,
//! retry-after). [`GovernorLimiter`] is the in-memory implementation, on the `governor` crate's
//! keyed GCRA; step 3 implements the same trait on Redis so limits hold across instances,
//! without touching the middleware.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use common::domain::UserId;
use governor::Quota;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;

/// One quota: `requests` per `window`, a burst of `requests` refilled evenly over `window`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Names the policy to the limiter (and a Redis key prefix in step 3).
    pub name: &'static str,
    pub requests: u32,
    pub window: Duration,
}

impl Policy {
    /// The `RateLimit-Policy` value, `100;w=60` (draft-ietf-httpapi-ratelimit-headers-06).
    pub fn header_value(&self) -> String {
        format!("{};w={}", self.requests, self.window.as_secs())
    }
}

/// Who a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// A signed-in user, wherever they call from.
    User(UserId),
    /// An anonymous client (or a credential route, which is always keyed by address).
    Ip(IpAddr),
    /// No network peer is known (an in-process request): all such share one key.
    Unknown,
}

impl fmt::Display for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientKey::User(id) => write!(f, "user:{id}"),
            ClientKey::Ip(ip) => write!(f, "ip:{ip}"),
            ClientKey::Unknown => f.write_str("unknown"),
        }
    }
}

/// What the limiter decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// The policy's quota (`RateLimit-Limit`).
    pub limit: u32,
    /// Requests left right now (`RateLimit-Remaining`); 0 when refused.
    pub remaining: u32,
    /// Until the quota is whole again when allowed; until the next request may pass when
    /// refused, so that `RateLimit-Reset` and `Retry-After` name the same moment, as the
    /// draft asks (`RateLimit-Reset`).
    pub reset: Duration,
    /// Until the next request may pass; zero when allowed (`Retry-After`).
    pub retry_after: Duration,
}

#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Counts one request of `key` against `policy`. An error means the limiter itself failed
    /// (step 3: Redis unreachable); the middleware then lets the request through.
    async fn check(&self, policy: &Policy, key: &ClientKey) -> anyhow::Result<Decision>;
}

type Keyed = governor::RateLimiter<
    ClientKey,
    DefaultKeyedStateStore<ClientKey>,
    DefaultClock,
    StateInformationMiddleware,
>;

/// Keyed GCRA in this process's memory, one governor limiter per policy (a governor limiter
/// has one quota). Limits are per instance: step 3 moves them to Redis.
pub struct GovernorLimiter {
    limiters: HashMap<&'static str, Keyed>,
    /// Counts checks, so that every `sweep_every`-th one forgets the keys whose quota is whole
    /// again: memory stays bounded by the keys active within one window plus `sweep_every`,
    /// with no background task to own and stop.
    calls: AtomicU64,
    sweep_every: u64,
}

impl GovernorLimiter {
    pub fn new(policies: &[Policy], sweep_every: u64) -> anyhow::Result<Self> {
        let mut limiters = HashMap::new();
        for policy in policies {
            let burst = NonZeroU32::new(policy.requests)
                .with_context(|| format!("policy {} allows no request", policy.name))?;
            let quota = Quota::with_period(policy.window / policy.requests)
                .with_context(|| format!("policy {} has a zero window", policy.name))?
                .allow_burst(burst);
            limiters.insert(
                policy.name,
                governor::RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>(),
            );
        }
        Ok(Self {
            limiters,
            calls: AtomicU64::new(0),
            sweep_every: sweep_every.max(1),
        })
    }

    /// Keys currently remembered, over all policies.
    pub fn tracked_keys(&self) -> usize {
        self.limiters.values().map(|l| l.len()).sum()
    }

    /// Forgets every key whose quota is whole again (it would start from scratch anyway).
    pub fn sweep(&self) {
        for limiter in self.limiters.values() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

#[async_trait]
impl RateLimiter for GovernorLimiter {
    async fn check(&self, policy: &Policy, key: &ClientKey) -> anyhow::Result<Decision> {
        let limiter = self
            .limiters
            .get(policy.name)
            .with_context(|| format!("no rate-limit policy named {}", policy.name))?;
        if self.calls.fetch_add(1, Ordering::Relaxed) % self.sweep_every == self.sweep_every - 1 {
            self.sweep();
        }
        Ok(match limiter.check_key(key) {
            Ok(state) => {
                let quota = state.quota();
                let limit = quota.burst_size().get();
                let remaining = state.remaining_burst_capacity();
                Decision {
                    allowed: true,
                    limit,
                    remaining,
                    // An upper bound, off by less than one refill interval: governor does not
                    // expose the exact theoretical arrival time.
                    reset: quota.replenish_interval() * (limit - remaining.min(limit)),
                    retry_after: Duration::ZERO,
                }
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(limiter.clock().now());
                Decision {
                    allowed: false,
                    limit: not_until.quota().burst_size().get(),
                    remaining: 0,
                    reset: wait,
                    retry_after: wait,
                }
            }
        })
    }
}
