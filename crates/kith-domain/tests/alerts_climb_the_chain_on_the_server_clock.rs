//! The pure alert rules: deadlines on the server clock (device offset and receipt times), which
//! alerts a shift should have, when each step is due, and what resolves them.

use crate::common;
use common::*;
use kith_domain::alerts::{self, AlertKind, Receipt, Resolution, ShiftReceipts, Timeline};
use kith_domain::rules::DueReason;
use kith_domain::*;

const HOUR_MS: i64 = 3_600_000;

fn checkin(s: &Shift, status: CheckInStatus, at: Timestamp) -> CheckIn {
    CheckIn::new(status, at, s.worker, DeviceId::new())
}

/// A timeline where every check-in was received at its device time plus `delay_min` minutes
/// from a device whose clock is `offset_ms` behind the server.
fn timeline(s: &Shift, offset_ms: i64, delay_min: i64, now: Timestamp) -> Timeline {
    Timeline::of(s, &receipts(s, offset_ms, delay_min), now)
}

fn receipts(s: &Shift, offset_ms: i64, delay_min: i64) -> ShiftReceipts {
    let received = |t: Timestamp| Receipt { received_at: t.plus_ms(offset_ms) + Secs::minutes(delay_min), offset_ms };
    ShiftReceipts {
        header: Receipt { received_at: T0, offset_ms },
        checkins: s.checkins.iter().map(|c| (c.id, received(c.device_time))).collect(),
        ..ShiftReceipts::default()
    }
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
    assert_eq!(after.last.map(|c| c.received_at), Some(at_min(50)));
    assert_eq!(after.last.map(|c| c.effective_at), Some(at_min(25)));
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
        let r = ShiftReceipts {
            header: Receipt { received_at: T0, offset_ms: offset },
            checkins: [(s.checkins[0].id, Receipt { received_at: at_min(10), offset_ms: offset })].into(),
            ..ShiftReceipts::default()
        };
        let tl = Timeline::of(&s, &r, T0);
        assert_eq!(tl.last.map(|c| c.effective_at), Some(at_min(10)), "skew {skew_h}h");
        assert_eq!(tl.deadline(&p).overdue_at, at_min(50), "skew {skew_h}h");
        assert_eq!(kinds(&alerts::wanted(&tl, &p, at_min(50))), vec![AlertKind::MissedCheckIn]);
        assert!(alerts::wanted(&tl, &p, at_min(50) - Secs(1)).is_empty());
    }
    // Even with no offset measured, a fast clock is capped by the receipt time.
    let mut s = new_shift(MemberId::new(), TeamId::new());
    s.checkins.push(checkin(&s, CheckInStatus::Ok, Timestamp(at_min(10).0 + 3 * HOUR_MS)));
    let id = s.checkins[0].id;
    let r = ShiftReceipts {
        header: Receipt { received_at: T0, offset_ms: 0 },
        checkins: [(id, Receipt { received_at: at_min(10), offset_ms: 0 })].into(),
        ..ShiftReceipts::default()
    };
    let tl = Timeline::of(&s, &r, T0);
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
    // It was right to raise it (it was the latest when it arrived), and the OK resolves it.
    let still = alerts::wanted(&tl, &p, at_min(9)).iter().any(|a| a.key == w[0].key);
    assert!(matches!(
        alerts::resolution(w[0].kind, w[0].opened_at, w[0].checkin, 0, &tl, still),
        Some(Resolution::CheckIn { .. })
    ));

    s.checkins.push(checkin(&s, CheckInStatus::Support, at_min(12)));
    let tl = timeline(&s, 0, 0, at_min(12));
    let w = alerts::wanted(&tl, &p, at_min(12));
    // The emergency's alert keeps its key (raised once, resolved since); the support request is new.
    assert_eq!(kinds(&w), vec![AlertKind::Emergency, AlertKind::Support]);
    assert!(!w[1].kind.urgent());
}

#[test]
fn an_ended_shift_wants_no_alert_and_resolves_its_open_ones() {
    let mut s = new_shift(MemberId::new(), TeamId::new());
    let p = Policy::default();
    let tl = timeline(&s, 0, 0, at_min(50));
    let w = alerts::wanted(&tl, &p, at_min(50));
    s.ended = Some(ShiftEnd { at: at_min(51), note: None });
    let r = ShiftReceipts { ended: Some(Receipt { received_at: at_min(51), offset_ms: 0 }), ..receipts(&s, 0, 0) };
    let tl = Timeline::of(&s, &r, at_min(51));
    assert!(alerts::wanted(&tl, &p, at_min(60)).is_empty());
    assert_eq!(alerts::next_wake(&tl, &p, at_min(60)), None);
    assert_eq!(alerts::resolution(w[0].kind, w[0].opened_at, None, 0, &tl, false), Some(Resolution::End));
}

