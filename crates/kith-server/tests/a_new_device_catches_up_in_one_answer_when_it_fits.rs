//! A new device catches up in one answer when what it may see fits the feed's byte budget, however
//! many documents that is; when it does not fit, the feed is split into pages at the budget and
//! every document arrives exactly once, whole and complete, even with writes between the pages.
//! (Both backends: `KITH_TEST_BACKEND=postgres` runs it on PostgreSQL.)

use crate::common;
use std::collections::HashMap;

use common::*;
use kith_domain::{CheckInStatus, Role, ShiftId};
use kith_proto::Outcome;
use kith_server::testing::TestServer;
use uuid::Uuid;

/// Alice pushes `n` shifts of one check-in each, in requests the server takes (500 documents at most).
async fn shifts(alice: &mut Dev, n: usize) -> Vec<ShiftId> {
    let mut out = Vec::new();
    for i in 0..n {
        let s = alice.start_shift();
        alice.checkin(s, CheckInStatus::Ok, i64::try_from(i % 400).unwrap());
        out.push(s);
    }
    for chunk in out.chunks(400) {
        let req = alice.request(chunk.iter().map(|s| alice.push_for(s.uuid())).collect());
        let resp = alice.send(&req).await;
        assert!(resp.docs.iter().all(|d| d.outcome == Outcome::Accepted), "{:?}", resp.docs.first());
        alice.apply(&resp);
    }
    out
}

#[tokio::test]
async fn a_team_whose_history_fits_the_byte_budget_comes_in_one_answer() {
    // The default limits: more documents than a count-bounded page used to take (1,000), far
    // fewer bytes than the budget (4 MiB).
    let server = TestServer::start().await;
    let (_lead, mut alice) = team_of_two(&server).await;
    let ids = shifts(&mut alice, 1_010).await;
    let code = server.invite(alice.team, Role::Lead).await;
    let mut new_device = Dev::join(&server, &code, "New device").await;

    let r = new_device.sync().await;
    assert!(!r.more, "the whole history fits the byte budget: one answer");
    let fed: usize = r.feed.iter().map(|f| f.data.iter().map(|d| d.len()).sum::<usize>()).sum();
    assert!(fed < server.app().config.limits.feed_budget_bytes);
    assert_eq!(r.feed.len(), ids.len() + 1, "every shift and the team document");
    for s in &ids {
        assert_eq!(new_device.doc(s.uuid()).get_heads(), alice.doc(s.uuid()).get_heads());
    }
    // Caught up: the next sync brings nothing.
    let r = new_device.send(&new_device.request(vec![])).await;
    assert!(r.feed.is_empty() && !r.more);
}

#[tokio::test]
async fn a_history_over_the_budget_comes_in_pages_with_nothing_lost_or_twice() {
    // A budget of a few documents' bytes, so pages end on bytes.
    let server = TestServer::start_with(|c| c.limits.feed_budget_bytes = 6_000).await;
    let (_lead, mut alice) = team_of_two(&server).await;
    let ids = shifts(&mut alice, 40).await;
    let code = server.invite(alice.team, Role::Lead).await;
    let mut new_device = Dev::join(&server, &code, "New device").await;

    let mut whole: HashMap<Uuid, usize> = HashMap::new();
    let mut pages = 0;
    loop {
        // The device holds nothing of its own: `sync` only pulls the feed (documents it got are
        // pushed back with nothing new, and stay out of the feed).
        let req = new_device.request(vec![]);
        let r = new_device.send(&req).await;
        new_device.apply(&r);
        pages += 1;
        let bytes: usize = r.feed.iter().map(|f| f.data.iter().map(|d| d.len()).sum::<usize>()).sum();
        // A page ends on bytes: it goes over the budget by its last document at most.
        let last = r.feed.last().map_or(0, |f| f.data.iter().map(|d| d.len()).sum::<usize>());
        assert!(bytes - last < 6_000, "page {pages}: {bytes} bytes");
        for f in &r.feed {
            if f.data.len() == 1 && f.heads.is_empty() {
                *whole.entry(f.id).or_default() += 1;
            }
        }
        if pages == 2 {
            // A write between two pages: a shift already delivered changes, and one not yet delivered.
            alice.checkin(ids[0], CheckInStatus::Support, 500);
            alice.checkin(ids[39], CheckInStatus::Support, 500);
            alice.sync_docs(&[ids[0].uuid(), ids[39].uuid()]).await;
        }
        if !r.more {
            break;
        }
        assert!(pages < 100, "the feed makes progress");
    }
    assert!(pages >= 3, "40 shifts of about 1 KB do not fit 6,000 bytes: {pages} page(s)");
    // Each document came whole exactly once; none is missing; each is complete.
    assert_eq!(whole.len(), ids.len() + 1);
    assert!(whole.values().all(|n| *n == 1), "a document came whole twice: {whole:?}");
    for s in &ids {
        assert_eq!(new_device.doc(s.uuid()).get_heads(), alice.doc(s.uuid()).get_heads(), "shift {s}");
    }
    assert_eq!(new_device.shift(ids[0]).checkins.len(), 2);
    assert_eq!(new_device.shift(ids[39]).checkins.len(), 2);
    let r = new_device.send(&new_device.request(vec![])).await;
    assert!(r.feed.is_empty() && !r.more);
}

