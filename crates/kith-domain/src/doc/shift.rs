//! The shift document: one per worker per shift.
//!
//! ```text
//! { schema: "kith.shift", v: 1, shift_id, team_id, worker_id,
//!   purpose, started_at, planned_end, interval_s,
//!   buddies:    { <member id>: true },
//!   extensions: { <extension id>: { new_end, reason, at } },
//!   ended:      { at, note? }                       (absent while the shift runs)
//!   checkins:   { <check-in id>: { status, mood?, confidence?, note?, note_vis?,
//!                                   loc_precision?, lat?, lon?, device_time, by, device } },
//!   acks:       { <ack id>: { checkin, by, at, reply? } } }
//! ```
//! Times are integer milliseconds since the Unix epoch; `interval_s` is seconds.
//! The worker writes the header, check-ins, extensions and the end; leads write `acks` and may
//! edit `purpose`. Check-ins and acks are never edited or deleted once written.

use automerge::transaction::Transactable;
use automerge::{ObjType, ROOT, ReadDoc};

use super::{
    Fields, InDoc, SCHEMA_VERSION, SHIFT_SCHEMA, check_schema, enum_from_str, enum_to_str, field_f64, field_int,
    field_str, get_obj, get_str, id_set, malformed, map_entries, parse, req_field_str, req_field_time, req_int,
    req_obj, req_str, req_time,
};
use crate::model::{
    Ack, CheckIn, CheckInStatus, Extension, Location, LocationPrecision, Note, Rating, Shift, ShiftEnd, Visibility,
};
use crate::{DomainError, Secs, Timestamp, limits};

/// Refuses a time no clock can mean (see [`crate::time`]): the server would refuse the document.
fn check_time(what: &str, t: Timestamp) -> Result<(), DomainError> {
    if t.in_range() {
        return Ok(());
    }
    Err(DomainError::Invalid(format!("{what} ({} ms since 1970) is not a usable time: check the device's clock", t.0)))
}

/// Writes a new shift document's header and empty collections. Call once, on an empty document.
pub fn init<T: Transactable + ReadDoc>(tx: &mut T, shift: &Shift) -> Result<(), DomainError> {
    limits::SHIFT_PURPOSE.check(&shift.purpose)?;
    check_time("the start", shift.started_at)?;
    check_time("the planned end", shift.initial_end)?;
    if shift.initial_end <= shift.started_at {
        return Err(DomainError::EndNotAfter { after: shift.started_at, now: false });
    }
    if tx.get(ROOT, "schema")?.is_some() {
        return Err(malformed("this document already has a header"));
    }
    tx.put(ROOT, "schema", SHIFT_SCHEMA)?;
    tx.put(ROOT, "v", SCHEMA_VERSION)?;
    tx.put(ROOT, "shift_id", shift.id.to_string())?;
    tx.put(ROOT, "team_id", shift.team.to_string())?;
    tx.put(ROOT, "worker_id", shift.worker.to_string())?;
    tx.put(ROOT, "purpose", shift.purpose.as_str())?;
    tx.put(ROOT, "started_at", shift.started_at.millis())?;
    tx.put(ROOT, "planned_end", shift.initial_end.millis())?;
    tx.put(ROOT, "interval_s", shift.interval.get())?;
    let buddies = tx.put_object(ROOT, "buddies", ObjType::Map)?;
    for b in &shift.buddies {
        tx.put(&buddies, b.to_string(), true)?;
    }
    tx.put_object(ROOT, "extensions", ObjType::Map)?;
    tx.put_object(ROOT, "checkins", ObjType::Map)?;
    tx.put_object(ROOT, "acks", ObjType::Map)?;
    for c in &shift.checkins {
        add_checkin(tx, c)?;
    }
    Ok(())
}

/// Appends one check-in. Refused once the shift has ended.
pub fn add_checkin<T: Transactable + ReadDoc>(tx: &mut T, c: &CheckIn) -> Result<(), DomainError> {
    check_time("the check-in's time", c.device_time)?;
    if tx.get(ROOT, "ended")?.is_some() {
        return Err(DomainError::ShiftEnded);
    }
    if let Some(note) = &c.note {
        limits::CHECKIN_NOTE.check(&note.text)?;
    }
    let checkins = req_obj(tx, &ROOT, "checkins", ObjType::Map)?;
    let key = c.id.to_string();
    if tx.get(&checkins, key.as_str())?.is_some() {
        return Err(malformed(format!("check-in {key} already exists")));
    }
    let o = tx.put_object(&checkins, key, ObjType::Map)?;
    tx.put(&o, "status", enum_to_str(&c.status))?;
    if let Some(m) = c.mood {
        tx.put(&o, "mood", i64::from(m.get()))?;
    }
    if let Some(m) = c.confidence {
        tx.put(&o, "confidence", i64::from(m.get()))?;
    }
    if let Some(n) = &c.note {
        tx.put(&o, "note", n.text.as_str())?;
        tx.put(&o, "note_vis", enum_to_str(&n.visibility))?;
    }
    if let Some(l) = &c.location {
        tx.put(&o, "loc_precision", enum_to_str(&l.precision))?;
        tx.put(&o, "lat", l.lat)?;
        tx.put(&o, "lon", l.lon)?;
    }
    tx.put(&o, "device_time", c.device_time.millis())?;
    tx.put(&o, "by", c.by.to_string())?;
    tx.put(&o, "device", c.device.to_string())?;
    Ok(())
}

