//! The garde rules of every request body, for this step and the later ones (step 1's bodies
//! use them too): each adapts a domain parser or a rule of [`crate::domain::text`] to garde's
//! `custom(...)`, so a rule is written once, in the domain, and a body names it.

use crate::domain::{Email, text};

/// A domain parser's answer (`Email::parse`, `Sku::parse`, ...) as a garde result.
pub fn rule<T>(parsed: std::result::Result<T, String>) -> garde::Result {
    parsed.map(drop).map_err(garde::Error::new)
}

/// A field that must hold more than white space.
pub fn not_blank(value: &str, _: &()) -> garde::Result {
    if value.trim().is_empty() {
        Err(garde::Error::new("must not be blank"))
    } else {
        Ok(())
    }
}

/// One line of text: no control characters ([`text::line`]).
pub fn line(value: &str, _: &()) -> garde::Result {
    rule(text::line(value))
}

/// An optional line of text.
pub fn optional_line(value: &Option<String>, _: &()) -> garde::Result {
    value.as_deref().map_or(Ok(()), |v| rule(text::line(v)))
}

/// Each of several lines of text (tags).
pub fn each_line(values: &[String], _: &()) -> garde::Result {
    values.iter().try_for_each(|v| rule(text::line(v)))
}

/// Text over several lines: no control characters but line breaks and tabs ([`text::lines`]).
pub fn lines(value: &str, _: &()) -> garde::Result {
    rule(text::lines(value))
}

/// A password: anything but NUL ([`text::password`]).
pub fn password(value: &str, _: &()) -> garde::Result {
    rule(text::password(value))
}

/// An email address ([`Email::parse`]).
pub fn email(value: &str, _: &()) -> garde::Result {
    rule(Email::parse(value))
}
