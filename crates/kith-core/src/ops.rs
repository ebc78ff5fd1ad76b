//! What one device does with its own documents, no network: find my shifts, start one, check in,
//! extend, end, acknowledge, the offline board. Each operation checks all its input before it
//! writes anything; every write goes through the domain's write functions.
//!
//! The app (`kith_client::Client`), the `kith` command line and the browser's core ([`crate::Core`])
//! all call these, so the rules (defaults from the last shift, a call for help never refused, the
//! policy's interval bounds) live in one place. Warnings that must not stop an operation (a
//! damaged shift document is skipped, a hint could not be saved) go to the caller's `warn`, which
//! decides how to show them.

use kith_domain::doc::{shift, team};
use kith_domain::rules;
use kith_domain::{
    Ack, AckId, CheckIn, CheckInId, CheckInStatus, DomainError, Extension, ExtensionId, Location, MemberId, Note,
    Rating, Secs, Shift, ShiftEnd, ShiftId, Team, Timestamp, Visibility, check_line,
};

use crate::error::OpError;
use crate::profile::{self, CURRENT_SHIFT_KEY, Link, Profile, SHIFT_KIND};
use crate::repo::{ErrorKind, Repo, RepoErrorKind};

/// Where warnings go: one plain sentence each, without a "warning:" prefix.
pub type Warn<'a> = &'a mut dyn FnMut(String);

/// Trims a one-line text field and checks its size.
pub fn line<E>(what: &'static str, value: &str) -> Result<String, OpError<E>> {
    let v = value.trim();
    check_line(what, v).map_err(OpError::Domain)?;
    Ok(v.to_string())
}

/// A check-in note: trimmed, empty means none, within [`kith_domain::limits::CHECKIN_NOTE`].
pub fn note<E>(text: Option<&str>, visibility: Visibility) -> Result<Option<Note>, OpError<E>> {
    match text.map(str::trim) {
        Some(t) if !t.is_empty() => {
            kith_domain::limits::CHECKIN_NOTE.check(t).map_err(OpError::Domain)?;
            Ok(Some(Note { text: t.to_string(), visibility }))
        }
        _ => Ok(None),
    }
}

/// A 1–5 rating from a number the caller gave.
pub fn rating<E>(value: Option<u8>, what: &'static str) -> Result<Option<Rating>, OpError<E>> {
    value.map(|v| Rating::new(v, what)).transpose().map_err(OpError::Domain)
}

/// The profile's team document.
pub fn team<R: Repo>(repo: &mut R, profile: &Profile) -> Result<Team, OpError<R::Error>> {
    let id = profile.team_id.uuid();
    let joined = profile::joined_a_server(repo)?;
    let doc = repo.doc(id).map_err(|e| match e.kind() {
        ErrorKind::UnknownDocument if joined => OpError::TeamNotReceived,
        ErrorKind::UnknownDocument => OpError::TeamMissing { id },
        _ => OpError::Repo(e),
    })?;
    team::read(doc).map_err(OpError::Domain)
}

/// One shift document.
pub fn shift<R: Repo>(repo: &mut R, id: ShiftId) -> Result<Shift, OpError<R::Error>> {
    let doc = repo.doc(id.uuid()).map_err(|e| match e.kind() {
        ErrorKind::UnknownDocument => OpError::ShiftNotFound(id),
        _ => OpError::Repo(e),
    })?;
    shift::read(doc).map_err(OpError::Domain)
}

/// Every shift document on this device that can be read (anyone's), in no particular order.
/// One that cannot be read is reported to `warn` and left out.
pub fn all_shifts<R: Repo>(repo: &mut R, warn: Warn<'_>) -> Result<Vec<Shift>, OpError<R::Error>> {
    let mut out = Vec::new();
    for info in repo.list_docs(Some(SHIFT_KIND))? {
        let read = match repo.doc(info.id) {
            Ok(doc) => shift::read(doc).map_err(|e| e.to_string()),
            Err(e) if e.kind() == ErrorKind::CorruptDocument => Err(e.to_string()),
            Err(e) => return Err(OpError::Repo(e)),
        };
        match read {
            Ok(s) => out.push(s),
            Err(why) => warn(format!("shift document {} could not be read and is left out: {why}", info.id)),
        }
    }
    Ok(out)
}

