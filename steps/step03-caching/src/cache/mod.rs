//! The catalog cache: cache-aside in Redis for product detail, listing pages and reviews, with
//! invalidation that holds across every app instance sharing the Redis, stampede protection,
//! and reads that fall back to MongoDB whenever Redis fails.
//!
//! **Invalidation: generation counters in keys.** Every cached value depends on a generation
//! counter: `gen:product:<id>` (detail), `gen:catalog` (every listing page: any product write
//! can move any page), `gen:reviews` (review lists; review writes are rare and a delete does
//! not name its product). A value lives at `<key>:g<generation>`. A write changes MongoDB, then
//! `INCR`s the counters it affects; from then on every instance reads the new generation and
//! misses. Nothing needs to reach every instance (pub/sub would, and a lost message would mean
//! a stale entry until its TTL); old entries simply expire. And it closes the classic
//! cache-aside race: a reader reads the generation *before* MongoDB, in the same round trip as
//! the value (one Lua script), so a value computed from a read that preceded a write is
//! stored under the old generation, where nobody looks any more. A writer reads its own write:
//! its `INCR` is done before its response leaves.
//!
//! **When an invalidation cannot reach Redis**, the write still succeeds (MongoDB has it); the
//! counters to bump are kept and retried in the background, and until they are bumped this
//! instance reads around the cache (counted as `bypassed`). Another instance that still
//! reaches Redis may serve the old value meanwhile, for at most `ttl_secs` (+`stale_secs`):
//! the honest bound of a cache without a consensus protocol.
//!
//! **Stampedes.** An entry is fresh for `ttl_secs` minus up to `jitter_percent`, then stale
//! for `stale_secs` before Redis drops it. A stale hit takes the key's rebuild lock
//! (`SET NX PX`); the request that gets it rebuilds, the others are served the stale value. A
//! miss goes through single-flight: one load per key per instance, the other requests of that
//! instance wait for it; the loader takes the Redis lock, and a loader on another instance
//! that does not get it polls for the value for up to `lock_wait_ms` before reading MongoDB
//! itself. Batch reads (`get_many`, the GraphQL review loader) are cached per item without
//! single-flight: their keys are many and cold, not few and hot.
//!
//! Teaching shortcut: the Lua script reads keys it was not passed in `KEYS` (the value key is
//! derived from the generation), which Redis Cluster forbids; a cluster deployment would
//! put an entry and its counter in one hash slot (`{product:<id>}`) and pass both.

mod codec;
pub mod near;
pub mod responses;
mod stats;
mod stores;
pub mod tracking;

use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::store::StoreResult;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use rand::Rng;
use tokio::sync::oneshot;

pub use codec::{Cacheable, FORMAT};
pub use near::NearCache;
pub use responses::ResponseCache;
pub use stats::{CacheCounters, CacheStats};
pub use stores::{CachedProducts, CachedReviews, CachedSearch, listing_key};

use crate::config::CacheConfig;
use crate::redis_handle::RedisHandle;

/// Reads the generation of each entry and the value stored under it, in one round trip.
/// `KEYS[i]` is entry i's counter, `ARGV[i]` its base key; the reply alternates generation
/// and value (nil when absent).
const LOOKUP: &str = r"
local out = {}
for i = 1, #KEYS do
  local gen = redis.call('GET', KEYS[i]) or '0'
  out[2 * i - 1] = gen
  out[2 * i] = redis.call('GET', ARGV[i] .. ':g' .. gen) or false
end
return out
";

/// Deletes a lock only if we still hold it (it may have expired and been taken by another).
const UNLOCK: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// How often a request that waits for another instance's rebuild looks for the value.
const WAIT_POLL: Duration = Duration::from_millis(20);

/// One cached value: the counter it depends on and its key without the generation.
#[derive(Debug, Clone)]
pub struct Entry {
    pub gen_key: String,
    pub base_key: String,
}

/// What a lookup found for one entry.
struct Found {
    generation: String,
    bytes: Option<Vec<u8>>,
}

