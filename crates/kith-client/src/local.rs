//! What one device does with its own store, no network: find my shifts, start one, check in,
//! extend, end, acknowledge, join's bookkeeping, the offline board. Every write is durable when it
//! returns.
//!
//! The rules are the core's ([`kith_core::ops`], shared with the browser's engine): these are
//! the same operations over the native store, with their errors as [`ClientError`]s (which name
//! the store's file). Both the app ([`crate::Client`]) and the `kith` command line call these.

use kith_core::ops;
use kith_domain::doc::team;
use kith_domain::rules;
use kith_domain::{
    Ack, CheckInId, DeviceId, Extension, MemberId, Note, Rating, Shift, ShiftEnd, ShiftId, Team, TeamId, Timestamp,
    Visibility,
};
use kith_proto::JoinResponse;
use kith_store::{Store, StoreError};

use crate::error::{ClientError, OpError};
use crate::profile::{self, Profile, ServerLink};

pub use kith_core::ops::{Buddies, CheckedIn, NewCheckIn, StartShift, Started, Warn, active_shift};

/// Trims a one-line text field and checks its size.
pub fn line(what: &'static str, value: &str) -> Result<String, ClientError> {
    ops::line::<StoreError>(what, value).map_err(ClientError::from_op_no_path)
}

/// A check-in note: trimmed, empty means none, within [`kith_domain::limits::CHECKIN_NOTE`].
pub fn note(text: Option<&str>, visibility: Visibility) -> Result<Option<Note>, ClientError> {
    ops::note::<StoreError>(text, visibility).map_err(ClientError::from_op_no_path)
}

/// A 1–5 rating from a number the caller gave.
pub fn rating(value: Option<u8>, what: &'static str) -> Result<Option<Rating>, ClientError> {
    ops::rating::<StoreError>(value, what).map_err(ClientError::from_op_no_path)
}

/// The profile's team document.
pub fn team(store: &mut Store, profile: &Profile) -> Result<Team, ClientError> {
    ops::team(store, profile).map_err(lift_path(store))
}

/// One shift document.
pub fn shift(store: &mut Store, id: ShiftId) -> Result<Shift, ClientError> {
    ops::shift(store, id).map_err(lift_path(store))
}

/// Every shift document on this device that can be read (anyone's), in no particular order.
/// One that cannot be read is reported to `warn` and left out.
pub fn all_shifts(store: &mut Store, warn: Warn<'_>) -> Result<Vec<Shift>, ClientError> {
    ops::all_shifts(store, warn).map_err(lift_path(store))
}

/// Every shift of `me` on this device, oldest first.
pub fn my_shifts(store: &mut Store, me: MemberId, warn: Warn<'_>) -> Result<Vec<Shift>, ClientError> {
    ops::my_shifts(store, me, warn).map_err(lift_path(store))
}

/// My running shift (through the current-shift hint when it points at one).
pub fn find_active(store: &mut Store, me: MemberId, warn: Warn<'_>) -> Result<Option<Shift>, ClientError> {
    ops::find_active(store, me, warn).map_err(lift_path(store))
}

/// Records `id` as the shift just started here (best effort: it is only a hint).
pub fn remember_shift(store: &mut Store, id: ShiftId, warn: Warn<'_>) {
    ops::remember_shift(store, id, warn);
}

/// Changes on this device that the team server does not have yet (all of them without a server).
pub fn pending_changes(store: &mut Store) -> Result<usize, ClientError> {
    ops::pending_changes(store).map_err(lift_path(store))
}

/// Whether `me` may acknowledge: the team roster on this device decides (a lead may have changed
/// roles since joining), else the role given at joining.
pub fn is_lead(team: &Team, me: MemberId, link: Option<&ServerLink>) -> bool {
    ops::is_lead(team, me, link.map(ServerLink::info).as_ref())
}

/// The shift holding check-in `id`, and its worker.
pub fn find_checkin(store: &mut Store, id: CheckInId) -> Result<Option<(ShiftId, MemberId)>, ClientError> {
    ops::find_checkin(store, id).map_err(lift_path(store))
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
    ops::start_shift(store, profile, req, now, warn).map_err(lift_path(store))
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
    ops::check_in(store, profile, req, now, warn).map_err(lift_path(store))
}

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
    ops::extend(store, profile, new_end, reason, now, warn).map_err(lift_path(store))
}

/// Ends the running shift ("I'm done, all fine"). Returns the shift before the change and the end.
pub fn end(
    store: &mut Store,
    profile: &Profile,
    note: Option<&str>,
    now: Timestamp,
    warn: Warn<'_>,
) -> Result<(Shift, ShiftEnd), ClientError> {
    ops::end(store, profile, note, now, warn).map_err(lift_path(store))
}

/// Checks that `me` may acknowledge at all (before looking for the check-in).
pub fn check_may_ack(store: &mut Store, profile: &Profile, link: Option<&ServerLink>) -> Result<Team, ClientError> {
    ops::check_may_ack(store, profile, link.map(ServerLink::info).as_ref()).map_err(lift_path(store))
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
    ops::ack(store, profile, shift_id, checkin, reply, now).map_err(lift_path(store))
}

/// The errors of an operation on `store`, naming its file.
fn lift_path(store: &Store) -> impl Fn(kith_core::OpError<StoreError>) -> ClientError + use<> {
    let path = store.path().to_path_buf();
    move |e| ClientError::from_op(e, &path)
}

// ---------------------------------------------------------------------------------------------
// join

