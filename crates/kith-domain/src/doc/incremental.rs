//! Cheap validation of a shift document after new changes, for a document that was valid before
//! them (the server validates every stored state, so each new state only needs its new parts
//! checked): the header, and the entries the changes create. Anything else a change writes
//! (another object, a delete, a field of an existing entry) falls back to the full
//! [`validate`](super::validate), so the answer is always the full validation's.

use std::collections::{HashMap, HashSet};

use automerge::legacy::{Key, ObjectId, OpId, OpType};
use automerge::{ObjId, ObjType, ROOT, ReadDoc, ScalarValue};

use super::settled::{COLLECTIONS, Settled, is};
use super::shift::{read_ack_entry, read_checkin, read_ended, read_extension, read_header};
use super::{DocKind, Fields, InDoc, SHIFT_SCHEMA, get_obj, get_str, malformed, req_obj};
use crate::DomainError;
use crate::change::Decoded;
use crate::model::{Ack, CheckIn, Extension, Shift, ShiftEnd};

/// What a set of changes touched, if it is only what [`validate_shift_changes`] knows how to check.
#[derive(Debug, Default)]
struct Touched {
    /// New entries: (key, id of the object created for it).
    checkins: Vec<(String, String)>,
    acks: Vec<(String, String)>,
    extensions: Vec<(String, String)>,
    /// The fields each created object was given by the change that created it.
    written: HashMap<String, Written>,
    ended: bool,
    buddies: bool,
    /// A header field (a value at the root) was written.
    header: bool,
}

fn obj_str(id: &automerge::legacy::OpId) -> String {
    format!("{}@{}", id.counter(), id.actor())
}

/// The values a change put into an object it created. When every key is put once and no put
/// overwrites anything (`regular`), these are exactly what the document holds for the object
/// once the change is applied: no other change can write into an object before the change that
/// creates it (it is not in their history), and [`touched`] refuses the cheap path when a later
/// change of the same batch writes into it. Reading them saves reading the document.
#[derive(Debug, Default)]
struct Written {
    fields: Vec<(String, ScalarValue)>,
    regular: bool,
}

impl Fields for Written {
    fn scalar(&self, key: &str) -> Result<Option<ScalarValue>, DomainError> {
        Ok(self.fields.iter().find(|(k, _)| k == key).and_then(|(_, v)| match v {
            ScalarValue::Null => None,
            v => Some(v.clone()),
        }))
    }
}

/// The root collection an object is, found by asking only for the collections needed (a check-in
/// change targets `checkins` only, so one lookup), or known beforehand ([`Settled`]).
struct Collections<'a, D: ReadDoc> {
    doc: &'a D,
    known: Vec<(&'static str, Option<ObjId>)>,
}

impl<'a, D: ReadDoc> Collections<'a, D> {
    fn new(doc: &'a D, settled: Option<&Settled>) -> Self {
        let known = match settled {
            Some(s) => COLLECTIONS.iter().map(|name| (*name, s.collection(name).cloned())).collect(),
            None => Vec::new(),
        };
        Collections { doc, known }
    }

    /// The collection's object (`None`: the document has none).
    fn get(&mut self, name: &'static str) -> Result<Option<ObjId>, DomainError> {
        if let Some((_, id)) = self.known.iter().find(|(n, _)| *n == name) {
            return Ok(id.clone());
        }
        let id = get_obj(self.doc, &ROOT, name, ObjType::Map)?;
        self.known.push((name, id.clone()));
        Ok(id)
    }

    /// Like [`req_obj`]: an error if the document has no such collection.
    fn req(&mut self, name: &'static str) -> Result<ObjId, DomainError> {
        self.get(name)?.ok_or_else(|| malformed(format!("'{name}' is missing")))
    }

    fn which(&mut self, obj: &OpId) -> Result<Option<&'static str>, DomainError> {
        for name in ["checkins", "acks", "extensions", "buddies", "ended"] {
            if self.get(name)?.is_some_and(|id| is(&id, obj)) {
                return Ok(Some(name));
            }
        }
        Ok(None)
    }
}

