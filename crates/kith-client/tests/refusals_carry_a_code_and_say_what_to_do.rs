//! Every refusal has a stable code, says whether retrying helps, and changes nothing.

use crate::common;

use common::{Device, Team, in_hours};
use kith_api::ApiError;
use kith_client::{AckInput, CheckInInput, EndInput, ExtendInput, HealthInput, StartShiftInput};
use kith_domain::{CheckInId, CheckInStatus, ShiftId};

fn ok() -> CheckInInput {
    CheckInInput {
        status: CheckInStatus::Ok,
        mood: None,
        confidence: None,
        note: None,
        note_visibility: None,
        lat: None,
        lon: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_works_before_joining_and_the_error_says_so() {
    let d = Device::new().await;
    let e = d.client.check_in(ok()).await.unwrap_err();
    let api: ApiError = e.into();
    assert_eq!(api.code, "not_joined");
    assert!(!api.retryable);
    assert!(api.message.contains("invite code"), "{}", api.message);
    assert_eq!(d.client.board().await.unwrap_err().code(), "not_joined");
    assert_eq!(d.client.sync_now().await.unwrap_err().code(), "not_joined");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shift_rules_are_enforced_before_anything_is_written() {
    let t = Team::new().await;
    let w = &t.worker.client;
    let e = w.check_in(ok()).await.unwrap_err();
    assert_eq!(e.code(), "not_on_shift");
    assert_eq!(w.end_shift(EndInput::default()).await.unwrap_err().code(), "not_on_shift");
    let e = w.extend_shift(ExtendInput { new_end: in_hours(5), reason: "Traffic".into() }).await.unwrap_err();
    assert_eq!(e.code(), "not_on_shift");

    let no_purpose = StartShiftInput { purpose: None, planned_end: in_hours(2), interval_s: None, buddies: None };
    assert_eq!(w.start_shift(no_purpose).await.unwrap_err().code(), "invalid_input");
    let too_often = StartShiftInput {
        purpose: Some("Visits".into()),
        planned_end: in_hours(2),
        interval_s: Some(60),
        buddies: None,
    };
    let e = w.start_shift(too_often).await.unwrap_err();
    assert_eq!(e.code(), "invalid_input");
    assert!(e.to_string().contains("outside your team's policy"), "{e}");
    let past =
        StartShiftInput { purpose: Some("Visits".into()), planned_end: in_hours(-1), interval_s: None, buddies: None };
    assert_eq!(w.start_shift(past).await.unwrap_err().code(), "invalid_input");
    let me = w.state().await.unwrap().me.unwrap().member_id;
    let own = StartShiftInput {
        purpose: Some("Visits".into()),
        planned_end: in_hours(2),
        interval_s: None,
        buddies: Some(vec![me]),
    };
    assert_eq!(w.start_shift(own).await.unwrap_err().code(), "invalid_input");
    assert!(w.history(Default::default()).await.unwrap().is_empty(), "nothing was written");

    let start =
        StartShiftInput { purpose: Some("Visits".into()), planned_end: in_hours(2), interval_s: None, buddies: None };
    w.start_shift(start.clone()).await.unwrap();
    assert_eq!(w.start_shift(start).await.unwrap_err().code(), "already_on_shift");
    let bad_mood = CheckInInput { mood: Some(9), ..ok() };
    assert_eq!(w.check_in(bad_mood).await.unwrap_err().code(), "invalid_input");
    let half_position = CheckInInput { lat: Some(51.5), ..ok() };
    assert_eq!(w.check_in(half_position).await.unwrap_err().code(), "invalid_input");

    // Members do not acknowledge; unknown check-ins are not found.
    let e = w.ack(AckInput { shift: ShiftId::new(), checkin: CheckInId::new(), reply: None }).await.unwrap_err();
    assert_eq!(e.code(), "forbidden");
    let e = t
        .lead
        .client
        .ack(AckInput { shift: ShiftId::new(), checkin: CheckInId::new(), reply: None })
        .await
        .unwrap_err();
    assert_eq!(e.code(), "not_found");
    assert_eq!(w.health(HealthInput { days: 0 }).await.unwrap_err().code(), "invalid_input");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_for_help_is_never_refused_even_off_shift() {
    let t = Team::new().await;
    let w = &t.worker.client;
    let r = w.check_in(CheckInInput { status: CheckInStatus::Emergency, ..ok() }).await.unwrap();
    assert!(r.shift.active, "a shift was started for the emergency");
    assert_eq!(r.shift.purpose, "Emergency");
    assert_eq!(r.shift.checkins[0].status, CheckInStatus::Emergency);
    assert!(r.shared);
}
