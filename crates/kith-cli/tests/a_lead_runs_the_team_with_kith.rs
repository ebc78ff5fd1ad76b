//! A lead runs the team from the command line against a real server: changes the policy and a
//! member's role, buddies and phone (written on the lead's device and shared like any change),
//! invites someone, lists and revokes devices, takes over and gives away an alert. A worker sets
//! their own phone, and nothing else.

use crate::with_server;

use with_server::{Device, Team};

#[test]
fn a_lead_changes_the_policy_and_a_members_role_buddies_and_phone() {
    let t = Team::new();
    let v = t.lead.json(&["team", "policy", "--grace", "5m", "--escalation", "0:buddies,2m:leads"]);
    assert_eq!(v["shared"], true, "{v}");
    assert_eq!(v["team"]["policy"]["grace_s"], 300);
    assert_eq!(v["team"]["policy"]["escalation"][1]["notify"], "leads");

    // The worker's device gets the policy with its next sync.
    t.worker.ok(&["sync"]);
    let show = t.worker.json(&["team", "show"]);
    assert_eq!(show["policy"]["grace_s"], 300, "{show}");
    assert_eq!(show["can_edit"], false);

    // The worker sets their own phone, but not the lead's, and no roles.
    let v = t.worker.json(&["team", "member", "me", "--phone", "+44 7700 900123"]);
    assert_eq!(v["shared"], true, "{v}");
    t.worker.fails(&["team", "member", "Lee Lead", "--phone", "112"], 3, &["a lead changes other people's"]);
    t.worker.fails(&["team", "member", "me", "--role", "lead"], 3, &["only leads"]);
    t.worker.fails(&["team", "member", "me", "--phone", "ring me"], 2, &["not a phone number"]);

    // The lead makes Alice a lead and Lee her buddy; the text says what changed.
    t.lead.ok(&["sync"]);
    let text = t.lead.ok(&["team", "member", "Alice Field", "--role", "lead", "--buddy", "Lee Lead"]);
    assert!(text.contains("Shared with your team"), "{text}");
    let show = t.lead.json(&["team", "show"]);
    let alice = show["members"].as_array().unwrap().iter().find(|m| m["name"] == "Alice Field").unwrap().clone();
    assert_eq!((alice["role"].as_str(), alice["phone"].as_str()), (Some("lead"), Some("+44 7700 900123")));
    assert_eq!(alice["buddies"].as_array().unwrap().len(), 1);

    // Bad input is refused plainly and changes nothing.
    t.lead.fails(&["team", "policy", "--escalation", "0:worker"], 2, &["must reach the leads"]);
    t.lead.fails(&["team", "policy", "--escalation", "soon:leads"], 2, &["not a duration"]);
    t.lead.fails(&["team", "member", "Nobody Here", "--phone", "112"], 2, &["nobody called"]);
    t.lead.fails(&["team", "member", "me"], 2, &["say what to change"]);
    assert_eq!(t.lead.json(&["team", "show"])["policy"]["grace_s"], 300);
}

#[test]
fn a_lead_invites_someone_and_revokes_a_device() {
    let t = Team::new();
    let inv = t.lead.json(&["invite", "--role", "member"]);
    let code = inv["code"].as_str().unwrap();
    assert!(inv["link"].as_str().unwrap().starts_with("kith://join?"), "{inv}");
    let bob = Device::new();
    bob.join(&t.server.url, code, "Bob Byrne");

    let list = t.lead.json(&["devices"]);
    let devices = list["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 3, "{list}");
    let bob_id = devices.iter().find(|d| d["member_name"] == "Bob Byrne").unwrap()["id"].as_str().unwrap().to_string();
    let text = t.lead.ok(&["devices", "revoke", &bob_id]);
    assert!(text.contains("cut off now"), "{text}");
    bob.fails(&["sync"], 6, &["revoked"]);
    t.worker.fails(&["devices"], 6, &["Only a lead"]);
    t.worker.fails(&["invite"], 6, &["Only a lead"]);
}

#[test]
fn a_lead_takes_over_and_gives_away_an_alert() {
    let t = Team::new();
    let second = Device::new();
    second.join(&t.server.url, &t.server.invite(t.team, kith_domain::Role::Lead), "Mo Manager");
    t.worker.ok(&["shift", "start", "--purpose", "Survey", "--until", "+4h", "--every", "1h"]);
    t.worker.ok(&["checkin", "emergency", "--note", "Fell on the stairs"]);
    let alerts = t.lead.json(&["alerts"]);
    let id = alerts["alerts"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(alerts["alerts"][0]["said"]["note"], "Fell on the stairs");
    t.lead.ok(&["alerts", "claim", &id]);
    let v = second.json(&["alerts", "takeover", &id]);
    assert_eq!(v["claimed_by_name"], "Mo Manager");
    second.ok(&["sync"]);
    let v = second.json(&["alerts", "assign", &id, "--to", "Lee Lead"]);
    assert_eq!(v["claimed_by_name"], "Lee Lead");
    let history: Vec<&str> = v["history"].as_array().unwrap().iter().map(|h| h["action"].as_str().unwrap()).collect();
    assert!(history.ends_with(&["claimed", "taken_over", "assigned"]), "{history:?}");
    t.worker.fails(&["alerts", "takeover", &id], 6, &["Only a lead"]);
}