/// Adds a lead's acknowledgement (and optional reply) to a check-in the writer has seen.
pub fn add_ack<T: Transactable + ReadDoc>(tx: &mut T, a: &Ack) -> Result<(), DomainError> {
    check_time("the acknowledgement's time", a.at)?;
    if let Some(r) = &a.reply {
        limits::ACK_REPLY.check(r)?;
    }
    let checkins = req_obj(tx, &ROOT, "checkins", ObjType::Map)?;
    if tx.get(&checkins, a.checkin.to_string())?.is_none() {
        return Err(DomainError::UnknownCheckIn(a.checkin));
    }
    let acks = req_obj(tx, &ROOT, "acks", ObjType::Map)?;
    let o = tx.put_object(&acks, a.id.to_string(), ObjType::Map)?;
    tx.put(&o, "checkin", a.checkin.to_string())?;
    tx.put(&o, "by", a.by.to_string())?;
    tx.put(&o, "at", a.at.millis())?;
    if let Some(r) = &a.reply {
        tx.put(&o, "reply", r.as_str())?;
    }
    Ok(())
}

/// What [`extend`] asks of an extension that the entry itself shows, whatever else the shift
/// holds: a reason, and a new end later than when it was made and than the start. The server asks
/// the same of every extension pushed to it ([`check_new`], [`check_added`]); whether the shift
/// had ended is not asked there, since another device of the worker's may have ended it meanwhile.
pub fn check_extension(e: &Extension, started_at: Timestamp) -> Result<(), DomainError> {
    if e.reason.trim().is_empty() {
        return Err(DomainError::Invalid("an extension needs a reason: say why the shift runs longer".into()));
    }
    if e.new_end <= e.at {
        return Err(DomainError::EndNotAfter { after: e.at, now: true });
    }
    if e.new_end <= started_at {
        return Err(DomainError::EndNotAfter { after: started_at, now: false });
    }
    Ok(())
}

/// What [`init`] and [`extend`] ask of a shift and its extensions, asked of a shift pushed to
/// the server as a new document (its reader takes any times in range, so stored documents stay
/// readable whatever they hold).
pub fn check_new(shift: &Shift) -> Result<(), DomainError> {
    if shift.initial_end <= shift.started_at {
        return Err(DomainError::EndNotAfter { after: shift.started_at, now: false });
    }
    shift.extensions.iter().try_for_each(|e| check_extension(e, shift.started_at))
}

/// [`check_new`] of what changes added to a shift document `doc` (as it is after them).
pub fn check_added<D: ReadDoc>(doc: &D, added: &super::ShiftAdditions) -> Result<(), DomainError> {
    if added.extensions.is_empty() {
        return Ok(());
    }
    let started = req_time(doc, &ROOT, "started_at")?;
    added.extensions.iter().try_for_each(|e| check_extension(e, started))
}

/// Moves the planned end, explicitly and with a reason.
pub fn extend<T: Transactable + ReadDoc>(tx: &mut T, e: &Extension) -> Result<(), DomainError> {
    check_time("the extension's time", e.at)?;
    check_time("the new end", e.new_end)?;
    limits::EXTENSION_REASON.check(&e.reason)?;
    if tx.get(ROOT, "ended")?.is_some() {
        return Err(DomainError::ShiftEnded);
    }
    check_extension(e, req_time(tx, &ROOT, "started_at")?)?;
    let exts = req_obj(tx, &ROOT, "extensions", ObjType::Map)?;
    let o = tx.put_object(&exts, e.id.to_string(), ObjType::Map)?;
    tx.put(&o, "new_end", e.new_end.millis())?;
    tx.put(&o, "reason", e.reason.as_str())?;
    tx.put(&o, "at", e.at.millis())?;
    Ok(())
}

