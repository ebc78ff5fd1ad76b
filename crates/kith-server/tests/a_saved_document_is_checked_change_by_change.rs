//! Protocol 2: a device may push a document the server has never seen as one `save()` instead of
//! its changes. The server takes every change in it through exactly the checks a change sent on
//! its own goes through (actor binding, per-operation authorisation, validation), stores the
//! changes one by one, and refuses what it would refuse anyway. Version 1 requests still work.

use crate::common;
use automerge::Automerge;
use common::*;
use kith_domain::CheckInStatus;
use kith_proto::{DocPush, Outcome, RejectCode};
use kith_server::testing::TestServer;
use serde_bytes::ByteBuf;

/// The push of a whole document as one saved chunk (what `kith_sync::prepare` sends for a
/// document the server has not seen).
fn as_save(dev: &Dev, id: uuid::Uuid) -> DocPush {
    let mut p = dev.push_for(id);
    p.changes = vec![];
    p.save = Some(ByteBuf::from(dev.doc(id).save()));
    p
}

fn outcome(resp: &kith_proto::SyncResponse) -> (Option<RejectCode>, String) {
    match &resp.docs[0].outcome {
        Outcome::Rejected { code, message } => (Some(*code), message.clone()),
        other => (None, format!("{other:?}")),
    }
}

#[tokio::test]
async fn a_new_shift_pushed_as_one_save_is_stored_change_by_change_with_its_receipts() {
    let server = TestServer::start().await;
    let (_lead, mut alice) = team_of_two(&server).await;
    let shift = alice.start_shift();
    let checkins: Vec<_> = (0..3).map(|m| alice.checkin(shift, CheckInStatus::Ok, m)).collect();
    let before = max_seq(&server).await;

    let resp = alice.send(&alice.request(vec![as_save(&alice, shift.uuid())])).await;
    assert_eq!(resp.docs[0].outcome, Outcome::Accepted);
    assert!(resp.docs[0].data.is_empty(), "the device has everything");
    let held = server_doc(&server, shift.uuid()).await.unwrap();
    assert_eq!(held.get_heads(), alice.doc(shift.uuid()).get_heads());
    // Stored as four changes (the shift and three check-ins), each with its own seq.
    assert_eq!(max_seq(&server).await, before + 4);
    let receipts = server.storage().checkin_receipts(shift).await.unwrap();
    let mut got: Vec<_> = receipts.iter().map(|r| r.checkin).collect();
    got.sort();
    let mut want = checkins.clone();
    want.sort();
    assert_eq!(got, want, "every check-in's receipt is stored with it");
}

#[tokio::test]
async fn a_save_is_refused_exactly_as_its_changes_would_be() {
    let server = TestServer::start().await;
    let (mut lead, mut alice) = team_of_two(&server).await;

    // A member forging an acknowledgement inside a new shift.
    let shift = alice.start_shift();
    let c = alice.checkin(shift, CheckInStatus::Ok, 5);
    alice.ack(shift, c, "seen (by myself)");
    let before = max_seq(&server).await;
    let one_by_one = outcome(&alice.send(&alice.request(vec![alice.push_for(shift.uuid())])).await);
    let saved = outcome(&alice.send(&alice.request(vec![as_save(&alice, shift.uuid())])).await);
    assert_eq!(one_by_one.0, Some(RejectCode::Forbidden));
    assert_eq!(saved, one_by_one);

    // Another device's change inside the document: its actor is not this device's.
    let other = alice.start_shift();
    alice.checkin(other, CheckInStatus::Ok, 1);
    let mut theirs = alice.doc(other.uuid()).fork();
    theirs.set_actor(lead.actor.clone());
    lead.docs.insert(other.uuid(), theirs);
    lead.checkin(other, CheckInStatus::Ok, 2);
    let merged = lead.docs.remove(&other.uuid()).unwrap();
    alice.docs.get_mut(&other.uuid()).unwrap().merge(&mut merged.clone()).unwrap();
    let one_by_one = outcome(&alice.send(&alice.request(vec![alice.push_for(other.uuid())])).await);
    let saved = outcome(&alice.send(&alice.request(vec![as_save(&alice, other.uuid())])).await);
    assert_eq!(one_by_one.0, Some(RejectCode::ActorNotYours));
    assert_eq!(saved, one_by_one);

    assert_eq!(max_seq(&server).await, before, "nothing of a refused document is stored");
    assert!(server_doc(&server, shift.uuid()).await.is_none());
    assert!(server_doc(&server, other.uuid()).await.is_none());
}

#[tokio::test]
async fn garbage_and_oversize_saves_are_refused_and_store_nothing() {
    let server = TestServer::start().await;
    let (_lead, mut alice) = team_of_two(&server).await;
    let shift = alice.start_shift();
    let before = max_seq(&server).await;
    let mut garbage = as_save(&alice, shift.uuid());
    garbage.save = Some(ByteBuf::from(b"\x85\x6f\x4a\x83 not a document".to_vec()));
    let resp = alice.send(&alice.request(vec![garbage])).await;
    assert_eq!(outcome(&resp).0, Some(RejectCode::Malformed));
    let mut huge = as_save(&alice, shift.uuid());
    huge.save = Some(ByteBuf::from(vec![0u8; kith_proto::MAX_SAVE_BYTES + 1]));
    let resp = alice.send(&alice.request(vec![huge])).await;
    assert_eq!(outcome(&resp).0, Some(RejectCode::TooLarge));
    assert_eq!(max_seq(&server).await, before);
}

#[tokio::test]
async fn feed_documents_sent_whole_carry_heads_only_for_version_1() {
    let server = TestServer::start().await;
    let (lead, mut alice) = team_of_two(&server).await;
    let shift = alice.start_shift();
    alice.checkin(shift, CheckInStatus::Ok, 1);
    alice.sync().await;
    let held = server_doc(&server, shift.uuid()).await.unwrap().get_heads();

    for (protocol, with_heads) in [(1, true), (2, false)] {
        let mut req = lead.request(vec![]);
        req.protocol = protocol;
        let resp = lead.send(&req).await;
        assert_eq!(resp.protocol, protocol, "answered in the request's version");
        let f = resp.feed.iter().find(|f| f.id == shift.uuid()).expect("alice's shift in the lead's feed");
        assert_eq!(f.data.len(), 1);
        let whole = Automerge::load(&f.data[0]).unwrap();
        assert_eq!(whole.get_heads(), held, "the whole document");
        assert_eq!(!f.heads.is_empty(), with_heads, "protocol {protocol}");
        if with_heads {
            assert_eq!(unhash(&f.heads), held);
        }
        assert!(f.receipt.as_ref().is_some_and(|r| r.len() == 16));
    }
}
