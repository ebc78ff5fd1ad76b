//! The team loop over a real server: a lead and a worker join (one with server and code, one with
//! a kith://join link), the worker's shift and check-in are shared at once, the lead sees the
//! worker on `kith team` (sentences and JSON agree) and acknowledges with a reply, and the worker
//! sees the reply after `kith sync`.

use crate::with_server;

use with_server::Team;

#[test]
fn a_checkin_reaches_the_lead_and_the_reply_reaches_the_worker() {
    let t = Team::new();
    assert_eq!(t.lead_join["role"], "lead");
    assert_eq!(t.lead_join["team_name"], "North estate");
    assert_eq!(t.worker_join["role"], "member");
    assert_eq!(t.worker_join["team_id"], t.lead_join["team_id"]);
    assert_eq!(t.worker_join["synced"], true);

    let started = t.worker.ok(&["shift", "start", "--purpose", "Meter readings", "--until", "+8h", "--every", "1h"]);
    assert!(started.contains("Shared with your team at "), "{started}");

    let human = t.worker.ok(&["checkin", "ok", "--mood", "4", "--note", "First block done"]);
    assert!(human.contains("Shared with your team at "), "{human}");
    assert!(!human.contains("Not yet shared"), "{human}");
    let ci = t.worker.json(&["checkin", "support", "--note", "Dog loose at no. 14"]);
    assert_eq!(ci["shared"], true, "{ci}");
    assert_eq!(ci["sharing"]["shared"], true, "{ci}");
    let checkin = ci["checkin"]["id"].as_str().expect("a check-in id").to_string();
    let status = t.worker.json(&["status"]);
    assert_eq!(status["unsynced_changes"], 0, "{status}");
    assert_eq!(status["server"]["url"].as_str().map(|u| u.trim_end_matches('/')), Some(t.server.url.as_str()));

    // The lead's board, from the server: the worker asked for support, so they come first.
    let board = t.lead.json(&["team"]);
    assert_eq!(board["source"], "server", "{board}");
    assert_eq!(board["team_name"], "North estate");
    let rows = board["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 2, "{board}");
    assert_eq!(rows[0]["name"], "Alice Field");
    assert_eq!(rows[0]["status"], "support");
    assert_eq!(rows[0]["purpose"], "Meter readings");
    assert!(rows[0]["last_checkin"].is_i64() && rows[0]["next_due"].is_i64(), "{board}");
    assert_eq!(rows[0]["last_checkin_id"], checkin.as_str());
    assert_eq!(rows[1]["name"], "Lee Lead");
    assert_eq!(rows[1]["status"], "off_shift");
    assert_eq!(board["awaiting_reply"][0]["checkin_id"], checkin.as_str(), "{board}");

    // The sentences say the same as the JSON, row by row, in the same order.
    let text = t.lead.ok(&["team"]);
    assert!(text.starts_with("Team \"North estate\""), "{text}");
    assert!(text.contains("live from the server"), "{text}");
    let alice = text.lines().position(|l| l.contains("Alice Field")).expect("Alice on the board");
    let lee = text.lines().position(|l| l.contains("Lee Lead")).expect("Lee on the board");
    assert!(alice < lee, "most urgent first: {text}");
    let alice_line = text.lines().nth(alice).unwrap_or_default();
    assert!(alice_line.contains("SUPPORT"), "{text}");
    assert!(alice_line.contains("\"Meter readings\""), "{text}");
    assert!(alice_line.contains("last check-in"), "{text}");
    assert!(alice_line.contains("next due"), "{text}");
    assert!(text.lines().nth(lee).unwrap_or_default().contains("OFF SHIFT"), "{text}");
    assert!(text.contains(&format!("kith ack {checkin}")), "the lead is told how to reply: {text}");

    // A member sees the same live board, without the leads' list of what to answer.
    let member_view = t.worker.ok(&["team"]);
    assert!(member_view.contains("live from the server"), "{member_view}");
    assert!(member_view.contains("Lee Lead"), "{member_view}");
    assert!(!member_view.contains("Waiting for a reply"), "{member_view}");

    let ack = t.lead.ok(&["ack", &checkin, "--reply", "Seen, thanks"]);
    assert!(ack.contains("Acknowledged with \"Seen, thanks\""), "{ack}");
    assert!(ack.contains("Shared with your team at "), "{ack}");

    let synced = t.worker.ok(&["sync"]);
    assert!(synced.contains("Synced with"), "{synced}");
    let log = t.worker.ok(&["log"]);
    assert!(log.contains("seen by Lee Lead: \"Seen, thanks\""), "{log}");
    let log = t.worker.json(&["log"]);
    assert_eq!(log["shifts"][0]["acks"][0]["reply"], "Seen, thanks");
    assert_eq!(log["shifts"][0]["acks"][0]["checkin_id"], checkin.as_str());

    // Answered: nothing waits for a reply, but a reply is not the end of a request for support:
    // it stays on the board until its alert is dealt with.
    let board = t.lead.json(&["team"]);
    assert_eq!(board["rows"][0]["name"], "Alice Field");
    assert_eq!(board["rows"][0]["status"], "support", "{board}");
    assert_eq!(board["awaiting_reply"], serde_json::json!([]), "{board}");
    let id = board["alerts"][0]["id"].as_str().expect("the support alert").to_string();
    t.lead.ok(&["alerts", "claim", &id]);
    t.lead.ok(&["alerts", "resolve", &id, "--note", "Called her, sorted"]);
    let board = t.lead.json(&["team"]);
    assert_eq!(board["rows"][0]["status"], "fine", "{board}");
}

#[test]
fn the_cli_reads_the_board_the_server_sends() {
    // Field by field: what `GET /v1/board` serialises is what `kith team` parses.
    let t = Team::new();
    t.worker.ok(&["shift", "start", "--purpose", "Home visits", "--until", "+4h"]);
    t.worker.ok(&["checkin"]);
    let board = t.lead.json(&["team"]);
    let row = &board["rows"][0];
    for field in ["member", "name", "status", "shift", "purpose", "last_checkin", "next_due", "planned_end", "online"] {
        assert!(row.get(field).is_some_and(|v| !v.is_null()), "row field {field} missing: {board}");
    }
    assert!(board["server_time"].is_i64(), "{board}");
    assert_eq!(row["status"], "fine");
    // Every field the server puts in a row reaches `kith team --json` (the CLI had a copy of the
    // row's type that dropped the alert's owner, the worker's role and more).
    let sample = serde_json::to_value(kith_server::http::BoardEntry {
        member: uuid::Uuid::nil(),
        name: "N".into(),
        role: kith_domain::Role::Member,
        status: kith_domain::rules::BoardStatus::DueSoon,
        attention: kith_domain::rules::Attention::Calm,
        phone: None,
        alert_since: None,
        shift: Some(uuid::Uuid::nil()),
        purpose: Some("p".into()),
        last_checkin: Some(kith_domain::Timestamp(5)),
        next_due: Some(kith_domain::Timestamp(6)),
        planned_end: Some(kith_domain::Timestamp(7)),
        online: true,
        last_seen: Some(kith_domain::Timestamp(8)),
        alert_owner: None,
    })
    .expect("serialise");
    for field in sample.as_object().expect("an object").keys() {
        assert!(row.get(field).is_some(), "the server's row field {field} is missing from kith team: {row}");
    }
}

#[test]
fn a_lead_acknowledges_a_checkin_this_device_has_not_fetched_yet() {
    let t = Team::new();
    t.worker.ok(&["shift", "start", "--purpose", "Surveying", "--until", "+3h"]);
    let ci = t.worker.json(&["checkin", "emergency", "--note", "Car in a ditch"]);
    assert_eq!(ci["shared"], true, "{ci}");
    let out = ci["advice"].as_str().unwrap_or_default().to_string();
    assert!(out.contains("reached the team server"), "{ci}");
    let id = ci["checkin"]["id"].as_str().expect("an id");
    // No `kith sync` or `kith team` first: `kith ack` fetches what it does not have.
    let ack = t.lead.json(&["ack", id, "--reply", "Calling you now"]);
    assert_eq!(ack["shared"], true, "{ack}");
    assert_eq!(ack["worker_id"], t.worker_join["member_id"]);
    // An id that is nowhere: a clear message, exit 3.
    let nowhere = kith_domain::CheckInId::new().to_string();
    t.lead.fails(&["ack", &nowhere], 3, &["no check-in", "kith team"]);
}
