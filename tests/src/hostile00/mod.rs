//! # Hostile clients against step 0's API (and every later step's)
//!
//! What an attacker sends a shop, and the documented answer to each: bodies that are not what
//! they claim (trailing garbage, other content types, too large, too deep), text with NUL and
//! control characters, operator injection, forged tokens, other users' resources, races on
//! stock and payments, and connections that never finish their headers. Each case asserts the
//! answer the API documents (a clear 4xx in the one error shape, and nothing changed), never
//! just "not a 500".
//!
//! Black-box like the contract suites: a base URL and an admin's credentials, plain HTTP (and
//! raw TCP for the slow connections), so the same cases run against a single binary, several
//! instances behind nginx or the step-10 gateway. Every case is independent and safe to run
//! concurrently with the others against one server.

mod bodies;
mod concurrency;
mod injection;
mod ownership;
mod slow;
mod text;
mod tokens;

use crate::Case;

/// Every case, by family.
pub fn cases() -> Vec<Case> {
    [
        bodies::cases(),
        text::cases(),
        injection::cases(),
        tokens::cases(),
        ownership::cases(),
        concurrency::cases(),
        slow::cases(),
    ]
    .concat()
}

/// The families and their cases, for reports that count them.
pub fn families() -> Vec<(&'static str, Vec<Case>)> {
    vec![
        ("bodies", bodies::cases()),
        ("text", text::cases()),
        ("injection", injection::cases()),
        ("tokens", tokens::cases()),
        ("ownership", ownership::cases()),
        ("concurrency", concurrency::cases()),
        ("slow connections", slow::cases()),
    ]
}
