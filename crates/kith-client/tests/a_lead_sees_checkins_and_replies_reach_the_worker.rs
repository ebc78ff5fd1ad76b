//! The loop of regular contact: the worker checks in, the lead's device receives it (an event
//! says what changed), the lead replies, and the reply reaches the worker's device.

use crate::common;

use common::{Team, in_hours, next_event};
use kith_client::{AckInput, CheckInInput, ClientEvent, HistoryInput, ShiftInput, StartShiftInput};
use kith_domain::CheckInStatus;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_sees_checkins_and_replies_reach_the_worker() {
    let t = Team::new().await;
    let mut lead_events = t.lead.client.subscribe();
    let w = &t.worker.client;
    let shift = w
        .start_shift(StartShiftInput {
            purpose: Some("Home visits".into()),
            planned_end: in_hours(3),
            interval_s: None,
            buddies: Some(vec![]),
        })
        .await
        .unwrap()
        .shift;
    let done = w
        .check_in(CheckInInput {
            status: CheckInStatus::Support,
            mood: Some(2),
            confidence: None,
            note: Some("Difficult visit, could do with a call".into()),
            note_visibility: None,
            lat: None,
            lon: None,
        })
        .await
        .unwrap();
    assert!(done.shared);
    let checkin = done.shift.checkins[0].id;

    // The lead's device is poked over the live channel and syncs the shift by itself. The shift's
    // start may arrive in an exchange of its own, before the check-in: wait for the one with it.
    let seen = loop {
        next_event(&mut lead_events, |e| match e {
            ClientEvent::Changed(c) if c.docs.contains(&shift.id.uuid()) => Some(()),
            _ => None,
        })
        .await;
        let s = t.lead.client.shift(ShiftInput { id: shift.id }).await.unwrap();
        if !s.checkins.is_empty() {
            break s;
        }
    };
    assert_eq!(seen.worker_name, "Alice Field");
    assert_eq!(seen.checkins[0].note.as_deref(), Some("Difficult visit, could do with a call"));

    let mut worker_events = w.subscribe();
    let acked =
        t.lead.client.ack(AckInput { shift: shift.id, checkin, reply: Some("Calling you in 5".into()) }).await.unwrap();
    assert!(acked.shared);
    assert_eq!(acked.shift.checkins[0].acks[0].by_name, "Lee Lead");

    let mine = loop {
        next_event(&mut worker_events, |e| match e {
            ClientEvent::Changed(c) if c.docs.contains(&shift.id.uuid()) => Some(()),
            _ => None,
        })
        .await;
        let mine = w.state().await.unwrap().shift.expect("still on shift");
        if !mine.checkins[0].acks.is_empty() {
            break mine;
        }
    };
    assert_eq!(mine.checkins[0].acks[0].reply.as_deref(), Some("Calling you in 5"));
    let history = w.history(HistoryInput::default()).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].id, shift.id);
    let lead_view_of_history = t.lead.client.history(HistoryInput { member: Some(shift.worker) }).await.unwrap();
    assert_eq!(lead_view_of_history.len(), 1);
}