impl Found {
    fn value_key(&self, entry: &Entry) -> String {
        format!("{}:g{}", entry.base_key, self.generation)
    }
}

type Flight = Shared<oneshot::Receiver<Arc<dyn Any + Send + Sync>>>;

/// The cache. Cheap to clone; the decorators in [`stores`] hold one each.
#[derive(Clone)]
pub struct CatalogCache {
    inner: Arc<Inner>,
}

struct Inner {
    redis: RedisHandle,
    /// `<key_prefix>v<FORMAT>:`, before every key.
    prefix: String,
    ttl: Duration,
    jitter_percent: u8,
    stale: Duration,
    lock_ttl: Duration,
    lock_wait: Duration,
    retry_after: Duration,
    stats: CacheStats,
    lookup: redis::Script,
    unlock: redis::Script,
    /// Loads in progress on this instance, by value key: the single-flight table.
    flights: Mutex<HashMap<String, Flight>>,
    /// Counters whose `INCR` failed, to retry; while any is here, reads bypass the cache.
    pending: Mutex<HashSet<String>>,
    /// Whether the retry task runs.
    retrying: AtomicBool,
    /// The near cache in front of this one, told of this instance's writes at once.
    near: Option<NearCache>,
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl CatalogCache {
    pub fn new(
        redis: RedisHandle,
        config: &CacheConfig,
        stats: CacheStats,
        near: Option<NearCache>,
    ) -> Self {
        stats.set_enabled(true);
        Self {
            inner: Arc::new(Inner {
                redis,
                prefix: format!("{}v{FORMAT}:", config.key_prefix),
                ttl: Duration::from_secs(config.ttl_secs),
                jitter_percent: config.jitter_percent,
                stale: Duration::from_secs(config.stale_secs),
                lock_ttl: Duration::from_millis(config.lock_ttl_ms),
                lock_wait: Duration::from_millis(config.lock_wait_ms),
                retry_after: Duration::from_millis(200),
                stats,
                lookup: redis::Script::new(LOOKUP),
                unlock: redis::Script::new(UNLOCK),
                flights: Mutex::new(HashMap::new()),
                pending: Mutex::new(HashSet::new()),
                retrying: AtomicBool::new(false),
                near,
            }),
        }
    }

    /// Puts the cache in front of the catalog's stores and the listing search.
    pub fn wrap(&self, parts: &mut step02_apis::Parts) {
        parts.stores.products = Arc::new(CachedProducts::new(
            parts.stores.products.clone(),
            self.clone(),
        ));
        parts.stores.reviews = Arc::new(CachedReviews::new(
            parts.stores.reviews.clone(),
            self.clone(),
        ));
        parts.search = Arc::new(CachedSearch::new(parts.search.clone(), self.clone()));
    }

    pub fn stats(&self) -> &CacheStats {
        &self.inner.stats
    }

    /// `name` under the prefix and format version.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.inner.prefix)
    }

    pub fn product_gen(&self, id: &impl std::fmt::Display) -> String {
        self.key(&format!("gen:product:{id}"))
    }

    pub fn catalog_gen(&self) -> String {
        self.key("gen:catalog")
    }

    pub fn reviews_gen(&self) -> String {
        self.key("gen:reviews")
    }

    /// A fresh-for duration with jitter, and the hard TTL Redis keeps the entry for.
    fn lifetimes(&self) -> (Duration, Duration) {
        let inner = &self.inner;
        let cut = if inner.jitter_percent == 0 {
            0.0
        } else {
            rand::rng().random_range(0.0..f64::from(inner.jitter_percent) / 100.0)
        };
        let fresh = inner.ttl.mul_f64(1.0 - cut).max(Duration::from_millis(1));
        (fresh, fresh + inner.stale)
    }

    /// The prefix of every generation counter, which the near cache tracks.
    pub fn gen_prefix(&self) -> String {
        self.key("gen:")
    }

