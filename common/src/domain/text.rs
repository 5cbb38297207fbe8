//! What free text from a client may contain. Every text field of the API follows one of three
//! rules, here once, so REST, GraphQL and later steps refuse the same input the same way:
//!
//! - [`line`]: names, categories, tags, cities: no control character at all (Unicode's `Cc`:
//!   NUL, the C0 controls, DEL, the C1 controls). A NUL ends the string for every C library
//!   downstream (a log shipper, a PDF invoice, an email), an escape sequence rewrites an
//!   operator's terminal, a bare CR forges a line in a log.
//! - [`lines`]: descriptions and review comments: the same, except line breaks and tabs.
//! - [`password`]: anything but NUL, which some bcrypt implementations stop at (the same
//!   password would verify against a prefix of itself elsewhere).
//!
//! Lengths stay with each field (a name has its own limit); these rules are about characters.

/// Text on one line: no control characters.
pub fn line(value: &str) -> Result<(), String> {
    match value.chars().find(|c| c.is_control()) {
        Some(c) => Err(format!("must not contain control characters (found {c:?})")),
        None => Ok(()),
    }
}

/// Text that may span lines: no control characters but `\n`, `\r` and `\t`.
pub fn lines(value: &str) -> Result<(), String> {
    match value
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        Some(c) => Err(format!(
            "must not contain control characters other than line breaks and tabs (found {c:?})"
        )),
        None => Ok(()),
    }
}

/// A password: anything but NUL.
pub fn password(value: &str) -> Result<(), String> {
    if value.contains('\0') {
        Err("must not contain a NUL character".to_owned())
    } else {
        Ok(())
    }
}
