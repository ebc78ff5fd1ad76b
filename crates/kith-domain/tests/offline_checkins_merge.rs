//! Concurrent offline edits merge without loss, with named peers and no clock.

use crate::common;
use common::*;
use kith_domain::doc::{self, shift, team};
use kith_domain::*;

#[test]
fn worker_checkins_and_lead_acks_made_offline_both_survive_in_either_merge_order() {
    let team_id = TeamId::new();
    let (mut alice, _) = worker_with_shift("alice", team_id);
    let first = alice.checkin(CheckInStatus::Ok, at_min(25)).unwrap();
    let second = alice.checkin(CheckInStatus::Support, at_min(50)).unwrap();

    let mut lead = Peer::new("lead", MemberId::new());
    lead.merge_from(&alice);

    // Both go offline: alice checks in three more times, the lead acknowledges what they saw.
    let later: Vec<_> = (0..3).map(|i| alice.checkin(CheckInStatus::Ok, at_min(80 + 30 * i)).unwrap()).collect();
    let ack1 = lead.ack(first.id, at_min(60), "Seen, thanks").unwrap();
    let ack2 = lead.ack(second.id, at_min(61), "Calling you now").unwrap();

    let mut a_then_l = Peer::new("replica1", MemberId::new());
    a_then_l.merge_from(&alice);
    a_then_l.merge_from(&lead);
    let mut l_then_a = Peer::new("replica2", MemberId::new());
    l_then_a.merge_from(&lead);
    l_then_a.merge_from(&alice);
    alice.merge_from(&lead);
    lead.merge_from(&alice);

    for p in [&alice, &lead, &a_then_l, &l_then_a] {
        let s = p.shift();
        assert_eq!(s.checkins.len(), 5, "{} lost a check-in", p.name);
        for c in [&first, &second].into_iter().chain(later.iter()) {
            assert_eq!(s.checkin(c.id), Some(c), "{} lacks {:?}", p.name, c.id);
        }
        assert_eq!(s.acks, vec![ack1.clone(), ack2.clone()], "{}", p.name);
        assert_eq!(doc::validate(&p.doc), Ok(doc::DocKind::Shift));
    }
    assert_eq!(alice.shift(), lead.shift());
    assert_eq!(alice.doc.get_heads(), l_then_a.doc.get_heads());
}

#[test]
fn worker_extends_while_lead_edits_purpose_and_both_edits_stand() {
    let (mut alice, s) = worker_with_shift("alice", TeamId::new());
    let mut lead = Peer::new("lead", MemberId::new());
    lead.merge_from(&alice);

    let ext = Extension {
        id: ExtensionId::new(),
        new_end: s.initial_end + Secs::hours(1),
        reason: "Last meter is behind a locked gate".into(),
        at: at_min(400),
    };
    alice.edit(|tx| shift::extend(tx, &ext)).unwrap();
    lead.edit(|tx| shift::set_purpose(tx, "Meter readings, north and east estates")).unwrap();

    alice.merge_from(&lead);
    lead.merge_from(&alice);
    for p in [&alice, &lead] {
        let got = p.shift();
        assert_eq!(got.planned_end(), ext.new_end);
        assert_eq!(got.extensions, vec![ext.clone()]);
        assert_eq!(got.purpose, "Meter readings, north and east estates");
    }
}

#[test]
fn a_checkin_made_while_another_device_ended_the_shift_is_kept() {
    let (mut laptop, _) = worker_with_shift("alice-laptop", TeamId::new());
    let mut phone = Peer::new("alice-phone", laptop.member);
    phone.merge_from(&laptop);

    let late = phone.checkin(CheckInStatus::Ok, at_min(20)).unwrap();
    laptop.edit(|tx| shift::end(tx, &ShiftEnd { at: at_min(21), note: None })).unwrap();
    // Once a device has seen the end, it refuses new check-ins and says to start a new shift.
    assert_eq!(laptop.checkin(CheckInStatus::Ok, at_min(22)).unwrap_err(), DomainError::ShiftEnded);

    laptop.merge_from(&phone);
    let s = laptop.shift();
    assert_eq!(s.checkin(late.id), Some(&late));
    assert!(s.ended.is_some());
}

#[test]
fn two_leads_editing_different_members_and_policy_fields_merge() {
    let lead_a = Member { id: MemberId::new(), name: "Sam".into(), role: Role::Lead, buddies: vec![], phone: None };
    let worker = Member { id: MemberId::new(), name: "Alice".into(), role: Role::Member, buddies: vec![], phone: None };
    let t = new_team(vec![lead_a.clone(), worker.clone()]);
    let mut sam = team_peer("sam", &t);
    let mut kim = Peer::new("kim", MemberId::new());
    kim.merge_from(&sam);

    let newcomer =
        Member { id: MemberId::new(), name: "Bo".into(), role: Role::Member, buddies: vec![worker.id], phone: None };
    sam.edit(|tx| team::upsert_member(tx, &newcomer)).unwrap();
    let mut p = t.policy.clone();
    p.grace = Secs::minutes(20);
    kim.edit(|tx| team::set_policy(tx, &p)).unwrap();
    let mut promoted = worker.clone();
    promoted.role = Role::Lead;
    kim.edit(|tx| team::upsert_member(tx, &promoted)).unwrap();

    sam.merge_from(&kim);
    kim.merge_from(&sam);
    let (a, b) = (team::read(&sam.doc).unwrap(), team::read(&kim.doc).unwrap());
    assert_eq!(a, b);
    assert_eq!(a.policy.grace, Secs::minutes(20));
    assert_eq!(a.member(newcomer.id), Some(&newcomer));
    assert_eq!(a.member(worker.id).map(|m| m.role), Some(Role::Lead));
}

#[test]
fn an_ack_must_name_a_checkin_the_writer_has_seen() {
    let (_alice, _) = worker_with_shift("alice", TeamId::new());
    let mut lead = Peer::new("lead", MemberId::new());
    let (alice2, _) = worker_with_shift("alice2", TeamId::new());
    lead.merge_from(&alice2);
    let unknown = CheckInId::new();
    assert_eq!(lead.ack(unknown, at_min(5), "hi").unwrap_err(), DomainError::UnknownCheckIn(unknown));
    assert!(lead.shift().acks.is_empty(), "a refused edit commits nothing");
}
