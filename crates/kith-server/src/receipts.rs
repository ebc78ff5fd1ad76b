//! Receipts: when each value a device wrote into a shift first reached the server, and the clock
//! offset it counts with, fixed at that moment. They are derived when changes are stored and
//! stored in the same transaction ([`crate::storage::Derived`]), so they exist exactly when the
//! values do, whatever happens to the request; every server view and the deadline engine turn
//! device times into server times with them ([`kith_domain::alerts::on_server_clock`]).

use std::collections::HashMap;
use std::sync::Mutex;

use kith_domain::alerts::{self, Receipt, ShiftReceipts};
use kith_domain::doc::ShiftAdditions;
use kith_domain::{CheckIn, DeviceId, Shift, ShiftId, Timestamp};

use crate::storage::{CheckinReceipt, DocMeta, EntryKind, EntryReceipt, StoredReceipts, TrackedShift, Tracking};

/// Device clock offsets are stored again only when they move by more than this (ms): a sync is
/// not worth a write for network jitter.
pub const OFFSET_WRITE_THRESHOLD_MS: i64 = 1000;

#[derive(Clone, Copy, Debug)]
struct DeviceClock {
    /// The offset measured on the device's latest exchange, and when (server clock).
    offset_ms: i64,
    at: i64,
    /// The offset last stored.
    stored_ms: i64,
}

/// Every device's clock offset, measured on each exchange (server minus device, ms). One entry
/// per device that synced since the server started, or with a stored offset.
#[derive(Debug, Default)]
pub struct DeviceClocks {
    clocks: Mutex<HashMap<DeviceId, DeviceClock>>,
}

