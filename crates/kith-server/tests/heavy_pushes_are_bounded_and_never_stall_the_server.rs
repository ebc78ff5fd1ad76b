//! Heavy sync exchanges (thousands of changes: seconds of Automerge work) run on a bounded pool
//! off the async workers (crate::heavy): while as many as the pool runs are held there, each
//! holding its thread as CPU work would, `/healthz` and light syncs are still answered; the pool's
//! queue takes a few more; one beyond that is refused at once with `503 server_busy` and
//! `Retry-After` (retryable), storing nothing; released, every held push is stored.
//!
//! The server runs on two async workers, as many as the held pushes: without the pool they hold
//! them both and nothing at all is answered (the test then hangs instead of passing).

use crate::common;
use common::*;
use kith_proto::{ApiError, Outcome, SyncResponse};
use kith_server::testing::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heavy_pushes_beyond_the_pool_and_its_queue_get_503_and_the_rest_is_still_answered() {
    let server = TestServer::start_with_storage_faults(|c| {
        // Any push of a change is heavy here; a pull is light.
        c.limits.heavy_sync_changes = 1;
        c.limits.heavy_sync_workers = 2;
        c.limits.heavy_sync_queue = 1;
    })
    .await;
    let (mut lead, mut alice) = team_of_two(&server).await;
    lead.sync().await;
    alice.sync().await;
    let seq = max_seq(&server).await;
    // Four new shifts, one per push (each its own document, so none waits for another's).
    let shifts: Vec<_> = (0..4).map(|_| alice.start_shift()).collect();
    let bodies: Vec<Vec<u8>> =
        shifts.iter().map(|s| kith_proto::encode(&alice.request(vec![alice.push_for(s.uuid())])).unwrap()).collect();

    let faults = server.storage_faults();
    faults.hold_appends();
    // Held threads are let go however the test ends (a failed assertion included).
    let _release = ReleaseOnDrop(faults.clone());
    let post = |body: Vec<u8>| alice.spawn_post_sync(body);
    let held: Vec<_> = bodies[..3].iter().cloned().map(post).collect();
    // Two run (each holding its thread in the append), one waits in the queue.
    faults.held_appends().wait_for(|n| *n == 2).await.unwrap();
    server.app().heavy.admitted().wait_for(|n| *n == 3).await.unwrap();

    let health = http().get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200, "{:?}", health.text().await);
    // A light sync (nothing new to push) is answered (the helper asserts 200).
    lead.sync().await;

    // One more heavy push: refused at once, retryable, with Retry-After; nothing stored.
    let refused = alice.post_sync(bodies[3].clone()).await;
    assert_eq!(refused.status(), 503);
    let after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(after >= 1);
    let e: ApiError = refused.json().await.unwrap();
    assert_eq!((e.code.as_str(), e.retryable), ("server_busy", true), "{}", e.message);
    assert_eq!(max_seq(&server).await, seq, "nothing of the refused push is stored");

    // Released: every held push is stored and accepted; the refused one goes through on retry.
    faults.release_appends();
    for h in held {
        let (status, body) = h.await.unwrap();
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let resp: SyncResponse = kith_proto::decode(&body).unwrap();
        assert_eq!(resp.docs[0].outcome, Outcome::Accepted);
    }
    let retried = alice.sync_docs(&[shifts[3].uuid()]).await;
    assert_eq!(retried.docs[0].outcome, Outcome::Accepted);
    server.app().heavy.admitted().wait_for(|n| *n == 0).await.unwrap();
    lead.sync().await;
    for s in &shifts {
        assert!(lead.docs.contains_key(&s.uuid()), "the lead holds every shift");
    }
}
