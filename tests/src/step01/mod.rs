//! # The step-1 contract: sessions, tokens and the encrypted profile
//!
//! What step 1 adds to the public API, and every later step (and the step-10 gateway) must
//! keep: login answers an access token *and* a rotating refresh token; a refresh token works
//! once and a reused one ends its whole session; logout, logout-all, the session list and a
//! password change end what they say; forged tokens are refused without detail; the profile
//! round-trips; answers carry the security headers.
//!
//! Black-box like step 0's suite: only a base URL and the admin's credentials, no secrets, so
//! the hostile tokens here are the ones anyone can build without the signing key.

mod auth;
mod headers;
pub(crate) mod profile;

use crate::Case;

/// Every step-1 case.
pub fn cases() -> Vec<Case> {
    [auth::cases(), profile::cases(), headers::cases()].concat()
}
