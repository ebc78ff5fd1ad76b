//! The write schema: every field a change may write into a shift or team document, and what it
//! must hold. The server checks each operation of each pushed change against it
//! ([`crate::authz::authorize`] calls [`check_op`]), so a field nobody knows, a value of the wrong
//! type, or text over the limits of [`crate::limits`] is refused before it is stored: every teammate
//! would otherwise download it for as long as the document lives.
//!
//! Readers still ignore fields they do not know (a document written by a newer client stays
//! readable); a new field needs a server that knows it, so the server is upgraded first.

use automerge::{ObjType, ScalarValue};

use crate::ids::is_canonical;
use crate::limits::{self, MAX_KEY_BYTES, MAX_WORD_BYTES, TextLimit};

/// Which document a change writes into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schema {
    Shift,
    Team,
}

/// What a field holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    /// Text within a limit of the table.
    Text(TextLimit),
    /// An id (a UUID as text).
    Id,
    /// One of a few words (a status, a role, the schema name).
    Word,
    /// A whole number.
    Int,
    /// A number (a latitude or longitude).
    Number,
    /// `true`: membership of a set keyed by id.
    Flag,
    Map,
    List,
}

/// The type of `key` in the object at `path` (map keys from the root; `#` for a list element).
pub fn field(schema: Schema, path: &[&str], key: &str) -> Option<FieldType> {
    use FieldType::*;
    match schema {
        Schema::Shift => Some(match (path, key) {
            ([], "schema") => Word,
            ([], "v" | "started_at" | "planned_end" | "interval_s") => Int,
            ([], "shift_id" | "team_id" | "worker_id") => Id,
            ([], "purpose") => Text(limits::SHIFT_PURPOSE),
            ([], "buddies" | "extensions" | "checkins" | "acks" | "ended") => Map,
            (["buddies"], _) => Flag,
            (["extensions" | "checkins" | "acks"], _) => Map,
            (["extensions", _], "new_end" | "at") => Int,
            (["extensions", _], "reason") => Text(limits::EXTENSION_REASON),
            (["ended"], "at") => Int,
            (["ended"], "note") => Text(limits::END_NOTE),
            (["checkins", _], "status" | "note_vis" | "loc_precision") => Word,
            (["checkins", _], "mood" | "confidence" | "device_time") => Int,
            (["checkins", _], "lat" | "lon") => Number,
            (["checkins", _], "note") => Text(limits::CHECKIN_NOTE),
            (["checkins", _], "by" | "device") => Id,
            (["acks", _], "checkin" | "by") => Id,
            (["acks", _], "at") => Int,
            (["acks", _], "reply") => Text(limits::ACK_REPLY),
            _ => return None,
        }),
        Schema::Team => Some(match (path, key) {
            ([], "schema") => Word,
            ([], "v") => Int,
            ([], "team_id") => Id,
            ([], "name") => Text(limits::TEAM_NAME),
            ([], "purpose") => Text(limits::TEAM_PURPOSE),
            ([], "phone") => Text(limits::TEAM_PHONE),
            ([], "policy" | "members") => Map,
            (
                ["policy"],
                "min_interval_s" | "max_interval_s" | "default_interval_s" | "grace_s" | "reminder_lead_s",
            ) => Int,
            (["policy"], "escalation") => List,
            (["policy", "escalation"], "#") => Map,
            (["policy", "escalation", "#"], "after_s") => Int,
            (["policy", "escalation", "#"], "notify") => Word,
            (["members"], _) => Map,
            (["members", _], "name") => Text(limits::MEMBER_NAME),
            (["members", _], "role") => Word,
            (["members", _], "phone") => Text(limits::MEMBER_PHONE),
            (["members", _], "buddies") => Map,
            (["members", _, "buddies"], _) => Flag,
            _ => return None,
        }),
    }
}

/// What the keys of the map at `path` are, if they are ids (a check-in's id, a member's id, ...):
/// each must then be written as [`crate::ids::is_canonical`] says.
pub fn key_is_id(schema: Schema, path: &[&str]) -> Option<&'static str> {
    match (schema, path) {
        (Schema::Shift, ["checkins"]) => Some("a check-in id"),
        (Schema::Shift, ["acks"]) => Some("an acknowledgement id"),
        (Schema::Shift, ["extensions"]) => Some("an extension id"),
        (Schema::Shift, ["buddies"]) | (Schema::Team, ["members"] | ["members", _, "buddies"]) => Some("a member id"),
        _ => None,
    }
}

/// What one operation does, as far as the schema cares.
#[derive(Clone, Copy, Debug)]
pub enum Write<'a> {
    Make(ObjType),
    Put(&'a ScalarValue),
    /// Deleting a field or a set member: allowed by the schema wherever the author may write.
    Delete,
}

/// How an id must be written, for the messages of refused ids.
const ID_SPELLING: &str = "written as a UUID in lower case with hyphens (as 0190a5c4-7e1b-7c3d-9f00-5a1b2c3d4e5f): \
     another spelling would read as the same id as an entry written the usual way; write ids as Kith's clients do";