    /// Whether reads skip the cache: an invalidation of this instance has not reached Redis.
    pub(crate) fn bypassing(&self) -> bool {
        !self.inner.pending.lock().expect("not poisoned").is_empty()
    }

    async fn lookup(&self, entries: &[Entry]) -> Option<Vec<Found>> {
        let mut invocation = self.inner.lookup.prepare_invoke();
        for entry in entries {
            invocation.key(&entry.gen_key).arg(&entry.base_key);
        }
        let reply: Vec<Option<Vec<u8>>> = self
            .inner
            .redis
            .script("cache lookup", &invocation)
            .await
            .ok()?;
        if reply.len() != entries.len() * 2 {
            return None;
        }
        let mut found = Vec::with_capacity(entries.len());
        let mut reply = reply.into_iter();
        while let (Some(generation), Some(bytes)) = (reply.next(), reply.next()) {
            found.push(Found {
                generation: String::from_utf8(generation?).ok()?,
                bytes,
            });
        }
        Some(found)
    }

    /// Decodes an entry; a malformed one is counted and treated as absent.
    fn decode<T: Cacheable>(&self, bytes: Option<&[u8]>) -> Option<(T, bool)> {
        let bytes = bytes?;
        let decoded = codec::decode::<T::Wire>(bytes)
            .and_then(|d| T::from_wire(d.value).map(|v| (v, d.fresh_until_ms)));
        match decoded {
            Some((value, fresh_until)) => Some((value, fresh_until > unix_ms())),
            None => {
                self.inner.stats.add_decode_error();
                None
            }
        }
    }

    async fn store_values(&self, values: Vec<(String, Vec<u8>, Duration)>) {
        if values.is_empty() {
            return;
        }
        let mut pipe = redis::pipe();
        for (key, bytes, hard) in &values {
            pipe.cmd("SET")
                .arg(key)
                .arg(bytes.as_slice())
                .arg("PX")
                .arg(hard.as_millis() as u64)
                .ignore();
        }
        // A failed write only costs a later miss.
        let _: Result<(), _> = self.inner.redis.pipeline("cache store", &pipe).await;
    }

    fn encode<T: Cacheable>(&self, value: &T) -> (Vec<u8>, Duration) {
        let (fresh, hard) = self.lifetimes();
        let fresh_until = unix_ms() + u64::try_from(fresh.as_millis()).unwrap_or(u64::MAX / 2);
        (codec::encode(&value.to_wire(), fresh_until), hard)
    }

    async fn try_lock(&self, value_key: &str) -> Option<String> {
        let token = format!("{:032x}", rand::random::<u128>());
        let set: Option<String> = self
            .inner
            .redis
            .query(
                "cache lock",
                redis::cmd("SET")
                    .arg(format!("{value_key}:lock"))
                    .arg(&token)
                    .arg("NX")
                    .arg("PX")
                    .arg(self.inner.lock_ttl.as_millis() as u64),
            )
            .await
            .ok()?;
        set.map(|_| token)
    }

    async fn unlock(&self, value_key: &str, token: &str) {
        let mut invocation = self.inner.unlock.prepare_invoke();
        invocation.key(format!("{value_key}:lock")).arg(token);
        let _: Result<i64, _> = self.inner.redis.script("cache unlock", &invocation).await;
    }

    /// Loads through `load`, stores the result under `value_key`, returns it.
    async fn rebuild<T, F>(&self, value_key: &str, load: F) -> StoreResult<T>
    where
        T: Cacheable,
        F: Future<Output = StoreResult<T>>,
    {
        self.inner.stats.add_rebuild();
        let value = load.await?;
        let (bytes, hard) = self.encode(&value);
        self.store_values(vec![(value_key.to_owned(), bytes, hard)])
            .await;
        Ok(value)
    }

