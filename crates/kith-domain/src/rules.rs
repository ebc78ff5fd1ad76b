//! Pure rules over shifts and policy, with the clock passed in: when the next check-in is due,
//! whether a worker is due soon or overdue, what to remind them of, and the order of the team board.
//!
//! On a device these rules read the times its documents hold (its own clock, the one its
//! reminders fire on). The server applies the very same rules to the shift on its own clock
//! ([`crate::alerts::on_server_clock`]), so its board and views agree with its deadline engine and a
//! wrong device clock cannot hide anyone. Overdue starts at the deadline plus grace, inclusive, as
//! the deadline engine raises its alert then.

use serde::{Deserialize, Serialize};

use crate::alerts::AlertKind;
use crate::model::{CheckInStatus, Policy, Role, Shift, Team};
use crate::{CheckInId, MemberId, ShiftId, Timestamp};

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

/// When the next check-in is due: one interval after the last check-in, or after the start, on
/// the interval in force under `policy` ([`Policy::interval_in_force`]).
pub fn next_due(shift: &Shift, policy: &Policy) -> Timestamp {
    let last = shift.last_checkin().map_or(shift.started_at, |c| c.device_time.max(shift.started_at));
    last + policy.interval_in_force(shift.interval)
}

/// The shift's deadlines and state at `now`, its interval bounded by `policy`
/// ([`Policy::interval_in_force`]).
pub fn due_status(shift: &Shift, policy: &Policy, now: Timestamp) -> DueStatus {
    let next_due = next_due(shift, policy);
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
        Reminder {
            at: next_due(shift, policy) - policy.reminder_lead,
            reason: DueReason::CheckIn,
            deadline: next_due(shift, policy),
        },
        Reminder {
            at: shift.planned_end() - policy.reminder_lead,
            reason: DueReason::PlannedEnd,
            deadline: shift.planned_end(),
        },
    ];
    out.sort_by_key(|r| r.at);
    out
}

/// A worker's status on the team board, on a shift's card and detail, most urgent first.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BoardStatus {
    Emergency,
    /// A check-in or the planned end is overdue past grace (or its alert is open).
    Overdue,
    /// "I'd like support", not yet dealt with.
    Support,
    DueSoon,
    Fine,
    OffShift,
}

impl BoardStatus {
    /// Someone should act: an emergency, an overdue worker or a request for support.
    pub fn needs_a_human(self) -> bool {
        matches!(self, BoardStatus::Emergency | BoardStatus::Overdue | BoardStatus::Support)
    }

    /// The status an alert of `kind` stands for (and ranks by).
    pub fn of_alert(kind: AlertKind) -> BoardStatus {
        match kind {
            AlertKind::Emergency => BoardStatus::Emergency,
            AlertKind::MissedCheckIn | AlertKind::PastPlannedEnd => BoardStatus::Overdue,
            AlertKind::Support => BoardStatus::Support,
        }
    }
}

/// An alert as the board's rules see it. The server knows them; a device's own board does not
/// (it passes `None` and decides from the documents alone).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlertFact {
    pub shift: ShiftId,
    pub worker: MemberId,
    pub kind: AlertKind,
    /// The check-in that raised it (support, emergency).
    pub checkin: Option<CheckInId>,
    /// Who claimed it; `None`: nobody yet.
    pub owner: Option<MemberId>,
    /// Server clock: when it opened.
    pub opened_at: Timestamp,
    pub resolved: bool,
}

/// Whether a row or an alert needs a human now, and whether one is on it.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Attention {
    /// Someone needs a human and nobody has claimed it: the alarm state.
    Unowned,
    /// Someone needs a human and a named person owns it.
    Owned,
    /// Nothing to do.
    Calm,
}

/// The status of one shift at `now`, from its latest check-in, its deadlines and (when known) its
/// alerts: what a card's and a shift detail's badge say, so a shift in emergency never reads
/// "on track".
///
/// - An emergency stays until the worker checks in again or ends the shift: an acknowledgement or
///   a claim means someone is on it, not that the worker is safe.
/// - A request for support stays until it is dealt with: with the alerts known, until its alert is
///   resolved (a reply alone does not close it); without them, until it is acknowledged.
/// - An open overdue alert keeps the shift overdue, whatever the device times say.
pub fn shift_status(shift: &Shift, policy: &Policy, now: Timestamp, alerts: Option<&[AlertFact]>) -> BoardStatus {
    if shift.ended.is_some() {
        return BoardStatus::OffShift;
    }
    let mine = |f: &&AlertFact| f.shift == shift.id;
    if let Some(last) = shift.last_checkin() {
        match last.status {
            CheckInStatus::Emergency => return BoardStatus::Emergency,
            CheckInStatus::Support => {
                let dealt_with = match alerts {
                    Some(all) => all.iter().filter(mine).any(|f| f.checkin == Some(last.id) && f.resolved),
                    None => shift.acks_for(last.id).next().is_some(),
                };
                if !dealt_with {
                    return BoardStatus::Support;
                }
            }
            CheckInStatus::Ok => {}
        }
    }
    let overdue_alert = alerts.is_some_and(|all| {
        all.iter()
            .filter(mine)
            .any(|f| !f.resolved && matches!(f.kind, AlertKind::MissedCheckIn | AlertKind::PastPlannedEnd))
    });
    match due_status(shift, policy, now).state {
        _ if overdue_alert => BoardStatus::Overdue,
        DueState::Overdue => BoardStatus::Overdue,
        DueState::DueSoon => BoardStatus::DueSoon,
        DueState::Fine => BoardStatus::Fine,
        DueState::OffShift => BoardStatus::OffShift,
    }
}

