//! The commands. Each checks all its input before it writes anything, and says honestly that what
//! it saved is on this device only.

use std::io::Write;
use std::path::PathBuf;

use chrono::Local;
use serde::Serialize;
use serde_json::json;

use kith_client::local::{self, Buddies, NewCheckIn, StartShift};
use kith_client::{ClientError, profile};
use kith_domain::doc::team;
use kith_domain::rules::{self, DueReason, DueState};
use kith_domain::{
    CheckInStatus, Location, LocationPrecision, Member, MemberId, Policy, Role, Shift, Team, TeamId, Timestamp,
    check_line,
};
use kith_store::Store;

use crate::cli::{CheckinArgs, EndArgs, ExtendArgs, InitArgs, LogArgs, StartArgs, StatusArg};
use crate::clock::{self, clock, format_duration, relative, rfc3339};
use crate::error::{CliError, START_HINT};
use crate::net;
use crate::session::{self, Profile, Session, TEAM_KIND, warn_to};
use crate::view::{self, CheckInView, DueView, ShiftLog, ShiftSummary, foreign};

/// Where output goes and what time it is.
pub struct Ctx<'a> {
    pub dir: PathBuf,
    pub now: Timestamp,
    pub json: bool,
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
}

impl std::fmt::Debug for Ctx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx").field("dir", &self.dir).field("now", &self.now).field("json", &self.json).finish()
    }
}

impl Ctx<'_> {
    /// Prints `value` as JSON with `--json`, else `text`.
    pub(crate) fn emit<T: Serialize>(&mut self, value: &T, text: &str) -> Result<(), CliError> {
        if self.json {
            let s = serde_json::to_string_pretty(value)
                .map_err(|e| CliError::Data(format!("could not write JSON output: {e}")))?;
            writeln!(self.out, "{}", view::json_safe(&s))?;
        } else {
            // Foreign fields are escaped where they are formatted (view::Foreign); this is the
            // net under them.
            write!(self.out, "{}", view::terminal_safe(text))?;
            if !text.ends_with('\n') {
                writeln!(self.out)?;
            }
        }
        Ok(())
    }

    pub(crate) fn clock(&self, ts: Timestamp) -> String {
        clock(ts, self.now)
    }
}

fn line(what: &'static str, value: &str) -> Result<String, CliError> {
    let v = value.trim();
    check_line(what, v)?;
    Ok(v.to_string())
}

// ---------------------------------------------------------------------------------------------
// init

pub fn init(cx: &mut Ctx<'_>, a: &InitArgs) -> Result<(), CliError> {
    let name = line("name", &a.name)?;
    if name.is_empty() {
        return Err(CliError::Usage("--name cannot be empty: give the name your team knows you by".into()));
    }
    let team_name = line("team name", &a.team)?;
    if team_name.is_empty() {
        return Err(CliError::Usage("--team cannot be empty: give your team a name".into()));
    }
    let phone = a.team_phone.as_deref().map(|p| line("phone", p)).transpose()?.filter(|p| !p.is_empty());

    std::fs::create_dir_all(&cx.dir).map_err(|e| {
        CliError::Data(format!(
            "could not create the data directory '{}': {e}. Check the path and its permissions, or pass another --data-dir",
            cx.dir.display()
        ))
    })?;
    let mut store = Store::open(session::db_path(&cx.dir))?;
    if let Some(p) = session::read_profile(&store)? {
        return Err(CliError::State(format!(
            "There is already a Kith profile in {} ({}, member id {}). Kith did not change it. \
             To keep a separate profile, use another --data-dir.",
            cx.dir.display(),
            p.name,
            p.member_id
        )));
    }
    let role: Role = a.role.into();
    let member = Member { id: MemberId::new(), name: name.clone(), role, buddies: Vec::new(), phone: None };
    let team = Team {
        id: TeamId::new(),
        name: team_name,
        purpose: String::new(),
        phone,
        policy: Policy::default(),
        members: vec![member.clone()],
    };
    store.create_doc(team.id.uuid(), TEAM_KIND, |tx| team::init(tx, &team).map_err(CliError::from))?;
    let profile = Profile {
        version: 1,
        member_id: member.id,
        device_id: kith_domain::DeviceId::new(),
        team_id: team.id,
        name: name.clone(),
        created_at: cx.now,
    };
    profile::write_profile(&mut store, &profile, None, kith_client::credential::Keep::FileOnly)?;
    store.wait_for_background_compaction();

    let value = json!({
        "member_id": profile.member_id.to_string(),
        "device_id": profile.device_id.to_string(),
        "team_id": team.id.to_string(),
        "name": name,
        "team_name": team.name,
        "role": role,
        "data_dir": cx.dir.display().to_string(),
    });
    let p = &team.policy;
    let text = format!(
        "Welcome, {name}. Your Kith profile is saved in {}.\n\
         You are a {} of \"{}\", a team on this device only. To work with a team server, join it instead \
         (in another --data-dir): kith join <server> <invite code>.\n\
         Your member id: {} (teammates use it to name you as a buddy).\n\
         Team policy: check in every {} to {} (default {}); overdue {} after a check-in is due.\n\
         Next: {START_HINT}",
        cx.dir.display(),
        serde_json::to_value(role).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default(),
        team.name,
        profile.member_id,
        format_duration(p.min_interval),
        format_duration(p.max_interval),
        format_duration(p.default_interval),
        format_duration(p.grace),
    );
    cx.emit(&value, &text)
}

