//! The server enforces every limit a device's write functions enforce, and knows every field a
//! change may write: changes forged with raw Automerge operations (as a client nobody on the
//! project wrote would make them) that carry a 3 MB note, purpose or roster name, a field nobody
//! knows, or a name with control or text-direction characters are refused for their document with
//! `Invalid` and a message naming the field, and nothing of them is stored. A document that would
//! outgrow its kind's size limit is refused with `TooLarge`. Joining with such a name is refused too.

use crate::common;
use automerge::transaction::{Transactable, Transaction};
use automerge::{ObjType, ROOT, ReadDoc};
use common::*;
use kith_domain::{CheckInId, CheckInStatus, DeviceId, MemberId, limits};
use kith_proto::{Outcome, RejectCode};
use kith_server::testing::TestServer;
use serde_json::Value;
use uuid::Uuid;

/// Three megabytes of text: far over every limit, and (deflated by Automerge) a small request.
fn three_mb() -> String {
    "x".repeat(3 * 1024 * 1024)
}

/// Edits a document on the device with raw Automerge operations, bypassing the domain's checks.
fn forge(dev: &mut Dev, id: Uuid, edit: impl FnOnce(&mut Transaction<'_>)) {
    let doc = dev.docs.get_mut(&id).expect("the device holds the document");
    doc.transact::<_, _, automerge::AutomergeError>(|tx| {
        edit(tx);
        Ok(())
    })
    .unwrap();
}

/// Who writes a forged entry.
#[derive(Clone, Copy)]
struct Me {
    member: MemberId,
    device: DeviceId,
}

/// A raw check-in entry: the fields a device writes, then `extra`.
fn raw_checkin(me: Me, tx: &mut Transaction<'_>, extra: impl FnOnce(&mut Transaction<'_>, &automerge::ObjId)) {
    let checkins = tx.get(ROOT, "checkins").unwrap().unwrap().1;
    let o = tx.put_object(&checkins, CheckInId::new().to_string(), ObjType::Map).unwrap();
    tx.put(&o, "status", "ok").unwrap();
    tx.put(&o, "device_time", t0().millis() + 60_000).unwrap();
    tx.put(&o, "by", me.member.to_string()).unwrap();
    tx.put(&o, "device", me.device.to_string()).unwrap();
    extra(tx, &o);
}

/// Pushes `id` and expects it refused with `code`, the stored document and the change log
/// unchanged; returns the message. The device's copy goes back to what the server holds.
async fn refused(server: &TestServer, dev: &mut Dev, id: Uuid, code: RejectCode) -> String {
    let stored = server_doc(server, id).await.map(|d| d.get_heads());
    let seq = max_seq(server).await;
    let resp = dev.sync_docs(&[id]).await;
    let reply = resp.docs.iter().find(|d| d.id == id).unwrap();
    let message = match &reply.outcome {
        Outcome::Rejected { code: c, message } if *c == code => message.clone(),
        o => panic!("expected {code:?}, got {o:?}"),
    };
    assert_eq!(server_doc(server, id).await.map(|d| d.get_heads()), stored, "the stored document is unchanged");
    assert_eq!(max_seq(server).await, seq, "nothing was stored");
    // Back to the server's state, for the next forgery.
    match server_doc(server, id).await {
        Some(doc) => {
            dev.docs.insert(id, doc.with_actor(dev.actor.clone()));
        }
        None => {
            dev.docs.remove(&id);
        }
    }
    message
}

async fn accepted(dev: &mut Dev, id: Uuid) {
    let resp = dev.sync_docs(&[id]).await;
    assert_eq!(resp.docs.iter().find(|d| d.id == id).unwrap().outcome, Outcome::Accepted);
}

