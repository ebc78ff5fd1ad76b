//! The JSON view types shared by the team server's browser API, the app core (`kith-client`) and
//! the UI. They are the one description of what the UI shows: the TypeScript in
//! `ui/src/generated/` is generated from them by ts-rs (`cargo test -p kith-api`), never written by
//! hand. Conversions from the domain's documents live here too, so the server and the app show a
//! shift the same way, with the same redaction of leads-only notes.

#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

use kith_domain::alerts::AlertKind;
use kith_domain::health::{TeamHealth, WorkerHealth};
use kith_domain::rules::{self, AlertFact, Attention, BoardRow, BoardStatus, DueReason, DueState};
use kith_domain::{
    AckId, CheckIn, CheckInId, CheckInStatus, DeviceId, LocationPrecision, MemberId, Role, Shift, ShiftId, Team,
    TeamId, Timestamp, Visibility,
};
use serde::{Deserialize, Serialize};
use ts_rs::TS;
use uuid::Uuid;

pub use kith_proto::ApiError;

pub mod input;
mod team;

pub use team::*;

/// Who this device is: the member, their device and their team.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct Me {
    pub member_id: MemberId,
    pub device_id: DeviceId,
    pub team_id: TeamId,
    pub team_name: String,
    pub team_purpose: String,
    /// The team's phone number, shown with an emergency made offline.
    pub team_phone: Option<String>,
    pub name: String,
    pub role: Role,
    /// My own phone number, as the team sees it (I and leads edit it).
    #[serde(default)]
    pub phone: Option<String>,
    /// The team server's address.
    pub server: String,
}

/// A teammate as the UI lists them (buddy pickers, names on acks).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct MemberRef {
    pub id: MemberId,
    pub name: String,
    pub role: Role,
    /// Where to phone them (set by them or a lead), if they gave one.
    #[serde(default)]
    pub phone: Option<String>,
}

/// The team's check-in policy, in seconds, for the start-shift form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct PolicyView {
    pub min_interval_s: i64,
    pub max_interval_s: i64,
    pub default_interval_s: i64,
    pub grace_s: i64,
    pub reminder_lead_s: i64,
}

/// `GET /v1/me`, and the identity part of the app's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct MeResponse {
    pub me: Me,
    pub policy: PolicyView,
    pub team: Vec<MemberRef>,
    pub server_time: Timestamp,
}

/// The device's sync state: staleness is never hidden.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct SyncState {
    /// The last exchange with the server succeeded.
    pub online: bool,
    /// The live channel is connected.
    pub live: bool,
    pub last_synced_ms: Option<Timestamp>,
    /// Local changes not yet on the server.
    pub pending_changes: u32,
    pub last_error: Option<String>,
    /// Waiting will not fix the last error (e.g. the device was revoked).
    pub needs_attention: bool,
    /// The server has no record of this device (restored from a backup taken before it
    /// joined), as opposed to revoked: joining with a new invite re-joins it as the same member
    /// and sends everything it kept.
    #[serde(default)]
    pub device_unknown: bool,
    /// The server answered but could not store some of this device's changes now (its storage
    /// is full or failing): why, in one sentence. Not delivered yet; they stay queued and are
    /// sent again automatically, with backoff.
    #[serde(default)]
    pub retrying: Option<String>,
    /// Server clock minus device clock, as last measured.
    pub clock_offset_ms: Option<i64>,
}

/// An acknowledgement of a check-in, with its optional reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct AckView {
    pub id: AckId,
    pub by: MemberId,
    pub by_name: String,
    pub at: Timestamp,
    pub reply: Option<String>,
}

/// A shared location, already reduced to the precision the worker chose.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct LocationView {
    pub precision: LocationPrecision,
    pub lat: f64,
    pub lon: f64,
}

/// One check-in as a viewer may see it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct CheckInView {
    pub id: CheckInId,
    pub status: CheckInStatus,
    pub mood: Option<u8>,
    pub confidence: Option<u8>,
    /// Absent when the note is for leads only and the viewer is not a lead (nor its author).
    pub note: Option<String>,
    pub note_visibility: Option<Visibility>,
    pub location: Option<LocationView>,
    /// The device's clock when it was made.
    pub device_time: Timestamp,
    pub by: MemberId,
    pub by_name: String,
    /// Oldest first.
    pub acks: Vec<AckView>,
}

/// A change of planned end, with its reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct ExtensionView {
    pub new_end: Timestamp,
    pub reason: String,
    pub at: Timestamp,
}

