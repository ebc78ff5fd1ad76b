//! Shift and team documents as Automerge CRDTs, with hand-written typed read/write.
//!
//! Every write is a small, targeted set of operations on a key of its own (a check-in is one new
//! entry in the `checkins` map keyed by its id), so concurrent edits by different peers never touch
//! the same key and the server can authorise each change by the paths it writes.
//! Reading is tolerant of fields it does not know, so newer clients can add fields.

pub mod fields;
pub mod incremental;
pub mod settled;
pub mod shift;
pub mod team;

pub use incremental::{
    ShiftAdditions, validate_shift_additions, validate_shift_additions_settled, validate_shift_changes,
};
pub use settled::Settled;

use automerge::{ObjId, ObjType, ReadDoc, ScalarValue, Value};

use crate::DomainError;

/// The `schema` value at the root of every Kith document, telling what kind it is.
pub const SHIFT_SCHEMA: &str = "kith.shift";
pub const TEAM_SCHEMA: &str = "kith.team";
/// The schema version these functions write and read.
pub const SCHEMA_VERSION: u64 = 1;

/// Which kind of Kith document a document is, by its root `schema` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DocKind {
    Shift,
    Team,
}

impl DocKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DocKind::Shift => "shift",
            DocKind::Team => "team",
        }
    }
}

/// Tells whether a document is a well-formed Kith document, and of which kind.
pub fn validate<D: ReadDoc>(doc: &D) -> Result<DocKind, DomainError> {
    match get_str(doc, &automerge::ROOT, "schema")?.as_deref() {
        Some(SHIFT_SCHEMA) => shift::read(doc).map(|_| DocKind::Shift),
        Some(TEAM_SCHEMA) => team::read(doc).map(|_| DocKind::Team),
        Some(other) => Err(DomainError::Malformed(format!("unknown schema '{other}'"))),
        None => Err(DomainError::Malformed("no schema field at the root".into())),
    }
}

fn malformed(msg: impl Into<String>) -> DomainError {
    DomainError::Malformed(msg.into())
}

/// Where the fields of one map object are read from: the object in a document, or the
/// operations of the change that created it (see [`incremental`]).
pub(crate) trait Fields {
    /// The value at `key`: `None` if absent or null; an error if it is an object.
    fn scalar(&self, key: &str) -> Result<Option<ScalarValue>, DomainError>;
}

/// A map object of a document.
pub(crate) struct InDoc<'a, D>(pub &'a D, pub &'a ObjId);

impl<D: ReadDoc> Fields for InDoc<'_, D> {
    fn scalar(&self, key: &str) -> Result<Option<ScalarValue>, DomainError> {
        scalar(self.0, self.1, key)
    }
}

fn scalar<D: ReadDoc>(doc: &D, obj: &ObjId, key: &str) -> Result<Option<ScalarValue>, DomainError> {
    match doc.get(obj, key)? {
        None => Ok(None),
        Some((Value::Scalar(s), _)) => match s.as_ref() {
            ScalarValue::Null => Ok(None),
            v => Ok(Some(v.clone())),
        },
        Some((Value::Object(_), _)) => Err(malformed(format!("'{key}' should be a value, found an object"))),
    }
}

pub(crate) fn field_str(f: &impl Fields, key: &str) -> Result<Option<String>, DomainError> {
    match f.scalar(key)? {
        None => Ok(None),
        Some(ScalarValue::Str(s)) => Ok(Some(s.to_string())),
        Some(_) => Err(malformed(format!("'{key}' should be text"))),
    }
}

pub(crate) fn req_field_str(f: &impl Fields, key: &str) -> Result<String, DomainError> {
    field_str(f, key)?.ok_or_else(|| malformed(format!("'{key}' is missing")))
}

pub(crate) fn field_int(f: &impl Fields, key: &str) -> Result<Option<i64>, DomainError> {
    match f.scalar(key)? {
        None => Ok(None),
        Some(ScalarValue::Int(i)) => Ok(Some(i)),
        Some(ScalarValue::Uint(u)) => {
            i64::try_from(u).map(Some).map_err(|_| malformed(format!("'{key}' is out of range")))
        }
        Some(_) => Err(malformed(format!("'{key}' should be a number"))),
    }
}

pub(crate) fn req_field_int(f: &impl Fields, key: &str) -> Result<i64, DomainError> {
    field_int(f, key)?.ok_or_else(|| malformed(format!("'{key}' is missing")))
}

