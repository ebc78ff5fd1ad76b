//! Names, notes, purposes and replies come from other people. Written with terminal escape
//! sequences (cursor up, erase line, clear screen) or a bidi override (U+202E), they could fake
//! or erase rows on a lead's `kith team`. The real `kith` against a real server prints them
//! escaped (`\u{1b}`), in text and in JSON, wherever they appear.

mod with_server;

use with_server::{Device, Server, join_link};

const ESC: char = '\u{1b}';
const RLO: char = '\u{202e}';
const EVIL_NAME: &str = "Eve\u{1b}[1A\u{1b}[2K\u{202e}ENIF  boB";
const EVIL_NOTE: &str = "need help\u{1b}[2J\u{1b}[H  FINE  everyone\u{202e}";
const EVIL_PURPOSE: &str = "Visits\u{1b}[8m hidden";
const EVIL_REPLY: &str = "seen\u{1b}[1A\u{1b}[2K";

fn obeyable(out: &str) -> bool {
    out.contains(ESC) || out.contains(RLO) || out.chars().any(|c| c.is_control() && c != '\n' && c != '\t')
}

#[test]
fn a_teammates_escape_sequences_are_shown_not_obeyed() {
    let server = Server::start();
    let (team, lead_code) = server.create_team("North estate");
    let lead = Device::new();
    lead.join(&server.url, &lead_code, "Lee Lead");
    let eve = Device::new();
    let link = join_link(&server.url, &server.invite(team, kith_domain::Role::Member));
    // The server may refuse such a name (its own check, issue 10); whatever it accepts, and every
    // note and reply, must reach a terminal escaped.
    let evil_name = eve.run(&["join", &link, "--name", EVIL_NAME]).code == 0;
    if !evil_name {
        let link = join_link(&server.url, &server.invite(team, kith_domain::Role::Member));
        eve.ok(&["join", &link, "--name", "Eve"]);
    }
    eve.ok(&["shift", "start", "--purpose", EVIL_PURPOSE, "--until", "+4h"]);
    eve.ok(&["checkin", "support", "--note", EVIL_NOTE]);

    let team_text = lead.ok(&["team"]);
    assert!(!obeyable(&team_text), "kith team let a control through: {team_text:?}");
    assert!(team_text.contains(r"need help\u{1b}[2J\u{1b}[H  FINE  everyone\u{202e}"), "{team_text}");
    assert!(team_text.contains(r"Visits\u{1b}[8m hidden"), "{team_text}");
    if evil_name {
        assert!(team_text.contains(r"Eve\u{1b}[1A\u{1b}[2K\u{202e}ENIF  boB"), "{team_text}");
    }
    let alerts = lead.ok(&["alerts"]);
    assert!(!obeyable(&alerts), "kith alerts let a control through: {alerts:?}");
    assert!(alerts.contains("SUPPORT REQUESTED"), "{alerts}");

    // JSON keeps the very text for programs, as escapes a terminal does not obey.
    let raw = lead.run(&["--json", "team"]);
    assert_eq!(raw.code, 0, "{raw:?}");
    assert!(!obeyable(raw.stdout.trim_end()), "JSON let a control through: {:?}", raw.stdout);
    let v: serde_json::Value = serde_json::from_str(&raw.stdout).unwrap();
    let notes: Vec<&str> = v["awaiting_reply"].as_array().unwrap().iter().filter_map(|a| a["note"].as_str()).collect();
    assert_eq!(notes, vec![EVIL_NOTE]);

    // A lead's reply, on the worker's screen.
    let id = v["awaiting_reply"][0]["checkin_id"].as_str().unwrap().to_string();
    lead.ok(&["ack", &id, "--reply", EVIL_REPLY]);
    eve.ok(&["sync"]);
    let log = eve.ok(&["log"]);
    assert!(!obeyable(&log), "kith log let a control through: {log:?}");
    assert!(log.contains(r"seen\u{1b}[1A\u{1b}[2K"), "{log}");
}