/// Ends the shift ("I'm done, all fine").
pub fn end<T: Transactable + ReadDoc>(tx: &mut T, end: &ShiftEnd) -> Result<(), DomainError> {
    check_time("the end", end.at)?;
    if tx.get(ROOT, "ended")?.is_some() {
        return Err(DomainError::ShiftEnded);
    }
    if let Some(n) = &end.note {
        limits::END_NOTE.check(n)?;
    }
    let o = tx.put_object(ROOT, "ended", ObjType::Map)?;
    tx.put(&o, "at", end.at.millis())?;
    if let Some(n) = &end.note {
        tx.put(&o, "note", n.as_str())?;
    }
    Ok(())
}

/// Changes the shift's stated purpose (worker or lead).
pub fn set_purpose<T: Transactable + ReadDoc>(tx: &mut T, purpose: &str) -> Result<(), DomainError> {
    limits::SHIFT_PURPOSE.check(purpose)?;
    tx.put(ROOT, "purpose", purpose)?;
    Ok(())
}

/// Reads and checks a whole shift document.
pub fn read<D: ReadDoc>(doc: &D) -> Result<Shift, DomainError> {
    check_schema(doc, SHIFT_SCHEMA)?;
    let r = &ROOT;
    let started_at = req_time(doc, r, "started_at")?;
    let initial_end = req_time(doc, r, "planned_end")?;
    let interval = Secs(req_int(doc, r, "interval_s")?);
    if interval.get() <= 0 {
        return Err(malformed("interval_s must be positive"));
    }
    let buddies_obj = req_obj(doc, r, "buddies", ObjType::Map)?;

    let ext_obj = req_obj(doc, r, "extensions", ObjType::Map)?;
    let mut extensions = Vec::new();
    for (k, id) in map_entries(doc, &ext_obj)? {
        extensions.push(Extension {
            id: parse(&k, "extension id")?,
            new_end: req_time(doc, &id, "new_end")?,
            reason: req_str(doc, &id, "reason")?,
            at: req_time(doc, &id, "at")?,
        });
    }
    extensions.sort_by_key(|e| (e.at, e.id));

    let ended = match get_obj(doc, r, "ended", ObjType::Map)? {
        None => None,
        Some(o) => Some(ShiftEnd { at: req_time(doc, &o, "at")?, note: get_str(doc, &o, "note")? }),
    };

    let ci_obj = req_obj(doc, r, "checkins", ObjType::Map)?;
    let mut checkins = Vec::new();
    for (k, o) in map_entries(doc, &ci_obj)? {
        checkins.push(read_checkin(&InDoc(doc, &o), &k)?);
    }
    checkins.sort_by_key(|c| (c.device_time, c.id));

    let ack_obj = req_obj(doc, r, "acks", ObjType::Map)?;
    let mut acks = Vec::new();
    for (k, o) in map_entries(doc, &ack_obj)? {
        let ack = Ack {
            id: parse(&k, "ack id")?,
            checkin: parse(&req_str(doc, &o, "checkin")?, "check-in id")?,
            by: parse(&req_str(doc, &o, "by")?, "member id")?,
            at: req_time(doc, &o, "at")?,
            reply: get_str(doc, &o, "reply")?,
        };
        if !checkins.iter().any(|c| c.id == ack.checkin) {
            return Err(malformed(format!("ack {} refers to unknown check-in {}", ack.id, ack.checkin)));
        }
        acks.push(ack);
    }
    acks.sort_by_key(|a| (a.at, a.id));

    Ok(Shift {
        id: parse(&req_str(doc, r, "shift_id")?, "shift id")?,
        team: parse(&req_str(doc, r, "team_id")?, "team id")?,
        worker: parse(&req_str(doc, r, "worker_id")?, "member id")?,
        purpose: get_str(doc, r, "purpose")?.unwrap_or_default(),
        started_at,
        initial_end,
        interval,
        buddies: id_set(doc, &buddies_obj, "member id")?,
        extensions,
        ended,
        checkins,
        acks,
    })
}

