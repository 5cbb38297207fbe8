//! Sign-in throttling: failed attempts are counted per account (the email as typed, normalised)
//! and per client address, in fixed windows. A key over its limit is refused with 429 and
//! `Retry-After` until its window ends, *before* any password is checked, so a brute-force
//! run costs the attacker time and the server nothing.
//!
//! - Per account stops guessing one account's password from many addresses (ASVS 2.2.1).
//! - Per address stops one client from spraying passwords over many accounts.
//! - Unknown emails are counted exactly like known ones, so the 429 says nothing about which
//!   accounts exist. A success clears the account's count (not the address's).
//! - Only failures count: a shop full of customers behind one NAT can still sign in.
//!
//! The counters live in memory, per instance: enough to stop brute force against one server.
//! Step 3 moves them to Redis so that several instances share them; step 2 adds general rate
//! limiting. A lockout that an attacker can trigger on purpose is a denial of service against
//! the victim, which is why it is short (one window) rather than permanent.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::ThrottleConfig;
use crate::error::Error;

#[derive(Clone)]
pub struct LoginThrottle {
    inner: Arc<Mutex<Counters>>,
    window: Duration,
    max_per_account: u32,
    max_per_ip: u32,
}

/// Keyed `account:<email>` and `ip:<address>`.
#[derive(Default)]
struct Counters {
    windows: HashMap<String, Window>,
}

#[derive(Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

impl LoginThrottle {
    /// A sweep of ended windows runs when the map grows past this, so memory stays bounded by
    /// the number of keys seen within one window.
    const SWEEP_AT: usize = 10_000;

    pub fn new(config: &ThrottleConfig) -> Self {
        Self {
            inner: Arc::default(),
            window: Duration::from_secs(config.window_secs),
            max_per_account: config.max_failures_per_account,
            max_per_ip: config.max_failures_per_ip,
        }
    }

    fn account_key(account: &str) -> String {
        format!("account:{}", account.trim().to_lowercase())
    }

    fn ip_key(ip: &str) -> String {
        format!("ip:{ip}")
    }

    /// 429 when the account or the address is over its limit.
    pub fn check(&self, account: &str, ip: &str) -> Result<(), Error> {
        self.refuse_if_over(&[
            (Self::account_key(account), self.max_per_account),
            (Self::ip_key(ip), self.max_per_ip),
        ])
    }

    /// 429 when the address alone is over its limit.
    pub fn check_ip(&self, ip: &str) -> Result<(), Error> {
        self.refuse_if_over(&[(Self::ip_key(ip), self.max_per_ip)])
    }

    fn refuse_if_over(&self, keys: &[(String, u32)]) -> Result<(), Error> {
        let now = Instant::now();
        let counters = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let wait = keys
            .iter()
            .filter_map(|(key, limit)| {
                let window = counters.windows.get(key)?;
                let ends = window.started + self.window;
                (ends > now && window.failures >= *limit).then(|| ends - now)
            })
            .max()
            .unwrap_or(Duration::ZERO);
        if wait.is_zero() {
            Ok(())
        } else {
            Err(Error::TooManyAttempts {
                retry_after_secs: wait.as_secs().max(1),
            })
        }
    }

    /// Counts one failure against the account and the address.
    pub fn failed(&self, account: &str, ip: &str) {
        self.count(&[Self::account_key(account), Self::ip_key(ip)]);
    }

    /// Counts one failure against the address only (e.g. registering a taken email, which
    /// is how one would enumerate accounts through register).
    pub fn failed_ip(&self, ip: &str) {
        self.count(&[Self::ip_key(ip)]);
    }

    fn count(&self, keys: &[String]) {
        let now = Instant::now();
        let window = self.window;
        let mut counters = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if counters.windows.len() >= Self::SWEEP_AT {
            counters.windows.retain(|_, w| w.started + window > now);
        }
        for key in keys {
            let entry = counters.windows.entry(key.clone()).or_insert(Window {
                started: now,
                failures: 0,
            });
            if entry.started + window <= now {
                *entry = Window {
                    started: now,
                    failures: 0,
                };
            }
            entry.failures += 1;
        }
    }

    /// Clears the account's count after a successful sign-in.
    pub fn succeeded(&self, account: &str) {
        let mut counters = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        counters.windows.remove(&Self::account_key(account));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(per_account: u32, per_ip: u32) -> LoginThrottle {
        LoginThrottle::new(&ThrottleConfig {
            window_secs: 60,
            max_failures_per_account: per_account,
            max_failures_per_ip: per_ip,
            trust_forwarded_for: false,
        })
    }

    #[test]
    fn an_account_is_refused_after_its_limit_of_failures_whatever_the_address() {
        let t = throttle(3, 100);
        for i in 0..3 {
            t.check("ann@example.test", &format!("10.0.0.{i}")).unwrap();
            t.failed("ann@example.test", &format!("10.0.0.{i}"));
        }
        let refused = t.check("ANN@example.test", "10.9.9.9").unwrap_err();
        assert!(
            matches!(refused, Error::TooManyAttempts { retry_after_secs } if retry_after_secs <= 60)
        );
        t.check("bob@example.test", "10.9.9.9").unwrap();
    }

    #[test]
    fn an_address_is_refused_after_its_limit_of_failures_over_many_accounts() {
        let t = throttle(100, 3);
        for i in 0..3 {
            t.failed(&format!("user{i}@example.test"), "10.0.0.1");
        }
        assert!(t.check("fresh@example.test", "10.0.0.1").is_err());
        t.check("fresh@example.test", "10.0.0.2").unwrap();
    }

    #[test]
    fn a_success_clears_the_account_count() {
        let t = throttle(2, 100);
        t.failed("ann@example.test", "10.0.0.1");
        t.succeeded("ann@example.test");
        t.failed("ann@example.test", "10.0.0.1");
        t.check("ann@example.test", "10.0.0.1").unwrap();
    }
}
