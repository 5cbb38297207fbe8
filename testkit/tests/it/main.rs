//! testkit's integration tests: one test binary, one module per area.
//!
//! Tests that start their own server use `MongoSettings::from_env().local_only()`, so they test
//! local provisioning even where `MONGODB_URI` is set; the rest share one server per process.

mod child;
mod mongo;
mod prerequisites;
mod process;
mod watchdog;
