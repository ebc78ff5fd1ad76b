//! Per-document sync bookkeeping: recorded server heads, last synced time, the changes the
//! server lacks, and which documents have any.
#![allow(clippy::unwrap_used)]

use crate::common;

use common::{add_checkin, no_background, shift_with_checkins};
use kith_store::Store;

#[test]
fn pending_changes_follow_the_server_heads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kith.db");
    let mut store = Store::open_with(&path, no_background()).unwrap();
    let a = shift_with_checkins(&mut store, 3);
    let b = shift_with_checkins(&mut store, 1);
    assert!(store.server_heads(a).unwrap().is_empty());
    assert_eq!(store.sync_state(a).unwrap().last_synced_ms, None);
    assert_eq!(store.pending_changes(a).unwrap().len(), 4);
    let mut pending = store.docs_with_pending_changes().unwrap();
    pending.sort();
    let mut both = vec![a, b];
    both.sort();
    assert_eq!(pending, both);

    // The server now has everything of `a`.
    let heads = store.doc(a).unwrap().get_heads();
    store.set_server_heads(a, &heads).unwrap();
    assert_eq!(store.server_heads(a).unwrap(), heads);
    assert!(store.sync_state(a).unwrap().last_synced_ms.is_some());
    assert!(store.pending_changes(a).unwrap().is_empty());
    assert_eq!(store.docs_with_pending_changes().unwrap(), vec![b]);

    // A new check-in is pending again; the bookkeeping survives a restart.
    store.change_doc(a, |tx| add_checkin(tx, "new", 7)).unwrap();
    drop(store);
    let mut store = Store::open_with(&path, no_background()).unwrap();
    assert_eq!(store.server_heads(a).unwrap(), heads);
    let pending = store.pending_changes(a).unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(&pending[0].deps().to_vec(), &heads);
    store.compact_all().unwrap();
    assert_eq!(store.pending_changes(a).unwrap().len(), 1);
}
