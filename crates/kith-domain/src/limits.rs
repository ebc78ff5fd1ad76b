//! One table of what the text of a Kith document (and of the server's own records) may hold: how
//! many characters, and which characters. The write functions check it before writing (a device refuses
//! at once), and the server checks every pushed change against it ([`crate::doc::fields`], applied
//! by [`crate::authz::authorize`]), so the device's limits and the server's cannot drift apart.
//!
//! Every teammate downloads a document whole and keeps it forever (Automerge history cannot be
//! shortened), so a limit here is a limit on what one member can make everyone else carry.
//!
//! Lengths count characters (Unicode code points, [`char_count`]), as a person reads them and as
//! JSON Schema's `maxLength` counts, so a name may be 300 characters in any script; in bytes that
//! is at most 4 × the limit (1,200 for a line, 8,000 for a note), which bounds storage. The UI
//! counts the same way (`ui/src/lib/limits.ts`), not with HTML `maxlength` (UTF-16 units).

use crate::DomainError;
use crate::model::{MAX_LINE_CHARS, MAX_NOTE_CHARS, MAX_PHONE_CHARS};

/// Which characters a text field may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextKind {
    /// A name shown in lists and rows (member, team, device): one line, with no control characters
    /// and no text-direction overrides, which could fake or reorder what others see.
    Name,
    /// One line of free text (a purpose, a reason, a phone number): the same characters as a name.
    Line,
    /// Free text over several lines (a check-in note, a reply): line breaks and tabs are allowed, no
    /// other control characters (an escape sequence could rewrite a teammate's terminal).
    Note,
    /// A phone number someone will dial: digits with spaces, dashes, dots, slashes or brackets and
    /// an optional leading `+` ([`crate::model::check_phone`]).
    Phone,
}

/// The limit of one text field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TextLimit {
    /// What the field is, as error messages name it ("member name").
    pub what: &'static str,
    /// Longest value, in characters (Unicode code points, [`char_count`]).
    pub max_chars: usize,
    pub kind: TextKind,
    /// Whether an empty (or all-blank) value is refused.
    pub required: bool,
}

const fn limit(what: &'static str, max_chars: usize, kind: TextKind, required: bool) -> TextLimit {
    TextLimit { what, max_chars, kind, required }
}

/// A member's name on the roster (and at join).
pub const MEMBER_NAME: TextLimit = limit("member name", MAX_LINE_CHARS, TextKind::Name, true);
/// A member's own phone number on the roster (`members/<id>/phone`).
pub const MEMBER_PHONE: TextLimit = limit("phone number", MAX_PHONE_CHARS, TextKind::Phone, false);
/// The team's name.
pub const TEAM_NAME: TextLimit = limit("team name", MAX_LINE_CHARS, TextKind::Name, true);
/// The team's stated purpose.
pub const TEAM_PURPOSE: TextLimit = limit("team purpose", MAX_LINE_CHARS, TextKind::Line, false);
/// Who to phone when the app cannot reach anyone: dialled from the offline emergency notice, so
/// a number as [`MEMBER_PHONE`] is, not any line of text.
pub const TEAM_PHONE: TextLimit = limit("phone number", MAX_PHONE_CHARS, TextKind::Phone, false);
/// A device's label, as the server lists devices.
pub const DEVICE_LABEL: TextLimit = limit("device label", MAX_LINE_CHARS, TextKind::Name, false);
/// A shift's stated purpose.
pub const SHIFT_PURPOSE: TextLimit = limit("purpose", MAX_LINE_CHARS, TextKind::Line, false);
/// Why a shift was extended.
pub const EXTENSION_REASON: TextLimit = limit("reason", MAX_LINE_CHARS, TextKind::Line, true);
/// The note of a shift's end.
pub const END_NOTE: TextLimit = limit("note", MAX_LINE_CHARS, TextKind::Line, false);
/// A check-in's note.
pub const CHECKIN_NOTE: TextLimit = limit("note", MAX_NOTE_CHARS, TextKind::Note, false);
/// A lead's reply to a check-in.
pub const ACK_REPLY: TextLimit = limit("reply", MAX_NOTE_CHARS, TextKind::Note, false);
/// The note of a resolved alert (kept by the server, not in a document).
pub const ALERT_NOTE: TextLimit = limit("note", MAX_LINE_CHARS, TextKind::Line, true);

/// Every text limit, for documentation and tests.
pub const ALL: &[TextLimit] = &[
    MEMBER_NAME,
    MEMBER_PHONE,
    TEAM_NAME,
    TEAM_PURPOSE,
    TEAM_PHONE,
    DEVICE_LABEL,
    SHIFT_PURPOSE,
    EXTENSION_REASON,
    END_NOTE,
    CHECKIN_NOTE,
    ACK_REPLY,
    ALERT_NOTE,
];

/// Longest map key a change may write, in bytes (not user text): keys are field names and UUIDs.
pub const MAX_KEY_BYTES: usize = 64;
/// Longest enumerated word (`"emergency"`, `"kith.shift"`).
pub const MAX_WORD_BYTES: usize = 32;

/// The length of a text as its limits count it: characters (Unicode code points), so "é" and "😀"
/// are one each, whatever their size in UTF-8 or UTF-16.
pub fn char_count(s: &str) -> usize {
    s.chars().count()
}

