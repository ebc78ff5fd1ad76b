//! A new device's catch-up (a feed page of many documents sent whole, each decoded and saved:
//! seconds of Automerge work for thousands) is heavy work like a big push: built on the bounded
//! heavy pool, refused at once with `503 server_busy` and `Retry-After` while the pool and its
//! queue are full (the device retries, and is then answered everything), while light syncs are
//! still answered. And it reads the documents the cache does not hold straight from storage,
//! saving each once for the answer, without filling the cache with them (which would push out
//! the documents being worked on, and save each a second time when it goes).

use crate::common;
use common::*;
use kith_proto::ApiError;
use kith_server::testing::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catch_up_while_the_heavy_pool_is_full_gets_503_and_is_answered_on_retry() {
    let server = TestServer::start_with_storage_faults(|c| {
        // Any push of a change is heavy, so is a page of 3 whole documents; one heavy exchange
        // at a time, none waiting.
        c.limits.heavy_sync_changes = 1;
        c.limits.heavy_sync_workers = 1;
        c.limits.heavy_sync_queue = 0;
        c.limits.heavy_feed_docs = 3;
    })
    .await;
    let (mut lead, mut alice) = team_of_two(&server).await;
    let shifts: Vec<_> = (0..4).map(|_| alice.start_shift()).collect();
    alice.sync().await;
    lead.sync_all().await;
    let code = server.invite(alice.team, kith_domain::Role::Lead).await;
    let mut newcomer = Dev::join(&server, &code, "Sam's new phone").await;

    // The pool's one place is taken by a push held in its append.
    let faults = server.storage_faults();
    faults.hold_appends();
    let _release = ReleaseOnDrop(faults.clone());
    let extra = alice.start_shift();
    let body = kith_proto::encode(&alice.request(vec![alice.push_for(extra.uuid())])).unwrap();
    let held = alice.spawn_post_sync(body);
    faults.held_appends().wait_for(|n| *n == 1).await.unwrap();
    server.app().heavy.admitted().wait_for(|n| *n == 1).await.unwrap();

    // The catch-up (the team and 4 shifts, all whole) is refused at once, retryable.
    let refused = newcomer.post_sync(kith_proto::encode(&newcomer.request(vec![])).unwrap()).await;
    assert_eq!(refused.status(), 503);
    let after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(after >= 1);
    let e: ApiError = refused.json().await.unwrap();
    assert_eq!((e.code.as_str(), e.retryable), ("server_busy", true), "{}", e.message);
    // A light sync (nothing new for the lead) is answered meanwhile.
    lead.sync().await;

    // Released: the held push is stored; the device's retry is answered with everything.
    faults.release_appends();
    let (status, body) = held.await.unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    server.app().heavy.admitted().wait_for(|n| *n == 0).await.unwrap();
    newcomer.sync_all().await;
    for s in shifts.iter().chain([&extra]) {
        assert!(newcomer.docs.contains_key(&s.uuid()), "the new device holds every shift");
    }
    assert!(newcomer.docs.contains_key(&alice.team.uuid()), "and the team");
}

#[tokio::test]
async fn a_catch_up_reads_documents_the_cache_lacks_without_filling_it() {
    let server = TestServer::start().await;
    let (_lead, mut alice) = team_of_two(&server).await;
    let shifts: Vec<_> = (0..5).map(|_| alice.start_shift()).collect();
    alice.sync().await;
    let code = server.invite(alice.team, kith_domain::Role::Lead).await;
    let mut newcomer = Dev::join(&server, &code, "Sam's new phone").await;
    // Nothing cached (as after a restart, or once the catch-up's documents went cold).
    server.app().docs.cache.clear();
    assert_eq!(server.app().docs.cache.usage(), Default::default());

    newcomer.sync_all().await;
    for s in &shifts {
        let doc = newcomer.shift(*s);
        assert_eq!(doc.id, *s, "the new device holds every shift, whole");
    }
    let usage = server.app().docs.cache.usage();
    assert_eq!((usage.live_docs, usage.saved_docs), (0, 0), "the catch-up left the cache as it was: {usage:?}");
}
