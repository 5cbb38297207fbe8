//! # Hostile clients against step 1's routes (and every later step's)
//!
//! Step 1 adds refresh tokens, sessions, the encrypted profile and Google sign-in: forged and
//! replayed refresh tokens, other users' sessions, hostile bodies and text on the new routes.

mod routes;

use crate::Case;

pub fn cases() -> Vec<Case> {
    routes::cases()
}

pub fn families() -> Vec<(&'static str, Vec<Case>)> {
    vec![("step 1 routes", routes::cases())]
}
