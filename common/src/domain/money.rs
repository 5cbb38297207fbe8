//! Money as integer minor units with an ISO 4217 currency code. Never floats: 19.99 EUR is
//! `Money { minor: 1999, currency: EUR }`, and sums are checked so they cannot overflow silently.

use std::fmt;

/// A three-letter upper-case currency code (`EUR`, `USD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency([u8; 3]);

impl Currency {
    pub fn parse(code: &str) -> Result<Self, String> {
        match code.as_bytes() {
            [a, b, c] if [a, b, c].iter().all(|x| x.is_ascii_uppercase()) => Ok(Self([*a, *b, *c])),
            _ => Err("must be a three-letter upper-case ISO 4217 code, e.g. EUR".to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII upper-case letters get in through `parse`.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An amount of money.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Money {
    pub minor: i64,
    pub currency: Currency,
}

impl Money {
    /// The largest unit price accepted (100 million major units): with at most 1,000 units a
    /// line and 100 lines an order, every total stays far inside `i64`.
    pub const MAX_PRICE_MINOR: i64 = 10_000_000_000;

    pub fn price(minor: i64, currency: Currency) -> Result<Self, String> {
        if !(0..=Self::MAX_PRICE_MINOR).contains(&minor) {
            return Err(format!(
                "must be between 0 and {} minor units",
                Self::MAX_PRICE_MINOR
            ));
        }
        Ok(Self { minor, currency })
    }

    pub fn times(&self, quantity: u32) -> Option<Money> {
        self.minor
            .checked_mul(i64::from(quantity))
            .map(|minor| Money { minor, ..*self })
    }

    pub fn checked_add(&self, other: Money) -> Option<Money> {
        if self.currency != other.currency {
            return None;
        }
        self.minor
            .checked_add(other.minor)
            .map(|minor| Money { minor, ..*self })
    }
}
