//! A device clock put right (backwards) is followed at once. What the device writes after carries
//! its clock as it now is, and its syncs report that clock; the server gives each value the offset
//! it was received with (a value written before on the old clock keeps the old offset), so it
//! places every check-in when it was made. The core used to never let its time go back
//! (`max(previous, now)`): after a clock an hour fast was put right, every check-in of the next
//! hour carried the same stale time, and the server placed check-ins made offline at the moment
//! they arrived, up to an hour late: the worker's deadline that much later. And what was
//! scheduled on the old clock (the next sync attempt) waited for the old clock.

use crate::common;

use common::{Server, checkin, start, team_of_two};
use kith_api::ShiftView;
use kith_core::Event;
use kith_domain::CheckInStatus;

const MIN: i64 = 60_000;

#[tokio::test]
async fn a_clock_put_back_is_followed_and_the_server_places_each_checkin_when_it_was_made() {
    let server = Server::start().await;
    let (mut alice, lead) = team_of_two(&server).await;
    let clock = server.test.clock();
    let s0 = server.test.now();

    // Alice's phone runs an hour fast. She starts her shift online.
    alice.now = s0 + 60 * MIN;
    let started = alice.write(&server, start("Rounds", alice.now, 8)).await.unwrap();
    assert!(started.shared, "{started:?}");
    let shift = started.shift.id;

    // A minute later she has no signal and checks in: saved, a retry of the sync scheduled.
    clock.advance(MIN);
    alice.now += MIN;
    alice.offline = true;
    let before = alice.write(&server, checkin(CheckInStatus::Ok, Some("on the fast clock"))).await.unwrap();
    assert!(!before.shared);

    // At ten minutes the phone's clock is put right (network time).
    clock.advance(9 * MIN);
    alice.wake_at(&server, server.test.now()).await;
    let wake = alice.wake_at.expect("a next sync attempt is scheduled");
    assert!(
        wake <= alice.now + 10 * MIN,
        "the retry scheduled on the old clock moves back with it: wake at {} min from now",
        (wake - alice.now) / MIN
    );
    let after = alice.write(&server, checkin(CheckInStatus::Ok, Some("on the clock put right"))).await.unwrap();
    let made = after.shift.checkins.iter().find(|c| c.note.as_deref() == Some("on the clock put right")).unwrap();
    assert_eq!(made.device_time.0, alice.now, "stamped with the device's clock as it now is");

    // Forty minutes later the signal is back.
    clock.advance(40 * MIN);
    alice.now = server.test.now();
    alice.offline = false;
    alice.event(&server, Event::Poke).await;
    assert_eq!(alice.sync_state().pending_changes, 0, "{:?}", alice.sync_state());

    // The lead's view from the server, on the server's clock.
    let (status, body) = server.get(&format!("/v1/shifts/{}", shift.0), lead.core.token().unwrap()).await;
    assert!(status.is_success(), "{status}: {}", String::from_utf8_lossy(&body));
    let view: ShiftView = serde_json::from_slice(&body).unwrap();
    assert_eq!(view.checkins.len(), 2);
    // The shift checks in hourly: the next check-in is due an hour after the latest, placed at
    // minute 10 when it was made (not at minute 50 when it arrived, which gave minute 110).
    let due = view.next_due.expect("an active shift has a next check-in due").0;
    assert_eq!((due - s0) / MIN, 70, "minutes after the start, on the server's clock");
}
