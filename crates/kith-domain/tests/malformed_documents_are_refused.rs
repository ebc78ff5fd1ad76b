//! `validate` tells well-formed Kith documents from anything else, without panicking.

use crate::common;
use automerge::transaction::Transactable;
use automerge::{Automerge, ObjType, ROOT, ReadDoc};
use common::*;
use kith_domain::doc::{self, DocKind, team};
use kith_domain::*;

#[test]
fn well_formed_shift_and_team_documents_validate() {
    let (alice, _) = worker_with_shift("alice", TeamId::new());
    assert_eq!(doc::validate(&alice.doc), Ok(DocKind::Shift));
    let t = new_team(vec![Member {
        id: MemberId::new(),
        name: "Sam".into(),
        role: Role::Lead,
        buddies: vec![],
        phone: None,
    }]);
    let p = team_peer("sam", &t);
    assert_eq!(doc::validate(&p.doc), Ok(DocKind::Team));
    assert_eq!(team::read(&p.doc).unwrap(), t);
}

#[test]
fn broken_documents_get_a_reason_not_a_panic() {
    type Breaker = Box<dyn Fn(&mut Automerge)>;
    let cases: Vec<(&str, Breaker)> = vec![
        ("empty", Box::new(|_d| {})),
        (
            "unknown schema",
            Box::new(|d| {
                d.transact::<_, _, automerge::AutomergeError>(|tx| tx.put(ROOT, "schema", "other.app").map(|_| ()))
                    .unwrap();
            }),
        ),
        (
            "mood out of range",
            Box::new(|d| {
                let (alice, _) = worker_with_shift("alice", TeamId::new());
                *d = alice.doc.clone();
                let mut p = Peer { name: "x", member: MemberId::new(), device: DeviceId::new(), doc: d.clone() };
                let c = p.checkin(CheckInStatus::Ok, at_min(1)).unwrap();
                p.doc
                    .transact::<_, _, automerge::AutomergeError>(|tx| {
                        let checkins = tx.get(ROOT, "checkins")?.unwrap().1;
                        let entry = tx.get(&checkins, c.id.to_string())?.unwrap().1;
                        tx.put(&entry, "mood", 9)
                    })
                    .unwrap();
                *d = p.doc;
            }),
        ),
        (
            "checkins is a list",
            Box::new(|d| {
                let (alice, _) = worker_with_shift("alice", TeamId::new());
                *d = alice.doc.clone();
                d.transact::<_, _, automerge::AutomergeError>(|tx| {
                    tx.put_object(ROOT, "checkins", ObjType::List).map(|_| ())
                })
                .unwrap();
            }),
        ),
        (
            "newer schema version",
            Box::new(|d| {
                let (alice, _) = worker_with_shift("alice", TeamId::new());
                *d = alice.doc.clone();
                d.transact::<_, _, automerge::AutomergeError>(|tx| tx.put(ROOT, "v", 99).map(|_| ())).unwrap();
            }),
        ),
    ];
    for (name, break_it) in cases {
        let mut d = Automerge::new();
        break_it(&mut d);
        let err = doc::validate(&d).expect_err(name);
        assert!(matches!(err, DomainError::Malformed(_) | DomainError::BadRating { .. }), "{name}: {err}");
        assert!(!err.to_string().is_empty());
    }
}

#[test]
fn bad_values_are_refused_before_anything_is_written() {
    let (mut alice, _) = worker_with_shift("alice", TeamId::new());
    let heads = alice.doc.get_heads();
    assert!(Rating::new(0, "mood").is_err());
    assert!(Location::shared(LocationPrecision::Precise, 91.0, 0.0).is_err());
    let long = CheckIn {
        id: CheckInId::new(),
        status: CheckInStatus::Ok,
        mood: None,
        confidence: None,
        note: Some(Note { text: "x".repeat(MAX_NOTE_CHARS + 1), visibility: Visibility::Team }),
        location: None,
        device_time: at_min(1),
        by: alice.member,
        device: alice.device,
    };
    let err = alice.edit(|tx| doc::shift::add_checkin(tx, &long)).unwrap_err();
    assert!(matches!(err, DomainError::TooLong { what: "note", .. }));
    assert_eq!(alice.doc.get_heads(), heads, "nothing was committed");
}

#[test]
fn coarse_location_never_carries_the_precise_point() {
    let l = Location::shared(LocationPrecision::Coarse, 51.507_351, -0.127_758).unwrap().unwrap();
    assert_eq!((l.lat, l.lon), (51.51, -0.13));
    assert_eq!(Location::shared(LocationPrecision::None, 51.5, -0.1).unwrap(), None);
}