// ---------------------------------------------------------------------------------------------
// shift start

pub fn shift_start(cx: &mut Ctx<'_>, a: &StartArgs) -> Result<(), CliError> {
    // Everything that can be checked without the store, first.
    let until = clock::parse_until(&a.until, cx.now, &Local)?;
    let every = a.every.as_deref().map(clock::parse_interval).transpose()?;
    let purpose_arg = a.purpose.as_deref().map(|p| line("purpose", p)).transpose()?;

    let mut s = Session::open(&cx.dir)?;
    let req = StartShift {
        purpose: purpose_arg,
        planned_end: until.at,
        interval: every,
        buddies: if !a.buddies.is_empty() {
            Buddies::These(a.buddies.clone())
        } else if a.no_buddies {
            Buddies::None
        } else {
            Buddies::FromLastShift
        },
    };
    let now = cx.now;
    let started = local::start_shift(&mut s.store, &s.profile, req, now, &mut warn_to(cx.err));
    let started = started.map_err(|e| match e {
        ClientError::Op { error: kith_client::OpError::AlreadyOnShift { shift: active }, .. } => {
            CliError::State(format!(
                "You are already on shift: \"{}\" since {} (planned end {}). End it first with: kith end \
             (or move its end with: kith extend --until <when> --reason \"...\")",
                foreign(&active.purpose),
                cx.clock(active.started_at),
                cx.clock(active.planned_end())
            ))
        }
        other => other.into(),
    })?;
    let (new, team, defaulted) = (started.shift, started.team, started.defaulted);
    let interval = new.interval;
    let sharing = net::share(&mut s, new.id.uuid(), cx.now);

    let next_due = rules::next_due(&new, &team.policy);
    let unknown: Vec<String> = started.unknown_buddies.iter().map(ToString::to_string).collect();
    let value = json!({
        "shift": ShiftSummary::from(&new),
        "next_due": rfc3339(next_due),
        "planned_end_is_tomorrow": until.rolled_to_tomorrow,
        "defaults_from_last_shift": defaulted,
        "buddies_not_on_roster": unknown,
        "saved_at": rfc3339(cx.now),
        "shared": sharing.shared(),
        "sharing": sharing.json(),
    });
    let mut text = format!(
        "Shift started at {}: \"{}\".\nCheck in every {}; first check-in due {} ({}).\nPlanned end: {} ({}).",
        cx.clock(cx.now),
        foreign(&new.purpose),
        format_duration(interval),
        cx.clock(next_due),
        relative(next_due, cx.now),
        cx.clock(until.at),
        relative(until.at, cx.now),
    );
    if until.rolled_to_tomorrow {
        text.push_str(&format!(
            "\n{} has already passed today, so the planned end is tomorrow. If you meant today, end this shift \
             (kith end) and start again with a later time or a duration like --until +2h.",
            a.until.trim()
        ));
    }
    if !new.buddies.is_empty() {
        let names: Vec<String> = new
            .buddies
            .iter()
            .map(|b| team.member(*b).map_or_else(|| b.to_string(), |m| foreign(&m.name).to_string()))
            .collect();
        text.push_str(&format!("\nBuddies: {}.", names.join(", ")));
    }
    if !unknown.is_empty() {
        text.push_str(&format!(
            "\nNote: {} not on your team's roster on this device (yet); check the id with them.",
            if unknown.len() == 1 { "this buddy is" } else { "these buddies are" }
        ));
    }
    if !defaulted.is_empty() {
        text.push_str(&format!("\nFrom your last shift: {}.", defaulted.join(", ")));
    }
    text.push_str(&format!("\nSaved on this device at {}. {}", cx.clock(cx.now), sharing.line(|t| cx.clock(t))));
    let out = cx.emit(&value, &text);
    s.finish();
    out
}

