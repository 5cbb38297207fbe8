//! The PostgreSQL stores: [`PgOrders`] and [`PgPayments`] implement step 0's `OrderStore` and
//! `PaymentStore`, so handlers, REST v1/v2 and GraphQL run on them unchanged. [`map_err`] is
//! the one place a PostgreSQL error becomes a [`StoreError`]: unique, foreign-key and check
//! violations by their SQLSTATE (then `common::Error` makes them 409 or 422), a pool that
//! cannot hand out a connection, or a server that does not answer, as `Unavailable` (503).

mod orders;
mod payments;

pub use orders::{Existing, PgOrders, insert_in};
pub use payments::{
    PgPayments, record_in as record_payment_in, status_text as payment_status_text,
};

use common::store::StoreError;

/// SQLSTATE codes of the constraint violations (PostgreSQL's "Class 23").
const UNIQUE_VIOLATION: &str = "23505";
const FOREIGN_KEY_VIOLATION: &str = "23503";
const CHECK_VIOLATION: &str = "23514";
const NOT_NULL_VIOLATION: &str = "23502";

/// Maps a sqlx error; the constraint's name (or `fallback`) names what was violated.
pub fn map_err(fallback: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |error| match &error {
        sqlx::Error::Database(db) => {
            let name = db.constraint().unwrap_or(fallback).to_owned();
            match db.code().as_deref() {
                Some(UNIQUE_VIOLATION) => StoreError::Duplicate(name),
                Some(FOREIGN_KEY_VIOLATION) => StoreError::MissingReference(name),
                Some(CHECK_VIOLATION | NOT_NULL_VIOLATION) => StoreError::Invalid(name),
                _ => StoreError::Other(error.into()),
            }
        }
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StoreError::Unavailable(error.into())
        }
        _ => StoreError::Other(error.into()),
    }
}

/// A stored value the domain refuses: the row was written by something else than this code.
fn corrupt(what: &str, reason: impl std::fmt::Display) -> StoreError {
    StoreError::Other(anyhow::anyhow!("corrupt {what} row: {reason}"))
}

/// A stored id back into its typed id.
fn id<T: std::str::FromStr>(what: &str, text: &str) -> Result<T, StoreError> {
    text.parse()
        .map_err(|_| corrupt(what, format!("bad id {text:?}")))
}
