//! The one integration-test binary of step 5. Every test gets a real step-5 server on port 0,
//! a fresh MongoDB database and a fresh PostgreSQL database of its own, its own payment
//! simulator and gRPC payments service, and its own key prefix on the shared test Redis
//! (`App::spawn()`, testkit's `TestApp` with this step's test configuration).

mod contract;
mod cutover;
mod migration;
mod postgres;
mod queries;
mod report;
mod sharding;
mod stores;
mod support;
mod views;
