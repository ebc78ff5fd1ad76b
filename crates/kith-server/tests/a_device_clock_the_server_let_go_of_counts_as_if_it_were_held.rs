//! The devices' clock offsets are held within `cache.clocks_max_bytes` (the devices that synced
//! most recently); a device the server let go of is read from the database on its next sync, and
//! its latest exchange was stored before it was let go. So the budget changes no time: with room
//! for no device (each sync lets its device go: the smallest table the cache could hold takes
//! more than the budget), two workers syncing in turn, with a check-in made offline before the
//! clock was put right and a jitter too small to be stored before it, see exactly the times they
//! see with the default budget. Before, every device ever seen was loaded at start and held for
//! ever.

mod common;
use common::*;
use kith_domain::{CheckInStatus, DeviceId, Role, Secs};
use kith_server::receipts::DeviceClocks;
use kith_server::testing::{MANUAL_START_MS, TestServer};

const T: i64 = MANUAL_START_MS;
const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;

fn clock_reads() -> u64 {
    process_counter("kith_device_clock_reads_total")
}

/// What the lead sees of each worker: next due, planned end, the latest check-in on the board.
async fn scenario(budget: usize) -> Vec<(serde_json::Value, serde_json::Value, serde_json::Value)> {
    let server = TestServer::start_manual_with(|c| c.cache.clocks_max_bytes = budget).await;
    let (team, lead_code) = server.create_team("North estate").await;
    let mut lead = Dev::join(&server, &lead_code, "Sam").await;
    let mut alice = Dev::join(&server, &server.invite(team, Role::Member).await, "Alice").await;
    let mut bob = Dev::join(&server, &server.invite(team, Role::Member).await, "Bob").await;
    lead.sync().await;
    // Alice's clock is three hours slow, Bob's two hours fast.
    let skews = [-3 * HOUR, 2 * HOUR];
    let mut shifts = Vec::new();
    for (w, skew) in [&mut alice, &mut bob].into_iter().zip(skews) {
        w.skew_ms = skew;
        let now = w.device_now();
        shifts.push(w.start_shift_at(now, now + 8 * HOUR, Secs::minutes(30), vec![]));
        w.sync().await;
    }
    server.clock().set(T + 10 * MIN);
    for (w, s) in [&mut alice, &mut bob].into_iter().zip(&shifts) {
        w.checkin_at(*s, CheckInStatus::Ok, w.device_now());
        w.sync().await;
        lead.sync().await;
    }
    // A sync with 400 ms of jitter: not worth storing while held.
    server.clock().set(T + 20 * MIN);
    for (w, skew) in [&mut alice, &mut bob].into_iter().zip(skews) {
        w.skew_ms = skew - 400;
        w.sync().await;
        lead.sync().await;
    }
    // Check-ins made with no signal, then the clocks are put right, then they reach the server.
    server.clock().set(T + 30 * MIN);
    for (w, s) in [&mut alice, &mut bob].into_iter().zip(&shifts) {
        w.checkin_at(*s, CheckInStatus::Ok, w.device_now());
        w.skew_ms = 0;
    }
    server.clock().set(T + 45 * MIN);
    for w in [&mut alice, &mut bob] {
        w.sync().await;
        lead.sync().await;
    }
    server.clock().set(T + 50 * MIN);
    server.run_due().await;
    let (_, board) = lead.get_json("/v1/board").await;
    let mut out = Vec::new();
    for (name, s) in ["Alice", "Bob"].into_iter().zip(&shifts) {
        let (_, view) = lead.get_json(&format!("/v1/shifts/{s}")).await;
        let row = board["rows"].as_array().unwrap().iter().find(|r| r["name"] == name).unwrap();
        out.push((view["next_due"].clone(), view["planned_end"].clone(), row["last_checkin"].clone()));
    }
    assert!(lead.open_alerts().await.is_empty(), "budget {budget}: nobody is overdue at +50");
    out
}

#[tokio::test]
async fn with_room_for_no_device_the_times_are_those_of_the_default_budget() {
    let before = clock_reads();
    let held = scenario(kith_server::receipts::DEFAULT_MAX_BYTES).await;
    let reads_held = clock_reads() - before;
    let none = scenario(0).await;
    let reads_none = clock_reads() - before - reads_held;
    // Each offline check-in counts when it was made (+30 min), on the clock it was made with.
    let expected = (serde_json::json!(T + 60 * MIN), serde_json::json!(T + 8 * HOUR), serde_json::json!(T + 30 * MIN));
    assert_eq!(held, vec![expected.clone(), expected], "the default budget");
    assert_eq!(none, held, "with room for no device");
    // Only each device's first sync reads its clock with room for all; with room for none, all do.
    assert_eq!(reads_held, 3, "the lead's, Alice's and Bob's first syncs");
    assert!(reads_none >= 10, "{reads_none} reads: the devices were let go and read again");

    // A check-in another device relays counts with its own device's offset
    // (`DeviceClocks::others`): a device let go gives the offset of its latest exchange, jitter
    // included, read from the database.
    let server = TestServer::start().await;
    let storage = server.storage();
    let clocks = DeviceClocks::new(0);
    let alice = DeviceId::new();
    let first = clocks.exchange(alice, 3 * HOUR, T, None);
    assert!(first.store && first.forget.is_empty(), "stored, so let go at once");
    storage.set_device_offset(alice, 3 * HOUR, T).await.unwrap();
    let known = clocks.known(storage.as_ref(), alice).await.unwrap();
    let forget = clocks.exchange(alice, 3 * HOUR + 400, T + MIN, known).forget;
    assert_eq!(forget.iter().map(|f| f.0).collect::<Vec<_>>(), vec![alice], "Alice is let go once stored");
    for (d, c) in forget {
        storage.set_device_offset(d, c.offset_ms, c.at).await.unwrap();
        clocks.forgotten(d, c.at, true);
    }
    assert!(clocks.held(alice).is_none());
    let others = clocks.others(storage.as_ref(), [alice, DeviceId::new()].into_iter().collect()).await.unwrap();
    assert_eq!(others, [(alice, 3 * HOUR + 400)].into_iter().collect(), "a device never seen has no offset");
}
