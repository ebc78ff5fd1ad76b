//! Reminders come from the documents on the device alone, so they fire offline: the core asks to
//! be woken at the next one and, when its time has come, tells the driver once.

use crate::common;

use common::{Server, T0, start, team_of_two};

#[tokio::test]
async fn reminders_fire_once_when_their_time_comes() {
    let server = Server::start().await;
    let (mut alice, _lead) = team_of_two(&server).await;
    alice.write(&server, start("Visits", T0, 8)).await.unwrap();
    alice.offline = true;
    let next = alice.state(&server).await.next_reminder.expect("a reminder before the check-in is due");
    assert!(next.at_ms.0 > T0 && next.at_ms.0 < T0 + 3_600_000, "{next:?}");
    assert!(alice.wake_at.is_some_and(|w| w <= next.at_ms.0), "woken in time: {:?}", alice.wake_at);

    alice.wake_at(&server, next.at_ms.0 - 1).await;
    assert!(alice.reminders.is_empty(), "not before its time");
    alice.wake_at(&server, next.at_ms.0).await;
    assert_eq!(alice.reminders, vec![next.clone()]);
    alice.wake_at(&server, next.at_ms.0 + 5_000).await;
    assert_eq!(alice.reminders.len(), 1, "once");
}
