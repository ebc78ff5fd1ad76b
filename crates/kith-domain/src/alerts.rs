//! Deadlines and alerts on the **server clock**, as pure rules: which alerts a shift should have at
//! a moment, when each escalation step of an alert is due, and what a new check-in or an end of
//! shift resolves. The server's deadline engine stores and fires what these rules say; nothing here
//! does IO or reads a clock.
//!
//! A device clock may be wrong, so the server never takes a device time as it is. Every value a
//! device writes (the start and planned end, each check-in, extension and acknowledgement, the
//! end) gets a [`Receipt`] when it first reaches the server: when it arrived, and the device's
//! clock offset it counts with, fixed then and never re-read. [`on_server_clock`] is the one
//! function that turns a shift's device times into server times with them; [`Timeline`] (what the
//! deadline engine decides on) and every server view are built on it:
//! - something that happened (a start, a check-in, an extension, an end) happened at its
//!   **effective time**: its device time corrected by the offset, but never later than the moment
//!   the server received it (it cannot have happened after it arrived);
//! - a planned end (a time in the future) is corrected by the offset of the value that set it.
//!
//! A device clock three hours fast would otherwise push every deadline three hours late; with the
//! correction and the receipt cap it can only make a deadline earlier (a false alarm, which the
//! worker is reminded of first), never later. A clock put right in the middle of a shift moves no
//! deadline: each value keeps the offset it was received with ([`offset_written`]).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::model::{CheckInStatus, EscalationStep, Notify, Policy, Shift};
use crate::rules::DueReason;
use crate::{AckId, CheckInId, ExtensionId, Secs, Timestamp};

/// The effective time of something a device did at `device_time` (its clock), that the server
/// received at `received_at` (server clock), from a device whose clock is `offset_ms` behind the
/// server's (server minus device): the corrected device time, capped by the receipt time.
pub fn effective_time(device_time: Timestamp, offset_ms: i64, received_at: Timestamp) -> Timestamp {
    device_time.plus_ms(offset_ms).min(received_at)
}

/// The offset a value first received now counts with. `measured` is the offset measured on this
/// exchange; `previous` the device's previous exchange (when, and the offset then). Normally the
/// one measured now; but if the device's clock was put right since its previous exchange, a value
/// it wrote before that (offline, synced after) was written on the old clock: when only the
/// previous offset puts the value between that exchange and now, the previous one is used.
pub fn offset_written(
    device_time: Timestamp,
    measured: i64,
    previous: Option<(Timestamp, i64)>,
    received_at: Timestamp,
) -> i64 {
    let Some((prev_at, prev)) = previous else { return measured };
    let fits = |off: i64| {
        let t = device_time.plus_ms(off);
        prev_at <= t && t <= received_at
    };
    if prev != measured && !fits(measured) && fits(prev) { prev } else { measured }
}

/// When the server first received a value a device wrote, and the clock offset (server minus
/// device, ms) it counts with, fixed at that moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub received_at: Timestamp,
    pub offset_ms: i64,
}

impl Receipt {
    /// The server time of something that happened at `device_time`: see [`effective_time`].
    pub fn effective(&self, device_time: Timestamp) -> Timestamp {
        effective_time(device_time, self.offset_ms, self.received_at)
    }

    /// A time set for the future (a planned end), on the server clock: corrected, not capped.
    pub fn corrected(&self, device_time: Timestamp) -> Timestamp {
        device_time.plus_ms(self.offset_ms)
    }
}

/// The receipts of a shift's values, as the server stored them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShiftReceipts {
    /// The header (start and initial planned end): when the shift first arrived, and the offset
    /// when its times were last written.
    pub header: Receipt,
    /// The end of shift, once it arrived.
    pub ended: Option<Receipt>,
    pub checkins: HashMap<CheckInId, Receipt>,
    pub extensions: HashMap<ExtensionId, Receipt>,
    pub acks: HashMap<AckId, Receipt>,
}