/// Unicode's explicit text-direction embeddings, overrides and isolates (U+202A–U+202E,
/// U+2066–U+2069): they reorder the text after them, so a name could display as something else.
pub fn is_direction_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// The first character `kind` does not allow in `s`, if any.
pub fn forbidden_char(kind: TextKind, s: &str) -> Option<char> {
    s.chars().find(|&c| {
        let line_break = matches!(c, '\u{2028}' | '\u{2029}');
        match kind {
            TextKind::Name | TextKind::Line | TextKind::Phone => {
                c.is_control() || line_break || is_direction_control(c)
            }
            TextKind::Note => c.is_control() && !matches!(c, '\n' | '\r' | '\t'),
        }
    })
}

/// The characters [`forbidden_char`] allows in a name or a line of text, as a JSON Schema pattern
/// (ECMA-262) for the OpenAPI document, so that outside clients (and schemathesis) know the rule.
pub const LINE_PATTERN: &str = r"^[^\u0000-\u001F\u007F-\u009F\u2028\u2029\u202A-\u202E\u2066-\u2069]*$";
/// [`LINE_PATTERN`] for a required field: something besides white space.
pub const REQUIRED_LINE_PATTERN: &str = r"^[^\u0000-\u001F\u007F-\u009F\u2028\u2029\u202A-\u202E\u2066-\u2069]*[^\s\u0000-\u001F\u007F-\u009F\u2028\u2029\u202A-\u202E\u2066-\u2069][^\u0000-\u001F\u007F-\u009F\u2028\u2029\u202A-\u202E\u2066-\u2069]*$";
/// The characters [`forbidden_char`] allows in a note: line breaks and tabs, no other control.
pub const NOTE_PATTERN: &str = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$";

impl TextLimit {
    /// The JSON Schema pattern of the characters this field may hold (the OpenAPI document's).
    pub fn pattern(&self) -> &'static str {
        match (self.kind, self.required) {
            (TextKind::Note, _) => NOTE_PATTERN,
            (_, true) => REQUIRED_LINE_PATTERN,
            (_, false) => LINE_PATTERN,
        }
    }

    /// Checks a value against this limit: its size, its characters and, if required, that it says
    /// something.
    pub fn check(&self, s: &str) -> Result<(), DomainError> {
        let len = char_count(s);
        if len > self.max_chars {
            return Err(DomainError::TooLong { what: self.what, len, max: self.max_chars });
        }
        if let Some(c) = forbidden_char(self.kind, s) {
            let which = if is_direction_control(c) { "a text-direction control" } else { "a control character" };
            return Err(DomainError::Invalid(format!(
                "the {} holds {which} (U+{:04X}), which could change how others see it: remove it",
                self.what, c as u32
            )));
        }
        if self.required && s.trim().is_empty() {
            return Err(DomainError::Invalid(format!("the {} cannot be empty", self.what)));
        }
        if self.kind == TextKind::Phone && !s.trim().is_empty() {
            crate::model::check_phone(s.trim())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The OpenAPI document's patterns say what `check` does, character by character.
    #[test]
    fn the_schema_patterns_allow_exactly_the_characters_the_check_allows() {
        let sample = (0u32..0x3000).chain([0xFEFF, 0x1F600, 0x10FFFF]).filter_map(char::from_u32);
        for limit in ALL.iter().filter(|l| l.kind != TextKind::Phone) {
            let re = regex::Regex::new(limit.pattern()).expect("a valid pattern");
            for c in sample.clone() {
                let value = format!("a{c}");
                assert_eq!(
                    re.is_match(&value),
                    forbidden_char(limit.kind, &value).is_none(),
                    "{} with U+{:04X}",
                    limit.what,
                    c as u32
                );
            }
            if limit.required {
                assert!(!re.is_match(" \t ") && !re.is_match(""), "{}: blank refused", limit.what);
            }
        }
    }

    #[test]
    fn names_refuse_control_and_direction_characters_notes_allow_line_breaks() {
        assert!(MEMBER_NAME.check("Alice Ørsted-李").is_ok());
        for bad in ["Al\u{1b}[2Jice", "Al\nice", "Ali\u{202E}ecila", "A\u{2066}b", "a\u{2028}b", "a\u{7f}"] {
            assert!(MEMBER_NAME.check(bad).is_err(), "{bad:?}");
            assert!(SHIFT_PURPOSE.check(bad).is_err(), "{bad:?}");
        }
        assert!(MEMBER_NAME.check("  ").is_err(), "a name says something");
        assert!(DEVICE_LABEL.check("").is_ok(), "a device label may be empty");
        assert!(CHECKIN_NOTE.check("line one\r\nline two\tand a tab").is_ok());
        assert!(CHECKIN_NOTE.check("fake \u{1b}[1A row").is_err());
        let long = "x".repeat(CHECKIN_NOTE.max_chars + 1);
        assert!(matches!(CHECKIN_NOTE.check(&long), Err(DomainError::TooLong { what: "note", .. })));
    }

    /// A limit counts characters in any script: "é" (2 bytes) and "😀" (4 bytes, 2 UTF-16 units)
    /// are one each, as JSON Schema's `maxLength` and the UI count them.
    #[test]
    fn limits_count_characters_not_bytes() {
        for ch in ["é", "李", "😀"] {
            for l in ALL.iter().filter(|l| l.kind != TextKind::Phone) {
                assert!(l.check(&ch.repeat(l.max_chars)).is_ok(), "{} of {ch} × {}", l.what, l.max_chars);
                let over = l.check(&ch.repeat(l.max_chars + 1));
                assert!(matches!(over, Err(DomainError::TooLong { len, .. }) if len == l.max_chars + 1), "{}", l.what);
            }
        }
    }
}
