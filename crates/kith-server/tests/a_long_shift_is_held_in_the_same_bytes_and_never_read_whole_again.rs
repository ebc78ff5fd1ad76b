//! The deadline engine holds of each active shift what its deadlines read (a summary: schedule,
//! latest check-in, end, extensions, open support and emergency check-ins), not the shift: the
//! bytes a held shift costs do not grow with its check-ins, so `alerts.shifts_max_bytes` holds
//! long shifts as well as short ones, and each check-in is taken in from what its push read, never
//! by reading the whole shift again (docs/benchmarks.md, "Seen on the way: long shifts and the
//! deadline engine's budget": the engine's copy was the whole shift, so long shifts overflowed the
//! budget and every check-in to a shed one read it whole, O(n²) over a shift). On the manual
//! clock: no sleeps.

use crate::common;
use common::*;
use kith_domain::CheckInStatus;
use kith_server::alerts::Shedding;
use kith_server::testing::{MANUAL_START_MS, TestServer};

const T: i64 = MANUAL_START_MS;
const MIN: i64 = 60_000;
const WORKERS: usize = 8;
const CHECKINS: i64 = 60;
/// Room for the workers' shifts, a few times over; whole copies of them would take ten times it.
const BUDGET: usize = 8 * 1024;

#[tokio::test]
async fn long_shifts_stay_held_in_the_same_bytes_and_no_checkin_reads_a_shift_whole() {
    let server = TestServer::start_manual_with(|c| c.alerts.shifts_max_bytes = BUDGET).await;
    let (team, lead_code) = server.create_team("North estate").await;
    let lead = Dev::join(&server, &lead_code, "Sam").await;
    let (mut workers, shifts) = workers_on_staggered_shifts(&server, team, WORKERS).await;
    let engine = &server.app().alerts;
    engine.settle().await.unwrap();
    let (held, first) = engine.held().await;
    assert_eq!(held, WORKERS, "every shift is held");

    // A check-in a minute from each worker, a support request among them now and then.
    for m in 1..=CHECKINS {
        server.clock().set(T + m * MIN);
        for (i, w) in workers.iter_mut().enumerate() {
            let status = if m % 20 == 10 && i == 0 { CheckInStatus::Support } else { CheckInStatus::Ok };
            w.checkin_at(shifts[i], status, T + m * MIN);
            w.sync().await;
        }
        engine.settle().await.unwrap();
        let (held, bytes) = engine.held().await;
        assert_eq!(held, WORKERS, "after {m} check-ins each, every shift is still held");
        assert_eq!(bytes, first, "after {m} check-ins each the held shifts take what they took with none");
    }
    assert_eq!(
        engine.shedding().await,
        Shedding { shifts_shed: 0, shifts_read_again: 0, teams_shed: 0 },
        "no shift was let go, none read whole again"
    );
    // The support requests raised their alerts, each resolved by the next check-in, whose times
    // the lead sees (read from the shift: the engine keeps only the latest check-in's).
    server.run_due().await;
    assert!(lead.open_alerts().await.is_empty());
    let (status, v) = lead.get_json("/v1/alerts?all=true").await;
    assert_eq!(status, 200, "{v}");
    let alerts = v["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 3, "{alerts:#?}");
    for a in alerts {
        assert!(a["kind"] == "support" && a["state"] == "resolved", "{a:#}");
        assert!(a["resolving_checkin"]["received_at"].is_i64(), "{a:#}");
    }
}