impl ShiftReceipts {
    /// A value with no receipt yet is being received now, with the header's offset.
    fn or_now(&self, r: Option<&Receipt>, now: Timestamp) -> Receipt {
        r.copied().unwrap_or(Receipt { received_at: now, offset_ms: self.header.offset_ms })
    }

    pub fn checkin(&self, id: CheckInId, now: Timestamp) -> Receipt {
        self.or_now(self.checkins.get(&id), now)
    }

    pub fn extension(&self, id: ExtensionId, now: Timestamp) -> Receipt {
        self.or_now(self.extensions.get(&id), now)
    }

    pub fn ack(&self, id: AckId, now: Timestamp) -> Receipt {
        self.or_now(self.acks.get(&id), now)
    }

    pub fn end(&self, now: Timestamp) -> Receipt {
        self.or_now(self.ended.as_ref(), now)
    }
}

/// The shift with every device time turned into a server time with its receipt (see the module
/// documentation): the start, planned end, check-ins, extensions and acknowledgements at their
/// effective times, re-sorted as [`crate::doc::shift::read`] sorts them, so the latest check-in
/// and the planned end in force are the latest on the server clock. Every rule applied to the
/// result (due, overdue, the board, connection health) then speaks server time, and agrees with
/// [`Timeline`], which the deadline engine decides on.
pub fn on_server_clock(shift: &Shift, r: &ShiftReceipts, now: Timestamp) -> Shift {
    let mut s = shift.clone();
    s.started_at = r.header.effective(shift.started_at);
    s.initial_end = r.header.corrected(shift.initial_end);
    for e in &mut s.extensions {
        let rc = r.extension(e.id, now);
        e.at = rc.effective(e.at);
        e.new_end = rc.corrected(e.new_end);
    }
    s.extensions.sort_by_key(|e| (e.at, e.id));
    for c in &mut s.checkins {
        c.device_time = r.checkin(c.id, now).effective(c.device_time);
    }
    s.checkins.sort_by_key(|c| (c.device_time, c.id));
    for a in &mut s.acks {
        a.at = r.ack(a.id, now).effective(a.at);
    }
    s.acks.sort_by_key(|a| (a.at, a.id));
    if let Some(e) = &mut s.ended {
        e.at = r.end(now).effective(e.at);
    }
    s
}

/// One check-in with its three times.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimedCheckIn {
    pub id: CheckInId,
    pub status: CheckInStatus,
    /// The device's own clock when it was made (as written in the document).
    pub device_time: Timestamp,
    /// When the server first received it (server clock).
    pub received_at: Timestamp,
    /// When it counts as made, on the server clock: see [`effective_time`].
    pub effective_at: Timestamp,
}

/// A shift's deadlines-relevant facts on the server clock: what [`wanted`], [`resolution`] and
/// [`next_wake`] read, and nothing that grows with the shift's check-ins (the deadline engine
/// holds one per active shift; [`Summary`] keeps it up to date from each change's additions).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeline {
    /// Effective start of the shift.
    pub started_at: Timestamp,
    /// The planned end in force (the latest extension's, or the initial one), corrected.
    pub planned_end: Timestamp,
    pub interval: Secs,
    /// The latest check-in on the server clock (by effective time, then id).
    pub last: Option<TimedCheckIn>,
    /// The support and emergency check-ins that were the latest on the server clock of all those
    /// received no later than they were, by effective time then id: the ones that raise an alert
    /// ([`wanted`]). Whether one was the latest then can only stop being true (a check-in received
    /// at the same moment, or earlier on a server clock put back, may come later), never start.
    pub raising: Vec<TimedCheckIn>,
    /// When the end of shift reached the server, if it has.
    pub ended_at: Option<Timestamp>,
    /// Number of extensions: a new one resolves an alert about the planned end.
    pub extensions: usize,
}

