//! Commands that involve the team server: join, sync, team, ack.

use std::time::Duration;

use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use kith_api::{AlertState, AlertView, AssignRequest, ResolveRequest};
use kith_domain::rules;
use kith_domain::rules::BoardStatus;
use kith_domain::{CheckInStatus, MemberId, Shift, Team, Timestamp};
use kith_proto::JoinRequest;
use kith_sync::Method;

use crate::cli::{AckArgs, AlertsArgs, AlertsCommand, JoinArgs};
use crate::clock::{relative, rfc3339};
use crate::commands::Ctx;
use crate::error::CliError;
use crate::net::{self, ServerLink, Sharing};
use crate::session::Session;
use crate::view::{self, foreign};

/// How long `kith sync` waits for the server.
const SYNC_TIMEOUT: Duration = Duration::from_secs(60);

/// Splits `kith://join?server=...&code=...` or `<server> <code>` into (server, code).
pub fn parse_join_target(target: &str, code: Option<&str>) -> Result<(String, String), CliError> {
    if target.trim().starts_with("kith://") {
        return Ok(kith_client::local::parse_join_link(target)?);
    }
    let code = code.ok_or_else(|| {
        CliError::Usage("give the invite code after the server address: kith join <server> <code>".into())
    })?;
    Ok((target.to_string(), code.trim().to_string()))
}

pub fn join(cx: &mut Ctx<'_>, a: &JoinArgs) -> Result<(), CliError> {
    let (server, code) = parse_join_target(&a.target, a.code.as_deref())?;
    let name = a.name.trim().to_string();
    kith_domain::check_line("name", &name)?;
    if name.is_empty() {
        return Err(CliError::Usage("your name cannot be empty: --name \"Alice\"".into()));
    }
    // The address first (plain HTTP is refused): a refused join leaves nothing behind.
    let client = kith_sync::ServerClient::new(&server, None).map_err(net::sync_err)?;
    std::fs::create_dir_all(&cx.dir)
        .map_err(|e| CliError::Data(format!("could not create the data directory {}: {e}", cx.dir.display())))?;
    // Joined already: only a re-join to the same server (which forgot this device) goes on.
    let (mut store, rejoin) = kith_client::local::open_for_join_or_rejoin(&cx.dir, client.base().as_str())?;
    let label = a.device_label.clone().unwrap_or_else(|| format!("{name}'s kith"));
    let req =
        JoinRequest { code, name: name.clone(), device_label: label, actor: store.actor_id().to_hex_string(), rejoin };
    let joined = match net::block_on(client.join(&req))? {
        Ok(r) => Ok(r),
        // A refused re-join: the server still knows this device, so it stays as it is.
        Err(e) => Err(kith_client::local::rejoin_refused(e, &store)?),
    };
    let resp = joined.map_err(|e| match e {
        // The server's message says what is wrong with the invite and what to do.
        kith_sync::SyncError::Unauthorized { message, .. }
        | kith_sync::SyncError::Server { message, retryable: false, .. } => {
            CliError::Remote(format!("could not join: {message}"))
        }
        other => net::sync_err(other),
    })?;

    let keep = kith_client::credential::Keep::from_env();
    let (profile, link) =
        kith_client::local::save_join(&mut store, client.base().as_str(), &resp, &name, cx.now, keep)?;
    let mut s = Session { store, profile, dir: cx.dir.clone() };
    let synced = net::sync(&mut s, &link, SYNC_TIMEOUT);
    let value = json!({
        "team_id": resp.team_id.to_string(),
        "team_name": resp.team_name,
        "member_id": resp.member_id.to_string(),
        "device_id": resp.device_id.to_string(),
        "role": resp.role,
        "server": link.url,
        "synced": synced.is_ok(),
    });
    let mut text = format!(
        "Joined team \"{}\" as {} on {}.\nThis device has its own credential, kept {}.",
        foreign(&resp.team_name),
        foreign(&resp.role),
        link.url,
        credential_place(&cx.dir)
    );
    match &synced {
        Ok(r) => text.push_str(&format!("\nSynced: {} document(s) received.", r.received.len())),
        Err(e) => text.push_str(&format!("\nNot synced yet ({e}); run kith sync when online.")),
    }
    text.push_str("\nStart a shift with: kith shift start --purpose \"...\" --until 17:30");
    let out = cx.emit(&value, &text);
    s.finish();
    out
}

