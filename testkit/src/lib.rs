//! Test support shared by every crate of the workspace, and by `xtask`.
//!
//! - [`services`]: real backing services for tests (MongoDB today; PostgreSQL and Redis
//!   later), taken from the environment or started locally and owned by the harness.
//! - [`app`]: `spawn_app()`, a real server per test on port 0 with its own database and
//!   payment simulator, and a `TestApp` with one method per endpoint.
pub mod app;
pub mod services;

pub use app::{
    PlacedOrder, TestApp, expect_error, expect_status, spawn_app, spawn_app_with, unique_email,
};
