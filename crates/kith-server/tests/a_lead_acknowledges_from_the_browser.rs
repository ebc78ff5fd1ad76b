//! A lead acknowledges a check-in from the browser dashboard: the server writes the ack into the
//! worker's shift document as its own actor on the lead's behalf, under the rules of a lead's own
//! change, and the worker's device gets it with its next sync (poked on the live channel), like
//! any ack. A member cannot; bad input changes nothing; the ack resolves no alert (a device's
//! ack does not either).

use crate::common;
use common::*;
use kith_domain::{CheckInStatus, Role};
use kith_server::testing::TestServer;
use serde_json::{Value, json};

#[tokio::test]
async fn the_browser_ack_reaches_the_workers_device_with_its_next_sync() {
    let server = TestServer::start().await;
    let (mut lead, mut alice) = team_of_two(&server).await;
    let shift = alice.start_shift();
    alice.checkin(shift, CheckInStatus::Ok, 20);
    let support = alice.checkin(shift, CheckInStatus::Support, 50);
    alice.sync().await;
    let mut alice_live = open_live(&alice).await;
    let alerts_before: Value = lead.get("/v1/alerts").await.json().await.unwrap();
    assert!(alerts_before["alerts"].as_array().unwrap().iter().any(|a| a["kind"] == "support"), "{alerts_before}");

    // The lead has no document of its own: only the JSON API.
    let resp =
        lead.post_json(&format!("/v1/shifts/{shift}/checkins/{support}/ack"), json!({"reply": "  On my way  "})).await;
    assert_eq!(resp.status(), 200);
    let view: Value = resp.json().await.unwrap();
    assert_eq!(view["id"], shift.to_string());
    let acked = &view["checkins"][0];
    assert_eq!(acked["id"], support.to_string());
    let ack = &acked["acks"][0];
    assert_eq!(ack["by"], lead.member.to_string());
    assert_eq!(ack["by_name"], "Sam");
    assert_eq!(ack["reply"], "On my way");
    assert!(ack["at"].as_i64().unwrap() > t0().millis());
    assert_eq!(view["checkins"][1]["acks"], json!([]));

    // Alice is told her shift changed, syncs, and holds the ack: by the lead, written by the
    // server's actor (not the lead's, nor hers).
    let changed = next_live(&mut alice_live, "changed", |v| v["docs"][0] == shift.to_string()).await;
    assert_eq!(changed["docs"].as_array().unwrap().len(), 1);
    alice.sync().await;
    let s = alice.shift(shift);
    assert_eq!(s.acks.len(), 1);
    assert_eq!((s.acks[0].checkin, s.acks[0].by), (support, lead.member));
    assert_eq!(s.acks[0].reply.as_deref(), Some("On my way"));
    let server_actor = automerge::ActorId::from(server.storage().server_actor().await.unwrap());
    let doc = alice.doc(shift.uuid());
    let last = doc.get_changes(&[]).last().map(|c| c.actor_id().clone()).unwrap();
    assert_eq!(last, server_actor);
    assert_eq!(server_doc(&server, shift.uuid()).await.unwrap().get_heads(), doc.get_heads());
    // She keeps checking in on top of it; the lead's own device gets both through the feed.
    alice.checkin(shift, CheckInStatus::Ok, 80);
    alice.sync().await;
    lead.sync().await;
    assert_eq!(lead.shift(shift), alice.shift(shift));

    // An ack is a reply, not a claim: the support alert stays as it was, exactly as after a
    // device's ack. (Alice's newer "OK" check-in resolved it above, so look at the history.)
    let all: Value = lead.get("/v1/alerts?all=true").await.json().await.unwrap();
    let support_alert = all["alerts"].as_array().unwrap().iter().find(|a| a["kind"] == "support").unwrap();
    assert_eq!(support_alert["resolved_by"], "check_in");
    assert!(support_alert["claimed_by"].is_null());

    // An empty body is an ack without a reply.
    let first = alice.shift(shift).checkins[0].id;
    let resp = lead.post_raw(&format!("/v1/shifts/{shift}/checkins/{first}/ack"), "").await;
    assert_eq!(resp.status(), 200);
    let view: Value = resp.json().await.unwrap();
    let c = view["checkins"].as_array().unwrap().iter().find(|c| c["id"] == first.to_string()).unwrap().clone();
    assert!(c["acks"][0]["reply"].is_null());
}

