//! The app's screens as `kith-api` views, built from the documents on this device: the same for
//! the desktop app (`kith_client::Client`) and the browser's core ([`crate::Core`]), so a phone
//! shows exactly what the app shows.

use std::collections::BTreeMap;

use kith_api::{
    AppState, BoardEntry, BoardResponse, BoardSource, HealthResponse, Me, MemberRef, PolicyView, ReminderView,
    Settings, ShiftView, SyncState,
};
use kith_domain::health::{self, Window};
use kith_domain::{Role, Shift, Team, Timestamp};
use uuid::Uuid;

use crate::error::OpError;
use crate::ops::{self, Warn};
use crate::profile::{self, Link, Profile};
use crate::reminders::{self, LocalReminder};
use crate::repo::Repo;

/// A stand-in team before the team document has arrived: just me, the default policy.
pub fn empty_team(p: &Profile) -> Team {
    Team {
        id: p.team_id,
        name: String::new(),
        purpose: String::new(),
        phone: None,
        policy: kith_domain::Policy::default(),
        members: Vec::new(),
    }
}

/// Who I am, as the screens show it: the roster's name and role when the team has arrived.
pub fn me_view(p: &Profile, team: Option<&Team>, link: Option<&Link>) -> Me {
    let member = team.and_then(|t| t.member(p.member_id));
    let role = match (member, link) {
        (Some(m), _) => m.role,
        (None, Some(l)) if l.is_lead() => Role::Lead,
        _ => Role::Member,
    };
    Me {
        member_id: p.member_id,
        device_id: p.device_id,
        team_id: p.team_id,
        team_name: team.map(|t| t.name.clone()).unwrap_or_default(),
        team_purpose: team.map(|t| t.purpose.clone()).unwrap_or_default(),
        team_phone: team.and_then(|t| t.phone.clone()),
        name: member.map_or_else(|| p.name.clone(), |m| m.name.clone()),
        role,
        phone: member.and_then(|m| m.phone.clone()),
        server: link.map(|l| l.url.clone()).unwrap_or_default(),
    }
}

pub fn reminder_view(r: LocalReminder) -> ReminderView {
    ReminderView { shift: r.shift, reason: r.reason, at_ms: Timestamp(r.at_ms), deadline_ms: Timestamp(r.deadline_ms) }
}

