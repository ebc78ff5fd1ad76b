//! A device checks a new shift's check-in interval against its copy of the team's policy, but the
//! server cannot refuse a shift for it (a device offline with an older policy started it rightly;
//! refusing would lose it). A shift asking for a longer interval than the policy allows now (a
//! buggy or forged client, or a lead who shortened the longest interval since) is held to the
//! policy's longest: the missed check-in alert comes at the policy's time, and the board and the
//! shift's view show that due time. Before, the engine and the views used the shift's interval as
//! written: 30 hours without a check-in raised nothing. On the manual clock: no sleeps.

use crate::common;
use common::*;
use kith_domain::{Role, Secs};
use kith_server::testing::{MANUAL_START_MS, TestServer};

const T: i64 = MANUAL_START_MS;
const MIN: i64 = 60_000;

#[tokio::test]
async fn a_shift_asking_for_thirty_hours_is_due_after_the_policys_four() {
    let server = TestServer::start_manual().await;
    let (team, lead_code) = server.create_team("North estate").await;
    let mut lead = Dev::join(&server, &lead_code, "Sam").await;
    let mut alice = Dev::join(&server, &server.invite(team, Role::Member).await, "Alice").await;
    // The default policy: at most 4 hours between check-ins, 10 minutes' grace.
    let shift = alice.start_shift_at(T, T + 36 * 60 * MIN, Secs::hours(30), vec![]);
    alice.sync().await;
    lead.sync().await;

    let (_, view) = lead.get_json(&format!("/v1/shifts/{shift}")).await;
    assert_eq!(view["next_due"], T + 4 * 60 * MIN, "{view}");
    let (_, board) = lead.get_json("/v1/board").await;
    let row = board["rows"].as_array().unwrap().iter().find(|r| r["name"] == "Alice").cloned().unwrap();
    assert_eq!(row["next_due"], T + 4 * 60 * MIN, "{row}");

    server.clock().set(T + 250 * MIN - 1);
    server.run_due().await;
    assert!(lead.open_alerts().await.is_empty());
    for m in 250..=265 {
        server.clock().set(T + m * MIN);
        server.run_due().await;
    }
    let open = lead.open_alerts().await;
    assert_eq!(open.len(), 1, "{open:#?}");
    assert_eq!(open[0]["due"], T + 4 * 60 * MIN);
    assert_missed_checkin_climbed(&server, &open[0], "Alice", T + 250 * MIN).await;
}
