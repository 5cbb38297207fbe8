//! # Step 7: DevOps
//!
//! ## What this step adds
//! Step 6's service, ready to be run by an orchestrator:
//! - **Probes** ([`probes`]): `/healthz` says the process answers (liveness), `/readyz`
//!   says it should get traffic now (readiness: MongoDB and PostgreSQL reachable, every
//!   migration applied, step 6's workers running, not stopping). Redis and the read replica
//!   are reported `degraded` and leave it ready: the service works on without them.
//!   `/health` stays the report it was.
//! - **Graceful shutdown** ([`shutdown`]): on SIGTERM, `/readyz` fails at once, the server
//!   serves on for a drain delay while load balancers notice, then stops accepting, finishes
//!   the requests in flight, and lets the recovery worker, the outbox relay and the consumers
//!   finish their round, all within a deadline; exit 0 when nothing was cut off.
//!
//! ## Why
//! An orchestrator restarts what it thinks is dead and routes to what it thinks is ready; it
//! learns both from probes. One `/health` that fails when a database is down gets healthy
//! processes restarted during an outage (a restart cures nothing there) and, shared by
//! every instance, takes them all out at once. And it stops instances all the time (rolling
//! updates, scaling in): without a drain, each stop fails the requests in flight.
//! Rejected: exiting at once on SIGTERM and relying on step 6's recovery (correct, but every
//! deploy would turn into a crash test for the customers whose requests were cut off).
//!
//! ## How it plugs into step 6
//! [`AppState`] extends step 6's ([`common::step::Extends`]): the same parts, the state plus
//! the readiness checks, the routes plus the probes, and common's stop hooks
//! (`stopping_own`, `stopped_own`, `own_stop_deadline`), which every binary's `serve` calls
//! in order. Step 6 gained one seam for it: `Workers::stop`, which lets each worker end the
//! round it is in.
//!
//! ## Try it
//! ```text
//! cargo xtask step 7          # this crate's tests, the contract suites 0, 1, 2, 3, 5, 6, 7 and the hostile suites 0, 1, 2, 5, 6, 7
//! cargo xtask run 7           # as step 6, plus the probes
//! curl -i localhost:8080/readyz
//! ```
//!
//! ## Map of the crate
//! - [`config`]: step 6's config plus the `shutdown` section.
//! - [`probes`]: `/healthz`, `/readyz` and their checks.
//! - [`shutdown`]: what a SIGTERM sets off, stage by stage.
//! - [`startup`]: step 7's [`common::Step`]; [`cli`]: its binary; [`testing`]: its test
//!   configuration.
//!
//! ## Next
//! Step 8 (planned) takes the service to a cloud: configuration per provider, managed
//! databases over TLS, secrets from files, object storage.

pub mod cli;
pub mod config;
pub mod probes;
pub mod shutdown;
pub mod startup;
pub mod testing;

pub use config::Config;
pub use startup::AppState;