/// A time field: present, and within the range a device may send (see [`crate::time`]).
pub(crate) fn req_field_time(f: &impl Fields, key: &str) -> Result<crate::Timestamp, DomainError> {
    let t = crate::Timestamp(req_field_int(f, key)?);
    if !t.in_range() {
        return Err(malformed(format!("'{key}' ({}) is not a time from 1970 to 9999", t.0)));
    }
    Ok(t)
}

pub(crate) fn field_f64(f: &impl Fields, key: &str) -> Result<Option<f64>, DomainError> {
    match f.scalar(key)? {
        None => Ok(None),
        Some(ScalarValue::F64(f)) => Ok(Some(f)),
        Some(ScalarValue::Int(i)) => Ok(Some(i as f64)),
        Some(_) => Err(malformed(format!("'{key}' should be a number"))),
    }
}

pub(crate) fn get_str<D: ReadDoc>(doc: &D, obj: &ObjId, key: &str) -> Result<Option<String>, DomainError> {
    field_str(&InDoc(doc, obj), key)
}

pub(crate) fn req_str<D: ReadDoc>(doc: &D, obj: &ObjId, key: &str) -> Result<String, DomainError> {
    req_field_str(&InDoc(doc, obj), key)
}

pub(crate) fn get_int<D: ReadDoc>(doc: &D, obj: &ObjId, key: &str) -> Result<Option<i64>, DomainError> {
    field_int(&InDoc(doc, obj), key)
}

pub(crate) fn req_int<D: ReadDoc>(doc: &D, obj: &ObjId, key: &str) -> Result<i64, DomainError> {
    req_field_int(&InDoc(doc, obj), key)
}

pub(crate) fn req_time<D: ReadDoc>(doc: &D, obj: &ObjId, key: &str) -> Result<crate::Timestamp, DomainError> {
    req_field_time(&InDoc(doc, obj), key)
}

/// The object at `key`, which must be of type `ty` if present.
pub(crate) fn get_obj<D: ReadDoc>(doc: &D, obj: &ObjId, key: &str, ty: ObjType) -> Result<Option<ObjId>, DomainError> {
    match doc.get(obj, key)? {
        None => Ok(None),
        Some((Value::Object(t), id)) if t == ty => Ok(Some(id)),
        Some(_) => Err(malformed(format!("'{key}' should be a {ty:?}"))),
    }
}

pub(crate) fn req_obj<D: ReadDoc>(doc: &D, obj: &ObjId, key: &str, ty: ObjType) -> Result<ObjId, DomainError> {
    get_obj(doc, obj, key, ty)?.ok_or_else(|| malformed(format!("'{key}' is missing")))
}

pub(crate) fn parse<T: std::str::FromStr>(s: &str, what: &str) -> Result<T, DomainError> {
    s.parse().map_err(|_| malformed(format!("'{s}' is not a valid {what}")))
}

/// Keys of a map object that hold a set (`id -> true`), parsed as ids.
pub(crate) fn id_set<D: ReadDoc, T: std::str::FromStr + Ord>(
    doc: &D,
    obj: &ObjId,
    what: &str,
) -> Result<Vec<T>, DomainError> {
    let mut ids = doc.keys(obj).map(|k| parse(&k, what)).collect::<Result<Vec<T>, _>>()?;
    ids.sort();
    Ok(ids)
}

pub(crate) fn check_schema<D: ReadDoc>(doc: &D, expected: &str) -> Result<(), DomainError> {
    let schema = req_str(doc, &automerge::ROOT, "schema")?;
    if schema != expected {
        return Err(malformed(format!("expected a '{expected}' document, found '{schema}'")));
    }
    let v = req_int(doc, &automerge::ROOT, "v")?;
    if v < 1 || v as u64 > SCHEMA_VERSION {
        return Err(malformed(format!(
            "schema version {v} is newer than this build understands ({SCHEMA_VERSION}): update Kith"
        )));
    }
    Ok(())
}

pub(crate) fn enum_from_str<T: serde::de::DeserializeOwned>(s: &str, what: &str) -> Result<T, DomainError> {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .map_err(|_| malformed(format!("'{s}' is not a valid {what}")))
}

pub(crate) fn enum_to_str<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// The entries of a map whose values must all be maps.
pub(crate) fn map_entries<D: ReadDoc>(
    doc: &D,
    obj: &automerge::ObjId,
) -> Result<Vec<(String, automerge::ObjId)>, DomainError> {
    doc.keys(obj)
        .map(|k| {
            let id = req_obj(doc, obj, &k, ObjType::Map)?;
            Ok((k, id))
        })
        .collect()
}
