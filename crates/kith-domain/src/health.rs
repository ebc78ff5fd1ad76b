//! Connection health: how each protective factor is doing for a worker, and for a team, over a
//! window of time. Pure functions over shifts and the team document. The server passes shifts on
//! its own clock ([`crate::alerts::on_server_clock`]), so "on time" and "missed" mean what its
//! deadline engine decided.

use serde::{Deserialize, Serialize};

use crate::model::{Shift, Team};
use crate::{MemberId, Secs, Timestamp};

/// A half-open window of time `[from, to)`; shifts count if they started inside it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub from: Timestamp,
    pub to: Timestamp,
}

impl Window {
    /// The `days` days up to `now`.
    pub fn last_days(now: Timestamp, days: i64) -> Self {
        Window { from: now - Secs(days * 86_400), to: now }
    }
    fn contains(&self, t: Timestamp) -> bool {
        self.from <= t && t < self.to
    }
}

/// The figures for one worker over a window. Rates are `None` when there is nothing to rate.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkerHealth {
    pub member: Option<MemberId>,
    pub shifts: u32,
    /// Regular, predictable contact: check-ins made by their due time plus grace.
    pub checkins: u32,
    pub on_time_checkins: u32,
    /// Due check-ins that never came (counted at the shift's end or at the end of the window).
    pub missed_checkins: u32,
    pub on_time_rate: Option<f64>,
    /// Clear boundaries: shifts that ended by their planned end (plus grace), extensions made in time.
    pub ended_shifts: u32,
    pub end_kept: u32,
    pub end_kept_rate: Option<f64>,
    /// Purpose: shifts with a stated purpose.
    pub with_purpose: u32,
    pub purpose_rate: Option<f64>,
    /// A human reply: check-ins acknowledged, and the median delay to the first acknowledgement.
    pub replies_received: u32,
    pub reply_median_delay: Option<Secs>,
    /// Competence: the worker's own "on top of things" ratings, average and in time order.
    pub confidence_avg: Option<f64>,
    pub confidence_trend: Vec<(Timestamp, u8)>,
    /// Multiple connections: distinct buddies and leads the worker can reach.
    pub active_connections: u32,
}

fn rate(n: u32, d: u32) -> Option<f64> {
    (d > 0).then(|| f64::from(n) / f64::from(d))
}

fn median(mut v: Vec<i64>) -> Option<i64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 { v[m] } else { (v[m - 1] + v[m]) / 2 })
}

/// The health figures for `member` over `window`, as of `now`, from that member's shifts.
pub fn worker_health(member: MemberId, team: &Team, shifts: &[Shift], window: Window, now: Timestamp) -> WorkerHealth {
    let policy = &team.policy;
    let mut h = WorkerHealth { member: Some(member), ..WorkerHealth::default() };
    let mut delays = Vec::new();
    let mut confidence = Vec::new();
    let mut mine: Vec<&Shift> = shifts.iter().filter(|s| s.worker == member && window.contains(s.started_at)).collect();
    mine.sort_by_key(|s| s.started_at);
    for s in &mine {
        h.shifts += 1;
        if !s.purpose.trim().is_empty() {
            h.with_purpose += 1;
        }
        // Walk the check-ins: each is due one interval after the previous (or the start).
        let mut prev = s.started_at;
        for c in &s.checkins {
            h.checkins += 1;
            // On time: before the moment it would have been overdue (due plus grace, inclusive).
            if c.device_time < prev + policy.interval_in_force(s.interval) + policy.grace {
                h.on_time_checkins += 1;
            }
            prev = c.device_time.max(prev);
            if let Some(first) = s.acks_for(c.id).map(|a| a.at).min() {
                h.replies_received += 1;
                delays.push(first.secs_since(c.device_time).get().max(0));
            }
            if let Some(r) = c.confidence {
                confidence.push((c.device_time, r.get()));
            }
        }
        // A check-in that was due and never came, before the end (or before now/window end).
        let until = s.ended.as_ref().map_or(now.min(window.to), |e| e.at);
        if until >= prev + policy.interval_in_force(s.interval) + policy.grace {
            h.missed_checkins += 1;
        }
        if let Some(end) = &s.ended {
            h.ended_shifts += 1;
            // Kept: ended by the planned end in force, and every extension was made before the
            // end it replaced had passed (plus grace).
            let mut current_end = s.initial_end;
            let mut in_time = true;
            for e in &s.extensions {
                if e.at > current_end + policy.grace {
                    in_time = false;
                }
                current_end = e.new_end;
            }
            if in_time && end.at <= s.planned_end() + policy.grace {
                h.end_kept += 1;
            }
        }
    }
    h.on_time_rate = rate(h.on_time_checkins, h.checkins + h.missed_checkins);
    h.end_kept_rate = rate(h.end_kept, h.ended_shifts);
    h.purpose_rate = rate(h.with_purpose, h.shifts);
    h.reply_median_delay = median(delays).map(Secs);
    if !confidence.is_empty() {
        let sum: u32 = confidence.iter().map(|(_, r)| u32::from(*r)).sum();
        h.confidence_avg = Some(f64::from(sum) / confidence.len() as f64);
    }
    h.confidence_trend = confidence;
    h.active_connections = active_connections(member, team, mine.last().copied());
    h
}