/// Every shift of `me` on this device, oldest first.
pub fn my_shifts<R: Repo>(repo: &mut R, me: MemberId, warn: Warn<'_>) -> Result<Vec<Shift>, OpError<R::Error>> {
    let mut out: Vec<Shift> = all_shifts(repo, warn)?.into_iter().filter(|s| s.worker == me).collect();
    out.sort_by_key(|s| (s.started_at, s.id));
    Ok(out)
}

/// The shift still running among `shifts` (the latest started, if several).
pub fn active_shift(shifts: &[Shift]) -> Option<&Shift> {
    shifts.iter().rev().find(|s| s.is_active())
}

/// My running shift: through the [`CURRENT_SHIFT_KEY`] hint when it points at one (one document
/// read, however long the history), else by reading all my shifts.
pub fn find_active<R: Repo>(repo: &mut R, me: MemberId, warn: Warn<'_>) -> Result<Option<Shift>, OpError<R::Error>> {
    if let Some(id) = repo.meta_get(CURRENT_SHIFT_KEY)?.and_then(|h| h.parse::<ShiftId>().ok())
        && let Ok(doc) = repo.doc(id.uuid())
        && let Ok(s) = shift::read(doc)
        && s.worker == me
        && s.is_active()
    {
        return Ok(Some(s));
    }
    let shifts = my_shifts(repo, me, warn)?;
    Ok(active_shift(&shifts).cloned())
}

/// Records `id` as the shift just started here (best effort: it is only a hint).
pub fn remember_shift<R: Repo>(repo: &mut R, id: ShiftId, warn: Warn<'_>) {
    if let Err(e) = repo.meta_set(CURRENT_SHIFT_KEY, &id.to_string()) {
        warn(format!("could not note the current shift (Kith will still find it): {e}"));
    }
}

/// Changes on this device that the team server does not have yet (all of them without a server).
pub fn pending_changes<R: Repo>(repo: &mut R) -> Result<usize, OpError<R::Error>> {
    Ok(crate::sync::pending_change_count(repo)?)
}

/// Whether `me` may acknowledge: the team roster on this device decides (a lead may have changed
/// roles since joining), else the role given at joining.
pub fn is_lead(team: &Team, me: MemberId, link: Option<&Link>) -> bool {
    match team.member(me) {
        Some(m) => m.role.is_lead(),
        None => link.is_some_and(Link::is_lead),
    }
}

/// The shift holding check-in `id`, and its worker.
pub fn find_checkin<R: Repo>(repo: &mut R, id: CheckInId) -> Result<Option<(ShiftId, MemberId)>, OpError<R::Error>> {
    for info in repo.list_docs(Some(SHIFT_KIND))? {
        let Ok(sh) = shift::read(repo.doc(info.id)?) else { continue };
        if sh.checkin(id).is_some() {
            return Ok(Some((sh.id, sh.worker)));
        }
    }
    Ok(None)
}

// ---------------------------------------------------------------------------------------------
// start a shift

/// Which buddies a new shift gets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Buddies {
    /// The last shift's buddies, if it had any.
    #[default]
    FromLastShift,
    None,
    These(Vec<MemberId>),
}

/// A new shift as asked for; anything left out comes from the last shift or the policy.
#[derive(Clone, Debug)]
pub struct StartShift {
    pub purpose: Option<String>,
    pub planned_end: Timestamp,
    pub interval: Option<Secs>,
    pub buddies: Buddies,
}

/// A started shift, and what was filled in for the worker.
#[derive(Clone, Debug)]
pub struct Started {
    pub shift: Shift,
    pub team: Team,
    /// Which fields came from the last shift ("purpose", "check-in interval", "buddies").
    pub defaulted: Vec<&'static str>,
    /// Buddies not on the team's roster on this device (yet).
    pub unknown_buddies: Vec<MemberId>,
}

