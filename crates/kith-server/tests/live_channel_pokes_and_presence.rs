//! The live channel (SSE): a lead is poked with the documents a worker's sync changed, the pusher
//! is not poked about its own push, and presence goes online and offline with the connections.

use crate::common;
use common::*;
use eventsource_stream::{Event, Eventsource};
use futures_util::{Stream, StreamExt};
use kith_domain::CheckInStatus;
use kith_server::testing::TestServer;
use std::pin::Pin;

type Events = Pin<Box<dyn Stream<Item = Event> + Send>>;

async fn connect(dev: &Dev) -> Events {
    let resp = dev.get("/v1/live").await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    Box::pin(resp.bytes_stream().eventsource().map(|e| e.expect("a well-formed event")))
}

/// The next event named `name` whose data satisfies `pred`.
async fn next_event(events: &mut Events, name: &str, pred: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    loop {
        let e = events.next().await.expect("the stream is open");
        if e.event == name {
            let v: serde_json::Value = serde_json::from_str(&e.data).unwrap();
            if pred(&v) {
                return v;
            }
        }
    }
}

#[tokio::test]
async fn a_lead_is_poked_when_a_worker_checks_in_and_sees_presence() {
    let server = TestServer::start().await;
    let (mut lead, mut alice) = team_of_two(&server).await;
    let lead_id = lead.member.to_string();
    let alice_id = alice.member.to_string();

    let mut lead_events = connect(&lead).await;
    // The lead's own arrival is announced to the team; seeing it means the stream is live.
    next_event(&mut lead_events, "presence", |v| v["member_id"] == lead_id && v["online"] == true).await;

    let mut alice_events = connect(&alice).await;
    let p = next_event(&mut lead_events, "presence", |v| v["member_id"] == alice_id).await;
    assert_eq!(p["online"], true);
    // Alice's stream starts with who is online.
    next_event(&mut alice_events, "presence", |v| v["member_id"] == lead_id && v["online"] == true).await;

    // Alice checks in on a new shift: the lead is told which document changed.
    let b = alice.start_shift();
    alice.checkin(b, CheckInStatus::Ok, 5);
    alice.sync().await;
    let changed = next_event(&mut lead_events, "changed", |_| true).await;
    assert_eq!(changed["docs"], serde_json::json!([b.uuid().to_string()]));

    // The lead acknowledges on another shift: Alice is poked about that one only, never about her own push.
    let a = alice.start_shift();
    let c = alice.checkin(a, CheckInStatus::Support, 6);
    alice.sync_docs(&[a.uuid()]).await;
    next_event(&mut lead_events, "changed", |v| v["docs"][0] == a.uuid().to_string()).await;
    lead.sync().await;
    lead.ack(a, c, "on my way");
    lead.sync_docs(&[a.uuid()]).await;
    let changed = next_event(&mut alice_events, "changed", |_| true).await;
    assert_eq!(changed["docs"], serde_json::json!([a.uuid().to_string()]));

    // The board shows who is online.
    let board: serde_json::Value = lead.get("/v1/board").await.json().await.unwrap();
    assert!(board["rows"].as_array().unwrap().iter().all(|r| r["online"] == true));

    // Alice goes away: the lead sees her offline, with a last-seen time.
    drop(alice_events);
    let p = next_event(&mut lead_events, "presence", |v| v["member_id"] == alice_id && v["online"] == false).await;
    assert!(p["last_seen"].as_i64().unwrap() > 0);
}

#[tokio::test]
async fn another_teams_changes_never_reach_the_stream() {
    let server = TestServer::start().await;
    let (lead, _alice) = team_of_two(&server).await;
    let (_, code) = server.create_team("South estate").await;
    let mut eve = Dev::join(&server, &code, "Eve").await;
    let mut lead_events = connect(&lead).await;
    let lead_id = lead.member.to_string();
    next_event(&mut lead_events, "presence", |v| v["member_id"] == lead_id).await;

    let s = eve.start_shift();
    eve.sync().await;
    // Then something in the lead's own team: it must be the first `changed` the lead sees.
    let mut alice = _alice;
    let mine = alice.start_shift();
    alice.sync().await;
    let changed = next_event(&mut lead_events, "changed", |_| true).await;
    assert_eq!(changed["docs"], serde_json::json!([mine.uuid().to_string()]));
    assert_ne!(changed["docs"][0], s.uuid().to_string());
}

#[tokio::test]
async fn shutting_down_ends_live_streams_instead_of_waiting_for_them() {
    let mut server = TestServer::start().await;
    let (lead, _alice) = team_of_two(&server).await;
    let mut events = connect(&lead).await;
    let lead_id = lead.member.to_string();
    next_event(&mut events, "presence", |v| v["member_id"] == lead_id).await;
    server.stop().await;
    while events.next().await.is_some() {}
    // The database is closed and can be opened again.
    server.start_again().await;
    assert_eq!(http().get(server.url("/healthz")).send().await.unwrap().status(), 200);
}