/// The feed's whole documents travel with their columns raw when the answer is compressed (the
/// body's compression then also sees what documents share), and as Automerge's compact save when
/// it is not; either way they are the server's very documents, with the same heads and receipts.
#[tokio::test]
async fn whole_documents_go_raw_inside_a_compressed_answer_and_are_the_same_documents() {
    let server = TestServer::start().await;
    let (_lead, mut alice) = team_of_two(&server).await;
    let s = alice.start_shift();
    for m in 0..30 {
        alice.checkin(s, CheckInStatus::Ok, m);
    }
    alice.sync().await;
    let code = server.invite(alice.team, Role::Lead).await;
    let new_device = Dev::join(&server, &code, "New device").await;
    let stored = server_doc(&server, s.uuid()).await.unwrap();
    assert_ne!(stored.save(), stored.save_nocompress(), "a shift this size has deflated columns");

    let body = kith_proto::encode(&new_device.request(vec![])).unwrap();
    let answer = |client: reqwest::Client| {
        let (url, token, body) = (server.url("/v1/sync"), new_device.token.clone(), body.clone());
        async move {
            let resp = client
                .post(url)
                .bearer_auth(token)
                .header("content-type", kith_proto::CONTENT_TYPE)
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            let encoding = resp.headers().get("content-encoding").map(|v| v.to_str().unwrap().to_string());
            (encoding, kith_proto::decode::<kith_proto::SyncResponse>(&resp.bytes().await.unwrap()).unwrap())
        }
    };
    // The devices' client: accepts zstd and gzip, and decodes.
    let (_, compressed) = answer(common::http()).await;
    // A client that accepts no compression.
    let (encoding, plain) = answer(common::client().no_gzip().no_zstd().build().unwrap()).await;
    assert_eq!(encoding, None);
    let fed = |r: &kith_proto::SyncResponse| r.feed.iter().find(|f| f.id == s.uuid()).unwrap().clone();
    let (raw, compact) = (fed(&compressed), fed(&plain));
    assert!(raw.data == [stored.save_nocompress()], "a compressed answer carries the document with raw columns");
    assert!(compact.data == [stored.save()], "an answer sent as is carries the compact save");
    for f in [&raw, &compact] {
        let doc = automerge::Automerge::load(&f.data[0]).unwrap();
        assert_eq!(doc.get_heads(), stored.get_heads());
        assert_eq!(doc.get_changes(&[]).len(), stored.get_changes(&[]).len());
    }
    assert_eq!(raw.receipt, compact.receipt);
    assert!(raw.receipt.is_some());
}

/// A device of protocol version 1 (before heads were left out) gets the new form too: whole
/// documents with their heads, which any Automerge loader reads whatever the columns' form.
#[tokio::test]
async fn a_version_1_device_reads_the_same_documents() {
    let server = TestServer::start().await;
    let (_lead, mut alice) = team_of_two(&server).await;
    let s = alice.start_shift();
    for m in 0..30 {
        alice.checkin(s, CheckInStatus::Ok, m);
    }
    alice.sync().await;
    let code = server.invite(alice.team, Role::Lead).await;
    let old = Dev::join(&server, &code, "Old device").await;
    let mut req = old.request(vec![]);
    req.protocol = 1;
    let r = old.send(&req).await;
    assert_eq!(r.protocol, 1);
    let stored = server_doc(&server, s.uuid()).await.unwrap();
    let f = r.feed.iter().find(|f| f.id == s.uuid()).unwrap();
    assert_eq!(unhash(&f.heads), stored.get_heads(), "version 1 always gets heads");
    let mut doc = automerge::Automerge::new();
    for d in &f.data {
        doc.load_incremental(d).unwrap();
    }
    assert_eq!(doc.get_heads(), stored.get_heads());
}
