//! A lead's device comes back from a week offline: its own week of check-ins goes up (each new
//! shift as one compact saved document, the request gzipped) and the team's week comes down (each
//! shift whole, its heads left out), in one round trip; afterwards both sides have everything and
//! nothing is pending or pushed again.

use kith_domain::CheckInStatus;
use kith_server::testing::TestServer;
use kith_stories::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lead_catches_up_in_one_round_trip_and_nothing_is_pushed_twice() {
    let server = TestServer::start().await;
    let (mut lead, mut mates) = team_of(&server, &["alice", "bo", "cy"]).await;
    lead.sync().await.unwrap();
    for m in &mut mates {
        m.sync().await.unwrap();
    }
    let mut theirs = Vec::new();
    for m in &mut mates {
        for day in 0..3 {
            let s = m.start_shift("week");
            for k in 0..10 {
                m.checkin(s, CheckInStatus::Ok, at(day * 1440 + k * 45));
            }
            m.sync().await.unwrap();
            theirs.push((s, m.heads(s)));
        }
    }
    let mut own = Vec::new();
    for day in 0..7 {
        let s = lead.start_shift("week");
        for k in 0..10 {
            lead.checkin(s, CheckInStatus::Ok, at(day * 1440 + k * 45));
        }
        own.push(s);
    }
    assert_eq!(lead.pending(), 7 * 11);

    let report = lead.sync().await.unwrap();
    assert_eq!(report.rounds, 1, "one round trip");
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    assert_eq!(lead.pending(), 0, "the server has everything of the lead's");
    for (s, heads) in &theirs {
        assert_eq!(&lead.heads(*s), heads, "the lead has every teammate's shift");
    }
    // The server heads the lead recorded are right: the next sync pushes nothing.
    let again = lead.sync().await.unwrap();
    assert_eq!((again.pushed_docs, again.received.len()), (0, 0));
    // A new device of the lead's sees the lead's week as the lead wrote it.
    let code = server.invite(lead.team, kith_domain::Role::Lead).await;
    let mut laptop = Device::join("lead-laptop", &server.base_url, &code).await;
    laptop.sync().await.unwrap();
    for s in &own {
        assert_eq!(laptop.heads(*s), lead.heads(*s));
        assert_eq!(laptop.shift(*s).unwrap().checkins.len(), 10);
    }
}
