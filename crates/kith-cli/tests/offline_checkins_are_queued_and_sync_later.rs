//! With the team server down, a check-in is saved and plainly queued (exit 0), an emergency says
//! nobody has been reached and to phone; when the server is back, `kith sync` sends them and the
//! lead sees them.

use crate::with_server;

use with_server::Team;

#[test]
fn a_checkin_made_while_the_server_is_down_is_queued_then_sent() {
    let mut t = Team::new();
    t.worker.ok(&["shift", "start", "--purpose", "Meter readings", "--until", "+8h"]);
    t.server.stop();

    let r = t.worker.run(&["checkin", "ok", "--note", "In the basement"]);
    assert_eq!(r.code, 0, "a check-in never fails for want of a server: {r:?}");
    assert!(r.stdout.contains("Checked in: OK"), "{r:?}");
    assert!(r.stdout.contains("Not yet shared with your team"), "{r:?}");
    assert!(r.stdout.contains("queued on this device"), "{r:?}");
    assert!(r.stdout.contains("kith sync"), "{r:?}");
    assert!(!r.stdout.contains("Shared with your team at"), "{r:?}");

    let ci = t.worker.json(&["checkin", "ok"]);
    assert_eq!(ci["shared"], false, "{ci}");
    assert_eq!(ci["sharing"]["shared"], false, "{ci}");
    assert_eq!(ci["sharing"]["queued"], true, "{ci}");

    let status = t.worker.ok(&["status"]);
    assert!(status.contains("Not yet shared"), "{status}");
    assert!(!status.contains("no server yet"), "{status}");

    let sync = t.worker.run(&["sync"]);
    assert_eq!(sync.code, 5, "sync while the server is down: exit 5 (try later): {sync:?}");
    assert!(sync.stderr.contains("cannot reach the team server"), "{sync:?}");
    assert!(sync.stderr.contains("saved on this device"), "{sync:?}");

    t.server.start_again();
    let sync = t.worker.json(&["sync"]);
    assert_eq!(sync["unsynced_changes"], 0, "{sync}");
    assert_eq!(t.worker.json(&["status"])["unsynced_changes"], 0);

    let board = t.lead.json(&["team"]);
    assert_eq!(board["source"], "server", "{board}");
    let alice = board["rows"].as_array().and_then(|r| r.iter().find(|r| r["name"] == "Alice Field")).cloned();
    let alice = alice.unwrap_or_else(|| panic!("Alice on the board: {board}"));
    assert_eq!(alice["status"], "fine", "{board}");
    assert!(alice["last_checkin"].is_i64(), "{board}");
    // The check-in made offline is the one the lead now holds and can answer.
    assert_eq!(alice["last_checkin_id"], ci["checkin"]["id"], "{board}");
    assert_eq!(alice["last_checkin_acknowledged"], false, "{board}");
    assert_eq!(board["awaiting_reply"][0]["checkin_id"], ci["checkin"]["id"], "{board}");
    let id = ci["checkin"]["id"].as_str().expect("an id");
    t.lead.ok(&["ack", id, "--reply", "Glad you are out of the basement"]);
    t.worker.ok(&["sync"]);
    let log = t.worker.ok(&["log"]);
    assert!(log.contains("In the basement"), "{log}");
    assert!(log.contains("seen by Lee Lead: \"Glad you are out of the basement\""), "{log}");
}

#[test]
fn an_emergency_while_offline_says_nobody_is_reached_and_to_phone() {
    let mut t = Team::new();
    t.worker.ok(&["shift", "start", "--purpose", "Night patrol", "--until", "+8h"]);
    t.server.stop();

    let r = t.worker.run(&["checkin", "emergency", "--note", "Fell, ankle"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("EMERGENCY"), "{r:?}");
    assert!(r.stdout.contains("saved on this device"), "{r:?}");
    assert!(r.stdout.contains("Nobody has been reached yet"), "{r:?}");
    assert!(r.stdout.contains("phone"), "{r:?}");
    assert!(r.stdout.contains("queued"), "it says plainly that it waits on this device: {r:?}");
    let status = t.worker.ok(&["status"]);
    assert!(status.contains("Your emergency may not have reached anyone yet"), "{status}");

    let json = t.worker.json(&["checkin", "emergency"]);
    assert_eq!(json["shared"], false, "{json}");
    assert_eq!(json["sharing"]["queued"], true, "{json}");
    assert!(json["advice"].as_str().is_some_and(|a| a.contains("Nobody has been reached yet")), "{json}");

    t.server.start_again();
    t.worker.ok(&["sync"]);
    let status = t.worker.ok(&["status"]);
    assert!(!status.contains("reached anyone"), "{status}");

    let board = t.lead.json(&["team"]);
    assert_eq!(board["rows"][0]["name"], "Alice Field", "{board}");
    assert_eq!(board["rows"][0]["status"], "emergency", "{board}");
    let text = t.lead.ok(&["team"]);
    let first = text.lines().find(|l| l.contains("Alice Field")).unwrap_or_default();
    assert!(first.contains("EMERGENCY"), "{text}");
}
