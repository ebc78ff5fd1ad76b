//! The engine lists the reminder times of the worker's active shifts from the documents on the
//! device alone: the app schedules local notifications from them, even with no connection.

use kith_domain::doc::{shift, team};
use kith_domain::rules::DueReason;
use kith_domain::*;
use kith_store::Store;

const T0: Timestamp = Timestamp(1_800_000_000_000);

#[derive(Debug)]
#[allow(dead_code)]
enum Failed {
    Store(kith_store::StoreError),
    Domain(DomainError),
}

impl From<kith_store::StoreError> for Failed {
    fn from(e: kith_store::StoreError) -> Self {
        Failed::Store(e)
    }
}

impl From<DomainError> for Failed {
    fn from(e: DomainError) -> Self {
        Failed::Domain(e)
    }
}

#[test]
fn the_next_checkin_and_the_planned_end_are_reminded_a_lead_before() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("kith.db")).unwrap();
    let alice = MemberId::new();
    let t = Team {
        id: TeamId::new(),
        name: "North".into(),
        purpose: String::new(),
        phone: None,
        policy: Policy { reminder_lead: Secs::minutes(5), ..Policy::default() },
        members: vec![],
    };
    store.create_doc(t.id.uuid(), "team", |tx| team::init(tx, &t).map_err(Failed::from)).unwrap();
    let s = Shift::begin(t.id, alice, "Visits", T0, T0 + Secs::hours(2), Secs::minutes(30));
    store.create_doc(s.id.uuid(), "shift", |tx| shift::init(tx, &s).map_err(Failed::from)).unwrap();

    let r = kith_sync::reminders(&mut store, alice).unwrap();
    assert_eq!(r.len(), 2);
    assert_eq!(
        (r[0].reason, r[0].at_ms, r[0].deadline_ms),
        (DueReason::CheckIn, (T0 + Secs::minutes(25)).millis(), (T0 + Secs::minutes(30)).millis())
    );
    assert_eq!((r[1].reason, r[1].at_ms), (DueReason::PlannedEnd, (T0 + Secs::minutes(115)).millis()));
    assert_eq!(
        kith_sync::next_reminder(&mut store, alice, T0 + Secs::minutes(26)).unwrap().unwrap().reason,
        DueReason::PlannedEnd
    );
    // Someone else's shift is not reminded to Alice; an ended shift is not reminded at all.
    assert!(kith_sync::reminders(&mut store, MemberId::new()).unwrap().is_empty());
    store
        .change_doc(s.id.uuid(), |tx| {
            shift::end(tx, &ShiftEnd { at: T0 + Secs::minutes(40), note: None }).map_err(Failed::from)
        })
        .unwrap();
    assert!(kith_sync::reminders(&mut store, alice).unwrap().is_empty());
}

#[test]
fn an_alert_on_the_live_channel_is_passed_to_the_app() {
    use kith_sync::live::{LiveEvent, parse};
    let id = "01a24ec7-0cd1-72b8-9be9-796f5a8c63d3";
    let data = format!(
        r#"{{"action":"step","notify":"leads","step":2,"alert":{{"id":"{id}","kind":"missed_checkin","urgent":false,
        "state":"open","team":"{id}","shift":"{id}","worker":"{id}","worker_name":"Alice","opened_at":1,
        "steps_fired":2,"notified":["worker","leads"],"late_checkin":false}}}}"#
    );
    match parse("alert", &data) {
        LiveEvent::Alert(v) => {
            assert_eq!(v.alert.worker_name, "Alice");
            assert_eq!(v.step, Some(2));
        }
        other => panic!("not an alert: {other:?}"),
    }
    assert!(matches!(parse("alert", "not json"), LiveEvent::Other(..)));
    // An alert event missing what every alert has is not one: passed on by name, not half-read.
    assert!(matches!(parse("alert", r#"{"action":"step","alert":{"worker_name":"Alice"}}"#), LiveEvent::Other(..)));
}
