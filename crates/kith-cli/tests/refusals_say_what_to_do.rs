//! What the server or the client refuses, with a clear message and its exit code: a member
//! acknowledging (3), joining into a data directory that already has a profile (3), a bad
//! invite code (6), a revoked device syncing (6).

use crate::with_server;

use kith_domain::{DeviceId, Role};
use with_server::{Device, Server, Team};

#[test]
fn a_member_cannot_acknowledge() {
    let t = Team::new();
    t.worker.ok(&["shift", "start", "--purpose", "Visits", "--until", "+2h"]);
    let ci = t.worker.json(&["checkin"]);
    let id = ci["checkin"]["id"].as_str().expect("an id");
    t.worker.fails(&["ack", id, "--reply", "hi"], 3, &["only leads", "member"]);
    // Nothing was written: the worker's log has no acknowledgement.
    assert_eq!(t.worker.json(&["log"])["shifts"][0]["acks"], serde_json::json!([]));
}

#[test]
fn joining_into_a_data_dir_with_a_profile_is_refused() {
    let t = Team::new();
    let code = t.server.invite(t.team, Role::Member);
    t.worker.fails(
        &["join", &t.server.url, &code, "--name", "Alice again"],
        3,
        &["already has a profile", "--data-dir"],
    );
    // An offline profile too.
    let offline = Device::new();
    offline.ok(&["init", "--name", "Bo"]);
    offline.fails(&["join", &t.server.url, &code, "--name", "Bo"], 3, &["already has a profile", "offline"]);
    // The invite was not used up by the refusals.
    let fresh = Device::new();
    fresh.join(&t.server.url, &code, "Bo");
}

#[test]
fn a_bad_invite_code_is_refused_plainly() {
    let server = Server::start();
    server.create_team("North estate");
    let d = Device::new();
    let r = d.fails(&["join", &server.url, "NOPE-NOPE", "--name", "Mallory"], 6, &["invite code is not known"]);
    assert!(r.stderr.contains("ask a lead"), "{r:?}");
    // Nothing was kept: no profile, and the same directory can join with a good code.
    d.fails(&["status"], 3, &["No Kith profile"]);
    let (team, _) = server.create_team("South estate");
    let joined = d.join(&server.url, &server.invite(team, Role::Member), "Mallory");
    assert_eq!(joined["team_name"], "South estate");
    let bad_link = Device::new().run(&["join", "kith://join?server=x", "--name", "M"]);
    assert_eq!(bad_link.code, 2, "{bad_link:?}");
    assert!(bad_link.stderr.contains("code="), "{bad_link:?}");
}

#[test]
fn a_revoked_device_is_told_access_was_revoked() {
    let t = Team::new();
    t.worker.ok(&["shift", "start", "--purpose", "Visits", "--until", "+2h"]);
    let device: DeviceId = t.worker_join["device_id"].as_str().and_then(|s| s.parse().ok()).expect("a device id");
    assert!(t.server.revoke(device));

    let r = t.worker.fails(&["sync"], 6, &["revoked", "kith join"]);
    assert!(r.stderr.contains("new invite"), "{r:?}");
    assert!(r.stderr.contains("fresh data directory"), "{r:?}");
    let json = t.worker.run(&["--json", "sync"]);
    assert_eq!(json.code, 6);
    let err: serde_json::Value = serde_json::from_str(json.stderr.trim()).expect("a JSON error");
    assert_eq!(err["error"]["kind"], "refused", "{err}");
    assert_eq!(err["error"]["exit_code"], 6, "{err}");

    // A check-in still saves (exit 0) and says it did not go out, and why.
    let ci = t.worker.run(&["checkin"]);
    assert_eq!(ci.code, 0, "{ci:?}");
    assert!(ci.stdout.contains("Not shared with your team"), "{ci:?}");
    assert!(ci.stdout.contains("revoked"), "{ci:?}");
}
