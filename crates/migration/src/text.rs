//! Text a person will read: every free-text field of a request that the frontend shows back
//! (the provider name, the accepted terms, a terms document's id, version and title, an
//! approval's reference). One rule, decided here by each character's Unicode general
//! category (`unicode-general-category`, Unicode [`UNICODE_VERSION`]):
//!
//! - visible: letters (L*), marks (M*), numbers (N*), punctuation (P*), symbols (S*) and
//!   space separators (Zs);
//! - refused: control (Cc), format (Cf: bidi embeddings, overrides and isolates, zero-width
//!   spaces and joiners, the soft hyphen, tag characters U+E0000–E007F), line and paragraph
//!   separators (Zl, Zp), private use (Co), surrogates (Cs: no Rust `char` or valid JSON
//!   string holds one) and unassigned code points (Cn);
//! - and at least one letter, number, punctuation or symbol: marks and spaces alone show
//!   nothing.
//!
//! The rule lives in the domain because the domain validates the provider name and the
//! accepted terms; the API's operator bodies use the same functions. The OpenAPI contract
//! states it as [`PATTERN`] and [`PATTERN_TRIMMED`] (ECMA-262 with `\p{…}` property
//! escapes); the API's tests hold the two together.
//!
//! A consequence worth knowing: the zero-width joiner (U+200D, Cf) is refused, so emoji
//! ZWJ sequences (👩‍💻) and scripts that write with ZWJ/ZWNJ cannot be sent; a code point
//! assigned after Unicode [`UNICODE_VERSION`] is unassigned here until the crate is updated.

use unicode_general_category::{GeneralCategory, get_general_category};

/// The Unicode version the categories come from.
pub const UNICODE_VERSION: (u64, u64, u64) = unicode_general_category::UNICODE_VERSION;

/// Every space separator (Zs), spelled out for the patterns: `\p{Zs}` is the one property
/// schemathesis's Python translation gets wrong (it reads it as ASCII whitespace, tab and
/// newline included). A test checks this list against the categories.
macro_rules! space_separators {
    () => {
        r"\x20\xA0\u1680\u2000-\u200A\u202F\u205F\u3000"
    };
}

/// [`is_visible_line`] as an ECMA-262 regular expression (`u` flag): visible text with no
/// surrounding spaces. Whatever precedes the first letter, number, punctuation or symbol is
/// marks and spaces, starting with a mark; whatever follows it ends in a non-space.
pub const PATTERN: &str = concat!(
    r"^(\p{M}[\p{M}",
    space_separators!(),
    r"]*)?[\p{L}\p{N}\p{P}\p{S}]([\p{L}\p{M}\p{N}\p{P}\p{S}",
    space_separators!(),
    r"]*[\p{L}\p{M}\p{N}\p{P}\p{S}])?$"
);

/// [`is_visible`] as an ECMA-262 regular expression (`u` flag), surrounding spaces allowed
/// (for a field that trims them, the provider name).
pub const PATTERN_TRIMMED: &str = concat!(
    r"^[\p{L}\p{M}\p{N}\p{P}\p{S}",
    space_separators!(),
    r"]*[\p{L}\p{N}\p{P}\p{S}][\p{L}\p{M}\p{N}\p{P}\p{S}",
    space_separators!(),
    r"]*$"
);

/// What a character is, for this rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A letter, number, punctuation or symbol: something that shows on its own.
    Glyph,
    /// A combining mark (Mn, Mc, Me): shows only on something else.
    Mark,
    /// A space separator (Zs).
    Space,
    /// Anything else: control, format, line or paragraph separator, private use,
    /// surrogate, unassigned.
    Invisible,
}

