//! What one device does with its own store, no network: find my shifts, start one, check in,
//! extend, end, acknowledge, join's bookkeeping, the offline board. Each operation checks all its
//! input before it writes anything, and every write is durable when it returns.
//!
//! Both the app ([`crate::Client`]) and the `kith` command line call these, so the rules (defaults
//! from the last shift, a call for help never refused, the policy's interval bounds) live in one
//! place. Warnings that must not stop an operation (a damaged shift document is skipped, a hint
//! could not be saved) go to the caller's `warn`, which decides how to show them.

use kith_domain::doc::{shift, team};
use kith_domain::rules;
use kith_domain::{
    Ack, AckId, CheckIn, CheckInId, CheckInStatus, DeviceId, DomainError, Extension, ExtensionId, Location, MemberId,
    Note, Rating, Secs, Shift, ShiftEnd, ShiftId, Team, TeamId, Timestamp, Visibility, check_line,
};
use kith_proto::JoinResponse;
use kith_store::{Store, StoreError};

use crate::error::ClientError;
use crate::profile::{self, CURRENT_SHIFT_KEY, Profile, SHIFT_KIND, ServerLink};

/// Where warnings go: one plain sentence each, without a "warning:" prefix.
pub type Warn<'a> = &'a mut dyn FnMut(String);

/// Trims a one-line text field and checks its size.
pub fn line(what: &'static str, value: &str) -> Result<String, ClientError> {
    let v = value.trim();
    check_line(what, v)?;
    Ok(v.to_string())
}

/// A check-in note: trimmed, empty means none, within [`kith_domain::limits::CHECKIN_NOTE`].
pub fn note(text: Option<&str>, visibility: Visibility) -> Result<Option<Note>, ClientError> {
    match text.map(str::trim) {
        Some(t) if !t.is_empty() => {
            kith_domain::limits::CHECKIN_NOTE.check(t)?;
            Ok(Some(Note { text: t.to_string(), visibility }))
        }
        _ => Ok(None),
    }
}

/// A 1–5 rating from a number the caller gave.
pub fn rating(value: Option<u8>, what: &'static str) -> Result<Option<Rating>, ClientError> {
    Ok(value.map(|v| Rating::new(v, what)).transpose()?)
}

/// The profile's team document.
pub fn team(store: &mut Store, profile: &Profile) -> Result<Team, ClientError> {
    let id = profile.team_id.uuid();
    let joined = store.meta_get(profile::SERVER_KEY)?.is_some();
    let path = store.path().to_path_buf();
    let doc = store.doc(id).map_err(|e| match e {
        StoreError::UnknownDocument { .. } if joined => ClientError::TeamNotReceived,
        StoreError::UnknownDocument { .. } => ClientError::TeamMissing { id, path },
        other => other.into(),
    })?;
    Ok(team::read(doc)?)
}

/// One shift document.
pub fn shift(store: &mut Store, id: ShiftId) -> Result<Shift, ClientError> {
    let doc = store.doc(id.uuid()).map_err(|e| match e {
        StoreError::UnknownDocument { .. } => ClientError::ShiftNotFound(id),
        other => other.into(),
    })?;
    Ok(shift::read(doc)?)
}

/// Every shift document on this device that can be read (anyone's), in no particular order.
/// One that cannot be read is reported to `warn` and left out.
pub fn all_shifts(store: &mut Store, warn: Warn<'_>) -> Result<Vec<Shift>, ClientError> {
    let mut out = Vec::new();
    for info in store.list_docs(Some(SHIFT_KIND))? {
        let read = match store.doc(info.id) {
            Ok(doc) => shift::read(doc).map_err(|e| e.to_string()),
            Err(e @ StoreError::CorruptDocument { .. }) => Err(e.to_string()),
            Err(e) => return Err(e.into()),
        };
        match read {
            Ok(s) => out.push(s),
            Err(why) => warn(format!("shift document {} could not be read and is left out: {why}", info.id)),
        }
    }
    Ok(out)
}

/// Every shift of `me` on this device, oldest first.
pub fn my_shifts(store: &mut Store, me: MemberId, warn: Warn<'_>) -> Result<Vec<Shift>, ClientError> {
    let mut out: Vec<Shift> = all_shifts(store, warn)?.into_iter().filter(|s| s.worker == me).collect();
    out.sort_by_key(|s| (s.started_at, s.id));
    Ok(out)
}

/// The shift still running among `shifts` (the latest started, if several).
pub fn active_shift(shifts: &[Shift]) -> Option<&Shift> {
    shifts.iter().rev().find(|s| s.is_active())
}

