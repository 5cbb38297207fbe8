//! # Hostile clients against step 2's APIs (and every later step's)
//!
//! Step 2 adds `/api/v2` and `/graphql`, and with them new ways in: another user's resources
//! through v2 and GraphQL, GraphQL aliases and batches that try to do in one request what REST
//! allows only across many, queries nested past the limits, and hostile text in filters that
//! REST and GraphQL must refuse alike.

mod graphql;
mod v2;

pub use graphql::doubling_fragments;

use crate::Case;

pub fn cases() -> Vec<Case> {
    [v2::cases(), graphql::cases()].concat()
}

pub fn families() -> Vec<(&'static str, Vec<Case>)> {
    vec![("v2", v2::cases()), ("graphql", graphql::cases())]
}