/// The order of check-ins on the server clock: effective time, then id.
fn order(c: &TimedCheckIn) -> (Timestamp, CheckInId) {
    (c.effective_at, c.id)
}

/// Whether `c` raises an alert of its own (support, emergency).
fn raises(c: &TimedCheckIn) -> bool {
    !matches!(c.status, CheckInStatus::Ok)
}

/// The extension in force: the latest on the server clock, as `on_server_clock` sorts them (its
/// effective time and id, its order), with its new end corrected.
fn extension_in_force(shift: &Shift, r: &ShiftReceipts, now: Timestamp) -> Option<(Timestamp, ExtensionId, Timestamp)> {
    shift
        .extensions
        .iter()
        .map(|e| {
            let rc = r.extension(e.id, now);
            (rc.effective(e.at), e.id, rc.corrected(e.new_end))
        })
        .max_by_key(|(at, id, _)| (*at, *id))
}

impl Timeline {
    /// The timeline of `shift` with its receipts at `now` (values without a receipt are being
    /// received now). The same times as [`on_server_clock`], without copying the shift.
    pub fn of(shift: &Shift, r: &ShiftReceipts, now: Timestamp) -> Timeline {
        let mut checkins: Vec<TimedCheckIn> = shift
            .checkins
            .iter()
            .map(|c| {
                let rc = r.checkin(c.id, now);
                TimedCheckIn {
                    id: c.id,
                    status: c.status,
                    device_time: c.device_time,
                    received_at: rc.received_at,
                    effective_at: rc.effective(c.device_time),
                }
            })
            .collect();
        checkins.sort_by_key(order);
        let raising = checkins
            .iter()
            .filter(|c| raises(c))
            .filter(|c| {
                let latest_then = checkins.iter().filter(|o| o.received_at <= c.received_at).max_by_key(|o| order(o));
                latest_then.map(|l| l.id) == Some(c.id)
            })
            .copied()
            .collect();
        let planned_end =
            extension_in_force(shift, r, now).map_or_else(|| r.header.corrected(shift.initial_end), |(_, _, end)| end);
        Timeline {
            started_at: r.header.effective(shift.started_at),
            planned_end,
            interval: shift.interval,
            last: checkins.last().copied(),
            raising,
            ended_at: shift.ended.as_ref().map(|_| r.end(now).received_at),
            extensions: shift.extensions.len(),
        }
    }

    pub fn last_checkin(&self) -> Option<&TimedCheckIn> {
        self.last.as_ref()
    }

    /// When the next check-in is due: one interval after the last effective check-in, or the
    /// start, on the interval in force under `policy` ([`Policy::interval_in_force`]).
    pub fn next_due(&self, policy: &Policy) -> Timestamp {
        let last = self.last_checkin().map_or(self.started_at, |c| c.effective_at.max(self.started_at));
        last + policy.interval_in_force(self.interval)
    }

    /// The deciding deadline: the earlier of the next check-in (on the interval in force,
    /// [`Policy::interval_in_force`]) and the planned end.
    pub fn deadline(&self, policy: &Policy) -> Deadline {
        let next_due = self.next_due(policy);
        let (due, reason) = if self.planned_end <= next_due {
            (self.planned_end, DueReason::PlannedEnd)
        } else {
            (next_due, DueReason::CheckIn)
        };
        Deadline { reason, due, overdue_at: due + policy.grace }
    }
}

/// Why a change's additions could not be applied to a [`Summary`]: what it needs to know was
/// let go (it keeps no history), so the shift must be read whole ([`Summary::of`]) instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NeedsWhole {
    /// An added entry may replace one the shift has (its key is not its id's own spelling, or the
    /// shift has such a key): which one, and its first receipt, are not kept.
    #[error("an added entry may replace one the shift has")]
    MayReplace,
    /// A value has no receipt: its times move with the clock until it gets one.
    #[error("a value has no receipt yet")]
    NoReceipt,
    /// A support or emergency check-in received before the latest receipt (the server clock was
    /// put back): whether it was the latest then depends on check-ins not kept.
    #[error("a support or emergency check-in was received before the latest check-in")]
    Earlier,
    /// The end was taken back.
    #[error("the end of shift was taken back")]
    Unended,
}

