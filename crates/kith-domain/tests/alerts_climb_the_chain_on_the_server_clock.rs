//! The pure alert rules: deadlines on the server clock (device offset and receipt times), which
//! alerts a shift should have, when each step is due, and what resolves them.

mod common;
use common::*;
use kith_domain::alerts::{self, AlertKind, Resolution, Timeline};
use kith_domain::rules::DueReason;
use kith_domain::*;

const HOUR_MS: i64 = 3_600_000;

fn checkin(s: &Shift, status: CheckInStatus, at: Timestamp) -> CheckIn {
    CheckIn::new(status, at, s.worker, DeviceId::new())
}

/// A timeline where every check-in was received at its device time plus `delay_min` minutes
/// from a device whose clock is `offset_ms` behind the server.
fn timeline(s: &Shift, offset_ms: i64, delay_min: i64, now: Timestamp) -> Timeline {
    let times: Vec<(CheckInId, Timestamp)> =
        s.checkins.iter().map(|c| (c.id, Timestamp(c.device_time.0 + offset_ms) + Secs::minutes(delay_min))).collect();
    Timeline::of(s, offset_ms, T0, None, |id| times.iter().find(|t| t.0 == id).map(|t| (t.1, offset_ms)), now)
}

fn kinds(w: &[alerts::WantedAlert]) -> Vec<AlertKind> {
    w.iter().map(|a| a.kind).collect()
}

#[test]
fn a_missed_checkin_is_wanted_from_due_plus_grace_and_not_a_moment_before() {
    let s = new_shift(MemberId::new(), TeamId::new());
    let p = Policy::default(); // every 30 min, grace 10 min
    let tl = timeline(&s, 0, 0, at_min(0));
    assert_eq!(tl.deadline(&p).reason, DueReason::CheckIn);
    assert_eq!(tl.deadline(&p).overdue_at, at_min(40));
    assert!(alerts::wanted(&tl, &p, at_min(40) - Secs(1)).is_empty());
    let w = alerts::wanted(&tl, &p, at_min(40));
    assert_eq!(kinds(&w), vec![AlertKind::MissedCheckIn]);
    assert_eq!(w[0].opened_at, at_min(40));
    assert_eq!(alerts::next_wake(&tl, &p, at_min(10)), Some(at_min(40)));
}

#[test]
fn every_step_is_due_at_its_time_and_not_before() {
    let p = Policy::default(); // worker at 0, buddies at 5 min, leads at 15 min
    let chain = alerts::chain_for(AlertKind::MissedCheckIn, &p);
    let opened = at_min(40);
    assert_eq!(alerts::steps_due(opened, &chain, 0, opened - Secs(1)), Vec::<usize>::new());
    assert_eq!(alerts::steps_due(opened, &chain, 0, opened), vec![0]);
    assert_eq!(alerts::steps_due(opened, &chain, 1, at_min(45) - Secs(1)), Vec::<usize>::new());
    assert_eq!(alerts::steps_due(opened, &chain, 1, at_min(45)), vec![1]);
    assert_eq!(alerts::steps_due(opened, &chain, 2, at_min(55)), vec![2]);
    assert_eq!(alerts::steps_due(opened, &chain, 3, at_min(500)), Vec::<usize>::new());
    // A server that was down catches up: every step past its time, once each.
    assert_eq!(alerts::steps_due(opened, &chain, 0, at_min(60)), vec![0, 1, 2]);
}

#[test]
fn a_late_offline_checkin_resolves_the_alert_it_would_have_prevented() {
    let mut s = new_shift(MemberId::new(), TeamId::new());
    let p = Policy::default();
    let before = timeline(&s, 0, 0, at_min(50));
    let w = alerts::wanted(&before, &p, at_min(50));
    assert_eq!(kinds(&w), vec![AlertKind::MissedCheckIn]);
    // Made at minute 25 offline, received at minute 50.
    let c = checkin(&s, CheckInStatus::Ok, at_min(25));
    s.checkins.push(c.clone());
    let after = timeline(&s, 0, 25, at_min(50));
    assert_eq!(after.checkins[0].received_at, at_min(50));
    assert_eq!(after.checkins[0].effective_at, at_min(25));
    let still = alerts::wanted(&after, &p, at_min(50)).iter().any(|a| a.key == w[0].key);
    assert!(!still);
    assert_eq!(
        alerts::resolution(w[0].kind, w[0].opened_at, None, 0, &after, still),
        Some(Resolution::CheckIn { checkin: c.id, prevented: true })
    );
    // Its next deadline counts from the time it was made: due 55, overdue 65.
    assert_eq!(after.deadline(&p).overdue_at, at_min(65));
}

