//! The one integration-test binary of step 4. Every test gets a real step-4 server on port 0,
//! a fresh MongoDB database, its own payment simulator and gRPC payments service, and its own
//! key prefix on the shared test Redis (`App::spawn()`, testkit's `TestApp` with this step's test configuration).

mod contract;
mod indexes;
mod load_balancing;
mod load_command;
mod profiling;
mod rating;
mod reference;
mod support;
