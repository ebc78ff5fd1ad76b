//! `kith team` without the server: the board from the documents on this device, saying plainly
//! when they were last synced.

use crate::with_server;

use with_server::Team;

#[test]
fn the_board_offline_is_the_local_one_as_last_synced() {
    let mut t = Team::new();
    t.worker.ok(&["shift", "start", "--purpose", "Meter readings", "--until", "+8h"]);
    t.worker.ok(&["checkin", "support", "--note", "Gate locked"]);
    let online = t.lead.json(&["team"]);
    assert_eq!(online["source"], "server");
    t.server.stop();

    let text = t.lead.ok(&["team"]);
    assert!(text.starts_with("Team \"North estate\""), "{text}");
    assert!(text.contains("offline: as last synced at "), "{text}");
    assert!(text.contains("cannot reach the team server"), "says why: {text}");
    let alice = text.lines().find(|l| l.contains("Alice Field")).unwrap_or_default();
    assert!(alice.contains("SUPPORT"), "{text}");
    assert!(alice.contains("\"Meter readings\""), "{text}");
    assert!(text.lines().any(|l| l.contains("Lee Lead") && l.contains("OFF SHIFT")), "{text}");

    let json = t.lead.json(&["team"]);
    assert_eq!(json["source"], "device", "{json}");
    assert!(json["last_synced"].is_string(), "{json}");
    assert!(json["offline_reason"].is_string(), "{json}");
    assert_eq!(json["team_name"], "North estate");
    assert_eq!(json["rows"][0]["name"], "Alice Field", "{json}");
    assert_eq!(json["rows"][0]["status"], "support", "{json}");
    assert_eq!(json["rows"][0]["purpose"], online["rows"][0]["purpose"]);
    assert_eq!(json["rows"][0]["shift"], online["rows"][0]["shift"]);
    assert!(json["awaiting_reply"][0]["checkin_id"].is_string(), "{json}");

    // The worker's own board offline: only what a member may hold, and the same staleness line.
    let worker = t.worker.ok(&["team"]);
    assert!(worker.contains("offline: as last synced at "), "{worker}");
    assert!(worker.contains("Alice Field"), "{worker}");
}
