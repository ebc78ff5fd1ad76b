//! The deadline rules and the board's urgency order, with the clock passed in.

use crate::common;
use common::*;
use kith_domain::rules::{self, BoardStatus, DueReason, DueState};
use kith_domain::*;

fn checkin(s: &Shift, status: CheckInStatus, at: Timestamp) -> CheckIn {
    CheckIn::new(status, at, s.worker, DeviceId::new())
}

#[test]
fn next_due_is_one_interval_after_the_last_checkin_or_the_start() {
    let mut s = new_shift(MemberId::new(), TeamId::new());
    assert_eq!(rules::next_due(&s, &Policy::default()), at_min(30));
    s.checkins.push(checkin(&s, CheckInStatus::Ok, at_min(20)));
    assert_eq!(rules::next_due(&s, &Policy::default()), at_min(50));
}

#[test]
fn due_state_moves_from_fine_to_due_soon_to_overdue_at_the_policy_edges() {
    let s = new_shift(MemberId::new(), TeamId::new());
    let p = Policy::default(); // reminder 5 min before, grace 10 min
    let state = |m: i64| rules::due_status(&s, &p, at_min(m)).state;
    assert_eq!(state(24), DueState::Fine);
    assert_eq!(state(25), DueState::DueSoon);
    assert_eq!(state(30), DueState::DueSoon);
    assert_eq!(rules::due_status(&s, &p, at_min(40) - Secs(1)).state, DueState::DueSoon, "within grace");
    // Overdue from due plus grace, the moment the server's deadline engine raises its alert.
    assert_eq!(state(40), DueState::Overdue);
}

#[test]
fn past_the_planned_end_without_end_or_extension_is_overdue_after_grace() {
    let mut s = new_shift(MemberId::new(), TeamId::new());
    s.initial_end = at_min(60);
    // Check in regularly, so only the planned end can make the shift overdue.
    for m in [25, 50, 75] {
        s.checkins.push(checkin(&s, CheckInStatus::Ok, at_min(m)));
    }
    let p = Policy::default();
    let st = rules::due_status(&s, &p, at_min(76));
    assert_eq!((st.state, st.reason), (DueState::Overdue, DueReason::PlannedEnd));
    s.extensions.push(Extension {
        id: ExtensionId::new(),
        new_end: at_min(180),
        reason: "traffic".into(),
        at: at_min(55),
    });
    assert_eq!(rules::due_status(&s, &p, at_min(76)).state, DueState::Fine);
    s.ended = Some(ShiftEnd { at: at_min(77), note: None });
    assert_eq!(rules::due_status(&s, &p, at_min(500)).state, DueState::OffShift);
}

#[test]
fn reminders_cover_the_next_checkin_and_the_planned_end_in_time_order() {
    let mut s = new_shift(MemberId::new(), TeamId::new());
    s.initial_end = at_min(20);
    let r = rules::reminders(&s, &Policy::default());
    assert_eq!(r.len(), 2);
    assert_eq!((r[0].reason, r[0].at), (DueReason::PlannedEnd, at_min(15)));
    assert_eq!((r[1].reason, r[1].at), (DueReason::CheckIn, at_min(25)));
    s.ended = Some(ShiftEnd { at: at_min(19), note: None });
    assert!(rules::reminders(&s, &Policy::default()).is_empty());
}