/// Where joining kept the credential, in words.
fn credential_place(dir: &std::path::Path) -> String {
    let file = kith_client::credential::file_path(dir);
    if file.exists() {
        format!("in {} (readable by you only)", file.display())
    } else {
        "in your system keychain".to_string()
    }
}

pub(crate) fn linked(s: &Session) -> Result<ServerLink, CliError> {
    net::server_link(s)?.ok_or_else(|| {
        CliError::State(
            "this device has not joined a team server: run kith join <server> <invite code> (with a fresh --data-dir \
             if this one holds an offline profile)"
                .into(),
        )
    })
}

pub fn sync(cx: &mut Ctx<'_>) -> Result<(), CliError> {
    let mut s = Session::open(&cx.dir)?;
    let link = linked(&s)?;
    let r = net::sync(&mut s, &link, SYNC_TIMEOUT)?;
    let pending = s.unsynced_changes()?;
    let rejected: Vec<_> = r
        .rejected
        .iter()
        .map(|(id, code, msg)| json!({"doc_id": id.to_string(), "code": code, "message": msg}))
        .collect();
    let retrying: Vec<_> = r
        .retrying
        .iter()
        .map(|(id, code, msg)| json!({"doc_id": id.to_string(), "code": code, "message": msg}))
        .collect();
    let value = json!({
        "synced_at": rfc3339(cx.now),
        "rounds": r.rounds,
        "pushed_docs": r.pushed_docs,
        "received_docs": r.received.len(),
        "rejected": rejected,
        "retrying": retrying,
        "clock_offset_ms": r.clock_offset_ms,
        "unsynced_changes": pending,
    });
    let mut text = format!(
        "Synced with {} at {}: sent {} document(s), received {} in {} round trip(s).",
        link.url,
        cx.clock(cx.now),
        r.pushed_docs,
        r.received.len(),
        r.rounds
    );
    if r.clock_offset_ms.unsigned_abs() > 60_000 {
        let secs = i64::try_from(r.clock_offset_ms.unsigned_abs() / 1000).unwrap_or(i64::MAX);
        text.push_str(&format!(
            "\nThis device's clock is {} {} the server's; deadlines follow the server's clock.",
            crate::clock::format_duration(kith_domain::Secs(secs)),
            if r.clock_offset_ms > 0 { "behind" } else { "ahead of" }
        ));
    }
    for (id, _, msg) in &r.rejected {
        text.push_str(&format!("\nRefused by the server: document {id}: {msg}"));
    }
    if let Some(why) = r.retrying_text() {
        text.push_str(&format!(
            "\nNot delivered yet: {why}. Kept on this device; it is sent again at the next sync (kith sync)."
        ));
    }
    if pending > 0 {
        text.push_str(&format!("\n{pending} change(s) are still only on this device."));
    }
    let out = cx.emit(&value, &text);
    s.finish();
    out
}

/// Words for a board status, the same on the live and the offline board.
pub fn board_status_words(s: BoardStatus) -> &'static str {
    match s {
        BoardStatus::Emergency => "EMERGENCY",
        BoardStatus::Support => "SUPPORT",
        BoardStatus::Overdue => "OVERDUE",
        BoardStatus::DueSoon => "DUE SOON",
        BoardStatus::Fine => "FINE",
        BoardStatus::OffShift => "OFF SHIFT",
    }
}

/// A check-in nobody has acknowledged yet, for the lead to answer with `kith ack`.
#[derive(Clone, Debug, Serialize)]
struct Awaiting {
    checkin_id: String,
    shift_id: String,
    worker_id: String,
    worker: String,
    status: CheckInStatus,
    at: String,
    #[serde(skip)]
    at_ts: Timestamp,
    note: Option<String>,
}