/// The entries `changes` create, or `None` if they do anything else (then validate fully).
fn touched<D: ReadDoc>(maps: &mut Collections<'_, D>, changes: &[Decoded]) -> Result<Option<Touched>, DomainError> {
    let mut t = Touched::default();
    for change in changes {
        let Some(decoded) = change.ops() else { return Ok(None) };
        let start = change.start_op().get();
        // Objects this change creates inside a recognised entry (their fields are read with it).
        let mut inside: HashSet<String> = HashSet::new();
        for (i, op) in decoded.operations.iter().enumerate() {
            let this = || format!("{}@{}", start + i as u64, change.actor_id());
            let Key::Map(key) = &op.key else { return Ok(None) };
            let (obj, id) = match &op.obj {
                ObjectId::Root => {
                    match (key.as_str(), &op.action) {
                        ("ended", OpType::Make(_)) => {
                            t.ended = true;
                            inside.insert(this());
                        }
                        (_, OpType::Put(_)) => t.header = true,
                        _ => return Ok(None),
                    }
                    continue;
                }
                ObjectId::Id(id) => (obj_str(id), id),
            };
            if inside.contains(&obj) {
                let OpType::Put(v) = &op.action else { return Ok(None) };
                let w = t.written.entry(obj).or_insert_with(|| Written { fields: Vec::new(), regular: true });
                if !op.pred.is_empty() || w.fields.iter().any(|(k, _)| k.as_str() == key.as_str()) {
                    w.regular = false;
                }
                w.fields.push((key.to_string(), v.clone()));
                continue;
            }
            let made = matches!(op.action, OpType::Make(_));
            let put = matches!(op.action, OpType::Put(_));
            match (maps.which(id)?, made) {
                (Some("checkins"), true) => t.checkins.push((key.to_string(), this())),
                (Some("acks"), true) => t.acks.push((key.to_string(), this())),
                (Some("extensions"), true) => t.extensions.push((key.to_string(), this())),
                (Some("buddies"), false) if put || matches!(op.action, OpType::Delete) => {
                    t.buddies = true;
                    continue;
                }
                (Some("ended"), false) if put => {
                    t.ended = true;
                    continue;
                }
                _ => return Ok(None),
            }
            inside.insert(this());
        }
    }
    Ok(Some(t))
}

/// What changes added to a shift document that was valid before them, read as
/// [`shift::read`](super::shift::read) reads it: the new check-ins, acknowledgements and
/// extensions, and the end if they wrote it. [`ShiftAdditions::apply_to`] brings the shift as read
/// before the changes to what reading the document after them returns, without reading the rest.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ShiftAdditions {
    pub checkins: Vec<CheckIn>,
    pub acks: Vec<Ack>,
    pub extensions: Vec<Extension>,
    /// The end as it is after the changes, if they wrote it.
    pub ended: Option<Option<ShiftEnd>>,
    /// A check-in or extension added under a key that is not its id's own spelling
    /// ([`crate::ids::is_canonical`]): it may replace an entry of the shift with the same id.
    pub odd_keys: bool,
}

/// Inserts `item` into `list` sorted by `key`, replacing an entry with the same `id`, which it
/// returns (with any further duplicates).
fn insert_sorted<T, K: Ord, I: PartialEq>(
    list: &mut Vec<T>,
    item: T,
    key: impl Fn(&T) -> K,
    id: impl Fn(&T) -> I,
    replaced: &mut Vec<T>,
) {
    while let Some(at) = list.iter().position(|x| id(x) == id(&item)) {
        replaced.push(list.remove(at));
    }
    let k = key(&item);
    let at = list.partition_point(|x| key(x) <= k);
    list.insert(at, item);
}

