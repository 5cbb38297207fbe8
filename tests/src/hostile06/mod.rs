//! # Hostile clients against step 6's `Idempotency-Key` (and every later step's)
//!
//! Step 6 lets a client send `Idempotency-Key` when it places or pays an order, so that a
//! retry gets the first answer instead of a second order. The header is a new way in: keys
//! with control characters, NUL, CR and LF (over raw TCP, where a client library would refuse
//! them), keys far too long, empty keys, lists of keys, one key on two routes or with another
//! body, another customer's key. Each is answered with a 4xx in the one error shape (or the
//! HTTP server's own 400 for bytes HTTP forbids) and changes nothing. GraphQL's
//! `idempotencyKey` argument takes the same keys and is tried the same ways, and with one key
//! on both APIs or on two aliases of one request. The mailbox is the other way in: other
//! callers and hostile page parameters.

mod graphql_keys;
mod keys;
mod mailbox;

use crate::Case;

pub fn cases() -> Vec<Case> {
    crate::case::all_of(families())
}

pub fn families() -> Vec<(&'static str, Vec<Case>)> {
    vec![
        ("idempotency keys", keys::cases()),
        ("graphql idempotency keys", graphql_keys::cases()),
        ("mailbox", mailbox::cases()),
    ]
}