// ---------------------------------------------------------------------------------------------
// checkin

pub fn checkin(cx: &mut Ctx<'_>, a: &CheckinArgs) -> Result<(), CliError> {
    let result = checkin_inner(cx, a);
    if result.is_err() && a.status == StatusArg::Emergency {
        let _ = writeln!(
            cx.err,
            "YOUR EMERGENCY WAS NOT SAVED. Phone your team or the emergency services (112 / 999 / 911) now if you can."
        );
    }
    result
}

fn checkin_inner(cx: &mut Ctx<'_>, a: &CheckinArgs) -> Result<(), CliError> {
    let status: CheckInStatus = a.status.into();
    let precision: LocationPrecision = a.location.into();
    let location = match (precision, a.lat, a.lon) {
        (LocationPrecision::None, None, None) => None,
        (LocationPrecision::None, Some(_), _) | (LocationPrecision::None, _, Some(_)) => {
            return Err(CliError::Usage(
                "you gave a position but chose to share no location: add --location coarse (about 1 km) or \
                 --location precise, or leave out --lat and --lon"
                    .into(),
            ));
        }
        (p, Some(lat), Some(lon)) => Location::shared(p, lat, lon)?,
        (_, _, _) => {
            return Err(CliError::Usage("--location coarse|precise needs your position: add --lat and --lon".into()));
        }
    };
    let note = local::note(a.note.as_deref(), a.visibility.into())?;

    let mut s = Session::open(&cx.dir)?;
    let req = NewCheckIn { status, mood: a.mood, confidence: a.confidence, note, location };
    let now = cx.now;
    let done = local::check_in(&mut s.store, &s.profile, req, now, &mut warn_to(cx.err))?;
    let (c, team, auto_started, shift_id) = (done.checkin, done.team, done.auto_started, done.shift.id);
    let sharing = net::share(&mut s, shift_id.uuid(), cx.now);
    let current = s.shift(shift_id)?;
    let next_due = rules::next_due(&current, &team.as_ref().map(|t| t.policy.clone()).unwrap_or_default());

    let phone = team.as_ref().and_then(|t| t.phone.clone());
    let call = match &phone {
        Some(p) => format!("phone your team on {} or the emergency services (112 / 999 / 911)", foreign(p)),
        None => "phone your lead or the emergency services (112 / 999 / 911)".to_string(),
    };
    let advice = match (status, sharing.shared()) {
        (CheckInStatus::Emergency, true) => Some(format!(
            "Your emergency has reached the team server and your team can see it. If you can, also {call} now."
        )),
        (CheckInStatus::Emergency, false) => Some(format!(
            "Nobody has been reached yet: the alert has not reached your team server. If you can, {call} now."
        )),
        (CheckInStatus::Support, true) => {
            Some("Your team can see that you'd like support; a lead or buddy should reach out soon.".to_string())
        }
        (CheckInStatus::Support, false) => Some(format!(
            "Nobody knows yet that you'd like support: it has not reached your team server. If you need someone soon, \
             phone your lead{}.",
            phone.as_deref().map(|p| format!(" or your team on {}", foreign(p))).unwrap_or_default()
        )),
        (CheckInStatus::Ok, _) => None,
    };
    let value = json!({
        "checkin": CheckInView::from(&c),
        "shift_id": shift_id.to_string(),
        "started_shift_for_this": auto_started,
        "next_due": rfc3339(next_due),
        "saved_at": rfc3339(cx.now),
        "shared": sharing.shared(),
        "sharing": sharing.json(),
        "advice": advice,
        "team_phone": phone,
    });
    let details = view::checkin_details(&c);
    let details = if details.is_empty() { String::new() } else { format!(" ({details})") };
    let saved = cx.clock(cx.now);
    let share_line = sharing.line(|t| cx.clock(t));
    let mut text = match status {
        CheckInStatus::Ok => format!("Checked in: OK{details}.\nSaved on this device at {saved}. {share_line}"),
        CheckInStatus::Support => format!("Support request{details} saved on this device at {saved}."),
        CheckInStatus::Emergency => format!("EMERGENCY{details} saved on this device at {saved}."),
    };
    // For a call for help, what to do comes first when it has not gone out; then where it is.
    match (&advice, status, sharing.shared()) {
        (Some(adv), CheckInStatus::Ok, _) => text.push_str(&format!("\n{adv}")),
        (Some(adv), _, false) => text.push_str(&format!("\n{adv}\n{share_line}")),
        (Some(adv), _, true) => text.push_str(&format!(" {share_line}\n{adv}")),
        (None, _, _) => {}
    }
    if auto_started {
        text.push_str(&format!(
            "\nYou were not on shift, so Kith started one for this (planned end {}). End it with: kith end",
            cx.clock(current.planned_end())
        ));
    }
    text.push_str(&format!("\nNext check-in due {} ({}).", cx.clock(next_due), relative(next_due, cx.now)));
    if current.planned_end() <= cx.now {
        text.push_str(&format!(
            "\nYour planned end ({}) has passed: kith end when you are done, or kith extend --until <when> --reason \"...\".",
            cx.clock(current.planned_end())
        ));
    }
    let out = cx.emit(&value, &text);
    s.finish();
    out
}

