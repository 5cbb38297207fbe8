//! Test support shared by the step crates: the app harness, on top of the provisioning layer.
//!
//! - [`app`]: `spawn_app()`, a real server per test on port 0 with its own database and
//!   payment simulator, and a `TestApp` with one method per endpoint.
//! - [`services`]: the `provision` crate, re-exported: real backing services (MongoDB,
//!   PostgreSQL, Redis, nginx) from an environment URL, a container or a local server,
//!   always owned and stopped by the harness. It knows nothing of the shop, so xtask uses it
//!   without building the product.
//! - [`cargo`]: `provision::cargo`, a nested cargo without the running crate's variables, and
//!   the `xtask` binary.
pub mod app;

pub use provision as services;
pub use provision::cargo;

pub use app::{
    PlacedOrder, TestApp, expect_error, expect_status, spawn_app, spawn_app_with, unique_email,
};
