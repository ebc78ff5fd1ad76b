//! Names, notes, purposes and replies come from other people. Written with terminal escape
//! sequences (cursor up, erase line, clear screen) or a bidi override (U+202E), they could fake
//! or erase rows on a lead's `kith team`. The real `kith` against a real server prints them
//! escaped (`\u{1b}`), in text and in JSON, wherever they appear. Devices and the server now
//! refuse such text (issue 10), so the test stores it the way an older server could have: written
//! into the documents by the server itself, unchecked.

use crate::with_server;

use automerge::transaction::Transactable;
use automerge::{ObjId, ROOT, ReadDoc};
use kith_domain::DomainError;
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

/// The map at `key` of `obj`.
fn map_at<T: Transactable + ReadDoc>(tx: &T, obj: &ObjId, key: &str) -> Result<ObjId, DomainError> {
    match tx.get(obj, key)? {
        Some((automerge::Value::Object(_), id)) => Ok(id),
        _ => Err(DomainError::Invalid(format!("no map at {key}"))),
    }
}

fn uuid(v: &serde_json::Value) -> uuid::Uuid {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("not an id: {v}"))
}

#[test]
fn a_teammates_escape_sequences_are_shown_not_obeyed() {
    let server = Server::start();
    let (team, lead_code) = server.create_team("North estate");
    let lead = Device::new();
    lead.join(&server.url, &lead_code, "Lee Lead");
    let eve = Device::new();
    // Today the server refuses such a name at the door.
    let link = join_link(&server.url, &server.invite(team, kith_domain::Role::Member));
    let refused = eve.run(&["join", &link, "--name", EVIL_NAME]);
    assert_ne!(refused.code, 0, "the server took a name with terminal escapes: {refused:?}");
    let link = join_link(&server.url, &server.invite(team, kith_domain::Role::Member));
    let joined = eve.json(&["join", &link, "--name", "Eve"]);
    let eve_id = uuid(&joined["member_id"]).to_string();
    eve.ok(&["shift", "start", "--purpose", "Visits", "--until", "+4h"]);
    eve.ok(&["checkin", "support", "--note", "need help"]);
    let v = lead.json(&["team"]);
    let (shift, checkin) = (uuid(&v["awaiting_reply"][0]["shift_id"]), uuid(&v["awaiting_reply"][0]["checkin_id"]));

    // What an older server could have stored: the hostile name, purpose and note.
    server.write_unchecked(team.uuid(), |tx| {
        let member = map_at(tx, &map_at(tx, &ROOT, "members")?, &eve_id)?;
        tx.put(&member, "name", EVIL_NAME)?;
        Ok(())
    });
    server.write_unchecked(shift, |tx| {
        tx.put(ROOT, "purpose", EVIL_PURPOSE)?;
        let c = map_at(tx, &map_at(tx, &ROOT, "checkins")?, &checkin.to_string())?;
        tx.put(&c, "note", EVIL_NOTE)?;
        Ok(())
    });

    let team_text = lead.ok(&["team"]);
    assert!(!obeyable(&team_text), "kith team let a control through: {team_text:?}");
    assert!(team_text.contains(r"need help\u{1b}[2J\u{1b}[H  FINE  everyone\u{202e}"), "{team_text}");
    assert!(team_text.contains(r"Visits\u{1b}[8m hidden"), "{team_text}");
    assert!(team_text.contains(r"Eve\u{1b}[1A\u{1b}[2K\u{202e}ENIF  boB"), "{team_text}");
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

    // A reply, on the worker's screen (stored unchecked too: a lead's device refuses to write it).
    lead.ok(&["ack", &checkin.to_string(), "--reply", "seen"]);
    server.write_unchecked(shift, |tx| {
        let acks = map_at(tx, &ROOT, "acks")?;
        let keys: Vec<String> = tx.keys(&acks).collect();
        for k in keys {
            let a = map_at(tx, &acks, &k)?;
            tx.put(&a, "reply", EVIL_REPLY)?;
        }
        Ok(())
    });
    eve.ok(&["sync"]);
    let log = eve.ok(&["log"]);
    assert!(!obeyable(&log), "kith log let a control through: {log:?}");
    assert!(log.contains(r"seen\u{1b}[1A\u{1b}[2K"), "{log}");
}