/// The board status of a worker whose most recent shift is `shift` (None: never on shift),
/// from the documents alone (see [`shift_status`]).
pub fn board_status(shift: Option<&Shift>, policy: &Policy, now: Timestamp) -> BoardStatus {
    shift.map_or(BoardStatus::OffShift, |s| shift_status(s, policy, now, None))
}

/// Whether someone needs a human for a worker in `status` with these unresolved `alerts` (theirs),
/// who owns it, and since when it has waited (the oldest open alert). A status that needs a human
/// with no alert claimed for it is unowned: nobody is on it.
pub fn attention<'a>(
    status: BoardStatus,
    alerts: impl IntoIterator<Item = &'a AlertFact>,
) -> (Attention, Option<MemberId>, Option<Timestamp>) {
    let open: Vec<&AlertFact> = alerts.into_iter().filter(|f| !f.resolved).collect();
    let since = open.iter().map(|f| f.opened_at).min();
    if open.iter().any(|f| f.owner.is_none()) {
        return (Attention::Unowned, None, since);
    }
    // The owner of the most urgent alert, then the newest.
    let owner = open.iter().min_by_key(|f| (BoardStatus::of_alert(f.kind), std::cmp::Reverse(f.opened_at)));
    match owner {
        Some(f) => (Attention::Owned, f.owner, since),
        None if status.needs_a_human() => (Attention::Unowned, None, None),
        None => (Attention::Calm, None, None),
    }
}

/// One row of the team board.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardRow {
    pub member: MemberId,
    pub name: String,
    pub role: Role,
    pub status: BoardStatus,
    /// Whether a human is needed, and whether one is on it.
    pub attention: Attention,
    /// Who owns the member's open alert (the most urgent one), if someone claimed it.
    pub owner: Option<MemberId>,
    /// When the member's oldest unresolved alert opened (server clock), if any.
    pub alert_since: Option<Timestamp>,
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

/// The team board at `now` from the documents alone (a device's own board): every member, most
/// in need of a human first ([`board_key`]).
pub fn board(team: &Team, shifts: &[Shift], now: Timestamp) -> Vec<BoardRow> {
    board_with(team, shifts, None, now)
}

/// The team board at `now`, with the team's alerts when they are known (the server's board):
/// statuses and who owns what follow the alerts too, so the board, the cards and the Alerts screen
/// agree.
pub fn board_with(team: &Team, shifts: &[Shift], alerts: Option<&[AlertFact]>, now: Timestamp) -> Vec<BoardRow> {
    let mut rows: Vec<BoardRow> = team
        .members
        .iter()
        .map(|m| {
            let shift = current_shift(m.id, shifts);
            let active = shift.filter(|s| s.ended.is_none());
            let status = shift.map_or(BoardStatus::OffShift, |s| shift_status(s, &team.policy, now, alerts));
            let theirs = alerts.unwrap_or(&[]).iter().filter(|f| f.worker == m.id);
            let (attention, owner, alert_since) = attention(status, theirs);
            BoardRow {
                member: m.id,
                name: m.name.clone(),
                role: m.role,
                status,
                attention,
                owner,
                alert_since,
                shift: shift.map(|s| s.id),
                purpose: shift.map(|s| s.purpose.clone()),
                last_checkin: shift.and_then(|s| s.last_checkin()).map(|c| c.device_time),
                next_due: active.map(|s| next_due(s, &team.policy)),
                planned_end: active.map(Shift::planned_end),
            }
        })
        .collect();
    sort_board(&mut rows);
    rows
}

/// Where a row goes on the board, smaller first: who needs a human now comes first.
///
/// 1. people who need a human and nobody owns it, then those a named person owns;
/// 2. within each, emergency > overdue > support, the longest waiting first;
/// 3. then workers on shift: due soon before fine, the earliest due first;
/// 4. then people off shift, leads last; ties by name.
pub fn board_key(r: &BoardRow) -> impl Ord + use<> {
    let tier: u8 = match (r.attention, r.status) {
        (Attention::Unowned, _) => 0,
        (Attention::Owned, _) => 1,
        (Attention::Calm, BoardStatus::OffShift) if r.role.is_lead() => 4,
        (Attention::Calm, BoardStatus::OffShift) => 3,
        (Attention::Calm, _) => 2,
    };
    let far = Timestamp(i64::MAX);
    (tier, r.status, r.alert_since.unwrap_or(far), r.next_due.unwrap_or(far), r.name.clone(), r.member)
}

/// Sorts rows by [`board_key`].
pub fn sort_board(rows: &mut [BoardRow]) {
    rows.sort_by_cached_key(board_key);
}

/// Where an alert goes in a list, smaller first, by the board's rule: unresolved before resolved;
/// unowned before owned; emergency > overdue > support; the longest waiting first (resolved ones:
/// the newest first).
pub fn alert_key(kind: AlertKind, owned: bool, resolved: bool, opened_at: Timestamp) -> impl Ord + use<> {
    if resolved {
        return (true, false, BoardStatus::OffShift, -opened_at.0);
    }
    (false, owned, BoardStatus::of_alert(kind), opened_at.0)
}