    /// Cache-aside for one entry, with stale-while-revalidate and single-flight.
    pub async fn get_or_load<T, F>(&self, entry: Entry, load: F) -> StoreResult<T>
    where
        T: Cacheable + Clone + Send + Sync + 'static,
        F: FnOnce() -> BoxFuture<'static, StoreResult<T>>,
    {
        let stats = &self.inner.stats;
        if self.bypassing() {
            stats.add_bypassed();
            return load().await;
        }
        let Some(found) = self
            .lookup(std::slice::from_ref(&entry))
            .await
            .and_then(|mut f| f.pop())
        else {
            stats.add_error();
            return load().await;
        };
        let value_key = found.value_key(&entry);
        match self.decode::<T>(found.bytes.as_deref()) {
            Some((value, true)) => {
                stats.add_hit();
                Ok(value)
            }
            Some((stale, false)) => match self.try_lock(&value_key).await {
                Some(token) => {
                    let fresh = self.rebuild(&value_key, load()).await;
                    self.unlock(&value_key, &token).await;
                    // MongoDB failing now is no reason to fail a read we can still answer.
                    Ok(fresh.unwrap_or(stale))
                }
                None => {
                    stats.add_stale_hit();
                    Ok(stale)
                }
            },
            None => {
                stats.add_miss();
                self.single_flight(value_key, load).await
            }
        }
    }

