//! The feed gives a new device every document it may see in a few round trips (whole documents,
//! compact), pages at the budget, and a cursor from a server restored from an older backup
//! resets; clients then push back what the server lost, and everyone converges.

use crate::common;
use common::*;
use kith_domain::{CheckInStatus, Role};
use kith_proto::Outcome;
use kith_server::testing::TestServer;

#[tokio::test]
async fn a_new_device_pulls_everything_in_pages() {
    let server = TestServer::start_with(|c| c.limits.feed_max_docs = 2).await;
    let (_lead, mut alice) = team_of_two(&server).await;
    let code = server.invite(alice.team, Role::Lead).await;
    let mut lee = Dev::join(&server, &code, "Lee").await;
    let mut shifts = Vec::new();
    for i in 0..5 {
        let s = alice.start_shift();
        alice.checkin(s, CheckInStatus::Ok, i);
        shifts.push(s);
    }
    alice.sync().await;
    for s in &shifts {
        alice.checkin(*s, CheckInStatus::Ok, 100);
    }
    alice.sync().await;

    let mut rounds = Vec::new();
    loop {
        let r = lee.sync().await;
        rounds.push((r.feed.len(), r.more));
        // A document the device never had comes as one saved document.
        assert!(r.feed.iter().all(|f| f.data.len() == 1));
        if !r.more {
            break;
        }
    }
    assert_eq!(rounds, vec![(2, true), (2, true), (2, false)], "team document + 5 shifts, 2 per page");
    for s in &shifts {
        assert_eq!(lee.shift(*s).checkins.len(), 2);
    }
    // Nothing new: an empty feed, the same cursor.
    let cursor = lee.cursor.clone();
    let r = lee.sync().await;
    assert!(r.feed.is_empty() && !r.more && !r.reset);
    assert_eq!(Some(r.cursor), cursor);

    // Later changes come as changes after the cursor, not whole documents.
    alice.checkin(shifts[0], CheckInStatus::Support, 120);
    alice.sync().await;
    let r = lee.sync_docs(&[]).await;
    assert_eq!(r.feed.len(), 1);
    assert_eq!(r.feed[0].id, shifts[0].uuid());
    assert!(r.feed[0].data[0].len() < 1000, "one check-in's change");
    assert_eq!(lee.shift(shifts[0]).checkins.len(), 3);
}

#[tokio::test]
async fn a_server_restored_from_an_older_backup_resets_cursors_and_clients_heal_it() {
    // A restore of the SQLite file (PostgreSQL's is pg_dump / pg_restore: docs/operations.md).
    let mut server = TestServer::start_on(kith_server::testing::Backend::Sqlite, |_| {}).await;
    let (mut lead, mut alice) = team_of_two(&server).await;
    let a = alice.start_shift();
    alice.checkin(a, CheckInStatus::Ok, 10);
    alice.sync().await;
    lead.sync().await;

    server.stop().await;
    let backup = server.data_dir().join("backup.sqlite3");
    std::fs::copy(server.db_path(), &backup).unwrap();
    server.start_again().await;
    alice.reconnect(&server);
    lead.reconnect(&server);

    // Work the backup will not have.
    alice.checkin(a, CheckInStatus::Ok, 40);
    let b = alice.start_shift();
    alice.checkin(b, CheckInStatus::Support, 41);
    alice.sync().await;
    lead.sync().await;
    assert_eq!(lead.shift(b).checkins.len(), 1);

    // Disaster: the database is restored from the backup.
    server.stop().await;
    let db = server.db_path();
    for ext in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", db.display()));
    }
    std::fs::copy(&backup, &db).unwrap();
    server.start_again().await;
    alice.reconnect(&server);
    lead.reconnect(&server);

    // The lead's cursor is beyond the restored server's feed: reset, and the feed starts over.
    let r = lead.sync_docs(&[]).await;
    assert!(r.reset);
    assert!(r.feed.iter().any(|f| f.id == a.uuid()));

    // Alice pushes what she has; the server asks for everything where it lacks history.
    let r = alice.sync().await;
    assert!(r.reset);
    assert!(r.docs.iter().any(|d| d.outcome == Outcome::ResendAll));
    alice.server_heads.clear();
    let r = alice.sync().await;
    assert!(r.docs.iter().all(|d| d.outcome == Outcome::Accepted), "{:?}", r.docs);

    // Everyone converges.
    lead.sync_all().await;
    for s in [a, b] {
        assert_eq!(lead.doc(s.uuid()).get_heads(), alice.doc(s.uuid()).get_heads());
        assert_eq!(server_doc(&server, s.uuid()).await.unwrap().get_heads(), alice.doc(s.uuid()).get_heads());
    }
    assert_eq!(lead.shift(a).checkins.len(), 2);
}