#[test]
fn a_device_clock_three_hours_fast_or_slow_never_hides_an_overdue_worker() {
    let p = Policy::default();
    for skew_h in [3, -3] {
        // The device's clock reads server time + skew: its offset (server minus device) is -skew.
        let offset = -skew_h * HOUR_MS;
        let mut s = new_shift(MemberId::new(), TeamId::new());
        s.started_at = Timestamp(T0.0 + skew_h * HOUR_MS);
        s.initial_end = s.started_at + Secs::hours(8);
        let c = checkin(&s, CheckInStatus::Ok, Timestamp(at_min(10).0 + skew_h * HOUR_MS));
        s.checkins.push(c);
        // Received at once (server minute 10).
        let times = [(s.checkins[0].id, at_min(10))];
        let tl = Timeline::of(&s, offset, T0, None, |id| times.iter().find(|t| t.0 == id).map(|t| (t.1, offset)), T0);
        assert_eq!(tl.checkins[0].effective_at, at_min(10), "skew {skew_h}h");
        assert_eq!(tl.deadline(&p).overdue_at, at_min(50), "skew {skew_h}h");
        assert_eq!(kinds(&alerts::wanted(&tl, &p, at_min(50))), vec![AlertKind::MissedCheckIn]);
        assert!(alerts::wanted(&tl, &p, at_min(50) - Secs(1)).is_empty());
    }
    // Even with no offset measured, a fast clock is capped by the receipt time.
    let mut s = new_shift(MemberId::new(), TeamId::new());
    s.checkins.push(checkin(&s, CheckInStatus::Ok, Timestamp(at_min(10).0 + 3 * HOUR_MS)));
    let id = s.checkins[0].id;
    let tl = Timeline::of(&s, 0, T0, None, |c| (c == id).then_some((at_min(10), 0)), T0);
    assert_eq!(tl.deadline(&p).overdue_at, at_min(50));
}

#[test]
fn past_the_planned_end_the_worker_is_reminded_before_anyone_else() {
    let mut s = new_shift(MemberId::new(), TeamId::new());
    s.initial_end = at_min(20);
    let p = Policy {
        escalation: vec![
            EscalationStep { after: Secs::minutes(5), notify: Notify::Buddies },
            EscalationStep { after: Secs::minutes(15), notify: Notify::Leads },
        ],
        ..Policy::default()
    };
    let tl = timeline(&s, 0, 0, at_min(0));
    let w = alerts::wanted(&tl, &p, at_min(30));
    assert_eq!(kinds(&w), vec![AlertKind::PastPlannedEnd]);
    assert_eq!(w[0].chain[0], EscalationStep { after: Secs(0), notify: Notify::Worker });
    assert_eq!(w[0].chain[1].notify, Notify::Buddies);
    // A check-in does not resolve it (the worker must end or extend); an extension does.
    s.checkins.push(checkin(&s, CheckInStatus::Ok, at_min(31)));
    let tl = timeline(&s, 0, 0, at_min(31));
    assert!(alerts::wanted(&tl, &p, at_min(31)).iter().any(|a| a.key == w[0].key));
    s.extensions.push(Extension {
        id: ExtensionId::new(),
        new_end: at_min(120),
        reason: "late job".into(),
        at: at_min(32),
    });
    let tl = timeline(&s, 0, 0, at_min(32));
    let still = alerts::wanted(&tl, &p, at_min(32)).iter().any(|a| a.key == w[0].key);
    assert_eq!(alerts::resolution(w[0].kind, w[0].opened_at, None, 0, &tl, still), Some(Resolution::Extension));
}

#[test]
fn support_and_emergency_raise_alerts_at_once_and_an_ok_checkin_resolves_them() {
    let mut s = new_shift(MemberId::new(), TeamId::new());
    let p = Policy::default();
    s.checkins.push(checkin(&s, CheckInStatus::Emergency, at_min(5)));
    let tl = timeline(&s, 0, 0, at_min(5));
    let w = alerts::wanted(&tl, &p, at_min(5));
    assert_eq!(kinds(&w), vec![AlertKind::Emergency]);
    assert!(w[0].kind.urgent());
    // Leads and buddies at once: every step is due the moment it opens.
    assert_eq!(alerts::steps_due(w[0].opened_at, &w[0].chain, 0, at_min(5)), vec![0, 1]);
    let notified: Vec<Notify> = w[0].chain.iter().map(|s| s.notify).collect();
    assert!(notified.contains(&Notify::Leads) && notified.contains(&Notify::Buddies));

    s.checkins.push(checkin(&s, CheckInStatus::Ok, at_min(9)));
    let tl = timeline(&s, 0, 0, at_min(9));
    let still = alerts::wanted(&tl, &p, at_min(9)).iter().any(|a| a.key == w[0].key);
    assert!(!still);
    assert!(matches!(
        alerts::resolution(w[0].kind, w[0].opened_at, w[0].checkin, 0, &tl, still),
        Some(Resolution::CheckIn { .. })
    ));

    s.checkins.push(checkin(&s, CheckInStatus::Support, at_min(12)));
    let tl = timeline(&s, 0, 0, at_min(12));
    let w = alerts::wanted(&tl, &p, at_min(12));
    assert_eq!(kinds(&w), vec![AlertKind::Support]);
    assert!(!w[0].kind.urgent());
}

#[test]
fn an_ended_shift_wants_no_alert_and_resolves_its_open_ones() {
    let mut s = new_shift(MemberId::new(), TeamId::new());
    let p = Policy::default();
    let tl = timeline(&s, 0, 0, at_min(50));
    let w = alerts::wanted(&tl, &p, at_min(50));
    s.ended = Some(ShiftEnd { at: at_min(51), note: None });
    let tl = Timeline::of(&s, 0, T0, Some(at_min(51)), |_| None, at_min(51));
    assert!(alerts::wanted(&tl, &p, at_min(60)).is_empty());
    assert_eq!(alerts::next_wake(&tl, &p, at_min(60)), None);
    assert_eq!(alerts::resolution(w[0].kind, w[0].opened_at, None, 0, &tl, false), Some(Resolution::End));
}
