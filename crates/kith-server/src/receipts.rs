//! Receipts: when each value a device wrote into a shift first reached the server, and the clock
//! offset it counts with, fixed at that moment. They are derived when changes are stored and
//! stored in the same transaction ([`crate::storage::Derived`]), so they exist exactly when the
//! values do, whatever happens to the request; every server view and the deadline engine turn
//! device times into server times with them ([`kith_domain::alerts::on_server_clock`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use kith_domain::alerts::{self, Receipt, ShiftReceipts};
use kith_domain::doc::ShiftAdditions;
use kith_domain::{CheckIn, DeviceId, Shift, ShiftId, Timestamp};

use crate::storage::{
    CheckinReceipt, DocMeta, EntryKind, EntryReceipt, Storage, StorageResult, StoredReceipts, TrackedShift, Tracking,
};
use crate::table::{self, Table};

/// Device clock offsets are stored again only when they move by more than this (ms): a sync is
/// not worth a write for network jitter.
pub const OFFSET_WRITE_THRESHOLD_MS: i64 = 1000;

/// A device's clock as known: measured on its latest exchange, and as last stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceClock {
    /// The offset measured on the device's latest exchange (server minus device, ms), and when
    /// (server clock).
    pub offset_ms: i64,
    pub at: i64,
    /// The offset last stored, and when it was measured.
    stored_ms: i64,
    stored_at: i64,
}

impl DeviceClock {
    /// A clock as stored (and not measured since).
    pub fn stored(offset_ms: i64, at: i64) -> DeviceClock {
        DeviceClock { offset_ms, at, stored_ms: offset_ms, stored_at: at }
    }

    /// Whether storage lacks the latest exchange: it must be stored before it is forgotten.
    fn unstored(&self) -> bool {
        self.offset_ms != self.stored_ms || self.at != self.stored_at
    }
}

/// The offsets of the devices whose check-ins another device relayed, read before the receipts
/// are made (see [`DeviceClocks::others`]): absent, the device's offset is not known.
pub type OtherClocks = HashMap<DeviceId, i64>;

/// `cache.clocks_max_bytes` unless set: up to 7,168 devices ([`bytes_for`]).
pub const DEFAULT_MAX_BYTES: usize = 1024 * 1024;

#[derive(Debug)]
struct Entry {
    clock: DeviceClock,
    /// Its place in [`Inner::order`]; `None` while it is being stored before it is forgotten.
    used: Option<u64>,
}

#[derive(Debug)]
struct Inner {
    clocks: Table<DeviceId, Entry>,
    /// Least recently exchanged first.
    order: BTreeMap<u64, DeviceId>,
    next: u64,
}

impl Default for Inner {
    fn default() -> Self {
        // Room below the first to put an entry whose storing failed before every other.
        Inner { clocks: Table::default(), order: BTreeMap::new(), next: 1 << 40 }
    }
}

impl Inner {
    /// What the entries take: the map's table and the order's B-tree.
    fn bytes(&self) -> usize {
        self.clocks.bytes() + order_bytes(self.order.len())
    }
}

/// What the order's B-tree takes at most for `n` entries: its nodes hold 11 entries and a 16-byte
/// header (an internal node 12 edges more), and every node but the root is at least 5 full, at
/// most one in 6 of them internal.
const fn order_bytes(n: usize) -> usize {
    const LEAF: usize = 16 + 11 * std::mem::size_of::<(u64, DeviceId)>();
    const INTERNAL: usize = LEAF + 12 * std::mem::size_of::<usize>();
    if n == 0 { 0 } else { n.div_ceil(5) * (5 * LEAF + INTERNAL) / 6 + INTERNAL }
}

/// What `devices` take at most, devices of a table just made for them: the budget
/// (`cache.clocks_max_bytes`) that holds them. About 130 to 250 bytes a device, as the table is
/// between 7/16 and 7/8 full.
pub const fn bytes_for(devices: usize) -> usize {
    let buckets = table::buckets_for(devices);
    table::bytes_of::<(DeviceId, Entry)>(buckets) + order_bytes(table::capacity_of(buckets))
}

/// The most devices held within `max` bytes: those of the largest table that fits, full, with
/// their order.
const fn most_within(max: usize) -> usize {
    let mut most = 0;
    let mut next = 3;
    while bytes_for(next) <= max {
        most = next;
        next = table::capacity_of(table::buckets_for(next + 1));
    }
    most
}

