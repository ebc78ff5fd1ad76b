//! Per-change authorisation: given a document as the server holds it and one incoming Automerge
//! change, decide whether the change's author may make every operation in it.
//!
//! The change's operations are read as decoded once for every check ([`crate::change::Decoded`]);
//! each operation's target object is resolved to a
//! path (`checkins/<id>`, `acks/<id>`, ...) either in the document or among the objects the same
//! change creates. The rules follow the "who may write what" table in docs/architecture.md:
//! check-ins and acknowledgements are created once, inside one change, and never edited or deleted.

use std::collections::HashMap;

use automerge::legacy::{Key, ObjectId, OpId, OpType};
use automerge::{Automerge, ObjType, Prop, ROOT, ReadDoc, ScalarValue};

use crate::change::Decoded;
use crate::doc::fields::{self, Schema, Write};
use crate::doc::{SHIFT_SCHEMA, Settled, TEAM_SCHEMA, get_obj, get_str};
use crate::ids::is_canonical;
use crate::{DeviceId, MemberId, Role, TeamId};

/// Who made a change, as the server knows them from the device that owns the change's actor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Author {
    pub team: TeamId,
    pub member: MemberId,
    pub device: DeviceId,
    pub role: Role,
}

/// Why a change was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthzError {
    #[error("the change could not be decoded: {0}")]
    Malformed(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("the change refers to an object this document does not have: sync the document first")]
    UnknownObject,
    /// The author may write there, but not that: an unknown field, a value of the wrong type, or
    /// text over the limits of [`crate::limits`].
    #[error("{0}")]
    Invalid(String),
}

fn forbidden<T>(msg: impl Into<String>) -> Result<T, AuthzError> {
    Err(AuthzError::Forbidden(msg.into()))
}

/// Checks one change against the document it will be applied to (`before`): whether its author
/// may make every operation in it, and whether each writes a field of the schema holding what that
/// field holds ([`crate::doc::fields`]).
pub fn authorize(before: &Automerge, change: &Decoded, author: &Author) -> Result<(), AuthzError> {
    check(before, None, change, Some(author))
}

/// [`authorize`] for a caller that knows `before`'s settled facts (`settled` is what
/// [`Settled::read`] reads of `before` as it is): the same verdict, without reading the
/// document's schema, team, worker and collections again. The server keeps them with its cached
/// documents; a forged change that writes them is refused all the same (by what it writes).
pub fn authorize_settled(
    before: &Automerge,
    settled: &Settled,
    change: &Decoded,
    author: &Author,
) -> Result<(), AuthzError> {
    check(before, Some(settled), change, Some(author))
}

/// Checks only the write schema of a change the server makes itself (it may write anything a lead
/// may, but no field nobody knows and no text over [`crate::limits`]): the same table as
/// [`authorize`], so the server's own edits hold to what it asks of devices.
pub fn check_fields(before: &Automerge, change: &Decoded) -> Result<(), AuthzError> {
    check(before, None, change, None)
}

