//! Connection-health figures per worker and per team over a window.

use crate::common;
use common::*;
use kith_domain::health::{self, Window};
use kith_domain::*;

fn ci(s: &Shift, at: Timestamp, confidence: Option<u8>) -> CheckIn {
    CheckIn {
        id: CheckInId::new(),
        status: CheckInStatus::Ok,
        mood: None,
        confidence: confidence.map(|c| Rating::new(c, "confidence").unwrap()),
        note: None,
        location: None,
        device_time: at,
        by: s.worker,
        device: DeviceId::new(),
    }
}

#[test]
fn worker_figures_count_on_time_missed_kept_ends_purpose_replies_and_connections() {
    let lead = Member { id: MemberId::new(), name: "Sam".into(), role: Role::Lead, buddies: vec![], phone: None };
    let buddy = Member { id: MemberId::new(), name: "Bo".into(), role: Role::Member, buddies: vec![], phone: None };
    let alice =
        Member { id: MemberId::new(), name: "Alice".into(), role: Role::Member, buddies: vec![buddy.id], phone: None };
    let team = new_team(vec![lead.clone(), buddy.clone(), alice.clone()]);

    // Shift 1: on time at 25 and 50, late at 95 (due 80 + 10 grace = 90), ended on time.
    let mut s1 = new_shift(alice.id, team.id);
    s1.initial_end = at_min(120);
    for (m, c) in [(25, Some(4)), (50, Some(2)), (95, None)] {
        let c = ci(&s1, at_min(m), c);
        s1.checkins.push(c);
    }
    s1.acks.push(Ack { id: AckId::new(), checkin: s1.checkins[0].id, by: lead.id, at: at_min(27), reply: None });
    s1.acks.push(Ack { id: AckId::new(), checkin: s1.checkins[0].id, by: buddy.id, at: at_min(40), reply: None });
    s1.acks.push(Ack { id: AckId::new(), checkin: s1.checkins[1].id, by: lead.id, at: at_min(56), reply: None });
    s1.ended = Some(ShiftEnd { at: at_min(118), note: None });

    // Shift 2, next day: no purpose, extended too late, ended past the end, a trailing miss.
    let mut s2 = new_shift(alice.id, team.id);
    s2.started_at = at_min(24 * 60);
    s2.initial_end = at_min(24 * 60 + 60);
    s2.purpose = "  ".into();
    s2.buddies = vec![lead.id];
    s2.extensions.push(Extension {
        id: ExtensionId::new(),
        new_end: at_min(24 * 60 + 120),
        reason: "x".into(),
        at: at_min(24 * 60 + 90),
    });
    s2.ended = Some(ShiftEnd { at: at_min(24 * 60 + 119), note: None });

    // Someone else's shift never counts for alice.
    let other = new_shift(buddy.id, team.id);
    let shifts = vec![s1, s2, other];
    let window = Window { from: T0, to: at_min(3 * 24 * 60) };
    let h = health::worker_health(alice.id, &team, &shifts, window, at_min(3 * 24 * 60));

    assert_eq!(h.shifts, 2);
    assert_eq!((h.checkins, h.on_time_checkins, h.missed_checkins), (3, 2, 1));
    assert_eq!(h.on_time_rate, Some(0.5));
    assert_eq!((h.ended_shifts, h.end_kept), (2, 1));
    assert_eq!(h.purpose_rate, Some(0.5));
    assert_eq!(h.replies_received, 2);
    assert_eq!(h.reply_median_delay, Some(Secs(240)), "median of 2 and 6 minutes to the first reply");
    assert_eq!(h.confidence_avg, Some(3.0));
    assert_eq!(h.confidence_trend.iter().map(|(_, r)| *r).collect::<Vec<_>>(), vec![4, 2]);
    assert_eq!(h.active_connections, 2, "buddy Bo and lead Sam, counted once each");

    let outside = Window { from: at_min(10 * 24 * 60), to: at_min(11 * 24 * 60) };
    let none = health::worker_health(alice.id, &team, &shifts, outside, at_min(11 * 24 * 60));
    assert_eq!((none.shifts, none.on_time_rate, none.reply_median_delay), (0, None, None));

    let t = health::team_health(&team, &shifts, window, at_min(3 * 24 * 60));
    assert_eq!(t.members.len(), 3);
    assert_eq!(t.total.shifts, 3);
    assert_eq!(t.total.checkins, 3);
}
