//! The near cache: encoded responses in this process, in front of Redis, kept honest by Redis.
//!
//! **What it holds.** The bytes of a cacheable answer (product detail and listing pages, see
//! [`super::responses`]) with its headers and ETag, under the request's path and query: a hit
//! is a map lookup and a write of bytes, with no Redis round trip, no Lua, no decode and no
//! serialisation. Each entry depends on one of the generation counters the Redis tier already
//! keeps (`gen:product:<id>` for a detail, `gen:catalog` for a listing page).
//!
//! **How it hears of writes.** A writer `INCR`s those counters (see [`super::CatalogCache`]).
//! Every instance keeps one RESP3 connection with `CLIENT TRACKING ON BCAST PREFIX
//! <prefix>gen:` ([`super::tracking`]): Redis itself pushes the name of every counter that
//! changes to every instance, whoever changed it. A writer also applies its own invalidation
//! here as soon as its `INCR` is done, so it reads its own write at once.
//!
//! **Why a fill can never outlive a write it missed.** Fills and invalidations draw numbers
//! from one sequence: a fill takes its ticket *before* the read that produced the answer, an
//! invalidation records the number it drew for its counter. An entry is valid while its
//! ticket is larger than the last invalidation of its counter (and than the last flush). A
//! read that began before a write's invalidation arrived either finished before it (the
//! entry is stored, then invalidated) or after (its ticket is smaller: it is refused or
//! dropped on first use).
//!
//! **The staleness bound, and Redis going away.** Pushes arrive on one connection in the
//! order Redis sent them, and a `PING`'s answer arrives after every push sent before it.
//! The tracking task pings every `heartbeat_ms`; when an answer comes back, every write Redis
//! applied before the ping was sent has been applied here. Entries are served only while the
//! last answered ping was sent less than `max_staleness_ms` ago: another instance's write is
//! seen within that bound, whatever happens to the connection. When the connection drops, or
//! pings stop coming back (Redis down, hung, or partitioned away), the near cache stops
//! serving within the bound and drops every entry; reads go to Redis or, without it, to
//! MongoDB. When tracking is back on a new connection, the cache is flushed once more and
//! fills again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue};
use headers::ETag;
use moka::notification::RemovalCause;
use sha2::{Digest, Sha256};

use super::CacheStats;
use crate::config::NearConfig;

/// The largest single entry, as a share of `max_bytes`: one huge answer must not evict all
/// the others.
const LARGEST_ENTRY_SHARE: u64 = 8;

/// One encoded answer and what it depends on.
pub struct NearEntry {
    /// The generation counter (full Redis key) whose change makes this entry stale.
    depends_on: String,
    /// The sequence number drawn before the read that produced it.
    ticket: u64,
    /// The handler's headers (content type and any others), without `content-length`.
    pub headers: HeaderMap,
    pub body: Bytes,
    pub etag: ETag,
    /// `etag` as a header value, made once at fill.
    pub etag_value: HeaderValue,
}

impl NearEntry {
    /// An entry for `body`, with a strong ETag of its bytes (the first 128 bits of SHA-256).
    pub fn new(depends_on: String, ticket: u64, headers: HeaderMap, body: Bytes) -> Self {
        let digest = Sha256::digest(&body);
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        let text = format!("\"{hex}\"");
        let etag = text.parse().expect("a quoted hex string is an ETag");
        let etag_value = HeaderValue::from_str(&text).expect("hex is a valid header value");
        Self {
            depends_on,
            ticket,
            headers,
            body,
            etag,
            etag_value,
        }
    }

    fn weight(&self) -> u64 {
        let headers: usize = self
            .headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len())
            .sum();
        (self.body.len() + headers + self.depends_on.len()) as u64
    }
}

/// A [`NearCache`] that may be gone.
#[derive(Clone)]
pub(super) struct WeakNear(std::sync::Weak<Inner>);

impl WeakNear {
    pub(super) fn upgrade(&self) -> Option<NearCache> {
        self.0.upgrade().map(|inner| NearCache { inner })
    }
}

/// The near cache. Cheap to clone.
#[derive(Clone)]
pub struct NearCache {
    inner: Arc<Inner>,
}

struct Inner {
    entries: moka::sync::Cache<String, Arc<NearEntry>>,
    /// Where fills take their tickets and invalidations their numbers.
    sequence: AtomicU64,
    /// The number of the last invalidation of each counter (full Redis key).
    invalidated: RwLock<HashMap<String, u64>>,
    /// Entries with a ticket at or below this are invalid: the last flush.
    floor: AtomicU64,
    /// `invalidated` is cleared (by a flush) beyond this many counters, so it stays bounded.
    max_counters: usize,
    /// When the cache was made: times below are milliseconds since then.
    epoch: Instant,
    /// When the last ping that came back was sent (ms since `epoch`, +1); 0: not serving.
    confirmed_ms: AtomicU64,
    max_staleness_ms: u64,
    largest_entry: u64,
    stats: CacheStats,
}