fn describe(schema: Schema, path: &[&str], key: &str) -> String {
    let doc = match schema {
        Schema::Shift => "shift",
        Schema::Team => "team",
    };
    // Keys are at most MAX_KEY_BYTES by now, so the message stays short.
    let mut p: Vec<&str> = path.to_vec();
    p.push(key);
    format!("'{}' of a {doc} document", p.join("/"))
}

/// Checks one operation against the write schema. The message says what is wrong and what to do.
pub fn check_op(schema: Schema, path: &[&str], key: &str, write: Write<'_>) -> Result<(), String> {
    if key.len() > MAX_KEY_BYTES {
        return Err(format!(
            "a key of {} bytes: keys are field names and ids, at most {MAX_KEY_BYTES} bytes",
            key.len()
        ));
    }
    if matches!(write, Write::Delete) {
        // Deleting a key that is not there changes nothing; one in another spelling is cleaned up.
        return Ok(());
    }
    if let Some(what) = key_is_id(schema, path)
        && !is_canonical(key)
    {
        return Err(format!("{} is keyed by {what}, {ID_SPELLING}", describe(schema, path, key)));
    }
    let Some(ty) = field(schema, path, key) else {
        return Err(format!(
            "{} is not a field this server knows: drop it, or update the server before the clients that write it",
            describe(schema, path, key)
        ));
    };
    let wrong = |expected: &str| Err(format!("{} should be {expected}", describe(schema, path, key)));
    match (ty, write) {
        (FieldType::Map, Write::Make(ObjType::Map)) | (FieldType::List, Write::Make(ObjType::List)) => Ok(()),
        (FieldType::Map, _) => wrong("a map"),
        (FieldType::List, _) => wrong("a list"),
        (_, Write::Make(_)) => wrong("a plain value"),
        // A null reads as absent: harmless and small.
        (_, Write::Put(ScalarValue::Null)) => Ok(()),
        (FieldType::Text(limit), Write::Put(ScalarValue::Str(s))) => limit.check(s).map_err(|e| e.to_string()),
        (FieldType::Text(_), _) => wrong("text"),
        (FieldType::Id, Write::Put(ScalarValue::Str(s))) if is_canonical(s) => Ok(()),
        (FieldType::Id, Write::Put(ScalarValue::Str(_))) => {
            Err(format!("{} should be an id, {ID_SPELLING}", describe(schema, path, key)))
        }
        (FieldType::Id, _) => wrong("an id"),
        (FieldType::Word, Write::Put(ScalarValue::Str(s))) if s.len() <= MAX_WORD_BYTES => Ok(()),
        (FieldType::Word, _) => wrong("a short word"),
        (FieldType::Int, Write::Put(ScalarValue::Int(_) | ScalarValue::Uint(_))) => Ok(()),
        (FieldType::Int, _) => wrong("a whole number"),
        (FieldType::Number, Write::Put(ScalarValue::F64(_) | ScalarValue::Int(_))) => Ok(()),
        (FieldType::Number, _) => wrong("a number"),
        (FieldType::Flag, Write::Put(ScalarValue::Boolean(true))) => Ok(()),
        (FieldType::Flag, _) => wrong("true"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_the_write_functions_write_is_known_and_nothing_else() {
        let note = ScalarValue::Str("x".repeat(limits::CHECKIN_NOTE.max_chars + 1).into());
        let ok = ScalarValue::Str("fine".into());
        let at = |p: &[&str], k: &str, v: &ScalarValue| check_op(Schema::Shift, p, k, Write::Put(v));
        assert!(at(&["checkins", "id"], "note", &ok).is_ok());
        assert!(at(&["checkins", "id"], "note", &note).unwrap_err().contains("too long"));
        assert!(at(&["checkins", "id"], "nickname", &ok).unwrap_err().contains("not a field"));
        assert!(at(&[], "junk", &ok).is_err());
        assert!(at(&["checkins", "id"], "note", &ScalarValue::Bytes(vec![1; 10])).is_err());
        assert!(check_op(Schema::Shift, &["checkins", "id"], "note", Write::Make(ObjType::Text)).is_err());
        assert!(check_op(Schema::Shift, &[], "checkins", Write::Make(ObjType::Map)).is_ok());
        let long_key = "k".repeat(MAX_KEY_BYTES + 1);
        assert!(check_op(Schema::Shift, &["buddies"], &long_key, Write::Put(&ScalarValue::Boolean(true))).is_err());
        let team = |p: &[&str], k: &str, v: &ScalarValue| check_op(Schema::Team, p, k, Write::Put(v));
        assert!(team(&["members", "m"], "name", &ScalarValue::Str("Al\u{202E}ice".into())).is_err());
        assert!(team(&["members", "m"], "phone", &ScalarValue::Str("+44 1234".into())).is_ok());
        assert!(team(&["policy", "escalation", "#"], "after_s", &ScalarValue::Int(60)).is_ok());
    }
}
