//! Past `alerts.shifts_max_bytes` the deadline engine lets shifts go and reads each whole again
//! when it changes or comes due: with long shifts past the budget that read costs more than the
//! rest of a sync (docs/benchmarks.md, "Seen on the way: long shifts and the deadline engine's
//! budget"). What the budget costs is counted, so an operator can see it is too small: every shift
//! let go (not every pass, which lets go an eighth of the budget at once) and every shed shift
//! read again (`AlertEngine::shedding`, and in `/metrics`). On the manual clock: no sleeps.

mod common;
use common::*;
use kith_domain::CheckInStatus;
use kith_server::alerts::Shedding;
use kith_server::testing::{MANUAL_START_MS, TestServer};

const T: i64 = MANUAL_START_MS;
const MIN: i64 = 60_000;
const WORKERS: usize = 20;
/// About sixteen copies of a new shift (its summary, about 370 bytes with its slot in the map): a
/// pass past it lets go an eighth of it, several shifts at once.
const BUDGET: usize = 6_000;

#[tokio::test]
async fn every_shift_let_go_and_every_shed_shift_read_again_is_counted() {
    let server = TestServer::start_manual_with(|c| c.alerts.shifts_max_bytes = BUDGET).await;
    let (team, _) = server.create_team("North estate").await;
    // Worker i checks in every 20 + 5i minutes: of those held, the ones due last are shed first.
    let (mut workers, shifts) = workers_on_staggered_shifts(&server, team, WORKERS).await;
    let engine = &server.app().alerts;
    engine.settle().await.unwrap();
    let (held, _) = engine.held().await;
    assert!(held + 2 <= WORKERS, "past the budget, shifts were let go ({held} of {WORKERS} held)");
    assert_eq!(
        engine.shedding().await,
        Shedding { shifts_shed: (WORKERS - held) as u64, shifts_read_again: 0, teams_shed: 0 },
        "each shift let go is counted, none read again yet"
    );

    // A check-in to a shed shift: read whole again, held, and another let go.
    let mut shed = None;
    for (i, s) in shifts.iter().enumerate() {
        if !engine.holds(*s).await {
            shed = Some(i);
        }
    }
    let i = shed.expect("a shed shift");
    server.clock().set(T + 10 * MIN);
    workers[i].checkin_at(shifts[i], CheckInStatus::Ok, T + 10 * MIN);
    workers[i].sync().await;
    engine.settle().await.unwrap();
    let after = engine.shedding().await;
    assert_eq!(after.shifts_read_again, 1, "the changed shed shift was read whole again: {after:?}");
    let (held_now, _) = engine.held().await;
    assert_eq!(after.shifts_shed - after.shifts_read_again, (WORKERS - held_now) as u64, "{after:?}");
}