/// Splits a `kith://join?server=...&code=...` link into (server, code).
pub fn parse_join_link(link: &str) -> Result<(String, String), ClientError> {
    let link = link.trim();
    let Some(query) = link.strip_prefix("kith://join?").or_else(|| link.strip_prefix("kith://join/?")) else {
        return Err(ClientError::invalid(format!(
            "'{link}' is not a Kith join link: it should look like kith://join?server=https://...&code=ABCD-1234"
        )));
    };
    let url = url::Url::parse(&format!("kith://join/?{query}"))
        .map_err(|_| ClientError::invalid(format!("'{link}' is not a valid Kith join link")))?;
    let get = |k: &str| url.query_pairs().find(|(key, _)| key == k).map(|(_, v)| v.into_owned());
    match (get("server"), get("code")) {
        (Some(server), Some(code)) if !server.is_empty() && !code.is_empty() => Ok((server, code)),
        _ => Err(ClientError::invalid(
            "a join link needs both server= and code=, like kith://join?server=https://...&code=ABCD-1234",
        )),
    }
}

/// A name as given when joining: trimmed, not empty, not too long.
pub fn join_name(name: &str) -> Result<String, ClientError> {
    ops::join_name::<StoreError>(name).map_err(ClientError::from_op_no_path)
}

/// Opens (creating) the store in `dir` for joining, refusing a directory that has a profile.
pub fn open_for_join(dir: &std::path::Path) -> Result<Store, ClientError> {
    let store = open_dir(dir)?;
    if let Some(p) = profile::read_profile(&store)? {
        return Err(ClientError::AlreadyJoined {
            name: p.name,
            on_server: store.meta_get(profile::SERVER_KEY)?.is_some(),
        });
    }
    Ok(store)
}

/// [`open_for_join`], except that a device already joined to `server` (its base address) asks to
/// re-join as itself ([`rejoin_identity`]): for a server that forgot it (restored from a backup).
pub fn open_for_join_or_rejoin(
    dir: &std::path::Path,
    server: &str,
) -> Result<(Store, Option<kith_proto::Rejoin>), ClientError> {
    let store = open_dir(dir)?;
    let rejoin = rejoin_identity(&store, server)?;
    Ok((store, rejoin))
}

/// Joining on a device that has joined already: its own member, device and team ids, to ask back
/// from `server` (its base address) which forgot it. Only towards the server it joined, whose
/// team its documents belong to; the server grants them only with a valid invite of that team,
/// and only if it knows neither id (a revoked device stays revoked). None if not joined yet;
/// [`ClientError::AlreadyJoined`] if joined elsewhere or for offline use.
pub fn rejoin_identity(store: &Store, server: &str) -> Result<Option<kith_proto::Rejoin>, ClientError> {
    let Some(p) = profile::read_profile(store)? else { return Ok(None) };
    let same = profile::read_link(store)?.is_some_and(|l| l.url.trim_end_matches('/') == server.trim_end_matches('/'));
    if !same {
        let on_server = store.meta_get(profile::SERVER_KEY)?.is_some();
        return Err(ClientError::AlreadyJoined { name: p.name, on_server });
    }
    Ok(Some(kith_proto::Rejoin {
        team_id: p.team_id.uuid(),
        member_id: p.member_id.uuid(),
        device_id: p.device_id.uuid(),
    }))
}

/// A refused re-join in the words of a refused join: the server still knows this device (it
/// works, or it was revoked and stays so), so the profile is kept and joining needs another data
/// directory. Other errors pass through.
pub fn rejoin_refused(e: kith_sync::SyncError, store: &Store) -> Result<kith_sync::SyncError, ClientError> {
    match &e {
        kith_sync::SyncError::Server { code, .. } if code == REJOIN_REFUSED => {
            let name = profile::read_profile(store)?.map(|p| p.name).unwrap_or_default();
            Err(ClientError::AlreadyJoined { name, on_server: true })
        }
        _ => Ok(e),
    }
}

/// The server's code for a re-join whose member or device it knows.
pub const REJOIN_REFUSED: &str = "rejoin_refused";

fn open_dir(dir: &std::path::Path) -> Result<Store, ClientError> {
    std::fs::create_dir_all(dir).map_err(|e| {
        ClientError::invalid(format!(
            "could not create the data directory {}: {e}. Check the path and its permissions",
            dir.display()
        ))
    })?;
    Ok(Store::open(profile::db_path(dir))?)
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
    // A re-join keeps the profile's own start.
    let created_at = profile::read_profile(store)?
        .filter(|p| (p.member_id.uuid(), p.device_id.uuid()) == (resp.member_id, resp.device_id))
        .map_or(now, |p| p.created_at);
    let profile = Profile {
        version: 1,
        member_id: MemberId(resp.member_id),
        device_id: DeviceId(resp.device_id),
        team_id: TeamId(resp.team_id),
        name: name.to_string(),
        created_at,
    };
    let link = ServerLink::new(server_url, resp.role.clone(), resp.token.clone());
    profile::write_profile(store, &profile, Some(&link), keep)?;
    Ok((profile, link))
}

/// The local board: every member of the team by urgency, from the documents on this device.
pub fn board(team: &Team, shifts: &[Shift], now: Timestamp) -> Vec<rules::BoardRow> {
    ops::board(team, shifts, now)
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
        return Err(ClientError::op(OpError::MemberNotFound(member)));
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
        return t.member(id).map(|m| m.id).ok_or(ClientError::op(OpError::MemberNotFound(id)));
    }
    let found: Vec<&kith_domain::Member> = t.members.iter().filter(|m| m.name.eq_ignore_ascii_case(who)).collect();
    match found.as_slice() {
        [m] => Ok(m.id),
        [] => Err(ClientError::invalid(format!(
            "nobody called '{who}' in your team: use a name as on the team board, a member id, or me"
        ))),
        _ => Err(ClientError::invalid(format!("more than one member is called '{who}': use their member id"))),
    }
}