/// [`authorize`] for `Some(author)`; [`check_fields`] for `None`. `settled`: `before`'s, if known.
fn check(
    before: &Automerge,
    settled: Option<&Settled>,
    change: &Decoded,
    author: Option<&Author>,
) -> Result<(), AuthzError> {
    // Who the role checks are about; the server (None) is held to the schema only.
    let nobody;
    let (author, roles) = match author {
        Some(a) => (a, true),
        None => {
            nobody = Author {
                team: TeamId(uuid::Uuid::nil()),
                member: MemberId(uuid::Uuid::nil()),
                device: DeviceId(uuid::Uuid::nil()),
                role: Role::Admin,
            };
            (&nobody, false)
        }
    };
    // Decoding trusts the bytes it was given: a panic in it is a malformed change.
    let decoded = change.ops().ok_or_else(|| AuthzError::Malformed("unknown operation type".into()))?;
    let start = change.start_op().get();
    let mine = |id: &OpId| id.actor() == change.actor_id() && id.counter() >= start;

    let read;
    let schema = match settled {
        Some(s) => Some(s.schema()),
        None => {
            read = get_str(before, &ROOT, "schema").map_err(|e| AuthzError::Malformed(e.to_string()))?;
            read.as_deref()
        }
    };
    // Whose document this is, read once per change rather than once per operation.
    let member = author.member.to_string();
    let (own_team, is_worker) = match (schema, settled) {
        (None, _) => (false, false),
        (Some(_), Some(s)) => (s.team() == Some(author.team.to_string().as_str()), s.worker() == Some(member.as_str())),
        (Some(_), None) => {
            let team = get_str(before, &ROOT, "team_id").ok().flatten();
            let worker = get_str(before, &ROOT, "worker_id").ok().flatten();
            (team.as_deref() == Some(author.team.to_string().as_str()), worker.as_deref() == Some(member.as_str()))
        }
    };
    let mut ctx =
        Ctx { before, settled, author, member, own_team, is_worker, created: HashMap::new(), paths: HashMap::new() };

    for (i, op) in decoded.operations.iter().enumerate() {
        let op_id = OpId(start + i as u64, change.actor_id().clone());
        let (path, obj_is_new) = match &op.obj {
            ObjectId::Root => (Vec::new(), schema.is_none()),
            ObjectId::Id(id) if mine(id) => match ctx.created.get(id) {
                Some(p) => (p.clone(), true),
                None => return Err(AuthzError::UnknownObject),
            },
            ObjectId::Id(id) => (ctx.existing_path(id)?, false),
        };
        let key = match &op.key {
            Key::Map(s) => s.to_string(),
            Key::Seq(_) => "#".to_string(),
        };
        let action = Action::of(&op.action);
        let fields = match schema {
            None => {
                if roles {
                    ctx.check_creation(&path, &key, &action)?;
                }
                Schema::Shift
            }
            Some(SHIFT_SCHEMA) => {
                if roles {
                    ctx.check_shift(&path, &key, &action, obj_is_new)?;
                }
                Schema::Shift
            }
            Some(TEAM_SCHEMA) => {
                if roles {
                    ctx.check_team(&path, &key, &action)?;
                }
                Schema::Team
            }
            Some(other) => return forbidden(format!("unknown document schema '{other}'")),
        };
        // What the author may write, checked above, must also be a field the schema knows,
        // holding what that field holds: the same table the write functions check.
        let write = match &op.action {
            OpType::Make(t) => Write::Make(*t),
            OpType::Put(v) => Write::Put(v),
            OpType::Delete => Write::Delete,
            _ => return forbidden("documents hold no counters or marks"),
        };
        let p: Vec<&str> = path.iter().map(String::as_str).collect();
        fields::check_op(fields, &p, &key, write).map_err(AuthzError::Invalid)?;
        if let OpType::Make(_) = op.action {
            let mut p = path.clone();
            p.push(key);
            ctx.created.insert(op_id, p);
        }
    }
    Ok(())
}

#[derive(Debug)]
enum Action<'a> {
    Make,
    Put(&'a ScalarValue),
    Delete,
    Other,
}

impl<'a> Action<'a> {
    fn of(t: &'a OpType) -> Self {
        match t {
            OpType::Make(_) => Action::Make,
            OpType::Put(v) => Action::Put(v),
            OpType::Delete => Action::Delete,
            _ => Action::Other,
        }
    }
}

struct Ctx<'a> {
    before: &'a Automerge,
    /// `before`'s settled facts, if the caller knows them.
    settled: Option<&'a Settled>,
    author: &'a Author,
    /// The author's member id, as documents write it.
    member: String,
    /// The document's `team_id` is the author's team.
    own_team: bool,
    /// The document's `worker_id` is the author (shift documents).
    is_worker: bool,
    /// Objects created by this change, by op id, with their paths.
    created: HashMap<OpId, Vec<String>>,
    /// Paths of existing objects already resolved.
    paths: HashMap<OpId, Vec<String>>,
}

