//! Re-sending a request is harmless, changes arriving out of order are put in order or asked for
//! again, and nothing is stored twice.

use crate::common;
use common::*;
use kith_domain::CheckInStatus;
use kith_proto::Outcome;
use kith_server::testing::TestServer;

#[tokio::test]
async fn the_same_request_twice_stores_nothing_twice() {
    let server = TestServer::start().await;
    let (_lead, mut alice) = team_of_two(&server).await;
    let shift = alice.start_shift();
    alice.checkin(shift, CheckInStatus::Ok, 10);
    let req = alice.request(vec![alice.push_for(shift.uuid())]);
    let first = alice.send(&req).await;
    let seq = max_seq(&server).await;
    // The answer was lost: the client sends the very same request again, twice, concurrently.
    let (a, b) = tokio::join!(alice.send(&req), alice.send(&req));
    for r in [&first, &a, &b] {
        assert_eq!(r.docs[0].outcome, Outcome::Accepted);
        assert_eq!(r.docs[0].heads, first.docs[0].heads);
    }
    assert_eq!(max_seq(&server).await, seq, "nothing new stored");
    alice.apply(&a);
    assert_eq!(alice.shift(shift).checkins.len(), 1);
}

#[tokio::test]
async fn changes_out_of_order_are_ordered_or_asked_for_again() {
    let server = TestServer::start().await;
    let (_lead, mut alice) = team_of_two(&server).await;
    let shift = alice.start_shift();
    alice.sync().await;
    alice.checkin(shift, CheckInStatus::Ok, 10);
    alice.checkin(shift, CheckInStatus::Ok, 40);

    // Only the later check-in arrives (the earlier request is still on its way).
    let mut late = alice.push_for(shift.uuid());
    assert_eq!(late.changes.len(), 2);
    let early_change = late.changes.remove(0);
    let resp = alice.send(&alice.request(vec![late.clone()])).await;
    assert_eq!(resp.docs[0].outcome, Outcome::ResendAll, "the server lacks a dependency the client thought it had");
    assert_eq!(server_doc(&server, shift.uuid()).await.unwrap().get_heads(), alice.server_heads[&shift.uuid()]);

    // Both in reverse order in one request: applied in causal order.
    late.changes.insert(1, early_change);
    let resp = alice.send(&alice.request(vec![late])).await;
    assert_eq!(resp.docs[0].outcome, Outcome::Accepted);
    assert_eq!(server_doc(&server, shift.uuid()).await.unwrap().get_heads(), alice.doc(shift.uuid()).get_heads());
}

#[tokio::test]
async fn a_reply_carries_exactly_what_the_client_lacks() {
    let server = TestServer::start().await;
    let (mut lead, mut alice) = team_of_two(&server).await;
    let shift = alice.start_shift();
    let c = alice.checkin(shift, CheckInStatus::Support, 10);
    alice.sync().await;
    lead.sync().await;
    lead.ack(shift, c, "calling you now");
    lead.sync().await;
    // Alice pushes a new check-in for this document only: the reply brings the ack.
    alice.checkin(shift, CheckInStatus::Ok, 20);
    let req = alice.request(vec![alice.push_for(shift.uuid())]);
    let resp = alice.send(&req).await;
    assert_eq!(resp.docs[0].outcome, Outcome::Accepted);
    assert_eq!(resp.docs[0].data.len(), 1);
    alice.apply(&resp);
    assert_eq!(alice.shift(shift).acks.len(), 1);
    assert_eq!(alice.doc(shift.uuid()).get_heads(), unhash(&resp.docs[0].heads));
}
