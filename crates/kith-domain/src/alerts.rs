//! Deadlines and alerts on the **server clock**, as pure rules: which alerts a shift should have at
//! a moment, when each escalation step of an alert is due, and what a new check-in or an end of
//! shift resolves. The server's deadline engine stores and fires what these rules say; nothing here
//! does IO or reads a clock.
//!
//! A device clock may be wrong, so the server never takes a device time as it is. A [`Timeline`]
//! holds a shift's times translated to the server clock:
//! - a check-in (or the start of the shift) happened at its **effective time**: the device time
//!   corrected by that device's measured clock offset, but never later than the moment the server
//!   received it (it cannot have happened after it arrived);
//! - the planned end is the device's planned end corrected by the offset of the worker's device.
//!
//! A device clock three hours fast would otherwise push every deadline three hours late; with the
//! correction and the receipt cap it can only make a deadline earlier (a false alarm, which the
//! worker is reminded of first), never later.

use serde::{Deserialize, Serialize};

use crate::model::{CheckInStatus, EscalationStep, Notify, Policy, Shift};
use crate::rules::DueReason;
use crate::{CheckInId, Secs, Timestamp};

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

/// The effective time of something a device did at `device_time` (its clock), that the server
/// received at `received_at` (server clock), from a device whose clock is `offset_ms` behind the
/// server's (server minus device): the corrected device time, capped by the receipt time.
pub fn effective_time(device_time: Timestamp, offset_ms: i64, received_at: Timestamp) -> Timestamp {
    Timestamp(device_time.0.saturating_add(offset_ms)).min(received_at)
}

/// A shift's deadlines-relevant facts on the server clock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeline {
    /// Effective start of the shift.
    pub started_at: Timestamp,
    /// The planned end in force, corrected by the worker device's offset.
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
    /// Builds the timeline of `shift`. `offset_ms` is the clock offset of the worker's device
    /// (server minus device); `received` gives, for a check-in, when the server received it and
    /// the offset of the device that made it (None: not received yet, e.g. being received now:
    /// then `now` and `offset_ms` are used); `first_seen` is when the server first received the
    /// shift; `ended_seen` when it first saw the end.
    pub fn of(
        shift: &Shift,
        offset_ms: i64,
        first_seen: Timestamp,
        ended_seen: Option<Timestamp>,
        received: impl Fn(CheckInId) -> Option<(Timestamp, i64)>,
        now: Timestamp,
    ) -> Timeline {
        let mut checkins: Vec<TimedCheckIn> = shift
            .checkins
            .iter()
            .map(|c| {
                let (received_at, off) = received(c.id).unwrap_or((now, offset_ms));
                TimedCheckIn {
                    id: c.id,
                    status: c.status,
                    device_time: c.device_time,
                    received_at,
                    effective_at: effective_time(c.device_time, off, received_at),
                }
            })
            .collect();
        checkins.sort_by_key(|c| (c.effective_at, c.id));
        Timeline {
            started_at: effective_time(shift.started_at, offset_ms, first_seen),
            planned_end: Timestamp(shift.planned_end().0.saturating_add(offset_ms)),
            interval: shift.interval,
            checkins,
            ended_at: shift.ended.as_ref().map(|_| ended_seen.unwrap_or(now)),
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
    if tl.ended_at.is_some() {
        return out;
    }
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
    if let Some(last) = tl.last_checkin() {
        let kind = match last.status {
            CheckInStatus::Emergency => Some(AlertKind::Emergency),
            CheckInStatus::Support => Some(AlertKind::Support),
            CheckInStatus::Ok => None,
        };
        if let Some(kind) = kind {
            out.push(WantedAlert {
                key: format!("{}:{}", kind.as_str(), last.id),
                kind,
                opened_at: last.effective_at.min(now),
                due: None,
                checkin: Some(last.id),
                chain: chain_for(kind, policy),
            });
        }
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
/// on `tl`, or None if it still does. `still_wanted` is whether [`wanted`] still lists its key.
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
    if still_wanted {
        return None;
    }
    match kind {
        AlertKind::MissedCheckIn | AlertKind::PastPlannedEnd => {
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
