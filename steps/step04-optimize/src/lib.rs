//! # Step 4: optimize
//!
//! ## What this step adds
//! Step 3's service, measured and made to scale out:
//! - **A yardstick**: `GET /internal/noop`, a reference endpoint that does no I/O and goes
//!   through every layer, so each figure of a load report reads as a share of what this HTTP
//!   stack can do on this machine; `cargo xtask load N` drives any step with a realistic task
//!   mix at a fixed arrival rate or flat out, and reports requests/s, p50/p90/p99/max and
//!   errors by status per endpoint (terminal table, JSON, a latency chart).
//! - **Query-driven indexes**: one MongoDB index per query the API issues (listing filters and
//!   sorts, reviews by product, orders by user, ...), created idempotently at startup or by
//!   `step04-optimize indexes`, with explain output and before/after load runs as evidence;
//!   the `-rating` sort reads a stored, indexed average instead of computing one per product
//!   per query, and page totals use the index-served `count` command.
//! - **Profiling**: `GET /internal/profile?seconds=N` samples the CPU in-process (pprof-rs, no
//!   `perf` needed) and answers a flamegraph SVG; `cargo xtask profile N` takes one during a
//!   load run. criterion benchmarks of the hot paths live in `benches/`.
//! - **Load balancing**: several instances behind nginx (`docker/nginx/`), sharing state in
//!   Redis, so a client may hit any instance and one may stop mid-run.
//!
//! ## Why
//! Optimising without numbers is guessing. The load generator gives every later step the same
//! yardstick, the reference endpoint tells a slow handler from a slow machine, the flamegraph
//! says where the time goes, and the indexes turn the collection scans it shows into index
//! lookups. Rejected: profiling with `perf` (needs kernel permissions a container rarely has),
//! measuring with a closed-loop tool alone (it hides queueing delay: coordinated omission).
//!
//! ## Try it
//! ```text
//! cargo xtask step 4          # this crate's tests, the contract suites 0-3 and the hostile suites 0-2
//! cargo xtask run 4           # MongoDB, Redis, the payments service, then the API
//! curl -s localhost:8080/internal/noop
//! cargo xtask load 4          # the report, in $CARGO_TARGET_DIR/reports/ (else target/)
//! ```
//!
//! ## Map of the crate
//! - [`config`]: step 3's config plus the `optimize` section.
//! - [`indexes`]: the query-driven index plan, and what the local stand-in cannot take.
//! - [`profiling`]: the CPU profile endpoint (flamegraph SVG).
//! - [`rating`]: the stored rating average the `-rating` sort reads.
//! - [`routes`]: the reference endpoint.
//! - [`large_catalog`]: the load runs' catalog (`seed --large`).
//! - [`startup`]: step 4's [`common::Step`]: parts, state, routes, layers; [`cli`]: its
//!   binary (`indexes`, `seed --large`, and the commands of the steps before); [`testing`]:
//!   its test configuration, which later steps build on.
//!
//! ## Next
//! Step 5 (planned, `steps/step05-...`) moves orders and payments to PostgreSQL, and measures
//! the change with this step's load generator.

pub mod cli;
pub mod config;
pub mod indexes;
pub mod large_catalog;
pub mod profiling;
pub mod rating;
pub mod routes;
pub mod startup;
pub mod testing;

pub use config::Config;
pub use startup::AppState;