/// Devices' clock offsets, measured on each exchange (server minus device, ms): the devices that
/// exchanged most recently, within `cache.clocks_max_bytes`. A device not held is read from
/// storage before its exchange ([`DeviceClocks::known`]), and a device's latest exchange is
/// stored before it is forgotten ([`Exchange::forget`]), so the cache changes no time: a miss
/// gives exactly what the device's entry would have held.
#[derive(Debug)]
pub struct DeviceClocks {
    inner: Mutex<Inner>,
    max_bytes: usize,
    /// The most devices held within `max_bytes` ([`most_within`]).
    most: usize,
}

impl Default for DeviceClocks {
    fn default() -> Self {
        DeviceClocks::new(DEFAULT_MAX_BYTES)
    }
}

/// What an exchange did.
#[derive(Debug, PartialEq, Eq)]
pub struct Exchange {
    /// The device's previous exchange (when, and its offset).
    pub previous: Option<(Timestamp, i64)>,
    /// The offset moved enough to be stored again.
    pub store: bool,
    /// Devices past the budget whose latest exchange is not stored: store each, then call
    /// [`DeviceClocks::forgotten`] (until then they stay held, past the budget).
    pub forget: Vec<(DeviceId, DeviceClock)>,
}

impl DeviceClocks {
    pub fn new(max_bytes: usize) -> DeviceClocks {
        DeviceClocks { inner: Mutex::default(), max_bytes, most: most_within(max_bytes) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The device's clock if held.
    pub fn held(&self, device: DeviceId) -> Option<DeviceClock> {
        self.lock().clocks.get(&device).map(|e| e.clock)
    }

    /// The device's clock: held, else as stored (`None`: never stored).
    pub async fn known(&self, storage: &dyn Storage, device: DeviceId) -> StorageResult<Option<DeviceClock>> {
        if let Some(c) = self.held(device) {
            return Ok(Some(c));
        }
        metrics::counter!("kith_device_clock_reads_total").increment(1);
        Ok(storage.device_offset(device).await?.map(|(offset_ms, at)| DeviceClock::stored(offset_ms, at)))
    }

    /// The latest offsets of `devices` (those known), for [`Arrival::others`].
    /// (A set, collected beforehand: an iterator held across the reads would make the future
    /// not `Send`.)
    pub async fn others(&self, storage: &dyn Storage, devices: HashSet<DeviceId>) -> StorageResult<OtherClocks> {
        let mut out = OtherClocks::new();
        for d in devices {
            if let Some(c) = self.known(storage, d).await? {
                out.insert(d, c.offset_ms);
            }
        }
        Ok(out)
    }

    /// Lets the least recently exchanged go, down to 7/8 of the devices the budget holds (so one
    /// pass serves many exchanges): at once if storage holds their latest exchange, else once it
    /// does (the caller stores it). Then makes the table again without them (a table keeps its
    /// size, and its removed entries' tombstones, otherwise).
    fn shed(&self, inner: &mut Inner, forget: &mut Vec<(DeviceId, DeviceClock)>) {
        let keep = (self.most - self.most / 8).min(self.most.saturating_sub(1));
        while inner.order.len() > keep {
            let Some((_, d)) = inner.order.pop_first() else { break };
            let Some(e) = inner.clocks.get_mut(&d) else { continue };
            if e.clock.unstored() {
                e.used = None;
                forget.push((d, e.clock));
            } else {
                inner.clocks.remove(&d);
            }
        }
        inner.clocks.reset(self.most);
    }

    /// Records the offset measured on an exchange at `now`. `known` is the device's clock as
    /// [`DeviceClocks::known`] gave it (used only if the device is not held by now).
    pub fn exchange(&self, device: DeviceId, offset_ms: i64, now: i64, known: Option<DeviceClock>) -> Exchange {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let mut forget = Vec::new();
        let held = inner.clocks.get(&device).map(|e| (e.clock, e.used));
        match held {
            Some((_, Some(used))) => {
                inner.order.remove(&used);
            }
            Some((_, None)) => {}
            // A new device in a full table would double it: past the budget, room first.
            None => {
                if inner.clocks.bytes_after_insert() + order_bytes(inner.order.len() + 1) > self.max_bytes {
                    self.shed(inner, &mut forget);
                }
            }
        }
        let old = held.map(|(c, _)| c).or(known);
        let store = old.is_none_or(|o| o.stored_ms.abs_diff(offset_ms) > OFFSET_WRITE_THRESHOLD_MS.unsigned_abs());
        let (stored_ms, stored_at) = match old {
            Some(o) if !store => (o.stored_ms, o.stored_at),
            _ => (offset_ms, now),
        };
        let used = inner.next;
        inner.next += 1;
        inner.order.insert(used, device);
        let clock = DeviceClock { offset_ms, at: now, stored_ms, stored_at };
        inner.clocks.insert(device, Entry { clock, used: Some(used) });
        // Still past it: a budget that holds no device, devices being stored, or a table an
        // insert doubled for its removed entries' tombstones.
        if inner.bytes() > self.max_bytes {
            self.shed(inner, &mut forget);
        }
        Exchange { previous: old.map(|o| (Timestamp(o.at), o.offset_ms)), store, forget }
    }

    /// `device`'s exchange at `at` is stored ([`Exchange::forget`]): it goes, unless it exchanged
    /// again meanwhile. `stored: false` (storing failed): it stays, least recently used, and is
    /// stored at the next pass.
    pub fn forgotten(&self, device: DeviceId, at: i64, stored: bool) {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let Some(e) = inner.clocks.get_mut(&device) else { return };
        if e.used.is_some() || e.clock.at != at {
            return;
        }
        if stored {
            inner.clocks.remove(&device);
            // A table grown for devices being stored is made smaller once they are.
            if inner.bytes() > self.max_bytes {
                inner.clocks.shrink_to(self.most);
            }
        } else {
            // Before every other: the first to go again.
            let first = inner.order.first_key_value().map_or(inner.next, |(k, _)| *k);
            let used = first.saturating_sub(1);
            e.used = Some(used);
            inner.order.insert(used, device);
        }
    }

    /// The bytes the entries take: the map's table and the order (at most
    /// `cache.clocks_max_bytes`, and those being stored).
    pub fn bytes(&self) -> usize {
        self.lock().bytes()
    }
}

/// Who stored a change, and the clock it came with.
#[derive(Clone, Copy, Debug)]
pub struct Arrival<'a> {
    /// Server clock.
    pub now: i64,
    /// The offset measured on this exchange (0 for the server's own edits: its own clock).
    pub offset_ms: i64,
    /// The device's previous exchange (see [`alerts::offset_written`]).
    pub previous: Option<(Timestamp, i64)>,
    /// The device that pushed, or on whose behalf the server wrote.
    pub device: Option<DeviceId>,
    /// The latest offsets of the other devices whose check-ins are stored here, read beforehand
    /// ([`DeviceClocks::others`]).
    pub others: &'a OtherClocks,
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
            _ => self.others.get(&c.device).copied().unwrap_or_else(|| self.offset_for(c.device_time)),
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
        let ex = |offset, now, known| {
            let e = clocks.exchange(d, offset, now, known);
            (e.previous, e.store)
        };
        assert_eq!(ex(10, 1_000, None), (None, true));
        assert_eq!(ex(500, 2_000, None), (Some((Timestamp(1_000), 10)), false), "jitter is not stored");
        assert_eq!(ex(3_600_000, 3_000, None), (Some((Timestamp(2_000), 500)), true));
        assert_eq!(clocks.held(d).map(|c| c.offset_ms), Some(3_600_000));
        // Not held: the clock as stored counts.
        let clocks = DeviceClocks::default();
        let e = clocks.exchange(d, 7, 200, Some(DeviceClock::stored(7, 100)));
        assert_eq!((e.previous, e.store), (Some((Timestamp(100), 7)), false));
    }

