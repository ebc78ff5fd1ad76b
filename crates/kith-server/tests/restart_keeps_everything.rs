//! Everything accepted is durable: a server restarted on the same data directory has every
//! document (from snapshots plus later changes), and keeps writing correctly.

use crate::common;
use common::*;
use kith_domain::{CheckInStatus, Role};
use kith_proto::Outcome;
use kith_server::testing::TestServer;

#[tokio::test]
async fn a_restarted_server_keeps_every_document_and_credential() {
    let mut server = TestServer::start_with(|c| c.cache.snapshot_every = 2).await;
    let (mut lead, mut alice) = team_of_two(&server).await;
    let shift = alice.start_shift();
    let mut first = None;
    for m in 0..5 {
        let c = alice.checkin(shift, CheckInStatus::Ok, m * 20);
        first.get_or_insert(c);
        alice.sync().await;
    }
    lead.sync().await;
    lead.ack(shift, first.unwrap(), "ok");
    lead.sync().await;
    let heads = server_doc(&server, shift.uuid()).await.unwrap().get_heads();
    let team_heads = server_doc(&server, lead.team.uuid()).await.unwrap().get_heads();

    server.restart().await;
    alice.reconnect(&server);
    lead.reconnect(&server);
    assert_eq!(server_doc(&server, shift.uuid()).await.unwrap().get_heads(), heads);
    assert_eq!(server_doc(&server, lead.team.uuid()).await.unwrap().get_heads(), team_heads);

    // Old credentials still work, and the server keeps writing the team document with its actor.
    alice.checkin(shift, CheckInStatus::Ok, 200);
    assert_eq!(alice.sync().await.docs[0].outcome, Outcome::Accepted);
    let code = server.invite(lead.team, Role::Member).await;
    let mut bob = Dev::join(&server, &code, "Bob").await;
    bob.sync().await;
    let team = kith_domain::doc::team::read(bob.doc(bob.team.uuid())).unwrap();
    assert_eq!(team.members.len(), 3);

    // A new lead device pulls everything.
    let code = server.invite(lead.team, Role::Lead).await;
    let mut lee = Dev::join(&server, &code, "Lee").await;
    lee.sync_all().await;
    assert_eq!(lee.shift(shift).checkins.len(), 6);
    assert_eq!(lee.shift(shift).acks.len(), 1);
}
