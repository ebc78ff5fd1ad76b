//! `kith alerts` against a real in-process team server: a worker's emergency is listed for the
//! lead, claimed (the board shows who owns it, in words and in `--json`), and resolved with a note.

use crate::common;

use common::Kith;
use kith_server::testing::BlockingTestServer;

/// The CLI's clock: the real time, as the server (on the system clock) uses it.
fn now() -> String {
    chrono::DateTime::from_timestamp_millis(kith_server::now_ms()).unwrap_or_default().to_rfc3339()
}

#[test]
fn a_lead_lists_claims_and_resolves_an_emergency() {
    let server = BlockingTestServer::start();
    let (team, lead_code) = server.create_team("North estate");
    let member_code = server.invite(team, kith_domain::Role::Member);
    let (lead, alice) = (Kith::new(), Kith::new());
    lead.ok(&now(), &["join", &server.base_url(), &lead_code, "--name", "Sam"]);
    alice.ok(&now(), &["join", &server.base_url(), &member_code, "--name", "Alice"]);
    alice.ok(&now(), &["shift", "start", "--purpose", "Home visits", "--until", "+4h"]);
    assert!(lead.ok(&now(), &["alerts"]).contains("No open alerts"));

    alice.ok(&now(), &["checkin", "emergency", "--note", "fell on the stairs"]);
    let listed = lead.json(&now(), &["alerts"]);
    let alert = &listed["alerts"][0];
    assert_eq!(alert["kind"], "emergency");
    assert_eq!(alert["worker_name"], "Alice");
    let id = alert["id"].as_str().unwrap_or_default().to_string();
    let text = lead.ok(&now(), &["alerts"]);
    assert!(text.contains("EMERGENCY") && text.contains("Alice") && text.contains("OPEN"), "{text}");

    // The worker cannot claim her own alert: a clear refusal, exit 6.
    alice.fails(&now(), &["alerts", "claim", &id], 6, &["yourself"]);
    let claimed = lead.ok(&now(), &["alerts", "claim", &id]);
    assert!(claimed.contains("You own this alert"), "{claimed}");
    let board = lead.ok(&now(), &["team"]);
    assert!(board.contains("claimed by Sam"), "{board}");
    let board = alice.json(&now(), &["team"]);
    assert_eq!(board["alerts"][0]["claimed_by_name"], "Sam");
    // Alice's row on the live board carries everything the server said of it, her alert's owner
    // included (the CLI's own copy of the board's row used to drop it).
    let rows = board["rows"].as_array().cloned().unwrap_or_default();
    let row = rows.iter().find(|r| r["name"] == "Alice").unwrap_or_else(|| panic!("{board}"));
    assert_eq!(row["alert_owner"], "Sam", "{row}");
    assert_eq!(row["role"], "member", "{row}");
    assert!(row["alert_since"].is_i64(), "{row}");

    lead.ok(&now(), &["alerts", "resolve", &id, "--note", "Ambulance called, she is fine"]);
    assert!(lead.ok(&now(), &["alerts"]).contains("No open alerts"));
    let history = lead.ok(&now(), &["alerts", "--all"]);
    assert!(history.contains("resolved (claimer): \"Ambulance called, she is fine\""), "{history}");
}