/// How a shift ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct EndView {
    pub at: Timestamp,
    pub note: Option<String>,
}

/// A shift, as of `now`, for one viewer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct ShiftView {
    pub id: ShiftId,
    pub worker: MemberId,
    pub worker_name: String,
    pub purpose: String,
    pub started_at: Timestamp,
    /// The planned end in force (after extensions). From the server, on its clock (see
    /// [`ShiftView::with_deadlines_of`]), like `next_due` and `overdue_at`.
    pub planned_end: Timestamp,
    pub interval_s: i64,
    pub buddies: Vec<MemberRef>,
    pub extensions: Vec<ExtensionView>,
    pub ended: Option<EndView>,
    /// Newest first.
    pub checkins: Vec<CheckInView>,
    /// When the next check-in is due (active shifts).
    pub next_due: Option<Timestamp>,
    /// When the shift becomes overdue if nothing happens (active shifts).
    pub overdue_at: Option<Timestamp>,
    pub due: DueState,
    pub due_reason: Option<DueReason>,
    /// What the shift's badge says, from its latest check-in, its deadlines and (on the server,
    /// on its clock) its alerts: a shift in emergency never reads "on track" (`rules::shift_status`).
    pub status: BoardStatus,
    /// The newest acknowledgement of any check-in of this shift (shown at the top of My shift).
    pub latest_ack: Option<AckView>,
    pub active: bool,
}

fn name_of(team: &Team, id: MemberId) -> String {
    team.member(id).map_or_else(|| "a former member".to_string(), |m| m.name.clone())
}

impl MemberRef {
    /// Every member of the team, in the team document's order.
    pub fn team(team: &Team) -> Vec<MemberRef> {
        team.members.iter().map(MemberRef::of).collect()
    }

    pub fn of(m: &kith_domain::Member) -> MemberRef {
        MemberRef { id: m.id, name: m.name.clone(), role: m.role, phone: m.phone.clone() }
    }
}

impl PolicyView {
    pub fn from_team(team: &Team) -> PolicyView {
        let p = &team.policy;
        PolicyView {
            min_interval_s: p.min_interval.get(),
            max_interval_s: p.max_interval.get(),
            default_interval_s: p.default_interval.get(),
            grace_s: p.grace.get(),
            reminder_lead_s: p.reminder_lead.get(),
        }
    }
}

/// Whether `viewer` may read a note written with `visibility` by `author`.
pub fn may_read_note(team: &Team, visibility: Visibility, author: MemberId, viewer: MemberId) -> bool {
    match visibility {
        Visibility::Team => true,
        Visibility::Leads => viewer == author || team.member(viewer).is_some_and(|m| m.role.is_lead()),
    }
}

impl CheckInView {
    pub fn from_checkin(shift: &Shift, c: &CheckIn, team: &Team, viewer: MemberId) -> CheckInView {
        let readable = c.note.as_ref().filter(|n| may_read_note(team, n.visibility, c.by, viewer));
        CheckInView {
            id: c.id,
            status: c.status,
            mood: c.mood.map(|r| r.get()),
            confidence: c.confidence.map(|r| r.get()),
            note: readable.map(|n| n.text.clone()),
            note_visibility: c.note.as_ref().map(|n| n.visibility),
            location: c.location.map(|l| LocationView { precision: l.precision, lat: l.lat, lon: l.lon }),
            device_time: c.device_time,
            by: c.by,
            by_name: name_of(team, c.by),
            acks: shift
                .acks_for(c.id)
                .map(|a| AckView { id: a.id, by: a.by, by_name: name_of(team, a.by), at: a.at, reply: a.reply.clone() })
                .collect(),
        }
    }
}

impl ShiftView {
    /// The shift as `viewer` sees it at `now` (device times, as in the documents), its status from
    /// the document alone (a device's own view).
    pub fn from_shift(shift: &Shift, team: &Team, now: Timestamp, viewer: MemberId) -> ShiftView {
        ShiftView::with_alerts(shift, team, now, viewer, None)
    }

