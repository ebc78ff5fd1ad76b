//! `apply_remote`: valid changes from elsewhere are stored (creating the document if needed),
//! garbage is refused with nothing stored, and missing dependencies are reported while the
//! received bytes are kept.
#![allow(clippy::unwrap_used)]

use crate::common;

use automerge::transaction::Transactable;
use automerge::{ActorId, Automerge, ROOT};
use common::{BoxError, add_checkin, checkin_ids, no_background};
use kith_store::{Store, StoreError};
use uuid::Uuid;

/// A document edited on "another device": returns it after `n` check-ins.
fn remote_doc(n: i64) -> Automerge {
    let mut doc = Automerge::new().with_actor(ActorId::random());
    for i in 0..n {
        let mut tx = doc.transaction();
        add_checkin(&mut tx, &format!("remote{i}"), i).unwrap();
        tx.commit();
    }
    doc
}

#[test]
fn remote_changes_create_and_update_a_document() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kith.db");
    let mut store = Store::open_with(&path, no_background()).unwrap();
    let remote = remote_doc(3);
    let id = Uuid::new_v4();
    let applied = store.apply_remote(id, "shift", &remote.save()).unwrap();
    assert!(applied.created);
    assert_eq!(applied.new_changes, 3);
    assert!(applied.missing_deps.is_empty());
    assert_eq!(applied.heads, remote.get_heads());

    // Re-sending is harmless and stores nothing.
    let chunks = store.stats().unwrap().chunk_count;
    let again = store.apply_remote(id, "shift", &remote.save()).unwrap();
    assert_eq!(again.new_changes, 0);
    assert_eq!(store.stats().unwrap().chunk_count, chunks);

    // A local edit on top, then more remote changes as `save_after`.
    store.change_doc(id, |tx| add_checkin(tx, "local", 9)).unwrap();
    let mut remote2 = remote.fork().with_actor(ActorId::random());
    let heads = remote2.get_heads();
    let mut tx = remote2.transaction();
    add_checkin(&mut tx, "remote-late", 10).unwrap();
    tx.commit();
    let applied = store.apply_remote(id, "shift", &remote2.save_after(&heads)).unwrap();
    assert!(!applied.created);
    assert_eq!(applied.new_changes, 1);
    drop(store);

    let mut store = Store::open_with(&path, no_background()).unwrap();
    let mut ids = checkin_ids(store.doc(id).unwrap());
    ids.sort();
    assert_eq!(ids, ["local", "remote-late", "remote0", "remote1", "remote2"]);

    let err = store.apply_remote(id, "team", &remote.save()).unwrap_err();
    assert!(matches!(err, StoreError::KindMismatch { .. }), "{err}");
}

#[test]
fn garbage_bytes_are_refused_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_with(dir.path().join("kith.db"), no_background()).unwrap();
    let remote = remote_doc(2);
    let valid = remote.save_after(&[]);
    let mut flipped = valid.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0xff;
    let mut trailing = valid.clone();
    trailing.extend_from_slice(b"not automerge");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("text", b"hello, this is not automerge".to_vec()),
        ("truncated", valid[..valid.len() - 5].to_vec()),
        ("bit flip", flipped),
        ("trailing junk", trailing),
        ("truncated snapshot", remote.save()[..20].to_vec()),
    ];
    for (name, bytes) in cases {
        let id = Uuid::new_v4();
        let err = store.apply_remote(id, "shift", &bytes).unwrap_err();
        assert!(matches!(err, StoreError::InvalidRemoteData { .. }), "{name}: {err}");
        assert!(err.to_string().contains("Nothing was stored"), "{name}: {err}");
        assert!(!store.has_doc(id).unwrap(), "{name}: document was created");
    }
    let stats = store.stats().unwrap();
    assert_eq!((stats.docs, stats.chunk_count), (0, 0));
}

#[test]
fn missing_dependencies_are_reported_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kith.db");
    let mut store = Store::open_with(&path, no_background()).unwrap();
    let mut remote = Automerge::new().with_actor(ActorId::random());
    let mut tx = remote.transaction();
    tx.put(ROOT, "purpose", "survey").unwrap();
    tx.commit();
    let first = remote.save_after(&[]);
    let heads = remote.get_heads();
    let mut tx = remote.transaction();
    add_checkin(&mut tx, "second", 2).unwrap();
    tx.commit();
    let second = remote.save_after(&heads);

    let id = Uuid::new_v4();
    // Only the second change arrives: it depends on the first.
    let applied = store.apply_remote(id, "shift", &second).unwrap();
    assert_eq!(applied.missing_deps, heads, "missing dependency must be reported");
    assert!(checkin_ids(store.doc(id).unwrap()).is_empty());
    // Compaction must not drop the waiting change.
    store.compact_all().unwrap();
    drop(store);

    // After a restart the waiting change is still there and completes when the first arrives.
    let mut store = Store::open_with(&path, no_background()).unwrap();
    let applied = store.apply_remote(id, "shift", &first).unwrap();
    assert!(applied.missing_deps.is_empty(), "{:?}", applied.missing_deps);
    assert_eq!(applied.heads, remote.get_heads());
    assert_eq!(checkin_ids(store.doc(id).unwrap()), ["second"]);
    let _: Result<(), BoxError> = Ok(());
}