    /// One load per key on this instance: the first request (the leader) loads, the others
    /// wait for its value, or load themselves if it fails.
    async fn single_flight<T, F>(&self, value_key: String, load: F) -> StoreResult<T>
    where
        T: Cacheable + Clone + Send + Sync + 'static,
        F: FnOnce() -> BoxFuture<'static, StoreResult<T>>,
    {
        let (leader, flight) = {
            let mut flights = self.inner.flights.lock().expect("not poisoned");
            match flights.get(&value_key) {
                Some(flight) => (None, flight.clone()),
                None => {
                    let (tx, rx) = oneshot::channel();
                    let flight = rx.shared();
                    flights.insert(value_key.clone(), flight.clone());
                    (Some(tx), flight)
                }
            }
        };
        let Some(tx) = leader else {
            if let Ok(value) = flight.await
                && let Some(value) = value.downcast_ref::<T>()
            {
                self.inner.stats.add_wait();
                return Ok(value.clone());
            }
            return load().await;
        };
        // Removes the flight however the leader ends (even if its request is dropped), so a
        // later miss starts a new one.
        struct Landing<'a>(&'a Inner, &'a str);
        impl Drop for Landing<'_> {
            fn drop(&mut self) {
                self.0.flights.lock().expect("not poisoned").remove(self.1);
            }
        }
        let landing = Landing(&self.inner, &value_key);
        let result = self.load_across_instances(&value_key, load).await;
        drop(landing);
        if let Ok(value) = &result {
            let _ = tx.send(Arc::new(value.clone()));
        }
        result
    }

    /// The leader's load: with the Redis lock, or after waiting for the instance that has it.
    async fn load_across_instances<T, F>(&self, value_key: &str, load: F) -> StoreResult<T>
    where
        T: Cacheable + Clone + Send + Sync + 'static,
        F: FnOnce() -> BoxFuture<'static, StoreResult<T>>,
    {
        if let Some(token) = self.try_lock(value_key).await {
            let result = self.rebuild(value_key, load()).await;
            self.unlock(value_key, &token).await;
            return result;
        }
        // Another instance rebuilds (or Redis failed: then the wait ends at once).
        let deadline = tokio::time::Instant::now() + self.inner.lock_wait;
        while self.inner.redis.is_open() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(WAIT_POLL).await;
            let bytes: Option<Vec<u8>> = self
                .inner
                .redis
                .query("cache wait", redis::cmd("GET").arg(value_key))
                .await
                .ok()
                .flatten();
            if let Some((value, _)) = self.decode::<T>(bytes.as_deref()) {
                self.inner.stats.add_wait();
                return Ok(value);
            }
        }
        self.rebuild(value_key, load()).await
    }

    /// Cache-aside for many entries in one round trip each way; the misses are loaded by one
    /// call to `load` with their indexes, which returns one value per index asked.
    pub async fn get_many_or_load<T, F, Fut>(
        &self,
        entries: &[Entry],
        load: F,
    ) -> StoreResult<Vec<T>>
    where
        T: Cacheable,
        F: FnOnce(Vec<usize>) -> Fut,
        Fut: Future<Output = StoreResult<Vec<T>>>,
    {
        let stats = &self.inner.stats;
        let all: Vec<usize> = (0..entries.len()).collect();
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        if self.bypassing() {
            stats.add_bypassed();
            return load(all).await;
        }
        let Some(found) = self.lookup(entries).await else {
            stats.add_error();
            return load(all).await;
        };
        let mut values: Vec<Option<T>> = Vec::with_capacity(entries.len());
        let mut missing = Vec::new();
        for (index, f) in found.iter().enumerate() {
            // Batch items are served only while fresh: a stale one is simply reloaded.
            match self.decode::<T>(f.bytes.as_deref()) {
                Some((value, true)) => {
                    stats.add_hit();
                    values.push(Some(value));
                }
                _ => {
                    stats.add_miss();
                    values.push(None);
                    missing.push(index);
                }
            }
        }
        if !missing.is_empty() {
            let loaded = load(missing.clone()).await?;
            let mut writes = Vec::with_capacity(loaded.len());
            for (index, value) in missing.into_iter().zip(loaded) {
                let (bytes, hard) = self.encode(&value);
                writes.push((found[index].value_key(&entries[index]), bytes, hard));
                values[index] = Some(value);
            }
            self.store_values(writes).await;
        }
        values
            .into_iter()
            .map(|v| {
                v.ok_or_else(|| {
                    common::store::StoreError::Other(anyhow::anyhow!(
                        "the batch load returned fewer values than asked"
                    ))
                })
            })
            .collect()
    }

    /// Bumps the generation counters `gen_keys` after a write. Never fails: what cannot reach
    /// Redis now is retried in the background, and reads bypass the cache until it has.
    pub async fn invalidate(&self, gen_keys: Vec<String>) {
        self.inner.stats.add_invalidation();
        self.invalidate_near(&gen_keys);
        if self.incr(&gen_keys).await {
            // Again now that Redis has it: a read of this instance that looked up the old
            // generation before the INCR may have filled the near cache meanwhile.
            self.invalidate_near(&gen_keys);
            return;
        }
        self.inner
            .pending
            .lock()
            .expect("not poisoned")
            .extend(gen_keys);
        if !self.inner.retrying.swap(true, AtomicOrdering::SeqCst) {
            let cache = self.clone();
            tokio::spawn(async move { cache.retry_pending().await });
        }
    }

    fn invalidate_near(&self, gen_keys: &[String]) {
        if let Some(near) = &self.inner.near {
            near.invalidate(gen_keys.iter().map(String::as_str));
        }
    }

    async fn incr(&self, gen_keys: &[String]) -> bool {
        let mut pipe = redis::pipe();
        for key in gen_keys {
            pipe.cmd("INCR").arg(key).ignore();
        }
        self.inner
            .redis
            .pipeline::<()>("cache invalidate", &pipe)
            .await
            .is_ok()
    }

    async fn retry_pending(&self) {
        loop {
            tokio::time::sleep(self.inner.retry_after).await;
            let keys: Vec<String> = self
                .inner
                .pending
                .lock()
                .expect("not poisoned")
                .iter()
                .cloned()
                .collect();
            if !keys.is_empty() && self.incr(&keys).await {
                self.invalidate_near(&keys);
                let mut pending = self.inner.pending.lock().expect("not poisoned");
                for key in &keys {
                    pending.remove(key);
                }
            }
            let mut pending = self.inner.pending.lock().expect("not poisoned");
            if pending.is_empty() {
                self.inner.retrying.store(false, AtomicOrdering::SeqCst);
                pending.shrink_to_fit();
                return;
            }
        }
    }
}
