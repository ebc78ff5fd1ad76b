//! The order of the board and of the alerts (who needs a human now comes first), and statuses
//! that tell the truth: from the latest check-in and any open alert, not only the due time.

use crate::common;
use common::*;
use kith_domain::alerts::AlertKind;
use kith_domain::doc::team;
use kith_domain::rules::{self, AlertFact, Attention, BoardStatus};
use kith_domain::*;

fn member(name: &str, role: Role) -> Member {
    Member::new(MemberId::new(), name, role)
}

fn shift_with(m: &Member, team: &Team, last: i64, status: CheckInStatus) -> Shift {
    let mut s = new_shift(m.id, team.id);
    s.checkins.push(CheckIn::new(status, at_min(last), m.id, DeviceId::new()));
    s
}

fn alert(s: &Shift, kind: AlertKind, owner: Option<MemberId>, opened: i64) -> AlertFact {
    let checkin = matches!(kind, AlertKind::Support | AlertKind::Emergency).then(|| s.checkins.last().unwrap().id);
    AlertFact { shift: s.id, worker: s.worker, kind, checkin, owner, opened_at: at_min(opened), resolved: false }
}

#[test]
fn unowned_before_owned_then_emergency_overdue_support_due_soon_fine_and_off_shift_leads_last() {
    let lead = member("Lee (lead)", Role::Lead);
    let names = [
        "owned emergency",
        "unowned overdue",
        "unowned support",
        "owned overdue",
        "due soon",
        "fine",
        "off shift",
        "unowned emergency",
    ];
    let ms: Vec<Member> = names.iter().map(|n| member(n, Role::Member)).collect();
    let mut all = ms.clone();
    all.push(lead.clone());
    let t = new_team(all);
    let now = at_min(100);
    let by = |n: &str| ms.iter().find(|m| m.name == n).unwrap();
    let mut off = shift_with(by("off shift"), &t, 90, CheckInStatus::Ok);
    off.ended = Some(ShiftEnd { at: at_min(95), note: None });
    let owned_emergency = shift_with(by("owned emergency"), &t, 60, CheckInStatus::Emergency);
    let unowned_emergency = shift_with(by("unowned emergency"), &t, 96, CheckInStatus::Emergency);
    let unowned_overdue = shift_with(by("unowned overdue"), &t, 50, CheckInStatus::Ok);
    let owned_overdue = shift_with(by("owned overdue"), &t, 40, CheckInStatus::Ok);
    let unowned_support = shift_with(by("unowned support"), &t, 97, CheckInStatus::Support);
    let alerts = vec![
        alert(&owned_emergency, AlertKind::Emergency, Some(lead.id), 60),
        alert(&unowned_emergency, AlertKind::Emergency, None, 96),
        alert(&unowned_overdue, AlertKind::MissedCheckIn, None, 90),
        alert(&owned_overdue, AlertKind::MissedCheckIn, Some(lead.id), 80),
        alert(&unowned_support, AlertKind::Support, None, 97),
    ];
    let shifts = vec![
        owned_emergency,
        unowned_emergency,
        unowned_overdue,
        owned_overdue,
        unowned_support,
        shift_with(by("due soon"), &t, 72, CheckInStatus::Ok), // due at 102
        shift_with(by("fine"), &t, 95, CheckInStatus::Ok),
        off,
    ];
    let board = rules::board_with(&t, &shifts, Some(&alerts), now);
    let got: Vec<(&str, BoardStatus, Attention)> =
        board.iter().map(|r| (r.name.as_str(), r.status, r.attention)).collect();
    assert_eq!(
        got,
        vec![
            ("unowned emergency", BoardStatus::Emergency, Attention::Unowned),
            ("unowned overdue", BoardStatus::Overdue, Attention::Unowned),
            ("unowned support", BoardStatus::Support, Attention::Unowned),
            ("owned emergency", BoardStatus::Emergency, Attention::Owned),
            ("owned overdue", BoardStatus::Overdue, Attention::Owned),
            ("due soon", BoardStatus::DueSoon, Attention::Calm),
            ("fine", BoardStatus::Fine, Attention::Calm),
            ("off shift", BoardStatus::OffShift, Attention::Calm),
            ("Lee (lead)", BoardStatus::OffShift, Attention::Calm),
        ]
    );
    let owned = board.iter().find(|r| r.name == "owned emergency").unwrap();
    assert_eq!((owned.owner, owned.alert_since), (Some(lead.id), Some(at_min(60))));
}

