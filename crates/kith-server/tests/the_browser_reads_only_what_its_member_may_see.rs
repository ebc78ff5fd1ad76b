//! The dashboard's JSON API reads the server's documents with the sync feed's visibility rules: a
//! lead sees the team's shifts, a member their own; a shift of another member or another team is
//! answered exactly like one that does not exist. `/v1/me`, history and connection health; a
//! revoked device gets 401 everywhere.

use crate::common;
use common::*;
use kith_domain::{CheckInStatus, Role};
use kith_server::testing::TestServer;
use serde_json::{Value, json};

#[tokio::test]
async fn me_tells_the_member_their_team_policy_and_teammates() {
    let server = TestServer::start().await;
    let (lead, alice) = team_of_two(&server).await;
    let (status, me) = lead.get_json("/v1/me").await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["me"]["member_id"], lead.member.to_string());
    assert_eq!(me["me"]["device_id"], lead.device.to_string());
    assert_eq!(me["me"]["team_id"], lead.team.to_string());
    assert_eq!(me["me"]["team_name"], "North estate");
    assert_eq!(me["me"]["name"], "Sam");
    assert_eq!(me["me"]["role"], "lead");
    assert_eq!(me["me"]["server"], server.base_url);
    assert!(me["policy"]["min_interval_s"].as_i64().unwrap() > 0);
    assert!(me["policy"]["default_interval_s"].as_i64().unwrap() >= me["policy"]["min_interval_s"].as_i64().unwrap());
    let names: Vec<&str> = me["team"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"Sam") && names.contains(&"Alice"));
    assert!(me["server_time"].as_i64().unwrap() > 0);

    let (_, me) = alice.get_json("/v1/me").await;
    assert_eq!(me["me"]["role"], "member");
    assert_eq!(me["me"]["name"], "Alice");
}

#[tokio::test]
async fn a_shift_is_shown_to_its_worker_and_the_leads_and_to_nobody_else() {
    let server = TestServer::start().await;
    let (lead, mut alice) = team_of_two(&server).await;
    let bob = Dev::join(&server, &server.invite(lead.team, Role::Member).await, "Bob").await;
    let (_, other_code) = server.create_team("South estate").await;
    let mut eve = Dev::join(&server, &other_code, "Eve").await;

    let shift = alice.start_shift();
    let first = alice.checkin(shift, CheckInStatus::Ok, 20);
    let second = alice.checkin(shift, CheckInStatus::Support, 50);
    alice.sync().await;
    let path = format!("/v1/shifts/{shift}");

    for dev in [&lead, &alice] {
        let (status, s) = dev.get_json(&path).await;
        assert_eq!(status, 200, "{}: {s}", dev.name);
        assert_eq!(s["id"], shift.to_string());
        assert_eq!(s["worker"], alice.member.to_string());
        assert_eq!(s["worker_name"], "Alice");
        assert_eq!(s["purpose"], "Alice's rounds");
        assert_eq!(s["active"], true);
        let checkins = s["checkins"].as_array().unwrap();
        // Newest first.
        assert_eq!(checkins.len(), 2);
        assert_eq!(checkins[0]["id"], second.to_string());
        assert_eq!(checkins[0]["status"], "support");
        assert_eq!(checkins[1]["id"], first.to_string());
        assert_eq!(checkins[1]["by_name"], "Alice");
        assert_eq!(checkins[1]["device_time"], t0().millis() + 20 * 60_000);
        // Eight hours from nine hours ago: overdue on the server's clock.
        assert_eq!(s["due"], "overdue");
    }

    // A teammate who is not a lead, a lead of another team, a shift that does not exist, and the
    // team document (not a shift): all the very same answer.
    let (_, unknown) = lead.get_json(&format!("/v1/shifts/{}", uuid::Uuid::now_v7())).await;
    assert_eq!(unknown["code"], "doc_unknown");
    for (dev, path) in [(&bob, path.clone()), (&eve, path.clone()), (&lead, format!("/v1/shifts/{}", lead.team))] {
        let (status, body) = dev.get_json(&path).await;
        assert_eq!(status, 404, "{}: {body}", dev.name);
        assert_eq!(body, unknown, "{}", dev.name);
    }
    // Eve's own shift is hidden from Alice's lead the same way.
    let eves = eve.start_shift();
    eve.sync().await;
    assert_eq!(lead.get_json(&format!("/v1/shifts/{eves}")).await, (404, unknown.clone()));
    assert_eq!(eve.get_json(&format!("/v1/shifts/{eves}")).await.0, 200);

    let (status, body) = lead.get_json("/v1/shifts/not-a-uuid").await;
    assert_eq!((status, body["code"].as_str()), (400, Some("bad_id")));
}