/// My running shift: through the [`CURRENT_SHIFT_KEY`] hint when it points at one (one document
/// read, however long the history), else by reading all my shifts.
pub fn find_active(store: &mut Store, me: MemberId, warn: Warn<'_>) -> Result<Option<Shift>, ClientError> {
    if let Some(id) = store.meta_get(CURRENT_SHIFT_KEY)?.and_then(|h| h.parse::<ShiftId>().ok())
        && let Ok(doc) = store.doc(id.uuid())
        && let Ok(s) = shift::read(doc)
        && s.worker == me
        && s.is_active()
    {
        return Ok(Some(s));
    }
    let shifts = my_shifts(store, me, warn)?;
    Ok(active_shift(&shifts).cloned())
}

/// Records `id` as the shift just started here (best effort: it is only a hint).
pub fn remember_shift(store: &mut Store, id: ShiftId, warn: Warn<'_>) {
    if let Err(e) = store.meta_set(CURRENT_SHIFT_KEY, &id.to_string()) {
        warn(format!("could not note the current shift (Kith will still find it): {e}"));
    }
}

/// Changes on this device that the team server does not have yet (all of them without a server).
pub fn pending_changes(store: &mut Store) -> Result<usize, ClientError> {
    Ok(kith_sync::engine::pending_change_count(store)?)
}

/// Whether `me` may acknowledge: the team roster on this device decides (a lead may have changed
/// roles since joining), else the role given at joining.
pub fn is_lead(team: &Team, me: MemberId, link: Option<&ServerLink>) -> bool {
    match team.member(me) {
        Some(m) => m.role.is_lead(),
        None => link.is_some_and(ServerLink::is_lead),
    }
}

