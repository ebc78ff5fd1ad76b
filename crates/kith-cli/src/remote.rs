//! Commands that involve the team server: join, sync, team, ack.

use std::time::Duration;

use serde_json::json;

use kith_domain::doc::shift;
use kith_domain::rules;
use kith_domain::{Ack, AckId, CheckInId, DeviceId, MemberId, Shift, ShiftId, TeamId, Timestamp};
use kith_proto::JoinRequest;
use kith_store::Store;

use crate::cli::{AckArgs, AlertsArgs, AlertsCommand, JoinArgs};
use crate::clock::{relative, rfc3339};
use crate::commands::Ctx;
use crate::error::CliError;
use crate::net::{self, SERVER_KEY, ServerLink, Sharing};
use crate::session::{self, PROFILE_KEY, Profile, SHIFT_KIND, Session};

/// How long `kith sync` waits for the server.
const SYNC_TIMEOUT: Duration = Duration::from_secs(60);

/// Splits `kith://join?server=...&code=...` or `<server> <code>` into (server, code).
pub fn parse_join_target(target: &str, code: Option<&str>) -> Result<(String, String), CliError> {
    if let Some(query) = target.strip_prefix("kith://join?") {
        let url = url::Url::parse(&format!("kith://join/?{query}"))
            .map_err(|_| CliError::Usage(format!("'{target}' is not a valid Kith join link")))?;
        let get = |k: &str| url.query_pairs().find(|(key, _)| key == k).map(|(_, v)| v.into_owned());
        let (Some(server), Some(code)) = (get("server"), get("code")) else {
            return Err(CliError::Usage(
                "a join link needs both server= and code=, like kith://join?server=https://...&code=ABCD-1234".into(),
            ));
        };
        return Ok((server, code));
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
    std::fs::create_dir_all(&cx.dir)
        .map_err(|e| CliError::Data(format!("could not create the data directory {}: {e}", cx.dir.display())))?;
    let mut store = Store::open(session::db_path(&cx.dir))?;
    if let Some(p) = session::read_profile(&store)? {
        return Err(CliError::State(format!(
            "this data directory already has a profile ({}){}. Join with a fresh one: kith --data-dir <new dir> join ...",
            p.name,
            if store.meta_get(SERVER_KEY)?.is_some() { " on a team server" } else { " for offline use" }
        )));
    }
    let client = kith_sync::ServerClient::new(&server, None).map_err(net::sync_err)?;
    let label = a.device_label.clone().unwrap_or_else(|| format!("{name}'s kith"));
    let req = JoinRequest { code, name: name.clone(), device_label: label, actor: store.actor_id().to_hex_string() };
    let resp = net::block_on(client.join(&req))?.map_err(net::sync_err)?;

    let profile = Profile {
        version: 1,
        member_id: MemberId(resp.member_id),
        device_id: DeviceId(resp.device_id),
        team_id: TeamId(resp.team_id),
        name,
        created_at: cx.now,
    };
    let link = ServerLink { url: client.base().to_string(), token: resp.token.clone(), role: resp.role.clone() };
    // The link first: a profile without it would look like an offline profile.
    store.meta_set(SERVER_KEY, &json_string(&link)?)?;
    store.meta_set(PROFILE_KEY, &json_string(&profile)?)?;
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
        "Joined team \"{}\" as {} on {}.\nThis device has its own credential, kept in {}.",
        resp.team_name,
        resp.role,
        link.url,
        cx.dir.display()
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

fn json_string<T: serde::Serialize>(v: &T) -> Result<String, CliError> {
    serde_json::to_string(v).map_err(|e| CliError::Data(format!("could not save: {e}")))
}

fn linked(s: &Session) -> Result<ServerLink, CliError> {
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
    let value = json!({
        "synced_at": rfc3339(cx.now),
        "rounds": r.rounds,
        "pushed_docs": r.pushed_docs,
        "received_docs": r.received.len(),
        "rejected": rejected,
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
    if r.clock_offset_ms.abs() > 60_000 {
        text.push_str(&format!(
            "\nThis device's clock is {} {} the server's; deadlines follow the server's clock.",
            crate::clock::format_duration(kith_domain::Secs(r.clock_offset_ms.abs() / 1000)),
            if r.clock_offset_ms > 0 { "behind" } else { "ahead of" }
        ));
    }
    for (id, _, msg) in &r.rejected {
        text.push_str(&format!("\nRefused by the server: document {id}: {msg}"));
    }
    if pending > 0 {
        text.push_str(&format!("\n{pending} change(s) are still only on this device."));
    }
    let out = cx.emit(&value, &text);
    s.finish();
    out
}

/// The team board: from the server when it answers (everyone's presence and status), else from
/// the documents on this device, saying plainly how old they are.
pub fn team(cx: &mut Ctx<'_>) -> Result<(), CliError> {
    let mut s = Session::open(&cx.dir)?;
    let link = net::server_link(&s)?;
    let mut online_error = None;
    if let Some(link) = &link {
        match net::sync(&mut s, link, net::SHARE_TIMEOUT) {
            Ok(_) => {}
            Err(e) => online_error = Some(e.to_string()),
        }
        if online_error.is_none() {
            match net::block_on(link.client()?.board())? {
                Ok(board) => {
                    let text = server_board_text(cx, &board);
                    let out = cx.emit(&board, &text);
                    s.finish();
                    return out;
                }
                Err(e) => online_error = Some(e.to_string()),
            }
        }
    }
    let team = s.team()?;
    let mut shifts = Vec::new();
    for info in s.store.list_docs(Some(SHIFT_KIND))? {
        if let Ok(sh) = shift::read(s.store.doc(info.id)?) {
            shifts.push(sh);
        }
    }
    let board = rules::board(&team, &shifts, cx.now);
    let last_synced = kith_sync::engine::last_synced_ms(&s.store).map_err(net::sync_err)?.map(Timestamp);
    let value = json!({
        "source": "device",
        "team_id": team.id.to_string(),
        "team_name": team.name,
        "now": rfc3339(cx.now),
        "last_synced": last_synced.map(rfc3339),
        "offline_reason": online_error,
        "rows": board,
    });
    let mut text = format!("Team \"{}\"", team.name);
    match (&link, last_synced) {
        (None, _) => text.push_str(" (this device only: not joined to a team server)\n"),
        (Some(_), Some(t)) => {
            text.push_str(&format!(" (offline: as last synced at {}, {})\n", cx.clock(t), relative(t, cx.now)))
        }
        (Some(_), None) => text.push_str(" (offline: never synced)\n"),
    }
    for row in &board {
        text.push_str(&format!(
            "  {:<10} {:<20} {}{}\n",
            format!("{:?}", row.status).to_uppercase(),
            row.name,
            row.purpose.as_deref().map(|p| format!("\"{p}\"")).unwrap_or_default(),
            row.next_due.map(|d| format!("  next due {}", cx.clock(d))).unwrap_or_default()
        ));
    }
    let out = cx.emit(&value, &text);
    s.finish();
    out
}

fn server_board_text(cx: &Ctx<'_>, board: &serde_json::Value) -> String {
    let mut text =
        format!("Team \"{}\" (live from the server)\n", board.get("team_name").and_then(|v| v.as_str()).unwrap_or("?"));
    let rows = board.get("rows").and_then(|v| v.as_array()).cloned().unwrap_or_default();
    for row in rows {
        let s = |k: &str| row.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
        let t = |k: &str| row.get(k).and_then(serde_json::Value::as_i64).map(|ms| cx.clock(Timestamp(ms)));
        let online = row.get("online").and_then(serde_json::Value::as_bool).unwrap_or(false);
        text.push_str(&format!(
            "  {:<10} {:<20} {}{}{}{}\n",
            s("status").to_uppercase(),
            s("name"),
            if s("purpose").is_empty() { String::new() } else { format!("\"{}\"", s("purpose")) },
            t("last_checkin").map(|c| format!("  last check-in {c}")).unwrap_or_default(),
            t("next_due").map(|c| format!("  next due {c}")).unwrap_or_default(),
            if online { "  (online)" } else { "" }
        ));
    }
    let alerts = board.get("alerts").and_then(|v| v.as_array()).cloned().unwrap_or_default();
    if !alerts.is_empty() {
        text.push_str("Alerts:\n");
        for a in &alerts {
            text.push_str(&alert_line(cx, a));
        }
    }
    text
}

/// One alert on one line: what, about whom, since when, who was told, who owns it.
fn alert_line(cx: &Ctx<'_>, a: &serde_json::Value) -> String {
    let s = |k: &str| a.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
    let t = |k: &str| a.get(k).and_then(serde_json::Value::as_i64).map(|ms| cx.clock(Timestamp(ms)));
    let kind = match s("kind").as_str() {
        "missed_checkin" => "MISSED CHECK-IN",
        "past_planned_end" => "PAST PLANNED END",
        "support" => "SUPPORT REQUESTED",
        "emergency" => "EMERGENCY",
        _ => "ALERT",
    };
    let notified: Vec<String> = a
        .get("notified")
        .and_then(|v| v.as_array())
        .map(|v| v.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let owner = match s("state").as_str() {
        "claimed" => format!("claimed by {}", s("claimed_by_name")),
        "resolved" => format!(
            "resolved ({}){}",
            s("resolved_by").replace('_', "-"),
            a.get("note").and_then(|v| v.as_str()).map(|n| format!(": \"{n}\"")).unwrap_or_default()
        ),
        _ => "OPEN: nobody owns it yet".into(),
    };
    let late = if a.get("late_checkin").and_then(serde_json::Value::as_bool) == Some(true) {
        a.get("resolving_checkin")
            .map(|c| {
                let ct = |k: &str| c.get(k).and_then(serde_json::Value::as_i64).map(|ms| cx.clock(Timestamp(ms)));
                format!(
                    "  (late check-in: made {} on the device, received {})",
                    ct("device_time").unwrap_or_default(),
                    ct("received_at").unwrap_or_default()
                )
            })
            .unwrap_or_default()
    } else {
        String::new()
    };
    format!(
        "  {:<18} {:<16} since {}  notified: {}  {}{}\n    id {}\n",
        kind,
        s("worker_name"),
        t("opened_at").unwrap_or_default(),
        if notified.is_empty() { "nobody yet".to_string() } else { notified.join(", ") },
        owner,
        late,
        s("id")
    )
}

/// `kith alerts [list|claim <id>|resolve <id> --note ...]`: always online (alerts live on the
/// server, which owns every deadline).
pub fn alerts(cx: &mut Ctx<'_>, a: &AlertsArgs) -> Result<(), CliError> {
    let s = Session::open(&cx.dir)?;
    let link = linked(&s)?;
    let client = link.client()?;
    let (value, text) = match &a.action {
        None | Some(AlertsCommand::List) => {
            let v = net::block_on(client.alerts(a.all))?.map_err(net::sync_err)?;
            let list = v.get("alerts").and_then(|x| x.as_array()).cloned().unwrap_or_default();
            let mut text = if list.is_empty() {
                format!("No {}alerts.\n", if a.all { "" } else { "open " })
            } else {
                format!("{} alert(s), newest first:\n", list.len())
            };
            for al in &list {
                text.push_str(&alert_line(cx, al));
            }
            if !list.is_empty() && !a.all {
                text.push_str("Claim one with: kith alerts claim <id>\n");
            }
            (v, text)
        }
        Some(AlertsCommand::Claim { id }) => {
            let v = net::block_on(client.claim_alert(*id))?.map_err(net::sync_err)?;
            let text = format!(
                "You own this alert now; everyone sees that, and it escalates no further.\n{}When it is dealt with: kith alerts resolve {id} --note \"...\"\n",
                alert_line(cx, &v)
            );
            (v, text)
        }
        Some(AlertsCommand::Resolve { id, note }) => {
            let v = net::block_on(client.resolve_alert(*id, note))?.map_err(net::sync_err)?;
            let text = format!("Resolved.\n{}", alert_line(cx, &v));
            (v, text)
        }
    };
    let out = cx.emit(&value, &text);
    s.finish();
    out
}

pub fn ack(cx: &mut Ctx<'_>, a: &AckArgs) -> Result<(), CliError> {
    let mut s = Session::open(&cx.dir)?;
    let link = linked(&s)?;
    if !link.is_lead() {
        return Err(CliError::State("only leads acknowledge check-ins; you joined as a member".into()));
    }
    let (shift_id, worker) = find_checkin(&mut s, a.checkin)?.ok_or_else(|| {
        CliError::State(format!(
            "no check-in {} on this device: run kith sync, then check the id with kith team --json",
            a.checkin
        ))
    })?;
    if let Some(r) = &a.reply {
        kith_domain::check_line("reply", r)?;
    }
    let ack = Ack { id: AckId::new(), checkin: a.checkin, by: s.me(), at: cx.now, reply: a.reply.clone() };
    s.store.change_doc(shift_id.uuid(), |tx| shift::add_ack(tx, &ack).map_err(CliError::from))?;
    let sharing = net::share(&mut s, cx.now);
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

fn find_checkin(s: &mut Session, id: CheckInId) -> Result<Option<(ShiftId, MemberId)>, CliError> {
    for info in s.store.list_docs(Some(SHIFT_KIND))? {
        let Ok(sh) = shift::read(s.store.doc(info.id)?) else { continue };
        let sh: Shift = sh;
        if sh.checkin(id).is_some() {
            return Ok(Some((sh.id, sh.worker)));
        }
    }
    Ok(None)
}

/// Used by the writing commands: the sharing state after a local change.
pub fn share_after_write(s: &mut Session, now: Timestamp) -> Sharing {
    net::share(s, now)
}
