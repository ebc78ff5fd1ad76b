//! A phone whose clock reads no usable time (reset to before 1970) opens the app: a check-in is
//! refused with a message that says to check the clock, and nothing is stored; its sync is refused
//! by the server (`bad_client_time`), which the sync state shows as needing attention. Once the
//! clock is right again the same device checks in and syncs. Named peers, a real server in-process.

use crate::common;

use common::{Peer, Server, T0, checkin, start, team_of_two};
use kith_core::Event;
use kith_domain::CheckInStatus;

#[tokio::test]
async fn a_clock_before_1970_is_refused_clearly_and_changes_nothing() {
    let server = Server::start().await;
    let (mut alice, _lead) = team_of_two(&server).await;
    alice.write(&server, start("Visits", T0, 8)).await.unwrap();

    // The phone restarts with its clock reset: the app opens from what it stored.
    let mut alice = Peer::over("alice", alice.stored.clone(), -60_000);
    alice.pump(&server).await;
    let before = alice.stored.clone();
    let e = alice.write(&server, checkin(CheckInStatus::Ok, None)).await.unwrap_err();
    assert!(e.message.contains("clock"), "says to check the clock: {e:?}");
    assert!(!e.retryable, "trying again with the same clock cannot help: {e:?}");
    assert_eq!(alice.stored, before, "nothing stored");

    alice.event(&server, Event::Poke).await;
    let st = alice.sync_state().clone();
    let why = st.last_error.clone().unwrap_or_default();
    assert!(why.contains("clock"), "the server's refusal says why: {st:?}");
    assert!(st.needs_attention && !st.online, "{st:?}");

    // The clock is set right.
    alice.now = T0 + 600_000;
    let w = alice.write(&server, checkin(CheckInStatus::Ok, Some("clock fixed"))).await.unwrap();
    assert!(w.shared, "{w:?}");
    let st = alice.sync_state().clone();
    assert!(st.online && st.last_error.is_none() && !st.needs_attention, "{st:?}");
}
