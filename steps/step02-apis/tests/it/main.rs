//! The one integration-test binary of step 2. Every test gets a real step-2 server on port 0,
//! a fresh MongoDB database, its own payment simulator and, in front of it, its own gRPC payments
//! service (`App::spawn()`, testkit's `TestApp` with this step's test configuration).

mod contract;
mod graphql;
mod grpc;
mod listing;
mod openapi;
mod rate_limit;
mod support;
mod v2;
