//! The propagation path (docs/benchmarks.md §2): a lead poked about a change syncs, and the
//! server answers it from memory: where the feed stands and which documents changed come from the
//! window of recent changes, and the changes after the lead's cursor from the cached document
//! (the window names them), without reading them from the database. What the lead gets is exactly
//! what it lacked: it ends up with every check-in, once.

use crate::common;
use common::*;
use kith_domain::CheckInStatus;
use kith_server::testing::TestServer;

#[tokio::test]
async fn a_lead_fetches_a_check_in_it_was_poked_about_from_memory() {
    let server = TestServer::start_with_storage_faults(|_| {}).await;
    let faults = server.storage_faults();
    let (mut lead, mut alice) = team_of_two(&server).await;
    let shift = alice.start_shift();
    alice.sync().await;
    lead.sync().await;
    assert!(lead.docs.contains_key(&shift.uuid()));

    for minute in 0..3 {
        let checkin = alice.checkin(shift, CheckInStatus::Ok, minute);
        alice.sync().await;
        let reads = faults.change_reads();
        // A pull, as the lead's device sends it (it has nothing of its own to push).
        let resp = lead.sync_docs(&[]).await;
        assert_eq!(resp.feed.len(), 1, "only the changed shift comes");
        assert_eq!(faults.change_reads(), reads, "the lead's fetch read no changes from the database");
        assert!(checkin_ids(&lead.shift(shift)).contains(&checkin));
    }
    assert_eq!(
        checkin_ids(&lead.shift(shift)),
        checkin_ids(&alice.shift(shift)),
        "the lead holds the shift as the worker does"
    );

    // A document the cache lost (as after a restart) is loaded again, and still answered.
    let checkin = alice.checkin(shift, CheckInStatus::Ok, 10);
    alice.sync().await;
    server.app().docs.cache.clear();
    lead.sync_docs(&[]).await;
    assert!(checkin_ids(&lead.shift(shift)).contains(&checkin));
}