impl ShiftAdditions {
    /// Applies the additions to `shift` (read before the changes), keeping the orders
    /// [`shift::read`](super::shift::read) returns: check-ins by device time then id,
    /// acknowledgements and extensions by time then id. Returns what they replaced: the entries
    /// with the same id as an added one, and the end before, if they wrote it (so a caller can
    /// account for what left without looking at the rest of the shift).
    pub fn apply_to(self, shift: &mut Shift) -> ShiftAdditions {
        let mut out = ShiftAdditions::default();
        for c in self.checkins {
            insert_sorted(&mut shift.checkins, c, |c| (c.device_time, c.id), |c| c.id, &mut out.checkins);
        }
        for a in self.acks {
            insert_sorted(&mut shift.acks, a, |a| (a.at, a.id), |a| a.id, &mut out.acks);
        }
        for e in self.extensions {
            insert_sorted(&mut shift.extensions, e, |e| (e.at, e.id), |e| e.id, &mut out.extensions);
        }
        if let Some(ended) = self.ended {
            out.ended = Some(std::mem::replace(&mut shift.ended, ended));
        }
        out
    }
}

/// Checks a shift document after `changes` were applied to it, assuming it was a valid shift
/// document before them: the header and every entry the changes create are read and checked as
/// [`shift::read`](super::shift::read) would; changes that write anything else are checked by
/// reading the whole document. Returns the same verdict as the full validation, in time
/// proportional to the changes rather than to the document.
pub fn validate_shift_changes<D: ReadDoc>(doc: &D, changes: &[Decoded]) -> Result<DocKind, DomainError> {
    validate_shift_additions(doc, changes).map(|(kind, _)| kind)
}

/// [`validate_shift_changes`], also returning what the changes added when that is all they did
/// (new entries, and possibly the end). `None` when they wrote anything else (a header field, the
/// buddies, an existing entry): then only reading the whole document tells the new state.
pub fn validate_shift_additions<D: ReadDoc>(
    doc: &D,
    changes: &[Decoded],
) -> Result<(DocKind, Option<ShiftAdditions>), DomainError> {
    additions(doc, changes, None)
}

/// [`validate_shift_additions`] for a caller that knows `doc`'s settled facts: `settled` is what
/// [`Settled::read`] reads of `doc` as it is now, with the changes applied (kept from before them
/// only if each was [`Settled::kept_by`]). The same answer, without reading the document's
/// schema and collections again.
pub fn validate_shift_additions_settled<D: ReadDoc>(
    doc: &D,
    changes: &[Decoded],
    settled: &Settled,
) -> Result<(DocKind, Option<ShiftAdditions>), DomainError> {
    additions(doc, changes, Some(settled))
}

