//! The one integration-test binary of step 2. Every test gets a real step-2 server on port 0,
//! a fresh MongoDB database and its own payment simulator (`support::spawn`).

mod contract;
mod openapi;
mod support;