#[test]
fn an_emergency_raises_its_alert_if_it_was_the_latest_when_it_arrived_however_late_it_is_looked_at() {
    let p = Policy::default();
    let mut s = new_shift(MemberId::new(), TeamId::new());
    let e = checkin(&s, CheckInStatus::Emergency, at_min(5));
    let ok = checkin(&s, CheckInStatus::Ok, at_min(6));
    s.checkins.extend([e.clone(), ok.clone()]);
    let at = |m: i64| Receipt { received_at: at_min(m), offset_ms: 0 };
    let base = ShiftReceipts { header: at(0), ..ShiftReceipts::default() };
    // Both in one push (made offline: the emergency, then "I'm OK"): no alert.
    let r = ShiftReceipts { checkins: [(e.id, at(7)), (ok.id, at(7))].into(), ..base.clone() };
    assert!(alerts::wanted(&Timeline::of(&s, &r, at_min(7)), &p, at_min(7)).is_empty());
    // The emergency stored first, the OK in a later push: the emergency's alert is wanted (raised
    // even by an engine that first looks after both are stored), and the OK resolves it.
    let r = ShiftReceipts { checkins: [(e.id, at(5)), (ok.id, at(6))].into(), ..base.clone() };
    let tl = Timeline::of(&s, &r, at_min(6));
    let w = alerts::wanted(&tl, &p, at_min(6));
    assert_eq!((kinds(&w), w[0].checkin, w[0].opened_at), (vec![AlertKind::Emergency], Some(e.id), at_min(5)));
    assert_eq!(
        alerts::resolution(w[0].kind, w[0].opened_at, w[0].checkin, 0, &tl, true),
        Some(Resolution::CheckIn { checkin: ok.id, prevented: false })
    );
    // The same with an end instead of the OK: raised, and resolved by the end; an end stored in
    // the same push as the emergency raises nothing.
    let mut ended = s.clone();
    ended.checkins.retain(|c| c.id == e.id);
    ended.ended = Some(ShiftEnd { at: at_min(6), note: None });
    let r = ShiftReceipts { checkins: [(e.id, at(5))].into(), ended: Some(at(6)), ..base.clone() };
    let tl = Timeline::of(&ended, &r, at_min(6));
    assert_eq!(kinds(&alerts::wanted(&tl, &p, at_min(6))), vec![AlertKind::Emergency]);
    assert_eq!(alerts::resolution(AlertKind::Emergency, at_min(5), Some(e.id), 0, &tl, true), Some(Resolution::End));
    let r = ShiftReceipts { checkins: [(e.id, at(6))].into(), ended: Some(at(6)), ..base };
    assert!(alerts::wanted(&Timeline::of(&ended, &r, at_min(6)), &p, at_min(6)).is_empty());
}

#[test]
fn the_server_clock_view_of_a_shift_and_the_timeline_agree() {
    let p = Policy::default();
    let mut s = new_shift(MemberId::new(), TeamId::new());
    // Device three hours slow; an extension and check-ins received at various times.
    let off = 3 * HOUR_MS;
    s.started_at = T0.plus_ms(-off);
    s.initial_end = s.started_at + Secs::hours(2);
    let c1 = checkin(&s, CheckInStatus::Ok, at_min(10).plus_ms(-off));
    let c2 = checkin(&s, CheckInStatus::Support, at_min(40).plus_ms(-off));
    s.checkins.extend([c1.clone(), c2.clone()]);
    let x = Extension {
        id: ExtensionId::new(),
        new_end: at_min(300).plus_ms(-off),
        reason: "r".into(),
        at: at_min(41).plus_ms(-off),
    };
    s.extensions.push(x.clone());
    let r = ShiftReceipts {
        header: Receipt { received_at: T0, offset_ms: off },
        checkins: [
            (c1.id, Receipt { received_at: at_min(10), offset_ms: off }),
            (c2.id, Receipt { received_at: at_min(55), offset_ms: off }),
        ]
        .into(),
        extensions: [(x.id, Receipt { received_at: at_min(55), offset_ms: off })].into(),
        ..ShiftReceipts::default()
    };
    let now = at_min(60);
    let server = alerts::on_server_clock(&s, &r, now);
    let tl = Timeline::of(&s, &r, now);
    assert_eq!((server.started_at, tl.started_at), (T0, T0));
    assert_eq!((server.planned_end(), tl.planned_end), (at_min(300), at_min(300)));
    assert_eq!(server.last_checkin().map(|c| c.device_time), tl.last_checkin().map(|c| c.effective_at));
    assert_eq!(kith_domain::rules::next_due(&server, &p), tl.next_due(&p));
    let due = kith_domain::rules::due_status(&server, &p, now);
    assert_eq!((due.next_due, due.overdue_at), (tl.next_due(&p), tl.deadline(&p).overdue_at));
}

#[test]
fn a_value_written_before_the_clock_was_put_right_keeps_the_old_offset() {
    let prev = Some((at_min(10), 3 * HOUR_MS));
    // Made at server minute 30 on a clock three hours slow, received at 45 after it was put right.
    assert_eq!(alerts::offset_written(at_min(30).plus_ms(-3 * HOUR_MS), 0, prev, at_min(45)), 3 * HOUR_MS);
    // Made at 40 on the corrected clock: the offset measured now.
    assert_eq!(alerts::offset_written(at_min(40), 0, prev, at_min(45)), 0);
    // No change of clock, or no previous exchange: the offset measured now.
    assert_eq!(alerts::offset_written(at_min(30), 0, Some((at_min(10), 0)), at_min(45)), 0);
    assert_eq!(alerts::offset_written(at_min(30), 7, None, at_min(45)), 7);
    // Neither fits (made long before): the offset measured now, and the receipt caps it.
    assert_eq!(alerts::offset_written(at_min(-500), 0, prev, at_min(45)), 0);
}
