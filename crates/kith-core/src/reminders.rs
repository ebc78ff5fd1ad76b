//! Reminder times for local notifications, from the documents on this device alone, so they fire
//! even with no connection: the next check-in due and the planned end of each of the worker's
//! active shifts, a reminder lead before each (the team policy's `reminder_lead`).
//!
//! Times are on this device's own clock (the clock its documents were written on and its
//! notifications fire on). The server decides deadlines on its own clock (docs/alerts.md); the
//! two agree unless this device's clock is wrong, and then the server's alert is what counts.

use kith_domain::doc::{shift, team};
use kith_domain::rules::{self, DueReason};
use kith_domain::{MemberId, Policy, Shift, ShiftId, Timestamp};
use serde::Serialize;

use crate::profile::{SHIFT_KIND, TEAM_KIND};
use crate::repo::Repo;

/// One local notification to schedule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LocalReminder {
    pub shift: ShiftId,
    /// `check_in` or `planned_end`.
    pub reason: DueReason,
    /// When to notify (device clock, ms): the deadline minus the reminder lead.
    pub at_ms: i64,
    /// The deadline itself (device clock, ms).
    pub deadline_ms: i64,
}

/// The reminders of `member`'s active shifts held on this device, earliest first. Reminders
/// whose deadline is already past are kept (the app shows them as due now).
pub fn reminders<R: Repo>(repo: &mut R, member: MemberId) -> Result<Vec<LocalReminder>, R::Error> {
    let policy = match repo.list_docs(Some(TEAM_KIND))?.first() {
        Some(info) => team::read(repo.doc(info.id)?).map(|t| t.policy).unwrap_or_default(),
        None => Policy::default(),
    };
    let mut out = Vec::new();
    for info in repo.list_docs(Some(SHIFT_KIND))? {
        let Ok(doc) = repo.doc(info.id) else { continue };
        let Ok(s) = shift::read(doc) else { continue };
        if s.worker != member || s.ended.is_some() {
            continue;
        }
        for r in rules::reminders(&s, &policy) {
            out.push(LocalReminder {
                shift: s.id,
                reason: r.reason,
                at_ms: r.at.millis(),
                deadline_ms: r.deadline.millis(),
            });
        }
    }
    out.sort_by_key(|r| (r.at_ms, r.deadline_ms));
    Ok(out)
}

/// The reminders of `shifts` (those still running), earliest first: [`reminders`] for a caller
/// that holds the shifts already.
pub fn of_shifts<'a>(shifts: impl IntoIterator<Item = &'a Shift>, policy: &Policy) -> Vec<LocalReminder> {
    let mut out = Vec::new();
    for s in shifts.into_iter().filter(|s| s.ended.is_none()) {
        for r in rules::reminders(s, policy) {
            out.push(LocalReminder {
                shift: s.id,
                reason: r.reason,
                at_ms: r.at.millis(),
                deadline_ms: r.deadline.millis(),
            });
        }
    }
    out.sort_by_key(|r| (r.at_ms, r.deadline_ms));
    out
}

/// The next reminder still to come after `now` (device clock), if any.
pub fn next_reminder<R: Repo>(
    repo: &mut R,
    member: MemberId,
    now: Timestamp,
) -> Result<Option<LocalReminder>, R::Error> {
    Ok(reminders(repo, member)?.into_iter().find(|r| r.at_ms > now.millis()))
}
