//! Compaction (synchronous and background) folds chunks into the snapshot without losing or
//! altering anything: the document, its heads and its history are identical before and after,
//! also after reopening.
#![allow(clippy::unwrap_used)]

use crate::common;

use common::{add_checkin, checkin_ids, no_background, shift_with_checkins};
use kith_store::{Store, StoreOptions};

#[test]
fn synchronous_compaction_keeps_every_change() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kith.db");
    let mut store = Store::open_with(&path, no_background()).unwrap();
    let id = shift_with_checkins(&mut store, 60);
    let other = shift_with_checkins(&mut store, 5);
    let before = store.doc(id).unwrap().save();
    let heads = store.doc(id).unwrap().get_heads();
    let changes = store.doc(id).unwrap().get_changes(&[]).len();
    assert_eq!(store.stats().unwrap().chunk_count, 67);

    assert!(store.compact(id).unwrap());
    assert!(!store.compact(id).unwrap(), "nothing left to compact");
    let stats = store.stats().unwrap();
    assert_eq!(stats.chunk_count, 6, "only the other doc's chunks remain");
    assert!(stats.snapshot_bytes > 0);

    assert_eq!(store.doc(id).unwrap().save(), before);
    assert_eq!(store.doc(id).unwrap().get_heads(), heads);

    // Write after compaction, then reopen from disk: everything is there.
    store.change_doc(id, |tx| add_checkin(tx, "late", 1)).unwrap();
    assert_eq!(store.compact_all().unwrap(), 2);
    assert_eq!(store.stats().unwrap().chunk_count, 0);
    drop(store);

    let mut store = Store::open_with(&path, no_background()).unwrap();
    let doc = store.doc(id).unwrap();
    assert_eq!(doc.get_changes(&[]).len(), changes + 1);
    let ids = checkin_ids(doc);
    assert_eq!(ids.len(), 61);
    assert!(ids.contains(&"late".to_string()));
    assert_eq!(checkin_ids(store.doc(other).unwrap()).len(), 5);
}

#[test]
fn background_compaction_runs_when_chunks_outgrow_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kith.db");
    let options = StoreOptions { compaction_floor_bytes: 2048, background_compaction: true };
    let mut store = Store::open_with(&path, options).unwrap();
    let id = shift_with_checkins(&mut store, 1);
    for i in 0..200 {
        store.change_doc(id, |tx| add_checkin(tx, &format!("b{i}"), i)).unwrap();
        // Let the compactor take its turn (a tight write loop would otherwise keep the
        // write lock busy until the end; real check-ins are minutes apart).
        store.wait_for_background_compaction();
    }
    let stats = store.stats().unwrap();
    assert!(stats.snapshot_bytes > 0, "{stats:?}");
    assert!(stats.chunk_bytes < stats.snapshot_bytes.max(2048) + 2048, "chunks should have been folded: {stats:?}");
    let expected = store.doc(id).unwrap().save();
    store.close().unwrap();

    let mut store = Store::open_with(&path, no_background()).unwrap();
    let doc = store.doc(id).unwrap();
    assert_eq!(doc.save(), expected);
    assert_eq!(checkin_ids(doc).len(), 201);
}

#[test]
fn a_store_sees_compaction_done_by_another_connection() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kith.db");
    let mut a = Store::open_with(&path, no_background()).unwrap();
    let mut b = Store::open_with(&path, no_background()).unwrap();
    let id = shift_with_checkins(&mut a, 3);
    assert_eq!(checkin_ids(b.doc(id).unwrap()).len(), 3);
    // `a` writes chunks that `b` has not loaded, then `a` compacts them away.
    for i in 0..10 {
        a.change_doc(id, |tx| add_checkin(tx, &format!("a{i}"), i)).unwrap();
    }
    a.compact(id).unwrap();
    // `b` must pick them up from the new snapshot, then write without a sequence clash.
    assert_eq!(checkin_ids(b.doc(id).unwrap()).len(), 13);
    b.change_doc(id, |tx| add_checkin(tx, "b", 0)).unwrap();
    assert_eq!(checkin_ids(a.doc(id).unwrap()).len(), 14);
    assert_eq!(a.doc(id).unwrap().get_heads(), b.doc(id).unwrap().get_heads());
}
