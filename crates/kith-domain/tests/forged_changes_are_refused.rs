//! Per-change authorisation: each change is checked against its author's rights, operation by
//! operation, before the server applies it.

use crate::common;
use automerge::transaction::Transactable;
use automerge::{Automerge, ROOT, ReadDoc};
use common::*;
use kith_domain::authz::{Author, AuthzError, authorize_settled};
use kith_domain::change::Decoded;
use kith_domain::doc::{Settled, shift, team};
use kith_domain::*;

/// The verdict on `change`, which is the same whether the document is read for it or its settled
/// facts are given (as the server gives those of its cached documents).
fn authorize(before: &Automerge, change: &Decoded, author: &Author) -> Result<(), AuthzError> {
    let verdict = kith_domain::authz::authorize(before, change, author);
    if let Some(settled) = Settled::read(before) {
        assert_eq!(authorize_settled(before, &settled, change, author), verdict, "the same verdict with settled facts");
    }
    verdict
}

fn author(p: &Peer, team: TeamId, role: Role) -> Author {
    Author { team, member: p.member, device: p.device, role }
}

/// Makes an edit on `p` and returns the document before it and the change it produced.
fn change_of<O>(
    p: &mut Peer,
    f: impl FnOnce(&mut automerge::transaction::Transaction<'_>) -> Result<O, DomainError>,
) -> (Automerge, automerge::Change) {
    let before = p.doc.clone();
    p.edit(f).expect("edit");
    (before, p.doc.get_last_local_change().expect("a change"))
}

fn raw<O>(
    p: &mut Peer,
    f: impl FnOnce(&mut automerge::transaction::Transaction<'_>) -> Result<O, automerge::AutomergeError>,
) -> (Automerge, automerge::Change) {
    let before = p.doc.clone();
    p.doc.transact(f).map_err(|f| f.error).expect("edit");
    (before, p.doc.get_last_local_change().expect("a change"))
}

fn is_forbidden(r: Result<(), AuthzError>) -> bool {
    eprintln!("refused: {r:?}");
    matches!(r, Err(AuthzError::Forbidden(_)))
}

#[test]
fn a_worker_may_create_their_shift_and_check_in_and_a_lead_may_acknowledge() {
    let team_id = TeamId::new();
    let mut alice = Peer::new("alice", MemberId::new());
    let s = new_shift(alice.member, team_id);
    let (empty, create) = change_of(&mut alice, |tx| shift::init(tx, &s));
    assert_eq!(authorize(&empty, &Decoded::new(create.clone()), &author(&alice, team_id, Role::Member)), Ok(()));

    let before = alice.doc.clone();
    let c = alice.checkin(CheckInStatus::Ok, at_min(20)).expect("check in");
    let ch = alice.doc.get_last_local_change().expect("change");
    assert_eq!(authorize(&before, &Decoded::new(ch.clone()), &author(&alice, team_id, Role::Member)), Ok(()));

    let mut lead = Peer::new("lead", MemberId::new());
    lead.merge_from(&alice);
    let ack = Ack { id: AckId::new(), checkin: c.id, by: lead.member, at: at_min(21), reply: Some("thanks".into()) };
    let (before, ch) = change_of(&mut lead, |tx| shift::add_ack(tx, &ack));
    assert_eq!(authorize(&before, &Decoded::new(ch.clone()), &author(&lead, team_id, Role::Lead)), Ok(()));
    let (before, ch) = change_of(&mut lead, |tx| shift::set_purpose(tx, "Also the east estate"));
    assert_eq!(authorize(&before, &Decoded::new(ch.clone()), &author(&lead, team_id, Role::Lead)), Ok(()));
}

#[test]
fn a_member_cannot_forge_an_acknowledgement() {
    let team_id = TeamId::new();
    let (mut alice, _) = worker_with_shift("alice", team_id);
    let c = alice.checkin(CheckInStatus::Support, at_min(5)).expect("check in");
    let mut bob = Peer::new("bob", MemberId::new());
    bob.merge_from(&alice);
    let ack = Ack { id: AckId::new(), checkin: c.id, by: bob.member, at: at_min(6), reply: None };
    let (before, ch) = change_of(&mut bob, |tx| shift::add_ack(tx, &ack));
    assert!(is_forbidden(authorize(&before, &Decoded::new(ch.clone()), &author(&bob, team_id, Role::Member))));
    // Nor may the worker acknowledge their own check-in.
    let own = Ack { id: AckId::new(), checkin: c.id, by: alice.member, at: at_min(6), reply: None };
    let (before, ch) = change_of(&mut alice, |tx| shift::add_ack(tx, &own));
    assert!(is_forbidden(authorize(&before, &Decoded::new(ch.clone()), &author(&alice, team_id, Role::Member))));
}

#[test]
fn nobody_writes_into_another_members_shift_or_checks_in_as_someone_else() {
    let team_id = TeamId::new();
    let (alice, _) = worker_with_shift("alice", team_id);
    let mut bob = Peer::new("bob", MemberId::new());
    bob.merge_from(&alice);
    let before = bob.doc.clone();
    bob.checkin(CheckInStatus::Ok, at_min(3)).expect("local edit works; the server refuses it");
    let ch = bob.doc.get_last_local_change().expect("change");
    assert!(is_forbidden(authorize(&before, &Decoded::new(ch.clone()), &author(&bob, team_id, Role::Member))));
    // A lead may not check in on a worker's behalf either.
    assert!(is_forbidden(authorize(&before, &Decoded::new(ch.clone()), &author(&bob, team_id, Role::Lead))));

    // The worker's own device writing a check-in that claims another device or person.
    let mut alice = alice;
    let forged = CheckIn::new(CheckInStatus::Ok, at_min(4), MemberId::new(), alice.device);
    let (before, ch) = change_of(&mut alice, |tx| shift::add_checkin(tx, &forged));
    assert!(is_forbidden(authorize(&before, &Decoded::new(ch.clone()), &author(&alice, team_id, Role::Member))));
}

#[test]
fn a_checkin_is_never_edited_or_deleted_once_written_even_by_its_author() {
    let team_id = TeamId::new();
    let (mut alice, _) = worker_with_shift("alice", team_id);
    let c = alice.checkin(CheckInStatus::Emergency, at_min(5)).expect("check in");
    let key = c.id.to_string();
    let k2 = key.clone();
    let (before, ch) = raw(&mut alice, move |tx| {
        let checkins = tx.get(ROOT, "checkins")?.expect("checkins").1;
        let entry = tx.get(&checkins, k2.as_str())?.expect("entry").1;
        tx.put(&entry, "status", "ok")
    });
    assert!(is_forbidden(authorize(&before, &Decoded::new(ch.clone()), &author(&alice, team_id, Role::Member))));
    let (before, ch) = raw(&mut alice, move |tx| {
        let checkins = tx.get(ROOT, "checkins")?.expect("checkins").1;
        tx.delete(&checkins, key.as_str())
    });
    assert!(is_forbidden(authorize(&before, &Decoded::new(ch.clone()), &author(&alice, team_id, Role::Member))));
    let (before, ch) = raw(&mut alice, |tx| tx.put(ROOT, "worker_id", MemberId::new().to_string()));
    assert!(is_forbidden(authorize(&before, &Decoded::new(ch.clone()), &author(&alice, team_id, Role::Lead))));
}

#[test]
fn shifts_are_created_only_by_their_worker_in_their_own_team() {
    let team_id = TeamId::new();
    let mut mallory = Peer::new("mallory", MemberId::new());
    let victim = MemberId::new();
    let s = new_shift(victim, team_id);
    let (empty, ch) = change_of(&mut mallory, |tx| shift::init(tx, &s));
    assert!(is_forbidden(authorize(&empty, &Decoded::new(ch.clone()), &author(&mallory, team_id, Role::Lead))));

    let mut other_team = Peer::new("eve", MemberId::new());
    let s = new_shift(other_team.member, TeamId::new());
    let (empty, ch) = change_of(&mut other_team, |tx| shift::init(tx, &s));
    assert!(is_forbidden(authorize(&empty, &Decoded::new(ch.clone()), &author(&other_team, team_id, Role::Member))));

    // And nobody writes into another team's existing shift.
    let (alice, _) = worker_with_shift("alice", TeamId::new());
    let mut lead = Peer::new("lead-elsewhere", MemberId::new());
    lead.merge_from(&alice);
    let (before, ch) = change_of(&mut lead, |tx| shift::set_purpose(tx, "mine now"));
    assert!(is_forbidden(authorize(&before, &Decoded::new(ch.clone()), &author(&lead, team_id, Role::Lead))));
}

#[test]
fn team_document_is_edited_by_leads_and_members_touch_only_their_own_entry() {
    let sam = Member { id: MemberId::new(), name: "Sam".into(), role: Role::Lead, buddies: vec![], phone: None };
    let alice_m =
        Member { id: MemberId::new(), name: "Alice".into(), role: Role::Member, buddies: vec![], phone: None };
    let t = new_team(vec![sam.clone(), alice_m.clone()]);

    // Devices never create team documents: the server does.
    let mut creator = Peer::new("creator", sam.id);
    let (empty, ch) = change_of(&mut creator, |tx| team::init(tx, &t));
    assert!(is_forbidden(authorize(&empty, &Decoded::new(ch.clone()), &author(&creator, t.id, Role::Lead))));

    let mut lead = Peer::new("sam", sam.id);
    lead.merge_from(&creator);
    let mut p = t.policy.clone();
    p.grace = Secs::minutes(30);
    let (before, ch) = change_of(&mut lead, |tx| team::set_policy(tx, &p));
    assert_eq!(authorize(&before, &Decoded::new(ch.clone()), &author(&lead, t.id, Role::Lead)), Ok(()));

    let mut alice = Peer::new("alice", alice_m.id);
    alice.merge_from(&lead);
    let renamed = Member { name: "Alice B".into(), buddies: vec![sam.id], ..alice_m.clone() };
    let (before, ch) = change_of(&mut alice, |tx| team::upsert_member(tx, &renamed));
    assert_eq!(authorize(&before, &Decoded::new(ch.clone()), &author(&alice, t.id, Role::Member)), Ok(()));

    // Their own phone number, but nobody else's.
    let (before, ch) = change_of(&mut alice, |tx| team::set_phone(tx, alice_m.id, Some("+44 7700 900123")));
    assert_eq!(authorize(&before, &Decoded::new(ch.clone()), &author(&alice, t.id, Role::Member)), Ok(()));
    let (before, ch) = change_of(&mut alice, |tx| team::set_phone(tx, alice_m.id, None));
    assert_eq!(authorize(&before, &Decoded::new(ch.clone()), &author(&alice, t.id, Role::Member)), Ok(()));
    let (before, ch) = change_of(&mut alice, |tx| team::set_phone(tx, sam.id, Some("112")));
    assert!(is_forbidden(authorize(&before, &Decoded::new(ch.clone()), &author(&alice, t.id, Role::Member))));
    let (before, ch) = change_of(&mut lead, |tx| team::set_phone(tx, alice_m.id, Some("112")));
    assert_eq!(
        authorize(&before, &Decoded::new(ch.clone()), &author(&lead, t.id, Role::Lead)),
        Ok(()),
        "leads edit the roster"
    );

    let promoted = Member { role: Role::Lead, ..renamed };
    let (before, ch) = change_of(&mut alice, |tx| team::upsert_member(tx, &promoted));
    assert!(is_forbidden(authorize(&before, &Decoded::new(ch.clone()), &author(&alice, t.id, Role::Member))));
    let (before, ch) = change_of(&mut alice, |tx| team::set_policy(tx, &Policy::default()));
    assert!(is_forbidden(authorize(&before, &Decoded::new(ch.clone()), &author(&alice, t.id, Role::Member))));
}

#[test]
fn a_change_rewriting_what_never_changes_is_refused_and_the_facts_known_before_are_dropped() {
    let team_id = TeamId::new();
    let (mut alice, _) = worker_with_shift("alice", team_id);
    alice.checkin(CheckInStatus::Ok, at_min(5)).expect("check in");
    let settled = Settled::read(&alice.doc).expect("a shift's settled facts");
    let mut bob = Peer::new("bob", MemberId::new());
    bob.merge_from(&alice);

    // Rewriting the shift's worker or team is refused, given the facts known before, to its
    // worker, to another member and to a lead alike.
    for key in ["worker_id", "team_id"] {
        let value = if key == "worker_id" { bob.member.to_string() } else { TeamId::new().to_string() };
        for (worker, role) in [(true, Role::Member), (false, Role::Member), (false, Role::Lead)] {
            let p = if worker { &mut alice } else { &mut bob };
            let v = value.clone();
            let (before, ch) = raw(p, move |tx| tx.put(ROOT, key, v));
            let ch = Decoded::new(ch);
            let r = authorize_settled(&before, &settled, &ch, &author(p, team_id, role));
            assert!(is_forbidden(r), "{key} by {role:?}");
            // It writes at the root: whoever keeps the facts drops them and reads them again.
            assert!(!Settled::kept_by(&ch), "{key}");
            p.doc = before;
        }
    }

    // Had such a change been applied anyway (bypassing the checks), the facts from before would be
    // wrong: they would let Alice check in on what is now Bob's shift. Read again, they do not.
    let (_, ch) = raw(&mut alice, |tx| tx.put(ROOT, "worker_id", bob.member.to_string()));
    assert!(!Settled::kept_by(&Decoded::new(ch)));
    let after = Settled::read(&alice.doc).expect("still a shift");
    assert_ne!(after, settled);
    let before = alice.doc.clone();
    alice.checkin(CheckInStatus::Ok, at_min(6)).expect("local edit");
    let ch = Decoded::new(alice.doc.get_last_local_change().expect("change"));
    assert!(Settled::kept_by(&ch), "a check-in writes nothing at the root");
    let me = author(&alice, team_id, Role::Member);
    assert_eq!(authorize_settled(&before, &settled, &ch, &me), Ok(()), "the stale facts would allow it");
    assert!(is_forbidden(authorize_settled(&before, &after, &ch, &me)));
    assert!(is_forbidden(authorize(&before, &ch, &me)));
}

/// Readers take an id in any spelling a UUID parses from, so an upper-case key would be a second
/// entry that reads as one already there (two check-ins with one id; a member listed twice).
/// Each id a change writes, as a map key or as a value, is refused unless written as Kith writes
/// ids; the same change with the id written so is allowed, so the spelling alone decides.
#[test]
fn an_id_written_in_any_spelling_but_kiths_is_refused_wherever_a_change_writes_one() {
    use automerge::{ObjType, ScalarValue};
    type Fields = Vec<(&'static str, ScalarValue)>;
    /// Writes `fields` as a new entry `key` of the map at `path` (from the root).
    fn entry(p: &mut Peer, path: &[&str], key: String, fields: Fields) -> (Automerge, automerge::Change) {
        let path: Vec<String> = path.iter().map(|s| s.to_string()).collect();
        raw(p, move |tx| {
            let mut obj = ROOT;
            for name in &path {
                obj = tx.get(&obj, name.as_str())?.expect("the map is there").1;
            }
            if fields.is_empty() {
                return tx.put(&obj, key.as_str(), true);
            }
            let o = tx.put_object(&obj, key.as_str(), ObjType::Map)?;
            for (k, v) in fields {
                tx.put(&o, k, v)?;
            }
            Ok(())
        })
    }
    fn spellings(id: String) -> [(String, bool); 3] {
        [(id.to_uppercase(), false), (format!("{{{id}}}"), false), (id, true)]
    }
    fn judge(case: &str, spelled: &str, allowed: bool, r: Result<(), AuthzError>) {
        eprintln!("{case} {spelled}: {r:?}");
        if allowed {
            assert_eq!(r, Ok(()), "{case}: the id as Kith writes it is allowed");
            return;
        }
        match r {
            Err(AuthzError::Invalid(m)) => assert!(m.contains("lower case with hyphens"), "{case}: {m}"),
            Err(AuthzError::Forbidden(m)) => assert!(m.contains("lower-case UUID"), "{case}: {m}"),
            r => panic!("{case} keyed or filled with {spelled:?}: expected a refusal, got {r:?}"),
        }
    }

    let team_id = TeamId::new();
    let (alice, _) = worker_with_shift("alice", team_id);
    let me = author(&alice, team_id, Role::Member);
    let str = |s: String| ScalarValue::Str(s.into());
    let checkin_fields = |p: &Peer| -> Fields {
        vec![
            ("status", str("ok".into())),
            ("device_time", ScalarValue::Int(at_min(5).millis())),
            ("by", str(p.member.to_string())),
            ("device", str(p.device.to_string())),
        ]
    };

    // The worker's own writes into their shift: a check-in, an extension, a buddy.
    for (key, ok) in spellings(CheckInId::new().to_string()) {
        let mut p = alice.clone();
        let fields = checkin_fields(&p);
        let (before, ch) = entry(&mut p, &["checkins"], key.clone(), fields);
        judge("a check-in", &key, ok, authorize(&before, &Decoded::new(ch), &me));
    }
    for (key, ok) in spellings(ExtensionId::new().to_string()) {
        let mut p = alice.clone();
        let fields = vec![
            ("new_end", ScalarValue::Int(at_min(9 * 60).millis())),
            ("at", ScalarValue::Int(at_min(10).millis())),
            ("reason", str("the last meter is far".into())),
        ];
        let (before, ch) = entry(&mut p, &["extensions"], key.clone(), fields);
        judge("an extension", &key, ok, authorize(&before, &Decoded::new(ch), &me));
    }
    for (key, ok) in spellings(MemberId::new().to_string()) {
        let mut p = alice.clone();
        let (before, ch) = entry(&mut p, &["buddies"], key.clone(), vec![]);
        judge("a buddy", &key, ok, authorize(&before, &Decoded::new(ch), &me));
    }
    // A new shift whose first change already holds a check-in.
    for (key, ok) in spellings(CheckInId::new().to_string()) {
        let mut p = Peer::new("alice", alice.member);
        let s = new_shift(p.member, team_id);
        let fields = checkin_fields(&p);
        let (empty, ch) = raw(&mut p, |tx| {
            shift::init(tx, &s).expect("init");
            let checkins = tx.get(ROOT, "checkins")?.expect("checkins").1;
            let o = tx.put_object(&checkins, key.as_str(), ObjType::Map)?;
            for (k, v) in fields {
                tx.put(&o, k, v)?;
            }
            Ok(())
        });
        judge(
            "a new shift's check-in",
            &key,
            ok,
            authorize(&empty, &Decoded::new(ch), &author(&p, team_id, Role::Member)),
        );
    }

    // A lead's acknowledgement: its own id, and the check-in it names.
    let mut worker = alice.clone();
    let c = worker.checkin(CheckInStatus::Support, at_min(20)).expect("check in");
    let mut lead = Peer::new("lead", MemberId::new());
    lead.merge_from(&worker);
    let as_lead = author(&lead, team_id, Role::Lead);
    let ack_fields = |checkin: String| -> Fields {
        vec![
            ("checkin", str(checkin)),
            ("by", str(lead.member.to_string())),
            ("at", ScalarValue::Int(at_min(21).millis())),
        ]
    };
    for (key, ok) in spellings(AckId::new().to_string()) {
        let mut p = lead.clone();
        let (before, ch) = entry(&mut p, &["acks"], key.clone(), ack_fields(c.id.to_string()));
        judge("an acknowledgement", &key, ok, authorize(&before, &Decoded::new(ch), &as_lead));
    }
    for (named, ok) in spellings(c.id.to_string()) {
        let mut p = lead.clone();
        let (before, ch) = entry(&mut p, &["acks"], AckId::new().to_string(), ack_fields(named.clone()));
        judge("the check-in an acknowledgement names", &named, ok, authorize(&before, &Decoded::new(ch), &as_lead));
    }

    // The team document: a lead adding a member, a member choosing a buddy.
    let sam = Member { id: MemberId::new(), name: "Sam".into(), role: Role::Lead, buddies: vec![], phone: None };
    let bea = Member { id: MemberId::new(), name: "Bea".into(), role: Role::Member, buddies: vec![], phone: None };
    let t = new_team(vec![sam.clone(), bea.clone()]);
    let team_lead = team_peer("sam", &t);
    for (key, ok) in spellings(MemberId::new().to_string()) {
        let mut p = team_lead.clone();
        let fields = vec![("name", str("Cat".into())), ("role", str("member".into()))];
        let (before, ch) = entry(&mut p, &["members"], key.clone(), fields);
        judge("a new member", &key, ok, authorize(&before, &Decoded::new(ch), &author(&p, t.id, Role::Lead)));
    }
    let mut member = Peer::new("bea", bea.id);
    member.merge_from(&team_lead);
    let bea_key = bea.id.to_string();
    for (key, ok) in spellings(sam.id.to_string()) {
        let mut p = member.clone();
        let (before, ch) = entry(&mut p, &["members", bea_key.as_str(), "buddies"], key.clone(), vec![]);
        judge("a member's buddy", &key, ok, authorize(&before, &Decoded::new(ch), &author(&p, t.id, Role::Member)));
    }
}

/// The device refuses to make a member their own buddy (`team::set_buddies`, `upsert_member`, a
/// shift's buddies): the "buddies" step of an alarm would then reach the person it is about. A
/// change that does it anyway is refused, in a shift (new or started) and in the team's roster,
/// by the member or a lead; naming a teammate is allowed.
#[test]
fn nobody_is_made_their_own_buddy_by_a_change_the_device_would_not_write() {
    let team_id = TeamId::new();
    let (alice, _) = worker_with_shift("alice", team_id);
    let me = author(&alice, team_id, Role::Member);
    let buddy = |p: &mut Peer, path: Vec<String>, who: MemberId| {
        raw(p, move |tx| {
            let mut obj = ROOT;
            for name in &path {
                obj = tx.get(&obj, name.as_str())?.expect("the map is there").1;
            }
            tx.put(&obj, who.to_string(), true)
        })
    };
    let (before, ch) = buddy(&mut alice.clone(), vec!["buddies".into()], alice.member);
    assert!(is_forbidden(authorize(&before, &Decoded::new(ch), &me)), "a started shift");
    let (before, ch) = buddy(&mut alice.clone(), vec!["buddies".into()], MemberId::new());
    assert_eq!(authorize(&before, &Decoded::new(ch), &me), Ok(()), "a teammate");

    let mut bob = Peer::new("bob", MemberId::new());
    let mut s = new_shift(bob.member, team_id);
    s.buddies = vec![bob.member];
    let (empty, ch) = raw(&mut bob, |tx| {
        shift::init(tx, &Shift { buddies: vec![], ..s.clone() }).expect("init");
        let buddies = tx.get(ROOT, "buddies")?.expect("buddies").1;
        tx.put(&buddies, s.worker.to_string(), true)
    });
    assert!(is_forbidden(authorize(&empty, &Decoded::new(ch), &author(&bob, team_id, Role::Member))), "a new shift");

    let sam = Member { id: MemberId::new(), name: "Sam".into(), role: Role::Lead, buddies: vec![], phone: None };
    let bea = Member { id: MemberId::new(), name: "Bea".into(), role: Role::Member, buddies: vec![], phone: None };
    let t = new_team(vec![sam.clone(), bea.clone()]);
    let lead = team_peer("sam", &t);
    let mut member = Peer::new("bea", bea.id);
    member.merge_from(&lead);
    let path = vec!["members".to_string(), bea.id.to_string(), "buddies".to_string()];
    let (before, ch) = buddy(&mut member.clone(), path.clone(), bea.id);
    assert!(is_forbidden(authorize(&before, &Decoded::new(ch), &author(&member, t.id, Role::Member))), "the member");
    let (before, ch) = buddy(&mut lead.clone(), path.clone(), bea.id);
    assert!(is_forbidden(authorize(&before, &Decoded::new(ch), &author(&lead, t.id, Role::Lead))), "a lead");
    let (before, ch) = buddy(&mut member.clone(), path, sam.id);
    assert_eq!(authorize(&before, &Decoded::new(ch), &author(&member, t.id, Role::Member)), Ok(()), "a teammate");
}
