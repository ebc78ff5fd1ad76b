//! A device's periodic sync when nothing changed for it (a quiet sync, once a minute) answers its
//! feed from the window of recent changes reading only its own team's changes. A quiet member's
//! cursor stays at the last change it may see, so on a busy server it is tens of thousands of
//! other teams' changes behind, and each of its syncs walked all of them (a quiet sync cost as
//! much server CPU as a check-in: docs/benchmarks.md, "A quiet sync"). What it is answered does
//! not change: nothing, and the very same cursor; a change of its own team still reaches it.

mod common;
use common::*;
use kith_domain::{CheckInStatus, Role};
use kith_server::testing::TestServer;

/// The changes of the window feeds have read so far (process-wide: one test in this file).
fn window_reads() -> u64 {
    process_counter("kith_feed_window_changes_read_total")
}

#[tokio::test]
async fn a_quiet_sync_reads_none_of_the_other_teams_changes() {
    let server = TestServer::start().await;
    let (north, north_code) = server.create_team("North estate").await;
    let mut lead = Dev::join(&server, &north_code, "Sam").await;
    let mut alice = Dev::join(&server, &server.invite(north, Role::Member).await, "Alice").await;
    lead.sync().await;
    let shift = alice.start_shift();
    alice.checkin(shift, CheckInStatus::Ok, 5);
    alice.sync().await;
    alice.sync().await;

    // Another team is busy meanwhile: 40 check-ins.
    let (_, south_code) = server.create_team("South estate").await;
    let mut bob = Dev::join(&server, &south_code, "Bob").await;
    let busy = bob.start_shift();
    for minute in 0..40 {
        bob.checkin(busy, CheckInStatus::Ok, minute);
        bob.sync_docs(&[busy.uuid()]).await;
    }

    // Alice's periodic sync: nothing pending, so no documents, and the cursor she holds.
    let held = alice.cursor.clone();
    let before = window_reads();
    let quiet = alice.send(&alice.request(vec![])).await;
    assert_eq!(window_reads() - before, 0, "none of South's changes is read for Alice's feed");
    assert!(quiet.docs.is_empty() && quiet.feed.is_empty() && !quiet.more && !quiet.reset, "{quiet:?}");
    assert_eq!(Some(quiet.cursor.clone()), held, "the very same cursor: nothing tells South was busy");
    alice.apply(&quiet);

    // A member joins North: the team document changes, and Alice's next sync brings it, having
    // read North's changes since her cursor (the new member's) and none of South's.
    let _carol = Dev::join(&server, &server.invite(north, Role::Member).await, "Carol").await;
    let before = window_reads();
    let next = alice.send(&alice.request(vec![])).await;
    let read = window_reads() - before;
    assert!((1..10).contains(&read), "{read} changes read: North's new ones only");
    assert_eq!(next.feed.iter().map(|f| f.id).collect::<Vec<_>>(), vec![north.uuid()], "the team document");
    assert_ne!(Some(next.cursor.clone()), held, "the cursor moves past it");
    alice.apply(&next);

    // Quiet again: nothing read, nothing brought.
    let before = window_reads();
    let again = alice.send(&alice.request(vec![])).await;
    assert_eq!(window_reads() - before, 0);
    assert!(again.feed.is_empty() && again.cursor == next.cursor);
}