#[test]
fn without_alerts_a_status_that_needs_a_human_is_unowned_and_still_comes_first() {
    let a = member("a overdue", Role::Member);
    let z = member("z emergency", Role::Member);
    let t = new_team(vec![a.clone(), z.clone()]);
    let shifts = vec![shift_with(&a, &t, 10, CheckInStatus::Ok), shift_with(&z, &t, 99, CheckInStatus::Emergency)];
    let board = rules::board(&t, &shifts, at_min(100));
    assert_eq!(board[0].name, "z emergency", "emergency before overdue, whatever the names");
    assert_eq!(board[1].name, "a overdue");
    assert!(board.iter().all(|r| r.attention == Attention::Unowned));
}

#[test]
fn a_lead_on_shift_is_a_worker_on_shift() {
    let lead = member("Lee", Role::Lead);
    let off = member("Abe", Role::Member);
    let t = new_team(vec![lead.clone(), off.clone()]);
    let board = rules::board(&t, &[shift_with(&lead, &t, 95, CheckInStatus::Ok)], at_min(100));
    assert_eq!((board[0].name.as_str(), board[0].status), ("Lee", BoardStatus::Fine));
    assert_eq!((board[1].name.as_str(), board[1].status), ("Abe", BoardStatus::OffShift));
}

#[test]
fn a_replied_support_request_stays_support_while_its_alert_is_open() {
    let lead = member("Lee", Role::Lead);
    let a = member("Alice", Role::Member);
    let t = new_team(vec![lead.clone(), a.clone()]);
    let mut s = shift_with(&a, &t, 90, CheckInStatus::Support);
    s.acks.push(Ack {
        id: AckId::new(),
        checkin: s.checkins[0].id,
        by: lead.id,
        at: at_min(91),
        reply: Some("ok".into()),
    });
    let mut open = alert(&s, AlertKind::Support, None, 90);
    let now = at_min(95);
    assert_eq!(rules::shift_status(&s, &t.policy, now, Some(&[open])), BoardStatus::Support);
    open.resolved = true;
    assert_eq!(rules::shift_status(&s, &t.policy, now, Some(&[open])), BoardStatus::Fine, "resolved: dealt with");
    // A device's own board knows no alerts: the reply is what it has.
    assert_eq!(rules::shift_status(&s, &t.policy, now, None), BoardStatus::Fine);
}

#[test]
fn an_open_overdue_alert_keeps_the_shift_overdue_whatever_the_device_times_say() {
    let a = member("Alice", Role::Member);
    let t = new_team(vec![a.clone()]);
    // By its device times the shift is fine (checked in at 95, due at 125)...
    let s = shift_with(&a, &t, 95, CheckInStatus::Ok);
    let now = at_min(100);
    assert_eq!(rules::shift_status(&s, &t.policy, now, Some(&[])), BoardStatus::Fine);
    // ...but the server, on its own clock, has a missed check-in open for it.
    let f = alert(&s, AlertKind::MissedCheckIn, None, 99);
    assert_eq!(rules::shift_status(&s, &t.policy, now, Some(&[f])), BoardStatus::Overdue);
}

#[test]
fn an_emergency_is_the_status_of_its_shift_until_the_worker_checks_in_again() {
    let lead = member("Lee", Role::Lead);
    let a = member("Alice", Role::Member);
    let t = new_team(vec![lead.clone(), a.clone()]);
    let mut s = shift_with(&a, &t, 90, CheckInStatus::Emergency);
    let claimed = alert(&s, AlertKind::Emergency, Some(lead.id), 90);
    // Not "on track", though the next check-in is not due for half an hour.
    assert_eq!(rules::shift_status(&s, &t.policy, at_min(91), Some(&[claimed])), BoardStatus::Emergency);
    assert_eq!(rules::shift_status(&s, &t.policy, at_min(91), None), BoardStatus::Emergency);
    s.checkins.push(CheckIn::new(CheckInStatus::Ok, at_min(92), a.id, DeviceId::new()));
    assert_eq!(rules::shift_status(&s, &t.policy, at_min(93), None), BoardStatus::Fine);
}