impl Ctx<'_> {
    fn existing_path(&mut self, id: &OpId) -> Result<Vec<String>, AuthzError> {
        if let Some(p) = self.paths.get(id) {
            return Ok(p.clone());
        }
        // A shift's collections sit at the root for good: their path is their name.
        if let Some(name) = self.settled.and_then(|s| s.collection_of(id)) {
            return Ok(vec![name.to_string()]);
        }
        let exid = self
            .before
            .import_obj(&format!("{}@{}", id.counter(), id.actor()))
            .map_err(|_| AuthzError::UnknownObject)?;
        let path: Vec<String> = self
            .before
            .parents(&exid)
            .map_err(|_| AuthzError::UnknownObject)?
            .path()
            .into_iter()
            .map(|(_, prop)| match prop {
                Prop::Map(s) => s,
                Prop::Seq(_) => "#".to_string(),
            })
            .collect();
        self.paths.insert(id.clone(), path.clone());
        Ok(path)
    }

    fn has_key(&self, path: &[&str], key: &str) -> bool {
        if let [name] = path
            && let Some(obj) = self.settled.and_then(|s| s.collection(name))
        {
            return matches!(self.before.get(obj, key), Ok(Some(_)));
        }
        let mut obj = ROOT;
        for p in path {
            match get_obj(self.before, &obj, p, ObjType::Map) {
                Ok(Some(o)) => obj = o,
                _ => return false,
            }
        }
        matches!(self.before.get(&obj, key), Ok(Some(_)))
    }

    fn is_str(v: &ScalarValue, expected: &str) -> bool {
        matches!(v, ScalarValue::Str(s) if s.as_str() == expected)
    }

    /// A new document: only a worker creating their own shift in their own team.
    fn check_creation(&self, path: &[String], key: &str, action: &Action<'_>) -> Result<(), AuthzError> {
        if matches!(action, Action::Delete | Action::Other) {
            return forbidden("a new document may only put values and create objects");
        }
        if !path.is_empty() {
            return self.check_new_entry_field(path, key, action);
        }
        match (key, action) {
            ("schema", Action::Put(v)) if Self::is_str(v, SHIFT_SCHEMA) => Ok(()),
            ("schema", _) => forbidden("devices may only create shift documents; teams are created on the server"),
            ("worker_id", Action::Put(v)) if Self::is_str(v, &self.member) => Ok(()),
            ("worker_id", _) => forbidden("a shift document must belong to the member who creates it"),
            ("team_id", Action::Put(v)) if Self::is_str(v, &self.author.team.to_string()) => Ok(()),
            ("team_id", _) => forbidden("a shift document must belong to your own team"),
            _ => Ok(()),
        }
    }

    /// Fields written inside an entry created by this same change (a check-in, an ack, ...).
    fn check_new_entry_field(&self, path: &[String], key: &str, action: &Action<'_>) -> Result<(), AuthzError> {
        let Action::Put(v) = action else {
            if matches!(action, Action::Make) && path.len() == 1 {
                return Ok(()); // e.g. the empty `checkins` map of a new shift
            }
            return forbidden("entries may only hold plain values");
        };
        match (path.first().map(String::as_str), key) {
            (Some("checkins"), "by") | (Some("acks"), "by") if !Self::is_str(v, &self.member) => {
                forbidden("an entry's 'by' must be its author: nobody can check in or acknowledge as someone else")
            }
            (Some("checkins"), "device") if !Self::is_str(v, &self.author.device.to_string()) => {
                forbidden("a check-in's 'device' must be the device that made it")
            }
            (Some("buddies"), _) if path.len() == 1 && key == self.member => {
                forbidden("a worker cannot be their own buddy: name a teammate")
            }
            _ => Ok(()),
        }
    }

    fn check_shift(&self, path: &[String], key: &str, action: &Action<'_>, obj_is_new: bool) -> Result<(), AuthzError> {
        if !self.own_team {
            return forbidden("this shift belongs to another team");
        }
        let is_worker = self.is_worker;
        let is_lead = self.author.role.is_lead();
        if obj_is_new {
            // Fields of an entry this change created: the entry's own rules applied at its creation.
            return self.check_new_entry_field(path, key, action);
        }
        let p: Vec<&str> = path.iter().map(String::as_str).collect();
        match (p.as_slice(), key, action) {
            ([], "purpose", Action::Put(ScalarValue::Str(_))) if is_worker || is_lead => Ok(()),
            ([], "purpose", _) => forbidden("only the worker or a lead may change a shift's purpose"),
            ([], "ended", Action::Make) if is_worker && !self.has_key(&[], "ended") => Ok(()),
            ([], "ended", _) => forbidden("only the worker may end their shift, once"),
            ([], _, _) => forbidden(format!("'{key}' of a shift cannot be changed after the shift starts")),
            (["checkins"], _, Action::Make) if is_worker => {
                if !is_canonical(key) || self.has_key(&["checkins"], key) {
                    return forbidden("a check-in needs a new id, written as a lower-case UUID");
                }
                Ok(())
            }
            (["checkins"], _, Action::Make) => forbidden("only the worker may check in on their own shift"),
            (["acks"], _, Action::Make) if is_lead => {
                if !is_canonical(key) || self.has_key(&["acks"], key) {
                    return forbidden("an acknowledgement needs a new id, written as a lower-case UUID");
                }
                Ok(())
            }
            (["acks"], _, Action::Make) => forbidden("only a lead may acknowledge check-ins"),
            (["extensions"], _, Action::Make) if is_worker && !self.has_key(&["extensions"], key) => Ok(()),
            (["extensions"], _, _) => forbidden("only the worker may extend their shift"),
            (["buddies"], _, Action::Put(_)) if is_worker && key == self.member => {
                forbidden("a worker cannot be their own buddy: name a teammate")
            }
            (["buddies"], _, Action::Put(ScalarValue::Boolean(true)) | Action::Delete) if is_worker => Ok(()),
            (["buddies"], _, _) => forbidden("only the worker may choose their buddies"),
            ([first, ..], _, _) if matches!(*first, "checkins" | "acks" | "ended") => {
                forbidden("check-ins, acknowledgements and the end of a shift are never edited or deleted")
            }
            _ => forbidden(format!("writing '{}/{key}' is not allowed", p.join("/"))),
        }
    }

    fn check_team(&self, path: &[String], key: &str, action: &Action<'_>) -> Result<(), AuthzError> {
        if !self.own_team {
            return forbidden("this is another team's document");
        }
        if matches!(action, Action::Other) {
            return forbidden("the team document holds no counters or marks");
        }
        if let [members, m, buddies] = path
            && members.as_str() == "members"
            && buddies.as_str() == "buddies"
            && m.as_str() == key
            && !matches!(action, Action::Delete)
        {
            return forbidden("a member cannot be their own buddy: name a teammate");
        }
        if self.author.role.is_lead() {
            return match (path.len(), key) {
                (0, "schema" | "v" | "team_id") => forbidden("a team's identity cannot be changed"),
                _ => Ok(()),
            };
        }
        // A member may edit only their own roster entry's name, phone and buddies.
        let me = self.member.as_str();
        let p: Vec<&str> = path.iter().map(String::as_str).collect();
        match (p.as_slice(), key, action) {
            (["members", m], "name", Action::Put(ScalarValue::Str(_))) if *m == me => Ok(()),
            (["members", m], "phone", Action::Put(ScalarValue::Str(_)) | Action::Delete) if *m == me => Ok(()),
            (["members", m, "buddies"], _, Action::Put(ScalarValue::Boolean(true)) | Action::Delete) if *m == me => {
                Ok(())
            }
            _ => forbidden("only leads may edit the team, its policy and other members' entries"),
        }
    }
}
