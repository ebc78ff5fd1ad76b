//! The board is computed from every active shift, whatever order shift documents reached the
//! server in: a worker whose older, ended shifts (made offline, synced late) arrive after her
//! active one is still on shift, and in an emergency when she is in one. Her history lists her
//! shifts newest first by when they started (on the server clock), not by when they arrived.

use crate::common;
use common::*;
use kith_domain::{CheckInStatus, Role, Secs};
use kith_server::testing::TestServer;
use serde_json::Value;

const MIN: i64 = 60_000;

fn row<'a>(board: &'a Value, name: &str) -> &'a Value {
    board["rows"].as_array().unwrap().iter().find(|r| r["name"] == name).unwrap()
}

#[tokio::test]
async fn ended_shifts_synced_after_an_active_one_do_not_hide_it() {
    let server = TestServer::start_manual().await;
    let (team, lead_code) = server.create_team("North estate").await;
    let mut lead = Dev::join(&server, &lead_code, "Sam").await;
    let mut alice = Dev::join(&server, &server.invite(team, Role::Member).await, "Alice").await;
    lead.sync().await;
    let now = alice.device_now();
    let active = alice.start_shift_at(now, now + 8 * 60 * MIN, Secs::minutes(30), vec![]);
    alice.sync().await;
    // Six shifts of the past week, made on a phone that was offline, reach the server now.
    let mut old = Vec::new();
    for day in 1..=6 {
        let start = now - day * 24 * 60 * MIN;
        let s = alice.start_shift_at(start, start + 8 * 60 * MIN, Secs::minutes(30), vec![]);
        alice.checkin_at(s, CheckInStatus::Ok, start + 20 * MIN);
        alice.end_shift_at(s, start + 7 * 60 * MIN);
        old.push(s);
    }
    alice.sync().await;
    let (status, board) = lead.get_json("/v1/board").await;
    assert_eq!(status, 200);
    let r = row(&board, "Alice");
    assert_eq!(r["shift"], active.to_string(), "the active shift is her current one: {r}");
    assert_ne!(r["status"], "off_shift", "{r}");

    server.clock().set(server.now() + 5 * MIN);
    alice.checkin_at(active, CheckInStatus::Emergency, alice.device_now());
    alice.sync().await;
    let (_, board) = lead.get_json("/v1/board").await;
    assert_eq!(row(&board, "Alice")["status"], "emergency", "{board}");

    // Her history, newest first by start: the active shift, then the past days in order.
    let (status, history) = lead.get_json(&format!("/v1/members/{}/shifts?limit=3", alice.member)).await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = history.as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    let expected = [active.to_string(), old[0].to_string(), old[1].to_string()];
    assert_eq!(ids, expected.iter().map(String::as_str).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_member_off_shift_shows_the_shift_that_ended_last() {
    let server = TestServer::start_manual().await;
    let (team, lead_code) = server.create_team("North estate").await;
    let mut lead = Dev::join(&server, &lead_code, "Sam").await;
    let mut alice = Dev::join(&server, &server.invite(team, Role::Member).await, "Alice").await;
    lead.sync().await;
    let now = alice.device_now();
    // Yesterday's shift, ended, synced first; then five older ones.
    let yesterday = alice.start_shift_at(now - 24 * 60 * MIN, now - 16 * 60 * MIN, Secs::minutes(30), vec![]);
    alice.end_shift_at(yesterday, now - 17 * 60 * MIN);
    alice.sync().await;
    for day in 2..=6 {
        let start = now - day * 24 * 60 * MIN;
        let s = alice.start_shift_at(start, start + 8 * 60 * MIN, Secs::minutes(30), vec![]);
        alice.end_shift_at(s, start + 7 * 60 * MIN);
    }
    alice.sync().await;
    let (_, board) = lead.get_json("/v1/board").await;
    let r = row(&board, "Alice");
    assert_eq!((r["status"].as_str(), r["shift"].as_str()), (Some("off_shift"), Some(yesterday.to_string().as_str())));
}
