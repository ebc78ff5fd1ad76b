//! Several instances (PostgreSQL): each instance stores its members' stream counts for the others.
//! Only each member's latest count matters, so while the database is stalled the writes waiting
//! are one per member, not one per connect or disconnect: 2,000 streams opened and closed by 20
//! members leave at most 20 writes waiting, and once the database answers again every member's
//! row says what is true (one still connected, the others not). Before, every event queued a write
//! (an unbounded channel): 4,000 waited, and were all written one by one.

use kith_domain::{MemberId, TeamId};
use kith_server::testing::{Backend, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_connects_and_disconnects_while_stalled_leave_one_write_per_member() {
    let Backend::Postgres { .. } = Backend::from_env() else {
        eprintln!("presence is shared through a PostgreSQL database: run with KITH_TEST_BACKEND=postgres");
        return;
    };
    let server = TestServer::start_with_storage_faults(|_| {}).await;
    let faults = server.storage_faults();
    let hub = server.app().live.clone();
    let team = TeamId::new();
    let members: Vec<MemberId> = (0..20).map(|_| MemberId::new()).collect();
    let written = faults.presence_writes();

    faults.hold_told();
    let mut kept = None;
    for round in 0..100 {
        for (i, m) in members.iter().enumerate() {
            let g = hub.connect(team, *m, round);
            // The first member's last stream stays open.
            if round == 99 && i == 0 {
                kept = Some(g);
            }
        }
        let pending = *hub.presence_pending_writes().borrow();
        assert!(pending <= 2 * members.len(), "{pending} writes waiting for {} members", members.len());
    }
    faults.release_told();
    let mut pending = hub.presence_pending_writes();
    tokio::time::timeout(std::time::Duration::from_secs(30), pending.wait_for(|n| *n == 0))
        .await
        .expect("the waiting writes are stored once the database answers")
        .unwrap();
    let writes = faults.presence_writes() - written;
    assert!(writes <= 3 * members.len() as u64, "{writes} presence rows written for {} members", members.len());

    let storage = server.storage();
    for (i, m) in members.iter().enumerate() {
        let rows = storage.presence(Some((team, *m)), kith_server::now_ms()).await.unwrap();
        let online = rows.first().is_some_and(|r| r.online);
        assert_eq!(online, i == 0, "member {i}: {rows:?}");
    }
    drop(kept);
}