#[tokio::test]
async fn an_ack_resolves_no_alert_by_itself() {
    let server = TestServer::start().await;
    let (lead, mut alice) = team_of_two(&server).await;
    let shift = alice.start_shift();
    let support = alice.checkin(shift, CheckInStatus::Support, 50);
    alice.sync().await;
    let resp =
        lead.post_json(&format!("/v1/shifts/{shift}/checkins/{support}/ack"), json!({"reply": "Calling you"})).await;
    assert_eq!(resp.status(), 200);
    let open: Value = lead.get("/v1/alerts").await.json().await.unwrap();
    let a = open["alerts"].as_array().unwrap().iter().find(|a| a["kind"] == "support").expect("still open").clone();
    assert_eq!(a["state"], "open");
    assert!(a["resolved_at"].is_null());
}

#[tokio::test]
async fn members_cannot_ack_and_bad_requests_change_nothing() {
    let server = TestServer::start().await;
    let (lead, mut alice) = team_of_two(&server).await;
    let bob = Dev::join(&server, &server.invite(lead.team, Role::Member).await, "Bob").await;
    let (_, other_code) = server.create_team("South estate").await;
    let eve = Dev::join(&server, &other_code, "Eve").await;
    let shift = alice.start_shift();
    let c = alice.checkin(shift, CheckInStatus::Support, 10);
    alice.sync().await;
    let heads = server_doc(&server, shift.uuid()).await.unwrap().get_heads();
    let seq = max_seq(&server).await;
    let ack_path = format!("/v1/shifts/{shift}/checkins/{c}/ack");

    // The worker herself and a teammate: members never acknowledge (the same rule as a device's change).
    for dev in [&alice, &bob] {
        let resp = dev.post_json(&ack_path, json!({"reply": "fine"})).await;
        assert_eq!(resp.status(), 403, "{}", dev.name);
        let e: Value = resp.json().await.unwrap();
        assert_eq!(e["code"], "forbidden");
        assert!(e["message"].as_str().unwrap().contains("lead"), "{e}");
    }
    // A lead of another team: the shift does not exist for her.
    let resp = eve.post_json(&ack_path, json!({})).await;
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.json::<Value>().await.unwrap()["code"], "doc_unknown");

    let cases: Vec<(String, &str, u16, &str)> = vec![
        (ack_path.clone(), "{\"reply\": ", 400, "malformed_json"),
        (ack_path.clone(), "{\"reply\": 5}", 400, "malformed_json"),
        (ack_path.clone(), "[1, 2]", 400, "malformed_json"),
        (format!("/v1/shifts/{shift}/checkins/{}/ack", uuid::Uuid::now_v7()), "{}", 404, "checkin_unknown"),
        (format!("/v1/shifts/{}/checkins/{c}/ack", uuid::Uuid::now_v7()), "{}", 404, "doc_unknown"),
        (format!("/v1/shifts/{}/checkins/{c}/ack", lead.team), "{}", 404, "doc_unknown"),
        (format!("/v1/shifts/{shift}/checkins/nope/ack"), "{}", 400, "bad_id"),
    ];
    for (path, body, status, code) in &cases {
        let resp = lead.post_raw(path, body).await;
        assert_eq!(resp.status().as_u16(), *status, "{path} {body}");
        assert_eq!(resp.json::<Value>().await.unwrap()["code"], *code, "{path} {body}");
    }
    let long = "x".repeat(kith_domain::limits::ACK_REPLY.max_chars + 1);
    let resp = lead.post_json(&ack_path, json!({ "reply": long })).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<Value>().await.unwrap()["code"], "reply_too_long");

    assert_eq!(server_doc(&server, shift.uuid()).await.unwrap().get_heads(), heads, "the document is unchanged");
    assert_eq!(max_seq(&server).await, seq, "nothing was stored");
    alice.sync().await;
    assert!(alice.shift(shift).acks.is_empty());
}