    /// What the order's B-tree may hold for `n` entries: nodes of 11 entries (a 16-byte header; an
    /// internal node 12 edges more), each but the root at least 5 full, at most one in 6 internal.
    fn order_held(n: usize) -> usize {
        let leaf = 16 + 11 * std::mem::size_of::<(u64, DeviceId)>();
        let internal = leaf + 12 * std::mem::size_of::<usize>();
        n.div_ceil(5) * (5 * leaf + internal) / 6 + internal
    }

    /// A map's table doubles when it fills: counting its entries, not its buckets, the cache held
    /// up to twice its budget just past a power of two.
    #[test]
    fn the_clock_cache_holds_no_more_than_its_budget_as_the_table_grows() {
        // What docs/operations.md quotes.
        assert_eq!(most_within(DEFAULT_MAX_BYTES), 7_168);
        assert!(bytes_for(100_000) <= 15 * 1024 * 1024, "{}", bytes_for(100_000));
        // Budgets whose entries end just past a full table (1,792 or 3,584 entries), and the default.
        for max in [1800 * 122, 3600 * 122, DEFAULT_MAX_BYTES] {
            let clocks = DeviceClocks::new(max);
            for i in 0..(2 * max / 122) as i64 {
                let e = clocks.exchange(DeviceId::new(), 0, i, None);
                assert!(e.forget.is_empty(), "every exchange is stored");
                let inner = clocks.lock();
                let held = crate::table::measured(&inner.clocks) + order_held(inner.order.len());
                assert!(held <= max, "{held} bytes held after {i} devices, budget {max}");
                drop(inner);
                assert!(clocks.bytes() >= held, "{} bytes counted, {held} held", clocks.bytes());
            }
        }
    }