/// The shift documents on this device (unreadable ones left out).
fn local_shifts(s: &mut Session) -> Result<Vec<Shift>, CliError> {
    Ok(kith_client::local::all_shifts(&mut s.store, &mut |_| {})?)
}

/// Check-ins of teammates' current shifts that wait for a reply: every unacknowledged support
/// request or emergency, and the last check-in if unacknowledged. Most urgent first.
fn awaiting_reply(team: &Team, shifts: &[Shift], me: MemberId) -> Vec<Awaiting> {
    let mut out = Vec::new();
    for m in team.members.iter().filter(|m| m.id != me) {
        let Some(sh) = rules::current_shift(m.id, shifts).filter(|sh| sh.is_active()) else { continue };
        let last = sh.last_checkin().map(|c| c.id);
        for c in &sh.checkins {
            let acked = sh.acks.iter().any(|a| a.checkin == c.id);
            if acked || (c.status == CheckInStatus::Ok && Some(c.id) != last) {
                continue;
            }
            out.push(Awaiting {
                checkin_id: c.id.to_string(),
                shift_id: sh.id.to_string(),
                worker_id: m.id.to_string(),
                worker: m.name.clone(),
                status: c.status,
                at: rfc3339(c.device_time),
                at_ts: c.device_time,
                note: c.note.as_ref().map(|n| n.text.clone()),
            });
        }
    }
    let rank = |s: CheckInStatus| match s {
        CheckInStatus::Emergency => 0,
        CheckInStatus::Support => 1,
        CheckInStatus::Ok => 2,
    };
    out.sort_by_key(|a| (rank(a.status), a.at_ts));
    out
}

/// The id of a shift's last check-in and whether it was acknowledged (when this device holds
/// the shift).
fn last_checkin_facts(shifts: &[Shift], shift: Option<Uuid>) -> (Option<String>, Option<bool>) {
    let Some(sh) = shift.and_then(|id| shifts.iter().find(|s| s.id.uuid() == id)) else { return (None, None) };
    match sh.last_checkin() {
        Some(c) => (Some(c.id.to_string()), Some(sh.acks.iter().any(|a| a.checkin == c.id))),
        None => (None, None),
    }
}

/// One line of the board, live or offline.
struct Line<'a> {
    status: BoardStatus,
    name: &'a str,
    purpose: Option<&'a str>,
    last_checkin: Option<Timestamp>,
    next_due: Option<Timestamp>,
    online: Option<bool>,
}

fn board_line(cx: &Ctx<'_>, l: &Line<'_>) -> String {
    let mut t = format!("  {:<10} {:<20}", board_status_words(l.status), foreign(l.name));
    if let Some(p) = l.purpose.filter(|p| !p.is_empty()) {
        t.push_str(&format!(" \"{}\"", foreign(p)));
    }
    if let Some(c) = l.last_checkin {
        t.push_str(&format!("  last check-in {}", cx.clock(c)));
    }
    if let Some(d) = l.next_due {
        t.push_str(&format!("  next due {}", cx.clock(d)));
    }
    if l.online == Some(true) {
        t.push_str("  (online)");
    }
    let mut t = t.trim_end().to_string();
    t.push('\n');
    t
}

fn awaiting_text(cx: &Ctx<'_>, awaiting: &[Awaiting]) -> String {
    if awaiting.is_empty() {
        return String::new();
    }
    let mut t = String::from("Waiting for a reply (kith ack <check-in id> --reply \"...\"):\n");
    for a in awaiting {
        t.push_str(&format!(
            "  {:<20} {} at {}{}\n    kith ack {}\n",
            foreign(&a.worker),
            view::status_words(a.status),
            cx.clock(a.at_ts),
            a.note.as_deref().map(|n| format!(": \"{}\"", foreign(n))).unwrap_or_default(),
            a.checkin_id
        ));
    }
    t
}

