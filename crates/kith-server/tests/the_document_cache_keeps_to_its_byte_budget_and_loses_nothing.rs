//! The document cache is bounded by bytes (`cache.max_bytes`, of which live documents take at most
//! `cache.live_max_bytes`): an idle document is kept in its compact saved form or not at all, and
//! comes back exactly as it was; nothing a device saved is lost however often documents are
//! moved out of memory, even while several devices sync at once.

mod common;
use automerge::Automerge;
use common::*;
use kith_domain::{CheckInStatus, Role, ShiftId};
use kith_server::testing::TestServer;

/// A live shift document of a few check-ins is estimated at about 15 KiB.
const LIVE_MAX: usize = 40 * 1024;
const MAX: usize = 48 * 1024;

fn budget(max: usize, live: usize) -> impl FnOnce(&mut kith_server::config::Config) {
    move |c| {
        c.cache.max_bytes = max;
        c.cache.live_max_bytes = live;
    }
}

/// Everything of a document that must come back: its heads, every change, its reading.
fn fingerprint(doc: &Automerge) -> (Vec<automerge::ChangeHash>, Vec<Vec<u8>>, kith_domain::Shift) {
    let mut changes: Vec<Vec<u8>> = doc.get_changes(&[]).iter().map(|c| c.raw_bytes().to_vec()).collect();
    changes.sort();
    let mut heads = doc.get_heads();
    heads.sort();
    (heads, changes, kith_domain::doc::shift::read(doc).unwrap())
}

/// Every follower of the stored changes (the alert engine, and on PostgreSQL the cache's
/// coherence follower) has taken in every change stored so far.
async fn settled(server: &TestServer) {
    server.app().alerts.settle().await.unwrap();
    if let Some(c) = &server.app().coherence {
        c.fresh().await.unwrap();
    }
}

#[tokio::test]
async fn the_cache_never_holds_more_than_its_byte_budget() {
    let server = TestServer::start_with(budget(MAX, LIVE_MAX)).await;
    let (_lead, mut alice) = team_of_two(&server).await;
    let cache = &server.app().docs.cache;
    for i in 0..24 {
        let shift = alice.start_shift();
        alice.checkin(shift, CheckInStatus::Ok, i);
        alice.sync_docs(&[shift.uuid()]).await;
        let u = cache.usage();
        assert!(u.live_bytes <= LIVE_MAX, "live documents over their budget after shift {i}: {u:?}");
        assert!(u.live_bytes + u.saved_bytes <= MAX, "the cache over its budget after shift {i}: {u:?}");
        // What the live documents really take, once every follower of the stored changes is
        // done with them: on PostgreSQL the coherence follower held each new document's slot
        // when its sync gave it back, so it was never measured, counted as empty, and 25
        // documents of ~15 KiB stayed live in a 40 KiB budget.
        settled(&server).await;
        let real = cache.live_bytes_recounted();
        assert!(
            real <= LIVE_MAX,
            "live documents take {real} bytes, over their budget, after shift {i}: {:?}",
            cache.usage()
        );
    }
    let u = cache.usage();
    // On a database other instances write to, the cache also follows every announced change
    // (coherence.rs), which drops saved forms that may lack it (docs.rs, `DocCache::take_in`) and
    // reloads documents: with this tiny budget, which form documents end in is only checked where
    // this server is the only writer. The budget, above, holds on both.
    if !server.app().docs.storage.shared() {
        assert!(u.saved_docs > 0, "idle documents are kept in their saved form: {u:?}");
        assert!(u.live_docs + u.saved_docs < 24, "past the whole budget, documents are dropped: {u:?}");
    }
}

#[tokio::test]
async fn an_evicted_document_comes_back_identical_from_its_saved_form_or_from_storage() {
    // Room for every document saved, but for two at most live.
    for (max, what) in [(1024 * 1024, "its saved form"), (LIVE_MAX, "storage")] {
        let server = TestServer::start_with(budget(max, LIVE_MAX)).await;
        let (_lead, mut alice) = team_of_two(&server).await;
        let mut shifts: Vec<ShiftId> = Vec::new();
        let mut before = Vec::new();
        for i in 0..8 {
            let shift = alice.start_shift();
            for m in 0..=i {
                alice.checkin(shift, CheckInStatus::Ok, m);
                alice.sync_docs(&[shift.uuid()]).await;
            }
            shifts.push(shift);
        }
        for s in &shifts {
            before.push(fingerprint(&server_doc(&server, s.uuid()).await.unwrap()));
        }
        let u = server.app().docs.cache.usage();
        assert!(u.live_docs < 8, "documents left the live tier ({what}): {u:?}");
        for (s, b) in shifts.iter().zip(&before) {
            let back = server_doc(&server, s.uuid()).await.unwrap();
            assert_eq!(&fingerprint(&back), b, "the document came back from {what} as it was");
            assert_eq!(&fingerprint(alice.doc(s.uuid())), b, "the server holds what the device holds");
        }
    }
}