// ---------------------------------------------------------------------------------------------
// extend

pub fn extend(cx: &mut Ctx<'_>, a: &ExtendArgs) -> Result<(), CliError> {
    let until = clock::parse_until(&a.until, cx.now, &Local)?;
    let reason = line("reason", &a.reason)?;
    if reason.is_empty() {
        return Err(CliError::Usage("say why, so your team knows: --reason \"...\"".into()));
    }
    let mut s = Session::open(&cx.dir)?;
    let now = cx.now;
    let (active, e) = local::extend(&mut s.store, &s.profile, until.at, &reason, now, &mut warn_to(cx.err))?;
    let old_end = active.planned_end();
    let sharing = net::share(&mut s, active.id.uuid(), cx.now);
    let value = json!({
        "shift_id": active.id.to_string(),
        "extension": view::ExtensionView::from(&e),
        "previous_end": rfc3339(old_end),
        "planned_end": rfc3339(e.new_end),
        "planned_end_is_tomorrow": until.rolled_to_tomorrow,
        "saved_at": rfc3339(cx.now),
        "shared": sharing.shared(),
        "sharing": sharing.json(),
    });
    let mut text = format!(
        "Planned end moved from {} to {} ({}): \"{}\".",
        cx.clock(old_end),
        cx.clock(e.new_end),
        relative(e.new_end, cx.now),
        e.reason
    );
    if until.rolled_to_tomorrow {
        text.push_str(&format!("\n{} has already passed today, so this means tomorrow.", a.until.trim()));
    }
    if e.new_end < old_end {
        text.push_str("\nThat is earlier than before: fine if you will be back sooner.");
    }
    text.push_str(&format!("\nSaved on this device at {}. {}", cx.clock(cx.now), sharing.line(|t| cx.clock(t))));
    let out = cx.emit(&value, &text);
    s.finish();
    out
}

// ---------------------------------------------------------------------------------------------
// end

pub fn end(cx: &mut Ctx<'_>, a: &EndArgs) -> Result<(), CliError> {
    let note = a.note.as_deref().map(|n| line("note", n)).transpose()?.filter(|n| !n.is_empty());
    let mut s = Session::open(&cx.dir)?;
    let now = cx.now;
    let (active, e) = local::end(&mut s.store, &s.profile, note.as_deref(), now, &mut warn_to(cx.err))?;
    let sharing = net::share(&mut s, active.id.uuid(), cx.now);
    let planned = active.planned_end();
    let value = json!({
        "shift_id": active.id.to_string(),
        "ended_at": rfc3339(e.at),
        "note": e.note,
        "planned_end": rfc3339(planned),
        "seconds_after_planned_end": e.at.secs_since(planned).get(),
        "checkins": active.checkins.len(),
        "saved_at": rfc3339(cx.now),
        "shared": sharing.shared(),
        "sharing": sharing.json(),
    });
    let late = e.at.secs_since(planned);
    let timing = if late.get() > 0 {
        format!("{} after the planned end {}", format_duration(late), cx.clock(planned))
    } else {
        format!("planned end was {}", cx.clock(planned))
    };
    let text = format!(
        "Shift \"{}\" ended at {} ({timing}); {} check-in{} this shift.\nSaved on this device at {}. {}",
        foreign(&active.purpose),
        cx.clock(e.at),
        active.checkins.len(),
        if active.checkins.len() == 1 { "" } else { "s" },
        cx.clock(cx.now),
        sharing.line(|t| cx.clock(t)),
    );
    let out = cx.emit(&value, &text);
    s.finish();
    out
}

