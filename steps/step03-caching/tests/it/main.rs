//! The one integration-test binary of step 3. Every test gets a real step-3 server on port 0,
//! a fresh MongoDB database, its own payment simulator and gRPC payments service, and its own
//! key prefix on a shared Redis (`App::spawn()`, testkit's `TestApp` with this step's test configuration); the tests that stop Redis start their own.

mod cache;
mod config;
mod contract;
mod degradation;
mod near_cache;
mod rate_limits;
mod redis_outage;
mod support;
mod token_state;