impl NearCache {
    pub fn new(config: &NearConfig, stats: CacheStats) -> Self {
        // Each entry weighs at least max_bytes / max_entries: the total weight bound then
        // keeps both the bytes and the number of entries within theirs.
        let floor_weight = (config.max_bytes / config.max_entries).max(1);
        let evictions = stats.clone();
        let entries = moka::sync::Cache::builder()
            .max_capacity(config.max_bytes)
            .weigher(move |_key: &String, entry: &Arc<NearEntry>| {
                u32::try_from(entry.weight().max(floor_weight)).unwrap_or(u32::MAX)
            })
            .time_to_live(Duration::from_millis(config.ttl_ms))
            .eviction_listener(move |_key, _entry, cause| {
                if cause == RemovalCause::Size {
                    evictions.add_near_eviction();
                }
            })
            .build();
        Self {
            inner: Arc::new(Inner {
                entries,
                sequence: AtomicU64::new(0),
                invalidated: RwLock::new(HashMap::new()),
                floor: AtomicU64::new(0),
                max_counters: usize::try_from(config.max_entries.saturating_mul(4))
                    .unwrap_or(usize::MAX)
                    .max(1024),
                epoch: Instant::now(),
                confirmed_ms: AtomicU64::new(0),
                max_staleness_ms: config.max_staleness_ms,
                largest_entry: (config.max_bytes / LARGEST_ENTRY_SHARE).min(u64::from(u32::MAX)),
                stats,
            }),
        }
    }

    /// A handle that does not keep the cache alive, for its background task.
    pub(super) fn downgrade(&self) -> WeakNear {
        WeakNear(Arc::downgrade(&self.inner))
    }

    pub(crate) fn stats(&self) -> &CacheStats {
        &self.inner.stats
    }

    /// Milliseconds since the cache was made: the clock of [`NearCache::confirm`] and of the
    /// serving check.
    pub(crate) fn clock(&self) -> u64 {
        u64::try_from(self.inner.epoch.elapsed().as_millis()).unwrap_or(u64::MAX / 2)
    }

    /// Whether entries may be served now: a heartbeat sent within the bound came back.
    pub fn is_serving(&self) -> bool {
        match self.inner.confirmed_ms.load(Ordering::Acquire) {
            0 => false,
            confirmed => self.clock() < confirmed - 1 + self.inner.max_staleness_ms,
        }
    }

    /// The number a fill takes before the read whose answer it stores.
    pub fn ticket(&self) -> u64 {
        self.inner.sequence.fetch_add(1, Ordering::AcqRel) + 1
    }

    fn is_valid(&self, entry: &NearEntry) -> bool {
        if entry.ticket <= self.inner.floor.load(Ordering::Acquire) {
            return false;
        }
        let invalidated = self.inner.invalidated.read().expect("not poisoned");
        invalidated
            .get(&entry.depends_on)
            .is_none_or(|&number| entry.ticket > number)
    }

    /// The entry under `key`, if the cache is serving and it is still valid.
    pub fn get(&self, key: &str) -> Option<Arc<NearEntry>> {
        if !self.is_serving() {
            return None;
        }
        let entry = self.inner.entries.get(key)?;
        if self.is_valid(&entry) {
            Some(entry)
        } else {
            self.inner.entries.invalidate(key);
            None
        }
    }

    /// Stores `entry` under `key`, unless the cache is not serving, the entry is already
    /// invalid (a write arrived during its read) or too large.
    pub fn insert(&self, key: String, entry: NearEntry) {
        if !self.is_serving() || entry.weight() > self.inner.largest_entry || !self.is_valid(&entry)
        {
            return;
        }
        self.inner.entries.insert(key, Arc::new(entry));
    }

    /// The counters `gen_keys` changed: every entry depending on one of them is invalid.
    pub fn invalidate<'a>(&self, gen_keys: impl IntoIterator<Item = &'a str>) {
        let number = self.ticket();
        let mut invalidated = self.inner.invalidated.write().expect("not poisoned");
        for key in gen_keys {
            self.inner.stats.add_near_invalidation();
            invalidated.insert(key.to_owned(), number);
        }
        if invalidated.len() > self.inner.max_counters {
            drop(invalidated);
            self.flush();
        }
    }

    /// Every entry is invalid from now on.
    pub fn flush(&self) {
        let number = self.ticket();
        self.inner.floor.fetch_max(number, Ordering::AcqRel);
        self.inner
            .invalidated
            .write()
            .expect("not poisoned")
            .clear();
        self.inner.entries.invalidate_all();
        self.inner.stats.add_near_flush();
    }

    /// Stops serving at once and drops everything: invalidations may be lost from now on.
    pub(crate) fn suspend(&self) {
        if self.inner.confirmed_ms.swap(0, Ordering::AcqRel) != 0 {
            self.flush();
        }
    }

    /// A ping sent at `sent` (from [`NearCache::clock`]) came back after every push before it
    /// was applied: serve for `max_staleness_ms` from `sent`.
    pub(crate) fn confirm(&self, sent: u64) {
        self.inner
            .confirmed_ms
            .fetch_max(sent + 1, Ordering::AcqRel);
    }

    /// How many entries and bytes (weight) are held, for `/internal/cache`.
    pub fn size(&self) -> (u64, u64) {
        self.inner.entries.run_pending_tasks();
        (
            self.inner.entries.entry_count(),
            self.inner.entries.weighted_size(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serving(config: &NearConfig) -> NearCache {
        let near = NearCache::new(config, CacheStats::default());
        near.confirm(near.clock());
        near
    }

    fn entry(near: &NearCache, depends_on: &str, body: &'static str) -> NearEntry {
        NearEntry::new(
            depends_on.to_owned(),
            near.ticket(),
            HeaderMap::new(),
            Bytes::from_static(body.as_bytes()),
        )
    }

    #[test]
    fn an_entry_is_served_until_its_counter_is_invalidated() {
        let config = NearConfig {
            max_entries: 5,
            max_bytes: 64 * 1024,
            ..NearConfig::default()
        };
        let near = serving(&config);
        near.insert("a".into(), entry(&near, "gen:1", "one"));
        assert_eq!(near.size().0, 1);
        assert!(near.get("a").is_some());
        near.invalidate(["gen:2"]);
        assert!(near.get("a").is_some(), "another counter");
        near.invalidate(["gen:1"]);
        assert!(near.get("a").is_none());
    }
}
