//! What commands print with `--json`: plain structs with stable field names. Times are RFC 3339
//! in UTC, spans are whole seconds, enums are lowercase snake_case words.

use std::borrow::Cow;
use std::fmt;

use serde::Serialize;

use kith_domain::rules::{DueReason, DueState, DueStatus};
use kith_domain::{Ack, CheckIn, CheckInStatus, Extension, Shift, Timestamp, Visibility};

use crate::clock::rfc3339;

fn word<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// One check-in.
#[derive(Debug, Clone, Serialize)]
pub struct CheckInView {
    pub id: String,
    /// When it was made (this device's clock).
    pub at: String,
    /// `ok`, `support` or `emergency`.
    pub status: String,
    pub mood: Option<u8>,
    pub confidence: Option<u8>,
    pub note: Option<String>,
    /// `team` or `leads` when there is a note.
    pub note_visibility: Option<String>,
    pub location: Option<LocationView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LocationView {
    /// `coarse` or `precise`.
    pub precision: String,
    pub lat: f64,
    pub lon: f64,
}

impl From<&CheckIn> for CheckInView {
    fn from(c: &CheckIn) -> Self {
        CheckInView {
            id: c.id.to_string(),
            at: rfc3339(c.device_time),
            status: word(&c.status),
            mood: c.mood.map(|r| r.get()),
            confidence: c.confidence.map(|r| r.get()),
            note: c.note.as_ref().map(|n| n.text.clone()),
            note_visibility: c.note.as_ref().map(|n| word(&n.visibility)),
            location: c.location.map(|l| LocationView { precision: word(&l.precision), lat: l.lat, lon: l.lon }),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ExtensionView {
    pub id: String,
    /// When the extension was made.
    pub at: String,
    pub new_end: String,
    pub reason: String,
}

impl From<&Extension> for ExtensionView {
    fn from(e: &Extension) -> Self {
        ExtensionView { id: e.id.to_string(), at: rfc3339(e.at), new_end: rfc3339(e.new_end), reason: e.reason.clone() }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct AckView {
    pub id: String,
    pub checkin_id: String,
    pub by: String,
    pub at: String,
    pub reply: Option<String>,
}

impl From<&Ack> for AckView {
    fn from(a: &Ack) -> Self {
        AckView {
            id: a.id.to_string(),
            checkin_id: a.checkin.to_string(),
            by: a.by.to_string(),
            at: rfc3339(a.at),
            reply: a.reply.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct EndView {
    pub at: String,
    pub note: Option<String>,
}

/// A shift's header (no history).
#[derive(Debug, Clone, Serialize)]
pub struct ShiftSummary {
    pub id: String,
    pub team_id: String,
    pub purpose: String,
    pub started_at: String,
    /// The planned end in force (after extensions).
    pub planned_end: String,
    /// The planned end as first set.
    pub initial_end: String,
    pub interval_s: i64,
    pub buddies: Vec<String>,
    pub active: bool,
    pub ended: Option<EndView>,
}

impl From<&Shift> for ShiftSummary {
    fn from(s: &Shift) -> Self {
        ShiftSummary {
            id: s.id.to_string(),
            team_id: s.team.to_string(),
            purpose: s.purpose.clone(),
            started_at: rfc3339(s.started_at),
            planned_end: rfc3339(s.planned_end()),
            initial_end: rfc3339(s.initial_end),
            interval_s: s.interval.get(),
            buddies: s.buddies.iter().map(ToString::to_string).collect(),
            active: s.is_active(),
            ended: s.ended.as_ref().map(|e| EndView { at: rfc3339(e.at), note: e.note.clone() }),
        }
    }
}

/// A shift with its whole history.
#[derive(Debug, Clone, Serialize)]
pub struct ShiftLog {
    #[serde(flatten)]
    pub shift: ShiftSummary,
    pub checkins: Vec<CheckInView>,
    pub extensions: Vec<ExtensionView>,
    pub acks: Vec<AckView>,
}

impl From<&Shift> for ShiftLog {
    fn from(s: &Shift) -> Self {
        ShiftLog {
            shift: s.into(),
            checkins: s.checkins.iter().map(Into::into).collect(),
            extensions: s.extensions.iter().map(Into::into).collect(),
            acks: s.acks.iter().map(Into::into).collect(),
        }
    }
}

/// Where a running shift stands.
#[derive(Debug, Clone, Serialize)]
pub struct DueView {
    /// `fine`, `due_soon`, `overdue` (or `off_shift`).
    pub state: String,
    /// Which deadline decides the state: `check_in` or `planned_end`.
    pub reason: String,
    pub next_due: String,
    /// Negative once past.
    pub seconds_to_next_due: i64,
    /// When a missed check-in counts as overdue (next due plus the team's grace).
    pub overdue_at: String,
    pub planned_end: String,
    /// Negative once past.
    pub seconds_to_planned_end: i64,
}

impl DueView {
    pub fn new(d: &DueStatus, now: Timestamp) -> Self {
        DueView {
            state: word(&d.state),
            reason: word(&d.reason),
            next_due: rfc3339(d.next_due),
            seconds_to_next_due: d.next_due.secs_since(now).get(),
            overdue_at: rfc3339(d.overdue_at),
            planned_end: rfc3339(d.planned_end),
            seconds_to_planned_end: d.planned_end.secs_since(now).get(),
        }
    }
}

/// Human words for a due state.
pub fn due_words(s: DueState) -> &'static str {
    match s {
        DueState::Fine => "fine",
        DueState::DueSoon => "due soon",
        DueState::Overdue => "OVERDUE",
        DueState::OffShift => "off shift",
    }
}

/// Human words for what a deadline is.
pub fn reason_words(r: DueReason) -> &'static str {
    match r {
        DueReason::CheckIn => "check-in",
        DueReason::PlannedEnd => "planned end",
    }
}

/// Human words for a check-in status.
pub fn status_words(s: CheckInStatus) -> &'static str {
    match s {
        CheckInStatus::Ok => "ok",
        CheckInStatus::Support => "support",
        CheckInStatus::Emergency => "EMERGENCY",
    }
}

/// One line describing a check-in's details: `mood 4, confidence 3, "note" (leads only)`.
pub fn checkin_details(c: &CheckIn) -> String {
    let mut parts = Vec::new();
    if let Some(m) = c.mood {
        parts.push(format!("mood {}", m.get()));
    }
    if let Some(m) = c.confidence {
        parts.push(format!("confidence {}", m.get()));
    }
    if let Some(n) = &c.note {
        let vis = if n.visibility == Visibility::Leads { " (leads only)" } else { "" };
        parts.push(format!("\"{}\"{vis}", foreign(&n.text)));
    }
    if let Some(l) = &c.location {
        parts.push(format!("at {},{} ({})", l.lat, l.lon, word(&l.precision)));
    }
    parts.join(", ")
}

// ---------------------------------------------------------------------------------------------
// text from someone else

/// Whether printing `c` as is could steer the terminal or reorder what is shown: C0 and C1
/// control characters (ESC starts cursor movement, line erasing, colours...), DEL, and the Unicode
/// bidirectional controls (U+202E makes the rest of a line read right to left).
fn steers_the_terminal(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Text that came from someone else (a teammate's name, note, purpose or reply, the team's name,
/// a server's message), for the terminal: every control character, line breaks included, and
/// every bidi control is shown escaped (`\u{1b}`), so nobody can fake, move or erase rows on
/// another person's screen. Every such field goes through this; [`terminal_safe`] guards the whole
/// output as well.
#[derive(Clone, Copy, Debug)]
pub struct Foreign<'a>(pub &'a str);

/// [`Foreign`] for `text`.
pub fn foreign(text: &str) -> Foreign<'_> {
    Foreign(text)
}

fn escape(f: &mut impl fmt::Write, c: char) -> fmt::Result {
    write!(f, "\\u{{{:x}}}", u32::from(c))
}

impl fmt::Display for Foreign<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.0.chars().any(steers_the_terminal) {
            return f.pad(self.0);
        }
        let mut shown = String::with_capacity(self.0.len() + 16);
        for c in self.0.chars() {
            if steers_the_terminal(c) { escape(&mut shown, c)? } else { shown.push(c) }
        }
        // Width and alignment (`{:<20}`) apply to what is shown.
        f.pad(&shown)
    }
}

/// Everything `kith` prints goes through this last: control characters but line breaks and tabs,
/// and bidi controls, are escaped, so a field that missed [`Foreign`] still cannot steer the
/// terminal.
pub fn terminal_safe(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c != '\n' && c != '\t' && steers_the_terminal(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if c != '\n' && c != '\t' && steers_the_terminal(c) {
            let _ = escape(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// [`terminal_safe`] for JSON output: the same characters become JSON escapes (`\\u202e`), so the
/// data is unchanged for programs and inert on a terminal. (They can only occur inside strings.)
pub fn json_safe(json: &str) -> Cow<'_, str> {
    if !json.chars().any(|c| c != '\n' && steers_the_terminal(c)) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if c != '\n' && steers_the_terminal(c) {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_bidi_controls_are_shown_not_obeyed() {
        let evil = "Eve\u{1b}[1A\u{1b}[2K\u{202e}gnihton\nFINE  Bob\u{7f}\u{9b}";
        let shown = foreign(evil).to_string();
        assert_eq!(shown, "Eve\\u{1b}[1A\\u{1b}[2K\\u{202e}gnihton\\u{a}FINE  Bob\\u{7f}\\u{9b}");
        assert!(shown.chars().all(|c| !steers_the_terminal(c)));
        assert_eq!(foreign("Zoë 🙂 عربى").to_string(), "Zoë 🙂 عربى", "ordinary text is untouched");
        assert_eq!(terminal_safe("a\n\tb\u{1b}[2J\u{2067}"), "a\n\tb\\u{1b}[2J\\u{2067}");
        assert!(matches!(terminal_safe("plain\n"), Cow::Borrowed(_)));
        let json = serde_json::json!({ "name": "Eve\u{202e}x\u{9b}" }).to_string();
        let safe = json_safe(&json);
        assert_eq!(safe, r#"{"name":"Eve\u202ex\u009b"}"#);
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back["name"], "Eve\u{202e}x\u{9b}", "the same data for programs");
    }
}