    /// The shift as `viewer` sees it at `now`, its status following the team's `alerts` when they
    /// are known (the server's view).
    pub fn with_alerts(
        shift: &Shift,
        team: &Team,
        now: Timestamp,
        viewer: MemberId,
        alerts: Option<&[AlertFact]>,
    ) -> ShiftView {
        let status = rules::due_status(shift, &team.policy, now);
        let active = shift.is_active();
        let mut acks_sorted = shift.acks.clone();
        acks_sorted.sort_by_key(|a| (a.at, a.id));
        let mut checkins: Vec<CheckInView> =
            shift.checkins.iter().map(|c| CheckInView::from_checkin(shift, c, team, viewer)).collect();
        for c in &mut checkins {
            c.acks.sort_by_key(|a| (a.at, a.id));
        }
        checkins.sort_by_key(|c| std::cmp::Reverse((c.device_time, c.id)));
        ShiftView {
            id: shift.id,
            worker: shift.worker,
            worker_name: name_of(team, shift.worker),
            purpose: shift.purpose.clone(),
            started_at: shift.started_at,
            planned_end: shift.planned_end(),
            interval_s: shift.interval.get(),
            buddies: shift
                .buddies
                .iter()
                .map(|b| match team.member(*b) {
                    Some(m) => MemberRef::of(m),
                    None => MemberRef { id: *b, name: name_of(team, *b), role: Role::Member, phone: None },
                })
                .collect(),
            extensions: shift
                .extensions
                .iter()
                .map(|e| ExtensionView { new_end: e.new_end, reason: e.reason.clone(), at: e.at })
                .collect(),
            ended: shift.ended.as_ref().map(|e| EndView { at: e.at, note: e.note.clone() }),
            latest_ack: checkins.iter().flat_map(|c| c.acks.iter()).max_by_key(|a| (a.at, a.id)).cloned(),
            checkins,
            next_due: active.then_some(status.next_due),
            overdue_at: active.then_some(status.overdue_at),
            due: status.state,
            due_reason: active.then_some(status.reason),
            status: rules::shift_status(shift, &team.policy, now, alerts),
            active,
        }
    }

    /// The server's view of a shift: as `viewer` sees it at `now`, its history as the devices
    /// wrote it (`shift`), its deadlines and status on the server's clock ([`ShiftView::with_deadlines_of`]
    /// of `server`) following the team's `alerts`.
    pub fn on_server(
        shift: &Shift,
        server: &Shift,
        team: &Team,
        now: Timestamp,
        viewer: MemberId,
        alerts: Option<&[AlertFact]>,
    ) -> ShiftView {
        ShiftView::with_alerts(shift, team, now, viewer, alerts).with_deadlines_of(server, &team.policy, now, alerts)
    }

    /// The same view with its deadlines (`planned_end`, `next_due`, `overdue_at`, `due`,
    /// `due_reason`) and its status on the server's clock: from `server`, the shift turned into
    /// server time (`kith_domain::alerts::on_server_clock`), as the server's deadline engine sees
    /// it, the status following `alerts` when known (`rules::shift_status`). The history (start,
    /// check-ins, acknowledgements, extensions, the end) keeps the times the devices wrote.
    pub fn with_deadlines_of(
        mut self,
        server: &Shift,
        policy: &kith_domain::Policy,
        now: Timestamp,
        alerts: Option<&[AlertFact]>,
    ) -> ShiftView {
        let status = rules::due_status(server, policy, now);
        let active = server.is_active();
        self.planned_end = server.planned_end();
        self.next_due = active.then_some(status.next_due);
        self.overdue_at = active.then_some(status.overdue_at);
        self.due = status.state;
        self.due_reason = active.then_some(status.reason);
        self.status = rules::shift_status(server, policy, now, alerts);
        self
    }
}

/// One member on the team board.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct BoardEntry {
    pub member: Uuid,
    pub name: String,
    pub role: Role,
    pub status: BoardStatus,
    /// Whether someone needs a human now and whether a named person is on it: the board is in
    /// this order (unowned first), then by status.
    pub attention: Attention,
    /// Where to phone them, if they gave a number.
    #[serde(default)]
    pub phone: Option<String>,
    /// When their oldest unresolved alert opened (server clock).
    #[serde(default)]
    pub alert_since: Option<Timestamp>,
    pub shift: Option<Uuid>,
    pub purpose: Option<String>,
    /// When the last check-in was made: on the server's board, its effective time on the server's
    /// clock (docs/alerts.md); on a device's own board, its device time.
    pub last_checkin: Option<Timestamp>,
    pub next_due: Option<Timestamp>,
    pub planned_end: Option<Timestamp>,
    /// Connected to the live channel now.
    pub online: bool,
    /// Server time the member was last connected (since the server started).
    pub last_seen: Option<Timestamp>,
    /// Who owns the member's open alert, if someone claimed it.
    #[serde(default)]
    pub alert_owner: Option<String>,
}

