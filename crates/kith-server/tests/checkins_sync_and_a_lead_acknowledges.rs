//! The main loop: a worker's check-ins reach the server, a lead pulls them from the feed and
//! acknowledges, the worker gets the acknowledgement back; the board shows it on the server clock.

use crate::common;
use common::*;
use kith_domain::CheckInStatus;
use kith_proto::{Kind, Outcome};
use kith_server::testing::TestServer;

#[tokio::test]
async fn a_workers_checkins_reach_the_lead_and_the_ack_comes_back() {
    let server = TestServer::start().await;
    let (mut lead, mut alice) = team_of_two(&server).await;

    let shift = alice.start_shift();
    let first = alice.checkin(shift, CheckInStatus::Ok, 20);
    alice.checkin(shift, CheckInStatus::Support, 50);
    let resp = alice.sync().await;
    assert_eq!(resp.docs.len(), 1);
    assert_eq!(resp.docs[0].outcome, Outcome::Accepted);
    assert!(resp.server_time > 0);
    // The member's feed brings the team document.
    assert!(resp.feed.iter().any(|f| f.id == alice.team.uuid() && f.kind == Kind::Team));
    assert!(alice.docs.contains_key(&alice.team.uuid()));

    // The lead, new, pulls the team document and Alice's shift from the feed.
    let resp = lead.sync().await;
    assert!(!resp.more && !resp.reset);
    assert_eq!(lead.shift(shift).checkins.len(), 2);
    lead.ack(shift, first, "seen, thanks");
    let resp = lead.sync().await;
    assert_eq!(resp.docs.iter().find(|d| d.id == shift.uuid()).unwrap().outcome, Outcome::Accepted);

    // Alice gets the ack through the feed; a further check-in merges with it.
    alice.checkin(shift, CheckInStatus::Ok, 80);
    alice.sync().await;
    let s = alice.shift(shift);
    assert_eq!(s.checkins.len(), 3);
    assert_eq!(s.acks.len(), 1);
    assert_eq!(s.acks[0].reply.as_deref(), Some("seen, thanks"));
    lead.sync().await;
    assert_eq!(lead.shift(shift), s);
    assert_eq!(server_doc(&server, shift.uuid()).await.unwrap().get_heads(), alice.doc(shift.uuid()).get_heads());

    // The board, for a member too, shows Alice on shift with her last check-in, without her document.
    let board: serde_json::Value = alice.get("/v1/board").await.json().await.unwrap();
    let rows = board["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let row = rows.iter().find(|r| r["name"] == "Alice").unwrap();
    assert_eq!(row["shift"], shift.uuid().to_string());
    assert_eq!(row["last_checkin"], (t0().millis() + 80 * 60_000));
    assert!(board["server_time"].as_i64().unwrap() > 0);
    // The shift's planned end is long past on the server clock: she is overdue, first on the board.
    assert_eq!(rows[0]["name"], "Alice");
    assert_eq!(rows[0]["status"], "overdue");
}

#[tokio::test]
async fn a_member_does_not_receive_a_teammates_shift_but_a_lead_does() {
    let server = TestServer::start().await;
    let (mut lead, mut alice) = team_of_two(&server).await;
    let code = server.invite(lead.team, kith_domain::Role::Member).await;
    let mut bob = Dev::join(&server, &code, "Bob").await;
    let shift = alice.start_shift();
    alice.checkin(shift, CheckInStatus::Ok, 5);
    alice.sync().await;
    bob.sync().await;
    assert!(!bob.docs.contains_key(&shift.uuid()));
    assert!(bob.docs.contains_key(&bob.team.uuid()));
    lead.sync().await;
    assert!(lead.docs.contains_key(&shift.uuid()));
}
