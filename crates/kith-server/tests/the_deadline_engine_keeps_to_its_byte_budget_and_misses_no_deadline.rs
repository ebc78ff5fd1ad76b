//! The deadline engine's copies of the active shifts are bounded by bytes
//! (`alerts.shifts_max_bytes`): past it, the shifts due last are kept as their wake time only and
//! read from the database again when they come due or change. Every missed check-in still raises
//! its alert at its moment and climbs its chain step by step, shed or not, and a check-in to a
//! shed shift moves its deadline. On the manual clock: no sleeps.

use crate::common;
use common::*;
use kith_domain::CheckInStatus;
use kith_server::testing::{MANUAL_START_MS, TestServer};

const T: i64 = MANUAL_START_MS;
const MIN: i64 = 60_000;
const WORKERS: usize = 10;
/// About three shifts' copies (a held shift is its summary, about 370 bytes with its slot in the map).
const BUDGET: usize = 1_200;

#[tokio::test]
async fn shifts_shed_from_memory_still_raise_and_climb_every_alert_on_time() {
    let server = TestServer::start_manual_with(|c| c.alerts.shifts_max_bytes = BUDGET).await;
    let (team, lead_code) = server.create_team("North estate").await;
    let mut lead = Dev::join(&server, &lead_code, "Sam").await;
    // Worker i checks in every 20 + 5i minutes: first deadlines at +20 ... +65 min, each alert
    // (after the 10 min grace) at +30 ... +75 min.
    let (mut workers, shifts) = workers_on_staggered_shifts(&server, team, WORKERS).await;
    lead.sync().await;
    let engine = &server.app().alerts;
    let (held, bytes) = engine.held().await;
    assert_eq!(engine.watched().await, WORKERS, "every active shift is watched");
    assert!(bytes <= BUDGET, "the held copies take {bytes} bytes, over the budget of {BUDGET}");
    assert!(held < WORKERS, "past the budget some shifts are shed ({held} of {WORKERS} held)");

    // The last worker's shift (due last: shed first) gets a check-in at +10 min, which moves its
    // alert to +10 + 65 + 10 = +85 min.
    let last = WORKERS - 1;
    server.clock().set(T + 10 * MIN);
    workers[last].checkin_at(shifts[last], CheckInStatus::Ok, T + 10 * MIN);
    workers[last].sync().await;

    // Minute by minute to +110 min: every alert opens at its moment and fires its steps (worker
    // at once, buddies +5, leads +15) at theirs.
    for m in 11..=110 {
        server.clock().set(T + m * MIN);
        server.run_due().await;
        let (_, bytes) = engine.held().await;
        assert!(bytes <= BUDGET, "at +{m} min the held copies take {bytes} bytes, over {BUDGET}");
    }
    let alerts = lead.open_alerts().await;
    assert_eq!(alerts.len(), WORKERS, "one missed check-in alert per worker: {alerts:#?}");
    for (i, w) in workers.iter().enumerate() {
        let name = format!("W{i}");
        let a = alerts.iter().find(|a| a["worker_name"] == name.as_str()).unwrap();
        let opened = if i == last { T + 85 * MIN } else { T + (30 + 5 * i as i64) * MIN };
        assert_missed_checkin_climbed(&server, a, &name, opened).await;
        assert_eq!(w.open_alerts().await.len(), 1, "{name} sees their alert");
    }
    assert_eq!(engine.watched().await, WORKERS);
}