fn additions<D: ReadDoc>(
    doc: &D,
    changes: &[Decoded],
    settled: Option<&Settled>,
) -> Result<(DocKind, Option<ShiftAdditions>), DomainError> {
    let shift = match settled {
        Some(s) => s.kind() == DocKind::Shift,
        None => get_str(doc, &ROOT, "schema")?.as_deref() == Some(SHIFT_SCHEMA),
    };
    if !shift || changes.is_empty() {
        return super::validate(doc).map(|k| (k, None));
    }
    let mut maps = Collections::new(doc, settled);
    let Some(t) = touched(&mut maps, changes)? else {
        return super::validate(doc).map(|k| (k, None));
    };
    // The header, the buddies and the end are checked whenever a change writes any of them (any
    // write at the root is one of those, and reading the header reads every collection); a change
    // that only adds entries leaves them as they were (valid), so only the collections it adds to
    // are read.
    if t.header || t.buddies || t.ended {
        read_header(doc)?;
    }
    let mut added = ShiftAdditions::default();
    let checkins = maps.req("checkins")?;
    for (key, created) in &t.checkins {
        let o = req_obj(doc, &checkins, key, ObjType::Map)?;
        // The entry as its change wrote it, if that is surely what the document holds.
        let c = match t.written.get(created) {
            Some(w) if w.regular && o.to_string() == *created => read_checkin(w, key)?,
            _ => read_checkin(&InDoc(doc, &o), key)?,
        };
        added.odd_keys |= !crate::ids::is_canonical(key);
        added.checkins.push(c);
    }
    if !t.acks.is_empty() {
        let acks = maps.req("acks")?;
        for (key, _) in &t.acks {
            let o = req_obj(doc, &acks, key, ObjType::Map)?;
            let ack = read_ack_entry(doc, key, &o)?;
            if doc.get(&checkins, ack.checkin.to_string())?.is_none() {
                return Err(malformed(format!("ack {} refers to unknown check-in {}", ack.id, ack.checkin)));
            }
            added.acks.push(ack);
        }
    }
    if !t.extensions.is_empty() {
        let exts = maps.req("extensions")?;
        for (key, _) in &t.extensions {
            let o = req_obj(doc, &exts, key, ObjType::Map)?;
            added.odd_keys |= !crate::ids::is_canonical(key);
            added.extensions.push(read_extension(doc, key, &o)?);
        }
    }
    if t.ended {
        added.ended = Some(read_ended(doc)?);
    }
    let added = (!t.header && !t.buddies).then_some(added);
    Ok((DocKind::Shift, added))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use automerge::transaction::Transactable;
    use automerge::{Automerge, ObjType, ROOT, ReadDoc};

    use super::*;
    use crate::doc::{shift, validate};
    use crate::*;

    fn decoded(changes: Vec<automerge::Change>) -> Vec<Decoded> {
        changes.into_iter().map(Decoded::new).collect()
    }

    fn setup() -> (Automerge, Shift, CheckIn) {
        let s = Shift::begin(TeamId::new(), MemberId::new(), "p", Timestamp(1_000), Timestamp(100_000), Secs(600));
        let mut doc = Automerge::new();
        doc.transact(|tx| shift::init(tx, &s)).map_err(|f| f.error).unwrap();
        let c = CheckIn::new(CheckInStatus::Ok, Timestamp(2_000), s.worker, DeviceId::new());
        (doc, s, c)
    }

    /// Applies `edit` as one change and returns both verdicts: incremental and full.
    fn verdicts(
        doc: &mut Automerge,
        edit: impl FnOnce(&mut automerge::transaction::Transaction<'_>),
    ) -> (Result<DocKind, DomainError>, Result<DocKind, DomainError>) {
        let heads = doc.get_heads();
        doc.transact::<_, _, DomainError>(|tx| {
            edit(tx);
            Ok(())
        })
        .unwrap();
        let changes = decoded(doc.get_changes(&heads));
        let inc = validate_shift_changes(doc, &changes);
        // Given the settled facts of the document as it now is, the verdict is the same.
        if let Some(settled) = Settled::read(doc) {
            let with = validate_shift_additions_settled(doc, &changes, &settled).map(|(k, _)| k);
            assert_eq!(format!("{with:?}"), format!("{inc:?}"));
        }
        (inc, validate(doc))
    }

    #[test]
    fn a_good_checkin_ack_extension_and_end_pass_like_the_full_validation() {
        let (mut doc, s, c) = setup();
        let (inc, full) = verdicts(&mut doc, |tx| shift::add_checkin(tx, &c).unwrap());
        assert_eq!((inc.unwrap(), full.unwrap()), (DocKind::Shift, DocKind::Shift));
        // The cheap path is taken: the check-in is recognised as the one new entry.
        let last = Decoded::new(doc.get_last_local_change().unwrap().clone());
        let t = touched(&mut Collections::new(&doc, None), &[last]).unwrap().expect("a check-in is a known edit");
        assert_eq!(t.checkins.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(), vec![c.id.to_string()]);
        let a = Ack { id: AckId::new(), checkin: c.id, by: MemberId::new(), at: Timestamp(3_000), reply: None };
        let (inc, full) = verdicts(&mut doc, |tx| shift::add_ack(tx, &a).unwrap());
        assert!(inc.is_ok() && full.is_ok());
        let e = Extension {
            id: ExtensionId::new(),
            new_end: Timestamp(200_000),
            reason: "late".into(),
            at: Timestamp(4_000),
        };
        let (inc, full) = verdicts(&mut doc, |tx| shift::extend(tx, &e).unwrap());
        assert!(inc.is_ok() && full.is_ok());
        let (inc, full) = verdicts(&mut doc, |tx| shift::set_purpose(tx, "other").unwrap());
        assert!(inc.is_ok() && full.is_ok());
        let (inc, full) =
            verdicts(&mut doc, |tx| shift::end(tx, &ShiftEnd { at: Timestamp(5_000), note: None }).unwrap());
        assert!(inc.is_ok() && full.is_ok());
        let last = Decoded::new(doc.get_last_local_change().unwrap().clone());
        assert!(touched(&mut Collections::new(&doc, None), &[last]).unwrap().expect("ending is a known edit").ended);
        assert_eq!(shift::read(&doc).unwrap().id, s.id);
    }

    #[test]
    fn bad_entries_are_refused_like_the_full_validation() {
        let (doc, _, c) = setup();
        let checkins = doc.get(ROOT, "checkins").unwrap().unwrap().1;
        let acks = doc.get(ROOT, "acks").unwrap().unwrap().1;
        // A check-in with an unknown status.
        let mut d = doc.fork();
        let (inc, full) = verdicts(&mut d, |tx| {
            let o = tx.put_object(&checkins, c.id.to_string(), ObjType::Map).unwrap();
            tx.put(&o, "status", "bogus").unwrap();
            tx.put(&o, "device_time", 5i64).unwrap();
            tx.put(&o, "by", c.by.to_string()).unwrap();
            tx.put(&o, "device", c.device.to_string()).unwrap();
        });
        assert!(inc.is_err() && full.is_err(), "{inc:?} {full:?}");
        // A check-in keyed by something that is not an id.
        let mut d = doc.fork();
        let (inc, full) = verdicts(&mut d, |tx| {
            let o = tx.put_object(&checkins, "not-an-id", ObjType::Map).unwrap();
            tx.put(&o, "status", "ok").unwrap();
        });
        assert!(inc.is_err() && full.is_err());
        // An ack for a check-in that does not exist.
        let mut d = doc.fork();
        let (inc, full) = verdicts(&mut d, |tx| {
            let o = tx.put_object(&acks, AckId::new().to_string(), ObjType::Map).unwrap();
            tx.put(&o, "checkin", CheckInId::new().to_string()).unwrap();
            tx.put(&o, "by", MemberId::new().to_string()).unwrap();
            tx.put(&o, "at", 5i64).unwrap();
        });
        assert!(inc.is_err() && full.is_err());
        // A header field broken: the header is always re-read.
        let mut d = doc.fork();
        let (inc, full) = verdicts(&mut d, |tx| tx.put(ROOT, "interval_s", 0i64).unwrap());
        assert!(inc.is_err() && full.is_err());
        // A collection replaced by a value: not an entry, so the full validation decides.
        let mut d = doc.fork();
        let (inc, full) = verdicts(&mut d, |tx| tx.put(ROOT, "acks", "gone").unwrap());
        assert!(inc.is_err() && full.is_err());
    }

    #[test]
    fn a_checkin_is_read_as_the_document_holds_it_even_when_its_change_puts_a_field_twice() {
        let (doc, s, c) = setup();
        let checkins = doc.get(ROOT, "checkins").unwrap().unwrap().1;
        for (first, last, valid) in [("bogus", "ok", true), ("ok", "bogus", false)] {
            let mut d = doc.fork();
            let (inc, full) = verdicts(&mut d, |tx| {
                let o = tx.put_object(&checkins, c.id.to_string(), ObjType::Map).unwrap();
                tx.put(&o, "status", first).unwrap();
                tx.put(&o, "device_time", 5i64).unwrap();
                tx.put(&o, "by", s.worker.to_string()).unwrap();
                tx.put(&o, "device", c.device.to_string()).unwrap();
                tx.put(&o, "status", last).unwrap();
            });
            assert_eq!((inc.is_ok(), full.is_ok()), (valid, valid), "{first} then {last}: {inc:?} {full:?}");
        }
    }

    #[test]
    fn edits_it_does_not_model_fall_back_to_the_full_validation() {
        let (mut doc, _, c) = setup();
        doc.transact(|tx| shift::add_checkin(tx, &c)).map_err(|f| f.error).unwrap();
        let checkins = doc.get(ROOT, "checkins").unwrap().unwrap().1;
        let entry = doc.get(&checkins, c.id.to_string()).unwrap().unwrap().1;
        // Editing an existing check-in into something invalid.
        let (inc, full) = verdicts(&mut doc.fork(), |tx| tx.put(&entry, "status", "nope").unwrap());
        assert!(inc.is_err() && full.is_err());
        // Deleting a required field of an existing check-in.
        let (inc, full) = verdicts(&mut doc.fork(), |tx| tx.delete(&entry, "by").unwrap());
        assert!(inc.is_err() && full.is_err());
        // A harmless edit of an existing entry passes, as fully validated.
        let (inc, full) = verdicts(&mut doc.fork(), |tx| tx.put(&entry, "extra", 1i64).unwrap());
        assert!(inc.is_ok() && full.is_ok());
    }

    #[test]
    fn additions_applied_to_the_shift_read_before_give_the_shift_read_after() {
        let (mut doc, s, _) = setup();
        let mut known = shift::read(&doc).unwrap();
        // Check-ins out of device-time order, acks, extensions and the end, one change each.
        let times = [9_000, 3_000, 7_000, 3_000, 12_000];
        let mut ids = Vec::new();
        for (i, t) in times.iter().enumerate() {
            let c = CheckIn::new(CheckInStatus::Ok, Timestamp(*t), s.worker, DeviceId::new());
            ids.push(c.id);
            let edit = |tx: &mut automerge::transaction::Transaction<'_>| shift::add_checkin(tx, &c);
            step(&mut doc, &mut known, edit);
            if i % 2 == 1 {
                let a = Ack {
                    id: AckId::new(),
                    checkin: ids[i - 1],
                    by: MemberId::new(),
                    at: Timestamp(10_000 - *t),
                    reply: Some("seen".into()),
                };
                step(&mut doc, &mut known, |tx| shift::add_ack(tx, &a));
            }
        }
        for at in [5_000, 4_000] {
            let e = Extension {
                id: ExtensionId::new(),
                new_end: Timestamp(200_000 + at),
                reason: "late".into(),
                at: Timestamp(at),
            };
            step(&mut doc, &mut known, |tx| shift::extend(tx, &e));
        }
        step(&mut doc, &mut known, |tx| shift::end(tx, &ShiftEnd { at: Timestamp(20_000), note: Some("done".into()) }));
        assert_eq!(known.checkins.len(), times.len());
        // A header edit is not an addition: the whole document must be read.
        let heads = doc.get_heads();
        doc.transact(|tx| shift::set_purpose(tx, "other")).map_err(|f| f.error).unwrap();
        let (_, added) = validate_shift_additions(&doc, &decoded(doc.get_changes(&heads))).unwrap();
        assert!(added.is_none());
    }

    /// One edit as one change: the additions it reports, applied to `known`, give the new read.
    fn step(
        doc: &mut Automerge,
        known: &mut Shift,
        edit: impl FnOnce(&mut automerge::transaction::Transaction<'_>) -> Result<(), DomainError>,
    ) {
        let heads = doc.get_heads();
        doc.transact(edit).map_err(|f| f.error).unwrap();
        let changes = decoded(doc.get_changes(&heads));
        let (kind, added) = validate_shift_additions(doc, &changes).unwrap();
        let settled = Settled::read(doc).expect("a shift's settled facts");
        assert_eq!(validate_shift_additions_settled(doc, &changes, &settled).unwrap(), (kind, added.clone()));
        assert_eq!(kind, DocKind::Shift);
        added.expect("an addition").apply_to(known);
        assert_eq!(*known, shift::read(doc).unwrap());
    }
}
