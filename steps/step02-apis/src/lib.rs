//! # Step 2: APIs
//!
//! (Chapter header written as the step lands.)

pub mod config;
pub mod graphql;
pub mod listing;
pub mod openapi;
pub mod payments;
pub mod rate_limit;
pub mod rest;
pub mod startup;

pub use config::Config;
pub use startup::{AppState, build, router};
