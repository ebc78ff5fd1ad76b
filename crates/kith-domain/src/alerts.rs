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

/// A shift's deadlines-relevant facts on the server clock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeline {
    /// Effective start of the shift.
    pub started_at: Timestamp,
    /// The planned end in force (the latest extension's, or the initial one), corrected.
    pub planned_end: Timestamp,
    pub interval: Secs,
    /// Sorted by effective time, then id.
    pub checkins: Vec<TimedCheckIn>,
    /// When the end of shift reached the server, if it has.
    pub ended_at: Option<Timestamp>,
    /// Number of extensions: a new one resolves an alert about the planned end.
    pub extensions: usize,
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
        checkins.sort_by_key(|c| (c.effective_at, c.id));
        // The extension in force is the latest on the server clock, as `on_server_clock` sorts them.
        let planned_end = shift
            .extensions
            .iter()
            .map(|e| {
                let rc = r.extension(e.id, now);
                (rc.effective(e.at), e.id, rc.corrected(e.new_end))
            })
            .max_by_key(|(at, id, _)| (*at, *id))
            .map_or_else(|| r.header.corrected(shift.initial_end), |(_, _, end)| end);
        Timeline {
            started_at: r.header.effective(shift.started_at),
            planned_end,
            interval: shift.interval,
            checkins,
            ended_at: shift.ended.as_ref().map(|_| r.end(now).received_at),
            extensions: shift.extensions.len(),
        }
    }

    pub fn last_checkin(&self) -> Option<&TimedCheckIn> {
        self.checkins.last()
    }

    /// When the next check-in is due: one interval after the last effective check-in, or the start.
    pub fn next_due(&self) -> Timestamp {
        let last = self.last_checkin().map_or(self.started_at, |c| c.effective_at.max(self.started_at));
        last + self.interval
    }

    /// The deciding deadline: the earlier of the next check-in and the planned end.
    pub fn deadline(&self, policy: &Policy) -> Deadline {
        let next_due = self.next_due();
        let (due, reason) = if self.planned_end <= next_due {
            (self.planned_end, DueReason::PlannedEnd)
        } else {
            (next_due, DueReason::CheckIn)
        };
        Deadline { reason, due, overdue_at: due + policy.grace }
    }
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
    // reached the server, before any end: judged on the receipts, so whenever (and however many
    // stored changes later) the engine looks, the same check-ins raise alerts, each once. One
    // replaced since is raised and resolved at once (see `resolution`): nobody misses that it was sent.
    for c in &tl.checkins {
        let kind = match c.status {
            CheckInStatus::Emergency => AlertKind::Emergency,
            CheckInStatus::Support => AlertKind::Support,
            CheckInStatus::Ok => continue,
        };
        if tl.ended_at.is_some_and(|e| e <= c.received_at) {
            continue;
        }
        let latest_then =
            tl.checkins.iter().filter(|o| o.received_at <= c.received_at).max_by_key(|o| (o.effective_at, o.id));
        if latest_then.map(|l| l.id) != Some(c.id) {
            continue;
        }
        out.push(WantedAlert {
            key: format!("{}:{}", kind.as_str(), c.id),
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
