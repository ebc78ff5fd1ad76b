//! A lead edits the team from the browser (which has no document of its own): the policy, roles,
//! buddies and phones, written into the team document on their behalf with the rules a device's
//! own change would meet. A member changes only their own phone and buddies. Bad input, members,
//! other teams: refused, and nothing is stored.

use crate::common;
use common::*;
use kith_domain::Role;
use kith_domain::doc::team;
use kith_server::testing::TestServer;
use serde_json::{Value, json};

fn policy(grace_s: i64, escalation: Value) -> Value {
    json!({
        "min_interval_s": 600, "max_interval_s": 7200, "default_interval_s": 1800,
        "grace_s": grace_s, "reminder_lead_s": 300, "escalation": escalation,
    })
}

#[tokio::test]
async fn a_lead_sets_the_policy_and_every_device_gets_it() {
    let server = TestServer::start().await;
    let (sam, mut alice) = team_of_two(&server).await;
    let (status, t) = alice.get_json("/v1/team").await;
    assert_eq!((status, t["can_edit"].as_bool()), (200, Some(false)));
    assert_eq!(t["policy"]["grace_s"], 600);

    let chain = json!([{"after_s": 0, "notify": "buddies"}, {"after_s": 120, "notify": "leads"}]);
    let r = sam.put_json("/v1/team/policy", policy(300, chain.clone())).await;
    assert_eq!(r.status(), 200);
    let t: Value = r.json().await.unwrap();
    assert_eq!((t["policy"]["grace_s"].as_i64(), t["can_edit"].as_bool()), (Some(300), Some(true)));
    assert_eq!(t["policy"]["escalation"], chain);
    // A worker's device gets it with its next sync, from the team document.
    alice.sync_all().await;
    let doc = alice.doc(alice.team.uuid());
    let p = team::read(doc).unwrap().policy;
    assert_eq!((p.grace.get(), p.max_interval.get(), p.escalation.len()), (300, 7200, 2));
}

#[tokio::test]
async fn a_policy_that_breaks_a_rule_or_comes_from_a_member_changes_nothing() {
    let server = TestServer::start().await;
    let (sam, alice) = team_of_two(&server).await;
    let seq = max_seq(&server).await;
    let cases: Vec<(&Dev, Value, u16, &str)> = vec![
        (&alice, policy(300, json!([{"after_s": 0, "notify": "leads"}])), 403, "forbidden"),
        (&sam, policy(300, json!([{"after_s": 0, "notify": "worker"}])), 400, "invalid"),
        (&sam, policy(300, json!([])), 400, "invalid"),
        (&sam, policy(-5, json!([{"after_s": 0, "notify": "leads"}])), 400, "invalid"),
        (&sam, json!({"grace_s": 300}), 400, "malformed_json"),
        (&sam, policy(300, json!([{"after_s": 0, "notify": "everyone"}])), 400, "malformed_json"),
    ];
    for (who, body, status, code) in cases {
        let r = who.put_json("/v1/team/policy", body.clone()).await;
        assert_eq!(r.status().as_u16(), status, "{body}");
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["code"], code, "{e}");
    }
    assert_eq!(max_seq(&server).await, seq, "nothing stored");
    let (_, t) = sam.get_json("/v1/team").await;
    assert_eq!(t["policy"]["grace_s"], 600);
}

#[tokio::test]
async fn a_lead_changes_roles_buddies_and_phones_and_a_member_only_their_own() {
    let server = TestServer::start().await;
    let (sam, alice) = team_of_two(&server).await;
    let bob = Dev::join(&server, &server.invite(alice.team, Role::Member).await, "Bob").await;
    let path = |d: &Dev| format!("/v1/members/{}", d.member);

    // Alice sets her own phone and buddies.
    let r = alice.put_json(&path(&alice), json!({"phone": "+44 7700 900123", "buddies": [bob.member]})).await;
    assert_eq!(r.status(), 200);
    let t: Value = r.json().await.unwrap();
    let me = t["members"].as_array().unwrap().iter().find(|m| m["name"] == "Alice").unwrap().clone();
    assert_eq!((me["phone"].as_str(), me["buddies"].clone()), (Some("+44 7700 900123"), json!([bob.member])));
    // But not Bob's phone, nor her own role.
    assert_eq!(alice.put_json(&path(&bob), json!({"phone": "112"})).await.status(), 403);
    assert_eq!(alice.put_json(&path(&alice), json!({"role": "lead"})).await.status(), 403);
    // The lead sets Bob's phone and makes Alice a lead: roles follow at once.
    assert_eq!(sam.put_json(&path(&bob), json!({"phone": "020 7946 0000"})).await.status(), 200);
    assert_eq!(alice.get("/v1/devices").await.status(), 403, "not a lead yet");
    assert_eq!(sam.put_json(&path(&alice), json!({"role": "lead"})).await.status(), 200);
    assert_eq!(alice.get("/v1/devices").await.status(), 200, "a lead now");
    // An empty phone removes it.
    let r = sam.put_json(&path(&bob), json!({"phone": ""})).await;
    let t: Value = r.json().await.unwrap();
    assert!(t["members"].as_array().unwrap().iter().any(|m| m["name"] == "Bob" && m["phone"].is_null()));
}

#[tokio::test]
async fn bad_member_edits_are_refused_with_a_reason_and_store_nothing() {
    let server = TestServer::start().await;
    let (sam, alice) = team_of_two(&server).await;
    let (_, other_code) = server.create_team("Elsewhere").await;
    let stranger = Dev::join(&server, &other_code, "Stranger").await;
    let seq = max_seq(&server).await;
    let me = |d: &Dev| format!("/v1/members/{}", d.member);
    let cases: Vec<(&Dev, String, Value, u16, &str)> = vec![
        (&sam, me(&sam), json!({"role": "member"}), 400, "only lead"),
        (&sam, me(&alice), json!({"role": "admin"}), 400, "admins run the server"),
        (&sam, me(&alice), json!({"phone": "call me maybe"}), 400, "not a phone number"),
        (&sam, me(&alice), json!({"buddies": [alice.member]}), 400, "own buddy"),
        (&sam, me(&alice), json!({"buddies": [stranger.member]}), 400, "not a member of this team"),
        (&sam, me(&stranger), json!({"phone": "112"}), 404, "no such member"),
        (&stranger, me(&alice), json!({"phone": "112"}), 404, "no such member"),
        (&alice, me(&sam), json!({"phone": "112"}), 403, "a lead changes other people"),
        (&sam, "/v1/members/not-a-uuid".into(), json!({"phone": "112"}), 400, "not a member id"),
        (&sam, me(&alice), json!({"phone": 112}), 400, "Expected"),
    ];
    for (who, path, body, status, why) in cases {
        let r = who.put_json(&path, body.clone()).await;
        assert_eq!(r.status().as_u16(), status, "{path} {body}");
        let e: Value = r.json().await.unwrap();
        assert!(e["message"].as_str().unwrap().contains(why), "{body}: {e}");
    }
    assert_eq!(max_seq(&server).await, seq, "nothing stored");
}