/// Whether the shift document has a check-in or an extension under a key that is not its id's
/// own spelling ([`crate::ids::is_canonical`]; pushes are refused such keys now, so only a
/// document stored before can have one): then an entry added later may replace it, which a
/// summary of the shift cannot tell ([`crate::alerts::Summary::of`]). O(entries), no entry read.
pub fn odd_keys<D: ReadDoc>(doc: &D) -> Result<bool, DomainError> {
    for name in ["checkins", "extensions"] {
        if let Some(o) = get_obj(doc, &ROOT, name, ObjType::Map)?
            && doc.keys(&o).any(|k| !crate::ids::is_canonical(&k))
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Everything [`read`] checks except the entries of `extensions`, `checkins` and `acks`: the
/// schema, the header fields, the buddies, the end, and that the collections are maps.
pub(crate) fn read_header<D: ReadDoc>(doc: &D) -> Result<(), DomainError> {
    check_schema(doc, SHIFT_SCHEMA)?;
    let r = &ROOT;
    req_time(doc, r, "started_at")?;
    req_time(doc, r, "planned_end")?;
    if req_int(doc, r, "interval_s")? <= 0 {
        return Err(malformed("interval_s must be positive"));
    }
    let buddies_obj = req_obj(doc, r, "buddies", ObjType::Map)?;
    req_obj(doc, r, "extensions", ObjType::Map)?;
    read_ended(doc)?;
    req_obj(doc, r, "checkins", ObjType::Map)?;
    req_obj(doc, r, "acks", ObjType::Map)?;
    parse::<crate::ShiftId>(&req_str(doc, r, "shift_id")?, "shift id")?;
    parse::<crate::TeamId>(&req_str(doc, r, "team_id")?, "team id")?;
    parse::<crate::MemberId>(&req_str(doc, r, "worker_id")?, "member id")?;
    get_str(doc, r, "purpose")?;
    id_set::<_, crate::MemberId>(doc, &buddies_obj, "member id")?;
    Ok(())
}

/// The shift's end, as [`read`] reads it.
pub(crate) fn read_ended<D: ReadDoc>(doc: &D) -> Result<Option<ShiftEnd>, DomainError> {
    Ok(match get_obj(doc, &ROOT, "ended", ObjType::Map)? {
        None => None,
        Some(o) => Some(ShiftEnd { at: req_time(doc, &o, "at")?, note: get_str(doc, &o, "note")? }),
    })
}

/// One extension entry, as [`read`] reads it.
pub(crate) fn read_extension<D: ReadDoc>(doc: &D, key: &str, id: &automerge::ObjId) -> Result<Extension, DomainError> {
    Ok(Extension {
        id: parse(key, "extension id")?,
        new_end: req_time(doc, id, "new_end")?,
        reason: req_str(doc, id, "reason")?,
        at: req_time(doc, id, "at")?,
    })
}

/// One acknowledgement entry, as [`read`] reads it (without checking its check-in exists).
pub(crate) fn read_ack_entry<D: ReadDoc>(doc: &D, key: &str, o: &automerge::ObjId) -> Result<Ack, DomainError> {
    Ok(Ack {
        id: parse(key, "ack id")?,
        checkin: parse(&req_str(doc, o, "checkin")?, "check-in id")?,
        by: parse(&req_str(doc, o, "by")?, "member id")?,
        at: req_time(doc, o, "at")?,
        reply: get_str(doc, o, "reply")?,
    })
}

fn rating(f: &impl Fields, key: &'static str) -> Result<Option<Rating>, DomainError> {
    match field_int(f, key)? {
        None => Ok(None),
        Some(v) => u8::try_from(v)
            .ok()
            .and_then(|v| Rating::new(v, key).ok())
            .map(Some)
            .ok_or(DomainError::BadRating { what: key, value: v }),
    }
}

/// One check-in entry, keyed `key`, with its fields read from `f`.
pub(crate) fn read_checkin(f: &impl Fields, key: &str) -> Result<CheckIn, DomainError> {
    let status: CheckInStatus = enum_from_str(&req_field_str(f, "status")?, "check-in status")?;
    let note = match field_str(f, "note")? {
        None => None,
        Some(text) => {
            let visibility: Visibility = match field_str(f, "note_vis")? {
                // A note with no visibility stays with the leads: the safer reading.
                None => Visibility::Leads,
                Some(v) => enum_from_str(&v, "note visibility")?,
            };
            Some(Note { text, visibility })
        }
    };
    let location = match field_str(f, "loc_precision")? {
        None => None,
        Some(p) => {
            let precision: LocationPrecision = enum_from_str(&p, "location precision")?;
            let lat = field_f64(f, "lat")?.ok_or_else(|| malformed("location without 'lat'"))?;
            let lon = field_f64(f, "lon")?.ok_or_else(|| malformed("location without 'lon'"))?;
            Location::shared(precision, lat, lon)?
        }
    };
    Ok(CheckIn {
        id: parse(key, "check-in id")?,
        status,
        mood: rating(f, "mood")?,
        confidence: rating(f, "confidence")?,
        note,
        location,
        device_time: req_field_time(f, "device_time")?,
        by: parse(&req_field_str(f, "by")?, "member id")?,
        device: parse(&req_field_str(f, "device")?, "device id")?,
    })
}

/// The header's start and planned end as the document holds them (two reads, no checks): to tell
/// whether changes wrote them.
pub fn header_times<D: ReadDoc>(doc: &D) -> (Option<i64>, Option<i64>) {
    let r = &ROOT;
    (super::get_int(doc, r, "started_at").ok().flatten(), super::get_int(doc, r, "planned_end").ok().flatten())
}
