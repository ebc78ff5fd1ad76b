//! The server answers but cannot store a change now (its disk is full: `Busy`, retryable). The
//! core keeps it queued, says so, and tries again after a backoff it asks the driver to wake it
//! for; once the server recovers the change goes out. The same decisions as the desktop app's.

use crate::common;

use common::{Server, T0, checkin, start, team_of_two};
use kith_domain::CheckInStatus;

#[tokio::test]
async fn a_refusal_for_now_is_retried_with_backoff() {
    let server = Server::start_with_storage_faults().await;
    let (mut alice, _lead) = team_of_two(&server).await;
    alice.write(&server, start("Visits", T0, 8)).await.unwrap();

    server.test.storage_faults().fill_disk();
    alice.now = T0 + 1_000;
    let w = alice.write(&server, checkin(CheckInStatus::Emergency, Some("help"))).await.unwrap();
    assert!(!w.shared, "{w:?}");
    let why = w.queued.expect("says why it is not shared");
    assert!(why.contains("could not store"), "{why}");
    let st = alice.sync_state().clone();
    assert!(st.online && st.retrying.is_some() && st.pending_changes == 1, "{st:?}");

    // The next attempt comes after a backoff (1 s at first, with jitter), not after a period.
    let wake = alice.wake_at.expect("a timer");
    assert!(wake > alice.now && wake <= alice.now + 1_000, "{wake} vs {}", alice.now);
    alice.wake_at(&server, wake).await;
    assert_eq!(alice.sync_state().pending_changes, 1, "still refused: still queued");
    let second = alice.wake_at.unwrap() - alice.now;
    assert!((1_000..=2_000).contains(&second), "backs off further: {second}");

    server.test.storage_faults().free_disk();
    let at = alice.wake_at.unwrap();
    alice.wake_at(&server, at).await;
    let st = alice.sync_state().clone();
    assert_eq!(st.pending_changes, 0, "{st:?}");
    assert!(st.retrying.is_none());
    let period = alice.wake_at.unwrap() - alice.now;
    assert_eq!(period, 60_000, "back to the usual period");
}