/// The team, or `None` before it has arrived.
fn team_if_any<R: Repo>(repo: &mut R, p: &Profile) -> Result<Option<Team>, OpError<R::Error>> {
    match ops::team(repo, p) {
        Ok(t) => Ok(Some(t)),
        Err(OpError::TeamNotReceived) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Everything the main screens need. `sync` is the driver's sync state (online, errors...).
pub fn app_state<R: Repo>(
    repo: &mut R,
    profile: Option<&Profile>,
    link: Option<&Link>,
    sync: SyncState,
    now: Timestamp,
) -> Result<AppState, OpError<R::Error>> {
    let settings = profile::read_settings(repo)?;
    let Some(prof) = profile else {
        return Ok(AppState {
            joined: false,
            me: None,
            policy: None,
            team: Vec::new(),
            shift: None,
            last_shift: None,
            sync,
            next_reminder: None,
            settings,
            now,
        });
    };
    let team = team_if_any(repo, prof)?;
    let shifts = ops::my_shifts(repo, prof.member_id, &mut |_| {})?;
    let reminder = reminders::next_reminder(repo, prof.member_id, now)?;
    let team_or_empty = team.clone().unwrap_or_else(|| empty_team(prof));
    let view = |sh: &Shift| ShiftView::from_shift(sh, &team_or_empty, now, prof.member_id);
    let shift = ops::active_shift(&shifts).map(view);
    let last_shift = shifts.iter().rev().find(|s| !s.is_active()).map(view);
    Ok(AppState {
        joined: true,
        me: Some(me_view(prof, team.as_ref(), link)),
        policy: team.as_ref().map(PolicyView::from_team),
        team: team.as_ref().map(MemberRef::team).unwrap_or_default(),
        shift,
        last_shift,
        sync,
        next_reminder: reminder.map(reminder_view),
        settings,
        now,
    })
}

/// One shift as I see it now, with the team's names (an empty roster before the team arrives).
pub fn shift_view<R: Repo>(
    repo: &mut R,
    prof: &Profile,
    shift: &Shift,
    now: Timestamp,
) -> Result<ShiftView, OpError<R::Error>> {
    let team = ops::team(repo, prof).ok().unwrap_or_else(|| empty_team(prof));
    Ok(ShiftView::from_shift(shift, &team, now, prof.member_id))
}

/// A member's shifts on this device (mine by default), newest first.
pub fn history<R: Repo>(
    repo: &mut R,
    prof: &Profile,
    member: Option<kith_domain::MemberId>,
    now: Timestamp,
    warn: Warn<'_>,
) -> Result<Vec<ShiftView>, OpError<R::Error>> {
    let member = member.unwrap_or(prof.member_id);
    let team = ops::team(repo, prof).ok().unwrap_or_else(|| empty_team(prof));
    if member != prof.member_id && team.member(member).is_none() {
        return Err(OpError::MemberNotFound(member));
    }
    let mut shifts = ops::my_shifts(repo, member, warn)?;
    shifts.reverse();
    Ok(shifts.iter().map(|sh| ShiftView::from_shift(sh, &team, now, prof.member_id)).collect())
}

/// Connection health over the last `days` days: mine, and the team's for leads.
pub fn health<R: Repo>(
    repo: &mut R,
    prof: &Profile,
    link: Option<&Link>,
    days: i64,
    now: Timestamp,
    warn: Warn<'_>,
) -> Result<HealthResponse, OpError<R::Error>> {
    if !(1..=366).contains(&days) {
        return Err(OpError::Invalid(format!(
            "health covers 1 to 366 days, not {days}: pick a number in that range (e.g. 28)"
        )));
    }
    let team = ops::team(repo, prof)?;
    let shifts = ops::all_shifts(repo, warn)?;
    let window = Window::last_days(now, days);
    let worker = health::worker_health(prof.member_id, &team, &shifts, window, now);
    let lead = ops::is_lead(&team, prof.member_id, link);
    let team_h = lead.then(|| health::team_health(&team, &shifts, window, now));
    Ok(HealthResponse { days, worker, team: team_h, members: MemberRef::team(&team) })
}

/// A teammate's presence as this device last heard it: online, last seen (server clock).
pub type PresenceMap = BTreeMap<Uuid, (bool, Option<i64>)>;

/// The board from this device's documents (when the server cannot be asked), with when they
/// last synced.
pub fn local_board<R: Repo>(
    repo: &mut R,
    prof: &Profile,
    presence: &PresenceMap,
    now: Timestamp,
    warn: Warn<'_>,
) -> Result<BoardResponse, OpError<R::Error>> {
    let team = ops::team(repo, prof)?;
    let shifts = ops::all_shifts(repo, warn)?;
    let synced_at = crate::sync::last_synced_ms(repo)?.map(Timestamp);
    let rows = ops::board(&team, &shifts, now)
        .into_iter()
        .map(|r| {
            let p = presence.get(&r.member.uuid());
            BoardEntry::from_row(r, &team, p.is_some_and(|p| p.0), p.and_then(|p| p.1.map(Timestamp)))
        })
        .collect();
    Ok(BoardResponse {
        server_time: now,
        team_id: team.id.uuid(),
        team_name: team.name,
        team_purpose: team.purpose,
        phone: team.phone,
        rows,
        alerts: Vec::new(),
        source: BoardSource::Local,
        synced_at,
    })
}

/// Everything this device holds about me, as JSON: profile (without the credential), settings,
/// my shifts in full, and the sync state.
pub fn export<R: Repo>(
    repo: &mut R,
    prof: &Profile,
    link: Option<&Link>,
    sync: &SyncState,
    now: Timestamp,
    warn: Warn<'_>,
) -> Result<serde_json::Value, OpError<R::Error>> {
    let settings: Settings = profile::read_settings(repo)?;
    let team = ops::team(repo, prof).ok();
    let shifts = ops::my_shifts(repo, prof.member_id, warn)?;
    Ok(serde_json::json!({
        "format": "kith.export",
        "version": 1,
        "exported_at": now,
        "profile": prof,
        "server": link.map(|l| serde_json::json!({ "url": l.url, "role": l.role })),
        "team": team.as_ref().map(|t| serde_json::json!({
            "id": t.id, "name": t.name, "purpose": t.purpose,
            "me": t.member(prof.member_id),
        })),
        "settings": settings,
        "shifts": shifts,
        "sync": sync,
    }))
}