#[test]
fn board_is_sorted_emergency_overdue_support_due_soon_fine_off_shift() {
    let names = ["fine", "off", "overdue", "emergency", "support", "duesoon", "never"];
    let members: Vec<Member> = names
        .iter()
        .map(|n| Member { id: MemberId::new(), name: n.to_string(), role: Role::Member, buddies: vec![], phone: None })
        .collect();
    let team = new_team(members.clone());
    let now = at_min(100);
    let mk = |i: usize, last: i64, status: CheckInStatus| {
        let mut s = new_shift(members[i].id, team.id);
        s.checkins.push(checkin(&s, status, at_min(last)));
        s
    };
    let mut off = mk(1, 90, CheckInStatus::Ok);
    off.ended = Some(ShiftEnd { at: at_min(95), note: None });
    let mut acked_support = mk(0, 90, CheckInStatus::Support);
    acked_support.acks.push(Ack {
        id: AckId::new(),
        checkin: acked_support.checkins[0].id,
        by: members[3].id,
        at: at_min(91),
        reply: None,
    });
    let shifts = vec![
        acked_support,                       // fine: support acknowledged, due at 120
        off,                                 // off shift
        mk(2, 50, CheckInStatus::Ok),        // due 80, overdue after 90
        mk(3, 95, CheckInStatus::Emergency), // emergency
        mk(4, 95, CheckInStatus::Support),   // support, not acknowledged
        mk(5, 72, CheckInStatus::Ok),        // due 102: due soon
    ];
    let board = rules::board(&team, &shifts, now);
    let got: Vec<(&str, BoardStatus)> = board.iter().map(|r| (r.name.as_str(), r.status)).collect();
    assert_eq!(
        got,
        vec![
            ("emergency", BoardStatus::Emergency),
            ("overdue", BoardStatus::Overdue),
            ("support", BoardStatus::Support),
            ("duesoon", BoardStatus::DueSoon),
            ("fine", BoardStatus::Fine),
            ("never", BoardStatus::OffShift),
            ("off", BoardStatus::OffShift),
        ]
    );
    let never = board.iter().find(|r| r.name == "never").unwrap();
    assert_eq!((never.shift, never.next_due), (None, None));
}

#[test]
fn an_emergency_stays_on_top_after_an_ack_until_the_worker_checks_in_ok() {
    let member = Member { id: MemberId::new(), name: "a".into(), role: Role::Member, buddies: vec![], phone: None };
    let team = new_team(vec![member.clone()]);
    let mut s = new_shift(member.id, team.id);
    let e = checkin(&s, CheckInStatus::Emergency, at_min(10));
    s.acks.push(Ack { id: AckId::new(), checkin: e.id, by: MemberId::new(), at: at_min(11), reply: None });
    s.checkins.push(e);
    assert_eq!(rules::board_status(Some(&s), &team.policy, at_min(12)), BoardStatus::Emergency);
    s.checkins.push(checkin(&s, CheckInStatus::Ok, at_min(13)));
    assert_eq!(rules::board_status(Some(&s), &team.policy, at_min(14)), BoardStatus::Fine);
}

#[test]
fn interval_must_lie_within_the_team_policy() {
    let p = Policy::default();
    assert!(p.check_interval(Secs::minutes(30)).is_ok());
    let err = p.check_interval(Secs(1)).unwrap_err();
    assert!(err.to_string().contains("between 15m and 4h"), "{err}");
    assert!(p.check_interval(Secs::hours(5)).is_err());
}

/// The device checks a shift's interval against the policy when it starts; one longer than the
/// policy allows now (an older policy, a buggy client) is held to the policy's longest, in the
/// views' rules and in the deadline engine's alike, and a check-in later than that is not on time.
#[test]
fn a_shift_is_due_within_the_policys_longest_interval_whatever_it_asked() {
    let mut s = new_shift(MemberId::new(), TeamId::new());
    s.interval = Secs::hours(30);
    s.initial_end = at_min(36 * 60);
    let p = Policy::default(); // at most 4 hours, 10 minutes' grace
    let due = rules::due_status(&s, &p, at_min(0));
    assert_eq!((due.next_due, due.overdue_at), (at_min(240), at_min(250)));
    assert_eq!(rules::due_status(&s, &p, at_min(250)).state, DueState::Overdue);
    // Received as it was made: the server's clock and the device's agree.
    let header = alerts::Receipt { received_at: s.started_at, offset_ms: 0 };
    let tl = alerts::Timeline::of(&s, &alerts::ShiftReceipts { header, ..Default::default() }, at_min(0));
    assert_eq!(tl.deadline(&p).overdue_at, at_min(250), "the deadline engine decides the same");
    // A shorter interval than the policy's shortest is kept: lengthening it would only make an alarm later.
    s.interval = Secs::minutes(5);
    assert_eq!(rules::due_status(&s, &p, at_min(0)).next_due, at_min(5));
}