/// Starts a shift: refused while one runs; a purpose and an interval inside the policy are
/// required (taken from the last shift when left out).
pub fn start_shift<R: Repo>(
    repo: &mut R,
    profile: &Profile,
    req: StartShift,
    now: Timestamp,
    warn: Warn<'_>,
) -> Result<Started, OpError<R::Error>> {
    let me = profile.member_id;
    let purpose_arg = req.purpose.as_deref().map(|p| line("purpose", p)).transpose()?;
    if let Buddies::These(b) = &req.buddies
        && b.contains(&me)
    {
        return Err(OpError::OwnBuddy(me));
    }
    let team = team(repo, profile)?;
    let shifts = my_shifts(repo, me, warn)?;
    if let Some(active) = active_shift(&shifts) {
        return Err(OpError::AlreadyOnShift { shift: Box::new(active.clone()) });
    }
    let last = shifts.iter().max_by_key(|x| (x.started_at, x.id));
    let mut defaulted = Vec::new();
    let purpose = match (purpose_arg, last) {
        (Some(p), _) if !p.is_empty() => p,
        (_, Some(l)) => {
            defaulted.push("purpose");
            l.purpose.clone()
        }
        (_, None) => return Err(OpError::PurposeMissing),
    };
    let interval = match (req.interval, last) {
        (Some(i), _) => i,
        (None, Some(l)) => {
            defaulted.push("check-in interval");
            l.interval
        }
        (None, None) => team.policy.default_interval,
    };
    let p = &team.policy;
    if p.check_interval(interval).is_err() {
        return Err(OpError::IntervalOutOfPolicy {
            interval,
            min: p.min_interval,
            max: p.max_interval,
            default: p.default_interval,
        });
    }
    if req.planned_end <= now {
        return Err(OpError::Domain(DomainError::EndNotAfter { after: now, now: true }));
    }
    let buddies = match req.buddies {
        Buddies::These(mut b) => {
            b.sort();
            b.dedup();
            b
        }
        Buddies::None => Vec::new(),
        Buddies::FromLastShift => match last.filter(|l| !l.buddies.is_empty()) {
            Some(l) => {
                defaulted.push("buddies");
                l.buddies.clone()
            }
            None => Vec::new(),
        },
    };
    let new = Shift { buddies, ..Shift::begin(profile.team_id, me, purpose, now, req.planned_end, interval) };
    repo.create_doc::<_, OpError<R::Error>, _>(new.id.uuid(), SHIFT_KIND, |tx| {
        shift::init(tx, &new).map_err(OpError::Domain)
    })?;
    remember_shift(repo, new.id, warn);
    let unknown_buddies = new.buddies.iter().copied().filter(|b| team.member(*b).is_none()).collect();
    Ok(Started { shift: new, team, defaulted, unknown_buddies })
}

// ---------------------------------------------------------------------------------------------
// check in

/// A check-in as asked for (already validated values).
#[derive(Clone, Debug)]
pub struct NewCheckIn {
    pub status: CheckInStatus,
    pub mood: Option<Rating>,
    pub confidence: Option<Rating>,
    pub note: Option<Note>,
    pub location: Option<Location>,
}

/// A saved check-in and the shift it is in (as it is now).
#[derive(Clone, Debug)]
pub struct CheckedIn {
    pub checkin: CheckIn,
    pub shift: Shift,
    /// No shift was running, so one was started for this call for help.
    pub auto_started: bool,
    /// The team, when its document could be read (a damaged one never stops a check-in).
    pub team: Option<Team>,
}

/// Checks in to the running shift. A call for help is never refused: without a shift, one is
/// started for it (and the caller says so).
pub fn check_in<R: Repo>(
    repo: &mut R,
    profile: &Profile,
    req: NewCheckIn,
    now: Timestamp,
    warn: Warn<'_>,
) -> Result<CheckedIn, OpError<R::Error>> {
    let active = find_active(repo, profile.member_id, warn)?;
    check_in_to(repo, profile, active, req, now, warn)
}

/// [`check_in`] to `active`, my running shift as the caller already knows it (none: a call for
/// help starts one). The shift document is written, never read back: the check-in's cost does not
/// grow with the shift's, and the shift returned is `active` with the check-in added, as a read
/// would give it.
pub fn check_in_to<R: Repo>(
    repo: &mut R,
    profile: &Profile,
    active: Option<Shift>,
    req: NewCheckIn,
    now: Timestamp,
    warn: Warn<'_>,
) -> Result<CheckedIn, OpError<R::Error>> {
    let me = profile.member_id;
    // A damaged team document must not stop a check-in: fall back to the default policy.
    let team = match team(repo, profile) {
        Ok(t) => Some(t),
        Err(e) => {
            warn(format!("using the default team policy: {e}"));
            None
        }
    };
    let policy = team.as_ref().map(|t| t.policy.clone()).unwrap_or_default();
    let mut auto_started = false;
    let mut current = match active {
        Some(active) => active,
        None if req.status != CheckInStatus::Ok => {
            let interval = policy.default_interval;
            let purpose = match req.status {
                CheckInStatus::Emergency => "Emergency",
                _ => "Asked for support",
            };
            let new = Shift::begin(profile.team_id, me, purpose, now, now + interval, interval);
            repo.create_doc::<_, OpError<R::Error>, _>(new.id.uuid(), SHIFT_KIND, |tx| {
                shift::init(tx, &new).map_err(OpError::Domain)
            })?;
            remember_shift(repo, new.id, warn);
            auto_started = true;
            new
        }
        None => return Err(OpError::NotOnShift { what: "check in to" }),
    };
    let c = CheckIn {
        mood: req.mood,
        confidence: req.confidence,
        note: req.note,
        location: req.location,
        ..CheckIn::new(req.status, now, me, profile.device_id)
    };
    repo.change_doc::<_, OpError<R::Error>, _>(current.id.uuid(), |tx| {
        shift::add_checkin(tx, &c).map_err(OpError::Domain)
    })?;
    current.checkins.push(c.clone());
    // As `shift::read` orders them.
    current.checkins.sort_by_key(|c| (c.device_time, c.id));
    Ok(CheckedIn { checkin: c, shift: current, auto_started, team })
}

