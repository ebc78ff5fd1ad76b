//! The server answers `Busy` while its storage fails (here: a real SQLite storage whose appends
//! fail like a full disk). An emergency made then is saved on the device, says plainly that it
//! has not been delivered and will be retried, stays queued (never parked), and is retried with
//! backoff by itself: once the disk has room again it reaches the server, raises its alert and
//! reaches the lead, with no new change by the worker.

use crate::common;

use common::{PATIENCE, Team, in_hours, next_event};
use kith_client::{AlertsInput, CheckInInput, ClientEvent, HistoryInput, StartShiftInput};
use kith_domain::CheckInStatus;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emergency_made_while_the_servers_disk_is_full_reaches_a_lead_once_it_recovers() {
    let t = Team::with_storage_faults().await;
    let faults = t.server.server.storage_faults();
    let w = &t.worker.client;
    let started = w
        .start_shift(StartShiftInput {
            purpose: Some("Reservoir inspection".into()),
            planned_end: in_hours(4),
            interval_s: Some(3600),
            buddies: None,
        })
        .await
        .unwrap();
    assert!(started.shared);

    faults.fill_disk();
    let mut lead_events = t.lead.client.subscribe();
    let emergency = w
        .check_in(CheckInInput {
            status: CheckInStatus::Emergency,
            mood: None,
            confidence: None,
            note: Some("Fell on the dam steps".into()),
            note_visibility: None,
            lat: None,
            lon: None,
        })
        .await
        .expect("an emergency is always saved on the device");
    assert!(!emergency.shared, "the server could not store it: not sent");
    let why = emergency.queued.as_deref().expect("the result says why it is queued");
    assert!(why.contains("could not store") && why.contains("sent again automatically"), "{why}");

    let mut status = w.sync_handle().expect("syncing").watch_status();
    let first = status.borrow().clone();
    assert!(first.online, "the server answered: {first:?}");
    assert!(!first.needs_attention, "waiting fixes this, nobody has to act: {first:?}");
    assert!(first.retrying.is_some() && first.pending_changes > 0, "{first:?}");
    let state = w.sync_state().await.unwrap();
    assert!(state.retrying.as_deref().is_some_and(|r| r.contains("could not store")), "{state:?}");
    assert!(state.pending_changes > 0);

    // Nothing has reached anyone.
    let alerts = t.lead.client.alerts(AlertsInput::default()).await.unwrap();
    assert!(alerts.alerts.iter().all(|a| a.kind != "emergency"), "{alerts:?}");

    // While the disk stays full the device keeps trying on its own (with backoff)...
    let refused = faults.refused_appends();
    tokio::time::timeout(PATIENCE, status.wait_for(|s| s.syncs > first.syncs && s.retrying.is_some()))
        .await
        .expect("a second try while the disk is full")
        .unwrap();
    assert!(faults.refused_appends() > refused, "the emergency was pushed again with no new change");

    // ...and once it has room, the emergency goes out by itself.
    faults.free_disk();
    let done = tokio::time::timeout(PATIENCE, status.wait_for(|s| s.pending_changes == 0 && s.retrying.is_none()))
        .await
        .expect("the queued emergency reaches the server once the disk has room")
        .unwrap()
        .clone();
    assert!(done.online && done.last_error.is_none(), "{done:?}");

    // Its alert is raised and reaches the lead.
    let event = next_event(&mut lead_events, |e| match e {
        ClientEvent::Alert(v) if v.alert.kind == "emergency" => Some(v.clone()),
        _ => None,
    })
    .await;
    assert_eq!(event.alert.worker_name, "Alice Field", "{event:?}");
    let alerts = t.lead.client.alerts(AlertsInput::default()).await.unwrap();
    assert!(alerts.alerts.iter().any(|a| a.kind == "emergency" && a.worker_name == "Alice Field"), "{alerts:?}");

    // And the lead's device holds the check-in itself, with its note.
    t.lead.client.sync_now().await.unwrap();
    let worker_id = w.state().await.unwrap().me.unwrap().member_id;
    let shifts = t.lead.client.history(HistoryInput { member: Some(worker_id) }).await.unwrap();
    let c =
        shifts.iter().flat_map(|s| &s.checkins).find(|c| c.status == CheckInStatus::Emergency).expect("on the lead");
    assert_eq!(c.note.as_deref(), Some("Fell on the dam steps"));
}
