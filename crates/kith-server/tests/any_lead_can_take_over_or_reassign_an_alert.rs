//! Any lead can take over an alert someone else claimed, or give it to a lead or a buddy of the
//! worker: everyone concerned hears it on the live channel, the webhook gets it, and the alert's
//! history shows every step, reply, claim, take-over, assignment and the resolution. Members,
//! other teams and bad input change nothing.

use crate::common;
use common::*;
use eventsource_stream::{Event, Eventsource};
use futures_util::{Stream, StreamExt};
use kith_domain::{CheckInStatus, Role, Secs};
use kith_server::testing::TestServer;
use serde_json::{Value, json};
use std::pin::Pin;

type Events = Pin<Box<dyn Stream<Item = Event> + Send>>;

async fn connect(dev: &Dev) -> Events {
    let resp = dev.get("/v1/live").await;
    assert_eq!(resp.status(), 200);
    Box::pin(resp.bytes_stream().eventsource().map(|e| e.expect("a well-formed event")))
}

async fn next_alert(events: &mut Events, action: &str) -> Value {
    loop {
        let e = events.next().await.expect("the stream is open");
        if e.event == "alert" {
            let v: Value = serde_json::from_str(&e.data).unwrap();
            if v["action"] == action {
                return v;
            }
        }
    }
}

struct Crew {
    sam: Dev,
    mo: Dev,
    alice: Dev,
    bob: Dev,
    carol: Dev,
    id: String,
}

/// Sam and Mo (leads), Alice (worker, in an emergency), Bob (her buddy), Carol (a member who is
/// not her buddy); the emergency's alert is open.
async fn crew(server: &TestServer) -> Crew {
    let (team, code) = server.create_team("North estate").await;
    let sam = Dev::join(server, &code, "Sam").await;
    let mo = Dev::join(server, &server.invite(team, Role::Lead).await, "Mo").await;
    let mut alice = Dev::join(server, &server.invite(team, Role::Member).await, "Alice").await;
    let bob = Dev::join(server, &server.invite(team, Role::Member).await, "Bob").await;
    let carol = Dev::join(server, &server.invite(team, Role::Member).await, "Carol").await;
    let now = alice.device_now();
    let shift = alice.start_shift_at(now, now + 8 * 3_600_000, Secs::minutes(30), vec![bob.member]);
    alice.checkin_at(shift, CheckInStatus::Emergency, now);
    alice.sync().await;
    let (_, v) = sam.get_json("/v1/alerts").await;
    let id = v["alerts"][0]["id"].as_str().expect("the emergency's alert").to_string();
    Crew { sam, mo, alice, bob, carol, id }
}