/// A shift's [`Timeline`] kept up to date from what each of its changes adds ([`Summary::add`]),
/// in memory that does not grow with its check-ins: the deadline engine's copy of a shift. Built
/// from the whole shift ([`Summary::of`]); every rule read from it decides as on the whole shift.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    tl: Timeline,
    /// The header's receipt (start and initial planned end).
    header: Receipt,
    /// The initial planned end, corrected: in force while there is no extension.
    initial_end: Timestamp,
    /// The extension in force: its effective time and id (its order), and its end, corrected.
    extension: Option<(Timestamp, ExtensionId, Timestamp)>,
    /// The first receipt of the end (kept as the rows keep it).
    ended: Option<Receipt>,
    /// The latest receipt of a check-in.
    latest_received: Option<Timestamp>,
    /// A shift with a value that has no receipt (its times move with `now`), or with an entry
    /// whose key is not its id's own spelling (a later entry may replace it): kept whole, its
    /// timeline derived at each look as before. Never so for a shift the server tracks.
    whole: Option<Box<(Shift, ShiftReceipts)>>,
}

impl Summary {
    /// The summary of `shift` with its receipts at `now`. `odd_keys`: the shift has an entry
    /// under a key that is not its id's own spelling (see [`crate::doc::shift::odd_keys`]).
    pub fn of(shift: &Shift, r: &ShiftReceipts, now: Timestamp, odd_keys: bool) -> Summary {
        let tl = Timeline::of(shift, r, now);
        let unreceipted = shift.checkins.iter().any(|c| !r.checkins.contains_key(&c.id))
            || shift.extensions.iter().any(|e| !r.extensions.contains_key(&e.id))
            || (shift.ended.is_some() && r.ended.is_none());
        let extension = extension_in_force(shift, r, now);
        let latest_received = shift.checkins.iter().map(|c| r.checkin(c.id, now).received_at).max();
        Summary {
            header: r.header,
            initial_end: r.header.corrected(shift.initial_end),
            extension,
            ended: r.ended,
            latest_received,
            whole: (unreceipted || odd_keys).then(|| Box::new((shift.clone(), r.clone()))),
            tl,
        }
    }