#[tokio::test]
async fn forged_shift_fields_over_the_limits_or_unknown_are_refused() {
    let server = TestServer::start().await;
    let (_lead, mut alice) = team_of_two(&server).await;
    let shift = alice.start_shift();
    alice.checkin(shift, CheckInStatus::Ok, 5);
    accepted(&mut alice, shift.uuid()).await;
    let id = shift.uuid();

    let me = Me { member: alice.member, device: alice.device };
    // A 3 MB check-in note (the device's write function stops at 2,000 characters).
    forge(&mut alice, id, |tx| raw_checkin(me, tx, |tx, o| tx.put(o, "note", three_mb()).unwrap()));
    let m = refused(&server, &mut alice, id, RejectCode::Invalid).await;
    assert!(m.contains("note is too long") && m.contains("at most 2000"), "{m}");

    // A check-in with a field nobody knows.
    forge(&mut alice, id, |tx| raw_checkin(me, tx, |tx, o| tx.put(o, "nickname", "the boss").unwrap()));
    let m = refused(&server, &mut alice, id, RejectCode::Invalid).await;
    assert!(m.contains("nickname") && m.contains("not a field"), "{m}");

    // An escape sequence in a note (it could rewrite a lead's terminal).
    forge(&mut alice, id, |tx| raw_checkin(me, tx, |tx, o| tx.put(o, "note", "ok\u{1b}[2K\u{1b}[1A").unwrap()));
    let m = refused(&server, &mut alice, id, RejectCode::Invalid).await;
    assert!(m.contains("control character"), "{m}");

    // A 3 MB shift purpose.
    forge(&mut alice, id, |tx| tx.put(ROOT, "purpose", three_mb()).unwrap());
    let m = refused(&server, &mut alice, id, RejectCode::Invalid).await;
    assert!(m.contains("purpose is too long"), "{m}");

    // A 3 MB extension reason, and a 3 MB end note.
    forge(&mut alice, id, |tx| {
        let exts = tx.get(ROOT, "extensions").unwrap().unwrap().1;
        let o = tx.put_object(&exts, kith_domain::ExtensionId::new().to_string(), ObjType::Map).unwrap();
        tx.put(&o, "new_end", t0().millis() + 20 * 3_600_000).unwrap();
        tx.put(&o, "reason", three_mb()).unwrap();
        tx.put(&o, "at", t0().millis() + 60_000).unwrap();
    });
    let m = refused(&server, &mut alice, id, RejectCode::Invalid).await;
    assert!(m.contains("reason is too long"), "{m}");
    forge(&mut alice, id, |tx| {
        let o = tx.put_object(ROOT, "ended", ObjType::Map).unwrap();
        tx.put(&o, "at", t0().millis() + 60_000).unwrap();
        tx.put(&o, "note", three_mb()).unwrap();
    });
    let m = refused(&server, &mut alice, id, RejectCode::Invalid).await;
    assert!(m.contains("note is too long"), "{m}");

    // Something nobody reads: a text object at the root (3 MB would be three million operations;
    // 10 KB tells the same), or bytes in a check-in.
    forge(&mut alice, id, |tx| {
        let t = tx.put_object(ROOT, "junk", ObjType::Text).unwrap();
        tx.splice_text(&t, 0, 0, &"x".repeat(10_000)).unwrap();
    });
    let m = refused(&server, &mut alice, id, RejectCode::Forbidden).await;
    assert!(m.contains("'junk'"), "{m}");
    forge(&mut alice, id, |tx| raw_checkin(me, tx, |tx, o| tx.put(o, "note", vec![0u8; 100_000]).unwrap()));
    let m = refused(&server, &mut alice, id, RejectCode::Invalid).await;
    assert!(m.contains("should be text"), "{m}");

    // A new shift document with a field nobody knows, in the change that creates it, is not created.
    let other = kith_domain::Shift::begin(
        alice.team,
        alice.member,
        "rounds",
        t0(),
        t0() + kith_domain::Secs::hours(8),
        kith_domain::Secs::minutes(30),
    );
    let mut doc = automerge::Automerge::new().with_actor(alice.actor.clone());
    doc.transact::<_, _, kith_domain::DomainError>(|tx| {
        kith_domain::doc::shift::init(tx, &other)?;
        tx.put(ROOT, "junk", three_mb())?;
        Ok(())
    })
    .unwrap();
    alice.docs.insert(other.id.uuid(), doc);
    alice.kinds.insert(other.id.uuid(), kith_proto::Kind::Shift);
    let m = refused(&server, &mut alice, other.id.uuid(), RejectCode::Invalid).await;
    assert!(m.contains("'junk' of a shift document is not a field"), "{m}");
    assert!(server_doc(&server, other.id.uuid()).await.is_none());

    // What a device writes within the limits still syncs, notes of the full 2,000 characters included.
    let note = "n".repeat(limits::CHECKIN_NOTE.max_chars);
    let c = kith_domain::CheckIn {
        note: Some(kith_domain::Note { text: note, visibility: kith_domain::Visibility::Team }),
        ..kith_domain::CheckIn::new(CheckInStatus::Ok, t0() + kith_domain::Secs::minutes(30), me.member, me.device)
    };
    alice
        .docs
        .get_mut(&id)
        .unwrap()
        .transact(|tx| kith_domain::doc::shift::add_checkin(tx, &c))
        .map_err(|f| f.error)
        .unwrap();
    accepted(&mut alice, id).await;
}

