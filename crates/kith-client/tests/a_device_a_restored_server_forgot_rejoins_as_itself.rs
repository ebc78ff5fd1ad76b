//! The server is restored from a backup taken before a worker's device joined: the app says the
//! server does not know the device (not "revoked"), keeps the shift and its check-ins, and with a
//! new invite, joined in the same app, comes back as the same member and shares what it kept.

use crate::common;

use common::{Device, PATIENCE, Server, in_hours, team_backed_up_with_its_lead};
use kith_api::BoardSource;
use kith_client::{CheckInInput, JoinInput, StartShiftInput};
use kith_domain::{CheckInStatus, Role};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_a_restored_server_forgot_rejoins_as_itself() {
    let mut server = Server::start().await;
    let (team, lead, backup) = team_backed_up_with_its_lead(&mut server).await;

    // Alice joins after the backup, starts a shift and checks in.
    let alice = Device::joined(&server, team, Role::Member, "Alice Field").await;
    let w = &alice.client;
    let input = StartShiftInput {
        purpose: Some("Meter readings".into()),
        planned_end: in_hours(4),
        interval_s: Some(3600),
        buddies: None,
    };
    w.start_shift(input).await.unwrap();
    let ok = CheckInInput {
        status: CheckInStatus::Ok,
        mood: Some(4),
        confidence: None,
        note: Some("North gate".into()),
        note_visibility: None,
        lat: None,
        lon: None,
    };
    let checked = w.check_in(ok).await.unwrap();
    let me = w.state().await.unwrap().me.expect("joined").member_id;

    server.stop().await;
    server.server.restore(&backup).await;
    server.start_again().await;

    let sync = w.sync_now().await.unwrap();
    assert!(sync.device_unknown && sync.needs_attention && !sync.online, "the UI is told: {sync:?}");
    let why = sync.last_error.unwrap_or_default();
    assert!(why.contains("new invite") && !why.contains("revoked"), "{why}");
    let state = w.state().await.unwrap();
    assert_eq!(state.shift.as_ref().expect("the shift is kept").checkins.len(), 1);

    // A new invite, joined in the same app: the same member, the shift reaches the lead.
    let code = server.invite(team, Role::Member).await;
    let input =
        JoinInput { server: Some(server.url.clone()), code: Some(code), link: None, name: "Alice Field".into() };
    let state = w.join(input).await.expect("re-join");
    assert_eq!(state.me.expect("joined").member_id, me, "the same member");
    let synced = w.sync_now().await.unwrap();
    assert_eq!(synced.pending_changes, 0, "{synced:?}");
    assert!(!synced.device_unknown && !synced.needs_attention, "{synced:?}");

    lead.client.sync_now().await.unwrap();
    let board = tokio::time::timeout(PATIENCE, lead.client.board()).await.unwrap().unwrap();
    assert_eq!(board.source, BoardSource::Server);
    let row = board.rows.iter().find(|r| r.name == "Alice Field").expect("Alice on the lead's board");
    assert_eq!(row.last_checkin, Some(checked.shift.checkins[0].device_time));
}
