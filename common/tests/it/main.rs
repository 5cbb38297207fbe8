//! The one integration-test binary of step 0. Every test gets a real server on port 0, a fresh
//! MongoDB database and its own payment simulator (`testkit::spawn_app`).

mod admin_cli;
mod auth;
mod connections;
mod contract;
mod failures;
mod layers;
mod orders;
mod payments;
mod seed;