    #[test]
    fn the_clock_cache_keeps_to_its_byte_budget_and_stores_a_clock_before_forgetting_it() {
        let max = bytes_for(100);
        let clocks = DeviceClocks::new(max);
        let devices: Vec<DeviceId> = (0..1000).map(|_| DeviceId::new()).collect();
        let mut forgotten = Vec::new();
        for (i, d) in devices.iter().enumerate() {
            let now = i as i64 * 10;
            // Every device's first exchange is stored; an odd one's second (jitter) is not.
            let mut forget = clocks.exchange(*d, 0, now, None).forget;
            if i % 2 == 1 {
                let e = clocks.exchange(*d, 1, now + 1, None);
                assert!(!e.store);
                forget.extend(e.forget);
            }
            for (f, c) in forget {
                let j = devices.iter().position(|x| *x == f).unwrap();
                assert!(j % 2 == 1, "device {j}'s latest exchange is stored: forgotten at once");
                assert_eq!(c, DeviceClock { offset_ms: 1, at: c.at, stored_ms: 0, stored_at: c.at - 1 });
                forgotten.push((f, c));
            }
            // Those being stored are held until they are (within the table the budget holds).
            assert!(clocks.bytes() <= max, "{} bytes after {i}", clocks.bytes());
            for (f, c) in forgotten.drain(..) {
                assert_eq!(clocks.held(f), Some(c), "held until stored");
                clocks.forgotten(f, c.at, true);
                assert_eq!(clocks.held(f), None);
            }
            assert!(clocks.bytes() <= max, "{} bytes after {i} devices, over {max}", clocks.bytes());
        }
        assert_eq!(clocks.held(devices[999]).map(|c| c.offset_ms), Some(1), "the latest is kept");
        assert_eq!(clocks.held(devices[0]), None, "the least recently exchanged is forgotten");

        // With no room, every device is let go after its exchange: at once if its latest exchange
        // is stored, else once it is. A device that exchanges again while being stored stays; one
        // whose storing failed is tried again first.
        let clocks = DeviceClocks::new(0);
        let (a, b) = (DeviceId::new(), DeviceId::new());
        assert!(clocks.exchange(a, 0, 1, None).forget.is_empty(), "stored: let go at once");
        assert_eq!(clocks.held(a), None);
        let e = clocks.exchange(a, 1, 2, Some(DeviceClock::stored(0, 1)));
        assert_eq!(e.forget.iter().map(|f| f.0).collect::<Vec<_>>(), vec![a], "jitter: let go once stored");
        let again = clocks.exchange(a, 2, 4, None);
        assert_eq!(again.previous, Some((Timestamp(2), 1)), "still held: its latest exchange counts");
        let (_, fc) = again.forget[0];
        clocks.forgotten(a, 2, true);
        assert!(clocks.held(a).is_some(), "it exchanged again meanwhile");
        clocks.forgotten(a, fc.at, false);
        assert_eq!(clocks.held(a), Some(fc), "storing failed: still held");
        let e = clocks.exchange(b, 0, 6, None);
        assert_eq!(e.forget.first().map(|x| x.0), Some(a), "tried again first");
        clocks.forgotten(a, fc.at, true);
        assert_eq!(clocks.bytes(), 0, "nothing is held once stored");
    }
}