    /// The timeline at `now`.
    pub fn timeline(&self, now: Timestamp) -> std::borrow::Cow<'_, Timeline> {
        match &self.whole {
            Some(w) => std::borrow::Cow::Owned(Timeline::of(&w.0, &w.1, now)),
            None => std::borrow::Cow::Borrowed(&self.tl),
        }
    }

    /// Whether the summary keeps the whole shift (see `whole`).
    pub fn is_whole(&self) -> bool {
        self.whole.is_some()
    }

    /// The three times of check-in `id` at `now`, if the summary knows them: those of the latest
    /// check-in (the one a check-in resolution names), or of any, for a shift kept whole.
    pub fn times(&self, id: CheckInId, now: Timestamp) -> Option<TimedCheckIn> {
        if let Some(w) = &self.whole {
            let c = w.0.checkin(id)?;
            let r = w.1.checkin(id, now);
            return Some(TimedCheckIn {
                id,
                status: c.status,
                device_time: c.device_time,
                received_at: r.received_at,
                effective_at: r.effective(c.device_time),
            });
        }
        self.tl.last.filter(|c| c.id == id)
    }

    /// Applies what a change added (`a`, with `r` the receipts stored with it): the summary is
    /// then that of the shift after the change, as [`Summary::of`] would make it. O(the change).
    /// On an error the summary is left part way: apply to a copy, and read the shift whole.
    pub fn add(&mut self, a: &crate::doc::ShiftAdditions, r: &ShiftReceipts) -> Result<(), NeedsWhole> {
        if self.whole.is_some() || a.odd_keys {
            return Err(NeedsWhole::MayReplace);
        }
        for e in &a.extensions {
            let rc = r.extensions.get(&e.id).ok_or(NeedsWhole::NoReceipt)?;
            let x = (rc.effective(e.at), e.id, rc.corrected(e.new_end));
            if self.extension.is_none_or(|(at, id, _)| (x.0, x.1) > (at, id)) {
                self.extension = Some(x);
            }
            self.tl.extensions += 1;
        }
        self.tl.planned_end = self.extension.map_or(self.initial_end, |(_, _, end)| end);
        match &a.ended {
            None => {}
            Some(None) if self.tl.ended_at.is_some() => return Err(NeedsWhole::Unended),
            Some(None) => {}
            Some(Some(_)) => {
                if self.ended.is_none() {
                    self.ended = Some(*r.ended.as_ref().ok_or(NeedsWhole::NoReceipt)?);
                }
                self.tl.ended_at = self.ended.map(|e| e.received_at);
            }
        }
        for c in &a.checkins {
            let rc = r.checkins.get(&c.id).ok_or(NeedsWhole::NoReceipt)?;
            let t = TimedCheckIn {
                id: c.id,
                status: c.status,
                device_time: c.device_time,
                received_at: rc.received_at,
                effective_at: rc.effective(c.device_time),
            };
            // No longer the latest of those received no later than it was.
            self.tl.raising.retain(|x| !(t.received_at <= x.received_at && order(&t) > order(x)));
            if raises(&t) {
                if self.latest_received.is_some_and(|l| t.received_at < l) {
                    return Err(NeedsWhole::Earlier);
                }
                // Every check-in so far was received no later: the latest of them all.
                if self.tl.last.is_none_or(|l| order(&t) > order(&l)) {
                    let at = self.tl.raising.partition_point(|x| order(x) < order(&t));
                    self.tl.raising.insert(at, t);
                }
            }
            if self.tl.last.is_none_or(|l| order(&t) > order(&l)) {
                self.tl.last = Some(t);
            }
            self.latest_received = Some(self.latest_received.map_or(t.received_at, |l| l.max(t.received_at)));
        }
        Ok(())
    }

    /// Lets go of the raising check-ins whose alert is stored (`stored` is asked with the alert's
    /// key as [`wanted`] gives it): [`wanted`] would list them again, only for the caller to pass
    /// them over, so the summary stays as small as the shift's open business.
    pub fn forget_raised(&mut self, stored: impl Fn(&str) -> bool) {
        self.tl.raising.retain(|c| !stored(&raising_key(c)));
        // Its room too: a shift that asked for help once would otherwise keep it all shift long.
        self.tl.raising.shrink_to_fit();
    }

    /// Roughly the heap the summary takes beyond its own size: its raising check-ins, and a shift
    /// kept whole (its entries, not their texts).
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        let mut n = self.tl.raising.capacity() * size_of::<TimedCheckIn>();
        if let Some(w) = &self.whole {
            let (s, r) = &**w;
            let map = |cap: usize, each: usize| cap * (each + 1) * 8 / 7;
            n += size_of::<(Shift, ShiftReceipts)>()
                + s.checkins.capacity() * size_of::<crate::CheckIn>()
                + s.extensions.capacity() * size_of::<crate::Extension>()
                + s.acks.capacity() * size_of::<crate::Ack>()
                + s.buddies.capacity() * size_of::<crate::MemberId>()
                + map(r.checkins.capacity(), size_of::<(CheckInId, Receipt)>())
                + map(r.extensions.capacity(), size_of::<(ExtensionId, Receipt)>())
                + map(r.acks.capacity(), size_of::<(AckId, Receipt)>());
        }
        n
    }
}

