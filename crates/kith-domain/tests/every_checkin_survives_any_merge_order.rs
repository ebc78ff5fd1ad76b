//! Property: over random interleavings of offline edits and partial syncs between four devices,
//! and random merge orders at the end, every check-in and acknowledgement anyone made survives,
//! and all replicas converge to the same document and the same materialised shift.

use crate::common;
use common::*;
use kith_domain::doc::{self, shift};
use kith_domain::*;
use proptest::prelude::*;

/// Devices: 0 alice's laptop, 1 alice's phone (the worker), 2 lead Sam, 3 lead Kim.
const NAMES: [&str; 4] = ["alice-laptop", "alice-phone", "lead-sam", "lead-kim"];

#[derive(Clone, Debug)]
enum Op {
    CheckIn { device: usize, status: u8 },
    Ack { lead: usize, pick: usize },
    Extend { device: usize, minutes: i64 },
    SetPurpose { lead: usize, n: u8 },
    End { device: usize },
    Sync { from: usize, to: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..2usize, 0..3u8).prop_map(|(device, status)| Op::CheckIn { device, status }),
        3 => (2..4usize, any::<usize>()).prop_map(|(lead, pick)| Op::Ack { lead, pick }),
        1 => (0..2usize, 1..240i64).prop_map(|(device, minutes)| Op::Extend { device, minutes }),
        1 => (2..4usize, any::<u8>()).prop_map(|(lead, n)| Op::SetPurpose { lead, n }),
        1 => (0..2usize).prop_map(|device| Op::End { device }),
        4 => (0..4usize, 0..4usize).prop_map(|(from, to)| Op::Sync { from, to }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn every_checkin_and_ack_survives_and_replicas_converge(
        ops in prop::collection::vec(op(), 1..60),
        orders in prop::collection::vec(Just([0usize, 1, 2, 3]).prop_shuffle(), 4),
    ) {
        let (laptop, _) = worker_with_shift(NAMES[0], TeamId::new());
        let worker = laptop.member;
        let mut peers = vec![laptop];
        for (i, name) in NAMES.iter().enumerate().skip(1) {
            let member = if i < 2 { worker } else { MemberId::new() };
            let mut p = Peer::new(name, member);
            p.merge_from(&peers[0]);
            peers.push(p);
        }

        let mut made_checkins = Vec::new();
        let mut made_acks = Vec::new();
        let mut clock = 0i64;
        for op in &ops {
            clock += 1;
            match *op {
                Op::CheckIn { device, status } => {
                    let status = [CheckInStatus::Ok, CheckInStatus::Support, CheckInStatus::Emergency][status as usize];
                    match peers[device].checkin(status, at_min(clock)) {
                        Ok(c) => made_checkins.push(c),
                        Err(e) => prop_assert_eq!(e, DomainError::ShiftEnded),
                    }
                }
                Op::Ack { lead, pick } => {
                    let seen = peers[lead].shift().checkins;
                    if !seen.is_empty() {
                        let target = seen[pick % seen.len()].id;
                        made_acks.push(peers[lead].ack(target, at_min(clock), "seen").expect("ack a seen check-in"));
                    }
                }
                Op::Extend { device, minutes } => {
                    let ext = Extension {
                        id: ExtensionId::new(),
                        new_end: at_min(480 + minutes),
                        reason: "more to do".into(),
                        at: at_min(clock),
                    };
                    let r = peers[device].edit(|tx| shift::extend(tx, &ext));
                    prop_assert!(r.is_ok() || r == Err(DomainError::ShiftEnded));
                }
                Op::SetPurpose { lead, n } => {
                    peers[lead].edit(|tx| shift::set_purpose(tx, &format!("purpose {n}"))).expect("purpose");
                }
                Op::End { device } => {
                    let r = peers[device].edit(|tx| shift::end(tx, &ShiftEnd { at: at_min(clock), note: None }));
                    prop_assert!(r.is_ok() || r == Err(DomainError::ShiftEnded));
                }
                Op::Sync { from, to } if from != to => {
                    let (src, dst) = if from < to {
                        let (a, b) = peers.split_at_mut(to);
                        (&a[from], &mut b[0])
                    } else {
                        let (a, b) = peers.split_at_mut(from);
                        (&b[0], &mut a[to])
                    };
                    dst.merge_from(src);
                }
                Op::Sync { .. } => {}
            }
        }

        // Each replica merges the final state of every device in its own random order.
        let finals: Vec<automerge::Automerge> = peers.iter().map(|p| p.doc.clone()).collect();
        let mut replicas = Vec::new();
        for (r, order) in orders.iter().enumerate() {
            let mut rep = Peer::new(["r0", "r1", "r2", "r3"][r], worker);
            for &i in order {
                let mut other = finals[i].clone();
                rep.doc.merge(&mut other).expect("merge");
            }
            replicas.push(rep);
        }

        let expected = replicas[0].shift();
        for rep in &replicas {
            prop_assert_eq!(doc::validate(&rep.doc), Ok(doc::DocKind::Shift));
            prop_assert_eq!(rep.doc.get_heads(), replicas[0].doc.get_heads());
            let s = rep.shift();
            prop_assert_eq!(&s, &expected);
            for c in &made_checkins {
                prop_assert_eq!(s.checkin(c.id), Some(c));
            }
            prop_assert_eq!(s.checkins.len(), made_checkins.len());
            for a in &made_acks {
                prop_assert!(s.acks.contains(a));
            }
            prop_assert_eq!(s.acks.len(), made_acks.len());
        }
    }
}
