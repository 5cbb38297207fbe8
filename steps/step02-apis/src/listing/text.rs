//! The one rule for the text a client narrows the listing by (a category, a tag, search words),
//! as a type: [`FilterText`] can only be made by [`FilterText::parse`], so REST's query
//! parameters and GraphQL's filter input refuse exactly the same text, and the search never
//! receives text that broke the rule. A GraphQL filter with a NUL once reached the database,
//! which failed on it (a 500), while REST refused the same input: two copies of one rule had
//! drifted apart.

use serde::Serialize;

/// Trimmed text of 1 to `MAX` characters without control characters. `MAX` is part of the
/// type, so a category can never be passed where search words are expected with a looser
/// bound.
///
/// Serialised as the plain string, so a cache key made of it (step 3) is the text itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct FilterText<const MAX: usize>(String);

/// An exact category name (a product's category holds at most 100 characters).
pub type CategoryText = FilterText<100>;
/// One tag (a product's tags hold at most 50 characters each).
pub type TagText = FilterText<50>;
/// Words searched in name, description and tags.
pub type SearchText = FilterText<200>;

impl<const MAX: usize> FilterText<MAX> {
    /// The client's text, trimmed, or why it is refused (the caller names the field).
    ///
    /// Control characters (Unicode `Cc`: NUL, the C0 set, DEL and the C1 set) are refused
    /// rather than stripped: no name, category, tag or search word contains one, so a client
    /// that sends one sends something other than text, and the database is no place to find
    /// out what (a NUL in a `$text` search is a server error there). Surrounding white space
    /// is trimmed first, as every text field of the API is, so a trailing newline is no
    /// reason to refuse a search.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let text = raw.trim();
        if text.is_empty() {
            return Err("must not be blank".to_owned());
        }
        if text.chars().count() > MAX {
            return Err(format!("must be at most {MAX} characters"));
        }
        // The rule of every one-line field of the API, so a filter refuses what a product's
        // name, category or tag refuses.
        common::domain::text::line(text)?;
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_and_kept() {
        let tag = TagText::parse("  blue mug \n").unwrap();
        assert_eq!(tag.as_str(), "blue mug");
        assert_eq!(serde_json::to_string(&tag).unwrap(), "\"blue mug\"");
        // Not ASCII, not a control character: kept.
        assert_eq!(
            SearchText::parse("Tasse à café").unwrap().as_str(),
            "Tasse à café"
        );
    }

    #[test]
    fn blank_text_is_refused() {
        for blank in ["", " ", "\t\n", "\u{85}\u{a0}"] {
            assert_eq!(
                TagText::parse(blank),
                Err("must not be blank".to_owned()),
                "{blank:?}"
            );
        }
    }

    #[test]
    fn the_bound_counts_characters_after_trimming() {
        let max = "é".repeat(50);
        assert!(TagText::parse(&format!("  {max}  ")).is_ok());
        assert_eq!(
            TagText::parse(&format!("{max}é")),
            Err("must be at most 50 characters".to_owned())
        );
        assert!(CategoryText::parse(&"c".repeat(100)).is_ok());
        assert!(CategoryText::parse(&"c".repeat(101)).is_err());
        assert!(SearchText::parse(&"q".repeat(200)).is_ok());
        assert!(SearchText::parse(&"q".repeat(201)).is_err());
    }

    #[test]
    fn every_control_character_inside_the_text_is_refused() {
        let controls = (0..=0x10ffff_u32)
            .filter_map(char::from_u32)
            .filter(|c| c.is_control());
        let mut count = 0;
        for c in controls {
            count += 1;
            let refused = SearchText::parse(&format!("mug{c}cup")).unwrap_err();
            assert!(
                refused.starts_with("must not contain control characters"),
                "U+{:04X}: {refused}",
                u32::from(c)
            );
        }
        // C0 (32), DEL, C1 (32).
        assert_eq!(count, 65);
    }
}
