//! The server checks every change against its author: a forged acknowledgement, a check-in in
//! someone else's shift, or another device's actor id is refused for that document with a code
//! and a message, the stored document is unchanged, and the rest of the batch still syncs.

use crate::common;
use common::*;
use kith_domain::CheckInStatus;
use kith_proto::{Outcome, RejectCode};
use kith_server::testing::TestServer;
use uuid::Uuid;

#[tokio::test]
async fn a_member_forging_an_ack_is_refused_while_the_rest_of_the_batch_syncs() {
    let server = TestServer::start().await;
    let (_lead, mut alice) = team_of_two(&server).await;
    let shift = alice.start_shift();
    let c = alice.checkin(shift, CheckInStatus::Support, 10);
    alice.sync().await;
    let stored = server_doc(&server, shift.uuid()).await.unwrap().get_heads();

    alice.ack(shift, c, "all good, says me");
    let other = alice.start_shift();
    alice.checkin(other, CheckInStatus::Ok, 12);
    let resp = alice.sync_docs(&[shift.uuid(), other.uuid()]).await;
    let forged = resp.docs.iter().find(|d| d.id == shift.uuid()).unwrap();
    match &forged.outcome {
        Outcome::Rejected { code: RejectCode::Forbidden, message } => {
            assert!(message.contains("only a lead may acknowledge"), "{message}")
        }
        o => panic!("expected Forbidden, got {o:?}"),
    }
    assert_eq!(unhash(&forged.heads), stored, "the reply tells the server's heads");
    assert_eq!(resp.docs.iter().find(|d| d.id == other.uuid()).unwrap().outcome, Outcome::Accepted);
    assert_eq!(server_doc(&server, shift.uuid()).await.unwrap().get_heads(), stored, "stored document unchanged");
    assert!(server_doc(&server, other.uuid()).await.is_some());
}

#[tokio::test]
async fn nobody_writes_into_another_members_shift() {
    let server = TestServer::start().await;
    let (mut lead, mut alice) = team_of_two(&server).await;
    let code = server.invite(alice.team, kith_domain::Role::Member).await;
    let mut bob = Dev::join(&server, &code, "Bob").await;
    let shift = alice.start_shift();
    alice.checkin(shift, CheckInStatus::Ok, 10);
    alice.sync().await;
    let stored = server_doc(&server, shift.uuid()).await.unwrap().get_heads();
    let seq = max_seq(&server).await;

    // A lead sees the shift but may not check in on it.
    lead.sync().await;
    lead.checkin(shift, CheckInStatus::Ok, 11);
    let resp = lead.sync_docs(&[shift.uuid()]).await;
    assert_eq!(code_of(&resp.docs[0].outcome), Some(RejectCode::Forbidden), "{:?}", resp.docs[0].outcome);

    // A member who got the bytes some other way gets the answer the same push gets for a
    // document that does not exist at all (there: the changes are Alice's, not Bob's).
    let mut copy = alice.doc(shift.uuid()).fork();
    copy.set_actor(bob.actor.clone());
    bob.docs.insert(shift.uuid(), copy);
    bob.checkin(shift, CheckInStatus::Emergency, 12);
    let mut ghost = bob.push_for(shift.uuid());
    ghost.id = Uuid::now_v7();
    let resp = bob.send(&bob.request(vec![bob.push_for(shift.uuid()), ghost])).await;
    assert_eq!(code_of(&resp.docs[0].outcome), Some(RejectCode::ActorNotYours));
    assert_eq!(resp.docs[0].outcome, resp.docs[1].outcome, "no hint that the document exists");
    assert!(resp.docs[0].data.is_empty() && resp.docs[0].heads.is_empty());

    assert_eq!(server_doc(&server, shift.uuid()).await.unwrap().get_heads(), stored);
    assert_eq!(max_seq(&server).await, seq, "nothing stored");
}

