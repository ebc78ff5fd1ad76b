//! Each time a device wrote is turned into server time with the clock offset measured when it
//! was received, and that offset is kept with it: a device clock put right in the middle of a
//! shift moves no deadline. Before, the planned end was re-read with the newest offset: a clock
//! put right moved the planned-end deadline three hours later (no alert when it was due), or
//! raised a false `past_planned_end` alert dated before the shift began with every step fired in
//! the same millisecond; and a check-in made offline before the clock was put right counted three
//! hours early, as if an older check-in were the latest.

use crate::common;
use common::*;
use kith_domain::{CheckInStatus, Role, Secs};
use kith_server::testing::{MANUAL_START_MS, TestServer};

const T: i64 = MANUAL_START_MS;
const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;

async fn at(server: &TestServer, t: i64) {
    server.clock().set(t);
    server.run_due().await;
}

/// Alice's one-hour shift (check in every 30 min) starts at T on a device `skew_h` hours off; at
/// +20 min her clock is put right and she checks in. The planned end stays +60 min.
#[tokio::test]
async fn the_planned_end_stays_where_it_was_when_the_clock_is_put_right_either_way() {
    for skew_h in [-3i64, 3] {
        let server = TestServer::start_manual().await;
        let (team, lead_code) = server.create_team("North estate").await;
        let mut lead = Dev::join(&server, &lead_code, "Sam").await;
        let mut alice = Dev::join(&server, &server.invite(team, Role::Member).await, "Alice").await;
        lead.sync().await;
        alice.skew_ms = skew_h * HOUR;
        let now = alice.device_now();
        let shift = alice.start_shift_at(now, now + HOUR, Secs::minutes(30), vec![]);
        alice.sync().await;

        server.clock().set(T + 20 * MIN);
        alice.skew_ms = 0;
        alice.checkin_at(shift, CheckInStatus::Ok, alice.device_now());
        alice.sync().await;
        at(&server, T + 20 * MIN).await;
        assert!(lead.open_alerts().await.is_empty(), "skew {skew_h} h: nothing is due at +20 min");
        let (_, view) = lead.get_json(&format!("/v1/shifts/{shift}")).await;
        assert_eq!(view["planned_end"], T + HOUR, "skew {skew_h} h: {view}");

        // Due at +50 (check-in +20, every 30 min) and the planned end at +60: the check-in decides.
        at(&server, T + 60 * MIN - 1).await;
        assert!(lead.open_alerts().await.is_empty(), "skew {skew_h} h: not before its time");
        alice.checkin_at(shift, CheckInStatus::Ok, alice.device_now());
        alice.sync().await;
        at(&server, T + 70 * MIN - 1).await;
        assert!(lead.open_alerts().await.is_empty(), "skew {skew_h} h: the planned end plus grace is +70 min");
        at(&server, T + 70 * MIN).await;
        let open = lead.open_alerts().await;
        assert_eq!(open.len(), 1, "skew {skew_h} h: {open:?}");
        assert_eq!(open[0]["kind"], "past_planned_end", "skew {skew_h} h");
        assert_eq!(open[0]["opened_at"], T + 70 * MIN, "skew {skew_h} h");
        assert_eq!(open[0]["due"], T + HOUR, "skew {skew_h} h");
        assert_eq!(open[0]["notified"], serde_json::json!(["worker"]), "skew {skew_h} h: the worker is reminded first");
    }
}

/// Alice's device is three hours slow. She checks in at +10 (synced), then at +30 with no signal;
/// her clock is put right at +35 and the offline check-in reaches the server at +45. It counts at
/// +30, when she made it, not three hours earlier: she is due at +60, not overdue since +40.
#[tokio::test]
async fn a_checkin_made_before_the_clock_was_put_right_counts_when_it_was_made() {
    let server = TestServer::start_manual().await;
    let (team, lead_code) = server.create_team("North estate").await;
    let mut lead = Dev::join(&server, &lead_code, "Sam").await;
    let mut alice = Dev::join(&server, &server.invite(team, Role::Member).await, "Alice").await;
    lead.sync().await;
    alice.skew_ms = -3 * HOUR;
    let now = alice.device_now();
    let shift = alice.start_shift_at(now, now + 8 * HOUR, Secs::minutes(30), vec![]);
    alice.sync().await;
    server.clock().set(T + 10 * MIN);
    alice.checkin_at(shift, CheckInStatus::Ok, alice.device_now());
    alice.sync().await;
    server.clock().set(T + 30 * MIN);
    let offline = alice.checkin_at(shift, CheckInStatus::Ok, alice.device_now());
    server.clock().set(T + 45 * MIN);
    alice.skew_ms = 0;
    alice.sync().await;
    at(&server, T + 45 * MIN).await;
    assert!(lead.open_alerts().await.is_empty());
    let (_, view) = lead.get_json(&format!("/v1/shifts/{shift}")).await;
    assert_eq!(view["next_due"], T + 60 * MIN, "{view}");
    at(&server, T + 70 * MIN - 1).await;
    assert!(lead.open_alerts().await.is_empty());
    at(&server, T + 70 * MIN).await;
    let open = lead.open_alerts().await;
    assert_eq!((open.len(), open[0]["due"].as_i64()), (1, Some(T + 60 * MIN)));
    // The board shows the offline check-in as her latest, at the time she made it.
    let (_, board) = lead.get_json("/v1/board").await;
    let r = board["rows"].as_array().unwrap().iter().find(|r| r["name"] == "Alice").unwrap();
    assert_eq!(r["last_checkin"], T + 30 * MIN, "{r}");
    let _ = offline;
}
