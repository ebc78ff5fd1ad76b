//! The deadline engine keeps each watched shift in memory and, after a push, adds what the push
//! added instead of reading the whole shift again. A change that reached the document another
//! way (written by the server itself) must not be missed: the engine notices the document is not
//! the one it last saw and reads it whole.

use crate::common;
use common::*;
use kith_domain::doc::shift;
use kith_domain::{CheckIn, CheckInStatus, Role, Secs, Timestamp};
use kith_server::testing::{MANUAL_START_MS, TestServer};

const MIN: i64 = 60_000;

#[tokio::test]
async fn a_check_in_written_outside_a_push_counts_at_the_shifts_next_push() {
    let server = TestServer::start_manual().await;
    let (team, lead_code) = server.create_team("North estate").await;
    let mut lead = Dev::join(&server, &lead_code, "Sam").await;
    let mut alice = Dev::join(&server, &server.invite(team, Role::Member).await, "Alice").await;
    lead.sync().await;
    let now = alice.device_now();
    let s = alice.start_shift_at(now, now + 8 * 60 * MIN, Secs::minutes(30), vec![]);
    alice.sync().await;

    // A check-in asking for support reaches the shift without a push (as the server's own edit).
    server.clock().set(MANUAL_START_MS + 5 * MIN);
    let support = CheckIn::new(CheckInStatus::Support, Timestamp(server.now()), alice.member, alice.device);
    server.app().docs.server_edit(s.uuid(), |tx| shift::add_checkin(tx, &support), server.now()).await.unwrap();
    server.run_due().await;

    // Alice's next push adds an ordinary check-in she made earlier, offline; the engine must see
    // both, so the request for support is the latest check-in and raises its alert.
    alice.checkin_at(s, CheckInStatus::Ok, now + MIN);
    alice.sync().await;
    let resp = lead.get("/v1/alerts?all=true").await;
    let v: serde_json::Value = resp.json().await.unwrap();
    let kinds: Vec<&str> = v["alerts"].as_array().unwrap().iter().filter_map(|a| a["kind"].as_str()).collect();
    assert!(kinds.contains(&"support"), "alerts: {v}");
}
