//! What a document's root holds that no accepted change ever rewrites: its schema, its team and
//! worker, and the objects of a shift's collections (`checkins`, `acks`, `extensions`).
//! Authorisation and validation read them for every change; reading them is most of what those
//! checks cost on a check-in (each is a seek in the document's operations). The server reads
//! them once per cached document and passes them in ([`crate::authz::authorize_settled`],
//! [`super::validate_shift_additions_settled`]); a device, or anything without them, calls the
//! functions that read the document, which give the same answers.
//!
//! They are not trusted beyond what they are: facts of one document state, which stay true after
//! a change only if it writes nothing at the root ([`Settled::kept_by`]). Nothing else can change
//! a value at the root, and the authorisation refuses any device's change that rewrites them,
//! but callers drop them (and read them again) after any change that writes there, whoever
//! made it, so what the checks use is always what the document holds.

use automerge::legacy::{ObjectId, OpId};
use automerge::{ObjId, ObjType, ROOT, ReadDoc};

use super::{DocKind, SHIFT_SCHEMA, TEAM_SCHEMA, get_obj, get_str};
use crate::change::Decoded;

/// A shift's collections that new entries go into, in the order [`Settled`] keeps them.
pub(crate) const COLLECTIONS: [&str; 3] = ["checkins", "acks", "extensions"];

/// The settled facts of one state of a Kith document, as [`Settled::read`] found them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settled {
    kind: DocKind,
    /// `team_id` and `worker_id` as the document writes them (`None`: absent or not text).
    team: Option<String>,
    worker: Option<String>,
    /// A shift's [`COLLECTIONS`] (each a map); none for a team document.
    collections: Option<[ObjId; 3]>,
}

impl Settled {
    /// Reads the facts of `doc` as it is. `None` for anything but a well-formed start of a shift
    /// or team document (no schema, an unknown one, a shift missing a collection): then the
    /// checks read the document themselves, as they always may.
    pub fn read<D: ReadDoc>(doc: &D) -> Option<Settled> {
        let kind = match get_str(doc, &ROOT, "schema").ok()?.as_deref() {
            Some(SHIFT_SCHEMA) => DocKind::Shift,
            Some(TEAM_SCHEMA) => DocKind::Team,
            _ => return None,
        };
        let team = get_str(doc, &ROOT, "team_id").ok().flatten();
        let worker = get_str(doc, &ROOT, "worker_id").ok().flatten();
        let collections = match kind {
            DocKind::Shift => {
                let [a, b, c] = COLLECTIONS.map(|name| get_obj(doc, &ROOT, name, ObjType::Map).ok().flatten());
                Some([a?, b?, c?])
            }
            DocKind::Team => None,
        };
        Some(Settled { kind, team, worker, collections })
    }

    /// Whether facts read before `change` still hold after it: it writes nothing at the root
    /// (and its operations can be read at all).
    pub fn kept_by(change: &Decoded) -> bool {
        change.ops().is_some_and(|ops| ops.operations.iter().all(|op| op.obj != ObjectId::Root))
    }

    pub fn kind(&self) -> DocKind {
        self.kind
    }

    pub fn schema(&self) -> &'static str {
        match self.kind {
            DocKind::Shift => SHIFT_SCHEMA,
            DocKind::Team => TEAM_SCHEMA,
        }
    }

    pub(crate) fn team(&self) -> Option<&str> {
        self.team.as_deref()
    }

    pub(crate) fn worker(&self) -> Option<&str> {
        self.worker.as_deref()
    }

    /// The object of the shift's collection `name` (one of [`COLLECTIONS`]).
    pub(crate) fn collection(&self, name: &str) -> Option<&ObjId> {
        let i = COLLECTIONS.iter().position(|c| *c == name)?;
        self.collections.as_ref().map(|c| &c[i])
    }

    /// Which of the shift's collections the object `id` is, if one.
    pub(crate) fn collection_of(&self, id: &OpId) -> Option<&'static str> {
        let objs = self.collections.as_ref()?;
        COLLECTIONS.iter().zip(objs).find_map(|(name, obj)| is(obj, id).then_some(*name))
    }

    /// The heap it holds (its strings), for the cache's estimate of a live document.
    pub fn heap_bytes(&self) -> usize {
        self.team.as_ref().map_or(0, String::capacity) + self.worker.as_ref().map_or(0, String::capacity)
    }
}

/// Whether a document's object id and an operation's are the same object.
pub(crate) fn is(obj: &ObjId, id: &OpId) -> bool {
    matches!(obj, ObjId::Id(counter, actor, _) if *counter == id.counter() && actor == id.actor())
}