// ---------------------------------------------------------------------------------------------
// extend, end

/// Moves the running shift's planned end, with a reason. Returns the shift before the change and
/// the extension.
pub fn extend<R: Repo>(
    repo: &mut R,
    profile: &Profile,
    new_end: Timestamp,
    reason: &str,
    now: Timestamp,
    warn: Warn<'_>,
) -> Result<(Shift, Extension), OpError<R::Error>> {
    let reason = line("reason", reason)?;
    if reason.is_empty() {
        return Err(OpError::ReasonMissing);
    }
    let Some(active) = find_active(repo, profile.member_id, warn)? else {
        return Err(OpError::NotOnShift { what: "extend" });
    };
    let e = Extension { id: ExtensionId::new(), new_end, reason, at: now };
    repo.change_doc::<_, OpError<R::Error>, _>(active.id.uuid(), |tx| shift::extend(tx, &e).map_err(OpError::Domain))?;
    Ok((active, e))
}

/// Ends the running shift ("I'm done, all fine"). Returns the shift before the change and the end.
pub fn end<R: Repo>(
    repo: &mut R,
    profile: &Profile,
    note: Option<&str>,
    now: Timestamp,
    warn: Warn<'_>,
) -> Result<(Shift, ShiftEnd), OpError<R::Error>> {
    let note = note.map(|n| line("note", n)).transpose()?.filter(|n| !n.is_empty());
    let Some(active) = find_active(repo, profile.member_id, warn)? else {
        return Err(OpError::NotOnShift { what: "end" });
    };
    let e = ShiftEnd { at: now, note };
    repo.change_doc::<_, OpError<R::Error>, _>(active.id.uuid(), |tx| shift::end(tx, &e).map_err(OpError::Domain))?;
    Ok((active, e))
}

// ---------------------------------------------------------------------------------------------
// acknowledge

/// Checks that `me` may acknowledge at all (before looking for the check-in).
pub fn check_may_ack<R: Repo>(repo: &mut R, profile: &Profile, link: Option<&Link>) -> Result<Team, OpError<R::Error>> {
    let team = team(repo, profile)?;
    if !is_lead(&team, profile.member_id, link) {
        return Err(OpError::NotLead);
    }
    Ok(team)
}

/// Writes a lead's acknowledgement of check-in `checkin` in shift `shift_id`.
pub fn ack<R: Repo>(
    repo: &mut R,
    profile: &Profile,
    shift_id: ShiftId,
    checkin: CheckInId,
    reply: Option<&str>,
    now: Timestamp,
) -> Result<Ack, OpError<R::Error>> {
    let reply = reply.map(|r| line("reply", r)).transpose()?.filter(|r| !r.is_empty());
    let a = Ack { id: AckId::new(), checkin, by: profile.member_id, at: now, reply };
    repo.change_doc::<_, OpError<R::Error>, _>(shift_id.uuid(), |tx| shift::add_ack(tx, &a).map_err(OpError::Domain))?;
    Ok(a)
}

// ---------------------------------------------------------------------------------------------
// join

/// A name as given when joining: trimmed, not empty, not too long.
pub fn join_name<E>(name: &str) -> Result<String, OpError<E>> {
    let name = line("name", name)?;
    if name.is_empty() {
        return Err(OpError::Invalid("your name cannot be empty: give the name your team knows you by".into()));
    }
    Ok(name)
}

/// The local board: every member of the team by urgency, from the documents on this device.
pub fn board(team: &Team, shifts: &[Shift], now: Timestamp) -> Vec<rules::BoardRow> {
    rules::board(team, shifts, now)
}
