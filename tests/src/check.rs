//! Small assertions that read as sentences and fail with "what: expected X, got Y". `ensure!`
//! alone would make every case spell out its own message; these keep the cases short without
//! losing the diagnosis.

use std::fmt::Debug;

use anyhow::{Context, Result, bail};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::client::Reply;
use crate::model::Product;

/// `what: expected {expected:?}, got {actual:?}` unless they are equal.
pub fn eq<A, E>(what: &str, actual: A, expected: E) -> Result<()>
where
    A: PartialEq<E> + Debug,
    E: Debug,
{
    if actual != expected {
        bail!("{what}: expected {expected:?}, got {actual:?}");
    }
    Ok(())
}

/// Fails with `what` unless `condition` holds.
pub fn that(condition: bool, what: impl FnOnce() -> String) -> Result<()> {
    if !condition {
        bail!("{}", what());
    }
    Ok(())
}

/// Ids are MongoDB ObjectIds on the wire: 24 lowercase or uppercase hex characters.
pub fn object_id(what: &str, id: &str) -> Result<()> {
    if id.len() != 24 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        bail!("{what}: expected an id of 24 hex characters, got {id:?}");
    }
    Ok(())
}

pub fn rfc3339(what: &str, timestamp: &str) -> Result<OffsetDateTime> {
    match OffsetDateTime::parse(timestamp, &Rfc3339) {
        Ok(parsed) => Ok(parsed),
        Err(e) => bail!("{what}: expected an RFC 3339 timestamp, got {timestamp:?} ({e})"),
    }
}

/// A user object must never carry a password or a hash, under any key name.
pub fn no_secrets(what: &str, user: &Value) -> Result<()> {
    if let Some(object) = user.as_object() {
        for key in object.keys() {
            let key_lower = key.to_ascii_lowercase();
            if key_lower.contains("password") || key_lower.contains("hash") {
                bail!("{what}: a user must not expose `{key}`, got {user}");
            }
        }
    }
    Ok(())
}

/// Prices and stock are integers on the wire: `19.99` must never appear where `1999` belongs.
pub fn integer(what: &str, value: &Value) -> Result<()> {
    if !(value.is_i64() || value.is_u64()) {
        bail!("{what}: expected an integer, got {value}");
    }
    Ok(())
}

/// A timestamp as Unix milliseconds, or the raw text if it does not parse. Stores keep
/// milliseconds (BSON dates do), so an answer built in memory and the same resource read back
/// may differ below a millisecond; that is not a broken promise.
pub fn millis(timestamp: &str) -> String {
    match OffsetDateTime::parse(timestamp, &Rfc3339) {
        Ok(parsed) => (parsed.unix_timestamp_nanos() / 1_000_000).to_string(),
        Err(_) => timestamp.to_owned(),
    }
}

/// Two views of one product agree on every field, timestamps to the millisecond.
pub fn same_product(what: &str, actual: &Product, expected: &Product) -> Result<()> {
    let normalise = |p: &Product| Product {
        created_at: millis(&p.created_at),
        updated_at: millis(&p.updated_at),
        ..p.clone()
    };
    eq(what, normalise(actual), normalise(expected))
}

/// How many of a race's `replies` won with `won`; every other one must be the error
/// `lost`/`code` (the documented answer to a request that lost), `what` naming the race.
pub fn winners(
    replies: Vec<Result<Reply>>,
    won: u16,
    lost: u16,
    code: &str,
    what: &str,
) -> Result<usize> {
    let mut winners = 0;
    for reply in replies {
        let reply = reply?;
        if reply.status.as_u16() == won {
            winners += 1;
        } else {
            reply
                .expect_error(lost, code)
                .with_context(|| format!("a concurrent {what} that lost the race"))?;
        }
    }
    Ok(winners)
}