#[test]
fn alerts_are_ordered_by_the_same_rule_as_the_board() {
    use AlertKind::*;
    // (name, kind, owned, resolved, opened)
    let mut alerts = [
        ("claimed emergency", Emergency, true, false, 10),
        ("open missed", MissedCheckIn, false, false, 30),
        ("open support", Support, false, false, 5),
        ("open emergency", Emergency, false, false, 40),
        ("older open missed", PastPlannedEnd, false, false, 20),
        ("resolved old", Emergency, true, true, 1),
        ("resolved new", Support, false, true, 50),
        ("claimed support", Support, true, false, 1),
    ];
    alerts.sort_by_key(|a| rules::alert_key(a.1, a.2, a.3, at_min(a.4)));
    let names: Vec<&str> = alerts.iter().map(|a| a.0).collect();
    assert_eq!(
        names,
        vec![
            "open emergency",
            "older open missed",
            "open missed",
            "open support",
            "claimed emergency",
            "claimed support",
            "resolved new",
            "resolved old",
        ]
    );
}

#[test]
fn a_phone_number_is_digits_people_can_dial() {
    for ok in ["+44 20 7946 0000", "020-7946-0000", "(555) 123.4567", "112"] {
        assert_eq!(check_phone(ok), Ok(()), "{ok}");
    }
    for bad in ["call me", "12", "+44 20 <script>", "++44 20 7946", "0".repeat(40).as_str(), "tel:112"] {
        assert!(check_phone(bad).is_err(), "{bad}");
    }
    assert_eq!(dial_string("+44 (20) 7946-0000"), "+442079460000");
}

#[test]
fn a_members_phone_round_trips_through_the_team_document_and_a_bad_one_is_refused() {
    let lead = member("Lee", Role::Lead);
    let a = member("Alice", Role::Member);
    let t = new_team(vec![lead.clone(), a.clone()]);
    let mut p = team_peer("lead", &t);
    p.edit(|tx| team::set_phone(tx, a.id, Some(" +44 7700 900123 "))).unwrap();
    let read = team::read(&p.doc).unwrap();
    assert_eq!(read.member(a.id).unwrap().phone.as_deref(), Some("+44 7700 900123"));
    let before = p.doc.get_heads();
    assert!(p.edit(|tx| team::set_phone(tx, a.id, Some("ring ring"))).is_err());
    assert_eq!(p.doc.get_heads(), before, "a refused edit changes nothing");
    p.edit(|tx| team::set_phone(tx, a.id, None)).unwrap();
    assert_eq!(team::read(&p.doc).unwrap().member(a.id).unwrap().phone, None);
    assert!(p.edit(|tx| team::set_phone(tx, MemberId::new(), Some("112"))).is_err(), "not on the roster");
}

#[test]
fn the_last_lead_cannot_be_demoted_and_nobody_becomes_admin_from_the_roster() {
    let lead = member("Lee", Role::Lead);
    let a = member("Alice", Role::Member);
    let mut t = new_team(vec![lead.clone(), a.clone()]);
    assert!(t.check_role_change(lead.id, Role::Member).unwrap_err().to_string().contains("only lead"));
    assert!(t.check_role_change(a.id, Role::Admin).is_err());
    assert_eq!(t.check_role_change(a.id, Role::Lead), Ok(()));
    t.members[1].role = Role::Lead;
    assert_eq!(t.check_role_change(lead.id, Role::Member), Ok(()), "another lead remains");
    assert!(t.check_buddies(a.id, &[a.id]).is_err());
    assert!(t.check_buddies(a.id, &[MemberId::new()]).is_err());
    assert_eq!(t.check_buddies(a.id, &[lead.id]), Ok(()));
}

#[test]
fn a_policy_a_lead_sets_must_reach_the_leads_and_stay_within_bounds() {
    let mut p = Policy::default();
    assert_eq!(p.check_edit(), Ok(()));
    p.escalation.retain(|s| s.notify != Notify::Leads);
    assert!(p.check_edit().unwrap_err().to_string().contains("reach the leads"));
    let p = Policy { max_interval: Secs::hours(48), ..Policy::default() };
    assert!(p.check_edit().is_err());
    let mut p = Policy::default();
    p.escalation[0].after = Secs(-60);
    assert!(p.check_edit().is_err());
    let mut p = Policy::default();
    p.escalation.clear();
    assert!(p.check_edit().is_err());
}