impl BoardEntry {
    /// A row of the domain's board (in the board's order) with what only the caller knows:
    /// presence. Names and phones come from the team.
    pub fn from_row(r: BoardRow, team: &Team, online: bool, last_seen: Option<Timestamp>) -> Self {
        let alert_owner = r.owner.map(|o| name_of(team, o));
        BoardEntry {
            member: r.member.uuid(),
            phone: team.member(r.member).and_then(|m| m.phone.clone()),
            name: r.name,
            role: r.role,
            status: r.status,
            attention: r.attention,
            alert_since: r.alert_since,
            shift: r.shift.map(|s| s.uuid()),
            purpose: r.purpose,
            last_checkin: r.last_checkin,
            next_due: r.next_due,
            planned_end: r.planned_end,
            online,
            last_seen,
            alert_owner,
        }
    }
}

/// Where a board came from: the server's (current), or this device's own documents (offline).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BoardSource {
    #[default]
    Server,
    Local,
}

/// `GET /v1/board`: the team board, most urgent first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct BoardResponse {
    pub server_time: Timestamp,
    pub team_id: Uuid,
    pub team_name: String,
    pub team_purpose: String,
    pub phone: Option<String>,
    /// Who needs a human now first (`rules::board_key`).
    pub rows: Vec<BoardEntry>,
    /// Unresolved alerts this member may see, with who owns each, in the board's order
    /// (`rules::alert_key`: unowned first, then emergency > overdue > support).
    pub alerts: Vec<AlertView>,
    #[serde(default)]
    pub source: BoardSource,
    /// For a local board: when this device last synced (so staleness is shown).
    #[serde(default)]
    pub synced_at: Option<Timestamp>,
}

/// Where an alert stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Open,
    /// Someone owns it: no further escalation steps.
    Claimed,
    Resolved,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Open => "open",
            AlertState::Claimed => "claimed",
            AlertState::Resolved => "resolved",
        }
    }
}

/// A check-in's three times, shown with the alert it resolved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct CheckinTimes {
    pub checkin: Uuid,
    /// The device's clock when it was made.
    pub device_time: i64,
    /// When the server received it.
    pub received_at: i64,
    /// When it counts as made, on the server clock.
    pub effective_at: i64,
}

/// An alert as the API and the live channel show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct AlertView {
    pub id: Uuid,
    /// missed_checkin | past_planned_end | support | emergency
    pub kind: String,
    pub urgent: bool,
    pub state: AlertState,
    pub team: Uuid,
    pub shift: Uuid,
    pub worker: Uuid,
    pub worker_name: String,
    /// Server clock (ms).
    pub opened_at: i64,
    /// The deadline missed (overdue alerts).
    pub due: Option<i64>,
    pub checkin: Option<Uuid>,
    pub steps_fired: u32,
    /// Who has been notified so far, in order: worker | buddies | leads.
    pub notified: Vec<String>,
    /// When the next escalation step fires, if the alert is open and has one.
    pub next_step_at: Option<i64>,
    pub claimed_by: Option<Uuid>,
    pub claimed_by_name: Option<String>,
    pub claimed_at: Option<i64>,
    pub resolved_at: Option<i64>,
    /// check_in | end | extension | claimer
    pub resolved_by: Option<String>,
    /// The check-in that resolved it, with its device, receipt and effective times.
    pub resolving_checkin: Option<CheckinTimes>,
    /// A check-in that resolved it had been made before the alert opened (it arrived late).
    pub late_checkin: bool,
    pub note: Option<String>,
    /// The worker's phone number, if they gave one.
    #[serde(default)]
    pub worker_phone: Option<String>,
    /// What the worker said: the check-in that raised the alert, else the shift's latest, as this
    /// viewer may see it (note, when, location at the precision they share).
    #[serde(default)]
    pub said: Option<CheckInView>,
    /// What happened, oldest first: opened, steps fired (and who they told), replies sent, claims,
    /// take-overs and assignments, resolution. Filled in by the list and action endpoints (the
    /// live channel's events carry it empty: refresh the list).
    #[serde(default)]
    pub history: Vec<AlertHistoryItem>,
}

impl AlertView {
    /// The alert as the board's rules see it.
    pub fn fact(&self) -> Option<AlertFact> {
        Some(AlertFact {
            shift: ShiftId(self.shift),
            worker: MemberId(self.worker),
            kind: AlertKind::parse(&self.kind)?,
            checkin: self.checkin.map(CheckInId),
            owner: self.claimed_by.map(MemberId),
            opened_at: Timestamp(self.opened_at),
            resolved: self.state == AlertState::Resolved,
        })
    }
}