/// The team board: from the server when it answers (everyone's presence and status), else from
/// the documents on this device, saying plainly how old they are.
pub fn team(cx: &mut Ctx<'_>) -> Result<(), CliError> {
    let mut s = Session::open(&cx.dir)?;
    let link = net::server_link(&s)?;
    let mut online_error = None;
    let mut live = None;
    if let Some(link) = &link {
        match net::sync(&mut s, link, net::SHARE_TIMEOUT) {
            Ok(_) => match net::block_on(link.client()?.board())? {
                Ok(b) => live = Some(b),
                Err(e @ kith_sync::SyncError::Protocol(_)) => {
                    online_error = Some(format!(
                        "the team server sent a board this version of Kith cannot read ({e}); update Kith"
                    ))
                }
                Err(e) => online_error = Some(net::sync_err(e).to_string()),
            },
            Err(e) => online_error = Some(e.to_string()),
        }
    }
    let team = s.team()?;
    let me = s.me();
    let is_lead = is_lead(&team, me, link.as_ref());
    let shifts = local_shifts(&mut s)?;
    let awaiting = awaiting_reply(&team, &shifts, me);
    let last_synced = kith_sync::engine::last_synced_ms(&s.store).map_err(net::sync_err)?.map(Timestamp);

    let (value, mut text) = if let Some(b) = live {
        let rows: Vec<serde_json::Value> = b
            .rows
            .iter()
            .map(|r| {
                let mut v = serde_json::to_value(r).unwrap_or_default();
                let (id, acked) = last_checkin_facts(&shifts, r.shift);
                v["last_checkin_id"] = json!(id);
                v["last_checkin_acknowledged"] = json!(acked);
                v
            })
            .collect();
        let value = json!({
            "source": "server",
            "server_time": b.server_time,
            "team_id": b.team_id.to_string(),
            "team_name": b.team_name,
            "team_purpose": b.team_purpose,
            "phone": b.phone,
            "now": rfc3339(cx.now),
            "last_synced": last_synced.map(rfc3339),
            "rows": rows,
            "alerts": b.alerts,
            "awaiting_reply": awaiting,
        });
        let mut text = format!("Team \"{}\" (live from the server at {})\n", foreign(&b.team_name), cx.clock(cx.now));
        if !b.team_purpose.is_empty() {
            text.push_str(&format!("Our purpose: {}\n", foreign(&b.team_purpose)));
        }
        for r in &b.rows {
            text.push_str(&board_line(
                cx,
                &Line {
                    status: r.status,
                    name: &r.name,
                    purpose: r.purpose.as_deref(),
                    last_checkin: r.last_checkin,
                    next_due: r.next_due,
                    online: Some(r.online),
                },
            ));
        }
        text.push_str(&alerts_text(cx, &b.alerts));
        (value, text)
    } else {
        let board = rules::board(&team, &shifts, cx.now);
        let rows: Vec<serde_json::Value> = board
            .iter()
            .map(|r| {
                let mut v = serde_json::to_value(r).unwrap_or_default();
                let (id, acked) = last_checkin_facts(&shifts, r.shift.map(|s| s.uuid()));
                v["last_checkin_id"] = json!(id);
                v["last_checkin_acknowledged"] = json!(acked);
                v
            })
            .collect();
        let value = json!({
            "source": "device",
            "team_id": team.id.to_string(),
            "team_name": team.name,
            "now": rfc3339(cx.now),
            "last_synced": last_synced.map(rfc3339),
            "offline_reason": online_error,
            "rows": rows,
            "awaiting_reply": awaiting,
        });
        let mut text = format!("Team \"{}\"", foreign(&team.name));
        match (&link, last_synced) {
            (None, _) => text.push_str(" (this device only: not joined to a team server)\n"),
            (Some(_), Some(t)) => {
                text.push_str(&format!(" (offline: as last synced at {}, {})\n", cx.clock(t), relative(t, cx.now)))
            }
            (Some(_), None) => text.push_str(" (offline: never synced)\n"),
        }
        if let Some(why) = &online_error {
            text.push_str(&format!("Not live: {}.\n", net::short(why).trim_end_matches('.')));
        }
        for r in &board {
            text.push_str(&board_line(
                cx,
                &Line {
                    status: r.status,
                    name: &r.name,
                    purpose: r.purpose.as_deref(),
                    last_checkin: r.last_checkin,
                    next_due: r.next_due,
                    online: None,
                },
            ));
        }
        (value, text)
    };
    if is_lead {
        text.push_str(&awaiting_text(cx, &awaiting));
    }
    let out = cx.emit(&value, &text);
    s.finish();
    out
}

