//! A sync answer is applied as one unit (one SQLite transaction, one commit): the lead's device
//! pays one fsync per answer instead of one per document and bookkeeping write, and an answer
//! that cannot be applied leaves nothing of itself behind (the cursor stays, so it comes again).
#![allow(clippy::unwrap_used)]

use automerge::transaction::Transactable;
use automerge::{Automerge, ROOT};
use kith_proto::{Cursor, FeedDoc, Kind, SyncResponse};
use kith_store::Store;
use serde_bytes::ByteBuf;
use uuid::Uuid;

fn saved_doc(note: &str) -> Vec<u8> {
    let mut doc = Automerge::new();
    doc.transact(|tx| tx.put(ROOT, "note", note)).map_err(|f| f.error).unwrap();
    doc.save()
}

fn answer(feed: Vec<FeedDoc>, seq: u64) -> SyncResponse {
    SyncResponse {
        protocol: kith_proto::PROTOCOL_VERSION,
        server_time: 1_800_000_001_000,
        docs: vec![],
        feed,
        cursor: Cursor { seq, hash: None },
        more: false,
        reset: false,
    }
}

fn feed_doc(id: Uuid, data: Vec<u8>) -> FeedDoc {
    FeedDoc { id, kind: Kind::Shift, data: vec![ByteBuf::from(data)], heads: vec![], receipt: None }
}

#[test]
fn an_answer_that_fails_halfway_leaves_nothing_of_itself() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("kith.db")).unwrap();
    let (good, bad) = (Uuid::new_v4(), Uuid::new_v4());
    let req = kith_sync::prepare(&mut store, 1_800_000_000_000).unwrap();
    // The first document is fine, the second is not Automerge data: the whole answer is refused.
    let resp = answer(vec![feed_doc(good, saved_doc("fine")), feed_doc(bad, b"not automerge".to_vec())], 7);
    assert!(kith_sync::absorb(&mut store, &req, &resp, 1_800_000_000_000, 1_800_000_002_000).is_err());
    assert!(!store.has_doc(good).unwrap(), "the first document of a refused answer was kept");
    assert!(!store.has_doc(bad).unwrap());
    assert_eq!(kith_sync::engine::cursor(&store).unwrap(), None, "the cursor moved past an answer not applied");
    assert_eq!(kith_sync::engine::last_synced_ms(&store).unwrap(), None);

    // The same store goes on working, and a good answer is applied whole, visible to another
    // connection to the file (another process) once absorb returns.
    let resp = answer(vec![feed_doc(good, saved_doc("fine")), feed_doc(bad, saved_doc("fine too"))], 8);
    kith_sync::absorb(&mut store, &req, &resp, 1_800_000_000_000, 1_800_000_002_000).unwrap();
    let other = Store::open(dir.path().join("kith.db")).unwrap();
    assert!(other.has_doc(good).unwrap() && other.has_doc(bad).unwrap());
    assert_eq!(kith_sync::engine::cursor(&other).unwrap(), Some(Cursor { seq: 8, hash: None }));
    assert_eq!(other.server_heads(good).unwrap(), store.doc(good).unwrap().get_heads());
}