/// Sorts alerts by the board's rule (`rules::alert_key`): unresolved first, unowned before owned,
/// emergency > overdue > support, the longest waiting first; resolved ones newest first.
pub fn sort_alerts(alerts: &mut [AlertView]) {
    alerts.sort_by_cached_key(|a| {
        let kind = AlertKind::parse(&a.kind).unwrap_or(AlertKind::Emergency);
        let resolved = a.state == AlertState::Resolved;
        (rules::alert_key(kind, a.claimed_by.is_some(), resolved, Timestamp(a.opened_at)), a.id)
    });
}

/// One thing that happened to an alert.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct AlertHistoryItem {
    /// Server clock (ms); for a reply, when the lead wrote it, as its receipt puts it on the server clock.
    pub at: i64,
    pub action: AlertAction,
    /// Who did it (claim, take-over, assignment, reply, resolution by a person).
    pub by_name: Option<String>,
    /// To whom it was assigned, or from whom it was taken over.
    pub to_name: Option<String>,
    /// For a step: who it told, by name (and the group: worker, buddies or leads, in `text`).
    #[serde(default)]
    pub told: Vec<String>,
    /// A reply's text, a resolution's note or outcome, a step's group.
    pub text: Option<String>,
}

/// What happened to an alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AlertAction {
    Opened,
    /// An escalation step fired.
    Step,
    /// A lead or buddy acknowledged the worker's check-in with a reply.
    Reply,
    Claimed,
    /// A lead took over an alert someone else had claimed.
    TakenOver,
    /// A lead gave the alert to a named lead or buddy.
    Assigned,
    Resolved,
}

impl AlertAction {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertAction::Opened => "opened",
            AlertAction::Step => "step",
            AlertAction::Reply => "reply",
            AlertAction::Claimed => "claimed",
            AlertAction::TakenOver => "taken_over",
            AlertAction::Assigned => "assigned",
            AlertAction::Resolved => "resolved",
        }
    }
}

/// The `alert` live event's data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct AlertEvent {
    /// step | claimed | taken_over | assigned | resolved
    pub action: String,
    /// For a step: who it notifies (worker | buddies | leads).
    pub notify: Option<String>,
    pub step: Option<u32>,
    pub alert: AlertView,
}

/// `GET /v1/alerts` answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct AlertList {
    pub server_time: i64,
    /// In the board's order ([`sort_alerts`]): who needs a human now first.
    pub alerts: Vec<AlertView>,
}

/// `POST /v1/alerts/{id}/resolve` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct ResolveRequest {
    /// What happened, e.g. "Phoned her: fine, phone battery died" (1 to 300 characters (code points), one line).
    #[cfg_attr(
        feature = "utoipa",
        schema(
            min_length = 1,
            max_length = 300,
            pattern = r"^[^\u0000-\u001F\u007F-\u009F\u2028\u2029\u202A-\u202E\u2066-\u2069]*[^\s\u0000-\u001F\u007F-\u009F\u2028\u2029\u202A-\u202E\u2066-\u2069][^\u0000-\u001F\u007F-\u009F\u2028\u2029\u202A-\u202E\u2066-\u2069]*$"
        )
    )]
    pub note: String,
}

/// `POST /v1/invites` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct InviteRequest {
    /// `member` or `lead`.
    #[cfg_attr(feature = "utoipa", schema(schema_with = invite_role_schema))]
    pub role: String,
    /// Seconds until the invite expires (default 7 days, at most 90 days).
    #[serde(default = "default_expiry")]
    #[ts(optional, as = "Option<i64>")]
    #[cfg_attr(feature = "utoipa", schema(minimum = 1, maximum = 7776000))]
    pub expires_in_s: u64,
    /// How many devices may join with it (default 1, at most 1000).
    #[serde(default = "default_uses")]
    #[ts(optional, as = "Option<u32>")]
    #[cfg_attr(feature = "utoipa", schema(minimum = 1, maximum = 1000))]
    pub uses: u32,
}

/// The roles an invite can give, for the OpenAPI document.
#[cfg(feature = "utoipa")]
fn invite_role_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(["member", "lead"]))
        .description(Some("`member` or `lead`."))
        .build()
}

impl InviteRequest {
    /// Seconds an invite is valid when the request does not say: 7 days.
    pub const DEFAULT_EXPIRY_S: u64 = 7 * 24 * 3600;
    /// Devices that may join with an invite when the request does not say.
    pub const DEFAULT_USES: u32 = 1;
}