/// The key of the alert a raising check-in raises (unique within its shift).
fn raising_key(c: &TimedCheckIn) -> String {
    let kind = if c.status == CheckInStatus::Emergency { AlertKind::Emergency } else { AlertKind::Support };
    format!("{}:{}", kind.as_str(), c.id)
}

/// A deadline on the server clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadline {
    pub reason: DueReason,
    pub due: Timestamp,
    /// Due plus the policy's grace: from this moment (inclusive) the shift is overdue.
    pub overdue_at: Timestamp,
}

/// What an alert is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A check-in is overdue past grace.
    MissedCheckIn,
    /// The shift ran past its planned end plus grace with no end or extension.
    PastPlannedEnd,
    /// "I'd like support": someone should reach out soon; not an alarm.
    Support,
    /// Emergency: everyone at once.
    Emergency,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::MissedCheckIn => "missed_checkin",
            AlertKind::PastPlannedEnd => "past_planned_end",
            AlertKind::Support => "support",
            AlertKind::Emergency => "emergency",
        }
    }

    pub fn parse(s: &str) -> Option<AlertKind> {
        Some(match s {
            "missed_checkin" => AlertKind::MissedCheckIn,
            "past_planned_end" => AlertKind::PastPlannedEnd,
            "support" => AlertKind::Support,
            "emergency" => AlertKind::Emergency,
            _ => return None,
        })
    }

    /// Urgent alerts are alarms; a support request is not.
    pub fn urgent(self) -> bool {
        !matches!(self, AlertKind::Support)
    }
}

/// An alert a shift should have now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WantedAlert {
    /// Identifies the alert within its shift across restarts: the same situation always gives
    /// the same key, so it is raised once, and never raised again once resolved. (The server
    /// prefixes the shift id: two shifts due at the same moment are two alerts.)
    pub key: String,
    pub kind: AlertKind,
    /// The moment the alert starts: the overdue moment, or the check-in's effective time.
    pub opened_at: Timestamp,
    /// The deadline missed (overdue alerts).
    pub due: Option<Timestamp>,
    /// The check-in that raised it (support, emergency).
    pub checkin: Option<CheckInId>,
    /// The escalation chain: step `i` fires at `opened_at + chain[i].after`.
    pub chain: Vec<EscalationStep>,
}

/// The chain an alert climbs.
///
/// Overdue alerts follow the team's policy; past the planned end the worker is always reminded
/// first (forgetting to end a shift is the commonest false alarm). A support request goes to
/// buddies and leads at once, not as an alarm; an emergency goes to all leads and buddies at once.
pub fn chain_for(kind: AlertKind, policy: &Policy) -> Vec<EscalationStep> {
    match kind {
        AlertKind::MissedCheckIn => policy.escalation.clone(),
        AlertKind::PastPlannedEnd => {
            let mut c = policy.escalation.clone();
            if c.first().map(|s| s.notify) != Some(Notify::Worker) {
                c.insert(0, EscalationStep { after: Secs(0), notify: Notify::Worker });
            }
            c
        }
        AlertKind::Support | AlertKind::Emergency => vec![
            EscalationStep { after: Secs(0), notify: Notify::Buddies },
            EscalationStep { after: Secs(0), notify: Notify::Leads },
        ],
    }
}

