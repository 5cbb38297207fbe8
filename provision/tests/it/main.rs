//! provision's integration tests: one test binary, one module per area.
//!
//! Tests that start their own server use `XSettings::from_env().local_only()` (or spell the
//! settings out), so they test the source they mean to even where `MONGODB_URI`,
//! `DATABASE_URL`, `REDIS_URL` or `STEPWISE_SERVICES` are set; the rest share one server per
//! service and process. The container tests use the images this repo builds; they are the
//! slow ones (a cold image build takes minutes, once).

mod child;
mod containers;
mod grpcurl;
mod mongo;
mod nginx;
mod policy;
mod postgres;
mod prerequisites;
mod process;
mod redis;
mod support;
mod watchdog;