/// An answer as the JSON the command prints.
fn json_of<T: Serialize>(v: &T) -> Result<serde_json::Value, CliError> {
    serde_json::to_value(v).map_err(|e| CliError::Data(format!("could not write JSON output: {e}")))
}

/// Whether this device's member may acknowledge (see [`kith_client::local::is_lead`]).
fn is_lead(team: &Team, me: MemberId, link: Option<&ServerLink>) -> bool {
    kith_client::local::is_lead(team, me, link)
}

/// The open alerts under the live board, with who owns each.
fn alerts_text(cx: &Ctx<'_>, alerts: &[AlertView]) -> String {
    let mut text = String::new();
    if !alerts.is_empty() {
        text.push_str("Alerts:\n");
        for a in alerts {
            text.push_str(&alert_line(cx, a));
        }
    }
    text
}

/// One alert on one line: what, about whom, since when, who was told, who owns it.
pub(crate) fn alert_line(cx: &Ctx<'_>, a: &AlertView) -> String {
    let kind = match a.kind.as_str() {
        "missed_checkin" => "MISSED CHECK-IN",
        "past_planned_end" => "PAST PLANNED END",
        "support" => "SUPPORT REQUESTED",
        "emergency" => "EMERGENCY",
        _ => "ALERT",
    };
    let owner = match a.state {
        AlertState::Claimed => format!("claimed by {}", foreign(a.claimed_by_name.as_deref().unwrap_or_default())),
        AlertState::Resolved => format!(
            "resolved ({}){}",
            foreign(&a.resolved_by.as_deref().unwrap_or_default().replace('_', "-")),
            a.note.as_deref().map(|n| format!(": \"{}\"", foreign(n))).unwrap_or_default()
        ),
        AlertState::Open => "OPEN: nobody owns it yet".into(),
    };
    let late = match (&a.resolving_checkin, a.late_checkin) {
        (Some(c), true) => format!(
            "  (late check-in: made {} on the device, received {})",
            cx.clock(Timestamp(c.device_time)),
            cx.clock(Timestamp(c.received_at))
        ),
        _ => String::new(),
    };
    format!(
        "  {:<18} {:<16} since {}  notified: {}  {}{}\n    id {}\n",
        kind,
        foreign(&a.worker_name),
        cx.clock(Timestamp(a.opened_at)),
        if a.notified.is_empty() { "nobody yet".to_string() } else { foreign(&a.notified.join(", ")).to_string() },
        owner,
        late,
        a.id
    )
}