fn default_expiry() -> u64 {
    InviteRequest::DEFAULT_EXPIRY_S
}

fn default_uses() -> u32 {
    InviteRequest::DEFAULT_USES
}

/// A new invite.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct InviteResponse {
    pub code: String,
    /// `kith://join?server=...&code=...`
    pub link: String,
    pub expires_at: i64,
    /// The link as a QR code: a standalone SVG document (black on white), for a phone's camera.
    #[serde(default)]
    pub qr_svg: String,
    /// `member` or `lead`.
    #[serde(default)]
    pub role: String,
    /// How many devices may still join with it.
    #[serde(default)]
    pub uses: u32,
}

/// `POST /v1/shifts/{id}/checkins/{checkin}/ack` body.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct AckRequest {
    /// An optional reply, at most 2,000 characters (code points); line breaks and tabs are the only control characters allowed.
    #[serde(default)]
    #[cfg_attr(
        feature = "utoipa",
        schema(max_length = 2000, pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")
    )]
    pub reply: Option<String>,
}

/// A wave to a teammate: ephemeral (like presence), never written into a document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct Kudos {
    pub from: MemberId,
    pub from_name: String,
    pub to: MemberId,
    pub at: Timestamp,
}

/// `POST /v1/kudos` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct KudosRequest {
    pub to: MemberId,
}

/// One teammate's presence (never stored in a document).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct PresenceView {
    pub member_id: MemberId,
    pub online: bool,
    /// Server clock (ms) when one of their devices was last connected.
    pub last_seen: Option<Timestamp>,
}

/// `GET /v1/health?days=`: the seven protective factors as figures, for me and (leads) the team.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct HealthResponse {
    pub days: i64,
    pub worker: WorkerHealth,
    /// Only for leads.
    pub team: Option<TeamHealth>,
    /// Names for the members in `team`.
    pub members: Vec<MemberRef>,
}

/// The device's remembered choices.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct Settings {
    pub location_precision: LocationPrecision,
    /// Who reads notes by default.
    pub note_visibility: Visibility,
    /// Default buddies for a new shift.
    pub buddies: Vec<MemberId>,
    pub last_purpose: Option<String>,
    pub last_interval_s: Option<i64>,
    pub last_mood: Option<u8>,
    pub last_confidence: Option<u8>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            location_precision: LocationPrecision::None,
            note_visibility: Visibility::Team,
            buddies: vec![],
            last_purpose: None,
            last_interval_s: None,
            last_mood: None,
            last_confidence: None,
        }
    }
}

/// The next local reminder (fires offline).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct ReminderView {
    pub shift: ShiftId,
    pub reason: DueReason,
    pub at_ms: Timestamp,
    pub deadline_ms: Timestamp,
}

/// Everything the app's main screens need, in one call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct AppState {
    pub joined: bool,
    pub me: Option<Me>,
    pub policy: Option<PolicyView>,
    pub team: Vec<MemberRef>,
    /// My running shift.
    pub shift: Option<ShiftView>,
    /// My last ended shift (defaults for the next).
    pub last_shift: Option<ShiftView>,
    pub sync: SyncState,
    pub next_reminder: Option<ReminderView>,
    pub settings: Settings,
    /// The device clock now (ms), so countdowns agree with the engine.
    pub now: Timestamp,
}

/// What a write did: the shift as it is now, and whether the server already has it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct WriteResult {
    pub shift: ShiftView,
    /// `false`: saved on this device, waiting to sync.
    pub shared: bool,
    /// When not shared: why it has not reached the server yet, when that is known (offline, or
    /// the server could not store it now). It stays queued and is sent again automatically.
    #[serde(default)]
    pub queued: Option<String>,
}

/// The app's events' names (Tauri `emit`), so the shell and the UI agree.
pub mod events {
    pub const SYNC: &str = "kith://sync";
    pub const PRESENCE: &str = "kith://presence";
    pub const CHANGED: &str = "kith://changed";
    pub const ALERT: &str = "kith://alert";
    pub const KUDOS: &str = "kith://kudos";
    pub const JOIN_LINK: &str = "kith://join-link";
}

/// `kith://changed` payload (and the server's `changed` SSE event).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct ChangedEvent {
    pub docs: Vec<Uuid>,
    /// Events were missed: refresh everything.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[ts(optional = nullable, as = "Option<bool>")]
    pub all: bool,
}

#[cfg(test)]
mod tests;