impl DeviceClocks {
    /// The clocks as stored: (device, offset, when measured).
    pub fn load(stored: Vec<(DeviceId, i64, i64)>) -> DeviceClocks {
        let clocks = stored
            .into_iter()
            .map(|(d, offset_ms, at)| (d, DeviceClock { offset_ms, at, stored_ms: offset_ms }))
            .collect();
        DeviceClocks { clocks: Mutex::new(clocks) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<DeviceId, DeviceClock>> {
        self.clocks.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records the offset measured on an exchange at `now`. Returns the device's previous exchange
    /// (when, and its offset) and whether the offset moved enough to be stored again.
    pub fn exchange(&self, device: DeviceId, offset_ms: i64, now: i64) -> (Option<(Timestamp, i64)>, bool) {
        let mut clocks = self.lock();
        let old = clocks.get(&device).copied();
        let store = old.is_none_or(|o| o.stored_ms.abs_diff(offset_ms) > OFFSET_WRITE_THRESHOLD_MS.unsigned_abs());
        let stored_ms = if store { offset_ms } else { old.map_or(offset_ms, |o| o.stored_ms) };
        clocks.insert(device, DeviceClock { offset_ms, at: now, stored_ms });
        (old.map(|o| (Timestamp(o.at), o.offset_ms)), store)
    }

    /// A device's latest measured offset.
    pub fn offset(&self, device: DeviceId) -> Option<i64> {
        self.lock().get(&device).map(|c| c.offset_ms)
    }
}

/// Who stored a change, and the clock it came with.
#[derive(Debug)]
pub struct Arrival<'a> {
    /// Server clock.
    pub now: i64,
    /// The offset measured on this exchange (0 for the server's own edits: its own clock).
    pub offset_ms: i64,
    /// The device's previous exchange (see [`alerts::offset_written`]).
    pub previous: Option<(Timestamp, i64)>,
    /// The device that pushed, or on whose behalf the server wrote.
    pub device: Option<DeviceId>,
    pub clocks: &'a DeviceClocks,
}

impl Arrival<'_> {
    /// The offset a value this device wrote at `device_time` counts with.
    fn offset_for(&self, device_time: Timestamp) -> i64 {
        alerts::offset_written(device_time, self.offset_ms, self.previous, Timestamp(self.now))
    }

    /// A check-in made on another device (relayed after the server was restored from a backup)
    /// counts with that device's measured offset, if known.
    fn checkin_offset(&self, c: &CheckIn) -> i64 {
        match self.device {
            Some(d) if d == c.device => self.offset_for(c.device_time),
            _ => self.clocks.offset(c.device).unwrap_or_else(|| self.offset_for(c.device_time)),
        }
    }

    fn receipt(&self, offset_ms: i64) -> Receipt {
        Receipt { received_at: Timestamp(self.now), offset_ms }
    }
}

/// What stored changes did to a shift, as the domain read it.
#[derive(Clone, Copy, Debug)]
pub enum ShiftFacts<'a> {
    /// The whole shift after the changes; `header_written`: they changed its start or planned end.
    Whole { shift: &'a Shift, header_written: bool },
    /// The entries (and end) the changes added.
    Added(&'a ShiftAdditions),
}

/// The tracking row and first receipts to store with changes of the shift document `meta`.
/// Of an existing row only the end (once) and a rewritten header count (see [`Tracking`]).
pub fn tracking(meta: &DocMeta, facts: ShiftFacts<'_>, a: &Arrival<'_>) -> Option<Tracking> {
    let worker = meta.owner?;
    let id = ShiftId(meta.id);
    let now = a.now;
    let (checkins, extensions, acks, ended, header) = match facts {
        ShiftFacts::Whole { shift, header_written } => (
            &shift.checkins,
            &shift.extensions,
            &shift.acks,
            shift.ended.as_ref(),
            Some((shift.started_at, header_written)),
        ),
        ShiftFacts::Added(added) => {
            (&added.checkins, &added.extensions, &added.acks, added.ended.as_ref().and_then(Option::as_ref), None)
        }
    };
    // A shift the server has not tracked yet is tracked from here (its header, if known).
    let (offset_ms, started_at, header_written) = match header {
        Some((start, written)) => {
            let off = a.offset_for(start);
            (off, a.receipt(off).effective(start).0, written)
        }
        None => (a.offset_ms, now, false),
    };
    let end = ended.map(|e| {
        let off = a.offset_for(e.at);
        (off, a.receipt(off).effective(e.at).0)
    });
    let receipts = checkins
        .iter()
        .map(|c| {
            let off = a.checkin_offset(c);
            CheckinReceipt {
                checkin: c.id,
                shift: id,
                device: c.device,
                device_time: c.device_time.0,
                received_at: now,
                offset_ms: off,
                effective_at: a.receipt(off).effective(c.device_time).0,
            }
        })
        .collect();
    let entry = |entry: uuid::Uuid, kind: EntryKind, at: Timestamp| EntryReceipt {
        entry,
        shift: id,
        kind,
        received_at: now,
        offset_ms: a.offset_for(at),
    };
    let entries = extensions
        .iter()
        .map(|e| entry(e.id.uuid(), EntryKind::Extension, e.at))
        .chain(acks.iter().map(|k| entry(k.id.uuid(), EntryKind::Ack, k.at)))
        .collect();
    Some(Tracking {
        shift: TrackedShift {
            shift: id,
            team: meta.team,
            worker,
            offset_ms,
            first_seen: now,
            started_at,
            ended_seen: end.map(|_| now),
            ended_at: end.map(|e| e.1),
            ended_offset_ms: end.map(|e| e.0),
        },
        header_written,
        receipts,
        entries,
    })
}

/// A shift's stored receipts as the domain takes them.
pub fn to_domain(r: &StoredReceipts) -> ShiftReceipts {
    let mut out = ShiftReceipts {
        header: Receipt { received_at: Timestamp(r.tracked.first_seen), offset_ms: r.tracked.offset_ms },
        ..ShiftReceipts::default()
    };
    apply(&mut out, &r.tracked, false, &r.checkins, &r.entries);
    out
}

/// Adds a [`Tracking`] just stored to receipts held in memory, as storing it did to the rows.
pub fn apply_tracking(out: &mut ShiftReceipts, t: &Tracking) {
    apply(out, &t.shift, t.header_written, &t.receipts, &t.entries);
}

fn apply(
    out: &mut ShiftReceipts,
    tracked: &TrackedShift,
    header_written: bool,
    checkins: &[CheckinReceipt],
    entries: &[EntryReceipt],
) {
    if header_written {
        out.header.offset_ms = tracked.offset_ms;
    }
    if out.ended.is_none()
        && let Some(seen) = tracked.ended_seen
    {
        let offset_ms = tracked.ended_offset_ms.unwrap_or(out.header.offset_ms);
        out.ended = Some(Receipt { received_at: Timestamp(seen), offset_ms });
    }
    for c in checkins {
        let r = Receipt { received_at: Timestamp(c.received_at), offset_ms: c.offset_ms };
        out.checkins.entry(c.checkin).or_insert(r);
    }
    for e in entries {
        let r = Receipt { received_at: Timestamp(e.received_at), offset_ms: e.offset_ms };
        match e.kind {
            EntryKind::Extension => {
                out.extensions.entry(kith_domain::ExtensionId(e.entry)).or_insert(r);
            }
            EntryKind::Ack => {
                out.acks.entry(kith_domain::AckId(e.entry)).or_insert(r);
            }
        }
    }
}

/// The three times of a check-in of `shift`, for an alert's history.
pub fn checkin_times(
    shift: &Shift,
    receipts: &ShiftReceipts,
    checkin: kith_domain::CheckInId,
    now: Timestamp,
) -> Option<kith_api::CheckinTimes> {
    let c = shift.checkin(checkin)?;
    let r = receipts.checkin(checkin, now);
    Some(kith_api::CheckinTimes {
        checkin: checkin.uuid(),
        device_time: c.device_time.0,
        received_at: r.received_at.0,
        effective_at: r.effective(c.device_time).0,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn an_exchange_returns_the_previous_one_and_stores_only_a_real_move() {
        let clocks = DeviceClocks::default();
        let d = DeviceId::new();
        assert_eq!(clocks.exchange(d, 10, 1_000), (None, true));
        assert_eq!(clocks.exchange(d, 500, 2_000), (Some((Timestamp(1_000), 10)), false), "jitter is not stored");
        assert_eq!(clocks.exchange(d, 3_600_000, 3_000), (Some((Timestamp(2_000), 500)), true));
        assert_eq!(clocks.offset(d), Some(3_600_000));
        let clocks = DeviceClocks::load(vec![(d, 7, 100)]);
        assert_eq!(clocks.exchange(d, 7, 200), (Some((Timestamp(100), 7)), false));
    }
}
