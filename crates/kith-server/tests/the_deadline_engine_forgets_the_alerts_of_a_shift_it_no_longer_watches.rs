//! The deadline engine remembers which alerts of a shift are stored (so it does not ask the
//! database again each time it looks at the shift) only while it watches the shift: once the
//! shift has ended and its alerts are resolved, nothing of it stays in memory, however many
//! shifts and alerts come and go. On the manual clock: no sleeps.

use crate::common;
use common::*;
use kith_domain::{Role, Secs};
use kith_server::testing::{MANUAL_START_MS, TestServer};

const T: i64 = MANUAL_START_MS;
const MIN: i64 = 60_000;

#[tokio::test]
async fn an_ended_shifts_alerts_leave_the_engines_memory() {
    let server = TestServer::start_manual().await;
    let (team, lead_code) = server.create_team("North estate").await;
    let _lead = Dev::join(&server, &lead_code, "Sam").await;
    let mut worker = Dev::join(&server, &server.invite(team, Role::Member).await, "Alice").await;
    let engine = &server.app().alerts;
    for round in 0..3 {
        let start = T + round * 120 * MIN;
        server.clock().set(start);
        let shift = worker.start_shift_at(start, start + 8 * 60 * MIN, Secs::minutes(20), vec![]);
        worker.sync().await;
        // Due at +20 min, overdue after the 10 min grace: the alert opens at +30 min.
        server.clock().set(start + 31 * MIN);
        server.run_due().await;
        assert_eq!(engine.known_alert_keys().await, 1, "round {round}: the open alert is known");
        worker.end_shift_at(shift, start + 32 * MIN);
        server.clock().set(start + 32 * MIN);
        worker.sync().await;
        server.run_due().await;
        assert_eq!(engine.watched().await, 0, "round {round}: the ended shift is not watched");
        assert_eq!(engine.known_alert_keys().await, 0, "round {round}: nor are its alerts remembered");
    }
}