/// Distinct people the worker can reach: their standing buddies, the buddies of their latest
/// shift, and the team's leads, never counting themselves.
pub fn active_connections(member: MemberId, team: &Team, latest: Option<&Shift>) -> u32 {
    let mut people: Vec<MemberId> = Vec::new();
    if let Some(m) = team.member(member) {
        people.extend(m.buddies.iter().copied());
    }
    if let Some(s) = latest {
        people.extend(s.buddies.iter().copied());
    }
    people.extend(team.leads().map(|l| l.id));
    people.retain(|p| *p != member && team.member(*p).is_some());
    people.sort();
    people.dedup();
    u32::try_from(people.len()).unwrap_or(u32::MAX)
}

/// The team's figures: every member's, and the team's totals (rates over all members' counts).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TeamHealth {
    pub members: Vec<WorkerHealth>,
    pub total: WorkerHealth,
}

/// Health for every member of the team over `window`.
pub fn team_health(team: &Team, shifts: &[Shift], window: Window, now: Timestamp) -> TeamHealth {
    let members: Vec<WorkerHealth> =
        team.members.iter().map(|m| worker_health(m.id, team, shifts, window, now)).collect();
    let mut t = WorkerHealth::default();
    let mut delays = Vec::new();
    let mut conf = Vec::new();
    for m in &members {
        t.shifts += m.shifts;
        t.checkins += m.checkins;
        t.on_time_checkins += m.on_time_checkins;
        t.missed_checkins += m.missed_checkins;
        t.ended_shifts += m.ended_shifts;
        t.end_kept += m.end_kept;
        t.with_purpose += m.with_purpose;
        t.replies_received += m.replies_received;
        delays.extend(m.reply_median_delay.map(Secs::get));
        conf.extend(m.confidence_trend.iter().copied());
        t.active_connections += m.active_connections;
    }
    t.on_time_rate = rate(t.on_time_checkins, t.checkins + t.missed_checkins);
    t.end_kept_rate = rate(t.end_kept, t.ended_shifts);
    t.purpose_rate = rate(t.with_purpose, t.shifts);
    // The team's reply delay is the median of members' medians: each worker counts once.
    t.reply_median_delay = median(delays).map(Secs);
    if !conf.is_empty() {
        let sum: u32 = conf.iter().map(|(_, r)| u32::from(*r)).sum();
        t.confidence_avg = Some(f64::from(sum) / conf.len() as f64);
    }
    // Per-member average number of connections would hide isolated workers; the total is a sum
    // and the per-member list shows who has few.
    TeamHealth { members, total: t }
}