/// The alerts `tl` should have at `now` (in no particular order). Past alerts that no longer
/// apply are not listed: the caller resolves them (see [`resolution`]).
pub fn wanted(tl: &Timeline, policy: &Policy, now: Timestamp) -> Vec<WantedAlert> {
    let mut out = Vec::new();
    if tl.ended_at.is_none() {
        let d = tl.deadline(policy);
        if now >= d.overdue_at {
            let kind = match d.reason {
                DueReason::CheckIn => AlertKind::MissedCheckIn,
                DueReason::PlannedEnd => AlertKind::PastPlannedEnd,
            };
            out.push(WantedAlert {
                key: format!("{}:{}", kind.as_str(), d.due.0),
                kind,
                opened_at: d.overdue_at,
                due: Some(d.due),
                checkin: None,
                chain: chain_for(kind, policy),
            });
        }
    }
    // A support or emergency check-in raises its alert if it was the latest check-in when it
    // reached the server, before any end (`Timeline::raising`): judged on the receipts, so whenever
    // (and however many stored changes later) the engine looks, the same check-ins raise alerts,
    // each once. One replaced since is raised and resolved at once (see `resolution`): nobody
    // misses that it was sent.
    for c in &tl.raising {
        let kind = match c.status {
            CheckInStatus::Emergency => AlertKind::Emergency,
            CheckInStatus::Support => AlertKind::Support,
            CheckInStatus::Ok => continue,
        };
        if tl.ended_at.is_some_and(|e| e <= c.received_at) {
            continue;
        }
        out.push(WantedAlert {
            key: raising_key(c),
            kind,
            opened_at: c.effective_at.min(now),
            due: None,
            checkin: Some(c.id),
            chain: chain_for(kind, policy),
        });
    }
    out
}

/// When the shift next needs looking at if nothing arrives: its overdue moment, if still ahead.
pub fn next_wake(tl: &Timeline, policy: &Policy, now: Timestamp) -> Option<Timestamp> {
    if tl.ended_at.is_some() {
        return None;
    }
    let d = tl.deadline(policy);
    (d.overdue_at > now).then_some(d.overdue_at)
}

/// When step `index` of an alert opened at `opened_at` fires.
pub fn step_at(opened_at: Timestamp, chain: &[EscalationStep], index: usize) -> Option<Timestamp> {
    chain.get(index).map(|s| opened_at + s.after)
}

/// The steps (indexes) due at `now`, given that the first `fired` steps have fired already.
pub fn steps_due(opened_at: Timestamp, chain: &[EscalationStep], fired: usize, now: Timestamp) -> Vec<usize> {
    (fired..chain.len()).take_while(|&i| step_at(opened_at, chain, i).is_some_and(|t| t <= now)).collect()
}

/// How an alert ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Resolution {
    /// A check-in arrived. `prevented`: its effective time was before the alert opened, so it
    /// would have prevented the alert had it arrived in time (a late offline check-in).
    CheckIn { checkin: CheckInId, prevented: bool },
    /// The shift was ended.
    End,
    /// The planned end was extended.
    Extension,
    /// The person who claimed it resolved it, with a note.
    Claimer,
}

/// Why an alert of `kind` opened at `opened_at` (raised by `checkin`, if any) no longer applies
/// on `tl`, or None if it still does. `still_wanted` is whether [`wanted`] still lists its key (it
/// decides for overdue alerts; a support or emergency alert stands until a later check-in replaces
/// the one that raised it, or the shift ends).
pub fn resolution(
    kind: AlertKind,
    opened_at: Timestamp,
    raised_by: Option<CheckInId>,
    extensions_then: usize,
    tl: &Timeline,
    still_wanted: bool,
) -> Option<Resolution> {
    if tl.ended_at.is_some() {
        return Some(Resolution::End);
    }
    match kind {
        AlertKind::MissedCheckIn | AlertKind::PastPlannedEnd => {
            if still_wanted {
                return None;
            }
            if kind == AlertKind::PastPlannedEnd && tl.extensions > extensions_then {
                return Some(Resolution::Extension);
            }
            let last = tl.last_checkin()?;
            Some(Resolution::CheckIn { checkin: last.id, prevented: last.effective_at < opened_at })
        }
        AlertKind::Support | AlertKind::Emergency => {
            // A later check-in replaced the one that raised it.
            let last = tl.last_checkin()?;
            (Some(last.id) != raised_by).then_some(Resolution::CheckIn { checkin: last.id, prevented: false })
        }
    }
}