#[tokio::test]
async fn reusing_another_devices_actor_id_is_refused() {
    let server = TestServer::start().await;
    let (_lead, mut alice) = team_of_two(&server).await;
    let code = server.invite(alice.team, kith_domain::Role::Member).await;
    let mut bob = Dev::join(&server, &code, "Bob").await;
    let shift = alice.start_shift();
    alice.sync().await;

    bob.actor = alice.actor.clone();
    let bobs = bob.start_shift();
    let seq = max_seq(&server).await;
    let resp = bob.sync_docs(&[bobs.uuid()]).await;
    match &resp.docs[0].outcome {
        Outcome::Rejected { code: RejectCode::ActorNotYours, message } => assert!(message.contains("never share")),
        o => panic!("expected ActorNotYours, got {o:?}"),
    }
    assert_eq!(max_seq(&server).await, seq);
    assert!(server_doc(&server, bobs.uuid()).await.is_none());

    // Relaying Alice's own (already stored) changes is harmless: they are known, so skipped.
    let mut relay = alice.push_for(shift.uuid());
    relay.changes = alice.doc(shift.uuid()).get_changes(&[]).iter().map(|c| c.raw_bytes().to_vec().into()).collect();
    relay.have = vec![];
    let lead_code = server.invite(alice.team, kith_domain::Role::Lead).await;
    let lead2 = Dev::join(&server, &lead_code, "Lee").await;
    let seq = max_seq(&server).await;
    let resp = lead2.send(&lead2.request(vec![relay])).await;
    assert_eq!(resp.docs[0].outcome, Outcome::Accepted);
    assert_eq!(max_seq(&server).await, seq);
}

/// Readers take an id in any spelling a UUID parses from: a check-in keyed by another spelling of
/// an existing check-in's id would be a second check-in with that id (which one the board, the
/// alerts and the engine's copy read would depend on the order of the keys). Refused through the
/// real protocol, like an acknowledgement naming its check-in so, and nothing is stored.
#[tokio::test]
async fn a_second_spelling_of_an_id_is_refused_and_nothing_is_stored() {
    use automerge::transaction::Transactable;
    use automerge::{ObjType, ROOT, ReadDoc};
    let server = TestServer::start().await;
    let (mut lead, mut alice) = team_of_two(&server).await;
    let shift = alice.start_shift();
    let c = alice.checkin(shift, CheckInStatus::Ok, 10);
    alice.sync().await;
    let stored = server_doc(&server, shift.uuid()).await.unwrap().get_heads();
    let seq = max_seq(&server).await;

    // Alice's device writes a second check-in under her first one's id, upper-cased.
    let (member, device) = (alice.member.to_string(), alice.device.to_string());
    let twin = c.to_string().to_uppercase();
    let doc = alice.docs.get_mut(&shift.uuid()).unwrap();
    doc.transact(|tx| {
        let checkins = tx.get(ROOT, "checkins")?.unwrap().1;
        let o = tx.put_object(&checkins, twin.as_str(), ObjType::Map)?;
        tx.put(&o, "status", "emergency")?;
        tx.put(&o, "device_time", t0().0 + 11 * 60_000)?;
        tx.put(&o, "by", member.as_str())?;
        tx.put(&o, "device", device.as_str())
    })
    .map_err(|f| f.error)
    .unwrap();
    let resp = alice.sync_docs(&[shift.uuid()]).await;
    match &resp.docs[0].outcome {
        Outcome::Rejected { code: RejectCode::Forbidden, message } => {
            assert!(message.contains("lower-case UUID"), "{message}")
        }
        o => panic!("expected Forbidden, got {o:?}"),
    }

    // The lead acknowledges the check-in, naming it upper-cased.
    lead.sync().await;
    let (by, named) = (lead.member.to_string(), c.to_string().to_uppercase());
    let doc = lead.docs.get_mut(&shift.uuid()).unwrap();
    doc.transact(|tx| {
        let acks = tx.get(ROOT, "acks")?.unwrap().1;
        let o = tx.put_object(&acks, kith_domain::AckId::new().to_string(), ObjType::Map)?;
        tx.put(&o, "checkin", named.as_str())?;
        tx.put(&o, "by", by.as_str())?;
        tx.put(&o, "at", t0().0)
    })
    .map_err(|f| f.error)
    .unwrap();
    let resp = lead.sync_docs(&[shift.uuid()]).await;
    match &resp.docs[0].outcome {
        Outcome::Rejected { code: RejectCode::Invalid, message } => {
            assert!(message.contains("lower case with hyphens"), "{message}")
        }
        o => panic!("expected Invalid, got {o:?}"),
    }

    assert_eq!(server_doc(&server, shift.uuid()).await.unwrap().get_heads(), stored, "stored document unchanged");
    assert_eq!(max_seq(&server).await, seq, "nothing stored");
}
