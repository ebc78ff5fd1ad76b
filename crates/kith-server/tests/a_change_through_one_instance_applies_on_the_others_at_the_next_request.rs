//! Several server instances on one PostgreSQL database behave as one server: whatever is changed
//! through one (a policy edit, a role change, a check-in, a revocation) applies on the others at
//! the very next request, although each instance keeps the documents it uses in memory. A cached
//! document another instance changed is never served, nor built on.
//!
//! The requests below follow each other with no wait: "the next request" is the bar.

use crate::common;
use common::*;
use kith_domain::{CheckInStatus, Role};
use kith_server::testing::TestServer;
use serde_json::{Value, json};

fn policy(grace_s: i64) -> Value {
    json!({"min_interval_s": 600, "max_interval_s": 7200, "default_interval_s": 1800, "grace_s": grace_s,
        "reminder_lead_s": 300, "escalation": [{"after_s": 0, "notify": "buddies"}, {"after_s": 120, "notify": "leads"}]})
}

fn on(dev: &Dev, server: &TestServer) -> Dev {
    let mut d = Dev { base: server.base_url.clone(), ..clone_dev(dev) };
    d.cursor = None;
    d
}

fn clone_dev(d: &Dev) -> Dev {
    Dev {
        name: d.name.clone(),
        base: d.base.clone(),
        http: d.http.clone(),
        token: d.token.clone(),
        team: d.team,
        member: d.member,
        device: d.device,
        role: d.role.clone(),
        actor: d.actor.clone(),
        docs: d.docs.clone(),
        kinds: d.kinds.clone(),
        server_heads: d.server_heads.clone(),
        cursor: d.cursor.clone(),
        clock: d.clock.clone(),
        skew_ms: d.skew_ms,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_role_and_document_changes_through_b_apply_on_a_at_the_next_request() {
    let Some((a, b, team, lead_code)) = two_instances().await else { return };
    let mut sam_a = Dev::join(&a, &lead_code, "Sam").await;
    let mut alice_a = Dev::join(&a, &a.invite(team, Role::Member).await, "Alice").await;
    let sam_b = on(&sam_a, &b);

    // Through A: a check-in, and the team document and the shift in A's memory.
    let shift = alice_a.start_shift();
    alice_a.checkin(shift, CheckInStatus::Ok, 3);
    alice_a.sync().await;
    sam_a.sync().await;
    assert_eq!(sam_a.put_json("/v1/team/policy", policy(300)).await.status(), 200);
    assert_eq!(sam_a.get_json("/v1/team").await.1["policy"]["grace_s"], 300);

    // Through B: a policy edit. A answers with it at once.
    assert_eq!(sam_b.put_json("/v1/team/policy", policy(420)).await.status(), 200);
    let (status, team_on_a) = sam_a.get_json("/v1/team").await;
    assert_eq!(status, 200);
    assert_eq!(team_on_a["policy"]["grace_s"], 420, "A served its cached team document: {team_on_a}");

    // Through B: Alice becomes a lead. On A she may at once do what a lead does with the team
    // document (authorised against the roster in it), and A's edit builds on B's.
    let r = sam_b.put_json(&format!("/v1/members/{}", alice_a.member), json!({"role": "lead"})).await;
    assert_eq!(r.status(), 200);
    let r = alice_a.put_json("/v1/team/policy", policy(480)).await;
    assert_eq!(r.status(), 200, "A authorised Alice against its cached roster: {}", r.text().await.unwrap());
    let (_, team_on_b) = sam_b.get_json("/v1/team").await;
    assert_eq!(team_on_b["policy"]["grace_s"], 480);
    let alice_role = |t: &Value| {
        t["members"].as_array().unwrap().iter().find(|m| m["name"] == "Alice").map(|m| m["role"].clone()).unwrap()
    };
    assert_eq!(alice_role(&team_on_b), "lead", "A's edit dropped B's role change: {team_on_b}");

    // Through B: a check-in. A's view of the shift has it at once.
    let mut alice_b = on(&alice_a, &b);
    alice_b.checkin(shift, CheckInStatus::Ok, 40);
    alice_b.sync().await;
    let (status, view) = sam_a.get_json(&format!("/v1/shifts/{}", shift.uuid())).await;
    assert_eq!(status, 200);
    assert_eq!(view["checkins"].as_array().map(Vec::len), Some(2), "A served its cached shift: {view}");

    // Through B: a revocation. A refuses the device at its next request.
    let r = sam_b.post_json(&format!("/v1/devices/{}/revoke", alice_a.device), json!({})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(alice_a.get("/v1/me").await.status(), 401);
}
