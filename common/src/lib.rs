//! # Step 0: the baseline monolith
//!
//! ## What this is
//! The starting point of the roadmap, rebuilt in Rust: one axum service in front of one MongoDB
//! database, selling products. Customers register and sign in (bcrypt password hashes, an
//! HS256 JWT), browse and review products, place orders and pay them through an external card
//! payment provider over HTTP; admins manage the catalog and ship or cancel orders.
//!
//! ## Why it looks like this
//! It is deliberately the "typical first version" that the later steps improve: one long-lived
//! token, bcrypt, no cache, no query indexes, one database for everything, stock taken with
//! compensation rather than a saga. It is still *correct*: every input is validated, every
//! error has one JSON shape, stock cannot go negative under concurrency, a payment retry
//! cannot charge twice. The seams later steps plug into are named where they sit: the store
//! traits ([`store`]), the payment gateway ([`payments::PaymentGateway`]), the token verifier
//! ([`auth::TokenVerifier`]), the generic routers ([`routes`]) and [`startup::with_layers`].
//! How every later step plugs in is the same for all of them: [`Step`] and
//! [`config::StepConfig`], implemented here for step 0 (`docs/architecture.md`).
//!
//! ## Try it
//! ```text
//! cargo xtask run 0                                   # MongoDB, the payment simulator, demo data
//! curl -s localhost:8080/api/v1/products?limit=3 | jq
//! ```
//! `cargo xtask step 0` runs this crate's tests, the contract suite 0 and the hostile suite 0. The
//! chapter is `docs/00-baseline.md`.
//!
//! ## Map of the crate
//! - [`config`]: layered configuration (defaults, `shop.toml`, `APP__*` variables).
//! - [`domain`]: ids, money, emails, SKUs, ratings, the order status machine.
//! - [`store`]: repository traits and their MongoDB implementations.
//! - [`services`]: accounts, catalog, ordering, health: what the shop does.
//! - [`payments`]: the payment provider client.
//! - [`auth`]: password hashing, tokens, the `AuthUser` / `AdminUser` extractors.
//! - [`routes`], [`extract`], [`error`]: the HTTP surface and its one error shape; [`openapi`]:
//!   that shape in the OpenAPI document step 2 serves.
//! - [`step`]: the seams every step exposes ([`Step`]); [`startup`]: step 0's state and the
//!   layers every step serves with; [`serve`]: the connections every step serves, with their
//!   timeouts and cap; [`telemetry`], [`seed`]: logs, demo data; [`trace`]: the W3C trace
//!   context the logs carry beside the request id.
//! - [`cli`]: the binary every step ships (`serve`, `create-admin`, `seed`, and its own).
//! - [`testing`]: how a step makes its test configuration, for the harness in `testkit`.
//!
//! ## Next
//! Step 1 (`steps/step01-security`) hardens authentication: short-lived access tokens with
//! rotating refresh tokens, Google sign-in, field encryption, argon2id.

pub mod auth;
pub mod cli;
pub mod config;
pub mod domain;
pub mod error;
pub mod extract;
pub mod openapi;
pub mod payments;
pub mod routes;
pub mod seed;
pub mod serve;
pub mod services;
pub mod startup;
pub mod step;
pub mod store;
pub mod telemetry;
pub mod testing;
pub mod trace;

pub use config::{Config, StepConfig};
pub use error::{Error, Result};
pub use startup::{AppState, Application};
pub use step::Step;
