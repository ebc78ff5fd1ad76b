//! A check-in made while the server is down is saved at once and says it is waiting; when the
//! server is back it goes out, and the lead sees it.

use crate::common;

use common::{PATIENCE, Team, in_hours};
use kith_api::BoardSource;
use kith_client::{CheckInInput, StartShiftInput};
use kith_domain::CheckInStatus;
use kith_domain::rules::BoardStatus;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_checkin_is_queued_then_shared() {
    let mut t = Team::new().await;
    let w = &t.worker.client;
    let started = w
        .start_shift(StartShiftInput {
            purpose: Some("Meter readings".into()),
            planned_end: in_hours(4),
            interval_s: Some(3600),
            buddies: None,
        })
        .await
        .unwrap();
    assert!(started.shared, "online, the new shift reaches the server at once");
    assert_eq!(started.shift.purpose, "Meter readings");
    assert!(started.shift.active);

    t.server.stop().await;
    let ok = CheckInInput {
        status: CheckInStatus::Ok,
        mood: Some(4),
        confidence: Some(5),
        note: Some("All fine at the north gate".into()),
        note_visibility: None,
        lat: None,
        lon: None,
    };
    let queued = w.check_in(ok).await.unwrap();
    assert!(!queued.shared, "the server is down: saved here, waiting");
    assert_eq!(queued.shift.checkins.len(), 1);
    assert_eq!(queued.shift.checkins[0].mood, Some(4));
    let state = w.state().await.unwrap();
    assert!(state.sync.pending_changes > 0, "{:?}", state.sync);
    assert_eq!(state.shift.as_ref().unwrap().checkins.len(), 1, "the check-in shows at once");
    assert_eq!(state.settings.last_mood, Some(4), "remembered for the next check-in");

    t.server.start_again().await;
    let synced = w.sync_now().await.unwrap();
    assert_eq!(synced.pending_changes, 0, "{synced:?}");
    assert!(synced.online);

    // The lead's board (from the server) shows the worker on shift with that check-in.
    t.lead.client.sync_now().await.unwrap();
    let board = tokio::time::timeout(PATIENCE, t.lead.client.board()).await.unwrap().unwrap();
    assert_eq!(board.source, BoardSource::Server);
    let row = board.rows.iter().find(|r| r.name == "Alice Field").expect("Alice on the board");
    assert_eq!(row.status, BoardStatus::Fine);
    assert_eq!(row.last_checkin, Some(queued.shift.checkins[0].device_time));
}