// ---------------------------------------------------------------------------------------------
// status

pub fn status(cx: &mut Ctx<'_>) -> Result<(), CliError> {
    let mut s = Session::open(&cx.dir)?;
    let team = s.team()?;
    let shifts = s.my_shifts(cx.err)?;
    let unsynced = s.unsynced_changes()?;
    let link = net::server_link(&s)?;
    let last_synced = kith_sync::engine::last_synced_ms(&s.store).map_err(net::sync_err)?.map(Timestamp);
    let current = rules::current_shift(s.me(), &shifts);
    let active = current.filter(|x| x.is_active());
    let due = active.map(|x| rules::due_status(x, &team.policy, cx.now));
    let board = rules::board_status(current, &team.policy, cx.now);
    let last = current.and_then(Shift::last_checkin);

    let value = json!({
        "member_id": s.profile.member_id.to_string(),
        "name": s.profile.name,
        "team_id": team.id.to_string(),
        "team_name": team.name,
        "now": rfc3339(cx.now),
        "on_shift": active.is_some(),
        "board_status": board,
        "shift": current.map(ShiftSummary::from),
        "due": due.map(|d| DueView::new(&d, cx.now)),
        "last_checkin": last.map(CheckInView::from),
        "unsynced_changes": unsynced,
        "server": link.as_ref().map(|l| json!({
            "url": l.url,
            "role": l.role,
            "last_synced": last_synced.map(rfc3339),
        })),
    });

    let mut t = String::new();
    match (active, current) {
        (Some(sh), _) => {
            let d = due.unwrap_or_else(|| rules::due_status(sh, &team.policy, cx.now));
            t.push_str(&format!(
                "On shift: \"{}\", started {} ({}).\n",
                foreign(&sh.purpose),
                cx.clock(sh.started_at),
                relative(sh.started_at, cx.now)
            ));
            t.push_str(&format!("State: {}", view::due_words(d.state)));
            if d.state != DueState::Fine {
                t.push_str(&format!(" ({})", view::reason_words(d.reason)));
            }
            t.push('\n');
            t.push_str(&format!(
                "Next check-in: {} ({}), every {}.\n",
                cx.clock(d.next_due),
                relative(d.next_due, cx.now),
                format_duration(sh.interval)
            ));
            t.push_str(&format!("Planned end: {} ({}).\n", cx.clock(d.planned_end), relative(d.planned_end, cx.now)));
            match d.state {
                DueState::Overdue if d.reason == DueReason::PlannedEnd => t.push_str(
                    "You are past your planned end. End the shift (kith end) or move the end (kith extend --until <when> --reason \"...\").\n",
                ),
                DueState::Overdue => t.push_str("Your check-in is overdue. Check in now: kith checkin\n"),
                DueState::DueSoon if d.reason == DueReason::PlannedEnd => {
                    t.push_str("Your planned end is near: kith end when you are done, or kith extend.\n");
                }
                DueState::DueSoon => t.push_str("A check-in is due soon: kith checkin\n"),
                _ => {}
            }
        }
        (None, Some(sh)) => {
            let ended = sh.ended.as_ref().map_or(sh.started_at, |e| e.at);
            t.push_str(&format!(
                "Off shift since {} ({}). Last shift: \"{}\".\nStart a new one with: {START_HINT}\n",
                cx.clock(ended),
                relative(ended, cx.now),
                foreign(&sh.purpose)
            ));
        }
        (None, None) => t.push_str(&format!("Off shift: no shifts yet. Start one with: {START_HINT}\n")),
    }
    if let Some(c) = last {
        let details = view::checkin_details(c);
        t.push_str(&format!(
            "Last check-in: {} ({}) {}{}.\n",
            cx.clock(c.device_time),
            relative(c.device_time, cx.now),
            view::status_words(c.status),
            if details.is_empty() { String::new() } else { format!(", {details}") }
        ));
        let shift_pending = match current {
            Some(sh) => !s.store.pending_changes(sh.id.uuid())?.is_empty(),
            None => false,
        };
        let emergency = active.is_some_and(|sh| sh.checkins.iter().any(|c| c.status == CheckInStatus::Emergency));
        if emergency && (link.is_none() || shift_pending) {
            t.push_str(&format!(
                "Your emergency {}. Phone {} or the emergency services (112 / 999 / 911) if you can.\n",
                if link.is_none() {
                    "has not reached anyone: this device has not joined a team server"
                } else {
                    "may not have reached anyone yet: this shift has changes that are still only on this device \
                     (kith sync)"
                },
                team.phone
                    .as_deref()
                    .map_or_else(|| "your lead".to_string(), |p| format!("your team on {}", foreign(p))),
            ));
        }
    } else if active.is_some() {
        t.push_str("No check-ins yet this shift.\n");
    }
    if unsynced > 0 {
        t.push_str(&format!(
            "Not yet shared: {unsynced} change{} only on this device ({}).\n",
            if unsynced == 1 { " is" } else { "s are" },
            if link.is_some() {
                "they go out with the next sync: kith sync"
            } else {
                "this device has not joined a team server: kith join"
            }
        ));
    }
    if link.is_some() {
        match last_synced {
            Some(at) => t.push_str(&format!(
                "Last synced with the team server at {} ({}).\n",
                cx.clock(at),
                relative(at, cx.now)
            )),
            None => t.push_str("Never synced with the team server yet: kith sync\n"),
        }
    }
    let out = cx.emit(&value, &t);
    s.finish();
    out
}

