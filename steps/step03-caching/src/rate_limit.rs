//! Step 2's rate limits, held in Redis so they hold across instances: [`RedisLimiter`]
//! implements step 2's `RateLimiter` trait with the same algorithm as step 2's in-memory
//! limiter, GCRA (the generic cell rate algorithm), in one Lua script, so each check is one
//! round trip and atomic: two instances counting the same client at the same moment cannot
//! both take the last request. The script reads the clock of Redis (`TIME`), not of the app, so
//! instances whose clocks drift still share one timeline.
//!
//! GCRA keeps one number per client and policy, the *theoretical arrival time* (TAT): when the
//! quota would be whole again if no further request came. A request is allowed when
//! `TAT + interval - window <= now`, and then moves the TAT on by one interval (`window /
//! requests`). From it follow the same `Decision` fields as step 2 (limit, remaining, reset,
//! retry-after), so the `RateLimit-*` headers are identical. The key expires when the quota is
//! whole again: an idle client costs no memory.
//!
//! Rejected: a fixed-window counter (`INCR` + `EXPIRE`), simpler but it lets a client send
//! twice its quota across a window boundary; a sliding log (a sorted set of timestamps), exact
//! but one entry per request, so a 600-per-minute quota could hold 600 members per client.
//!
//! When Redis fails or is slower than its timeout, `check` returns the error and step 2's
//! middleware lets the request through (fail open): the limiter protects the API and must not
//! be the reason it is down.

use std::time::Duration;

use async_trait::async_trait;
use step02_apis::rate_limit::{ClientKey, Decision, Policy, RateLimiter};

use crate::redis_handle::RedisHandle;

/// GCRA over microseconds. Lua numbers are doubles, exact to 2^53 µs (285 years), and a TAT is
/// written with `%.0f` because `tostring` would round it to 14 significant digits.
/// Returns `{allowed (0/1), remaining, reset_us, retry_after_us}`.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local window = interval * limit
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - window
if allow_at > now then
  return {0, 0, allow_at - now, allow_at - now}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
local remaining = math.floor((now + window - new_tat) / interval)
return {1, remaining, new_tat - now, 0}
";

/// Step 2's rate limits in Redis, shared by every instance that shares the Redis and the key
/// prefix. Cheap to clone.
#[derive(Clone)]
pub struct RedisLimiter {
    redis: RedisHandle,
    /// `cache.key_prefix`: every key of the app starts with it.
    prefix: String,
    /// Loaded once per server: `invoke` sends `EVALSHA` and loads the script on `NOSCRIPT`
    /// (a restarted Redis has forgotten it).
    script: redis::Script,
}

impl RedisLimiter {
    pub fn new(redis: RedisHandle, prefix: &str) -> Self {
        Self {
            redis,
            prefix: prefix.to_owned(),
            script: redis::Script::new(GCRA),
        }
    }

    /// `<prefix>rl:<policy>:<client>`, e.g. `shop:rl:default:user:6650...`.
    pub fn key(&self, policy: &Policy, client: &ClientKey) -> String {
        format!("{}rl:{}:{client}", self.prefix, policy.name)
    }
}

#[async_trait]
impl RateLimiter for RedisLimiter {
    async fn check(&self, policy: &Policy, client: &ClientKey) -> anyhow::Result<Decision> {
        anyhow::ensure!(
            policy.requests > 0,
            "policy {} allows no request",
            policy.name
        );
        let interval_us = (policy.window.as_micros() / u128::from(policy.requests)).max(1);
        let mut invocation = self.script.key(self.key(policy, client));
        invocation.arg(u64::try_from(interval_us).unwrap_or(u64::MAX / 2));
        invocation.arg(policy.requests);
        let (allowed, remaining, reset_us, retry_us): (u8, u64, u64, u64) =
            self.redis.script("rate limit", &invocation).await?;
        Ok(Decision {
            allowed: allowed == 1,
            limit: policy.requests,
            remaining: u32::try_from(remaining)
                .unwrap_or(u32::MAX)
                .min(policy.requests),
            reset: Duration::from_micros(reset_us),
            retry_after: Duration::from_micros(retry_us),
        })
    }
}
