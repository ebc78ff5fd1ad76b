//! The server applies a push to its cached copy of the document to check it; when a later change
//! of the same push is refused, nothing of the push may stay behind, in storage or in memory.

use crate::common;
use automerge::ReadDoc;
use common::*;
use kith_domain::CheckInStatus;
use kith_proto::{Outcome, RejectCode};
use kith_server::testing::TestServer;

#[tokio::test]
async fn a_good_checkin_followed_by_a_forged_ack_leaves_the_document_as_stored() {
    let server = TestServer::start().await;
    let (_lead, mut alice) = team_of_two(&server).await;
    let shift = alice.start_shift();
    let first = alice.checkin(shift, CheckInStatus::Ok, 10);
    alice.sync().await;
    let stored = server_doc(&server, shift.uuid()).await.unwrap().get_heads();
    let seq = max_seq(&server).await;

    // One push: a valid check-in, then an acknowledgement a member may not write.
    let second = alice.checkin(shift, CheckInStatus::Ok, 20);
    alice.ack(shift, first, "forged");
    let resp = alice.sync_docs(&[shift.uuid()]).await;
    assert_eq!(code_of(&resp.docs[0].outcome), Some(RejectCode::Forbidden), "{:?}", resp.docs[0].outcome);
    assert_eq!(unhash(&resp.docs[0].heads), stored, "the reply tells the stored heads");

    let cached = server_doc(&server, shift.uuid()).await.unwrap();
    assert_eq!(cached.get_heads(), stored, "the refused push left nothing in memory");
    let s = kith_domain::doc::shift::read(&cached).unwrap();
    assert!(s.checkins.iter().all(|c| c.id != second), "the check-in of the refused push is not there");
    assert_eq!(max_seq(&server).await, seq, "nothing stored");

    // The next good push of the same document works from the stored state.
    let resp = alice.sync_docs(&[shift.uuid()]).await;
    assert!(matches!(resp.docs[0].outcome, Outcome::Rejected { .. }), "the forged ack is still refused");
}

#[tokio::test]
async fn a_push_with_a_missing_dependency_after_good_changes_leaves_nothing_queued() {
    let server = TestServer::start().await;
    let (_lead, mut alice) = team_of_two(&server).await;
    let shift = alice.start_shift();
    alice.checkin(shift, CheckInStatus::Ok, 10);
    alice.sync().await;
    let stored = server_doc(&server, shift.uuid()).await.unwrap().get_heads();

    // Two new check-ins, but the push claims a head the server never gets.
    alice.checkin(shift, CheckInStatus::Ok, 20);
    let mut push = alice.push_for(shift.uuid());
    alice.checkin(shift, CheckInStatus::Ok, 30);
    push.heads = hashes(&alice.doc(shift.uuid()).get_heads());
    let resp = alice.send(&alice.request(vec![push])).await;
    assert!(
        matches!(resp.docs[0].outcome, Outcome::ResendAll | Outcome::Rejected { code: RejectCode::MissingDeps, .. }),
        "{:?}",
        resp.docs[0].outcome
    );
    let cached = server_doc(&server, shift.uuid()).await.unwrap();
    assert_eq!(cached.get_heads(), stored);
    assert!(cached.get_missing_deps(&[]).is_empty());
}
