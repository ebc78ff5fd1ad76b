//! Alice checks in five times offline while the lead acknowledges earlier check-ins offline; they
//! sync in every order; both end with everything, through the real server.

use kith_domain::CheckInStatus;
use kith_server::testing::TestServer;
use kith_stories::*;

async fn story(alice_first: bool) {
    let server = TestServer::start().await;
    let (mut lead, mut members) = team_of(&server, &["alice"]).await;
    let mut alice = members.remove(0);
    lead.sync().await.expect("lead's first sync");
    alice.sync().await.expect("alice's first sync");
    assert_eq!(alice.team_doc().members.len(), 2, "alice received the roster");

    let shift = alice.start_shift("Meter readings");
    let early: Vec<_> = (0..2).map(|i| alice.checkin(shift, CheckInStatus::Ok, at(20 + i * 30))).collect();
    alice.sync().await.expect("alice shares her first check-ins");
    lead.sync().await.expect("the lead receives them");
    assert_eq!(lead.shift(shift).map(|s| s.checkins.len()), Some(2));

    // Both offline: five more check-ins on one side, acknowledgements on the other.
    let late: Vec<_> = (0..5).map(|i| alice.checkin(shift, CheckInStatus::Ok, at(90 + i * 30))).collect();
    let acks: Vec<_> = early.iter().map(|c| lead.ack(shift, c.id, "Seen, thanks", at(100))).collect();
    assert_eq!(alice.pending(), 5);

    if alice_first {
        alice.sync().await.unwrap();
        lead.sync().await.unwrap();
        alice.sync().await.unwrap();
    } else {
        lead.sync().await.unwrap();
        alice.sync().await.unwrap();
        lead.sync().await.unwrap();
    }

    let a = alice.shift(shift).unwrap();
    let l = lead.shift(shift).unwrap();
    assert_eq!(ids(&a), ids(&l));
    assert_eq!(a.checkins.len(), 7);
    assert_eq!(a.acks.len(), 2);
    for c in early.iter().chain(late.iter()) {
        assert_eq!(a.checkin(c.id), Some(c));
    }
    for ack in &acks {
        assert!(a.acks.contains(ack), "alice sees the lead's reply");
    }
    assert_eq!(alice.heads(shift), lead.heads(shift), "both devices converge");
    assert_eq!((alice.pending(), lead.pending()), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_syncs_first() {
    story(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lead_syncs_first() {
    story(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_device_of_the_lead_gets_everything_in_a_few_round_trips() {
    let server = TestServer::start().await;
    let (mut lead, mut members) = team_of(&server, &["alice", "bo"]).await;
    for m in members.iter_mut() {
        m.sync().await.unwrap();
        let s = m.start_shift("Rounds");
        for i in 0..4 {
            m.checkin(s, CheckInStatus::Ok, at(10 * i));
        }
        m.sync().await.unwrap();
    }
    let report = lead.sync().await.unwrap();
    assert!(report.rounds <= 2, "one exchange (plus at most one more page): {report:?}");
    // The lead sees both shifts and the team document.
    assert_eq!(lead.store.list_docs(Some("shift")).unwrap().len(), 2);
}