#[tokio::test]
async fn forged_roster_and_team_fields_are_refused() {
    let server = TestServer::start().await;
    let (mut lead, mut alice) = team_of_two(&server).await;
    alice.sync().await;
    lead.sync().await;
    let team = alice.team.uuid();
    let me = alice.member.to_string();
    let entry = |dev: &Dev| {
        let doc = dev.doc(team);
        let members = doc.get(ROOT, "members").unwrap().unwrap().1;
        doc.get(&members, me.as_str()).unwrap().unwrap().1
    };

    // A member's own roster name: 3 MB, or with a text-direction override or an escape.
    for (name, expected) in [
        (three_mb(), "member name is too long"),
        ("Alice\u{202E}dael".to_string(), "text-direction control"),
        ("Alice\n\u{1b}[31mSam  EMERGENCY".to_string(), "control character"),
    ] {
        let o = entry(&alice);
        forge(&mut alice, team, |tx| tx.put(&o, "name", name.as_str()).unwrap());
        let m = refused(&server, &mut alice, team, RejectCode::Invalid).await;
        assert!(m.contains(expected), "{m}");
    }
    // A field of their own entry other than the name and buddies: not theirs to write.
    let o = entry(&alice);
    forge(&mut alice, team, |tx| tx.put(&o, "title", "Director").unwrap());
    refused(&server, &mut alice, team, RejectCode::Forbidden).await;
    // A plain rename still works.
    let o = entry(&alice);
    forge(&mut alice, team, |tx| tx.put(&o, "name", "Alice B.").unwrap());
    accepted(&mut alice, team).await;

    // A lead may edit the team, within the same limits.
    forge(&mut lead, team, |tx| tx.put(ROOT, "name", "North\u{1b}]0;pwned\u{7}").unwrap());
    let m = refused(&server, &mut lead, team, RejectCode::Invalid).await;
    assert!(m.contains("team name"), "{m}");
    forge(&mut lead, team, |tx| tx.put(ROOT, "purpose", three_mb()).unwrap());
    refused(&server, &mut lead, team, RejectCode::Invalid).await;
    forge(&mut lead, team, |tx| tx.put(ROOT, "motto", "hello").unwrap());
    let m = refused(&server, &mut lead, team, RejectCode::Invalid).await;
    assert!(m.contains("motto"), "{m}");
    forge(&mut lead, team, |tx| tx.put(ROOT, "purpose", "Keeping the north estate safe").unwrap());
    accepted(&mut lead, team).await;

    // The team's phone is what a worker in an emergency dials from the offline notice (a `tel:`
    // link): a number, as a member's own phone is, not any line of text.
    for (phone, expected) in [
        ("ring Bob at home", "not a phone number"),
        ("+44 20 7946 0000 0000 0000 0000 0000", "phone number is too long"),
    ] {
        forge(&mut lead, team, |tx| tx.put(ROOT, "phone", phone).unwrap());
        let m = refused(&server, &mut lead, team, RejectCode::Invalid).await;
        assert!(m.contains(expected), "{phone}: {m}");
    }
    forge(&mut lead, team, |tx| tx.put(ROOT, "phone", "+44 20 7946 0000").unwrap());
    accepted(&mut lead, team).await;
}

