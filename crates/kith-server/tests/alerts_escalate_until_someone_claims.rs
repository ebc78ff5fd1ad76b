//! The deadline engine on a manual server clock: a missed check-in climbs the chain (worker,
//! buddies, leads) step by step at the policy's times and not before; a claim stops it; a late
//! offline check-in resolves it; an emergency skips the chain; past the planned end the worker is
//! reminded first; a restart mid-chain fires the next step once; a device clock three hours off
//! does not move anything. No sleeps: the test moves the clock and runs the engine.

use crate::common;
use common::*;
use eventsource_stream::{Event, Eventsource};
use futures_util::{Stream, StreamExt};
use kith_domain::{CheckInStatus, MemberId, Role, Secs, ShiftId};
use kith_server::testing::{MANUAL_START_MS, TestServer};
use serde_json::{Value, json};
use std::pin::Pin;

const T: i64 = MANUAL_START_MS;
const MIN: i64 = 60_000;

/// Sam (lead), Alice (worker) and Bob (Alice's buddy).
async fn crew(server: &TestServer) -> (Dev, Dev, Dev) {
    let (team, lead_code) = server.create_team("North estate").await;
    let mut lead = Dev::join(server, &lead_code, "Sam").await;
    let alice = Dev::join(server, &server.invite(team, Role::Member).await, "Alice").await;
    let mut bob = Dev::join(server, &server.invite(team, Role::Member).await, "Bob").await;
    lead.sync().await;
    bob.sync().await;
    (lead, alice, bob)
}

/// Alice starts a shift now: check in every 30 min, back in 8 h, Bob her buddy.
async fn alice_starts(alice: &mut Dev, bob: MemberId) -> ShiftId {
    let now = alice.device_now();
    let s = alice.start_shift_at(now, now + 8 * 60 * MIN, Secs::minutes(30), vec![bob]);
    alice.sync().await;
    s
}

async fn alerts_of(dev: &Dev, all: bool) -> Vec<Value> {
    let resp = dev.get(if all { "/v1/alerts?all=true" } else { "/v1/alerts" }).await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    v["alerts"].as_array().unwrap().clone()
}

/// Moves the server clock to `at` and runs the engine.
async fn at(server: &TestServer, at: i64) {
    server.clock().set(at);
    server.run_due().await;
}

