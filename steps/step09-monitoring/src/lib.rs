//! # Step 9: monitoring
//!
//! ## What this step adds
//! Step 8's service, measured and observable:
//! - **Metrics** ([`metrics`]): the RED metrics of every route (requests, errors, durations
//!   by matched route), requests in flight, every call to MongoDB, PostgreSQL, Redis and the
//!   payments service timed, pool saturation, both cache tiers, rate-limit refusals, sagas,
//!   the outbox and its dead letters, the replica's lag, and the business (orders, revenue,
//!   failed payments), on an admin listener of its own ([`admin`]), never the public port.
//! - **Logs that follow a request** ([`trace`]): JSON lines carrying the request id and the
//!   W3C trace id, passed on to the payments service in gRPC metadata and to the outbox's
//!   consumers in the events, so one order can be followed across all three.
//! - **Dashboards and alerts** (`docker/monitoring/`): Grafana dashboards generated from a
//!   typed model, Prometheus alert rules (SLO burn rates, stuck sagas, outbox lag, replica
//!   lag, Redis down) with unit tests, an Alertmanager route; all checked against a real
//!   Prometheus and Alertmanager by `tests/it/`.
//!
//! ## Why
//! Step 8's service runs where nobody watches it by hand: what it does (how fast, how often
//! it fails, for whom) must be measured by the service itself, in numbers a machine can
//! alert on, with few enough series that the monitoring costs less than the service. So
//! every label comes from a fixed set (the route's template, not its path); the alerts page
//! on the error budget's burn rate, not on a single slow minute; and the dashboards' queries
//! run in a test against the metrics the service really exports.
//! Rejected: OpenTelemetry's SDK for the metrics (a collector to run, and more to build, for
//! what one Prometheus scrape does); a global registry (two instances in one test process
//! would mix their numbers); per-id labels (unbounded series).
//!
//! ## How it plugs into step 8
//! [`AppState`] extends step 8's ([`common::step::Extends`]): its MongoDB options get the
//! driver's command and pool events (`tune_own_mongo`); its parts are step 8's with the
//! stores, the gateway and the order flow wrapped to time and count; Redis is timed through
//! step 3's handle's observer; its outer layer records every route; and the admin listener
//! is common's `Step::admin` seam, which `serve` binds beside the public port.
//!
//! ## Try it
//! ```text
//! cargo xtask step 9          # this crate's tests, the contract suites 0, 1, 2, 3, 5, 6, 7, 8 and the hostile suites 0, 1, 2, 5, 6, 7, 8
//! cargo xtask run 9           # as step 8, plus the admin listener and a Prometheus scraping it
//! curl -s localhost:9464/metrics | grep http_requests_total
//! ```
//!
//! ## Map of the crate
//! - [`config`]: step 8's config plus the `metrics` section.
//! - [`metrics`]: the registry and who records what; [`admin`]: `/metrics`.
//! - [`trace`]: the W3C trace context of every request; [`observe`]: the layer that serves it
//!   and the RED metrics.
//! - [`startup`]: step 9's [`common::Step`]; [`cli`]: its binary; [`testing`]: its test
//!   configuration.
//!
//! ## Next
//! Step 10 (planned) splits the shop into services behind a gateway.

pub mod admin;
pub mod cli;
pub mod config;
pub mod metrics;
pub mod observe;
pub mod startup;
pub mod testing;
pub mod trace;

pub use config::Config;
pub use startup::AppState;
