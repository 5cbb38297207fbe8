//! # Step 3: caching with Redis
//!
//! ## What this step adds
//! Step 2's service with Redis in front of the catalog:
//! - **Cache-aside** for product detail, listing pages (REST v1, v2 and GraphQL share one
//!   listing, so they share its cache) and reviews, as decorators over the store and search
//!   traits: no handler changed. TTLs with jitter; keys that carry every parameter of the
//!   answer (a hash of the canonical query) and the format version (`v1:`); values in a
//!   versioned envelope.
//! - **Invalidation across instances** through generation counters in keys: a write bumps a
//!   counter in Redis and every instance misses from then on. A writer reads its own write.
//! - **Stampede protection**: single-flight per instance, a short `SET NX PX` lock across
//!   instances, stale-while-revalidate for hot keys.
//! - **A near cache in the process** in front of Redis, for product detail and listing pages
//!   (REST v1 and v2): the encoded answer and its ETag, kept by moka, invalidated by Redis
//!   itself (`CLIENT TRACKING ... BCAST` pushes every changed generation counter), served only
//!   while a heartbeat proves those pushes arrive, so another instance's write is seen within
//!   `cache.near.max_staleness_ms`; `If-None-Match` gets 304.
//! - **Graceful degradation**: every Redis call is bounded by a short timeout behind a circuit
//!   breaker; with Redis down or hung, reads come from MongoDB and answer 200; when Redis
//!   returns, the connection manager reconnects and hits resume by themselves.
//! - **Token and session state in Redis**: the access-token deny list and revoked refresh
//!   families, shared by every instance (a logout holds everywhere at once), failing safe when
//!   Redis is away; **step 2's rate limits** counted in Redis by one GCRA Lua script.
//! - **Counters** (hits, misses, stale hits, rebuilds, waits, invalidations, errors, and the
//!   near cache's) at `GET /internal/cache`, shaped for step 9's Prometheus export.
//!
//! ## Why
//! The catalog is read far more than it is written, and every read was a MongoDB round trip
//! (a listing page, two: the page and its count). Redis serves those reads several times
//! faster (the chapter measures it) and is shared, so several instances can sit behind a load
//! balancer (step 4) and agree. A hit through Redis still costs a round trip, a script and a
//! decode and encode; the near cache saves all four on the hottest reads, and Redis's own
//! tracking keeps it honest. Rejected: pub/sub invalidation (a missed message leaves a stale
//! entry until its TTL; a counter cannot be missed, and tracking pushes come from the counter's
//! own `INCR`), the `redis` crate's client-side cache (it caches replies of plain `GET`s, not
//! our script, and would still decode every hit), deleting keys on write (it races with a
//! reader that read MongoDB before the write and writes after it).
//!
//! ## Try it
//! ```text
//! cargo xtask step 3          # this crate's tests, the contract suites 0-3 and the hostile suites 0-2
//! cargo xtask run 3           # MongoDB, Redis, the payments service, then the API
//! curl -s localhost:8080/internal/cache | jq     # then read a product twice and look again
//! redis-cli -p PORT MONITOR   # watch the lookups, SETs and INCRs go by (run 3 prints it)
//! ```
//!
//! ## Map of the crate
//! - [`config`]: step 2's config plus the `redis` and `cache` sections.
//! - [`redis_handle`]: the shared Redis handle: timeouts, breaker, counters.
//! - [`cache`]: cache-aside, generations, stampede protection, the store decorators; the near
//!   cache (`cache::near`), its tracking connection (`cache::tracking`) and its route layer
//!   with ETags (`cache::responses`).
//! - [`revocations`]: revoked sessions (the access-token deny list, revoked refresh
//!   families) in Redis, and why token checks fail safe.
//! - [`rate_limit`]: the rate limits of step 2, as one GCRA Lua script in Redis.
//! - [`routes`]: the `/internal/cache` counters.
//! - [`startup`]: step 3's [`common::Step`]: parts, state, routes, and the near cache's
//!   route layer inside step 2's layers.
//! - [`bench`]: the benchmark catalog; [`cli`]: its binary (`seed --products N`, and the
//!   commands of the steps before); [`testing`]: its test configuration (a key prefix of the
//!   test's own on a Redis), which later steps build on.
//!
//! ## Next
//! Step 4 (`steps/step04-optimize`) profiles the service under load, adds the indexes the
//! queries ask for, and runs several instances behind nginx, sharing this Redis.

pub mod bench;
pub mod cache;
pub mod cli;
pub mod config;
pub mod rate_limit;
pub mod redis_handle;
pub mod revocations;
pub mod routes;
pub mod startup;
pub mod testing;

pub use config::Config;
pub use startup::{AppState, Parts};