/// The kind of `c`, by its general category.
pub fn kind(c: char) -> Kind {
    use GeneralCategory::*;
    match get_general_category(c) {
        UppercaseLetter | LowercaseLetter | TitlecaseLetter | ModifierLetter | OtherLetter => Kind::Glyph,
        DecimalNumber | LetterNumber | OtherNumber => Kind::Glyph,
        ConnectorPunctuation | DashPunctuation | OpenPunctuation | ClosePunctuation | InitialPunctuation | FinalPunctuation
        | OtherPunctuation => Kind::Glyph,
        MathSymbol | CurrencySymbol | ModifierSymbol | OtherSymbol => Kind::Glyph,
        NonspacingMark | SpacingMark | EnclosingMark => Kind::Mark,
        SpaceSeparator => Kind::Space,
        Control | Format | LineSeparator | ParagraphSeparator | PrivateUse | Surrogate | Unassigned => Kind::Invisible,
        // The enum is non-exhaustive: a category it might gain is refused until judged here.
        _ => Kind::Invisible,
    }
}

/// Whether `text` is visible text: no invisible character, and at least one glyph.
/// Surrounding spaces are allowed (see [`is_visible_line`]).
pub fn is_visible(text: &str) -> bool {
    let mut glyph = false;
    for c in text.chars() {
        match kind(c) {
            Kind::Invisible => return false,
            Kind::Glyph => glyph = true,
            Kind::Mark | Kind::Space => {}
        }
    }
    glyph
}

/// Whether `c` is a space separator: the only whitespace visible text can hold, and what
/// [`trim_spaces`] removes.
pub fn is_space(c: char) -> bool {
    kind(c) == Kind::Space
}

/// `text` without its surrounding space separators.
pub fn trim_spaces(text: &str) -> &str {
    text.trim_matches(is_space)
}

/// Whether `text` is visible text of 1 to `max` characters without surrounding spaces: the
/// rule of a short text field (a title, a version, a reference).
pub fn is_visible_line(text: &str, max: usize) -> bool {
    text.chars().count() <= max && trim_spaces(text) == text && is_visible(text)
}

/// The refusal's wording, for every field under the rule.
pub fn requirement(max: usize) -> String {
    format!(
        "must be 1 to {max} characters of visible text (letters, marks, numbers, punctuation, symbols, spaces; \
         not only marks and spaces; no control, format, separator, private-use or unassigned characters)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_patterns_spell_out_every_space_separator() {
        let listed: Vec<char> = (0..=0x10FFFF_u32).filter_map(char::from_u32).filter(|&c| is_space(c)).collect();
        assert_eq!(
            listed,
            [vec!['\u{20}', '\u{A0}', '\u{1680}'], ('\u{2000}'..='\u{200A}').collect(), vec!['\u{202F}', '\u{205F}', '\u{3000}']].concat(),
            "update space_separators!() to the Zs of Unicode {UNICODE_VERSION:?}"
        );
    }

    #[test]
    fn examples() {
        for ok in ["Production AWS", "é", "e\u{301}", "\u{301}a", "\u{301} a", "日本語", "Ωmega ✓", "a\u{A0}b", "👩"] {
            assert!(is_visible_line(ok, 255), "{ok:?}");
        }
        for bad in [
            "",
            " ",
            "\u{301}",
            "\u{301} \u{302}",
            " a",
            "a ",
            "a\u{3000}",
            "a\tb",
            "a\u{7}",
            "a\u{85}",
            "a\u{200B}",
            "a\u{200D}b",
            "a\u{202E}b",
            "a\u{2066}b",
            "a\u{E0041}",
            "a\u{AD}b",
            "a\u{FEFF}",
            "a\u{2028}b",
            "a\u{2029}b",
            "a\u{E000}",
            "a\u{F0000}",
            "a\u{378}",
            "a\u{10FFFF}",
        ] {
            assert!(!is_visible_line(bad, 255), "{bad:?}");
        }
        assert!(is_visible("  Production AWS  "));
        assert_eq!(trim_spaces("\u{3000} a b\u{A0}"), "a b");
        assert!(!is_visible_line("abc", 2));
    }
}