/// The shift holding check-in `id`, and its worker.
pub fn find_checkin(store: &mut Store, id: CheckInId) -> Result<Option<(ShiftId, MemberId)>, ClientError> {
    for info in store.list_docs(Some(SHIFT_KIND))? {
        let Ok(sh) = shift::read(store.doc(info.id)?) else { continue };
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
pub fn start_shift(
    store: &mut Store,
    profile: &Profile,
    req: StartShift,
    now: Timestamp,
    warn: Warn<'_>,
) -> Result<Started, ClientError> {
    let me = profile.member_id;
    let purpose_arg = req.purpose.as_deref().map(|p| line("purpose", p)).transpose()?;
    if let Buddies::These(b) = &req.buddies
        && b.contains(&me)
    {
        return Err(ClientError::OwnBuddy(me));
    }
    let team = team(store, profile)?;
    let shifts = my_shifts(store, me, warn)?;
    if let Some(active) = active_shift(&shifts) {
        return Err(ClientError::AlreadyOnShift { shift: Box::new(active.clone()) });
    }
    let last = shifts.iter().max_by_key(|x| (x.started_at, x.id));
    let mut defaulted = Vec::new();
    let purpose = match (purpose_arg, last) {
        (Some(p), _) if !p.is_empty() => p,
        (_, Some(l)) => {
            defaulted.push("purpose");
            l.purpose.clone()
        }
        (_, None) => return Err(ClientError::PurposeMissing),
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
        return Err(ClientError::IntervalOutOfPolicy {
            interval,
            min: p.min_interval,
            max: p.max_interval,
            default: p.default_interval,
        });
    }
    if req.planned_end <= now {
        return Err(DomainError::EndNotAfter { after: now, now: true }.into());
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
    store.create_doc(new.id.uuid(), SHIFT_KIND, |tx| shift::init(tx, &new).map_err(ClientError::from))?;
    remember_shift(store, new.id, warn);
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
pub fn check_in(
    store: &mut Store,
    profile: &Profile,
    req: NewCheckIn,
    now: Timestamp,
    warn: Warn<'_>,
) -> Result<CheckedIn, ClientError> {
    let me = profile.member_id;
    // A damaged team document must not stop a check-in: fall back to the default policy.
    let team = match team(store, profile) {
        Ok(t) => Some(t),
        Err(e) => {
            warn(format!("using the default team policy: {e}"));
            None
        }
    };
    let policy = team.as_ref().map(|t| t.policy.clone()).unwrap_or_default();
    let active = find_active(store, me, warn)?;
    let mut auto_started = false;
    let shift_id = match &active {
        Some(active) => active.id,
        None if req.status != CheckInStatus::Ok => {
            let interval = policy.default_interval;
            let purpose = match req.status {
                CheckInStatus::Emergency => "Emergency",
                _ => "Asked for support",
            };
            let new = Shift::begin(profile.team_id, me, purpose, now, now + interval, interval);
            store.create_doc(new.id.uuid(), SHIFT_KIND, |tx| shift::init(tx, &new).map_err(ClientError::from))?;
            remember_shift(store, new.id, warn);
            auto_started = true;
            new.id
        }
        None => return Err(ClientError::NotOnShift { what: "check in to" }),
    };
    let c = CheckIn {
        mood: req.mood,
        confidence: req.confidence,
        note: req.note,
        location: req.location,
        ..CheckIn::new(req.status, now, me, profile.device_id)
    };
    store.change_doc(shift_id.uuid(), |tx| shift::add_checkin(tx, &c).map_err(ClientError::from))?;
    let current = shift(store, shift_id)?;
    Ok(CheckedIn { checkin: c, shift: current, auto_started, team })
}

// ---------------------------------------------------------------------------------------------
// extend, end

/// Moves the running shift's planned end, with a reason. Returns the shift before the change and
/// the extension.
pub fn extend(
    store: &mut Store,
    profile: &Profile,
    new_end: Timestamp,
    reason: &str,
    now: Timestamp,
    warn: Warn<'_>,
) -> Result<(Shift, Extension), ClientError> {
    let reason = line("reason", reason)?;
    if reason.is_empty() {
        return Err(ClientError::ReasonMissing);
    }
    let Some(active) = find_active(store, profile.member_id, warn)? else {
        return Err(ClientError::NotOnShift { what: "extend" });
    };
    let e = Extension { id: ExtensionId::new(), new_end, reason, at: now };
    store.change_doc(active.id.uuid(), |tx| shift::extend(tx, &e).map_err(ClientError::from))?;
    Ok((active, e))
}

/// Ends the running shift ("I'm done, all fine"). Returns the shift before the change and the end.
pub fn end(
    store: &mut Store,
    profile: &Profile,
    note: Option<&str>,
    now: Timestamp,
    warn: Warn<'_>,
) -> Result<(Shift, ShiftEnd), ClientError> {
    let note = note.map(|n| line("note", n)).transpose()?.filter(|n| !n.is_empty());
    let Some(active) = find_active(store, profile.member_id, warn)? else {
        return Err(ClientError::NotOnShift { what: "end" });
    };
    let e = ShiftEnd { at: now, note };
    store.change_doc(active.id.uuid(), |tx| shift::end(tx, &e).map_err(ClientError::from))?;
    Ok((active, e))
}

// ---------------------------------------------------------------------------------------------
// acknowledge

/// Checks that `me` may acknowledge at all (before looking for the check-in).
pub fn check_may_ack(store: &mut Store, profile: &Profile, link: Option<&ServerLink>) -> Result<Team, ClientError> {
    let team = team(store, profile)?;
    if !is_lead(&team, profile.member_id, link) {
        return Err(ClientError::NotLead);
    }
    Ok(team)
}

/// Writes a lead's acknowledgement of check-in `checkin` in shift `shift_id`.
pub fn ack(
    store: &mut Store,
    profile: &Profile,
    shift_id: ShiftId,
    checkin: CheckInId,
    reply: Option<&str>,
    now: Timestamp,
) -> Result<Ack, ClientError> {
    let reply = reply.map(|r| line("reply", r)).transpose()?.filter(|r| !r.is_empty());
    let a = Ack { id: AckId::new(), checkin, by: profile.member_id, at: now, reply };
    store.change_doc(shift_id.uuid(), |tx| shift::add_ack(tx, &a).map_err(ClientError::from))?;
    Ok(a)
}

// ---------------------------------------------------------------------------------------------
// join

/// Splits a `kith://join?server=...&code=...` link into (server, code).
pub fn parse_join_link(link: &str) -> Result<(String, String), ClientError> {
    let link = link.trim();
    let Some(query) = link.strip_prefix("kith://join?").or_else(|| link.strip_prefix("kith://join/?")) else {
        return Err(ClientError::Invalid(format!(
            "'{link}' is not a Kith join link: it should look like kith://join?server=https://...&code=ABCD-1234"
        )));
    };
    let url = url::Url::parse(&format!("kith://join/?{query}"))
        .map_err(|_| ClientError::Invalid(format!("'{link}' is not a valid Kith join link")))?;
    let get = |k: &str| url.query_pairs().find(|(key, _)| key == k).map(|(_, v)| v.into_owned());
    match (get("server"), get("code")) {
        (Some(server), Some(code)) if !server.is_empty() && !code.is_empty() => Ok((server, code)),
        _ => Err(ClientError::Invalid(
            "a join link needs both server= and code=, like kith://join?server=https://...&code=ABCD-1234".into(),
        )),
    }
}

/// A name as given when joining: trimmed, not empty, not too long.
pub fn join_name(name: &str) -> Result<String, ClientError> {
    let name = line("name", name)?;
    if name.is_empty() {
        return Err(ClientError::Invalid("your name cannot be empty: give the name your team knows you by".into()));
    }
    Ok(name)
}

/// Opens (creating) the store in `dir` for joining, refusing a directory that has a profile.
pub fn open_for_join(dir: &std::path::Path) -> Result<Store, ClientError> {
    std::fs::create_dir_all(dir).map_err(|e| {
        ClientError::Invalid(format!(
            "could not create the data directory {}: {e}. Check the path and its permissions",
            dir.display()
        ))
    })?;
    let store = Store::open(profile::db_path(dir))?;
    if let Some(p) = profile::read_profile(&store)? {
        return Err(ClientError::AlreadyJoined {
            name: p.name,
            on_server: store.meta_get(profile::SERVER_KEY)?.is_some(),
        });
    }
    Ok(store)
}

/// Saves what joining gave this device: its link and profile in the store, its own credential in
/// the keychain or the credential file (`keep`, [`crate::credential`]).
pub fn save_join(
    store: &mut Store,
    server_url: &str,
    resp: &JoinResponse,
    name: &str,
    now: Timestamp,
    keep: crate::credential::Keep,
) -> Result<(Profile, ServerLink), ClientError> {
    let profile = Profile {
        version: 1,
        member_id: MemberId(resp.member_id),
        device_id: DeviceId(resp.device_id),
        team_id: TeamId(resp.team_id),
        name: name.to_string(),
        created_at: now,
    };
    let link = ServerLink::new(server_url, resp.role.clone(), resp.token.clone());
    profile::write_profile(store, &profile, Some(&link), keep)?;
    Ok((profile, link))
}

/// The local board: every member of the team by urgency, from the documents on this device.
pub fn board(team: &Team, shifts: &[Shift], now: Timestamp) -> Vec<rules::BoardRow> {
    rules::board(team, shifts, now)
}

// ---------------------------------------------------------------------------------------------
// editing the team (the console and `kith team ...`)

/// Sets the team's whole policy (leads): checked by the domain's rules for a lead's edit, written
/// into this device's copy of the team document, shared with the next sync. Returns the team.
pub fn edit_policy(
    store: &mut Store,
    profile: &Profile,
    link: Option<&ServerLink>,
    policy: &kith_api::PolicyEdit,
) -> Result<Team, ClientError> {
    let t = team(store, profile)?;
    if !is_lead(&t, profile.member_id, link) {
        return Err(ClientError::LeadsOnly("only leads change the team's policy: ask a lead of your team".into()));
    }
    let p = policy.to_policy()?;
    store.change_doc(t.id.uuid(), |tx| team::set_policy(tx, &p).map_err(ClientError::from))?;
    team(store, profile)
}

/// Changes one member's role (leads), buddies or phone (leads, or the member themself), within
/// the team's rules (its last lead stays a lead, buddies are teammates, a phone is a number).
pub fn edit_member(
    store: &mut Store,
    profile: &Profile,
    link: Option<&ServerLink>,
    member: MemberId,
    edit: &kith_api::MemberEdit,
) -> Result<Team, ClientError> {
    let t = team(store, profile)?;
    let lead = is_lead(&t, profile.member_id, link);
    if t.member(member).is_none() {
        return Err(ClientError::MemberNotFound(member));
    }
    if edit.needs_lead() && !lead {
        return Err(ClientError::LeadsOnly("only leads change someone's role: ask a lead of your team".into()));
    }
    if member != profile.member_id && !lead {
        return Err(ClientError::LeadsOnly(
            "you can change your own phone number and buddies; a lead changes other people's".into(),
        ));
    }
    edit.check(&t, member)?;
    store.change_doc(t.id.uuid(), |tx| {
        if let Some(role) = edit.role {
            team::set_role(tx, member, role)?;
        }
        if let Some(b) = &edit.buddies {
            team::set_buddies(tx, member, b)?;
        }
        if let Some(p) = edit.phone() {
            team::set_phone(tx, member, p)?;
        }
        Ok::<(), ClientError>(())
    })?;
    team(store, profile)
}

/// A member named by id, by `me`, or by their name (exactly, ignoring case).
pub fn find_member(t: &Team, me: MemberId, who: &str) -> Result<MemberId, ClientError> {
    let who = who.trim();
    if who.eq_ignore_ascii_case("me") {
        return Ok(me);
    }
    if let Ok(id) = who.parse::<MemberId>() {
        return t.member(id).map(|m| m.id).ok_or(ClientError::MemberNotFound(id));
    }
    let found: Vec<&kith_domain::Member> = t.members.iter().filter(|m| m.name.eq_ignore_ascii_case(who)).collect();
    match found.as_slice() {
        [m] => Ok(m.id),
        [] => Err(ClientError::Invalid(format!(
            "nobody called '{who}' in your team: use a name as on the team board, a member id, or me"
        ))),
        _ => Err(ClientError::Invalid(format!("more than one member is called '{who}': use their member id"))),
    }
}