#[tokio::test]
async fn nothing_saved_is_lost_while_devices_sync_at_once_under_a_tiny_budget() {
    // Room for one live document: every release moves documents out of memory while other
    // devices' syncs load them back.
    let server = TestServer::start_with(budget(2 * LIVE_MAX, 16 * 1024)).await;
    let (team, code) = server.create_team("North estate").await;
    let _lead = Dev::join(&server, &code, "Sam").await;
    let mut devs = Vec::new();
    for i in 0..6 {
        let code = server.invite(team, Role::Member).await;
        devs.push(Dev::join(&server, &code, &format!("Worker {i}")).await);
    }
    let rounds = 5;
    let runs = devs.into_iter().map(|mut d| async move {
        let shifts: Vec<ShiftId> = (0..3).map(|_| d.start_shift()).collect();
        for r in 0..rounds {
            for s in &shifts {
                d.checkin(*s, CheckInStatus::Ok, r);
            }
            let ids: Vec<uuid::Uuid> = shifts.iter().map(|s| s.uuid()).collect();
            let resp = d.sync_docs(&ids).await;
            for doc in &resp.docs {
                assert_eq!(doc.outcome, kith_proto::Outcome::Accepted, "{doc:?}");
            }
        }
        (d, shifts)
    });
    let done = futures_util::future::join_all(runs).await;
    for (d, shifts) in &done {
        for s in shifts {
            let held = server_doc(&server, s.uuid()).await.unwrap();
            assert_eq!(fingerprint(&held), fingerprint(d.doc(s.uuid())), "the server has every check-in");
            assert_eq!(kith_domain::doc::shift::read(&held).unwrap().checkins.len(), rounds as usize);
        }
    }
    // And after a restart (nothing but storage), the same.
    server.app().docs.cache.clear();
    for (d, shifts) in &done {
        for s in shifts {
            let stored = server_doc(&server, s.uuid()).await.unwrap();
            assert_eq!(fingerprint(&stored), fingerprint(d.doc(s.uuid())), "every check-in is stored");
        }
    }
}

/// More documents worked on in turn than the live budget holds: the least recently used is the
/// next one needed, so every sync saves one document and brings another back. The cache counts
/// both (`CacheUsage`, and `kith_documents_saved_total` / `kith_documents_revived_total` in
/// /metrics), which tells an operator the live budget is too small (docs/operations.md).
#[tokio::test]
async fn documents_worked_on_in_turn_past_the_live_budget_are_counted_as_they_go_and_come_back() {
    for (live, thrash) in [(LIVE_MAX, true), (1024 * 1024, false)] {
        let server = TestServer::start_with(budget(1024 * 1024, live)).await;
        let (_lead, mut alice) = team_of_two(&server).await;
        let cache = &server.app().docs.cache;
        let shifts: Vec<ShiftId> = (0..4).map(|_| alice.start_shift()).collect();
        for (i, s) in shifts.iter().enumerate() {
            alice.checkin(*s, CheckInStatus::Ok, i as i64);
            alice.sync_docs(&[s.uuid()]).await;
        }
        settled(&server).await;
        let before = cache.usage();
        for round in 0..3 {
            for s in &shifts {
                alice.checkin(*s, CheckInStatus::Ok, 10 + round);
                alice.sync_docs(&[s.uuid()]).await;
            }
        }
        settled(&server).await;
        let after = cache.usage();
        let (saved, revived) = (after.saved_total - before.saved_total, after.revived_total - before.revived_total);
        if !thrash {
            assert_eq!((saved, revived), (0, 0), "every document fits the live budget: {after:?}");
            continue;
        }
        // Room for two of the four: each of the 12 syncs finds its document saved (where this
        // server is the only writer; on a shared database the coherence follower may drop it
        // instead, and it is loaded from storage).
        assert!(saved >= 8, "documents moved out of the live budget are counted: {saved}, {after:?}");
        if !server.app().docs.storage.shared() {
            assert!(revived >= 8, "documents brought back live are counted: {revived}, {after:?}");
        }
    }
}