#[tokio::test]
async fn a_team_phone_nobody_could_dial_is_refused_when_the_team_is_made() {
    let server = TestServer::start().await;
    let storage = server.storage();
    let err = kith_server::admin::create_team(storage.as_ref(), "North estate", Some("ring Bob at home"), 0)
        .await
        .expect_err("a phone number nobody could dial");
    assert!(err.to_string().contains("not a phone number"), "{err}");
    let made = kith_server::admin::create_team(storage.as_ref(), "North estate", Some("+44 20 7946 0000"), 0).await;
    assert!(made.is_ok(), "{made:?}");
}

#[tokio::test]
async fn a_document_at_its_size_limit_takes_no_more_changes() {
    let server = TestServer::start_with(|c| c.limits.max_shift_doc_bytes = 16 * 1024).await;
    let (_lead, mut alice) = team_of_two(&server).await;
    let shift = alice.start_shift();
    accepted(&mut alice, shift.uuid()).await;
    // Notes that do not compress, of the largest size a device writes.
    let mut seed = 7u64;
    let mut noise = || {
        (0..limits::CHECKIN_NOTE.max_chars)
            .map(|_| {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                char::from(b'a' + ((seed >> 33) % 26) as u8)
            })
            .collect::<String>()
    };
    let mut accepted_count = 0;
    loop {
        let c = kith_domain::CheckIn {
            note: Some(kith_domain::Note { text: noise(), visibility: kith_domain::Visibility::Team }),
            ..kith_domain::CheckIn::new(CheckInStatus::Ok, t0(), alice.member, alice.device)
        };
        alice
            .docs
            .get_mut(&shift.uuid())
            .unwrap()
            .transact(|tx| kith_domain::doc::shift::add_checkin(tx, &c))
            .map_err(|f| f.error)
            .unwrap();
        let seq = max_seq(&server).await;
        let resp = alice.sync_docs(&[shift.uuid()]).await;
        match &resp.docs[0].outcome {
            Outcome::Accepted => accepted_count += 1,
            Outcome::Rejected { code: RejectCode::TooLarge, message } => {
                assert!(message.contains("start a new one"), "{message}");
                assert_eq!(max_seq(&server).await, seq, "nothing was stored");
                break;
            }
            o => panic!("unexpected {o:?}"),
        }
        assert!(accepted_count < 20, "the limit was never reached");
    }
    assert!(accepted_count >= 3, "a few check-ins fit: {accepted_count}");
    // A new shift starts afresh.
    let next = alice.start_shift();
    accepted(&mut alice, next.uuid()).await;
}

#[tokio::test]
async fn joining_with_a_name_or_label_that_could_fake_a_row_is_refused() {
    let server = TestServer::start().await;
    let (team, _) = server.create_team("North estate").await;
    for (name, label, code) in [
        ("Eve\u{1b}[2J", "laptop", "bad_name"),
        ("Eve\u{202E}", "laptop", "bad_name"),
        ("Eve", "laptop\r\nSam: all fine", "bad_label"),
        ("Eve", "lap\u{2066}top", "bad_label"),
    ] {
        let invite = server.invite(team, kith_domain::Role::Member).await;
        let mut req = join_request(&invite, name, &automerge::ActorId::random());
        req.device_label = label.to_string();
        let resp = http().post(server.url("/v1/join")).json(&req).send().await.unwrap();
        assert_eq!(resp.status(), 400, "{name:?} {label:?}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["code"], code, "{body}");
        assert!(body["message"].as_str().unwrap().contains("control"), "{body}");
    }
    assert!(server.storage().devices(Some(team)).await.unwrap().is_empty(), "nobody joined");
}