/// `kith alerts [list|claim <id>|resolve <id> --note ...]`: always online (alerts live on the
/// server, which owns every deadline).
pub fn alerts(cx: &mut Ctx<'_>, a: &AlertsArgs) -> Result<(), CliError> {
    let mut s = Session::open(&cx.dir)?;
    let link = linked(&s)?;
    let client = link.client()?;
    let (value, text) = match &a.action {
        None | Some(AlertsCommand::List) => {
            let v = net::block_on(client.alerts(a.all))?.map_err(net::sync_err)?;
            let list = &v.alerts;
            let mut text = if list.is_empty() {
                format!("No {}alerts.\n", if a.all { "" } else { "open " })
            } else {
                format!("{} alert(s), who needs a human first:\n", list.len())
            };
            for al in list {
                text.push_str(&alert_line(cx, al));
            }
            if !list.is_empty() && !a.all {
                text.push_str("Claim one with: kith alerts claim <id>\n");
            }
            (json_of(&v)?, text)
        }
        Some(AlertsCommand::Claim { id }) => {
            let v = net::block_on(client.claim_alert(*id))?.map_err(net::sync_err)?;
            let text = format!(
                "You own this alert now; everyone sees that, and it escalates no further.\n{}When it is dealt with: kith alerts resolve {id} --note \"...\"\n",
                alert_line(cx, &v)
            );
            (json_of(&v)?, text)
        }
        Some(AlertsCommand::Resolve { id, note }) => {
            let req = ResolveRequest { note: note.clone() };
            let v = net::block_on(client.resolve_alert(*id, &req))?.map_err(net::sync_err)?;
            let text = format!("Resolved.\n{}", alert_line(cx, &v));
            (json_of(&v)?, text)
        }
        Some(AlertsCommand::Takeover { id }) => {
            let path = format!("v1/alerts/{id}/takeover");
            let v: AlertView =
                net::block_on(client.request(Method::POST, &path, None::<&()>))?.map_err(net::sync_err)?;
            let text = format!("You own this alert now; everyone concerned sees that.\n{}", alert_line(cx, &v));
            (json_of(&v)?, text)
        }
        Some(AlertsCommand::Assign { id, to }) => {
            let team = kith_client::local::team(&mut s.store, &s.profile)?;
            let member = kith_client::local::find_member(&team, s.profile.member_id, to)?;
            let path = format!("v1/alerts/{id}/assign");
            let body = AssignRequest { member };
            let v: AlertView =
                net::block_on(client.request(Method::POST, &path, Some(&body)))?.map_err(net::sync_err)?;
            let text = format!(
                "Given to {}; everyone concerned sees that.\n{}",
                foreign(v.claimed_by_name.as_deref().unwrap_or("them")),
                alert_line(cx, &v)
            );
            (json_of(&v)?, text)
        }
    };
    let out = cx.emit(&value, &text);
    s.finish();
    out
}

pub fn ack(cx: &mut Ctx<'_>, a: &AckArgs) -> Result<(), CliError> {
    let mut s = Session::open(&cx.dir)?;
    let link = linked(&s)?;
    kith_client::local::check_may_ack(&mut s.store, &s.profile, Some(&link))?;
    let mut found = kith_client::local::find_checkin(&mut s.store, a.checkin)?;
    if found.is_none() {
        // Perhaps it has not arrived yet: fetch, briefly, then look again.
        let _ = net::sync(&mut s, &link, net::SHARE_TIMEOUT);
        found = kith_client::local::find_checkin(&mut s.store, a.checkin)?;
    }
    let (shift_id, worker) =
        found.ok_or(kith_client::ClientError::op(kith_client::OpError::CheckInNotFound(a.checkin)))?;
    let ack = kith_client::local::ack(&mut s.store, &s.profile, shift_id, a.checkin, a.reply.as_deref(), cx.now)?;
    let sharing = net::share(&mut s, shift_id.uuid(), cx.now);
    let value = json!({
        "ack_id": ack.id.to_string(),
        "checkin_id": a.checkin.to_string(),
        "shift_id": shift_id.to_string(),
        "worker_id": worker.to_string(),
        "reply": a.reply,
        "saved_at": rfc3339(cx.now),
        "sharing": sharing.json(),
        "shared": sharing.shared(),
    });
    let text = format!(
        "Acknowledged{}.\nSaved on this device at {}. {}",
        a.reply.as_deref().map(|r| format!(" with \"{r}\"")).unwrap_or_default(),
        cx.clock(cx.now),
        sharing.line(|t| cx.clock(t))
    );
    let out = cx.emit(&value, &text);
    s.finish();
    out
}

/// Used by the writing commands: the sharing state after a local change to document `doc`.
pub fn share_after_write(s: &mut Session, doc: Uuid, now: Timestamp) -> Sharing {
    net::share(s, doc, now)
}
