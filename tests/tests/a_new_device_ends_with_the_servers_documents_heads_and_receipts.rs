//! A new device's catch-up, through the real engine and its store over HTTP (answers in zstd,
//! whole documents in them with their columns raw): it ends with exactly the server's documents,
//! the server's heads and the server's receipts for them, in one round trip, and nothing is
//! pending or pushed back.

use std::collections::BTreeSet;

use kith_domain::{CheckInStatus, Role};
use kith_server::testing::TestServer;
use kith_stories::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_new_device_holds_what_the_server_holds() {
    let server = TestServer::start().await;
    let (mut lead, mut mates) = team_of(&server, &["alice", "bo"]).await;
    lead.sync().await.unwrap();
    let mut shifts = Vec::new();
    for m in &mut mates {
        m.sync().await.unwrap();
        for day in 0..3 {
            let s = m.start_shift("rounds");
            for k in 0..12 {
                m.checkin(s, CheckInStatus::Ok, at(day * 1440 + k * 30));
            }
            m.sync().await.unwrap();
            shifts.push(s);
        }
    }
    // A lead's reply: a second actor in a worker's shift.
    lead.sync().await.unwrap();
    let first = lead.shift(shifts[0]).unwrap().checkins[0].id;
    lead.ack(shifts[0], first, "seen, thanks", at(40));
    lead.sync().await.unwrap();

    let code = server.invite(lead.team, Role::Lead).await;
    let mut new_device = Device::join("new", &server.base_url, &code).await;
    let report = new_device.sync().await.unwrap();
    assert_eq!(report.rounds, 1, "one round trip");
    assert_eq!(new_device.pending(), 0);

    let app = server.app().clone();
    for id in shifts.iter().map(|s| s.uuid()).chain([lead.team.uuid()]) {
        let theirs = app.docs.with_doc(id, |st| st.doc.clone()).await.unwrap().unwrap();
        let ours = new_device.store.doc(id).unwrap().clone();
        assert_eq!(ours.get_heads(), theirs.get_heads(), "document {id}");
        let hashes = |d: &automerge::Automerge| d.get_changes(&[]).iter().map(|c| c.hash()).collect::<BTreeSet<_>>();
        assert_eq!(hashes(&ours), hashes(&theirs), "document {id}: the very same changes");
        assert_eq!(ours.save(), theirs.save(), "document {id}: the same saved document");
        let sorted = |mut h: Vec<automerge::ChangeHash>| {
            h.sort();
            h
        };
        assert_eq!(sorted(new_device.store.server_heads(id).unwrap()), sorted(theirs.get_heads()));
        let receipt = new_device.store.receipt(id).unwrap().expect("a receipt");
        assert_eq!(sorted(receipt.heads), sorted(theirs.get_heads()));
        assert_eq!(receipt.receipt, app.sync.receipt(id, &theirs.get_heads()).to_vec(), "document {id}");
    }
    // Nothing goes back up: the next sync pushes nothing and brings nothing.
    let report = new_device.sync().await.unwrap();
    assert_eq!(report.rounds, 1);
    assert_eq!(new_device.pending(), 0);
}
