//! Test support shared by every crate of the workspace, and by `xtask`.
//!
//! - [`services`]: real backing services for tests and xtask (MongoDB, PostgreSQL, Redis):
//!   from an environment URL, a container (testcontainers, official or locally built images),
//!   or a local server, always owned and stopped by the harness.
//! - [`app`]: `spawn_app()`, a real server per test on port 0 with its own database and
//!   payment simulator, and a `TestApp` with one method per endpoint.
//! - [`cargo`]: a nested cargo without the running crate's variables, and the `xtask` binary.
pub mod app;
pub mod cargo;
pub mod services;

pub use app::{
    PlacedOrder, TestApp, expect_error, expect_status, spawn_app, spawn_app_with, unique_email,
};
