//! `Store::atomically`: the writes of a batch become durable together (one commit) or not at
//! all, whether the batch fails or panics; a write that fails inside still changes nothing of its
//! own and the batch goes on; afterwards the store and its in-memory copies agree with the file.
#![allow(clippy::unwrap_used)]

use crate::common;

use automerge::transaction::Transactable;
use automerge::{ROOT, ReadDoc};
use common::{BoxError, add_checkin, checkin_ids, no_background, shift_with_checkins};
use kith_store::{Store, StoreError};
use uuid::Uuid;

fn note(store: &mut Store, id: Uuid) -> Option<String> {
    store.doc(id).unwrap().get(ROOT, "note").unwrap().map(|(v, _)| v.to_string().trim_matches('"').to_string())
}

#[test]
fn a_failed_batch_keeps_nothing_and_the_store_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kith.db");
    let mut store = Store::open_with(&path, no_background()).unwrap();
    let shift = shift_with_checkins(&mut store, 3);
    let new = Uuid::new_v4();

    let failed: Result<(), BoxError> = store.atomically(|s| {
        s.change_doc(shift, |tx| add_checkin(tx, "in-a-failed-batch", 99))?;
        s.create_doc(new, "team", |tx| -> Result<(), BoxError> { Ok(tx.put(ROOT, "name", "North")?) })?;
        s.meta_set("k", "v")?;
        Err("the batch fails after its writes".into())
    });
    assert!(failed.is_err());
    assert_eq!(checkin_ids(store.doc(shift).unwrap()).len(), 3, "a rolled-back change is still in memory");
    assert!(!store.has_doc(new).unwrap());
    assert_eq!(store.meta_get("k").unwrap(), None);

    // A panic inside a batch rolls it back too, and the store is usable afterwards.
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _: Result<(), StoreError> = store.atomically(|s| {
            s.meta_set("k", "from a panicking batch")?;
            panic!("a bug inside a batch");
        });
    }));
    assert!(panicked.is_err());
    assert_eq!(store.meta_get("k").unwrap(), None);
    store.change_doc(shift, |tx| add_checkin(tx, "after", 4)).map_err(|e: BoxError| e.to_string()).unwrap();
    let other = Store::open_with(&path, no_background()).unwrap();
    assert!(!other.has_doc(new).unwrap());
    drop(other);
    let mut reopened = Store::open_with(&path, no_background()).unwrap();
    assert_eq!(checkin_ids(reopened.doc(shift).unwrap()).len(), 4);
}

#[test]
fn a_write_that_fails_inside_a_batch_changes_nothing_and_the_rest_commits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kith.db");
    let mut store = Store::open_with(&path, no_background()).unwrap();
    let shift = shift_with_checkins(&mut store, 2);
    let other = Store::open_with(&path, no_background()).unwrap();

    store
        .atomically(|s| -> Result<(), BoxError> {
            s.change_doc(shift, |tx| -> Result<(), BoxError> { Ok(tx.put(ROOT, "note", "kept")?) })?;
            let junk = Uuid::new_v4();
            assert!(s.apply_remote(junk, "shift", b"not automerge").is_err());
            assert!(!s.has_doc(junk).unwrap());
            // An edit that fails inside the batch is undone alone.
            let refused: Result<(), BoxError> = s.change_doc(shift, |tx| {
                tx.put(ROOT, "note", "refused")?;
                Err("refused".into())
            });
            assert!(refused.is_err());
            // Nested batches are part of this one.
            s.atomically(|s| s.meta_set("k", "v"))?;
            // Reads inside the batch see its writes; another connection does not yet.
            assert_eq!(note(s, shift).as_deref(), Some("kept"));
            assert_eq!(other.meta_get("k").unwrap(), None);
            Ok(())
        })
        .unwrap();
    assert_eq!(other.meta_get("k").unwrap().as_deref(), Some("v"));
    drop(other);
    let mut reopened = Store::open_with(&path, no_background()).unwrap();
    assert_eq!(note(&mut reopened, shift).as_deref(), Some("kept"));
    assert_eq!(checkin_ids(reopened.doc(shift).unwrap()).len(), 2);
}

/// `compact` inside a batch (it once opened its own transaction, which SQLite refuses inside the
/// batch's): it folds the chunks as part of the batch, keeps every change, and a batch that fails
/// afterwards rolls the compaction back with the rest.
#[test]
fn compacting_inside_a_batch_is_part_of_the_batch() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kith.db");
    let mut store = Store::open_with(&path, no_background()).unwrap();
    let shift = shift_with_checkins(&mut store, 3);
    let chunks = |s: &Store| s.stats().unwrap().chunk_count;
    let before = chunks(&store);
    assert!(before > 0);

    let failed: Result<(), BoxError> = store.atomically(|s| {
        s.change_doc(shift, |tx| add_checkin(tx, "rolled-back", 7))?;
        assert!(s.compact(shift)?, "compacts inside the batch");
        assert_eq!(chunks(s), 0);
        Err("the batch fails after compacting".into())
    });
    assert_eq!(failed.unwrap_err().to_string(), "the batch fails after compacting");
    assert_eq!(chunks(&store), before, "the compaction rolled back with the batch");
    assert_eq!(checkin_ids(store.doc(shift).unwrap()).len(), 3);

    let done: Result<bool, BoxError> = store.atomically(|s| {
        s.change_doc(shift, |tx| add_checkin(tx, "kept", 8))?;
        Ok(s.compact(shift)?)
    });
    assert!(done.unwrap());
    assert_eq!(chunks(&store), 0);
    drop(store);
    let mut reopened = Store::open_with(&path, no_background()).unwrap();
    assert_eq!(checkin_ids(reopened.doc(shift).unwrap()).len(), 4, "every change is kept");
}