// ---------------------------------------------------------------------------------------------
// log

pub fn log(cx: &mut Ctx<'_>, a: &LogArgs) -> Result<(), CliError> {
    let mut s = Session::open(&cx.dir)?;
    let team = s.team()?;
    let shifts = s.my_shifts(cx.err)?;
    let chosen: Vec<&Shift> =
        if a.all { shifts.iter().collect() } else { rules::current_shift(s.me(), &shifts).into_iter().collect() };
    let value = json!({ "shifts": chosen.iter().map(|x| ShiftLog::from(*x)).collect::<Vec<_>>() });
    let mut t = String::new();
    if chosen.is_empty() {
        t.push_str(&format!("No shifts yet. Start one with: {START_HINT}\n"));
    }
    for (i, sh) in chosen.iter().enumerate() {
        if i > 0 {
            t.push('\n');
        }
        t.push_str(&shift_log_text(cx, sh, &team));
    }
    let out = cx.emit(&value, &t);
    s.finish();
    out
}

fn shift_log_text(cx: &Ctx<'_>, sh: &Shift, team: &Team) -> String {
    let mut events: Vec<(Timestamp, u8, String)> = Vec::new();
    events.push((sh.started_at, 0, format!("started; planned end {}", cx.clock(sh.initial_end))));
    for c in &sh.checkins {
        let details = view::checkin_details(c);
        let what = view::status_words(c.status);
        let text = if details.is_empty() { what.to_string() } else { format!("{what:<9}  {details}") };
        events.push((c.device_time, 1, text));
    }
    for a in &sh.acks {
        let reply = a.reply.as_deref().map(|r| format!(": \"{}\"", foreign(r))).unwrap_or_default();
        let by = team.member(a.by).map_or_else(|| a.by.to_string(), |m| foreign(&m.name).to_string());
        events.push((a.at, 2, format!("seen by {by}{reply}")));
    }
    for e in &sh.extensions {
        events.push((e.at, 3, format!("extended to {}: \"{}\"", cx.clock(e.new_end), foreign(&e.reason))));
    }
    if let Some(e) = &sh.ended {
        let note = e.note.as_deref().map(|n| format!(": \"{}\"", foreign(n))).unwrap_or_default();
        events.push((e.at, 4, format!("ended{note}")));
    }
    events.sort_by_key(|(at, order, _)| (*at, *order));
    let width = events.iter().map(|(at, _, _)| cx.clock(*at).len()).max().unwrap_or(5);
    let mut t = format!(
        "Shift \"{}\" ({}), check-in every {}{}\n",
        foreign(&sh.purpose),
        sh.id,
        format_duration(sh.interval),
        if sh.is_active() { format!(", planned end {}", cx.clock(sh.planned_end())) } else { String::new() }
    );
    for (at, _, what) in events {
        t.push_str(&format!("  {:>width$}  {what}\n", cx.clock(at)));
    }
    t
}
