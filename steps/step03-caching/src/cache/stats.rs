//! The cache's counters: monotonic `AtomicU64`s, cheap enough for every read, read as a
//! [`CacheCounters`] snapshot by `/internal/cache` now and exported as Prometheus counters by
//! step 9 (each field becomes `cache_<field>_total`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde::Serialize;

/// Shared counters (an `Arc` inside): the cache counts, the endpoint reads.
#[derive(Clone, Default)]
pub struct CacheStats(Arc<Inner>);

#[derive(Default)]
struct Inner {
    enabled: AtomicBool,
    hits: AtomicU64,
    stale_hits: AtomicU64,
    misses: AtomicU64,
    rebuilds: AtomicU64,
    waits: AtomicU64,
    invalidations: AtomicU64,
    bypassed: AtomicU64,
    errors: AtomicU64,
    decode_errors: AtomicU64,
    near_hits: AtomicU64,
    near_misses: AtomicU64,
    near_evictions: AtomicU64,
    near_invalidations: AtomicU64,
    near_flushes: AtomicU64,
}

/// A snapshot of the counters.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, Default)]
pub struct CacheCounters {
    /// Whether the cache is in front of the catalog at all (`cache.enabled`).
    pub enabled: bool,
    /// Fresh values served from Redis.
    pub hits: u64,
    /// Stale values served while another request rebuilt them.
    pub stale_hits: u64,
    /// Values not in Redis (or unreadable): read from MongoDB.
    pub misses: u64,
    /// Values read from MongoDB and written to Redis.
    pub rebuilds: u64,
    /// Requests that waited for another request's rebuild instead of reading MongoDB.
    pub waits: u64,
    /// Writes that bumped generation counters.
    pub invalidations: u64,
    /// Reads that skipped the cache because an invalidation has not reached Redis yet.
    pub bypassed: u64,
    /// Reads that could not ask Redis (down, slow, breaker open) and went to MongoDB.
    pub errors: u64,
    /// Entries that did not decode (another format, corruption): treated as misses.
    pub decode_errors: u64,
    /// Responses served from the near cache in this process, without asking Redis.
    pub near_hits: u64,
    /// Cacheable reads the near cache did not have (or could not serve: suspended), answered
    /// through Redis and stored near when they could be.
    pub near_misses: u64,
    /// Near entries dropped to keep within `cache.near.max_entries` / `max_bytes`.
    pub near_evictions: u64,
    /// Invalidations of generation counters the near cache applied (pushed by Redis, or this
    /// instance's own writes).
    pub near_invalidations: u64,
    /// Times the near cache dropped everything: its tracking connection was lost, came back,
    /// or Redis was flushed.
    pub near_flushes: u64,
}

macro_rules! adders {
    ($($name:ident => $field:ident),* $(,)?) => {
        $(pub(crate) fn $name(&self) {
            self.0.$field.fetch_add(1, Ordering::Relaxed);
        })*
    };
}

impl CacheStats {
    adders!(
        add_hit => hits,
        add_stale_hit => stale_hits,
        add_miss => misses,
        add_rebuild => rebuilds,
        add_wait => waits,
        add_invalidation => invalidations,
        add_bypassed => bypassed,
        add_error => errors,
        add_decode_error => decode_errors,
        add_near_hit => near_hits,
        add_near_miss => near_misses,
        add_near_eviction => near_evictions,
        add_near_invalidation => near_invalidations,
        add_near_flush => near_flushes,
    );

    pub(crate) fn set_enabled(&self, enabled: bool) {
        self.0.enabled.store(enabled, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> CacheCounters {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let i = &self.0;
        CacheCounters {
            enabled: i.enabled.load(Ordering::Relaxed),
            hits: load(&i.hits),
            stale_hits: load(&i.stale_hits),
            misses: load(&i.misses),
            rebuilds: load(&i.rebuilds),
            waits: load(&i.waits),
            invalidations: load(&i.invalidations),
            bypassed: load(&i.bypassed),
            errors: load(&i.errors),
            decode_errors: load(&i.decode_errors),
            near_hits: load(&i.near_hits),
            near_misses: load(&i.near_misses),
            near_evictions: load(&i.near_evictions),
            near_invalidations: load(&i.near_invalidations),
            near_flushes: load(&i.near_flushes),
        }
    }
}
