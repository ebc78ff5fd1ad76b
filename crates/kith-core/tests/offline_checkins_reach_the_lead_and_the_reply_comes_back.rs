//! The phone web app's story, in the core with no browser: a worker starts a shift online, loses
//! the connection, checks in three times (each saved once its storage committed, "3 waiting to
//! sync"), closes the app and opens it again from what was stored, comes back online; the three
//! check-ins reach the lead, and the lead's reply reaches the worker. Named peers, a real server
//! in-process, device times chosen by the test.

use crate::common;

use common::{Server, T0, checkin, start, team_of_two};
use kith_core::{Command, Event};
use kith_domain::CheckInStatus;

#[tokio::test]
async fn offline_checkins_reach_the_lead_and_the_reply_comes_back() {
    let server = Server::start().await;
    let (mut alice, mut lead) = team_of_two(&server).await;

    let started = alice.write(&server, start("Meter readings", T0, 8)).await.unwrap();
    assert!(started.shared, "online, the shift reaches the server at once: {started:?}");
    assert_eq!(alice.sync_state().pending_changes, 0);

    alice.offline = true;
    for (i, note) in ["first block", "second block", "third block"].into_iter().enumerate() {
        alice.now = T0 + 60_000 * (i as i64 + 1);
        let w = alice.write(&server, checkin(CheckInStatus::Ok, Some(note))).await.unwrap();
        assert!(!w.shared, "offline, not shared: {w:?}");
        assert!(w.queued.as_deref().is_some_and(|q| q.starts_with("Offline")), "says why: {w:?}");
        assert_eq!(w.shift.checkins.len(), i + 1);
    }
    let state = alice.state(&server).await;
    assert_eq!(state.sync.pending_changes, 3, "3 waiting to sync");
    assert!(!state.sync.online);

    // The app is closed and opened again (a reload, a browser restart): only what was stored.
    let stored = alice.stored.clone();
    let mut alice = common::Peer::over("alice", stored, T0 + 300_000);
    alice.offline = true;
    alice.pump(&server).await;
    let state = alice.state(&server).await;
    assert_eq!(state.shift.as_ref().map(|s| s.checkins.len()), Some(3), "the three check-ins are there");
    assert_eq!(state.sync.pending_changes, 3);

    // Online again: the browser's `online` event pokes the core.
    alice.offline = false;
    alice.event(&server, Event::Poke).await;
    assert_eq!(alice.sync_state().pending_changes, 0, "{:?}", alice.sync_state());
    assert!(alice.sync_state().online);

    lead.now = T0 + 400_000;
    lead.event(&server, Event::Poke).await;
    let board = match lead.ask(&server, Command::LocalBoard).await.unwrap() {
        kith_core::Reply::Board(b) => b,
        other => panic!("{other:?}"),
    };
    let row = board.rows.iter().find(|r| r.name == "Alice Field").expect("alice on the lead's board");
    let shift_id = kith_domain::ShiftId(row.shift.expect("her shift"));
    let shift = match lead.ask(&server, Command::Shift(kith_api::input::ShiftInput { id: shift_id })).await.unwrap() {
        kith_core::Reply::Shift(s) => s,
        other => panic!("{other:?}"),
    };
    assert_eq!(shift.checkins.len(), 3, "all three reached the lead");
    let last = shift.checkins[0].id;

    let ack = kith_api::input::AckInput { shift: shift_id, checkin: last, reply: Some("Seen, thanks".into()) };
    let acked = lead.write(&server, Command::Ack(ack)).await.unwrap();
    assert!(acked.shared, "{acked:?}");

    alice.now = T0 + 500_000;
    alice.event(&server, Event::Poke).await;
    let state = alice.state(&server).await;
    let shift = state.shift.expect("still on shift");
    let replied: Vec<_> = shift.checkins.iter().flat_map(|c| c.acks.iter()).filter_map(|a| a.reply.clone()).collect();
    assert_eq!(replied, vec!["Seen, thanks".to_string()], "the lead's reply reached the worker");
}
