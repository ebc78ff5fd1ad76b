//! The server keeps what a shift's root holds for good (its schema, team, worker, collections)
//! with the cached document, instead of reading it for every change. That must decide nothing a
//! change can alter: with the cache warm, a change that rewrites the shift's worker or team is
//! still refused, and the pushes after it are judged as before.

use crate::common;
use automerge::ROOT;
use automerge::transaction::Transactable;
use common::*;
use kith_domain::{CheckInStatus, Role, TeamId};
use kith_proto::{Outcome, RejectCode};
use kith_server::testing::TestServer;

#[tokio::test]
async fn rewriting_a_shifts_worker_or_team_is_refused_with_the_cache_warm() {
    let server = TestServer::start().await;
    let (mut lead, mut alice) = team_of_two(&server).await;
    let code = server.invite(alice.team, Role::Member).await;
    let bob = Dev::join(&server, &code, "Bob").await;
    let shift = alice.start_shift();
    let id = shift.uuid();
    alice.checkin(shift, CheckInStatus::Ok, 10);
    alice.sync().await;
    let c = alice.checkin(shift, CheckInStatus::Support, 20);
    assert_eq!(alice.sync_docs(&[id]).await.docs[0].outcome, Outcome::Accepted);
    let warm = server.app().docs.with_doc(id, |st| st.settled.clone()).await.unwrap().flatten();
    assert!(warm.is_some(), "the shift's settled facts are kept with the cached document");
    let stored = server_doc(&server, id).await.unwrap().get_heads();
    let seq = max_seq(&server).await;

    for (key, value) in [("worker_id", bob.member.to_string()), ("team_id", TeamId::new().to_string())] {
        let accepted = alice.doc(id).clone();
        let doc = alice.docs.get_mut(&id).unwrap();
        doc.transact(|tx| tx.put(ROOT, key, value.as_str())).map_err(|f| f.error).unwrap();
        let resp = alice.sync_docs(&[id]).await;
        match &resp.docs[0].outcome {
            Outcome::Rejected { code: RejectCode::Forbidden, message } => {
                assert!(message.contains("cannot be changed after the shift starts"), "{key}: {message}")
            }
            o => panic!("{key}: expected Forbidden, got {o:?}"),
        }
        assert_eq!(server_doc(&server, id).await.unwrap().get_heads(), stored, "{key}: nothing applied");
        alice.docs.insert(id, accepted);
    }
    assert_eq!(max_seq(&server).await, seq, "nothing stored");

    // The pushes after it are judged as before, whoever makes them: the worker's check-in, a
    // lead's acknowledgement, but not a lead's check-in on the worker's shift.
    alice.checkin(shift, CheckInStatus::Ok, 30);
    assert_eq!(alice.sync_docs(&[id]).await.docs[0].outcome, Outcome::Accepted);
    lead.sync_all().await;
    lead.ack(shift, c, "on my way");
    assert_eq!(lead.sync_docs(&[id]).await.docs[0].outcome, Outcome::Accepted);
    lead.checkin(shift, CheckInStatus::Ok, 40);
    let resp = lead.sync_docs(&[id]).await;
    assert_eq!(code_of(&resp.docs[0].outcome), Some(RejectCode::Forbidden), "{:?}", resp.docs[0].outcome);
    let s = kith_domain::doc::shift::read(&server_doc(&server, id).await.unwrap()).unwrap();
    assert_eq!((s.worker, s.team, s.checkins.len(), s.acks.len()), (alice.member, alice.team, 3, 1));
}