fn actions(a: &Value) -> Vec<String> {
    a["history"].as_array().unwrap().iter().map(|h| h["action"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn a_lead_takes_over_a_buddys_claim_and_everyone_sees_it_in_the_history() {
    let server = TestServer::start().await;
    let c = crew(&server).await;
    let mut alice_events = connect(&c.alice).await;
    let mut bob_events = connect(&c.bob).await;

    assert_eq!(c.bob.post_json(&format!("/v1/alerts/{}/claim", c.id), json!({})).await.status(), 200);
    let resp = c.mo.post_json(&format!("/v1/alerts/{}/takeover", c.id), json!({})).await;
    assert_eq!(resp.status(), 200);
    let a: Value = resp.json().await.unwrap();
    assert_eq!((a["state"].as_str(), a["claimed_by_name"].as_str()), (Some("claimed"), Some("Mo")));

    // The worker and the buddy who had it hear who owns it now.
    for events in [&mut alice_events, &mut bob_events] {
        let e = next_alert(events, "taken_over").await;
        assert_eq!(e["alert"]["claimed_by_name"], "Mo");
    }
    // The history: opened, the two steps (buddies, leads: by name), Bob's claim, Mo's take-over.
    assert_eq!(actions(&a), vec!["opened", "step", "step", "claimed", "taken_over"]);
    let h = a["history"].as_array().unwrap();
    assert_eq!(h[1]["told"], json!(["Bob"]));
    assert_eq!(h[2]["told"], json!(["Mo", "Sam"]));
    assert_eq!((h[3]["by_name"].as_str(), h[4]["by_name"].as_str()), (Some("Bob"), Some("Mo")));
    assert_eq!(h[4]["to_name"], "Bob", "taken over from Bob");
    // What the worker said and where to call her, with the alert.
    assert_eq!(a["said"]["status"], "emergency");

    // Only the new owner resolves it now.
    let r = c.bob.post_json(&format!("/v1/alerts/{}/resolve", c.id), json!({"note": "mine"})).await;
    assert_eq!(r.status(), 403);
    let r = c.mo.post_json(&format!("/v1/alerts/{}/resolve", c.id), json!({"note": "Phoned her: safe"})).await;
    assert_eq!(r.status(), 200);
    let a: Value = r.json().await.unwrap();
    assert_eq!(actions(&a).last().map(String::as_str), Some("resolved"));
    assert_eq!(a["history"].as_array().unwrap().last().unwrap()["text"], "Phoned her: safe");
    // Resolved: nobody takes it over or assigns it any more.
    let r = c.sam.post_json(&format!("/v1/alerts/{}/takeover", c.id), json!({})).await;
    assert_eq!(r.status(), 409);
    let r = c.sam.post_json(&format!("/v1/alerts/{}/assign", c.id), json!({"member": c.bob.member})).await;
    assert_eq!(r.status(), 409);
}

#[tokio::test]
async fn a_lead_gives_an_alert_to_a_buddy_or_a_lead_and_nobody_else() {
    let server = TestServer::start().await;
    let c = crew(&server).await;
    let mut bob_events = connect(&c.bob).await;
    let path = format!("/v1/alerts/{}/assign", c.id);

    let refused = [
        (json!({"member": c.carol.member}), "neither a lead nor"),
        (json!({"member": c.alice.member}), "the person this alert is about"),
        (json!({"member": uuid::Uuid::now_v7()}), "no such member"),
    ];
    for (body, why) in refused {
        let r = c.sam.post_json(&path, body).await;
        assert_eq!(r.status(), 400);
        let e: Value = r.json().await.unwrap();
        assert!(e["message"].as_str().unwrap().contains(why), "{e}");
    }
    let r = c.sam.post_raw(&path, "{\"member\": 12").await;
    assert_eq!((r.status().as_u16(), r.json::<Value>().await.unwrap()["code"].clone()), (400, json!("malformed_json")));
    let (_, v) = c.sam.get_json("/v1/alerts").await;
    assert_eq!(v["alerts"][0]["state"], "open", "nothing changed");

    let r = c.sam.post_json(&path, json!({"member": c.bob.member})).await;
    assert_eq!(r.status(), 200);
    let a: Value = r.json().await.unwrap();
    assert_eq!(a["claimed_by_name"], "Bob");
    assert_eq!(next_alert(&mut bob_events, "assigned").await["alert"]["claimed_by_name"], "Bob");
    let last = a["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["action"].as_str(), last["by_name"].as_str(), last["to_name"].as_str()),
        (Some("assigned"), Some("Sam"), Some("Bob"))
    );
    // And on to Mo, a lead: the same alert changes hands again.
    let r = c.sam.post_json(&path, json!({"member": c.mo.member})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["claimed_by_name"], "Mo");
    // Bob, its new owner, can resolve it no longer; Mo can.
    let r = c.mo.post_json(&format!("/v1/alerts/{}/resolve", c.id), json!({"note": "Talked to her"})).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn members_and_other_teams_cannot_take_over_or_assign() {
    let server = TestServer::start().await;
    let c = crew(&server).await;
    assert_eq!(c.sam.post_json(&format!("/v1/alerts/{}/claim", c.id), json!({})).await.status(), 200);
    // A buddy may claim an open alert, but not take one over from a lead, nor give it away.
    let r = c.bob.post_json(&format!("/v1/alerts/{}/takeover", c.id), json!({})).await;
    assert_eq!(r.status(), 403);
    let r = c.bob.post_json(&format!("/v1/alerts/{}/assign", c.id), json!({"member": c.bob.member})).await;
    assert_eq!(r.status(), 403);
    // Another team's lead does not learn the alert exists.
    let (_, other_code) = server.create_team("Elsewhere").await;
    let stranger = Dev::join(&server, &other_code, "Stranger").await;
    let r = stranger.post_json(&format!("/v1/alerts/{}/takeover", c.id), json!({})).await;
    assert_eq!(r.status(), 404);
    let r = stranger.post_json(&format!("/v1/alerts/{}/assign", c.id), json!({"member": stranger.member})).await;
    assert_eq!(r.status(), 404);
    let r = c.mo.post_json("/v1/alerts/not-an-id/takeover", json!({})).await;
    assert_eq!(r.status(), 400);
    let (_, v) = c.sam.get_json("/v1/alerts").await;
    assert_eq!(v["alerts"][0]["claimed_by_name"], "Sam", "still Sam's");
}

#[tokio::test]
async fn replies_and_every_change_of_hands_reach_the_webhook_and_the_history() {
    // The receiver is on this machine: the operator's opt-in for private webhook targets.
    let server = TestServer::start_with(|c| c.alerts.webhook_allow_private = true).await;
    let c = crew(&server).await;
    let r =
        c.sam.put_json("/v1/webhook", json!({"url": "http://127.0.0.1:9/hook", "secret": "0123456789abcdef"})).await;
    assert_eq!(r.status(), 204);
    let (_, v) = c.sam.get_json("/v1/alerts").await;
    let checkin = v["alerts"][0]["checkin"].as_str().unwrap().to_string();
    let shift = v["alerts"][0]["shift"].as_str().unwrap().to_string();
    let r = c
        .sam
        .post_json(&format!("/v1/shifts/{shift}/checkins/{checkin}/ack"), json!({"reply": "Calling you now"}))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(c.bob.post_json(&format!("/v1/alerts/{}/claim", c.id), json!({})).await.status(), 200);
    assert_eq!(c.sam.post_json(&format!("/v1/alerts/{}/takeover", c.id), json!({})).await.status(), 200);
    assert_eq!(
        c.sam.post_json(&format!("/v1/alerts/{}/assign", c.id), json!({"member": c.mo.member})).await.status(),
        200
    );

    let (_, v) = c.mo.get_json("/v1/alerts").await;
    let a = &v["alerts"][0];
    assert_eq!(actions(a), vec!["opened", "step", "step", "reply", "claimed", "taken_over", "assigned"]);
    let reply = &a["history"][3];
    assert_eq!((reply["by_name"].as_str(), reply["text"].as_str()), (Some("Sam"), Some("Calling you now")));

    let deliveries = server.storage().deliveries(c.sam.team).await.unwrap();
    let events: Vec<String> = deliveries
        .iter()
        .map(|d| serde_json::from_str::<Value>(&d.body).unwrap()["event"].as_str().unwrap().to_string())
        .filter(|e| e != "alert.step")
        .collect();
    assert_eq!(events, vec!["alert.claimed", "alert.taken_over", "alert.assigned"]);
    let mut keys: Vec<&str> = deliveries.iter().map(|d| d.key.as_str()).collect();
    keys.dedup();
    assert_eq!(keys.len(), deliveries.len(), "each change of hands has its own idempotency key");
}
