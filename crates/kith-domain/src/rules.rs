//! Pure rules over shifts and policy, with the clock passed in: when the next check-in is due,
//! whether a worker is due soon or overdue, what to remind them of, and the order of the team board.
//!
//! On a device these rules read the times its documents hold (its own clock, the one its
//! reminders fire on). The server applies the very same rules to the shift on its own clock
//! ([`crate::alerts::on_server_clock`]), so its board and views agree with its deadline engine and a
//! wrong device clock cannot hide anyone. Overdue starts at the deadline plus grace, inclusive, as
//! the deadline engine raises its alert then.

use serde::{Deserialize, Serialize};

use crate::model::{CheckInStatus, Policy, Shift, Team};
use crate::{MemberId, ShiftId, Timestamp};

/// Where a shift stands with respect to its deadlines.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DueState {
    /// From due plus grace (inclusive), or the planned end plus grace, with no end or extension.
    Overdue,
    /// Within the reminder lead time of a due time or the planned end, or past it within grace.
    DueSoon,
    Fine,
    /// The shift has ended.
    OffShift,
}

/// Why a shift is overdue (or about to be).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DueReason {
    CheckIn,
    PlannedEnd,
}

/// The deadlines of one shift at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DueStatus {
    pub state: DueState,
    /// The deadline that decides `state` (the earlier of next check-in and planned end).
    pub reason: DueReason,
    /// When the next check-in is due.
    pub next_due: Timestamp,
    /// When the shift becomes overdue if nothing happens: the deciding deadline plus grace.
    pub overdue_at: Timestamp,
    /// The planned end in force.
    pub planned_end: Timestamp,
}

/// When the next check-in is due: one interval after the last check-in, or after the start.
pub fn next_due(shift: &Shift) -> Timestamp {
    let last = shift.last_checkin().map_or(shift.started_at, |c| c.device_time.max(shift.started_at));
    last + shift.interval
}

/// The shift's deadlines and state at `now`.
pub fn due_status(shift: &Shift, policy: &Policy, now: Timestamp) -> DueStatus {
    let next_due = next_due(shift);
    let planned_end = shift.planned_end();
    // Whichever deadline comes first decides; past the planned end, the end decides.
    let (deadline, reason) =
        if planned_end <= next_due { (planned_end, DueReason::PlannedEnd) } else { (next_due, DueReason::CheckIn) };
    let state = if shift.ended.is_some() {
        DueState::OffShift
    } else if now >= deadline + policy.grace {
        DueState::Overdue
    } else if now >= deadline - policy.reminder_lead {
        DueState::DueSoon
    } else {
        DueState::Fine
    };
    DueStatus { state, reason, next_due, overdue_at: deadline + policy.grace, planned_end }
}

/// What a device should remind its worker of, even with no connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reminder {
    pub at: Timestamp,
    pub reason: DueReason,
    /// The deadline the reminder is for.
    pub deadline: Timestamp,
}

/// The reminders still to come for an active shift, in time order: the next check-in and the
/// planned end (the commonest false alarm is forgetting to end a shift, so it is reminded first).
pub fn reminders(shift: &Shift, policy: &Policy) -> Vec<Reminder> {
    if shift.ended.is_some() {
        return Vec::new();
    }
    let mut out = vec![
        Reminder { at: next_due(shift) - policy.reminder_lead, reason: DueReason::CheckIn, deadline: next_due(shift) },
        Reminder {
            at: shift.planned_end() - policy.reminder_lead,
            reason: DueReason::PlannedEnd,
            deadline: shift.planned_end(),
        },
    ];
    out.sort_by_key(|r| r.at);
    out
}

/// A worker's place on the team board, most urgent first.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BoardStatus {
    Emergency,
    Support,
    Overdue,
    DueSoon,
    Fine,
    OffShift,
}

/// The board status of a worker whose most recent shift is `shift` (None: never on shift).
///
/// An emergency stays until the worker checks in OK again or ends the shift: an acknowledgement
/// means someone is on it, not that the worker is safe. A support request stays until it is
/// acknowledged or followed by an OK check-in.
pub fn board_status(shift: Option<&Shift>, policy: &Policy, now: Timestamp) -> BoardStatus {
    let Some(shift) = shift else { return BoardStatus::OffShift };
    if shift.ended.is_some() {
        return BoardStatus::OffShift;
    }
    if let Some(last) = shift.last_checkin() {
        match last.status {
            CheckInStatus::Emergency => return BoardStatus::Emergency,
            CheckInStatus::Support if shift.acks_for(last.id).next().is_none() => return BoardStatus::Support,
            _ => {}
        }
    }
    match due_status(shift, policy, now).state {
        DueState::Overdue => BoardStatus::Overdue,
        DueState::DueSoon => BoardStatus::DueSoon,
        DueState::Fine => BoardStatus::Fine,
        DueState::OffShift => BoardStatus::OffShift,
    }
}

/// One row of the team board.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardRow {
    pub member: MemberId,
    pub name: String,
    pub status: BoardStatus,
    pub shift: Option<ShiftId>,
    pub purpose: Option<String>,
    pub last_checkin: Option<Timestamp>,
    pub next_due: Option<Timestamp>,
    pub planned_end: Option<Timestamp>,
}

/// A member's current shift: the active one started last, else the one that ended last.
pub fn current_shift(member: MemberId, shifts: &[Shift]) -> Option<&Shift> {
    let mine = shifts.iter().filter(|s| s.worker == member);
    mine.max_by_key(|s| (s.ended.is_none(), s.ended.as_ref().map(|e| e.at), s.started_at, s.id))
}

/// The team board at `now`: every member, sorted by urgency, then by the earliest next due, then name.
pub fn board(team: &Team, shifts: &[Shift], now: Timestamp) -> Vec<BoardRow> {
    let mut rows: Vec<BoardRow> = team
        .members
        .iter()
        .map(|m| {
            let shift = current_shift(m.id, shifts);
            let active = shift.filter(|s| s.ended.is_none());
            BoardRow {
                member: m.id,
                name: m.name.clone(),
                status: board_status(shift, &team.policy, now),
                shift: shift.map(|s| s.id),
                purpose: shift.map(|s| s.purpose.clone()),
                last_checkin: shift.and_then(|s| s.last_checkin()).map(|c| c.device_time),
                next_due: active.map(next_due),
                planned_end: active.map(Shift::planned_end),
            }
        })
        .collect();
    sort_board(&mut rows);
    rows
}

/// Sorts rows most urgent first; ties by the earliest next due, then by name.
pub fn sort_board(rows: &mut [BoardRow]) {
    rows.sort_by(|a, b| {
        a.status
            .cmp(&b.status)
            .then_with(|| a.next_due.unwrap_or(Timestamp(i64::MAX)).cmp(&b.next_due.unwrap_or(Timestamp(i64::MAX))))
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| a.member.cmp(&b.member))
    });
}
