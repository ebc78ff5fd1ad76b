//! Roles come from the team document's roster: a lead promoting a member there gives that
//! member's devices a lead's rights at once; a member cannot promote themselves.

use crate::common;
use common::*;
use kith_domain::doc::team;
use kith_domain::{CheckInStatus, Member, Role};
use kith_proto::{Outcome, RejectCode};
use kith_server::testing::TestServer;

#[tokio::test]
async fn a_member_promoted_in_the_roster_gets_a_leads_rights() {
    let server = TestServer::start().await;
    let (mut lead, mut alice) = team_of_two(&server).await;
    let code = server.invite(lead.team, Role::Member).await;
    let mut bob = Dev::join(&server, &code, "Bob").await;
    let shift = bob.start_shift();
    let c = bob.checkin(shift, CheckInStatus::Support, 5);
    bob.sync().await;

    // Alice may not promote herself.
    alice.sync().await;
    let me = Member { id: alice.member, name: "Alice".into(), role: Role::Lead, buddies: vec![], phone: None };
    let team_id = alice.team.uuid();
    let doc = alice.docs.get_mut(&team_id).unwrap();
    let before = doc.clone();
    doc.transact(|tx| team::upsert_member(tx, &me)).map_err(|f| f.error).unwrap();
    let resp = alice.sync_docs(&[team_id]).await;
    assert_eq!(code_of(&resp.docs[0].outcome), Some(RejectCode::Forbidden));
    assert!(!alice.docs.contains_key(&shift.uuid()));
    alice.docs.insert(team_id, before);

    // The lead promotes her.
    lead.sync().await;
    let doc = lead.docs.get_mut(&team_id).unwrap();
    doc.transact(|tx| team::upsert_member(tx, &me)).map_err(|f| f.error).unwrap();
    assert_eq!(lead.sync_docs(&[team_id]).await.docs[0].outcome, Outcome::Accepted);

    // Now she sees Bob's shift and may acknowledge his check-in.
    alice.sync().await;
    assert_eq!(alice.shift(shift).checkins.len(), 1);
    alice.ack(shift, c, "I'll call you");
    assert_eq!(alice.sync_docs(&[shift.uuid()]).await.docs[0].outcome, Outcome::Accepted);
    bob.sync().await;
    assert_eq!(bob.shift(shift).acks.len(), 1);
}