#[tokio::test]
async fn history_lists_a_members_shifts_newest_first_for_them_and_their_leads() {
    let server = TestServer::start().await;
    let (lead, mut alice) = team_of_two(&server).await;
    let bob = Dev::join(&server, &server.invite(lead.team, Role::Member).await, "Bob").await;
    let (_, other_code) = server.create_team("South estate").await;
    let eve = Dev::join(&server, &other_code, "Eve").await;

    let older = alice.start_shift_at(t0().millis(), t0().millis() + 3_600_000, kith_domain::Secs::minutes(30), vec![]);
    alice.end_shift_at(older, t0().millis() + 3_000_000);
    let newer = alice.start_shift();
    alice.checkin(newer, CheckInStatus::Ok, 5);
    alice.sync().await;
    let path = format!("/v1/members/{}/shifts", alice.member);

    for dev in [&lead, &alice] {
        let (status, list) = dev.get_json(&path).await;
        assert_eq!(status, 200, "{list}");
        let ids: Vec<&str> = list.as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), 2);
        assert!(ids.contains(&newer.to_string().as_str()) && ids.contains(&older.to_string().as_str()));
        let ended: Vec<bool> = list.as_array().unwrap().iter().map(|s| s["ended"].is_object()).collect();
        assert!(ended.contains(&true) && ended.contains(&false));
    }
    let (_, one) = lead.get_json(&format!("{path}?limit=1")).await;
    assert_eq!(one.as_array().unwrap().len(), 1);
    // Bob has no shifts yet; his lead sees an empty history.
    let (status, none) = lead.get_json(&format!("/v1/members/{}/shifts", bob.member)).await;
    assert_eq!((status, none), (200, json!([])));

    let (status, e) = bob.get_json(&path).await;
    assert_eq!((status, e["code"].as_str()), (403, Some("forbidden")));
    for p in [format!("/v1/members/{}/shifts", eve.member), format!("/v1/members/{}/shifts", uuid::Uuid::now_v7())] {
        let (status, e) = lead.get_json(&p).await;
        assert_eq!((status, e["code"].as_str()), (404, Some("member_unknown")), "{p}");
    }
    for (p, code) in [
        (format!("{path}?limit=0"), "bad_limit"),
        (format!("{path}?limit=many"), "bad_query"),
        ("/v1/members/someone/shifts".to_string(), "bad_id"),
    ] {
        let (status, e) = lead.get_json(&p).await;
        assert_eq!((status, e["code"].as_str()), (400, Some(code)), "{p}: {e}");
    }
}

#[tokio::test]
async fn health_is_the_members_own_and_the_teams_only_for_a_lead() {
    let server = TestServer::start().await;
    let (mut lead, mut alice) = team_of_two(&server).await;
    let shift = alice.start_shift();
    let c = alice.checkin(shift, CheckInStatus::Ok, 20);
    alice.sync().await;
    lead.sync().await;
    lead.ack(shift, c, "thanks");
    lead.sync().await;

    let (status, h) = alice.get_json("/v1/health?days=30").await;
    assert_eq!(status, 200, "{h}");
    assert_eq!(h["days"], 30);
    assert_eq!(h["worker"]["member"], alice.member.to_string());
    assert_eq!(h["worker"]["shifts"], 1);
    assert_eq!(h["worker"]["checkins"], 1);
    assert_eq!(h["worker"]["replies_received"], 1);
    assert!(h["team"].is_null(), "a member never gets the team's figures: {h}");

    let (status, h) = lead.get_json("/v1/health").await;
    assert_eq!(status, 200, "{h}");
    assert_eq!(h["days"], 28);
    assert_eq!(h["worker"]["member"], lead.member.to_string());
    assert_eq!(h["worker"]["shifts"], 0);
    let team = &h["team"];
    assert_eq!(team["total"]["shifts"], 1);
    assert_eq!(team["members"].as_array().unwrap().len(), 2);
    let names: Vec<&str> = h["members"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"Alice"));

    for p in ["/v1/health?days=0", "/v1/health?days=10000", "/v1/health?days=soon"] {
        let (status, e) = alice.get_json(p).await;
        assert_eq!(status, 400, "{p}: {e}");
    }
}

#[tokio::test]
async fn a_revoked_device_gets_401_from_every_dashboard_endpoint() {
    let server = TestServer::start().await;
    let (lead, mut alice) = team_of_two(&server).await;
    let shift = alice.start_shift();
    let c = alice.checkin(shift, CheckInStatus::Ok, 5);
    alice.sync().await;
    assert!(server.revoke(lead.device).await);
    let gets = [
        "/v1/me".to_string(),
        format!("/v1/shifts/{shift}"),
        format!("/v1/members/{}/shifts", alice.member),
        "/v1/health".to_string(),
    ];
    for p in &gets {
        let (status, e) = lead.get_json(p).await;
        assert_eq!((status, e["code"].as_str()), (401, Some("unauthorized")), "{p}");
    }
    let before = server_doc(&server, shift.uuid()).await.unwrap().get_heads();
    let posts = [
        (format!("/v1/shifts/{shift}/checkins/{c}/ack"), json!({"reply": "seen"})),
        ("/v1/kudos".to_string(), json!({"to": alice.member})),
    ];
    for (p, body) in &posts {
        let resp = lead.post_json(p, body.clone()).await;
        assert_eq!(resp.status(), 401, "{p}");
        assert_eq!(resp.json::<Value>().await.unwrap()["code"], "unauthorized");
    }
    assert_eq!(server_doc(&server, shift.uuid()).await.unwrap().get_heads(), before);
    // No token at all.
    let resp = http().get(server.url("/v1/me")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
}
