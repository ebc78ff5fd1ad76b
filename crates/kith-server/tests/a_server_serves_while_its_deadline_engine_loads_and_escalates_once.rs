//! A restarted server serves before its deadline engine has loaded the active shifts (at scale
//! that takes seconds, docs/benchmarks.md "Startup at scale"), and what it answers meanwhile is
//! true: `/healthz` says the deadlines are `loading`, the board shows an overdue worker as overdue
//! (its rows come from the shifts on the server clock, not from the engine), syncs and claims are
//! answered. Once loaded, a deadline that passed while the server was down escalates once, the
//! steps due fire once, a claim made meanwhile stops the chain, and `/healthz` says `ready`.
//! On a manual clock, the load held by the test: no sleeps.

use crate::common;
use common::*;
use kith_domain::{MemberId, Role, Secs, ShiftId};
use kith_server::testing::{MANUAL_START_MS, TestServer};
use serde_json::Value;

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

/// Alice starts a shift now: check in every 30 min (due +30, alert at +40 after grace).
async fn alice_starts(alice: &mut Dev, bob: MemberId) -> ShiftId {
    let now = alice.device_now();
    let s = alice.start_shift_at(now, now + 8 * 60 * MIN, Secs::minutes(30), vec![bob]);
    alice.sync().await;
    s
}

async fn alerts_of(dev: &Dev) -> Vec<Value> {
    let resp = dev.get("/v1/alerts").await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    v["alerts"].as_array().unwrap().clone()
}

async fn deadlines(server: &TestServer) -> String {
    let resp = http().get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200, "the server serves while its engine loads");
    let v: Value = resp.json().await.unwrap();
    v["deadlines"].as_str().expect("a deadlines field").to_string()
}

async fn board_status_of(lead: &Dev, name: &str) -> String {
    let resp = lead.get("/v1/board").await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    let row = v["rows"].as_array().unwrap().iter().find(|r| r["name"] == name).expect("a board row").clone();
    row["status"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_deadline_passed_while_down_escalates_once_after_the_load_and_requests_are_answered_meanwhile() {
    let mut server = TestServer::start_manual().await;
    let (mut lead, mut alice, mut bob) = crew(&server).await;
    alice_starts(&mut alice, bob.member).await;
    assert_eq!(deadlines(&server).await, "ready");

    // Down from +10 min; back at +50: the check-in was due at +30, the alert at +40 (worker),
    // its second step at +45 (buddies), its third at +55 (leads).
    server.clock().set(T + 10 * MIN);
    server.run_due().await;
    server.clock().set(T + 50 * MIN);
    let release = server.restart_holding_engine().await;
    for d in [&mut lead, &mut alice, &mut bob] {
        d.reconnect(&server);
    }

    assert_eq!(deadlines(&server).await, "loading");
    assert!(!server.app().alerts.is_ready());
    // The board tells the truth without the engine: Alice is overdue.
    assert_eq!(board_status_of(&lead, "Alice").await, "overdue");
    // Her alert is not raised yet (that is what `loading` says), and the ticker raises nothing
    // from an engine that has not loaded.
    assert!(alerts_of(&lead).await.is_empty());
    assert_eq!(server.run_due().await, 0);
    // A sync is answered (it does not wait for an engine that takes nothing in yet).
    bob.sync().await;

    let _ = release.send(());
    server.app().started().await;
    assert_eq!(deadlines(&server).await, "ready");
    let alerts = alerts_of(&lead).await;
    assert_eq!(alerts.len(), 1, "one alert: {alerts:?}");
    assert_eq!(alerts[0]["kind"], "missed_checkin");
    let id: uuid::Uuid = alerts[0]["id"].as_str().unwrap().parse().unwrap();
    let steps = server.storage().alert_steps(id).await.unwrap();
    assert_eq!(steps.iter().map(|s| s.fired_at).collect::<Vec<_>>(), vec![T + 50 * MIN, T + 50 * MIN]);

    // Nothing fires twice: not on the next run, not after another restart.
    server.run_due().await;
    server.restart().await;
    lead.reconnect(&server);
    server.run_due().await;
    assert_eq!(server.storage().alert_steps(id).await.unwrap().len(), 2);
    assert_eq!(alerts_of(&lead).await.len(), 1);
    // The leads' step fires at its time, once.
    server.clock().set(T + 55 * MIN);
    server.run_due().await;
    server.run_due().await;
    assert_eq!(server.storage().alert_steps(id).await.unwrap().len(), 3);
}

#[tokio::test]
async fn a_claim_made_while_the_engine_loads_stops_the_chain() {
    let mut server = TestServer::start_manual().await;
    let (mut lead, mut alice, bob) = crew(&server).await;
    alice_starts(&mut alice, bob.member).await;
    server.clock().set(T + 40 * MIN);
    server.run_due().await;
    let id: uuid::Uuid = alerts_of(&lead).await[0]["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(server.storage().alert_steps(id).await.unwrap().len(), 1);

    // Back at +50 (the buddies' step came due at +45); the lead claims before the engine loads.
    server.clock().set(T + 50 * MIN);
    let release = server.restart_holding_engine().await;
    lead.reconnect(&server);
    let resp = lead.post_json(&format!("/v1/alerts/{id}/claim"), serde_json::json!({})).await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());

    let _ = release.send(());
    server.app().started().await;
    server.run_due().await;
    let a = server.storage().alert(id).await.unwrap().unwrap();
    assert_eq!(a.state, kith_server::storage::AlertState::Claimed);
    assert_eq!(server.storage().alert_steps(id).await.unwrap().len(), 1, "a claimed alert climbs no further");
}

#[tokio::test]
async fn the_readiness_signal_flips_only_after_every_active_shift_is_re_evaluated() {
    let mut server = TestServer::start_manual().await;
    let (_lead, mut alice, bob) = crew(&server).await;
    alice_starts(&mut alice, bob.member).await;
    let release = server.restart_holding_engine().await;
    assert_eq!(deadlines(&server).await, "loading");
    assert_eq!(server.app().alerts.watched().await, 0);
    drop(release);
    server.app().alerts.ready().await;
    assert_eq!(server.app().alerts.watched().await, 1, "ready means every active shift is watched");
    assert_eq!(deadlines(&server).await, "ready");
}