fn notified(a: &Value) -> Vec<String> {
    a["notified"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect()
}

type Events = Pin<Box<dyn Stream<Item = Event> + Send>>;

async fn connect(dev: &Dev) -> Events {
    let resp = dev.get("/v1/live").await;
    assert_eq!(resp.status(), 200);
    Box::pin(resp.bytes_stream().eventsource().map(|e| e.expect("a well-formed event")))
}

/// The next `alert` event (skipping presence and pokes).
async fn next_alert(events: &mut Events) -> Value {
    loop {
        let e = events.next().await.expect("the stream is open");
        if e.event == "alert" {
            return serde_json::from_str(&e.data).unwrap();
        }
    }
}

#[tokio::test]
async fn every_escalation_step_fires_at_its_time_and_not_before() {
    let server = TestServer::start_manual().await;
    let (lead, mut alice, bob) = crew(&server).await;
    alice_starts(&mut alice, bob.member).await;

    // Due at +30 min, grace 10 min: nothing until +40 min.
    at(&server, T + 40 * MIN - 1).await;
    assert!(alerts_of(&lead, false).await.is_empty());

    at(&server, T + 40 * MIN).await;
    let a = &alerts_of(&lead, false).await[0];
    assert_eq!(a["kind"], "missed_checkin");
    assert_eq!(a["state"], "open");
    assert_eq!(a["worker_name"], "Alice");
    assert_eq!(a["opened_at"], T + 40 * MIN);
    assert_eq!(notified(a), vec!["worker"]);
    assert_eq!(a["next_step_at"], T + 45 * MIN);

    at(&server, T + 45 * MIN - 1).await;
    assert_eq!(notified(&alerts_of(&lead, false).await[0]), vec!["worker"]);
    at(&server, T + 45 * MIN).await;
    assert_eq!(notified(&alerts_of(&lead, false).await[0]), vec!["worker", "buddies"]);
    at(&server, T + 55 * MIN - 1).await;
    assert_eq!(notified(&alerts_of(&lead, false).await[0]), vec!["worker", "buddies"]);
    at(&server, T + 55 * MIN).await;
    let a = &alerts_of(&lead, false).await[0];
    assert_eq!(notified(a), vec!["worker", "buddies", "leads"]);
    assert_eq!(a["next_step_at"], Value::Null);
    // Running again later fires nothing more.
    at(&server, T + 90 * MIN).await;
    let id = a["id"].as_str().unwrap().parse().unwrap();
    let steps = server.storage().alert_steps(id).await.unwrap();
    assert_eq!(steps.iter().map(|s| s.fired_at).collect::<Vec<_>>(), vec![T + 40 * MIN, T + 45 * MIN, T + 55 * MIN]);
    // The worker and her buddy see it too; it is one alert, not one per deadline check.
    assert_eq!(alerts_of(&alice, false).await.len(), 1);
    assert_eq!(alerts_of(&bob, false).await.len(), 1);
}

#[tokio::test]
async fn each_step_reaches_its_people_over_the_live_channel() {
    let server = TestServer::start_manual().await;
    let (lead, mut alice, bob) = crew(&server).await;
    alice_starts(&mut alice, bob.member).await;
    let mut lead_events = connect(&lead).await;
    let mut bob_events = connect(&bob).await;
    let mut alice_events = connect(&alice).await;

    at(&server, T + 40 * MIN).await;
    let e = next_alert(&mut alice_events).await;
    assert_eq!((e["action"].as_str(), e["notify"].as_str()), (Some("step"), Some("worker")));
    at(&server, T + 45 * MIN).await;
    let e = next_alert(&mut bob_events).await;
    assert_eq!(e["notify"], "buddies", "the buddy's first alert event is the buddies step");
    assert_eq!(e["alert"]["worker_name"], "Alice");
    at(&server, T + 55 * MIN).await;
    let e = next_alert(&mut lead_events).await;
    assert_eq!(e["notify"], "leads", "the lead's first alert event is the leads step, not an earlier one");

    // Bob claims: everyone concerned sees who owns it.
    let id = e["alert"]["id"].as_str().unwrap().to_string();
    let resp = bob.post_json(&format!("/v1/alerts/{id}/claim"), json!({})).await;
    assert_eq!(resp.status(), 200);
    let e = next_alert(&mut lead_events).await;
    assert_eq!((e["action"].as_str(), e["alert"]["claimed_by_name"].as_str()), (Some("claimed"), Some("Bob")));
    let e = next_alert(&mut alice_events).await;
    assert_eq!(e["notify"], Value::Null);
    assert_eq!(e["action"], "claimed");
}

#[tokio::test]
async fn a_claim_stops_the_chain_and_only_the_claimer_resolves_with_a_note() {
    let server = TestServer::start_manual().await;
    let (lead, mut alice, bob) = crew(&server).await;
    alice_starts(&mut alice, bob.member).await;
    at(&server, T + 45 * MIN).await;
    let id = alerts_of(&lead, false).await[0]["id"].as_str().unwrap().to_string();

    assert_eq!(alice.post_json(&format!("/v1/alerts/{id}/claim"), json!({})).await.status(), 403);
    let resp = bob.post_json(&format!("/v1/alerts/{id}/claim"), json!({})).await;
    assert_eq!(resp.status(), 200);
    let a: Value = resp.json().await.unwrap();
    assert_eq!((a["state"].as_str(), a["claimed_by_name"].as_str()), (Some("claimed"), Some("Bob")));
    // Claiming twice is harmless; someone else is told who owns it.
    assert_eq!(bob.post_json(&format!("/v1/alerts/{id}/claim"), json!({})).await.status(), 200);
    let resp = lead.post_json(&format!("/v1/alerts/{id}/claim"), json!({})).await;
    assert_eq!(resp.status(), 409);
    assert!(resp.text().await.unwrap().contains("Bob"));

    // The leads step would be due at +55 min: it never fires.
    at(&server, T + 2 * 60 * MIN).await;
    let a = &alerts_of(&lead, false).await[0];
    assert_eq!(notified(a), vec!["worker", "buddies"]);
    assert_eq!(a["claimed_by_name"], "Bob");

    assert_eq!(lead.post_json(&format!("/v1/alerts/{id}/resolve"), json!({"note": "ok"})).await.status(), 403);
    assert_eq!(bob.post_json(&format!("/v1/alerts/{id}/resolve"), json!({"note": " "})).await.status(), 400);
    let resp = bob.post_json(&format!("/v1/alerts/{id}/resolve"), json!({"note": "Phoned her: phone was flat"})).await;
    assert_eq!(resp.status(), 200);
    assert!(alerts_of(&lead, false).await.is_empty());
    let history = alerts_of(&lead, true).await;
    assert_eq!(
        (history[0]["resolved_by"].as_str(), history[0]["note"].as_str()),
        (Some("claimer"), Some("Phoned her: phone was flat"))
    );
    // The same missed deadline does not raise a second alert.
    at(&server, T + 3 * 60 * MIN).await;
    assert!(alerts_of(&lead, false).await.is_empty());
}

#[tokio::test]
async fn a_late_offline_checkin_resolves_the_alert_and_history_keeps_both_times() {
    let server = TestServer::start_manual().await;
    let (lead, mut alice, bob) = crew(&server).await;
    let shift = alice_starts(&mut alice, bob.member).await;
    // Alice checks in at +25 min with no signal; it reaches the server at +50 min.
    server.clock().set(T + 25 * MIN);
    let c = alice.checkin_at(shift, CheckInStatus::Ok, alice.device_now());
    at(&server, T + 45 * MIN).await;
    assert_eq!(alerts_of(&lead, false).await.len(), 1);

    server.clock().set(T + 50 * MIN);
    alice.sync().await;
    assert!(alerts_of(&lead, false).await.is_empty(), "the late check-in resolved the alert at once");
    let a = &alerts_of(&lead, true).await[0];
    assert_eq!(a["resolved_by"], "check_in");
    assert_eq!(a["late_checkin"], true);
    assert_eq!(a["resolved_at"], T + 50 * MIN);
    let times = &a["resolving_checkin"];
    assert_eq!(times["checkin"], c.to_string());
    assert_eq!(times["device_time"], T + 25 * MIN);
    assert_eq!(times["received_at"], T + 50 * MIN);
    assert_eq!(times["effective_at"], T + 25 * MIN);
    // Her next deadline counts from when she checked in: due +55, overdue +65.
    at(&server, T + 65 * MIN - 1).await;
    assert!(alerts_of(&lead, false).await.is_empty());
    at(&server, T + 65 * MIN).await;
    assert_eq!(alerts_of(&lead, false).await.len(), 1);
}

#[tokio::test]
async fn an_emergency_skips_the_chain_and_reaches_leads_and_buddies_at_once() {
    let server = TestServer::start_manual().await;
    let (lead, mut alice, bob) = crew(&server).await;
    let shift = alice_starts(&mut alice, bob.member).await;
    let mut lead_events = connect(&lead).await;
    let mut bob_events = connect(&bob).await;

    server.clock().set(T + 5 * MIN);
    alice.checkin_at(shift, CheckInStatus::Emergency, alice.device_now());
    alice.sync().await;
    // No engine run needed: the sync raised it.
    let a = &alerts_of(&lead, false).await[0];
    assert_eq!((a["kind"].as_str(), a["urgent"].as_bool()), (Some("emergency"), Some(true)));
    assert_eq!(notified(a), vec!["buddies", "leads"]);
    assert_eq!(next_alert(&mut lead_events).await["alert"]["kind"], "emergency");
    assert_eq!(next_alert(&mut bob_events).await["alert"]["kind"], "emergency");

    // A support request is not an alarm.
    server.clock().set(T + 8 * MIN);
    alice.checkin_at(shift, CheckInStatus::Support, alice.device_now());
    alice.sync().await;
    let open = alerts_of(&lead, false).await;
    assert_eq!(open.len(), 1, "the emergency was replaced by the later check-in");
    assert_eq!((open[0]["kind"].as_str(), open[0]["urgent"].as_bool()), (Some("support"), Some(false)));
    let all = alerts_of(&lead, true).await;
    assert_eq!(all.iter().find(|a| a["kind"] == "emergency").unwrap()["resolved_by"], "check_in");
}

#[tokio::test]
async fn past_the_planned_end_the_worker_is_reminded_then_it_escalates_until_she_ends() {
    let server = TestServer::start_manual().await;
    let (lead, mut alice, bob) = crew(&server).await;
    let now = alice.device_now();
    // Back by +20 min, checking in hourly: the planned end decides.
    let shift = alice.start_shift_at(now, now + 20 * MIN, Secs::minutes(60), vec![bob.member]);
    alice.sync().await;
    at(&server, T + 30 * MIN - 1).await;
    assert!(alerts_of(&lead, false).await.is_empty());
    at(&server, T + 30 * MIN).await;
    let a = &alerts_of(&lead, false).await[0];
    assert_eq!(a["kind"], "past_planned_end");
    assert_eq!(notified(a), vec!["worker"], "the worker is reminded first");
    at(&server, T + 35 * MIN).await;
    assert_eq!(notified(&alerts_of(&lead, false).await[0]), vec!["worker", "buddies"]);

    server.clock().set(T + 37 * MIN);
    alice.end_shift_at(shift, alice.device_now());
    alice.sync().await;
    assert!(alerts_of(&lead, false).await.is_empty());
    assert_eq!(alerts_of(&lead, true).await[0]["resolved_by"], "end");
    at(&server, T + 5 * 60 * MIN).await;
    assert!(alerts_of(&lead, false).await.is_empty(), "an ended shift raises nothing more");
}

#[tokio::test]
async fn a_server_restarted_mid_chain_fires_the_next_step_once_at_its_time() {
    let mut server = TestServer::start_manual().await;
    let (mut lead, mut alice, bob) = crew(&server).await;
    alice_starts(&mut alice, bob.member).await;
    at(&server, T + 45 * MIN).await;
    let id: uuid::Uuid = alerts_of(&lead, false).await[0]["id"].as_str().unwrap().parse().unwrap();

    server.restart().await;
    lead.reconnect(&server);
    assert_eq!(server.storage().alert_steps(id).await.unwrap().len(), 2, "nothing fired again on start");
    at(&server, T + 55 * MIN - 1).await;
    assert_eq!(server.storage().alert_steps(id).await.unwrap().len(), 2);
    at(&server, T + 55 * MIN).await;
    at(&server, T + 55 * MIN).await;
    let steps = server.storage().alert_steps(id).await.unwrap();
    assert_eq!(steps.len(), 3);
    assert_eq!(steps[2].fired_at, T + 55 * MIN);
    assert_eq!(alerts_of(&lead, false).await.len(), 1);

    // Down while a step came due: it fires on start, once.
    let mut server2 = TestServer::start_manual().await;
    let (lead2, mut alice2, bob2) = crew(&server2).await;
    alice_starts(&mut alice2, bob2.member).await;
    at(&server2, T + 40 * MIN).await;
    server2.stop().await;
    server2.clock().set(T + 50 * MIN);
    server2.start_again().await;
    let mut lead2 = lead2;
    lead2.reconnect(&server2);
    let a = &alerts_of(&lead2, false).await[0];
    assert_eq!(notified(a), vec!["worker", "buddies"]);
    let id: uuid::Uuid = a["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(server2.storage().alert_steps(id).await.unwrap()[1].fired_at, T + 50 * MIN);
}

#[tokio::test]
async fn a_device_clock_three_hours_off_still_makes_her_overdue_on_time() {
    for skew_h in [3i64, -3] {
        let server = TestServer::start_manual().await;
        let (lead, mut alice, bob) = crew(&server).await;
        alice.skew_ms = skew_h * 60 * MIN;
        let shift = alice_starts(&mut alice, bob.member).await;
        server.clock().set(T + 10 * MIN);
        alice.checkin_at(shift, CheckInStatus::Ok, alice.device_now());
        alice.sync().await;
        // Checked in at +10 (server clock): due +40, overdue +50, whatever her clock says.
        at(&server, T + 50 * MIN - 1).await;
        assert!(alerts_of(&lead, false).await.is_empty(), "skew {skew_h}h: not before its time");
        at(&server, T + 50 * MIN).await;
        let open = alerts_of(&lead, false).await;
        assert_eq!(open.len(), 1, "skew {skew_h}h: overdue on time");
        assert_eq!(open[0]["due"], T + 40 * MIN, "skew {skew_h}h");
    }
}

#[tokio::test]
async fn a_teammate_who_is_not_a_buddy_neither_sees_nor_claims_the_alert() {
    let server = TestServer::start_manual().await;
    let (lead, mut alice, bob) = crew(&server).await;
    let carol = Dev::join(&server, &server.invite(lead.team, Role::Member).await, "Carol").await;
    alice_starts(&mut alice, bob.member).await;
    at(&server, T + 40 * MIN).await;
    let id = alerts_of(&lead, false).await[0]["id"].as_str().unwrap().to_string();
    assert!(alerts_of(&carol, true).await.is_empty());
    let resp = carol.post_json(&format!("/v1/alerts/{id}/claim"), json!({})).await;
    assert_eq!(resp.status(), 404, "the same answer as for an alert that does not exist");
    let resp = lead.post_json(&format!("/v1/alerts/{}/claim", uuid::Uuid::now_v7()), json!({})).await;
    assert_eq!(resp.status(), 404);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["code"], "alert_unknown");
    assert_eq!(lead.post_json("/v1/alerts/not-an-id/claim", json!({})).await.status(), 400);
}

#[tokio::test]
async fn two_workers_due_at_the_same_moment_raise_two_alerts() {
    let server = TestServer::start_manual().await;
    let (lead, mut alice, mut bob) = crew(&server).await;
    alice_starts(&mut alice, bob.member).await;
    alice_starts(&mut bob, alice.member).await;
    at(&server, T + 40 * MIN).await;
    let open = alerts_of(&lead, false).await;
    assert_eq!(open.len(), 2);
    let mut names: Vec<&str> = open.iter().map(|a| a["worker_name"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, vec!["Alice", "Bob"]);
}
