//! The one integration-test binary of step 1. Every test gets a real step-1 server on port 0,
//! a fresh MongoDB database and its own payment simulator (`App::spawn()`, testkit's `TestApp` with this step's test configuration); the Google
//! tests also get a local OpenID provider (`oidc`).

mod contract;
mod encryption;
mod google;
mod headers;
mod oidc;
mod passwords;
mod sessions;
mod support;
mod tokens;
